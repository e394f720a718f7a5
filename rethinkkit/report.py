"""Tables and figures from stored runs: tidy DataFrames in, tables and seaborn figures out.

Functions return values; notebooks display them. Accuracies are percentages; a summary
over seeds is mean ± std (ddof=1) with n named.
"""
from __future__ import annotations

import dataclasses
import warnings
from typing import Iterable, Mapping, Sequence

import pandas as pd

from . import budget as budget_mod
from . import flops, models
from .config import IMAGENET, Recipe
from .files import CorruptFile
from .runs import PROVENANCE_COLUMNS, RESULT, RUN_COLUMNS, CorruptResult, Run, Store, read_result


def history(runs: Iterable[Run] | None = None, store: Store | str | None = None) -> pd.DataFrame:
    """Every epoch of the given runs (or of every finished run in the store), one row each."""
    if runs is None:
        store = store if isinstance(store, Store) else Store(store)
        frames = []
        for path in store.result_files():
            try:
                frames.append(read_result(path))
            except CorruptResult as error:  # the store moves it aside when the run is next asked for
                warnings.warn(CorruptFile(f"{error}; left out"), stacklevel=2)
    else:
        frames = [run.history for run in runs]
    if not frames:
        return pd.DataFrame(columns=[*RUN_COLUMNS, "epoch", "test_top1"])
    return pd.concat(frames, ignore_index=True)


def history_of(table: pd.DataFrame, store: Store | str | None = None, strategy: str | None = None) -> pd.DataFrame:
    """Every epoch of the runs in a protocol table (`rk.pipeline.run`'s rows, by their `key`),
    or of its `strategy` rows only, with the table's config and strategy beside each epoch."""
    store = store if isinstance(store, Store) else Store(store)
    chosen = table if strategy is None else table[table["strategy"] == strategy]
    frames = [read_result(store.root / row.key / RESULT).assign(config=row.config, strategy=row.strategy)
              for row in chosen.drop_duplicates("key").itertuples()]
    if not frames:
        raise ValueError(f"no runs{' of strategy ' + repr(strategy) if strategy else ''} in the table")
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
                **{c: run[c].iloc[0] for c in (*RUN_COLUMNS, *PROVENANCE_COLUMNS) if c in run},
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
    n = int(n)
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
        classes, shape = getattr(c, "num_classes", 10), getattr(c, "input_shape", (3, 32, 32))
        base = flops.count(models.build(c.model, num_classes=classes), shape)
        pruned = flops.count(models.build(c.model, num_classes=classes, cfg=list(c.cfg)), shape)
        plan = budget_mod.describe(base.macs, pruned.macs, recipe, rule)
        rows.append(
            {
                "config": c.name,
                "model": c.model,
                "macs_pruned_pct": pruned_pct(base.macs, pruned.macs),
                "macs_pruned_pct_reported": c.macs_pruned,
                "params_pruned_pct": pruned_pct(base.params, pruned.params),
                "params_pruned_pct_reported": c.params_pruned,
                **plan,
            }
        )
    table = pd.DataFrame(rows)
    table["agrees"] = (table["macs_pruned_pct"] - table["macs_pruned_pct_reported"]).abs() <= tolerance
    return table


def run_budgets(runs: pd.DataFrame, protocol) -> pd.DataFrame:
    """Per pruned config of a protocol table: the large and pruned MACs (nonzero ones for masked
    models; means over seeds), the ratio, both scratch schedules under `protocol`'s rule and cap,
    and whether Scratch-B's epochs are capped, and why (`budget.describe`)."""
    large = runs[runs["strategy"] == "unpruned"].groupby("model")["macs"].mean()
    rows = []
    for config, group in runs[runs["strategy"] != "unpruned"].groupby("config", sort=False):
        model = group["model"].iloc[0]
        pruned = group["macs"].mean()
        plan = budget_mod.describe(large[model], min(pruned, large[model]), protocol.large_recipe, protocol.rule,
                                   protocol.budget_cap)
        rows.append({"config": config, "sparsity": group["sparsity"].mean() if "sparsity" in group else float("nan"),
                     **plan})
    return pd.DataFrame(rows)


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
    """Test and train top-1 by epoch (seaborn); `hue` splits runs by a column; dotted lines
    mark the epochs where the learning rate drops, so a plateau before the last drop shows.
    Returns the Axes."""
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
    if "lr" in epochs:
        lr = epochs.groupby("epoch")["lr"].max().sort_index()
        for epoch in lr.index[1:][lr.values[1:] < lr.values[:-1]]:
            ax.axvline(epoch - 0.5, color="grey", linestyle=":", linewidth=1)
    ax.set_title("accuracy by epoch" + (" (mean ± sd over seeds)" if epochs["seed"].nunique() > 1 else "")
                 + ("; dotted: lr drops" if "lr" in epochs else ""))
    return ax


# --- ours beside the paper's ------------------------------------------------------------

METRICS = {"final_top1": "final epoch", "best_top1": "best test epoch (selects on the test set)"}


def welch(a: tuple[float, float, int], b: tuple[float, float, int], level: float = 0.95) -> dict:
    """Confidence interval of mean(a) - mean(b) from (mean, std, n) of two samples (Welch).

    Returns diff, low, high and the verdict: "a better" when the whole interval is above 0,
    "b better" when below, "on par" when it holds 0; "no CI" when a side has fewer than 2
    runs or no std (ImageNet single runs).
    """
    from scipy import stats

    (ma, sa, na), (mb, sb, nb) = a, b
    diff = ma - mb
    if min(na, nb) < 2 or pd.isna(sa) or pd.isna(sb):
        return {"diff": diff, "low": float("nan"), "high": float("nan"), "verdict": "no CI"}
    va, vb = sa**2 / na, sb**2 / nb
    se = (va + vb) ** 0.5
    if se == 0:
        low = high = diff
    else:
        df = (va + vb) ** 2 / (va**2 / (na - 1) + vb**2 / (nb - 1))
        half = stats.t.ppf(0.5 + level / 2, df) * se
        low, high = diff - half, diff + half
    verdict = "a better" if low > 0 else "b better" if high < 0 else "on par"
    return {"diff": diff, "low": low, "high": high, "verdict": verdict}


# A group of runs has learned when its mean accuracy covers at least this fraction of the way
# from chance (100 / classes) to 100%: 28% on 10 classes, 20.8% on 100. Below it a verdict
# would compare models that did not learn, and tells nothing about the claim.
LEARNED_FRACTION = 0.2


def learned(mean: float, num_classes: int) -> bool:
    """Whether a mean top-1 (%) is clearly above chance (see LEARNED_FRACTION)."""
    chance = 100.0 / num_classes
    return mean >= chance + LEARNED_FRACTION * (100.0 - chance)


