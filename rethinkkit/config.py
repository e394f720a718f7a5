"""Typed, frozen hyperparameters and run specifications.

`Recipe` holds the training recipe with the paper's CIFAR defaults (Liu et al. 2019,
Section 3 and REFERENCE.md): SGD momentum 0.9, weight decay 1e-4, lr 0.1 divided by 10
at 50% and 75% of the epochs, batch 64, 160 epochs, pad-4 crop + flip.

`RunSpec` names one training run (without its seed). Its `key()` is a stable hash of the
fields that differ from their defaults, so adding a new field with a default later does
not rename any stored run.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import warnings
from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import Any


class ConfigError(ValueError):
    """A recipe or run spec that cannot describe a real run."""


class ScheduleWarning(UserWarning):
    """A schedule that is valid but not the paper's shape (e.g. every lr drop at epoch 0)."""


def _is_int(value) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def seeds(values) -> list[int]:
    """Replicate seeds as a list of distinct non-negative ints, or ConfigError saying what is wrong.
    Checked before any training, so a bad seed does not surface after hours of runs."""
    if isinstance(values, (str, bytes)) or not isinstance(values, (list, tuple)):
        raise ConfigError(f"seeds must be a list of non-negative integers, e.g. [0, 1, 2]; got {values!r}")
    bad = [v for v in values if not _is_int(v) or v < 0]
    if bad or not values:
        raise ConfigError(f"seeds must be a non-empty list of non-negative integers, e.g. [0, 1, 2]; "
                          f"got {list(values)!r}" + (f" ({bad!r} not allowed)" if bad else ""))
    if len(set(values)) != len(values):
        raise ConfigError(f"seeds lists a seed twice: {list(values)!r}")
    return [int(v) for v in values]


@dataclass(frozen=True)
class Recipe:
    """How to train: optimizer, schedule, epochs and batch, with the paper's CIFAR values."""

    epochs: int = 160  # CIFAR large model / Scratch-E (paper, Section 3)
    batch_size: int = 64  # training images per step
    eval_batch_size: int = 256  # test images per step (no effect on the math)
    lr: float = 0.1  # initial learning rate
    momentum: float = 0.9
    nesterov: bool = False  # the original code uses plain momentum; the paper's text says Nesterov
    weight_decay: float = 1e-4  # L2 on every parameter, BN included, as the original
    milestones: tuple[float, ...] = (0.5, 0.75)  # fractions of the epochs where lr *= gamma
    gamma: float = 0.1  # lr multiplier at each milestone
    augment: bool = True  # pad-4 black border + random 32 crop + horizontal flip
    warmup_epochs: int = 0  # the first epochs run at lr * warmup_factor (SFP: 1; the paper's recipes: none)
    warmup_factor: float = 0.1  # lr multiplier during the warm-up (SFP: lr 0.01 = 0.1 x 0.1 for epoch 0)

    def __post_init__(self) -> None:
        problems = []
        if isinstance(self.milestones, (str, bytes)) or not isinstance(self.milestones, (list, tuple)):
            problems.append(f"milestones must be a list of fractions of the epochs, got {self.milestones!r}")
        elif not all(_is_number(m) for m in self.milestones):
            problems.append(f"milestones must be numbers (fractions of the epochs), got {self.milestones!r}")
        else:
            object.__setattr__(self, "milestones", tuple(float(m) for m in self.milestones))
        for name in ("epochs", "batch_size", "eval_batch_size"):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                problems.append(f"{name} must be a positive integer, got {value!r}")
        for name in ("nesterov", "augment"):
            if not isinstance(getattr(self, name), bool):
                problems.append(f"{name} must be True or False, got {getattr(self, name)!r}")
        if not _is_int(self.warmup_epochs) or not 0 <= self.warmup_epochs:
            problems.append(f"warmup_epochs must be a non-negative integer, got {self.warmup_epochs!r}")
        elif _is_int(self.epochs) and self.warmup_epochs >= self.epochs > 0:
            problems.append(f"warmup_epochs ({self.warmup_epochs}) must be fewer than epochs ({self.epochs}), "
                            "so training leaves the warm-up")
        numbers = {name: getattr(self, name) for name in ("lr", "momentum", "weight_decay", "gamma", "warmup_factor")}
        for name, value in numbers.items():
            if not (_is_number(value) and math.isfinite(value)):
                problems.append(f"{name} must be a finite number, got {value!r}")
        if not problems:
            if self.lr <= 0:
                problems.append(f"lr must be a positive number, got {self.lr!r}")
            if not 0 <= self.momentum < 1:
                problems.append(f"momentum must be in [0, 1), got {self.momentum!r}")
            if self.nesterov and self.momentum == 0:
                problems.append("nesterov=True needs momentum > 0")
            if self.weight_decay < 0:
                problems.append(f"weight_decay must be >= 0, got {self.weight_decay!r}")
            if any(not 0 < m < 1 for m in self.milestones) or list(self.milestones) != sorted(self.milestones):
                problems.append(
                    f"milestones are increasing fractions of the epochs in (0, 1), got {self.milestones!r}"
                )
            if not 0 < self.gamma <= 1:
                problems.append(f"gamma must be in (0, 1], got {self.gamma!r}")
            if not 0 < self.warmup_factor <= 1:
                problems.append(f"warmup_factor multiplies lr during the warm-up, in (0, 1]; got {self.warmup_factor!r}")
        if problems:
            raise ConfigError("Invalid Recipe: " + "; ".join(problems))
        if self.early_drops():
            warnings.warn(ScheduleWarning(self.early_drops()), stacklevel=3)

    def early_drops(self) -> str:
        """'' when every lr milestone falls after the first epoch; else what goes wrong. With
        few epochs int(fraction * E) rounds to 0 and the lr drops before any step at lr."""
        at_start = [m for m, e in zip(self.milestones, self.milestone_epochs) if e == 0]
        if not at_start:
            return ""
        return (f"with {self.epochs} epoch(s) the lr milestone(s) {at_start} fall at epoch 0, so training "
                f"never runs at lr {self.lr:g} but {'leaves the warm-up' if self.warmup_epochs else 'starts'} at "
                f"{self.lr * self.gamma ** len(at_start):g}; use more epochs "
                f"(at least {math.ceil(1 / min(at_start))}) for the paper's schedule")

    @property
    def milestone_epochs(self) -> tuple[int, ...]:
        """Epochs (0-based, the lr drops at the start of each) as the original: int(fraction * E)."""
        # the epsilon keeps int(1/3 * 180) at 60 despite binary rounding
        return tuple(int(m * self.epochs + 1e-9) for m in self.milestones)

    def lr_at(self, epoch: int) -> float:
        """Learning rate used throughout 0-based `epoch` (step schedule, set once per epoch): lr *
        warmup_factor in the first `warmup_epochs`, then lr times gamma per milestone passed (a
        milestone inside the warm-up counts from the first epoch after it, as SFP's cumulative gammas)."""
        if epoch < self.warmup_epochs:
            return self.lr * self.warmup_factor
        drops = sum(epoch >= m for m in self.milestone_epochs)
        return self.lr * self.gamma**drops


