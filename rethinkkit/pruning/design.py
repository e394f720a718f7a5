"""Architectures designed without a trained model: the uniform baselines and the guided designs
that Section 5 of Liu et al. 2019 trains from scratch against pruned architectures of the same size.

- uniform channel pruning (`uniform-channels`, `UniformSpec(ratio)`): every prunable layer keeps
  max(1, int(C * (1 - ratio))) channels (Li et al.'s rounding, as `models.uniform_cfg`), channel
  selections included;
- uniform sparsification (`uniform-sparsity`, `UniformSpec(ratio)`): every conv keeps the same
  fraction of its weights, C - int(C * ratio) of its C entries, at random positions;
- guided pruning (`guided-channels`, `GuidedSpec(pattern)`): a `Pattern` of the kept fraction of
  channels per stage (layers with the same feature map size), averaged over pruned architectures;
  each prunable layer keeps max(1, round(C * fraction of its stage));
- guided sparsification (`guided-sparsity`, `GuidedSpec(pattern)`): a `Pattern` of one 3x3
  keep-probability map per stage (Figure 4); each weight of a 3x3 conv in stage s at kernel
  position (u, v) is kept with probability map_s[u][v], each weight of any other conv (1x1) with
  the mean of map_s.

A transferred guided design is the same method with a pattern distilled from another model or
dataset (the paper: VGG-16 on CIFAR-10 -> VGG-19 on CIFAR-100): any model with as many stages.
A pattern is data that names where it came from (model, dataset, the pruned target, the runs it
averages); `channel_pattern` and `kernel_pattern` compute one pruned model's.

These methods read no trained weights (`Method.from_trained` is False): the pipeline hands them a
fresh model of the seed and seeds torch's generator with the run's seed, so random positions are
the seed's and the design is reproducible. Which channels a uniform or guided layer keeps (the
first ones) does not matter: only from-scratch strategies train these targets.
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from numbers import Real
from typing import Sequence

import torch
from torch import nn

from .. import models
from ..models import stages
from . import surgery
from .base import Pruned
from .magnitude import conv_weights, sparse

LIU_2019_SECTION_5 = "Liu et al., Rethinking the Value of Network Pruning, ICLR 2019, Section 5"
LIU_2019_TABLES_2_3 = "trained from scratch as Liu et al., Rethinking the Value of Network Pruning, ICLR 2019, Tables 2 and 3"
KINDS = ("channels", "kernels")  # a pattern's kind: kept channel fraction per stage / 3x3 keep map per stage
GUIDED = {"channels": "guided-channels", "kernels": "guided-sparsity"}  # the method that designs from each kind


@dataclass(frozen=True)
class Pattern:
    """A per-stage pattern distilled from pruned architectures, with where it came from.

    kind "channels": `values` holds the kept fraction of the prunable channels of each stage
    (Tables 18, 21); kind "kernels": one 3x3 map per stage, the fraction of 3x3 conv weights kept
    at each kernel position (Figure 4, Tables 19, 20). Stages count from the input (stage 0)."""

    kind: str
    values: tuple
    model: str  # the base model the pruned architectures came from
    dataset: str  # ... trained on this dataset
    target: str  # the pruned target's name (e.g. "vgg16-network-slimming-0.6")
    runs: tuple[str, ...] = ()  # the runs it averages: each pruned large run as "<key>/seed<s>"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"a pattern's kind is one of {KINDS}, got {self.kind!r}")
        try:
            values = _frozen(self.values)
        except (TypeError, ValueError):
            values = None
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "runs", tuple(self.runs))
        what = "a fraction in [0, 1]" if self.kind == "channels" else "a 3x3 map of fractions in [0, 1] (NaN: no 3x3 kernels)"
        if not isinstance(values, tuple) or not values:
            raise ValueError(f"a {self.kind!r} pattern holds one value per stage, each {what}; got {self.values!r}")
        for stage, value in enumerate(values):
            if self.kind == "channels":
                ok = isinstance(value, float) and 0 <= value <= 1
            else:
                ok = (isinstance(value, tuple) and len(value) == 3
                      and all(isinstance(row, tuple) and len(row) == 3 for row in value)
                      and all(isinstance(v, float) and (0 <= v <= 1 or math.isnan(v)) for row in value for v in row))
            if not ok:
                raise ValueError(f"pattern stage {stage}: each stage of a {self.kind!r} pattern is {what}, got {value!r}")

    @property
    def label(self) -> str:
        """"<target>@<dataset>": how guided targets and tables name the pattern."""
        return f"{self.target}@{self.dataset}"

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> "Pattern":
        return cls(**json.loads(text))


def _frozen(value):
    return tuple(_frozen(v) for v in value) if isinstance(value, (list, tuple)) else float(value)


@dataclass(frozen=True)
class UniformSpec:
    """Prune the same fraction `ratio` of every layer: channels (`uniform-channels`) or conv weights
    at random positions (`uniform-sparsity`)."""

    ratio: float

    def __post_init__(self) -> None:
        if isinstance(self.ratio, bool) or not isinstance(self.ratio, Real) or not 0 <= self.ratio < 1:
            raise ValueError(f"a uniform ratio is the pruned fraction of every layer, in [0, 1); got {self.ratio!r}")

    def describe(self) -> str:
        return f"{self.ratio:.0%} of every layer"


@dataclass(frozen=True)
class GuidedSpec:
    """Design the architecture from `pattern` (a `Pattern` of pruned architectures)."""

    pattern: Pattern

    def __post_init__(self) -> None:
        if not isinstance(self.pattern, Pattern):
            raise ValueError(f"a GuidedSpec takes a Pattern (rk.pipeline.pattern(...)), got {type(self.pattern).__name__}")

    def describe(self) -> str:
        return f"the {self.pattern.kind} pattern of {self.pattern.label} ({len(self.pattern.runs)} runs)"


# --- patterns of pruned models -----------------------------------------------------------


def _gate_stages(model: nn.Module) -> dict[int, int]:
    """cfg position of every prunable layer -> its stage among the stages that have prunable layers."""
    where = stages(model)
    layers = model.prunable_layers()
    present = sorted({where[layer.gate] for layer in layers})
    return {layer.position: present.index(where[layer.gate]) for layer in layers}


def _conv_stages(model: nn.Module) -> dict[str, int]:
    """Conv weight name -> the stage of its output (stages of convs count from 0 at the input)."""
    where = stages(model)
    return {name: where[name.removesuffix(".weight")] for name in conv_weights(model)}


def channel_pattern(model: nn.Module, base_cfg: Sequence, cfg: Sequence | None = None) -> tuple[float, ...]:
    """The kept fraction of the prunable channels of each stage: sum of `cfg` over the stage's
    prunable positions / sum of `base_cfg` over them (`cfg` default: the model's own). `model`
    is any model of the family with these prunable layers (the pruned one or the base one)."""
    cfg = list(model.cfg if cfg is None else cfg)
    kept: dict[int, list[int]] = {}
    for position, stage in _gate_stages(model).items():
        kept.setdefault(stage, [0, 0])
        kept[stage][0] += int(cfg[position])
        kept[stage][1] += int(base_cfg[position])
    return tuple(a / b for _, (a, b) in sorted(kept.items()))


def kernel_pattern(model: nn.Module, masks: dict[str, torch.Tensor]) -> tuple:
    """One 3x3 map per conv stage: the fraction of the masked 3x3 conv weights kept at each kernel
    position, over every kernel of the stage's masked 3x3 convs (Figure 4). A stage without
    masked 3x3 convs has a NaN map."""
    where = _conv_stages(model)
    sums: dict[int, list] = {}
    for name, mask in masks.items():
        if mask.dim() != 4 or tuple(mask.shape[2:]) != (3, 3):
            continue
        total = sums.setdefault(where[name], [torch.zeros(3, 3, dtype=torch.float64), 0])
        total[0] += mask.to(torch.float64).cpu().reshape(-1, 3, 3).sum(0)
        total[1] += mask.shape[0] * mask.shape[1]
    return tuple(
        _frozen((sums[s][0] / sums[s][1]).tolist()) if s in sums else ((math.nan,) * 3,) * 3
        for s in range(max(where.values()) + 1)
    )


def average(patterns: Sequence[tuple]) -> tuple:
    """The elementwise mean of per-seed patterns of one shape (`channel_pattern` or `kernel_pattern`)."""
    stacked = torch.tensor([list(_frozen(p)) for p in patterns], dtype=torch.float64)
    return _frozen(stacked.mean(0).tolist())


# --- designing architectures -------------------------------------------------------------


def _matched(pattern: Pattern, model: nn.Module, where: dict) -> dict:
    """`where` (a model's stage map), once the pattern is known to have as many stages."""
    count = max(where.values()) + 1
    if len(pattern.values) != count:
        raise ValueError(f"the pattern {pattern.label} has {len(pattern.values)} stages, {model.name or type(model).__name__} "
                         f"has {count}: a pattern transfers between models with the same stages (e.g. VGG-16 -> VGG-19)")
    return where


def _channels(model: nn.Module, spec, method: str, keep) -> Pruned:
    """`model` with every prunable layer keeping its first `keep(layer, C)` channels."""
    kept = {}
    for layer in model.prunable_layers():
        total = model.get_submodule(layer.gate).num_features
        count = min(total, max(1, keep(layer, total)))
        if count < total:
            kept[layer.position] = list(range(count))
    return Pruned(arch=surgery.pruned_arch(model, kept), kept=kept, model=surgery.extract(model, kept),
                  method=method, spec=spec)


def _tupled(value):
    """Lists (at any depth) as tuples, so a spec holding build options stays hashable."""
    return tuple(_tupled(v) for v in value) if isinstance(value, (list, tuple)) else value


@dataclass(frozen=True)
class FixedSpec:
    """An architecture a method's paper fixed, trained from scratch only: the base model's family
    with this cfg and these build options. The paper trained such targets only from scratch and
    quoted the fine-tuned numbers (Tables 2 and 3: ThiNet's VGG-GAP and VGG-Tiny, whose classifier
    is a global average pool, and regression pruning's ResNet-50-2x, which selects block inputs:
    architectures channel pruning of the base model does not reach)."""

    cfg: tuple
    options: tuple = ()  # (name, value) build options that differ from the base model's

    def __post_init__(self) -> None:
        if isinstance(self.cfg, (str, bytes)) or not isinstance(self.cfg, (list, tuple)) or not self.cfg:
            raise ValueError(f"a FixedSpec cfg is the whole target cfg of the base model's family, got {self.cfg!r}")
        options = self.options.items() if isinstance(self.options, dict) else self.options
        try:
            options = tuple(sorted((str(name), _tupled(value)) for name, value in options))
        except (TypeError, ValueError):
            raise ValueError(f"FixedSpec options are (name, value) build options, got {self.options!r}") from None
        object.__setattr__(self, "cfg", _tupled(self.cfg))
        object.__setattr__(self, "options", options)

    def describe(self) -> str:
        return "a fixed architecture" + (f" ({', '.join(name for name, _ in self.options)} set)" if self.options else "")


def fixed(model: nn.Module, spec: FixedSpec, data=None) -> Pruned:
    """`spec`'s architecture in `model`'s family, freshly built (only from-scratch strategies train it)."""
    if not isinstance(spec, FixedSpec):
        raise TypeError(f"a fixed architecture takes a FixedSpec, got {type(spec).__name__}")
    arch = {**model.arch, "cfg": list(spec.cfg),
            "options": {**model.arch["options"], **{name: _plain(value) for name, value in spec.options}}}
    try:
        small = models.from_arch(arch)
    except (TypeError, ValueError) as error:
        raise ValueError(f"the fixed architecture does not fit {model.name}: {error}") from None
    reference = next(model.parameters())
    return Pruned(arch=small.arch, kept={}, model=small.to(device=reference.device, dtype=reference.dtype),
                  method="fixed", spec=spec)


def _plain(value):
    return [_plain(v) for v in value] if isinstance(value, tuple) else value


def uniform_channels(model: nn.Module, spec: UniformSpec, data=None) -> Pruned:
    """Every prunable layer keeps max(1, int(C * (1 - ratio))) channels."""
    return _channels(model, spec, "uniform-channels", lambda layer, total: int(total * (1 - spec.ratio)))


def guided_channels(model: nn.Module, spec: GuidedSpec, data=None) -> Pruned:
    """Every prunable layer keeps max(1, round(C * f)) channels, f its stage's kept fraction in the pattern."""
    pattern = _checked(spec, "channels")
    where = _matched(pattern, model, _gate_stages(model))
    pruned = _channels(model, spec, "guided-channels",
                       lambda layer, total: round(total * pattern.values[where[layer.position]]))
    return dataclasses.replace(pruned, notes=(f"designed from the channel pattern of {pattern.label}",))


def uniform_sparsity(model: nn.Module, spec: UniformSpec, data=None) -> Pruned:
    """Every conv keeps C - int(C * ratio) of its C weights, at positions drawn from torch's generator."""
    masks = {}
    for name, weight in conv_weights(model).items():
        total = weight.numel()
        mask = torch.zeros(total, dtype=torch.uint8)
        mask[torch.randperm(total)[:total - int(total * spec.ratio)]] = 1
        masks[name] = mask.reshape(weight.shape)
    return sparse(model, masks, "uniform-sparsity", spec)


def guided_sparsity(model: nn.Module, spec: GuidedSpec, data=None) -> Pruned:
    """Each 3x3 conv weight kept with its stage's keep probability at its kernel position; each
    other conv weight with the mean of its stage's map; drawn from torch's generator."""
    pattern = _checked(spec, "kernels")
    where = _matched(pattern, model, _conv_stages(model))
    masks = {}
    for name, weight in conv_weights(model).items():
        keep = torch.tensor(pattern.values[where[name]], dtype=torch.float64)
        if tuple(weight.shape[2:]) != (3, 3):
            keep = keep.mean()
        if torch.isnan(keep).any():
            raise ValueError(f"the pattern {pattern.label} has no 3x3 kernels in the stage of {name}")
        masks[name] = (torch.rand(weight.shape, dtype=torch.float64) < keep).to(torch.uint8)
    pruned = sparse(model, masks, "guided-sparsity", spec)
    return dataclasses.replace(pruned, notes=pruned.notes + (f"designed from the kernel pattern of {pattern.label}",))


def _checked(spec: GuidedSpec, kind: str) -> Pattern:
    if spec.pattern.kind != kind:
        raise ValueError(f"{GUIDED[kind]} designs from a {kind!r} pattern; {spec.pattern.label} is a "
                         f"{spec.pattern.kind!r} pattern (use {GUIDED[spec.pattern.kind]})")
    return spec.pattern


def series(spec, model: str, dataset: str) -> str:
    """The Figure 6 series of a guided target: "guided", or "transferred guided" when its pattern
    comes from another model or dataset."""
    same = (spec.pattern.model, spec.pattern.dataset) == (model, dataset)
    return "guided" if same else "transferred guided"
