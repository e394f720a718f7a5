"""Pruning methods behind one interface: `prune(method, model, spec, data=None) -> Pruned`.

A method is pure: it reads a trained model (and, for data-driven criteria, data) and
returns the pruned architecture, the kept channels and a small model with inherited
weights. No training and no I/O happen inside it. A new method is one file plus one
`register` line below.
"""
from __future__ import annotations

from typing import Callable

from torch import nn

from . import l1_norm, surgery  # noqa: F401
from .base import Pruned
from .l1_norm import L1Spec

__all__ = ["L1Spec", "Pruned", "methods", "prune", "register", "surgery"]

Method = Callable[..., Pruned]
_METHODS: dict[str, Method] = {}


def register(name: str, method: Method) -> None:
    if name in _METHODS:
        raise ValueError(f"pruning method {name!r} is already registered")
    _METHODS[name] = method


register("l1-norm", l1_norm.prune)  # Li et al. 2017


def methods() -> list[str]:
    return sorted(_METHODS)


def prune(method: str, model: nn.Module, spec, data=None) -> Pruned:
    """Prune a trained `model` with the registered `method` as `spec` asks."""
    if method not in _METHODS:
        raise ValueError(f"unknown pruning method {method!r}; registered: {', '.join(methods())}")
    return _METHODS[method](model, spec, data=data)