CIFAR = Recipe()  # large model and Scratch-E on CIFAR (paper, Section 3)
FINETUNE_CIFAR = Recipe(epochs=40, lr=0.001, milestones=())  # 40 epochs at the lowest lr (Section 3)
IMAGENET = Recipe(epochs=90, batch_size=256, milestones=(1 / 3, 2 / 3))  # lr /10 every 30 epochs


@dataclass(frozen=True)
class RunSpec:
    """One training run, seed excluded: data, architecture, recipe and extras.

    `init` names where the starting weights come from ("scratch" = the model family's
    initialisation under the run's seed); a pipeline that inherits weights puts the
    parent's key and the pruning it applied here, so two different starts never share a key.
    """

    dataset: str
    model: str
    cfg: tuple | None = None  # channel cfg; None = the model's default (unpruned)
    recipe: Recipe = field(default_factory=Recipe)
    num_classes: int | None = None  # None = the dataset's
    in_channels: int | None = None  # None = the dataset's
    options: tuple[tuple[str, Any], ...] = ()  # model options, e.g. (("head", "linear"),)
    init: str = "scratch"
    train_subset: int | None = None  # train on a stratified subset of this many images
    test_subset: int | None = None  # evaluate on a stratified subset of this many test images
    hooks: tuple = ()  # training hooks (frozen dataclasses from rethinkkit.train)
    tag: str = ""  # free text that separates otherwise identical runs

    def __post_init__(self) -> None:
        if self.cfg is not None:
            object.__setattr__(self, "cfg", _freeze(self.cfg))
        if isinstance(self.options, dict):
            object.__setattr__(self, "options", tuple(sorted(self.options.items())))
        object.__setattr__(self, "options", tuple((k, _freeze(v)) for k, v in self.options))
        object.__setattr__(self, "hooks", tuple(self.hooks))
        if not isinstance(self.recipe, Recipe):
            raise ConfigError(f"RunSpec.recipe must be a rethinkkit Recipe, got {type(self.recipe).__name__}")
        for name in ("train_subset", "test_subset"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ConfigError(f"{name} must be a positive integer or None, got {value!r}")

    def to_dict(self) -> dict:
        """Every field as plain JSON-able data (defaults included)."""
        return _plain(self)

    def key(self) -> str:
        """Stable 12-hex-digit name: a hash of the fields that differ from their defaults."""
        payload = json.dumps(_plain(self, omit_defaults=True), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(payload.encode()).hexdigest()[:12]


def _freeze(value):
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return value


def _plain(value, omit_defaults: bool = False):
    """Dataclasses, tuples and dicts -> JSON-able dicts and lists. Hooks carry their type
    name; objects holding tensors (masks) name themselves by `key_data()`. With
    `omit_defaults`, dataclass fields equal to their default are left out (recursively)."""
    if hasattr(value, "key_data"):
        return {"type": type(value).__name__, **value.key_data()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {}
        for f in dataclasses.fields(value):
            current = getattr(value, f.name)
            if omit_defaults and _plain(current) == _default(f):
                continue
            out[f.name] = _plain(current, omit_defaults)
        if not isinstance(value, (Recipe, RunSpec)):
            out = {"type": type(value).__name__, **out}
        return out
    if isinstance(value, (list, tuple)):
        return [_plain(v, omit_defaults) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v, omit_defaults) for k, v in value.items()}
    return value


def _default(f: dataclasses.Field):
    """A field's default as plain data, or a marker that equals nothing plain."""
    if f.default is not dataclasses.MISSING:
        return _plain(f.default)
    if f.default_factory is not dataclasses.MISSING:
        return _plain(f.default_factory())
    return dataclasses.MISSING


def deviations(recipe: Recipe, paper: Recipe = CIFAR) -> dict:
    """Fields where `recipe` departs from the paper's: {name: (ours, paper's)}. Notebooks print
    this so a shortened or changed schedule is always named."""
    out = {
        f.name: (getattr(recipe, f.name), getattr(paper, f.name))
        for f in dataclasses.fields(Recipe)
        if f.name != "eval_batch_size" and getattr(recipe, f.name) != getattr(paper, f.name)
    }
    if recipe.early_drops():
        out["milestone_epochs"] = (recipe.milestone_epochs, "after the first epoch: " + recipe.early_drops())
    return out
