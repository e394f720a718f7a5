"""Diagrams of the paper's framing figures (Figures 1 and 2), drawn from the kit's own runs.

Figure 1 is the three-stage pipeline (train a large model -> prune -> fine-tune) and the
paper's alternative, the pruned architecture trained from a fresh initialisation (Scratch-E,
Scratch-B). Figure 2 is a predefined target (every layer loses the same x% of its channels)
against an automatic one (the method decides each layer's width). In the paper both are
schematic; here they carry the numbers of real runs: `stages` reads Figure 1's accuracies out
of `rk.pipeline.run`'s rows, `widths` lays out Figure 2's per-layer widths, and the plots draw
them. Functions return tables or Axes; nothing prints.
"""
from __future__ import annotations

from functools import cache
from typing import Mapping, Sequence

import pandas as pd

from . import models as models_mod
from .paper import LIU_2019
from .pruning import network_slimming
from .report import learned, mean_std, welch

# Figure 1, in drawing order: (strategy of `rk.pipeline.run`'s rows, the stage's name). "unpruned" is
# the large model, "pruned" the pruned model with its inherited weights before any fine-tuning.
PIPELINE = (("unpruned", "train the large model"), ("pruned", "prune"), ("fine-tune", "fine-tune"))
SCRATCH = (("scratch-e", "Scratch-E"), ("scratch-b", "Scratch-B"))
STAGES = PIPELINE + SCRATCH

# The paper's words for each figure, quoted (the figures themselves carry no numbers).
CLAIMS = {
    "1": ("For all state-of-the-art structured pruning algorithms we examined, fine-tuning a pruned model only "
          "gives comparable or worse performance than training that model with randomly initialized weights."
          f" ({LIU_2019}, Abstract; Figure 1 is the three-stage pipeline)"),
    "2": ("For structured pruning methods with predefined target network architectures (Figure 2), directly "
          "training the small target model from random initialization can achieve the same, if not better, "
          "performance, as the model obtained from the three-stage pipeline. [...] For structured pruning methods "
          "with auto-discovered target networks, training the pruned model from scratch can also achieve "
          f"comparable or even better performance than fine-tuning. ({LIU_2019}, Section 1)"),
}


def claim(number: int | str) -> str:
    """The paper's claim that Figure `number` (1 or 2) frames, quoted with its source."""
    key = str(number)
    if key not in CLAIMS:
        raise ValueError(f"the framing figures are {', '.join(CLAIMS)}; got {number!r} (Section 5's are in rk.paper.reading)")
    return CLAIMS[key]


def models() -> list[str]:
    """The registered models both of the notebook's methods prune: L1-norm needs prunable conv
    widths (a predefined target), Network Slimming a BN-gated network with a known sparsity
    strength (an automatic one) -- the VGGs and PreResNets, not the plain ResNets or DenseNets."""
    return list(_both())


@cache  # the registry is fixed once imported; the layouts take a second to build
def _both() -> tuple[str, ...]:
    import torch

    out = []
    for name in models_mod.names():
        try:
            network_slimming.sparsity(name)
        except ValueError:
            continue
        with torch.device("meta"):  # the layout only: no memory, no initialisation cost
            layers = models_mod.build(name).prunable_layers()
        if any(layer.kind == "width" for layer in layers):
            out.append(name)
    return tuple(out)


# --- Figure 1: the stages' accuracies --------------------------------------------------------


def stages(runs: pd.DataFrame, config: str, metric: str = "final_top1") -> pd.DataFrame:
    """Figure 1's numbers for one pruned `config` of a protocol table (`rk.pipeline.run`'s rows):
    one row per stage present, in `STAGES` order: strategy, stage, epochs, params, macs (means over
    seeds), mean, std (ddof=1), n and top1 ("mean ± std (n)") of `metric`, num_classes, and keys (the
    runs', one per seed; a "pruned" stage names the large run it evaluated). The large
    model is the one the config's inheriting runs came from (their `init` names its key), so a
    table holding several methods' large models of the same base model picks the right one."""
    rows = runs[(runs["config"] == config) & (runs["strategy"] != "unpruned")]
    if rows.empty:
        configs = sorted(set(runs.loc[runs["strategy"] != "unpruned", "config"]))
        raise ValueError(f"no pruned runs of {config!r} in the table; its configs are {configs}")
    if metric not in runs:
        raise ValueError(f"no column {metric!r} in the table; pass rk.pipeline.run's rows")
    larges = runs[runs["strategy"] == "unpruned"]
    parents = {str(init).split("|")[0] for init in rows["init"]}
    large = larges[larges["key"].isin(parents)]
    if large.empty:  # only from-scratch runs: the large model of the same base model and method
        large = larges[(larges["model"] == rows["model"].iloc[0]) & (larges["method"] == rows["method"].iloc[0])]
    chosen = pd.concat([large, rows])
    out = []
    for strategy, name in STAGES:
        group = chosen[chosen["strategy"] == strategy].drop_duplicates(["key", "seed"])
        if group.empty:
            continue
        values = group[metric]
        mean, std, n = values.mean(), values.std(ddof=1), len(values)
        out.append({"strategy": strategy, "stage": name, "epochs": int(group["epochs"].max()),
                    "params": group["params"].mean(), "macs": group["macs"].mean(), "mean": mean, "std": std,
                    "n": n, "top1": mean_std(mean, std, n), "num_classes": int(group["num_classes"].iloc[0]),
                    "keys": tuple(group["key"])})
    return pd.DataFrame(out)


