"""Network Slimming (Liu et al., "Learning Efficient Convolutional Networks through Network
Slimming", ICCV 2017): an automatic structured method.

Training: the large model is trained with an L1 penalty on every BatchNorm scale (the
`BNL1Penalty` hook adds s * sign(gamma) to gamma's gradient before each step), so that
unimportant channels' scales shrink toward zero. Pruning: one global threshold over the
|gamma| of every BN that gates a prunable layer (`sorted(|gamma|)[int(total * ratio)]`,
channels strictly above kept, as the original code); the per-layer widths are an output of
pruning, which is what makes the target automatic. Which BNs gate what is the family's
`prunable_layers()`: conv widths (VGG; PreResNet's inner convs) and channel selections
(PreResNet's block inputs, every DenseNet layer).

A threshold can empty a layer at high ratios (the original then crashed on a zero-width
conv); here that layer keeps its largest-gamma channel and `Pruned.notes` names it.
"""
from __future__ import annotations

from dataclasses import dataclass
from numbers import Real

from torch import nn

from .. import train
from . import surgery
from .base import Pruned, bn_scales, keep_above

LIU_2017 = "Liu et al., Learning Efficient Convolutional Networks through Network Slimming, ICCV 2017"

# The sparsity strength s of the large model's training, by model family (REFERENCE.md:
# the original README's commands): 1e-4 for VGG-19 on CIFAR, 1e-5 for the rest.
SPARSITY = {"vgg": 1e-4, "preresnet": 1e-5, "densenet": 1e-5, "vgg11-imagenet": 1e-5}


def sparsity(model: str) -> float:
    """The paper's s for `model` (the longest family prefix that matches its name)."""
    matches = [family for family in SPARSITY if model.startswith(family)]
    if not matches:
        raise ValueError(f"Network Slimming has no sparsity strength for {model!r}; "
                         f"families: {', '.join(SPARSITY)}")
    return SPARSITY[max(matches, key=len)]


@dataclass(frozen=True)
class SlimmingSpec:
    """Prune `ratio` of all gated channels of the network by one global |gamma| threshold,
    after training the large model with sparsity strength `s` (None: the paper's, `sparsity`)."""

    ratio: float  # the paper's "prune ratio": fraction of all channels pruned (Table 4: 0.4-0.7)
    s: float | None = None  # a deviation when set: e.g. a shortened schedule that needs a stronger pull

    def __post_init__(self) -> None:
        if isinstance(self.ratio, bool) or not isinstance(self.ratio, Real) or not 0 <= self.ratio < 1:
            raise ValueError(f"a slimming ratio is the pruned fraction of all channels, in [0, 1); "
                             f"got {self.ratio!r}")
        if self.s is not None and (isinstance(self.s, bool) or not isinstance(self.s, Real) or not self.s >= 0):
            raise ValueError(f"the sparsity strength s is a number >= 0 (or None for the paper's), got {self.s!r}")

    def describe(self) -> str:
        return (f"{self.ratio:.0%} of all channels by one global |gamma| threshold"
                + (f", sparsity s = {self.s:g}" if self.s is not None else ""))


def large_hooks(model: str, spec: SlimmingSpec) -> tuple:
    """The large model trains with the BN scale L1 penalty (BatchNorm1d too for the
    ImageNet VGG-11, whose classifier BNs are pruned as well). Targets that differ only in
    their ratio share this large model."""
    s = sparsity(model) if spec.s is None else spec.s
    return (train.BNL1Penalty(s=s, bn1d=model == "vgg11-imagenet"),)


def prune(model: nn.Module, spec: SlimmingSpec, data=None) -> Pruned:
    """Threshold every gate BN's |gamma| globally and cut the channels below; data-free."""
    if not isinstance(spec, SlimmingSpec):
        raise TypeError(f"Network Slimming takes a SlimmingSpec, got {type(spec).__name__}")
    chosen = keep_above(bn_scales(model), spec.ratio)
    layers = {layer.position: layer for layer in model.prunable_layers()}
    notes = tuple(
        f"the threshold {chosen.value:.4g} would empty {layers[p].gate} (cfg[{p}]): it keeps its largest-|gamma| channel"
        for p in chosen.rescued
    )
    return Pruned(arch=surgery.pruned_arch(model, chosen.kept), kept=chosen.kept,
                  model=surgery.extract(model, chosen.kept), method="network-slimming", spec=spec, notes=notes)
