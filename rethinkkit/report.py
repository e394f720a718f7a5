"""Tables and figures from stored runs: tidy DataFrames in, tables and seaborn figures out.

Functions return values; notebooks display them. Accuracies are percentages; a summary
over seeds is mean ± std (ddof=1) with n named.
"""
from __future__ import annotations

import dataclasses
from typing import Iterable, Mapping, Sequence

import pandas as pd

from . import budget as budget_mod
from . import flops, models
from .config import IMAGENET, Recipe
from .runs import RUN_COLUMNS, Run, Store


def history(runs: Iterable[Run] | None = None, store: Store | str | None = None) -> pd.DataFrame:
    """Every epoch of the given runs (or of every finished run in the store), one row each."""
    if runs is None:
        store = store if isinstance(store, Store) else Store(store)
        frames = [pd.read_parquet(path) for path in store.result_files()]
    else:
        frames = [run.history for run in runs]
    if not frames:
        return pd.DataFrame(columns=[*RUN_COLUMNS, "epoch", "test_top1"])
    return pd.concat(frames, ignore_index=True)


def results(runs: Iterable[Run] | None = None, store: Store | str | None = None) -> pd.DataFrame:
    """One row per run: its columns plus final (last-epoch) and best-epoch test accuracy.

    `final_top1` is what tables report; `best_top1` selects an epoch on the test set, as
    the original scripts did (REFERENCE.md bug 3), and is kept only for comparison.
    """
    epochs = history(runs, store)
    if epochs.empty:
        return pd.DataFrame(columns=[*RUN_COLUMNS, "final_top1", "best_top1", "best_epoch", "seconds"])
    rows = []
    for _, run in epochs.groupby(["key", "seed"], sort=False):
        run = run.sort_values("epoch")
        best = run.loc[run["test_top1"].idxmax()]
        rows.append(
            {
                **{c: run[c].iloc[0] for c in RUN_COLUMNS if c in run},
                "final_top1": run["test_top1"].iloc[-1],
                "best_top1": best["test_top1"],
                "best_epoch": int(best["epoch"]),
                "seconds": run["seconds"].sum(),
            }
        )
    return pd.DataFrame(rows)


def summarize(df: pd.DataFrame, by: Sequence[str], metric: str = "final_top1") -> pd.DataFrame:
    """mean, std (ddof=1; NaN for one seed) and n of `metric` per group, plus a text cell."""
    if metric not in df:
        raise KeyError(f"no column {metric!r} to summarize; columns are {list(df.columns)}")
    grouped = df.groupby(list(by), sort=False)[metric]
    out = grouped.agg(mean="mean", std=lambda s: s.std(ddof=1), n="count").reset_index()
    out["text"] = [mean_std(m, s, n) for m, s, n in zip(out["mean"], out["std"], out["n"])]
    return out


def mean_std(mean: float, std: float, n: int) -> str:
    """'93.14 ± 0.12 (n=5)'; a single run shows no std."""
    if n < 2 or pd.isna(std):
        return f"{mean:.2f} (n={n})"
    return f"{mean:.2f} ± {std:.2f} (n={n})"


def pruned_pct(base: float, pruned: float) -> float:
    """How much of `base` pruning removed, in percent."""
    return 100.0 * (1 - pruned / base)


def architecture(
    model: str, ratio: float = 0.0, *, num_classes: int = 10, in_channels: int = 3, image_size: int = 32
) -> dict:
    """A model and its uniformly pruned twin (every prunable layer keeps int(C*(1-ratio))):
    cfg, params and MACs of both, and the reductions in %."""
    base = models.build(model, num_classes=num_classes, in_channels=in_channels)
    cfg = models.uniform_cfg(model, ratio) if ratio > 0 else models.default_cfg(model)
    pruned = models.build(model, num_classes=num_classes, in_channels=in_channels, cfg=cfg)
    size = (in_channels, image_size, image_size)
    b, p = flops.count(base, size), flops.count(pruned, size)
    return {
        "model": model,
        "ratio": ratio,
        "cfg": cfg,
        "base_params": b.params,
        "params": p.params,
        "params_pruned_pct": pruned_pct(b.params, p.params),
        "base_macs": b.macs,
        "macs": p.macs,
        "macs_pruned_pct": pruned_pct(b.macs, p.macs),
    }


