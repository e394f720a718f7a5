"""Unstructured magnitude pruning (Han et al., "Learning both Weights and Connections for
Efficient Neural Networks", NeurIPS 2015), as the paper's weight-level code does it
(`cifar/weight-level/cifar_prune.py`, `cifar/lottery-ticket/weight-level/cifar_prune_iterative.py`).

One global threshold over the magnitudes of *all* convolutional weights (the paper: "the set of
all convolutional weights"; Linear and BatchNorm parameters are not pruned):
`sorted(|w|)[int(total * ratio)]`, weights strictly above it kept. Nothing is removed: the
result is the same architecture with a 0/1 mask per conv weight, which training keeps
(`train.WeightMasks`), and the MACs that count are the nonzero ones.

Iterative pruning (the lottery-ticket experiments) prunes a fraction of the weights that are
still nonzero: `MagnitudeSpec(ratio=0.2, remaining=True)` puts the threshold at
`sorted(|w|)[zeros + int(nonzero * 0.2)]`, the original's rule.

Training the sparse model from scratch re-draws each conv weight from N(0, sqrt(2 / n)) with
n = (kept weights of the layer) / in_channels (the original's `cifar_E.py`/`cifar_B.py`): the
Kaiming std of the kept connections. `rescale=False` is the unscaled counterpart (the paper:
"does not bring gains"), a named deviation.
"""
from __future__ import annotations

from dataclasses import dataclass
from numbers import Real

import torch
from torch import nn

from . import surgery
from .base import Pruned

HAN_2015 = "Han et al., Learning both Weights and Connections for Efficient Neural Networks, NeurIPS 2015"


@dataclass(frozen=True)
class MagnitudeSpec:
    """Zero `ratio` of all conv weights (or, `remaining`, of the ones still nonzero) by one
    global magnitude threshold."""

    ratio: float  # the paper's "prune ratio": the pruned fraction of all conv weights (Table 6: 0.3-0.95)
    remaining: bool = False  # iterative pruning: `ratio` of the nonzero conv weights (20% per round)
    rescale: bool = True  # scratch runs re-draw each layer's init for its kept weights (the paper's protocol)

    def __post_init__(self) -> None:
        if isinstance(self.ratio, bool) or not isinstance(self.ratio, Real) or not 0 <= self.ratio < 1:
            raise ValueError(f"a magnitude prune ratio is the pruned fraction of the conv weights, in [0, 1); "
                             f"got {self.ratio!r}")
        for name in ("remaining", "rescale"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"MagnitudeSpec.{name} is True or False, got {getattr(self, name)!r}")

    def describe(self) -> str:
        of = "of the nonzero conv weights" if self.remaining else "of all conv weights"
        return f"{self.ratio:.0%} {of} by one global magnitude threshold" + (
            "" if self.rescale else ", scratch init not rescaled")


def conv_weights(model: nn.Module) -> dict[str, torch.Tensor]:
    """Every Conv2d weight by parameter name: what magnitude pruning prunes."""
    return {f"{name}.weight": module.weight for name, module in model.named_modules()
            if isinstance(module, nn.Conv2d)}


def threshold(weights: dict[str, torch.Tensor], spec: MagnitudeSpec) -> float:
    """The global magnitude threshold: weights strictly above it are kept."""
    flat = torch.cat([w.detach().abs().flatten().float().cpu() for w in weights.values()])
    total = flat.numel()
    index = int(total * spec.ratio)
    if spec.remaining:
        nonzero = int(torch.count_nonzero(flat))
        index = total - nonzero + int(nonzero * spec.ratio)
    return float(torch.sort(flat).values[min(index, total - 1)])


def prune(model: nn.Module, spec: MagnitudeSpec, data=None) -> Pruned:
    """Mask the conv weights at or below the global threshold; data-free. Every conv gets a
    mask (so every conv is re-drawn for scratch training, as in the original)."""
    if not isinstance(spec, MagnitudeSpec):
        raise TypeError(f"magnitude pruning takes a MagnitudeSpec, got {type(spec).__name__}")
    weights = conv_weights(model)
    if not weights:
        raise ValueError(f"{type(model).__name__} has no Conv2d layers: magnitude pruning prunes conv weights only")
    value = threshold(weights, spec)
    masks = {name: (w.detach().abs() > value).to(torch.uint8) for name, w in weights.items()}
    return sparse(model, masks, "magnitude", spec)


def sparse(model: nn.Module, masks: dict[str, torch.Tensor], method: str, spec) -> Pruned:
    """The same architecture as `model` with its weights multiplied by `masks` (parameter name ->
    0/1): what every weight-level method returns. A conv whose mask is all zero is named in the notes."""
    notes = tuple(f"{method} empties {name}: the layer passes nothing but its bias"
                  for name, mask in masks.items() if not bool(mask.any()))
    small = surgery.extract(model, {})
    params = dict(small.named_parameters())
    with torch.no_grad():
        for name, mask in masks.items():
            params[name].mul_(mask.to(params[name].device, params[name].dtype))
    return Pruned(arch=surgery.pruned_arch(model, {}), kept={}, model=small, method=method, spec=spec,
                  masks={name: mask.cpu() for name, mask in masks.items()}, notes=notes)


def rescaled_init(model: nn.Module, masks: dict[str, torch.Tensor]) -> None:
    """Re-draw every masked conv weight of a freshly built `model` as the original scratch
    scripts do: N(0, sqrt(2 / n)), n = kept / in_channels, then masked. In place."""
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, mask in masks.items():
            weight = params[name]
            kept = float(mask.sum())
            if kept:
                weight.normal_(0.0, (2.0 * weight.shape[1] / kept) ** 0.5)
            weight.mul_(mask.to(weight.device, weight.dtype))
