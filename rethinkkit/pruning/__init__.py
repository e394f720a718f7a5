"""Pruning methods behind one interface: `prune(method, model, spec, data=None) -> Pruned`.

A method is pure: it reads a trained model (and, for data-driven criteria, data) and
returns the pruned architecture, the kept channels and a small model with inherited
weights. No training and no I/O happen inside it. A new method is one file plus one
`register` line below, which also declares its protocol (`Method`): the spec it takes,
how its large model trains, its fine-tuning recipes.
"""
from __future__ import annotations

import dataclasses

from torch import nn

from .. import flops
from ..config import FINETUNE_CIFAR, IMAGENET, Recipe
from . import design, l1_norm, magnitude, network_slimming, reconstruct, regression, sfp, sss, surgery, thinet  # noqa: F401
from .base import Method, Pruned, bn_scales, filter_l1, keep_above, keep_top
from .design import FixedSpec, GuidedSpec, Pattern, UniformSpec
from .l1_norm import L1Spec
from .magnitude import MagnitudeSpec
from .network_slimming import SlimmingSpec
from .regression import RegressionSpec
from .sfp import SFPSpec
from .sss import SSSSpec, SSSTargetSpec
from .thinet import ThiNetSpec

__all__ = ["FixedSpec", "GuidedSpec", "L1Spec", "MagnitudeSpec", "Method", "Pattern", "Pruned", "RegressionSpec", "SFPSpec", "SSSSpec",
           "SSSTargetSpec", "SlimmingSpec", "ThiNetSpec", "UniformSpec", "bn_scales",
           "filter_l1", "get", "keep_above", "keep_top", "methods", "prune", "register", "surgery"]

_METHODS: dict[str, Method] = {}


def register(method: Method) -> None:
    if method.name in _METHODS:
        raise ValueError(f"pruning method {method.name!r} is already registered")
    _METHODS[method.name] = method


def _imagenet_finetune(epochs: int) -> Recipe:
    return dataclasses.replace(IMAGENET, epochs=epochs, lr=0.001, milestones=())


register(Method(  # Li et al. 2017; fine-tuning 40 epochs (CIFAR) / 20 (ImageNet) at lr 0.001
    "l1-norm", l1_norm.prune, L1Spec, l1_norm.LI_2017, ratio_spec=lambda ratio: L1Spec(ratio=ratio),
    finetune={"cifar": FINETUNE_CIFAR, "imagenet": _imagenet_finetune(20)},
))
register(Method(  # Liu et al. 2017; fine-tuning 40 epochs (CIFAR) / 5 (ImageNet) at lr 0.001
    "network-slimming", network_slimming.prune, SlimmingSpec, network_slimming.LIU_2017,
    ratio_spec=lambda ratio: SlimmingSpec(ratio=ratio), large_hooks=network_slimming.large_hooks,
    finetune={"cifar": FINETUNE_CIFAR, "imagenet": _imagenet_finetune(5)},
))

# ThiNet and regression pruning: the paper quotes their fine-tuned numbers from the methods' papers; the
# kit fine-tunes them as L1-norm's (both prune to a predefined target, layer by layer, then fine-tune)
register(Method(  # Luo et al. 2017
    "thinet", thinet.prune, ThiNetSpec, thinet.LUO_2017, ratio_spec=lambda ratio: ThiNetSpec(ratio=ratio),
    finetune={"cifar": FINETUNE_CIFAR, "imagenet": _imagenet_finetune(20)},
))
register(Method(  # He et al. 2017
    "regression", regression.prune, RegressionSpec, regression.HE_2017, ratio_spec=lambda ratio: RegressionSpec(ratio=ratio),
    finetune={"cifar": FINETUNE_CIFAR, "imagenet": _imagenet_finetune(20)},
))

register(Method(  # Han et al. 2015, as the paper's weight-level code; fine-tuning 40 (CIFAR) / 10 (ImageNet) epochs
    "magnitude", magnitude.prune, MagnitudeSpec, magnitude.HAN_2015, ratio_spec=lambda ratio: MagnitudeSpec(ratio=ratio),
    finetune={"cifar": FINETUNE_CIFAR, "imagenet": _imagenet_finetune(10)},
    scratch=lambda spec: "rescaled" if spec.rescale else "fresh", uniform="uniform-sparsity",
))

