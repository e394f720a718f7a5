"""What every pruning method returns and declares, and the pieces methods share.

- `Pruned`: the whole hand-off from pruning to training (the child architecture, kept
  channels, masks, MACs, the small model with inherited weights).
- `Method`: what a registered method declares besides its pruner: its spec type, how it
  trains the large model (hooks), its fine-tuning recipes, the spec for one ratio.
- Criteria and selection: a criterion scores every channel of every prunable layer
  (`{position: scores}`); `keep_top` keeps a given number per layer (predefined targets),
  `keep_above` applies one global threshold over any scores (automatic targets).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import torch
from torch import nn

from ..config import Recipe

Scores = dict[int, torch.Tensor]  # cfg position -> one score per channel of that prunable layer


@dataclass
class Pruned:
    """The result of pruning a trained model: everything a child run needs.

    arch:   the child architecture in `model.arch` form: cfg *and* options such as the
            channel selections (Scratch-E/B build exactly this)
    kept:   cfg position -> the kept channels of that layer, ascending (whole layers absent)
    model:  the small model with the kept weights inherited from the large one
    method: the registered method's name; spec: what it was asked to do
    macs, params: of the child at the data's image size (with masks: nonzero weights only)
    masks:  parameter name -> 0/1 tensor, for methods that zero weights instead of removing them
    notes:  what the method had to decide beyond its spec (e.g. a layer kept at one channel)
    """

    arch: dict
    kept: dict[int, list[int]]
    model: nn.Module
    method: str
    spec: Any = None
    macs: int = 0
    params: int = 0
    masks: dict | None = None
    notes: tuple[str, ...] = ()

    @property
    def cfg(self) -> list:
        return self.arch["cfg"]

    @property
    def options(self) -> dict:
        return self.arch["options"]

    @property
    def sparsity(self) -> float:
        """The zeroed fraction of the masked weights (NaN when the method removes instead of masking)."""
        if not self.masks:
            return float("nan")
        total = sum(m.numel() for m in self.masks.values())
        return 1 - sum(int(m.sum()) for m in self.masks.values()) / total


def _no_hooks(model: str, spec) -> tuple:
    return ()


def _fresh(spec) -> str:
    return "fresh"


def _pruned(spec, model: str, dataset: str) -> str:
    return "pruned"


def _not_pretrained(spec, recipe: Recipe) -> Recipe | None:
    return None


@dataclass(frozen=True)
class Method:
    """A registered pruning method and the protocol it brings.

    prune:       (trained model, spec, data=None) -> Pruned; pure, no training, no I/O
    spec_type:   the spec it takes (an L1Spec, a SlimmingSpec, ...)
    citation:    where the method comes from
    ratio_spec:  one ratio -> a spec (a widget's "prune this much"); None if not meaningful
    large_hooks: (model name, spec) -> the training hooks of the large model (Network
                 Slimming's sparsity term); the large run's spec names them, so its key differs
    finetune:    "cifar" / "imagenet" -> the method's fine-tuning recipe there
    scratch:     spec -> how its pruned models start when trained from scratch: "fresh" (a new
                 initialisation) or "rescaled" (sparse models: each layer re-drawn for its kept weights)
    from_trained: whether it prunes a trained large model; False: it designs an architecture from
                 a fresh model alone (Section 5's uniform and guided targets), so no large model is
                 trained and only from-scratch strategies apply
    series:      (spec, model, dataset) -> the label of its targets in Section 5's figures ("pruned",
                 "uniform", "guided", "transferred guided")
    uniform:     the design method of its uniform twin at the same ratio (Section 5): "uniform-channels"
                 for structured methods, "uniform-sparsity" for weight-level ones
    large_recipe: "cifar" / "imagenet" -> the recipe its large model trains with when it is not the
                 protocol's (Soft Filter Pruning's own: 200 epochs, warm-up, ...); the pipeline scales its
                 epochs to the protocol's and trains Scratch-E/B with it too. Empty: the protocol's
    pretrained:  (spec, large recipe) -> None when its large training starts from a fresh initialisation;
                 else the recipe with which it continues a normally trained model of the same architecture
                 (SFP "with a pretrained model", Appendix A's Table 11), which the pipeline trains first
    soft:        its large training already prunes (SFP zeroes filters every epoch), so its large run is
                 reported as "soft-pruned", and the "unpruned" row is the plainly trained model (the same
                 architecture and recipe without the method's hooks)
    """

    name: str
    prune: Callable[..., Pruned]
    spec_type: type
    citation: str
    ratio_spec: Callable[[float], Any] | None = None
    large_hooks: Callable[[str, Any], tuple] = _no_hooks
    finetune: Mapping[str, Recipe] = field(default_factory=dict)
    scratch: Callable[[Any], str] = _fresh
    from_trained: bool = True
    series: Callable[[Any, str, str], str] = _pruned
    uniform: str = "uniform-channels"
    large_recipe: Mapping[str, Recipe] = field(default_factory=dict)
    pretrained: Callable[[Any, Recipe], Recipe | None] = _not_pretrained
    soft: bool = False

    def spec_for(self, ratio: float):
        if self.ratio_spec is None:
            raise ValueError(f"{self.name} takes no single ratio; give it a {self.spec_type.__name__}")
        return self.ratio_spec(ratio)

    def finetune_recipe(self, kind: str) -> Recipe:
        if kind not in self.finetune:
            raise ValueError(f"{self.name} has no fine-tuning recipe for {kind!r}; it has {sorted(self.finetune)}")
        return self.finetune[kind]


# --- criteria and selection -----------------------------------------------------------


def bn_scales(model: nn.Module) -> Scores:
    """|gamma| of each prunable layer's gate BatchNorm: Network Slimming's channel importance."""
    return {layer.position: model.get_submodule(layer.gate).weight.detach().abs()
            for layer in model.prunable_layers()}


def filter_l1(model: nn.Module) -> Scores:
    """The L1 norm of each output filter of every prunable width: Li et al.'s importance."""
    return {layer.position: model.get_submodule(layer.conv).weight.detach().abs().flatten(1).sum(1)
            for layer in model.prunable_layers() if layer.conv is not None}


def keep_top(scores: Scores, counts: Mapping[int, int]) -> dict[int, list[int]]:
    """Per layer, the `counts[position]` highest-scoring channels (ties: the lower index),
    ascending; layers kept whole are left out."""
    kept = {}
    for position, count in counts.items():
        score = scores[position]
        if count < score.numel():
            order = torch.argsort(score, descending=True, stable=True)
            kept[position] = sorted(order[:count].tolist())
    return kept


@dataclass(frozen=True)
class Threshold:
    value: float  # channels scoring strictly above it are kept
    kept: dict[int, list[int]]  # layers that lose channels (as keep_top)
    rescued: tuple[int, ...]  # positions the threshold would have emptied: each keeps its best channel


def keep_above(scores: Scores, ratio: float) -> Threshold:
    """One global threshold over every score: `sorted(all)[int(total * ratio)]`, channels
    strictly above it kept (Network Slimming's rule, as the original code). A layer the
    threshold would empty keeps its single highest-scoring channel, and is named in
    `rescued`, so no layer vanishes."""
    flat = torch.cat([s.flatten().float().cpu() for s in scores.values()])
    total = flat.numel()
    if not 0 <= ratio < 1:
        raise ValueError(f"a global prune ratio is the pruned fraction of all channels, in [0, 1); got {ratio!r}")
    value = float(torch.sort(flat).values[int(total * ratio)])
    kept, rescued = {}, []
    for position, score in scores.items():
        keep = torch.nonzero(score.float().cpu() > value).flatten()
        if keep.numel() == 0:
            keep = torch.argmax(score.float().cpu()).reshape(1)
            rescued.append(position)
        if keep.numel() < score.numel():
            kept[position] = sorted(keep.tolist())
    return Threshold(value, kept, tuple(rescued))
