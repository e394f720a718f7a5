"""Sparse Structure Selection (Huang & Wang, "Data-Driven Sparse Structure Selection for Deep
Neural Networks", ECCV 2018): an automatic structured method that removes whole residual blocks.
Liu et al. 2019 examine it in Table 5 (ImageNet ResNet-50 pruned to ResNet-41, -32 and -26).

Training. Every residual block's output is multiplied by a learnable scalar lambda before the
addition (a ResNet built with `block_scale=True`; lambda starts at 1), and the large model trains
with the sparsity penalty gamma * sum |lambda|. The penalty has no useful gradient at zero, so the
factors are not trained by SGD: the `APGBlockScales` hook takes their gradients out of the SGD
step (it clears them after the backward pass: no SGD momentum, no weight decay on lambda, as the
released code's `wd_mult=0`) and moves them by the paper's stochastic Accelerated Proximal
Gradient, reformulated so the gradient is the one of the current forward pass (the paper's
Section 3.3; the released `core/optimizer.py`, `APGNAG`):

    z        = lambda - lr * grad                     (a gradient step)
    z        = sign(z) * max(|z| - lr * gamma, 0)     (the proximal step of gamma |.|: soft-threshold)
    v        = z - lambda + mu * v                    (momentum, mu fixed: the recipe's 0.9)
    lambda   = z + mu * v
    lambda   = max(lambda, 0)                         (the released code's clamp; `nonnegative`)

at the learning rate of that step. The soft-threshold makes factors exactly zero, which is what
lets SSS remove blocks without changing the function. The hook reads the learning rate from the
run's `Recipe` (`recipe.lr_at(epoch)`, the one schedule `train()` sets on SGD), which the pipeline
binds when it builds the large run (`APGBlockScales.for_recipe`): `train()` does not hand hooks
its optimizer, and the schedule is plain data in the run spec, so a resumed run steps alike (the
hook keeps its epoch and momentum in every checkpoint).

Pruning (`prune`). A block whose factor is exactly zero computes its shortcut alone, so its
residual branch is removed (its cfg entry becomes None; `rethinkkit.models.resnet`). Every other
factor is folded into the last BatchNorm of its block (scale and shift times lambda), so the
pruned model, built without factors, computes the same function as the trained one (tested), and
SSS needs no fine-tuning: Table 5 reports the pruned model as it is ("Pruned", the pipeline's
"pruned" strategy). A stage's first block holds the downsampling (a projection or option-A
shortcut); as in the released code and the rethinking paper's ResNet-41/32/26, it has a factor
like any block, and removing it keeps the downsampling shortcut.

Table 5's targets (`SSSTargetSpec`, method "sss-target"): Liu et al. did not run SSS; they trained
the SSS paper's ResNet-41/32/26 from scratch (Scratch-E/B) and quote its pruned models' accuracy.
Their layouts (`rk.paper.SSS_RESNET50`) are the rethinking code's README
(`imagenet/sparse-structure-selection/README.md` of Eric-mingjie/rethinking-network-pruning).
"""
from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass
from numbers import Real
from typing import ClassVar

import torch
from torch import Tensor, nn

from .. import models
from ..models.common import is_width
from ..config import Recipe
from ..train import Hook
from .base import Pruned

HUANG_2018 = "Huang & Wang, Data-Driven Sparse Structure Selection for Deep Neural Networks, ECCV 2018"
RELEASED_GAMMA = 0.01  # the released code's config/cfgs.py (gamma = 0.01, ResNet-50 on ImageNet)

# The released code's ImageNet training (config/cfgs.py, train.py): 100 epochs, lr 0.1 x0.1 at epochs
# 30, 60 and 90, SGD with Nesterov momentum 0.9, weight decay 1e-4; the rethinking code trained Scratch-E
# with it ("the standard 100 epochs with learning rate decay at 30, 60, 90") and stretched it for
# Scratch-B (117, 145, 179 epochs). Batch: the paper's ImageNet 256 (the released config's is 32 per GPU).
SSS_IMAGENET = Recipe(epochs=100, batch_size=256, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4,
                      milestones=(0.3, 0.6, 0.9))
RECIPES = {"imagenet": SSS_IMAGENET}  # on CIFAR the protocol's (the paper's CIFAR recipe): SSS has no CIFAR run in Liu et al.