def stages_of(runs: pd.DataFrame, configs: Sequence[str], metric: str = "final_top1") -> pd.DataFrame:
    """`stages` of several configs of one protocol table, one below the other, a config column first."""
    if not configs:
        raise ValueError("no configs given")
    frames = [stages(runs, c, metric) for c in configs]
    for config, frame in zip(configs, frames):
        frame.insert(0, "config", config)
    return pd.concat(frames, ignore_index=True)


def verdict(table: pd.DataFrame, a: str = "scratch-b", b: str = "fine-tune", level: float = 0.95) -> str:
    """One sentence on strategy `a` against `b` in a `stages` table: the difference of the means
    with its `level` Welch interval and which is better ("on par" when the interval holds 0); no
    verdict when either side is missing, or has not learned (`rk.report.learned`), and no interval
    under 2 seeds a side."""
    at = table.set_index("strategy")
    missing = [s for s in (a, b) if s not in at.index]
    if missing:
        return f"{a} vs {b}: no verdict, {' and '.join(missing)} not run"
    classes = int(at.loc[a, "num_classes"])
    chance = [s for s in (a, b) if not learned(at.loc[s, "mean"], classes)]
    if chance:
        return (f"{a} vs {b}: no verdict, {chance[0]} is at chance ({at.loc[chance[0], 'mean']:.1f}% on "
                f"{classes} classes): train longer or on more data")
    result = welch(*(tuple(at.loc[s, ["mean", "std", "n"]]) for s in (a, b)), level=level)
    if result["verdict"] == "no CI":
        return (f"{a} − {b} = {result['diff']:+.2f} points; no interval with "
                f"{int(min(at.loc[a, 'n'], at.loc[b, 'n']))} seed(s) a side, so no verdict")
    better = {"a better": f"{a} better", "b better": f"{b} better"}.get(result["verdict"], "on par")
    return (f"{a} − {b} = {result['diff']:+.2f} points, {level:.0%} interval [{result['low']:+.2f}, "
            f"{result['high']:+.2f}]: {better}")