register(Method(  # He et al. 2018, as Liu et al. 2019's Appendix A: its own recipe, no fine-tuning (the
    # soft-pruned model is the result), optionally from a pretrained model (Table 11)
    "sfp", sfp.prune, SFPSpec, sfp.HE_2018, ratio_spec=lambda ratio: SFPSpec(ratio=ratio),
    large_hooks=sfp.large_hooks, large_recipe=sfp.RECIPES, pretrained=sfp.pretrained_recipe, soft=True,
))

register(Method(  # Huang & Wang 2018: the large model trains its block factors by APG, blocks at 0 are removed, and
    # the pruned model is not fine-tuned (Table 5's "Pruned"), so the large run is SSS's result ("soft") and the
    # "unpruned" row the plain ResNet; the released code's ImageNet recipe (100 epochs), the protocol's on CIFAR
    "sss", sss.prune, SSSSpec, sss.HUANG_2018, large_hooks=sss.large_hooks, large_recipe=sss.RECIPES, soft=True,
))
register(Method(  # Liu et al. 2019, Table 5: the SSS paper's ResNet-41/32/26 trained from scratch (Scratch-E/B), as the
    # rethinking code, with the released SSS recipe on ImageNet; no trained model is read
    "sss-target", sss.design, SSSTargetSpec, sss.HUANG_2018 + "; the layouts from Liu et al. 2019's code",
    large_recipe=sss.RECIPES, from_trained=False,
))

register(Method(  # Liu et al. 2019, Tables 2 and 3: a method paper's target that pruning of the base model does not
    # reach (VGG-GAP, VGG-Tiny, ResNet-50-2x), trained from scratch only, as the paper did; no trained model is read
    "fixed", design.fixed, FixedSpec, "a target architecture fixed by its method's paper; " + design.LIU_2019_TABLES_2_3,
    from_trained=False,
))

# Section 5's designed architectures: no trained model is read and only from-scratch strategies train
# them, so they have no fine-tuning recipe
for _name, _prune, _spec, _scratch, _series in (
    ("uniform-channels", design.uniform_channels, UniformSpec, "fresh", lambda spec, model, dataset: "uniform"),
    ("uniform-sparsity", design.uniform_sparsity, UniformSpec, "rescaled", lambda spec, model, dataset: "uniform"),
    ("guided-channels", design.guided_channels, GuidedSpec, "fresh", design.series),
    ("guided-sparsity", design.guided_sparsity, GuidedSpec, "rescaled", design.series),
):
    register(Method(_name, _prune, _spec, design.LIU_2019_SECTION_5,
                    ratio_spec=(lambda ratio: UniformSpec(ratio)) if _spec is UniformSpec else None,
                    scratch=lambda spec, start=_scratch: start, from_trained=False, series=_series,
                    uniform="uniform-sparsity" if _scratch == "rescaled" else "uniform-channels"))


def methods() -> list[str]:
    return sorted(_METHODS)


def get(method: str) -> Method:
    """A registered method by name."""
    if method not in _METHODS:
        raise ValueError(f"unknown pruning method {method!r}; registered: {', '.join(methods())}")
    return _METHODS[method]


def prune(method: str, model: nn.Module, spec, data=None, input_shape: tuple | None = None) -> Pruned:
    """Prune a trained `model` with the registered `method` as `spec` asks.

    The result's MACs and parameters are counted at `input_shape` (default: the data's
    image shape, else the model's own input size), nonzero ones only when the method masks.
    """
    chosen = get(method)
    if not isinstance(spec, chosen.spec_type):
        raise TypeError(f"{method} takes a {chosen.spec_type.__name__}, got {type(spec).__name__}")
    pruned = chosen.prune(model, spec, data=data)
    shape = input_shape or (data.image_shape if data is not None else (model.in_channels, model.image_size, model.image_size))
    counts = flops.count_nonzero(pruned.model, shape) if pruned.masks else flops.count(pruned.model, shape)
    return dataclasses.replace(pruned, macs=counts.macs, params=counts.params)