def _number(value) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class SSSSpec:
    """Train the block factors with sparsity penalty `gamma` (APG), then remove the blocks whose
    factor is exactly zero. The pruned depth is an output of training, not a target."""

    gamma: float = RELEASED_GAMMA  # the penalty on sum |lambda| (per mean-loss step); larger removes more blocks
    nonnegative: bool = True  # clamp lambda >= 0 after each step, as the released APGNAG (the paper's equations do not)

    def __post_init__(self) -> None:
        if not _number(self.gamma) or self.gamma < 0:
            raise ValueError(f"SSSSpec.gamma is the sparsity penalty on the block factors, a finite number >= 0 "
                             f"(the released code's: {RELEASED_GAMMA}); got {self.gamma!r}")
        if not isinstance(self.nonnegative, bool):
            raise TypeError(f"SSSSpec.nonnegative is True (clamp the factors at 0, the released code) or False; "
                            f"got {self.nonnegative!r}")

    def describe(self) -> str:
        return (f"residual blocks whose factor APG drives to 0, sparsity gamma = {self.gamma:g}"
                + ("" if self.nonnegative else ", factors may go negative"))


# --- training: the factors by Accelerated Proximal Gradient -----------------------------


def soft_threshold(x: Tensor, threshold: float) -> Tensor:
    """sign(x) * max(|x| - threshold, 0): the proximal operator of threshold * |x|."""
    return torch.sign(x) * torch.clamp(x.abs() - threshold, min=0)


def apg_step(factors: Tensor, grad: Tensor, momentum: Tensor, lr: float, gamma: float, mu: float,
             nonnegative: bool = True) -> tuple[Tensor, Tensor]:
    """One APG step of Huang & Wang (the module docstring), in the released code's order of
    operations: returns (the new factors, the new momentum). Pure: nothing is changed in place."""
    momentum = momentum * mu
    z = soft_threshold(factors - lr * grad, lr * gamma)
    momentum = z - factors + momentum
    new = z + mu * momentum
    if nonnegative:
        new = torch.clamp(new, min=0)
    return new, momentum


def block_scales(model: nn.Module) -> dict[str, nn.Parameter]:
    """The model's block factors by block name, or a ValueError saying how to get them."""
    scales = model.block_scales() if callable(getattr(model, "block_scales", None)) else {}
    if not scales:
        name = getattr(model, "name", None) or type(model).__name__
        raise ValueError(
            f"{name} has no residual block factors: Sparse Structure Selection trains and prunes ResNets built with "
            f"block_scale=True (e.g. rk.models.build('resnet56', block_scale=True); the pipeline's 'sss' targets "
            f"build their large model so)"
        )
    return scales


@dataclass(frozen=True)
class APGBlockScales(Hook):
    """SSS's training of the block factors: after every backward pass their gradients leave the
    SGD step (cleared, so SGD neither moves nor decays them) and APG moves them at the lr of that
    step, `recipe.lr_at(epoch)`, with the recipe's momentum as mu (`apg_step`).

    The model must be built with block factors (`model_options`: the pipeline adds them to the
    large run's build options, so the plainly trained twin of the same target has none), and the
    hook needs the run's recipe (`for_recipe`, which the pipeline calls). It keeps the epoch and
    the APG momentum in every checkpoint, so a resumed run continues exactly."""

    gamma: float = RELEASED_GAMMA  # as SSSSpec.gamma
    nonnegative: bool = True  # as SSSSpec.nonnegative
    recipe: Recipe | None = None  # the run's recipe: the lr schedule and mu of the APG steps

    model_options: ClassVar[tuple] = (("block_scale", True),)  # build options the trained model needs

    def __post_init__(self) -> None:
        SSSSpec(self.gamma, self.nonnegative)  # the same checks
        if self.recipe is not None and not isinstance(self.recipe, Recipe):
            raise TypeError(f"APGBlockScales.recipe is the run's rethinkkit Recipe, got {type(self.recipe).__name__}")
        # what training changes lives outside the fields: the fields alone name the run (its key) and
        # make the hook's equality and hash
        object.__setattr__(self, "_state", {"epoch": 0, "momentum": None, "params": [], "resumed": False})

    def for_recipe(self, recipe: Recipe) -> "APGBlockScales":
        """This hook stepping with `recipe`'s learning rates and momentum (the run's own recipe)."""
        return dataclasses.replace(self, recipe=recipe)

    def lr(self) -> float:
        """The learning rate of the current epoch's APG steps."""
        return self.recipe.lr_at(self._state["epoch"])

    def on_start(self, model: nn.Module) -> None:
        if self.recipe is None:
            raise ValueError("APGBlockScales steps at the run's learning rate: give it the run's recipe "
                             "(APGBlockScales(gamma, recipe=recipe), or hook.for_recipe(recipe)); the pipeline does")
        scales = block_scales(model)
        state = self._state
        state["params"] = list(scales.values())
        first = state["params"][0]
        if not state["resumed"]:  # a fresh run (the same hook may train several seeds in turn)
            state["epoch"], state["momentum"] = 0, torch.zeros(len(scales), device=first.device, dtype=first.dtype)
        elif state["momentum"].numel() != len(scales):
            raise ValueError(f"the checkpoint's APG state holds {state['momentum'].numel()} block factors, the model "
                             f"{len(scales)}: it belongs to another architecture")
        state["momentum"] = state["momentum"].to(device=first.device, dtype=first.dtype)
        state["resumed"] = False

    def after_backward(self, model: nn.Module) -> None:
        params = self._state["params"]
        with torch.no_grad():
            factors = torch.stack([p.detach() for p in params])
            grad = torch.stack([p.grad if p.grad is not None else torch.zeros_like(p) for p in params])
            for p in params:
                p.grad = None  # SGD skips a parameter without a gradient: no step, no momentum, no weight decay
            new, self._state["momentum"] = apg_step(factors, grad, self._state["momentum"], self.lr(), self.gamma,
                                                    self.recipe.momentum, self.nonnegative)
            for p, value in zip(params, new.unbind()):
                p.copy_(value)

    def on_epoch_end(self, model: nn.Module, epoch: int) -> None:
        self._state["epoch"] = epoch + 1

    def state_dict(self) -> dict:
        return {"epoch": self._state["epoch"], "momentum": self._state["momentum"]}

    def load_state_dict(self, state: dict) -> None:
        if "epoch" in state and "momentum" in state:
            self._state.update(epoch=int(state["epoch"]), momentum=state["momentum"], resumed=True)