def plot_pipeline(table: pd.DataFrame, title: str = "", ax=None):
    """Figure 1 with numbers: the three stages as boxes joined by arrows (train the large model ->
    prune -> fine-tune), and below them the pruned architecture trained from scratch (Scratch-E,
    Scratch-B), each box with its top-1 (mean ± std (n)) and epochs from a `stages` table; a stage
    not in the table is drawn grey, "not run". Returns the Axes."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    if ax is None:
        _, ax = plt.subplots(figsize=(9, 3.6))
    at = table.set_index("strategy") if not table.empty else pd.DataFrame()
    places = {"unpruned": (0, 1), "pruned": (1, 1), "fine-tune": (2, 1), "scratch-e": (1.5, 0), "scratch-b": (2.5, 0)}
    colors = {"unpruned": "#dbe9f6", "pruned": "#dbe9f6", "fine-tune": "#dbe9f6", "scratch-e": "#fde2c8", "scratch-b": "#fde2c8"}
    w, h = 0.8, 0.62
    for strategy, name in STAGES:
        x, y = places[strategy]
        done = strategy in at.index
        ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02",
                                    facecolor=colors[strategy] if done else "#eeeeee", edgecolor="black"))
        lines = [name]
        if done:
            row = at.loc[strategy]
            lines += [f"top-1 {row['top1']}", f"{row['epochs']} epoch(s)" if strategy != "pruned" else "no training"]
        else:
            lines += ["not run"]
        ax.text(x, y, "\n".join(lines), ha="center", va="center", fontsize=8.5, color="black" if done else "grey")
    arrow = dict(arrowstyle="->", color="black", lw=1.2)
    for left, right in (("unpruned", "pruned"), ("pruned", "fine-tune")):
        (x0, y0), (x1, y1) = places[left], places[right]
        ax.annotate("", xy=(x1 - w / 2, y1), xytext=(x0 + w / 2, y0), arrowprops=arrow)
    for strategy in ("scratch-e", "scratch-b"):
        x1, y1 = places[strategy]
        ax.annotate("", xy=(x1, y1 + h / 2), xytext=(1, 1 - h / 2),
                    arrowprops=dict(arrowstyle="->", color="tab:orange", lw=1.2, linestyle="--"))
    ax.text(0.9, 0.5, "architecture only,\nfresh initialisation", ha="right", va="center", fontsize=8, color="tab:orange")
    ax.text(-0.4, 1.45, "the three-stage pipeline (Figure 1)", fontsize=9, style="italic")
    ax.text(3.0, -0.45, "training the pruned architecture from scratch", fontsize=9, style="italic", ha="right")
    ax.set_xlim(-0.5, 3.0)
    ax.set_ylim(-0.5, 1.55)
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=10)
    return ax


# --- Figure 2: the per-layer widths of a predefined and an automatic target ------------------


def widths(base: Sequence, cfgs: Mapping[str, Sequence]) -> pd.DataFrame:
    """Figure 2 as a table: for each named pruned cfg (`{target: cfg}`) of the unpruned cfg `base`,
    one row per layer (its widths in order, 'M' left out): target, layer (from 1), width (unpruned),
    kept, kept_fraction, pruned_pct. A predefined target prunes about the same % of every layer; an
    automatic one decides each layer's %."""
    base_widths = [int(v) for v in base if v != "M"]
    rows = []
    for name, cfg in cfgs.items():
        kept = [int(v) for v in cfg if v != "M"]
        if len(kept) != len(base_widths):
            raise ValueError(f"{name}: its cfg has {len(kept)} widths but the unpruned cfg has {len(base_widths)}; "
                             f"pass cfgs of the same base model")
        wider = [i + 1 for i, (k, b) in enumerate(zip(kept, base_widths)) if not 0 < k <= b]
        if wider:
            raise ValueError(f"{name}: layer(s) {wider} keep no channel or more than the unpruned width; "
                             f"is `base` the unpruned cfg of the same model?")
        rows += [{"target": name, "layer": i, "width": b, "kept": k, "kept_fraction": k / b,
                  "pruned_pct": 100.0 * (1 - k / b)} for i, (b, k) in enumerate(zip(base_widths, kept), start=1)]
    return pd.DataFrame(rows)


def spread(table: pd.DataFrame) -> pd.DataFrame:
    """How far from uniform each target of a `widths` table is: per target, the channels kept of
    all, the % of all channels pruned, the least and most pruned layer (%), and their range in
    points (a predefined target's range is rounding only, int(C * (1 - x)))."""
    out = []
    for name, group in table.groupby("target", sort=False):
        out.append({"target": name, "kept": int(group["kept"].sum()), "width": int(group["width"].sum()),
                    "pruned_pct": 100.0 * (1 - group["kept"].sum() / group["width"].sum()),
                    "least_pruned_pct": group["pruned_pct"].min(), "most_pruned_pct": group["pruned_pct"].max(),
                    "range_points": group["pruned_pct"].max() - group["pruned_pct"].min()})
    return pd.DataFrame(out)


def plot_widths(table: pd.DataFrame, title: str = "", ax=None):
    """Figure 2 with numbers: per layer, the unpruned width (grey) and each target's kept width
    (side by side, coloured), from a `widths` table. Returns the Axes."""
    import matplotlib.pyplot as plt

    if table.empty:
        raise ValueError("no widths to plot: the table is empty")
    targets = list(dict.fromkeys(table["target"]))
    layers = sorted(set(table["layer"]))
    if ax is None:
        _, ax = plt.subplots(figsize=(max(5, 0.6 * len(layers) + 2), 3.6))
    base = table.drop_duplicates("layer").set_index("layer")["width"]
    ax.bar(layers, [base[i] for i in layers], width=0.9, color="#e6e6e6", edgecolor="grey", label="unpruned")
    step = 0.8 / len(targets)
    for j, name in enumerate(targets):
        kept = table[table["target"] == name].set_index("layer")["kept"]
        offset = (j - (len(targets) - 1) / 2) * step
        ax.bar([i + offset for i in layers], [kept[i] for i in layers], width=step, label=name)
    ax.set_xticks(layers)
    ax.set_xlabel("layer (the cfg's widths, from the input)")
    ax.set_ylabel("channels")
    ax.set_title(title or "per-layer widths: predefined vs automatic (Figure 2)", fontsize=10)
    ax.legend(fontsize="small")
    return ax
