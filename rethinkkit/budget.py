"""Training budgets for models trained from scratch (paper, Section 3 "Training Budget").

Scratch-E trains the pruned model for the same epochs as the large model. Scratch-B
trains it for the same computation: the epochs grow by the MACs ratio of the large
model to the pruned one, and the learning-rate milestones stretch with them (they are
fractions of the epochs in `Recipe`). On ImageNet the paper caps the budget: a model
that saves more than 2x MACs is trained for twice the epochs only.

This is the one place the rule lives (the original code had two drifting copies).
"""
from __future__ import annotations

import dataclasses
from typing import Literal

from .config import Recipe

Rule = Literal["cifar", "imagenet"]
RULES = ("cifar", "imagenet")


def macs_ratio(base_macs: float, pruned_macs: float) -> float:
    """base_macs / pruned_macs, checked: both positive, the pruned model not larger."""
    if not (base_macs > 0 and pruned_macs > 0):
        raise ValueError(f"MACs must be positive, got base_macs={base_macs!r}, pruned_macs={pruned_macs!r}")
    if pruned_macs > base_macs:
        raise ValueError(
            f"the pruned model costs more than the base model ({pruned_macs:.4g} > {base_macs:.4g} MACs):"
            " pass the large model's MACs as base_macs and the pruned model's as pruned_macs"
        )
    return base_macs / pruned_macs


def scratch_e(recipe: Recipe = Recipe()) -> Recipe:
    """Scratch-E: the large model's recipe, unchanged (same epochs, same schedule)."""
    return recipe


def _check_cap(cap: float) -> float:
    if isinstance(cap, bool) or not isinstance(cap, (int, float)) or not (cap == 0 or cap >= 1):
        raise ValueError(f"a budget cap is a MACs ratio >= 1, or 0 for none; got {cap!r}")
    return cap


def scratch_b(base_macs: float, pruned_macs: float, recipe: Recipe = Recipe(), rule: Rule = "cifar",
              cap: float = 0.0) -> Recipe:
    """Scratch-B: the recipe with epochs stretched to the large model's compute budget.

    cifar:    E = int(epochs * base/pruned); milestones at int(0.5 E), int(0.75 E)
    imagenet: ratio >= 2 -> E = 2 * epochs (180: drops every 60); else int(epochs * ratio)
              -- less compute than the large model when the ratio > 2. The lr drops every
              int(E/3) epochs, as the original's `lr * 0.1 ** (epoch // int(E / 3))`
              (`every_step`): where 3 does not divide E that is a third drop in the last one
              or two epochs (E = 134: drops at 44, 88 and 132).
    cap:      the MACs ratio is first capped at `cap` (0: no cap, the paper's CIFAR rule;
              a cap is a deviation, e.g. for 95%-sparse models on a small machine).
    """
    ratio = macs_ratio(base_macs, pruned_macs)
    if _check_cap(cap):
        ratio = min(ratio, cap)
    if rule == "cifar":
        epochs = int(recipe.epochs * ratio)
    elif rule == "imagenet":
        epochs = 2 * recipe.epochs if ratio >= 2 else int(recipe.epochs * ratio)
        return dataclasses.replace(recipe, epochs=epochs, milestones=every_step(recipe.milestones, epochs))
    else:
        raise ValueError(f"unknown budget rule {rule!r}; choose one of {RULES}")
    return dataclasses.replace(recipe, epochs=epochs)


def every_step(milestones: tuple[float, ...], epochs: int) -> tuple[float, ...]:
    """The original ImageNet scripts' step schedule for `epochs` (E): milestones evenly spaced at
    1/n, ..., (n-1)/n of the epochs (the paper's: every 30 of 90) become a drop at every multiple of
    int(E/n) below E, i.e. lr * gamma ** (epoch // int(E / n)) (`adjust_learning_rate` of the
    original's main_B.py). Other milestones are kept as fractions, as is any schedule with E < n."""
    n = len(milestones) + 1
    step = epochs // n
    if not milestones or step == 0 or any(abs(m - (i + 1) / n) > 1e-9 for i, m in enumerate(milestones)):
        return tuple(milestones)
    return tuple(k * step / epochs for k in range(1, (epochs - 1) // step + 1))


def capped(base_macs: float, pruned_macs: float, rule: Rule = "cifar", cap: float = 0.0) -> str:
    """Whether Scratch-B's epochs are capped, and why ("no" when they follow the ratio)."""
    ratio = macs_ratio(base_macs, pruned_macs)
    if _check_cap(cap) and ratio > cap:
        return f"yes: the MACs ratio {ratio:.2f} is capped at {cap:g} (a deviation from the paper's rule)"
    if rule == "imagenet" and ratio > 2:
        return f"yes: the paper's ImageNet rule trains a ratio of {ratio:.2f} (>= 2) for twice the epochs only"
    if rule == "cifar":
        return f"no: the paper's CIFAR rule has no cap (ratio {ratio:.2f})"
    return f"no: ratio {ratio:.2f}"


def describe(base_macs: float, pruned_macs: float, recipe: Recipe = Recipe(), rule: Rule = "cifar",
             cap: float = 0.0) -> dict:
    """One row for a budget table: the ratio, both scratch schedules, and whether Scratch-B is capped."""
    b = scratch_b(base_macs, pruned_macs, recipe, rule, cap)
    return {
        "base_macs": base_macs,
        "pruned_macs": pruned_macs,
        "macs_ratio": macs_ratio(base_macs, pruned_macs),
        "scratch_e_epochs": scratch_e(recipe).epochs,
        "scratch_e_milestones": recipe.milestone_epochs,
        "scratch_b_epochs": b.epochs,
        "scratch_b_milestones": b.milestone_epochs,
        "capped": capped(base_macs, pruned_macs, rule, cap),
    }