def large_hooks(model: str, spec: SSSSpec) -> tuple:
    """The large model trains its block factors by APG with the spec's gamma (one large run per gamma)."""
    return (APGBlockScales(gamma=spec.gamma, nonnegative=spec.nonnegative),)


# --- pruning: remove the zero blocks, fold the others ---------------------------------------


def _last_bn(block: nn.Module) -> str:
    """The name (in the block) of the BatchNorm whose output the block factor scales: the last one
    of the residual branch (bn2 of a basic block, bn3 of a bottleneck; not the shortcut's)."""
    return [name for name, m in block.named_modules()
            if isinstance(m, nn.BatchNorm2d) and not name.startswith("downsample")][-1]


def _positions(model: nn.Module) -> dict[str, list[int]]:
    """Block name -> its cfg positions (1 per basic block, 3 per bottleneck), every block of the
    named depth in cfg order, removed ones included."""
    names = [f"layer{s + 1}.{i}" for s, n in enumerate(_stage_sizes(model)) for i in range(n)]
    per_block = len(model.cfg) // len(names)
    return {name: list(range(per_block * b, per_block * (b + 1))) for b, name in enumerate(names)}


def _stage_sizes(model: nn.Module) -> list[int]:
    """The number of block positions (kept or removed) of each stage: the length of its layer."""
    sizes, s = [], 1
    while hasattr(model, f"layer{s}"):
        sizes.append(len(getattr(model, f"layer{s}")))
        s += 1
    return sizes


def _child(model: nn.Module, arch: dict, scale: dict[str, Tensor]) -> nn.Module:
    """The model of `arch` holding `model`'s weights by name, each tensor in `scale` multiplied by
    its factor; same device, dtype and train/eval mode."""
    reference = next(model.parameters())
    small = models.from_arch(arch).to(device=reference.device, dtype=reference.dtype)
    source = model.state_dict()
    state = {}
    with torch.no_grad():
        for name, target in small.state_dict().items():
            value = source[name]
            if name in scale:
                value = value * scale[name]
            if value.shape != target.shape:
                raise ValueError(f"cannot carry {name} over: {tuple(value.shape)} in the trained model, "
                                 f"{tuple(target.shape)} in the pruned one")
            state[name] = value
    small.load_state_dict(state)
    small.train(model.training)
    return small