def budget_table(
    configs: Iterable, recipe: Recipe = Recipe(), rule: budget_mod.Rule = "cifar", tolerance: float = 0.3
) -> pd.DataFrame:
    """Scratch-E / Scratch-B schedules of pruned configs (objects with .name, .model, .cfg,
    .macs_pruned), with our MACs reduction beside the reported one; `agrees` when they are
    within `tolerance` percentage points."""
    rows = []
    for c in configs:
        base = flops.count(models.build(c.model))
        pruned = flops.count(models.build(c.model, cfg=list(c.cfg)))
        plan = budget_mod.describe(base.macs, pruned.macs, recipe, rule)
        rows.append(
            {
                "config": c.name,
                "model": c.model,
                "macs_pruned_pct": pruned_pct(base.macs, pruned.macs),
                "macs_pruned_pct_reported": c.macs_pruned,
                **plan,
            }
        )
    table = pd.DataFrame(rows)
    table["agrees"] = (table["macs_pruned_pct"] - table["macs_pruned_pct_reported"]).abs() <= tolerance
    return table


def budget_rules(ratios: Sequence[float], cifar: Recipe = Recipe(), imagenet: Recipe = IMAGENET) -> pd.DataFrame:
    """Scratch-B epochs and milestones under both rules for MACs ratios (base / pruned)."""
    rows = []
    for ratio in ratios:
        c = budget_mod.scratch_b(ratio, 1.0, cifar, "cifar")
        i = budget_mod.scratch_b(ratio, 1.0, imagenet, "imagenet")
        rows.append({
            "macs_ratio": ratio,
            "cifar_epochs": c.epochs, "cifar_milestones": c.milestone_epochs,
            "imagenet_epochs": i.epochs, "imagenet_milestones": i.milestone_epochs,
            # (pruned MACs x Scratch-B epochs) / (base MACs x large epochs): below 1 when capped
            "imagenet_compute_vs_large": i.epochs / (ratio * imagenet.epochs),
        })
    return pd.DataFrame(rows)


def frame(records: Iterable) -> pd.DataFrame:
    """Dataclass instances (e.g. `rk.paper.configs()`) as a DataFrame, one row each."""
    return pd.DataFrame([dataclasses.asdict(r) for r in records])


def recipe_table(recipes: Mapping[str, Recipe]) -> pd.DataFrame:
    """Recipes side by side, one row each, with the lr milestones as epochs."""
    rows = []
    for name, recipe in recipes.items():
        row = {"recipe": name, **dataclasses.asdict(recipe)}
        row["milestone_epochs"] = recipe.milestone_epochs
        rows.append(row)
    return pd.DataFrame(rows).set_index("recipe")


def plot_history(epochs: pd.DataFrame, hue: str | None = None, ax=None):
    """Test and train top-1 by epoch (seaborn); `hue` splits runs by a column. Returns the Axes."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    if epochs.empty:
        raise ValueError("no epochs to plot: the history is empty (did the run finish?)")
    long = epochs.melt(
        id_vars=[c for c in ("epoch", "seed", hue) if c],
        value_vars=["train_top1", "test_top1"],
        var_name="split",
        value_name="top-1 (%)",
    )
    long["split"] = long["split"].str.replace("_top1", "", regex=False)
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    sns.lineplot(data=long, x="epoch", y="top-1 (%)", hue=hue or "split", style="split" if hue else None,
                 marker="o", errorbar="sd", ax=ax)
    ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    ax.set_title("accuracy by epoch" + (" (mean ± sd over seeds)" if epochs["seed"].nunique() > 1 else ""))
    return ax