def check_metric(metric: str) -> str:
    """`metric` if tables can report it, else a ValueError naming the choices (check it before training)."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {list(METRICS)}, got {metric!r}")
    return metric


def _at_chance(stats: pd.DataFrame, keys: dict, num_classes: int) -> str:
    """'' when every named group learned; else why there is no verdict (the first group at chance)."""
    chance = 100.0 / num_classes
    for label, key in keys.items():
        if key in stats.index and not learned(stats.loc[key, "mean"], num_classes):
            return (f"no verdict: the {label} is at chance ({stats.loc[key, 'mean']:.1f}% vs chance "
                    f"{chance:.1f}%; needs >= {chance + LEARNED_FRACTION * (100 - chance):.1f}%)")
    return ""


def _verdict_text(result: dict, a: str, b: str) -> str:
    return {"a better": f"{a} better", "b better": f"{b} better"}.get(result["verdict"], result["verdict"])


def compare(
    ours: pd.DataFrame,
    paper: pd.DataFrame,
    *,
    claim: tuple[str, str] = ("scratch-b", "fine-tune"),
    metric: str = "final_top1",
    level: float = 0.95,
) -> pd.DataFrame:
    """Our table beside the paper's, one row per pruned config, in the paper's layout.

    ours:  one row per run (`rk.pipeline.run`): config, model, strategy, seed, num_classes, `metric`.
    paper: a paper table (`rk.paper.table(1)`): config, strategy, mean, std, n.
    For every strategy of the paper's table (and "unpruned", the config's base model) the
    row has our "mean ± std (n)" and the paper's. Then the claim: `claim[0]` vs `claim[1]`
    as a `level` confidence interval of the mean difference (Welch), on our runs and on
    the paper's own means and stds, and whether the two verdicts agree. Our side gets no
    verdict when the large model or either side of the claim has not learned (`learned`):
    models at chance say nothing about the claim.
    """
    check_metric(metric)
    missing = {"config", "model", "strategy", "num_classes", metric} - set(ours.columns)
    if missing:
        raise ValueError(f"ours needs the columns {sorted(missing)}: pass the table rk.pipeline.run returns")
    stats_ours = ours.groupby(["config", "strategy"])[metric].agg(["mean", lambda s: s.std(ddof=1), "count"])
    stats_ours.columns = ["mean", "std", "n"]
    paper_stats = paper.set_index(["config", "strategy"])[["mean", "std", "n"]]
    # the paper's columns, then any of ours it lacks (a dataset or config the paper did not report)
    strategies = list(dict.fromkeys([*paper["strategy"], *ours["strategy"]]))
    paper_configs = set(paper["config"])
    a, b = claim
    rows = []
    for config, group in ours[ours["strategy"] != "unpruned"].groupby("config", sort=False):
        model = group["model"].iloc[0]
        row = {"dataset": group["dataset"].iloc[0] if "dataset" in group else "", "model": model, "config": config}
        reported = config in paper_configs  # else its base model's paper cell is another dataset's
        for s in strategies:
            key = (model if s == "unpruned" else config, s)
            row[s] = mean_std(*stats_ours.loc[key]) if key in stats_ours.index else "—"
            row[f"{s} (paper)"] = mean_std(*paper_stats.loc[key]) if reported and key in paper_stats.index else "—"
        classes = int(group["num_classes"].iloc[0])
        at_chance = _at_chance(stats_ours, {"large model": (model, "unpruned"), f"{a} model": (config, a),
                                            f"{b} model": (config, b)}, classes)
        for side, table in (("ours", stats_ours), ("paper", paper_stats)):
            row[f"{a} − {b} ({side})"], row[f"verdict ({side})"] = "—", "—"
            if (config, a) in table.index and (config, b) in table.index:
                result = welch(tuple(table.loc[(config, a)]), tuple(table.loc[(config, b)]), level)
                row[f"{a} − {b} ({side})"] = (
                    f"{result['diff']:+.2f} [{result['low']:+.2f}, {result['high']:+.2f}]"
                    if result["verdict"] != "no CI" else f"{result['diff']:+.2f}"
                )
                row[f"verdict ({side})"] = _verdict_text(result, a, b)
            if side == "ours" and at_chance:
                row[f"verdict ({side})"] = at_chance
        if any(v in ("—", "no CI") or v.startswith("no verdict") for v in (row["verdict (ours)"], row["verdict (paper)"])):
            row["agree"] = "—"
        else:
            row["agree"] = "yes" if row["verdict (ours)"] == row["verdict (paper)"] else "no"
        row["metric"] = METRICS[metric]
        rows.append(row)
    return pd.DataFrame(rows)


def gaps(ours: pd.DataFrame, paper: pd.DataFrame, strategies: Sequence[str], reference: str = "unpruned",
         metric: str = "final_top1") -> pd.DataFrame:
    """Per config, mean(strategy) - mean(reference) for each strategy, ours beside the paper's
    ("unpruned" is the config's base model). E.g. how far fine-tuning falls below the unpruned
    model at aggressive ratios (Appendix C)."""
    check_metric(metric)
    if ours.empty:
        return pd.DataFrame(columns=["config"])
    means = ours.groupby(["config", "strategy"])[metric].mean()
    reported = paper.set_index(["config", "strategy"])["mean"]
    rows = []
    for config, group in ours[ours["strategy"] != "unpruned"].groupby("config", sort=False):
        model = group["model"].iloc[0]
        ref = (model if reference == "unpruned" else config, reference)
        row = {"config": config}
        for s in strategies:
            for side, table in (("ours", means), ("paper", reported)):
                have = (config, s) in table.index and ref in table.index
                row[f"{s} − {reference} ({side})"] = table[(config, s)] - table[ref] if have else float("nan")
        rows.append(row)
    return pd.DataFrame(rows)


def verdict_summary(table: pd.DataFrame) -> str:
    """One sentence on how many rows' verdicts agree with the paper's, and why rows have none."""
    decided = table[table["agree"] != "—"]
    chance = table["verdict (ours)"].astype(str).str.startswith("no verdict") if not table.empty else []
    why = (f" {int(sum(chance))} of {len(table)} row(s) have no verdict of ours because models did not learn "
           "(at chance): train longer or on more data." if any(chance) else "")
    if decided.empty:
        return ("No verdict could be compared: a claim needs models that learned and at least 2 seeds per "
                "strategy on both sides (the paper's ImageNet rows are single runs)." + why)
    agree = int((decided["agree"] == "yes").sum())
    return f"Our verdict agrees with the paper's in {agree} of {len(decided)} rows." + why


def plot_strategies(ours: pd.DataFrame, paper: pd.DataFrame | None = None, metric: str = "final_top1", ax=None):
    """Per config, accuracy by strategy: our mean ± sd over seeds (dots: single seeds) and,
    if given, the paper's mean (hollow diamond). Returns the Axes."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    if ours.empty:
        raise ValueError("nothing to plot: the table of runs is empty")
    pruned = ours[ours["strategy"] != "unpruned"]
    configs = list(dict.fromkeys(pruned["config"]))
    strategies = list(dict.fromkeys(pruned["strategy"]))
    if ax is None:
        _, ax = plt.subplots(figsize=(1.8 + 1.6 * len(configs), 3.8))
    palette = sns.color_palette("colorblind", len(strategies))
    width = 0.8 / len(strategies)
    reported = paper.set_index(["config", "strategy"])["mean"] if paper is not None else pd.Series(dtype=float)
    for j, (s, color) in enumerate(zip(strategies, palette)):
        for i, config in enumerate(configs):
            x = i + (j - (len(strategies) - 1) / 2) * width
            values = pruned.loc[(pruned["config"] == config) & (pruned["strategy"] == s), metric]
            if values.empty:
                continue
            sd = values.std(ddof=1) if len(values) > 1 else 0.0
            ax.errorbar(x, values.mean(), yerr=sd, fmt="o", color=color, capsize=3,
                        label=s if i == 0 else None)
            ax.scatter([x] * len(values), values, s=8, color=color, alpha=0.5)
            if (config, s) in reported.index:
                ax.scatter(x, reported[(config, s)], marker="D", facecolors="none", edgecolors=color, s=40,
                           label="paper (hollow ◇)" if i == 0 and j == 0 else None)
    ax.set_xticks(range(len(configs)), configs)
    ax.set_ylabel(f"top-1 (%), {METRICS.get(metric, metric)}")
    ax.set_title("accuracy by strategy (mean ± sd over seeds)")
    ax.legend(fontsize="small", ncol=2)
    return ax


def plot_sparsity(ours: pd.DataFrame, paper: pd.DataFrame | None = None, metric: str = "final_top1", ax=None):
    """Accuracy against the prune ratio (the zeroed fraction of the conv weights: the rows'
    `sparsity`), one line per strategy and initial learning rate, mean ± sd over seeds; the
    unpruned models at ratio 0. With `paper` (a table with a ratio column, e.g. Table 9), its
    means as hollow diamonds. Figure 7 of the paper. Returns the Axes."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    check_metric(metric)
    if ours.empty:
        raise ValueError("nothing to plot: the table of runs is empty")
    # a ratio per target: seeds' masks differ in the last weights, so the ratio is rounded to 0.1%
    df = ours.assign(ratio=ours["sparsity"].where(ours["strategy"] != "unpruned", 0.0).round(3))
    if df["ratio"].isna().any():
        raise ValueError("plot_sparsity needs masked runs (magnitude pruning): some rows have no sparsity")
    lrs = sorted(df["lr"].unique(), reverse=True) if "lr" in df else [None]
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 4))
    palette = dict(zip(["winning-ticket", "random-init", "fine-tune", "scratch-e", "scratch-b"],
                       sns.color_palette("colorblind", 5)))
    styles = dict(zip(lrs, ["-", "--", ":", "-."]))
    for lr in lrs:
        at = df if lr is None else df[df["lr"] == lr]
        unpruned = at[at["strategy"] == "unpruned"][metric]
        for strategy, group in at[at["strategy"] != "unpruned"].groupby("strategy", sort=False):
            points = (pd.concat([group[["ratio", metric]], unpruned.to_frame().assign(ratio=0.0)])
                      .groupby("ratio")[metric]
                      .agg(["mean", lambda v: v.std(ddof=1) if len(v) > 1 else 0.0]))
            points.columns = ["mean", "sd"]
            label = strategy + (f", lr {lr:g}" if lr is not None else "")
            color = palette.get(strategy)
            ax.errorbar(100 * points.index, points["mean"], yerr=points["sd"], color=color, linestyle=styles[lr],
                        marker="o", capsize=3, label=label)
    if paper is not None and "ratio" in paper:
        for strategy, group in paper[paper["strategy"] != "unpruned"].groupby("strategy", sort=False):
            ax.scatter(100 * group["ratio"], group["mean"], marker="D", facecolors="none",
                       edgecolors=palette.get(strategy), s=40, label=f"paper: {strategy}")
    ax.set_xlabel("prune ratio (% of conv weights zeroed)")
    ax.set_ylabel(f"top-1 (%), {METRICS[metric]}")
    ax.set_title("accuracy vs prune ratio (mean ± sd over seeds)")
    ax.legend(fontsize="small")
    return ax


def conv_weights(table: pd.DataFrame, store: Store | str | None = None, nonzero: bool = True,
                 per_run: int = 20_000, seed: int = 0) -> pd.DataFrame:
    """The conv weights of the runs in a protocol table (by `key`), one row per weight: model,
    method, config, strategy, seed, weight. Zeroed (masked) weights are left out when `nonzero`, so a sparse
    model shows the weights it uses; at most `per_run` weights are sampled from each run (seeded).
    Appendix F's Figure 8 is their histogram by strategy."""
    import torch

    store = store if isinstance(store, Store) else Store(store)
    frames = []
    for row in table.drop_duplicates("key").itertuples():
        state = torch.load(store.root / row.key / "model.pt", map_location="cpu", weights_only=True)
        flat = torch.cat([v.flatten() for v in state.values() if v.dim() == 4])
        if nonzero:
            flat = flat[flat != 0]
        if flat.numel() > per_run:
            flat = flat[torch.randperm(flat.numel(), generator=torch.Generator().manual_seed(seed))[:per_run]]
        frames.append(pd.DataFrame({"model": row.model, "method": row.method, "config": row.config,
                                    "strategy": row.strategy, "seed": row.seed, "weight": flat.numpy()}))
    if not frames:
        raise ValueError("no runs in the table")
    return pd.concat(frames, ignore_index=True)


def near_zero(weights: pd.DataFrame, quantile: float = 0.1) -> pd.DataFrame:
    """Per base model, method and strategy, the fraction of conv weights whose magnitude lies
    below the unpruned model's `quantile` of |w| (so 0.1 for the unpruned model itself):
    Appendix F's reading, "the weights close to zero are much fewer" after pruning, as a number."""
    rows = []
    for (model, method), group in weights.groupby(["model", "method"], sort=False):
        unpruned = group[group["strategy"] == "unpruned"]["weight"].abs()
        if unpruned.empty:
            raise ValueError(f"{model}: near_zero needs the unpruned model's weights (strategy 'unpruned')")
        cut = unpruned.quantile(quantile)
        for (config, strategy), part in group.groupby(["config", "strategy"], sort=False):
            rows.append({"model": model, "method": method, "config": config, "strategy": strategy, "threshold": cut,
                         "fraction_below": float((part["weight"].abs() < cut).mean())})
    return pd.DataFrame(rows)


def plot_weights(weights: pd.DataFrame, by: str = "strategy", ax=None):
    """Histogram (density) of conv weights, one curve per `by` value: Figure 8. Returns the Axes."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    if weights.empty:
        raise ValueError("no weights to plot")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    sns.histplot(data=weights, x="weight", hue=by, stat="density", common_norm=False, element="step", fill=False,
                 bins=120, ax=ax)
    ax.set_title("conv-weight distribution" + (" (zeroed weights left out)" if (weights["weight"] != 0).all() else ""))
    return ax


def setup_lines(runs: pd.DataFrame, data, protocol, seeds: Sequence[int], elapsed: float, script: str,
                notebook: str, methods: Sequence[str] = ("l1-norm",)) -> list[str]:
    """The bullet list that heads a results page: what produced it, on which hardware and data,
    the protocol's deviations, the seeds, and the training time behind it."""
    from .provenance import hardware, source

    trained = runs.drop_duplicates("key")["seconds"].sum()
    return [
        f"Generated by `{script}` (the same `rk.pipeline.run` as `notebooks/{notebook}.ipynb`) with {source()}.",
        "",
        f"- hardware: {hardware(data.device)}",
        f"- dataset: {data.name} ({data.num_train} train / {data.num_test} test images available)",
        f"- protocol deviations from the paper (ours, paper's): {protocol.deviations(methods=list(methods)) or 'none'}",
        f"- configs: {', '.join(dict.fromkeys(runs.loc[runs.strategy != 'unpruned', 'config']))}; seeds: {list(seeds)} "
        f"(n = {len(seeds)} per cell)",
        f"- training wall time, summed over the {runs['key'].nunique()} distinct runs: {trained / 3600:.2f} h"
        f" (this call: {elapsed:.0f} s; runs already in the store are loaded, not retrained)",
        "- metric: final-epoch test top-1 (%); the paper's numbers are CIFAR's, so only the verdicts compare",
    ]


def markdown(table: pd.DataFrame, digits: int = 2) -> str:
    """A DataFrame as a GitHub Markdown table (no extra dependency); floats rounded."""
    def cell(value) -> str:
        if isinstance(value, float):
            return "—" if pd.isna(value) else f"{value:.{digits}f}"
        return str(value).replace("|", "\\|")

    head = "| " + " | ".join(map(cell, table.columns)) + " |"
    rule = "|" + "---|" * len(table.columns)
    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join([head, rule, *rows])


# --- Section 5: the architectures pruning finds -------------------------------------------

# Figures 3, 5, 6: each series in the paper's colour
SERIES_COLORS = {"pruned": "tab:blue", "uniform": "tab:red", "guided": "tab:green", "transferred guided": "tab:brown"}


def _one_per_seed(table: pd.DataFrame | Sequence[pd.DataFrame], strategy: str | None) -> pd.DataFrame:
    """The pruned or designed rows of `table` (or of several tables together), one per (config,
    seed): of `strategy`, or of the first strategy each config has (its architecture is the same
    under every strategy)."""
    if not isinstance(table, pd.DataFrame):
        table = pd.concat([t for t in table if t is not None], ignore_index=True)
    rows = table[table["strategy"] != "unpruned"]
    if strategy is not None:
        rows = rows[rows["strategy"] == strategy]
    if rows.empty:
        raise ValueError(f"no pruned or designed runs{' of strategy ' + repr(strategy) if strategy else ''} in the table")
    return rows.drop_duplicates(["config", "seed"])


def widths(table: pd.DataFrame, config: str, paper: pd.DataFrame | None = None) -> pd.DataFrame:
    """Table 7: per layer (the cfg's widths in order, 'M' left out) of `config`'s architectures,
    the unpruned width and the pruned width's mean ± std over seeds, and a "total" row; with
    `paper` (`rk.paper.widths()`) the paper's beside. The unpruned widths are the rows' `base_cfg`
    (`pipeline.architectures`), else the table's unpruned model's, else the registered model's."""
    chosen = table[table["config"] == config]
    if chosen.empty:
        raise ValueError(f"no runs of {config!r} in the table; configs: {sorted(set(table['config']))}")
    rows = _one_per_seed(chosen, None)
    model = rows["model"].iloc[0]
    unpruned = table[(table["strategy"] == "unpruned") & (table["model"] == model)]
    if "base_cfg" in rows:  # `pipeline.architectures` rows carry it
        base = rows["base_cfg"].iloc[0]
    else:
        base = unpruned["cfg"].iloc[0] if not unpruned.empty else models.default_cfg(model)
    base = [int(v) for v in base if v != "M"]
    kept = pd.DataFrame([[int(v) for v in cfg if v != "M"] for cfg in rows["cfg"]])
    out = pd.DataFrame({"layer": [str(i) for i in range(1, len(base) + 1)], "width": base,
                        "mean": kept.mean().to_numpy(), "std": kept.std(ddof=1).to_numpy(), "n": len(kept)})
    totals = kept.sum(axis=1)
    out.loc[len(out)] = ["total", sum(base), totals.mean(), totals.std(ddof=1), len(kept)]
    out["width* (ours)"] = [mean_std(m, s, n).replace(f" (n={n})", "") if n > 1 else f"{m:.1f}"
                            for m, s, n in zip(out["mean"], out["std"], out["n"])]
    if paper is not None:
        theirs = paper.set_index("layer")
        out["width (paper)"] = [theirs["width"].get(layer) for layer in out["layer"]]
        out["width* (paper)"] = [f"{theirs['mean'][layer]:.1f}" + ("" if pd.isna(theirs["std"][layer])
                                                                   else f" ± {theirs['std'][layer]:.1f}")
                                 if layer in theirs.index else "—" for layer in out["layer"]]
    return out


def stage_kept(table: pd.DataFrame, strategy: str | None = None) -> pd.DataFrame:
    """Tables 18 and 21 (and what a uniform or guided design realises): per config, the kept
    fraction of prunable channels in each stage (from 1 at the input), mean ± std over seeds:
    dataset, model, method, series, config, stage, kept, std, n. Configs whose cfg is the unpruned
    one (weight-level pruning) have none."""
    rows = _one_per_seed(table, strategy)
    rows = rows[rows["stage_kept"].notna()]
    if rows.empty:
        raise ValueError("no architecture in the table has fewer channels than its base model (stage_kept is empty)")
    long = [{**{c: r[c] for c in ("dataset", "model", "method", "series", "config")}, "stage": stage, "value": value}
            for _, r in rows.iterrows() for stage, value in enumerate(r["stage_kept"], start=1)]
    return _spread(pd.DataFrame(long), ["dataset", "model", "method", "series", "config", "stage"])


def kernel_kept(table: pd.DataFrame, strategy: str | None = None) -> pd.DataFrame:
    """Figure 4, Tables 19 and 20: per sparse config, the fraction of 3x3 conv weights kept at
    each kernel position (row, col) of each stage (from 1), mean ± std over seeds: dataset, model,
    method, series, config, stage, row, col, kept, std, n."""
    rows = _one_per_seed(table, strategy)
    rows = rows[rows["kernel_kept"].notna()]
    if rows.empty:
        raise ValueError("no sparse (masked) architecture in the table (kernel_kept is empty)")
    long = [{**{c: r[c] for c in ("dataset", "model", "method", "series", "config")}, "stage": stage, "row": i,
             "col": j, "value": value}
            for _, r in rows.iterrows() for stage, grid in enumerate(r["kernel_kept"], start=1)
            for i, line in enumerate(grid) for j, value in enumerate(line)]
    return _spread(pd.DataFrame(long), ["dataset", "model", "method", "series", "config", "stage", "row", "col"])


def _spread(long: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    grouped = long.groupby(by, sort=False)["value"]
    return grouped.agg(kept="mean", std=lambda s: s.std(ddof=1), n="count").reset_index()


def plot_kernel_maps(kernels: pd.DataFrame, config: str, axes=None):
    """Figure 4: the 3x3 keep map of each stage of `config` (from `kernel_kept`), darker = kept
    more often, the fraction written in each cell. Returns the Axes."""
    import matplotlib.pyplot as plt

    chosen = kernels[kernels["config"] == config]
    if chosen.empty:
        raise ValueError(f"no kernel maps of {config!r}; configs: {sorted(set(kernels['config']))}")
    stages = sorted(set(chosen["stage"]))
    if axes is None:
        _, axes = plt.subplots(1, len(stages), figsize=(2.2 * len(stages), 2.4))
    axes = list(axes) if hasattr(axes, "__len__") else [axes]
    for ax, stage in zip(axes, stages):
        grid = chosen[chosen["stage"] == stage].pivot(index="row", columns="col", values="kept")
        ax.imshow(grid.to_numpy(), cmap="Greys", vmin=0, vmax=1)
        for (i, j), value in pd.DataFrame(grid).stack().items():
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", color="white" if value > 0.5 else "black",
                    fontsize=8)
        ax.set_title(f"stage {stage}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0].figure.suptitle(f"{config}: 3x3 keep probability", fontsize=10)
    return axes


def efficiency(table: pd.DataFrame | Sequence[pd.DataFrame], strategy: str | None = None,
               metric: str = "final_top1") -> pd.DataFrame:
    """Figures 3, 5, 6 as numbers (of one table or several together): per config, its series, params (mean over seeds) and accuracy
    mean ± std, and beside each non-uniform config the uniform series' accuracy (same model and
    dataset) at the same parameters (linear in log-params between the two uniform configs around it; NaN outside
    their range) and the gap to it. Where a uniform config has the same parameters within 2%
    (equal sparsity), the gap gets a 95% Welch interval and a verdict (none where a side has not
    learned, `learned`); else "no CI" (interpolated)."""
    import numpy as np

    check_metric(metric)
    rows = _one_per_seed(table, strategy)
    classes = rows["num_classes"] if "num_classes" in rows else pd.Series(0, index=rows.index)
    stats = rows.assign(num_classes=classes).groupby(["dataset", "model", "series", "config"], sort=False).agg(
        params=("params", "mean"), mean=(metric, "mean"), std=(metric, lambda s: s.std(ddof=1)), n=(metric, "count"),
        num_classes=("num_classes", "first"),
    ).reset_index()
    out = []
    for _, r in stats.iterrows():
        uniform = stats[(stats["series"] == "uniform") & (stats["dataset"] == r["dataset"])
                        & (stats["model"] == r["model"])].sort_values("params")
        line = {**r.to_dict(), "top1": mean_std(r["mean"], r["std"], r["n"]), "uniform at same params": float("nan"),
                "gap": float("nan"), "low": float("nan"), "high": float("nan"), "verdict": ""}
        if r["series"] != "uniform" and len(uniform):
            twin = uniform[(uniform["params"] - r["params"]).abs() <= 0.02 * r["params"]]
            chance = [m for m in (r, *(u for _, u in twin.iterrows()))
                      if m["num_classes"] and not learned(m["mean"], m["num_classes"])]
            if len(twin) and chance:
                line["verdict"] = f"no verdict: {chance[0]['config']} is at chance ({chance[0]['mean']:.1f}%)"
            elif len(twin):
                u = twin.iloc[0]
                result = welch((r["mean"], r["std"], r["n"]), (u["mean"], u["std"], u["n"]))
                line.update({"uniform at same params": u["mean"], "gap": result["diff"], "low": result["low"],
                             "high": result["high"], "verdict": _verdict_text(result, r["series"], "uniform")})
            elif uniform["params"].min() <= r["params"] <= uniform["params"].max() and len(uniform) > 1:
                at = float(np.interp(np.log(r["params"]), np.log(uniform["params"]), uniform["mean"]))
                line.update({"uniform at same params": at, "gap": r["mean"] - at, "verdict": "no CI (interpolated)"})
        out.append(line)
    return pd.DataFrame(out).drop(columns="num_classes")


def plot_efficiency(table: pd.DataFrame | Sequence[pd.DataFrame], strategy: str | None = None,
                    metric: str = "final_top1", ax=None):
    """Figures 3, 5, 6: accuracy against parameters (log scale), one line per series (pruned,
    uniform, guided, transferred guided) and dataset/model, mean ± sd over seeds (dots: single
    seeds). Returns the Axes."""
    import matplotlib.pyplot as plt

    check_metric(metric)
    rows = _one_per_seed(table, strategy)
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    for (dataset, model, series), group in rows.groupby(["dataset", "model", "series"], sort=False):
        color = SERIES_COLORS.get(series)
        stats = group.groupby("config", sort=False).agg(params=("params", "mean"), mean=(metric, "mean"),
                                                        std=(metric, lambda s: s.std(ddof=1))).sort_values("params")
        ax.errorbar(stats["params"], stats["mean"], yerr=stats["std"].fillna(0), marker="o", capsize=3, color=color,
                    label=f"{series} ({model}, {dataset})" if rows["model"].nunique() + rows["dataset"].nunique() > 2
                    else series)
        ax.scatter(group["params"], group[metric], s=8, alpha=0.4, color=color)
    ax.set_xscale("log")
    ax.set_xlabel("parameters")
    ax.set_ylabel(f"top-1 (%), {METRICS[metric]}")
    ax.set_title("trained from scratch: accuracy vs parameters (mean ± sd)")
    ax.legend(fontsize="small")
    return ax


def pattern_ranges(patterns: pd.DataFrame | Sequence[pd.DataFrame | None], by: Sequence[str] = ("config",)) -> pd.DataFrame:
    """How far from uniform a pattern is (Appendix G's reading as a number): per `by` group of tidy
    pattern tables (`stage_kept`, `kernel_kept`, `rk.paper.stage_pattern` / `kernel_pattern`), the
    lowest and highest kept fraction over stages (and kernel positions), and their range."""
    if not isinstance(patterns, pd.DataFrame):
        patterns = pd.concat([p for p in patterns if p is not None], ignore_index=True)
    if patterns.empty:
        raise ValueError("no patterns to compare")
    grouped = patterns.groupby(list(by), sort=False)["kept"]
    out = grouped.agg(lowest="min", highest="max").reset_index()
    out["range"] = out["highest"] - out["lowest"]
    return out


# --- Section 7: what each pipeline costs, and when fine-tuning wins -------------------------

# The measures a pipeline's cost is given in: name -> what it is, in words (for tables and axes)
COST_MEASURES = {
    "mac_epochs": "MAC-epochs (forward MACs per image x epochs)",
    "training_macs": "training MACs (forward MACs x 3 x training images x epochs)",
    "seconds": "measured training time (s, the runs' per-epoch seconds summed)",
}
INF = float("inf")  # a break-even k that is never reached
RUN_COST_COLUMNS = ("dataset", "setting", "model", "config", "strategy", "seed", "part", "key", "macs", "epochs",
                    "train_images", "mac_epochs", "training_macs", "seconds")


def _cost_label(measure: str) -> str:
    """A measure's short name for an axis: "training MACs", "MAC-epochs", "measured training time (s)"."""
    return COST_MEASURES[measure].split(" (")[0] + (" (s)" if measure == "seconds" else "")


def check_measure(measure: str) -> str:
    """`measure` if a cost can be given in it, else a ValueError naming the choices."""
    if measure not in COST_MEASURES:
        raise ValueError(f"measure must be one of {list(COST_MEASURES)}, got {measure!r}")
    return measure


def _inherited_from(init: str) -> str | None:
    """The spec key of the run a run starts from, read from its init: the run it was pruned from
    (its trained weights, or for a lottery ticket its pruning: `rk.coverage`'s reading of
    `pipeline._init`), or the run it continues (`pipeline._continuing`); None for a fresh start
    or published weights, which no run of the store trained before it."""
    from .coverage import _origin

    origin = _origin(init)
    if origin is not None:
        return origin[0]
    key, _, rest = str(init).partition("|")
    return key if rest == "trained" else None


def _run_cost(store: Store, key: str, found: dict) -> dict | None:
    """What one run (`<spec key>/seed<seed>`) cost, from its result file: MACs, epochs, training
    images, the per-epoch seconds summed, and its init; a run of published weights (torchvision's,
    `pipeline.pretrained_run`) trained nothing here, so it costs nothing. None when the store does
    not hold the run. `found` caches what was read."""
    from .costs import training_macs
    from .pipeline import PRETRAINED_RECORD

    if key not in found:
        folder = store.root / key
        if (folder / RESULT).exists():
            epochs = read_result(folder / RESULT)
            first = epochs.iloc[0]
            record = {"macs": int(first["macs"]), "epochs": int(first["epochs"]),
                      "train_images": int(first["train_images"]), "seconds": float(epochs["seconds"].sum()),
                      "init": str(first["init"])}
        elif (folder / PRETRAINED_RECORD).exists():
            import json

            first = json.loads((folder / PRETRAINED_RECORD).read_text())
            record = {"macs": int(first["macs"]), "epochs": 0, "train_images": int(first["train_images"]),
                      "seconds": 0.0, "init": str(first["init"])}
        else:
            return None
        record["mac_epochs"] = float(record["macs"]) * record["epochs"]
        record["training_macs"] = training_macs(record["macs"], record["train_images"], record["epochs"])
        found[key] = record
    return found[key]


def _missing_run(store: Store, key: str, row, needed_by: str = "") -> str:
    what = f"the run {key}" + (f", which {needed_by} starts from," if needed_by else "")
    return (f"{what} is not in the store {store.root} (row: config {row.config!r}, strategy {row.strategy!r}, seed "
            f"{row.seed}): pass the store the table's runs were trained in, or train them first (rk.pipeline.run "
            "with this store; a finished run is never trained twice)")


def run_costs(table: pd.DataFrame, store: Store | str | None = None, strict: bool = True) -> pd.DataFrame:
    """The runs behind each row of a protocol table (`rk.pipeline.run`'s rows, or the store's
    rebuilt by `rk.coverage.store_rows`), one row per (row, run): the row's own run (part "own";
    none for a strategy that trains nothing, "pruned", whose key names the run it evaluates) and
    every run it starts from, followed through the inits the store records (part "inherited": the
    large model it was pruned from, an iterative ticket's earlier rounds, the model a large run
    continues). Each with its forward MACs per image (nonzero ones for masked runs, as the paper
    counts Scratch-B's budget), epochs, training images, MAC-epochs (macs x epochs), training MACs
    (`rk.costs.training_macs`) and seconds (its per-epoch seconds summed: seeds trained together as
    one stacked model each record the shared epoch's time).

    A run the store does not hold is a ValueError naming it and the row that needs it; with
    `strict` False that row is left out, with a warning, instead (a store-wide table)."""
    store = store if isinstance(store, Store) else Store(store)
    missing = {"config", "strategy", "seed", "key"} - set(table.columns)
    if missing:
        raise ValueError(f"the table needs the columns {sorted(missing)}: pass the table rk.pipeline.run returns, "
                         "or rk.coverage.store_rows(store)")
    found: dict = {}
    out = []
    for row in table.itertuples(index=False):
        seed = int(row.seed)
        base = {"dataset": getattr(row, "dataset", ""), "setting": getattr(row, "setting", ""),
                "model": getattr(row, "model", ""), "config": row.config, "strategy": row.strategy, "seed": seed}
        own = _run_cost(store, row.key, found)
        try:
            if own is None:
                raise ValueError(_missing_run(store, row.key, row))
            trains = getattr(row, "epochs", 1) != 0  # "pruned" only evaluates the run its key names
            chain = [("own" if trains else "inherited", row.key, own)]
            parent = _inherited_from(own["init"])
            while parent is not None:
                key = f"{parent}/seed{seed}"
                record = _run_cost(store, key, found)
                if record is None:
                    raise ValueError(_missing_run(store, key, row, needed_by=chain[-1][1]))
                chain.append(("inherited", key, record))
                parent = _inherited_from(record["init"])
        except ValueError as error:
            if strict:
                raise
            warnings.warn(f"{error}; its row is left out of the costs", stacklevel=2)
            continue
        out += [{**base, "part": part, "key": key, **{c: r[c] for c in RUN_COST_COLUMNS if c in r}}
                for part, key, r in chain]
    return pd.DataFrame(out, columns=RUN_COST_COLUMNS)


def _pipeline_groups(table: pd.DataFrame) -> list[str]:
    """The columns that name a pipeline: its dataset and setting (where the table has them), model,
    config and strategy."""
    return [c for c in ("dataset", "setting") if c in table] + ["model", "config", "strategy"]


def pipeline_costs(table: pd.DataFrame, store: Store | str | None = None, metric: str = "final_top1",
                   strict: bool = True) -> pd.DataFrame:
    """What each pipeline of a protocol table costs, beside its accuracy: one row per config and
    strategy (and dataset and setting where the table has them), the mean over seeds of the
    pipeline's runs summed (`run_costs`): MAC-epochs, training MACs and measured seconds, each
    also split into the part inherited (the large model: what a given pretrained model saves) and
    the row's own training; `runs` per seed, `epochs` (all its runs' epochs), `vs_large` (training
    MACs over those of the unpruned large model of the same model and setting, where the table
    has it) and the accuracy (`metric`: mean, std, n over seeds, and as text). Fine-tuning costs
    the large model plus its own epochs; Scratch-E and Scratch-B cost their own training only."""
    check_metric(metric)
    if "model" not in table:
        raise ValueError("the table needs a model column: pass the table rk.pipeline.run returns, "
                         "or rk.coverage.store_rows(store)")
    runs = run_costs(table, store, strict)
    if runs.empty:
        raise ValueError("no runs to cost: the table is empty (run rk.pipeline.run first)" if strict or table.empty
                         else "no runs to cost: every row of the table has a run missing from the store (see the warnings)")
    groups = _pipeline_groups(table)
    per_seed = runs.pivot_table(index=[*groups, "seed"], columns="part", values=list(COST_MEASURES),
                                aggfunc="sum", fill_value=0.0)
    flat = pd.DataFrame(index=per_seed.index)
    for m in COST_MEASURES:
        for part in ("inherited", "own"):
            flat[f"{part}_{m}"] = per_seed[(m, part)] if (m, part) in per_seed.columns else 0.0
        flat[m] = flat[f"inherited_{m}"] + flat[f"own_{m}"]
    counted = runs.groupby([*groups, "seed"]).agg(runs=("key", "nunique"), epochs=("epochs", "sum"))
    flat = flat.join(counted).reset_index()
    costs = flat.groupby(groups, sort=False).mean(numeric_only=True).drop(columns="seed").reset_index()
    kept = table.merge(runs[[*groups, "seed"]].drop_duplicates(), on=[*groups, "seed"])  # rows left out: not here
    accuracy = kept.drop_duplicates([*groups, "seed"]).groupby(groups, sort=False)[metric].agg(
        mean="mean", std=lambda s: s.std(ddof=1), n="count").reset_index()
    out = costs.merge(accuracy, on=groups, how="left")
    out["top1"] = [mean_std(m, s, n) for m, s, n in zip(out["mean"], out["std"], out["n"])]
    same = groups[:-2]  # the large model of the same dataset, setting and model
    large = (out.loc[out["strategy"] == "unpruned", [*same, "training_macs"]].drop_duplicates(same)
             .rename(columns={"training_macs": "large"}))
    out = out.merge(large, on=same, how="left")
    out["vs_large"] = out["training_macs"] / out.pop("large")
    out["runs"] = out["runs"].round().astype(int)
    return out


def _targets(costs: pd.DataFrame) -> list[str]:
    """The columns of a `pipeline_costs` table that name a pruned target (its pipeline but the strategy)."""
    return [c for c in ("dataset", "setting", "model", "config") if c in costs]


def amortised(costs: pd.DataFrame, ks: Iterable[int] = range(1, 11), measure: str = "training_macs") -> pd.DataFrame:
    """The paper's case (b), "models of several sizes from one large model": the cost per target
    of each pruned target's pipelines when `k` targets share one large model, for every k in `ks`.
    A pipeline that starts from the large model pays its inherited part once for all k targets
    (inherited / k + own); one trained from scratch pays its own training for each (own). One row
    per target, strategy and k, from a `pipeline_costs` table; k -> infinity is case (a), a large
    model that is given."""
    check_measure(measure)
    ks = [int(k) for k in ks]
    if not ks or min(ks) < 1:
        raise ValueError(f"k counts the targets that share one large model: give whole numbers >= 1, got {ks}")
    pruned = costs[costs["strategy"] != "unpruned"]
    rows = [{**{c: r[c] for c in (*_targets(costs), "strategy")}, "k": k, "measure": measure,
             "per_target": r[f"inherited_{measure}"] / k + r[f"own_{measure}"]}
            for _, r in pruned.iterrows() for k in ks]
    return pd.DataFrame(rows, columns=[*_targets(costs), "strategy", "k", "measure", "per_target"])


def break_even(costs: pd.DataFrame, measure: str = "training_macs") -> pd.DataFrame:
    """When fine-tuning wins on cost (Section 7), per pruned target: every pipeline that starts
    from the large model ("from large": fine-tuning, a lottery ticket; it has an inherited part)
    against every one trained from scratch (none), in `measure`. Columns: the pipelines' costs for one target from nothing and their ratio;
    the ratio when the large model is given (case a: its own training only); the break-even k that
    solves inherited / k + own = scratch's own (inf where its own training alone costs as much as
    the scratch run: never cheaper); `cheaper_from`, the fewest targets sharing one large model at
    which the pipeline from the large model costs less per target (case b; NaN: never); both
    accuracies."""
    check_measure(measure)
    columns = [*_targets(costs), "from large", "from scratch", "measure", "from large cost", "scratch cost",
               "one target: ratio", "large model given: ratio", "break_even_k", "cheaper_from",
               "top1 (from large)", "top1 (from scratch)"]
    rows = []
    pruned = costs[costs["strategy"] != "unpruned"]
    for _, group in pruned.groupby(_targets(costs), sort=False):
        inheriting = group[group[f"inherited_{measure}"] > 0]
        scratch = group[(group[f"inherited_{measure}"] == 0) & (group[f"own_{measure}"] > 0)]
        for _, a in inheriting.iterrows():
            for _, b in scratch.iterrows():
                large, own, theirs = a[f"inherited_{measure}"], a[f"own_{measure}"], b[f"own_{measure}"]
                k = large / (theirs - own) if theirs > own else INF
                rows.append({**{c: a[c] for c in _targets(costs)}, "from large": a["strategy"],
                             "from scratch": b["strategy"], "measure": measure, "from large cost": large + own,
                             "scratch cost": theirs, "one target: ratio": (large + own) / theirs,
                             "large model given: ratio": own / theirs, "break_even_k": k,
                             "cheaper_from": max(1, int(k) + 1) if k < INF else float("nan"),
                             "top1 (from large)": a["top1"], "top1 (from scratch)": b["top1"]})
    return pd.DataFrame(rows, columns=columns)


def cost_verdicts(even: pd.DataFrame) -> list[str]:
    """The `break_even` table in words, one sentence per comparison: what fine-tuning costs against
    training from scratch for one target, with the large model given, and from how many targets
    sharing one large model it is the cheaper way."""
    lines = []
    for _, r in even.iterrows():
        unit = COST_MEASURES[r["measure"]].split(" (")[0]
        shared = (f"cheaper per target from k = {int(r['cheaper_from'])} targets sharing one large model "
                  f"(break-even k = {r['break_even_k']:.2f})" if r["break_even_k"] < INF
                  else "never cheaper per target, however many targets share the large model")
        lines.append(f"{r['config']}: {r['from large']} costs {r['one target: ratio']:.2f}x the {unit} of "
                     f"{r['from scratch']} for one target trained from nothing, {r['large model given: ratio']:.2f}x "
                     f"with the large model given; {shared}. Top-1: {r['top1 (from large)']} vs "
                     f"{r['top1 (from scratch)']}.")
    return lines


def plot_amortised(table: pd.DataFrame, even: pd.DataFrame | None = None, ax=None):
    """Case (b) as a figure: the cost per target (an `amortised` table) against k, the number of
    targets sharing one large model, one line per target and strategy (a colour per strategy, a
    line style per target); pipelines trained from scratch are flat. With `even` (`break_even` of
    the same measure), a cross where each line from the large model meets a scratch one. Returns the Axes."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    if table.empty:
        raise ValueError("nothing to plot: the amortised table is empty (no pruned targets in the costs)")
    measure = table["measure"].iloc[0]
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 4))
    strategies = list(dict.fromkeys(table["strategy"]))
    colors = dict(zip(strategies, sns.color_palette("colorblind", len(strategies))))
    styles = dict(zip(dict.fromkeys(table["config"]), ["-", "--", ":", "-."] * 8))
    for (config, strategy), line in table.groupby(["config", "strategy"], sort=False):
        ax.plot(line["k"], line["per_target"], linestyle=styles[config], color=colors[strategy], marker=".",
                label=f"{strategy} ({config})" if len(styles) > 1 else strategy)
    if even is not None:
        crossing = even[(even["measure"] == measure) & even["break_even_k"].between(1, table["k"].max())]
        ax.scatter(crossing["break_even_k"], crossing["scratch cost"], marker="x", color="black", zorder=3,
                   label="break-even k" if len(crossing) else None)
    positive = table["per_target"][table["per_target"] > 0]
    if len(positive) and positive.max() / positive.min() > 20:
        ax.set_yscale("log")
    ax.set_xlabel("k: targets pruned from one large model")
    ax.set_ylabel(f"{_cost_label(measure)} per target")
    ax.set_title("cost per target when k targets share one large model")
    ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    ax.legend(fontsize="small")
    return ax


def plot_costs(costs: pd.DataFrame, measure: str = "training_macs", ax=None):
    """Accuracy (mean ± sd over seeds) against each pipeline's whole cost in `measure`, one
    marker per strategy, the unpruned large model included; targets are told apart by their
    labels. Returns the Axes."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    check_measure(measure)
    if costs.empty:
        raise ValueError("nothing to plot: the cost table is empty")
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 4))
    strategies = list(dict.fromkeys(costs["strategy"]))
    colors = dict(zip(strategies, sns.color_palette("colorblind", len(strategies))))
    markers = dict(zip(strategies, "osD^vP*X<>" * 3))
    for strategy, group in costs.groupby("strategy", sort=False):
        ax.errorbar(group[measure], group["mean"], yerr=group["std"].fillna(0), fmt=markers[strategy],
                    color=colors[strategy], capsize=3, label=strategy)
        if costs["config"].nunique() > 1:
            for _, r in group.iterrows():
                ax.annotate(r["config"], (r[measure], r["mean"]), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel(f"{_cost_label(measure)} of the whole pipeline")
    ax.set_ylabel("top-1 (%)")
    ax.set_title("accuracy against what each pipeline cost (mean ± sd over seeds)")
    ax.legend(fontsize="small")
    return ax


def store_costs(store: Store | str | None = None, metric: str = "final_top1") -> pd.DataFrame:
    """`pipeline_costs` of everything the store holds: the store keeps each run's spec, not the
    table it was run for, so the rows are rebuilt from the runs' lineage (`rk.coverage.store_rows`);
    one row per pipeline (setting, model, config, strategy), and in `tables` the paper tables that
    claim it (`rk.coverage.attributed`, for a strategy of the table's, the same runs under another
    name included: a pipeline can serve several, e.g. Table 1 and Table 17 share configs; "—": none).
    Runs no lineage places in a pipeline are left out (`rk.coverage.unattributed` lists them); a
    pipeline with a run missing is left out, with a warning."""
    from . import coverage, paper

    store = store if isinstance(store, Store) else Store(store)
    rows = coverage.store_rows(store)
    rows = rows[rows["strategy"] != ""]
    if rows.empty:
        return pd.DataFrame(columns=["tables", *_pipeline_groups(rows), *COST_MEASURES])
    costs = pipeline_costs(rows, store, metric, strict=False)
    aliases = coverage._same_runs()  # the lottery's "random-init" is Scratch-E's run
    groups = _pipeline_groups(rows)
    claims: dict[tuple, list] = {}
    for i in coverage.ITEMS:
        strategies = {s for t in i.tables for s in paper.table(t)["strategy"]} | {"unpruned", "soft-pruned"}
        strategies |= {aliases[s] for s in strategies if s in aliases}
        mine = coverage.attributed(rows, i)
        for pipeline in mine[mine["strategy"].isin(strategies)][groups].drop_duplicates().itertuples(index=False):
            claims.setdefault(tuple(pipeline), []).append(i.name)
    costs.insert(0, "tables", [", ".join(claims.get(tuple(r), [])) or "—" for r in costs[groups].itertuples(index=False)])
    return costs