def prune(model: nn.Module, spec: SSSSpec, data=None) -> Pruned:
    """Remove every residual block whose factor is exactly zero and fold the other factors into
    their block's last BatchNorm: the pruned model (built without factors) computes the trained
    model's function. Data-free (`data` is unused).

    `Pruned.kept` is empty: no channel of a kept layer is removed; the removed blocks are the
    architecture's None entries (`Pruned.arch["cfg"]`) and `Pruned.notes` names them."""
    if not isinstance(spec, SSSSpec):
        raise TypeError(f"Sparse Structure Selection takes an SSSSpec, got {type(spec).__name__}")
    scales = block_scales(model)
    positions = _positions(model)
    arch = copy.deepcopy(model.arch)
    arch["options"].pop("block_scale", None)  # the factors are folded away: the plain family
    removed, fold = [], {}
    for name, factor in scales.items():
        factor = factor.detach()
        if float(factor) == 0:
            removed.append(name)
            for position in positions[name]:
                arch["cfg"][position] = None
        else:
            bn = f"{name}.{_last_bn(model.get_submodule(name))}"
            fold[f"{bn}.weight"] = fold[f"{bn}.bias"] = factor
    small = _child(model, arch, fold)
    notes = [_removal_note(model, small, removed, scales)]
    return Pruned(arch=arch, kept={}, model=small, method="sss", spec=spec, notes=tuple(notes))


def _removal_note(model: nn.Module, small: nn.Module, removed: list[str], scales: dict) -> str:
    if not removed:
        return (f"no block factor reached exactly 0 (smallest {min(float(p.detach()) for p in scales.values()):.3g}): "
                f"nothing removed; a larger gamma or a longer schedule removes blocks")
    first = {f"layer{s + 1}.0" for s in range(len(_stage_sizes(model)))}
    named = [f"{name} (its downsampling kept)" if name in first and not isinstance(small.get_submodule(name), nn.Identity)
             else name for name in removed]
    return (f"removed {len(removed)} of {len(scales)} residual blocks (factor exactly 0): {', '.join(named)}; "
            f"blocks per stage {tuple(model.blocks)} -> {tuple(small.blocks)}, depth {model.depth} -> {small.depth}")


# --- Table 5's targets: the SSS paper's architectures, trained from scratch -----------------


@dataclass(frozen=True)
class SSSTargetSpec:
    """A fixed block-pruned architecture trained from scratch (Liu et al. 2019, Table 5): the base
    model's cfg with the removed blocks' entries None, every other entry the base's (SSS removes
    blocks, it keeps widths). The paper's are `rk.paper.SSS_RESNET50` (ResNet-41/32/26)."""

    cfg: tuple  # the base model's cfg, None for each entry of a removed block

    def __post_init__(self) -> None:
        cfg = self.cfg
        if (isinstance(cfg, (str, bytes)) or not isinstance(cfg, (tuple, list)) or not cfg
                or not all(entry is None or is_width(entry) for entry in cfg)):
            raise ValueError(f"an SSSTargetSpec cfg is the base model's cfg with None for the entries of every removed "
                             f"block (e.g. rk.paper.SSS_RESNET50['resnet41-sss']); got {cfg!r}")
        object.__setattr__(self, "cfg", tuple(cfg))

    def describe(self) -> str:
        return f"a fixed architecture: {sum(entry is None for entry in self.cfg)} of {len(self.cfg)} cfg entries removed"


def design(model: nn.Module, spec: SSSTargetSpec, data=None) -> Pruned:
    """The target architecture of `spec` on `model`'s family, with `model`'s weights for the kept
    blocks (only from-scratch strategies train it: the pipeline gives it a fresh model)."""
    if not isinstance(spec, SSSTargetSpec):
        raise TypeError(f"an SSS target takes an SSSTargetSpec, got {type(spec).__name__}")
    name = getattr(model, "name", None) or type(model).__name__
    if not callable(getattr(model, "block_scales", None)):
        raise ValueError(f"{name} has no residual blocks to remove; SSS targets are ResNets (CIFAR ResNets, resnet50-imagenet)")
    if len(spec.cfg) != len(model.cfg):
        raise ValueError(f"the target cfg has {len(spec.cfg)} entries, {name}'s {len(model.cfg)}: it is another model's")
    changed = [i for i, (ours, base) in enumerate(zip(spec.cfg, model.cfg)) if ours is not None and ours != base]
    if changed:
        i = changed[0]
        raise ValueError(f"an SSS target removes blocks and keeps widths, but its cfg[{i}] is {spec.cfg[i]} where "
                         f"{name}'s is {model.cfg[i]}")
    arch = copy.deepcopy(model.arch)
    arch["cfg"] = list(spec.cfg)
    small = _child(model, arch, {})
    return Pruned(arch=arch, kept={}, model=small, method="sss-target", spec=spec,
                  notes=(f"blocks per stage {tuple(small.blocks)}, depth {small.depth}",))
