"""Soft Filter Pruning (He et al., "Soft Filter Pruning for Accelerating Deep Convolutional
Neural Networks", IJCAI 2018), as Liu et al. 2019 run it in Appendix A (Tables 10 and 11).

Training (the `SoftFilterPruning` hook): before the first epoch and after every epoch, the last
included, each pruned layer's int(C * p) filters with the smallest L2 norm are set to zero. They
are not masked during the next epoch, so the gradient can grow them back ("soft"); a filter that
stays among the smallest is zeroed again. As the authors' `pruning_cifar10_resnet.py`
(`--epoch_prune 1`: `do_mask()` before the loop and after each epoch's training, before the
epoch's evaluation).

Pruning (`prune`): each pruned layer's int(C * p) smallest-L2 filters -- after SFP training, the
ones zeroed at the end of the last epoch -- are removed with their BatchNorm channel and the next
conv's input channels (the shared `surgery`). SFP's pruned model is not fine-tuned: the paper
reports it as it is (the pipeline's "pruned" strategy evaluates it without training).

Where the kit departs from the authors' code, and why:

- Which layers. The authors soft-prune every conv of a CIFAR ResNet at the same ratio: the stem and
  both convs of every block (`--layer_begin 0 --layer_end 3(L-1) --layer_inter 3` over
  `model.parameters()`). Here the pruned layers are the model's prunable conv widths
  (`prunable_layers()`), which in a ResNet are each block's first conv: the second conv and the
  stem write into the residual stream, whose width every block shares, so their filters cannot be
  removed from the architecture (SFP's own ImageNet "small model" keeps the stream at full width and
  adds the pruned channels' constant BN output back). So at the same ratio p the kit's pruned
  ResNet is larger than SFP's zeroed one (ResNet-56 at 30%: 27.5% of its MACs removed; the
  authors count more, every conv losing filters), and Scratch-E/B train the kit's architecture.
- The BatchNorm after a zeroed filter is left active, as the authors' code leaves it (it is what
  passes the gradient that lets the filter regrow). So the soft-pruned model is not exactly its
  physically pruned twin: in evaluation a zeroed channel still outputs the constant
  relu(beta - gamma * running_mean / sqrt(running_var + eps)), which removal drops. The authors'
  numbers are the soft-pruned model's (the pipeline's "soft-pruned" row); the kit also reports the
  physically pruned model ("pruned"), and `Pruned.notes` names the largest constant dropped.
- A consequence of the authors' rule, not a departure: a fresh BatchNorm's shift is 0, so a filter
  zeroed before the first epoch makes its channel exactly 0 after BN in training, and ReLU passes no
  gradient at 0. In the layers pruned here (each followed by BN and ReLU), SFP from scratch thus
  keeps the filters it zeroed at initialisation zero for good, and its soft-pruned model equals the
  physically pruned one (tests/test_sfp.py). From a pretrained model the shifts are not 0 and zeroed
  filters regrow within the epoch.
- Ties between equal norms (only exact ties, e.g. filters that are already zero) zero the higher
  index (`keep_top`); the authors' `argsort()[:k]` zeroes whichever numpy's sort puts first.

The recipe (the authors' `scripts/cifar10_resnet.sh`, also the rethinking code's baseline and
Scratch-E/B for SFP): 200 epochs, batch 128, SGD with Nesterov momentum 0.9, weight decay 5e-4,
lr 0.01 for epoch 0 then 0.1 (`--learning_rate 0.01 --schedule 1 ... --gammas 10 ...`), x0.2 at
epochs 60, 120 and 160. Starting from a pretrained model (Table 11), the lr is a tenth (the
rethinking code's SFP command, `--learning_rate 0.001`; SFP's ImageNet `--use_pretrain --lr 0.01`).
On ImageNet: 100 epochs, batch 256, lr 0.1 x0.1 every 30 epochs, weight decay 1e-4, Nesterov
(`pruning_train.py`).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from numbers import Real

import torch
from torch import nn

from .. import models
from ..config import Recipe
from ..train import Hook
from . import surgery
from .base import Pruned, Scores, keep_top

HE_2018 = "He et al., Soft Filter Pruning for Accelerating Deep Convolutional Neural Networks, IJCAI 2018"

# The large model's recipe by protocol kind (module docstring); the pipeline scales the epochs to a
# protocol's (200 at the paper's 160 CIFAR epochs) and trains the plain baseline and Scratch-E/B with it.
SFP_CIFAR = Recipe(epochs=200, batch_size=128, lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4,
                   milestones=(0.3, 0.6, 0.8), gamma=0.2, warmup_epochs=1, warmup_factor=0.1)
SFP_IMAGENET = Recipe(epochs=100, batch_size=256, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4,
                      milestones=(0.3, 0.6, 0.9), gamma=0.1)
RECIPES = {"cifar": SFP_CIFAR, "imagenet": SFP_IMAGENET}


@dataclass(frozen=True)
class SFPSpec:
    """Soft-prune a fraction `ratio` of the filters of every prunable conv width while training,
    from a fresh initialisation or (`pretrained`) from a normally trained model of the same
    architecture, then remove them."""

    ratio: float  # p: each pruned layer loses int(C * p) filters (the paper's "prune ratio", 10-40%)
    pretrained: bool = False  # Table 11: SFP training continues a normally trained large model
    pretrained_lr_scale: float = 0.1  # with pretrained: the recipe's lr (and warm-up lr) times this

    def __post_init__(self) -> None:
        if isinstance(self.ratio, bool) or not isinstance(self.ratio, Real):
            raise TypeError(f"an SFP ratio is the fraction of each layer's filters soft-pruned, a number; "
                            f"got {self.ratio!r}")
        models.check_ratio(self.ratio, "an SFP ratio")
        if not isinstance(self.pretrained, bool):
            raise TypeError(f"SFPSpec.pretrained is True or False (start from a normally trained model or not); "
                            f"got {self.pretrained!r}")
        scale = self.pretrained_lr_scale
        if isinstance(scale, bool) or not isinstance(scale, Real) or not 0 < scale <= 10:
            raise ValueError(f"SFPSpec.pretrained_lr_scale multiplies the recipe's lr when SFP starts from a "
                             f"pretrained model, a number in (0, 10]; got {scale!r}")

    def describe(self) -> str:
        start = (f"from a pretrained model (lr x {self.pretrained_lr_scale:g})" if self.pretrained
                 else "from scratch")
        return f"{self.ratio:g} of each prunable conv's filters by smallest L2 norm, soft every epoch, {start}"


def pruned_count(channels: int, ratio: float) -> int:
    """How many of a layer's `channels` filters SFP zeroes: int(C * p), as the authors' int(C * (1 - rate))
    (the epsilon keeps an exact product such as 0.29 * 100 at 29 despite binary rounding)."""
    return int(channels * ratio + 1e-9)


def layers(model: nn.Module) -> list:
    """The layers SFP prunes: the model's prunable conv widths (in a ResNet, each block's first conv)."""
    chosen = [layer for layer in model.prunable_layers()
              if layer.select is None and layer.conv is not None
              and isinstance(model.get_submodule(layer.conv), nn.Conv2d)]
    if not chosen:
        raise ValueError(f"{getattr(model, 'name', type(model).__name__)} has no prunable conv widths, so Soft "
                         "Filter Pruning has no filters to remove; it prunes conv filters (ResNets, VGGs)")
    return chosen


def filter_l2(model: nn.Module) -> Scores:
    """The L2 norm of each filter of every layer SFP prunes (the authors' `torch.norm(w.view(C, -1), 2, 1)`)."""
    return {layer.position: model.get_submodule(layer.conv).weight.detach().flatten(1).norm(p=2, dim=1)
            for layer in layers(model)}


def kept_filters(model: nn.Module, ratio: float) -> dict[int, list[int]]:
    """Per pruned layer, the filters SFP keeps at `ratio`: all but the int(C * p) smallest-L2 ones,
    ascending (layers losing none are left out). The one selection rule of the hook and of `prune`."""
    scores = filter_l2(model)
    return keep_top(scores, {p: s.numel() - pruned_count(s.numel(), ratio) for p, s in scores.items()})


@dataclass(frozen=True)
class SoftFilterPruning(Hook):
    """SFP's training step: zero each pruned layer's int(C * p) smallest-L2 filters before the first
    epoch (also after a resume, where it changes nothing: the checkpoint was zeroed) and after every
    epoch, before its evaluation. Only the conv weights are zeroed; nothing is masked in between, so
    the filters can regrow (He et al. 2018)."""

    ratio: float  # p, as SFPSpec.ratio

    def zero(self, model: nn.Module) -> dict[int, list[int]]:
        """Zero the filters that `kept_filters` leaves out; returns the zeroed filters per layer."""
        zeroed = {}
        kept = kept_filters(model, self.ratio)
        with torch.no_grad():
            for layer in layers(model):
                if layer.position not in kept:
                    continue
                weight = model.get_submodule(layer.conv).weight
                drop = torch.ones(weight.shape[0], dtype=torch.bool, device=weight.device)
                drop[kept[layer.position]] = False
                weight[drop] = 0
                zeroed[layer.position] = torch.nonzero(drop).flatten().tolist()
        return zeroed

    def on_start(self, model: nn.Module) -> None:
        self.zero(model)

    def on_epoch_end(self, model: nn.Module, epoch: int) -> None:
        self.zero(model)


def large_hooks(model: str, spec: SFPSpec) -> tuple:
    """The large model trains with the SFP hook at the spec's ratio (one large run per ratio)."""
    return (SoftFilterPruning(ratio=spec.ratio),)


def pretrained_recipe(spec: SFPSpec, recipe: Recipe) -> Recipe | None:
    """None from scratch (Table 10); from a pretrained model (Table 11) the recipe at a scaled lr."""
    return dataclasses.replace(recipe, lr=recipe.lr * spec.pretrained_lr_scale) if spec.pretrained else None


def dropped_constants(model: nn.Module, kept: dict[int, list[int]]) -> float:
    """The largest constant a pruned channel outputs in evaluation when only its filter is zero (BN left
    active, as SFP leaves it): relu(beta - gamma * running_mean / sqrt(running_var + eps)). Physical
    removal drops it; 0 means removal changes nothing."""
    largest = 0.0
    by_position = {layer.position: layer for layer in model.prunable_layers()}
    for position, channels in kept.items():
        bn = model.get_submodule(by_position[position].gate)
        drop = torch.ones(bn.num_features, dtype=torch.bool, device=bn.weight.device)
        drop[channels] = False
        if bn.running_mean is None or not bool(drop.any()):
            continue
        with torch.no_grad():
            out = bn.bias - bn.weight * bn.running_mean / torch.sqrt(bn.running_var + bn.eps)
        largest = max(largest, float(out[drop].clamp(min=0).max()))
    return largest


def prune(model: nn.Module, spec: SFPSpec, data=None) -> Pruned:
    """Remove each pruned layer's int(C * p) smallest-L2 filters (after SFP training: the zeroed ones);
    data-free (`data` is unused)."""
    if not isinstance(spec, SFPSpec):
        raise TypeError(f"Soft Filter Pruning takes an SFPSpec, got {type(spec).__name__}")
    kept = kept_filters(model, spec.ratio)
    notes = ()
    constant = dropped_constants(model, kept)
    if constant > 0:
        notes = (f"the removed filters' BN channels output constants up to {constant:.3g} after ReLU in the "
                 "soft-pruned model; the physically pruned model drops them",)
    return Pruned(arch=surgery.pruned_arch(model, kept), kept=kept, model=surgery.extract(model, kept),
                  method="sfp", spec=spec, notes=notes)
