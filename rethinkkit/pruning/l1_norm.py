"""L1-norm filter pruning (Li et al., "Pruning Filters for Efficient ConvNets", ICLR 2017).

In each pruned layer, rank the conv's filters by the L1 norm of their weights and keep the
`int(C * (1 - p))` largest (never fewer than one). The target is predefined, given by one
of three specs (REFERENCE.md, "L1-norm filter pruning"):

- `skip` + `ratios`: one ratio per resolution stage; layers whose id (convs counted from
  the stem, id 1) is in `skip` keep full width -- the paper's ResNet configs;
- `cfg`: a fixed target cfg, every layer keeps that many filters -- VGG-16-A;
- `ratio`: one ratio for every prunable layer -- the widgets' uniform case.

For ResNets only the first conv of a block is prunable (its family says so), as in the paper.
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from .. import models
from . import surgery
from .base import Pruned, filter_l1, keep_top


LI_2017 = "Li et al., Pruning Filters for Efficient ConvNets, ICLR 2017"


@dataclass(frozen=True)
class Widths:
    """A predefined target: how many channels each prunable width keeps; exactly one of
    ratios / cfg / ratio is set. The specs of every method that prunes to a predefined
    target (L1-norm, ThiNet, regression pruning) are Widths plus what their criterion needs."""

    skip: tuple[int, ...] = ()  # layer ids kept at full width (convs counted from the stem, id 1)
    ratios: tuple[float, ...] | None = None  # pruned fraction per resolution stage
    cfg: tuple | None = None  # a fixed target cfg of the registered model ('M' entries as in its cfg);
    # on a model whose prunable widths differ from the registered ones (Protocol.width), each
    # layer keeps the same fraction: int(width * target / registered width), at least 1
    ratio: float | None = None  # one pruned fraction for every prunable layer

    def __post_init__(self) -> None:
        for name in ("skip", "ratios", "cfg"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, tuple(value))
        given = [n for n in ("ratios", "cfg", "ratio") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError(
                f"a {type(self).__name__} needs exactly one of ratios=(per stage), cfg=(target cfg) or ratio=(uniform); "
                f"got {given or 'none'}"
            )
        for p in self.ratios or (() if self.ratio is None else (self.ratio,)):
            models.check_ratio(p, "a prune ratio")

    def describe(self) -> str:
        if self.cfg is not None:
            return "fixed cfg"
        ratios = f"{self.ratio:g} per layer" if self.ratio is not None else "/".join(f"{p:g}" for p in self.ratios) + " per stage"
        return ratios + (f", skip layers {', '.join(map(str, self.skip))}" if self.skip else "")


@dataclass(frozen=True)
class L1Spec(Widths):
    """Which filters L1-norm pruning removes: a predefined target (`Widths`)."""


def target_cfg(model: nn.Module, spec: Widths) -> list:
    """The cfg `spec` asks for on `model` (which filters are kept is for the method to say)."""
    layers = [layer for layer in model.prunable_layers() if layer.kind == "width"]
    if not layers:
        raise ValueError(f"{model.name} has no prunable conv widths, so a predefined target ({type(spec).__name__}) does "
                         "not apply to it (its cfg counts selected channels); use Network Slimming")
    cfg = list(model.cfg)
    if spec.cfg is not None:
        target = list(spec.cfg)
        if len(target) != len(cfg) or any((a == "M") != (b == "M") for a, b in zip(target, cfg)):
            raise ValueError(f"the target cfg {target} does not match {model.name}'s cfg layout {cfg}")
        prunable = {layer.position for layer in layers}
        paper = models.default_cfg(model.name) if model.name else cfg
        for position in prunable:  # a narrower base model (Protocol.width) keeps the same fraction
            if cfg[position] != paper[position]:
                target[position] = max(1, int(cfg[position] * target[position] / paper[position]))
        for position, (want, have) in enumerate(zip(target, cfg)):
            if want == have:
                continue
            if position not in prunable or not 1 <= want <= have:
                raise ValueError(
                    f"target cfg[{position}] = {want!r}: pruning can only keep between 1 and "
                    f"{have} filters of a prunable layer (prunable positions: {sorted(prunable)})"
                )
        return target
    stages = max(layer.stage for layer in layers) + 1
    if spec.ratios is not None and len(spec.ratios) != stages:
        raise ValueError(f"{model.name} has {stages} stages, so ratios needs {stages} values; got {spec.ratios}")
    ids = {layer.layer_id for layer in layers}
    if set(spec.skip) - ids:
        raise ValueError(f"skip names layer ids {sorted(set(spec.skip) - ids)} that {model.name} cannot prune; "
                         f"its prunable ids are {sorted(ids)}")
    for layer in layers:
        if layer.layer_id in spec.skip:
            continue
        p = spec.ratio if spec.ratio is not None else spec.ratios[layer.stage]
        cfg[layer.position] = max(1, int(cfg[layer.position] * (1 - p)))
    return cfg


def prune(model: nn.Module, spec: L1Spec, data=None) -> Pruned:
    """Keep each layer's largest-L1 filters up to the target cfg; data-free (`data` is unused)."""
    if not isinstance(spec, L1Spec):
        raise TypeError(f"L1-norm pruning takes an L1Spec, got {type(spec).__name__}")
    cfg = target_cfg(model, spec)
    widths = {layer.position: cfg[layer.position] for layer in model.prunable_layers() if layer.kind == "width"}
    kept = keep_top(filter_l1(model), widths)
    return Pruned(arch=surgery.pruned_arch(model, kept), kept=kept, model=surgery.extract(model, kept),
                  method="l1-norm", spec=spec)
