"""The coverage map of the study: for every table and figure of the paper, which notebook
regenerates it, which runs the store holds for it, and each verdict beside the paper's.

`ITEMS` is the one mapping "paper table/figure -> notebooks" (tests check it against the
notebooks and `rk.paper`). The rest reads what was recorded, and never trains:

- `store_rows(store)`: the store keeps each run's spec and results, not the table it was run
  for, so the rows `rk.pipeline.run` returned (config, method, strategy) are rebuilt from the
  lineage the specs do record. A run that inherits weights names its parent run, the method and
  the spec in its init (`pipeline.child_spec`); its siblings trained from scratch have the same
  architecture (cfg, options, masks) and data, and a recipe that is the parent's (Scratch-E) or
  the parent's stretched (Scratch-B). A run outside every such family (Section 5's designs,
  trained from scratch only; a run of `00_quickstart`) stays unattributed, and says so.
- `store_verdicts(rows)`: `rk.report.compare`, the notebooks' verdict function, on those rows,
  per table and per setting (dataset, data slice, large model's schedule and width).
- `recorded(folder)`: the verdicts written in `docs/results/*.md`, for the tables whose verdict
  cannot be recomputed from the store alone (a "pruned" column is evaluated, never stored; the
  figures' verdicts come from other functions) or whose runs this store does not hold;
  `pages(folder, rows)`: each page with the runs of its csv and how many of them the store holds.
- `executed(folder)`: the executed notebook copies (`runs/<profile>/`): the only record of the
  profile a notebook ran under.
"""
from __future__ import annotations

import json
import math
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from . import budget, models, paper, pipeline, pruning, report
from .config import Recipe, _plain
from .files import CorruptFile
from .paths import project_root
from .runs import Store


@dataclass(frozen=True)
class Item:
    """A table or figure of the paper and what the kit has for it."""

    name: str  # as the paper names it: "Table 1", "Figure 3"; the talk's extra row: "Slides: fine-tune-restart"
    section: str  # where it is in the paper
    what: str  # what it shows
    notebooks: tuple[str, ...] = ()  # the notebooks that regenerate it; () = not covered
    missing: str = ""  # why no notebook regenerates it, or that there is nothing to regenerate (a diagram)
    tables: tuple[str, ...] = ()  # its numbers in rk.paper (`rk.paper.table(id)`); Section 6's by lr: "8a", "8b"
    claim: tuple[str, str] | None = None  # the strategies its notebook's main verdict compares (rk.report.compare)
    methods: tuple[str, ...] = ()  # methods whose targets outside the paper's (a custom ratio) count for it too
    reading: str = ""  # its key in rk.paper.READINGS: the paper's verdict in words, for figures without numbers
    aliases: tuple[str, ...] = ()  # other words that name it in a results page's headings


SCRATCH_VS_FINETUNE = ("scratch-b", "fine-tune")
TICKET = ("winning-ticket", "random-init")
ITEMS = (
    Item("Figure 1", "1", "the three-stage pipeline: train a large model, prune, fine-tune (a diagram)",
         ("01_introduction", "03_methodology")),  # a diagram, made live: 01_introduction runs each stage
    Item("Figure 2", "1", "predefined vs automatically discovered target architectures (a diagram)",
         ("01_introduction", "03_methodology")),  # a diagram, made live: one large model pruned both ways
    Item("Table 1", "4.1", "L1-norm filter pruning (Li et al. 2017): fine-tuned vs Scratch-E / Scratch-B",
         ("04_1_l1_norm",), tables=("1",), claim=SCRATCH_VS_FINETUNE, methods=("l1-norm",)),
    Item("Slides: fine-tune-restart", "talk", "L1-norm targets fine-tuned with the large model's whole schedule",
         ("04_1_l1_norm",), tables=("restart",), claim=("scratch-b", "fine-tune-restart"), methods=("l1-norm",),
         aliases=("fine-tune-restart",)),
    Item("Table 2", "4.1", "ThiNet (Luo et al. 2017) on ImageNet", ("04_1_thinet",), tables=("2",),
         claim=SCRATCH_VS_FINETUNE, methods=("thinet",)),
    Item("Table 3", "4.1", "regression-based feature reconstruction (He et al. 2017) on ImageNet",
         ("04_1_regression",), tables=("3",), claim=SCRATCH_VS_FINETUNE, methods=("regression",)),
    Item("Table 4", "4.2", "Network Slimming (Liu et al. 2017): an automatic method",
         ("04_2_network_slimming",), tables=("4",), claim=SCRATCH_VS_FINETUNE, methods=("network-slimming",)),
    Item("Table 5", "4.2", "Sparse Structure Selection (Huang & Wang 2018): residual blocks removed",
         ("04_2_sparse_structure_selection",), tables=("5",), claim=("scratch-b", "pruned"),
         methods=("sss", "sss-target")),
    Item("Table 6", "4.3", "unstructured magnitude pruning (Han et al. 2015)", ("04_3_unstructured",),
         tables=("6",), claim=SCRATCH_VS_FINETUNE, methods=("magnitude",)),
    Item("Figure 3", "5", "Network Slimming's and magnitude pruning's architectures vs uniform ones of the same "
         "size, all trained from scratch (VGG-16)", ("05_architecture_search",), reading="3"),
    Item("Table 7", "5", "the widths Network Slimming keeps in VGG-16 at 60%", ("05_architecture_search",),
         reading="7"),
    Item("Figure 4", "5", "the average 3x3 keep pattern per stage of unstructured-pruned VGG-16",
         ("05_architecture_search",), reading="4"),
    Item("Figure 5", "5", "PreResNet-164, PreResNet-110, DenseNet-40: pruned no better than uniform",
         ("05_architecture_search",), reading="5"),
    Item("Figure 6", "5", "guided designs from the pruned architectures' patterns, and their transfer",
         ("05_architecture_search",), reading="6"),
    Item("Figure 7", "6", "lottery tickets of iterative and one-shot unstructured pruning, winning ticket vs random "
         "init, at lr 0.1 and 0.01 (the verdicts of both, by target name, are Table 9's rows)", ("06_lottery_ticket",)),
    Item("Table 8", "6", "lottery tickets of L1-norm targets at lr 0.1 (8a) and 0.01 (8b)", ("06_lottery_ticket",),
         tables=("8a", "8b"), claim=TICKET),
    Item("Table 9", "6", "lottery tickets of one-shot magnitude pruning at lr 0.1 (9a) and 0.01 (9b)",
         ("06_lottery_ticket",), tables=("9a", "9b"), claim=TICKET, methods=("magnitude",)),
    Item("Table 10", "Appendix A", "Soft Filter Pruning (He et al. 2018) from scratch", ("A_soft_filter_pruning",),
         tables=("10",), claim=("scratch-b", "pruned"), methods=("sfp",)),
    Item("Table 11", "Appendix A", "Soft Filter Pruning from a pretrained model", ("A_soft_filter_pruning",),
         tables=("11",), claim=("scratch-b", "pruned")),
    Item("Table 12", "Appendix B", "transfer to object detection (PASCAL VOC 07, ResNet-34-A/B backbones), mAP",
         ("B_detection_transfer",), tables=("12",)),
    Item("Table 13", "Appendix C", "Network Slimming at aggressive ratios", ("C_aggressive_pruning",),
         tables=("13",), claim=SCRATCH_VS_FINETUNE),
    Item("Table 14", "Appendix C", "L1-norm pruning of ResNet-56 at 90%", ("C_aggressive_pruning",),
         tables=("14",), claim=SCRATCH_VS_FINETUNE),
    Item("Table 15", "Appendix C", "unstructured pruning of VGG-19 at 95%", ("C_aggressive_pruning",),
         tables=("15",), claim=SCRATCH_VS_FINETUNE),
    Item("Table 16", "Appendix D", "fine-tuning for 40 / 80 / 160 epochs vs Scratch-E", ("D_extended_finetuning",),
         tables=("16",), claim=("scratch-e", "fine-tune-160")),
    Item("Table 17", "Appendix E", "the large model trained 300 epochs (L1-norm targets)", ("E_extended_schedule",),
         tables=("17",), claim=SCRATCH_VS_FINETUNE),
    Item("Figure 8", "Appendix F", "conv-weight distributions: unpruned, fine-tuned, scratch-trained (VGG-16)",
         ("F_weight_distributions",)),
    Item("Table 18", "Appendix G", "per-stage channel patterns of PreResNet-164 (Network Slimming)",
         ("G_sparsity_patterns",), reading="18"),
    Item("Table 19", "Appendix G", "per-stage 3x3 keep maps of PreResNet-110 (unstructured)",
         ("G_sparsity_patterns",), reading="19"),
    Item("Table 20", "Appendix G", "per-stage 3x3 keep maps of DenseNet-40 (unstructured)",
         ("G_sparsity_patterns",), reading="20"),
    Item("Table 21", "Appendix G", "per-stage channel patterns of VGG-16 (Network Slimming)",
         ("G_sparsity_patterns",), reading="21"),
)
ITEM = {i.name: i for i in ITEMS}


def item(name: str) -> Item:
    """An item of the map by name ("Table 1", "Figure 3")."""
    if name not in ITEM:
        raise ValueError(f"no table or figure {name!r} in the coverage map; it has: {', '.join(ITEM)}")
    return ITEM[name]


def status(i: Item) -> str:
    """'covered', 'a diagram: ...' or 'not covered: why'."""
    if i.missing and not i.notebooks:
        return f"not covered: {i.missing}"
    return i.missing if i.missing else "covered"


def the_map() -> pd.DataFrame:
    """ITEMS as a table: item, section, what, notebooks, status, the paper's claim or reading."""
    return pd.DataFrame([{"item": i.name, "section": i.section, "what": i.what,
                          "notebooks": ", ".join(i.notebooks) or "—", "status": status(i), "paper": _paper_side(i)}
                         for i in ITEMS])


def _paper_side(i: Item) -> str:
    if i.claim:
        return f"{i.claim[0]} vs {i.claim[1]}: the verdict from the paper's own means and stds (rk.paper)"
    if i.reading:
        return paper.READINGS[i.reading]
    return "—"


_NAMED = re.compile(r"\b(Table|Figure)s?\s+(\d+)[a-z]?((?:\s*(?:,|and|–|-)\s*\d+[a-z]?\b)*)")


def named(text: str) -> list[str]:
    """The items a heading names ("Tables 2 and 3", "Table 9 / Figure 7b", "Tables 18–21", and
    an item's aliases), in the order they appear; names the map does not know are left out."""
    found = []
    for kind, first, rest in _NAMED.findall(text):
        numbers, previous = [int(first)], int(first)
        for separator, number in re.findall(r"(–|-|,|and)?\s*(\d+)", rest):
            n = int(number)
            numbers += list(range(previous + 1, n + 1)) if separator in ("–", "-") else [n]
            previous = n
        found += [f"{kind} {n}" for n in numbers]
    found += [i.name for i in ITEMS for alias in i.aliases if alias in text]
    return [name for name in dict.fromkeys(found) if name in ITEM]


# --- the store: pipeline rows rebuilt from the lineage the specs record -----------------------

ROW_COLUMNS = ("dataset", "model", "config", "method", "strategy", "seed", "epochs", "lr", "num_classes", "params",
               "macs", "final_top1", "best_top1", "key", "init", "parent", "setting", "train_images",
               "large_epochs", "large_lr", "width")
SCRATCH_INITS = ("scratch", "scratch|rescaled")  # pipeline._init of the fresh and rescaled starts
ORIGINAL = "original-init"  # the suffix of a lottery ticket's init (pipeline._init)


def store_rows(store: Store | str | None = None) -> pd.DataFrame:
    """One row per finished run in the store, in `rk.pipeline.run`'s columns as far as the store
    records them: config, method and strategy from the run's lineage ("" where it has none), the
    root large run it descends from (`parent`) and that run's setting (dataset, training images,
    epochs, lr, width, training hooks), which keeps apart runs a table must not pool. A run shared
    by two strategies or targets (Scratch-E whose Scratch-B budget is the same; ThiNet and regression
    pruning reaching one architecture) has one row for each, as `rk.pipeline.run` gives it."""
    store = store if isinstance(store, Store) else Store(store)
    runs = report.results(store=store)
    if runs.empty:
        return pd.DataFrame(columns=ROW_COLUMNS)
    specs = {key: _read_spec(store.root / key / "spec.json") for key in runs["key"].unique()}
    done = {(r.key, int(r.seed)): r for r in runs.itertuples(index=False)}
    # a target: (parent key, seed, method, spec text, its children's signature) -> their parameters; the
    # signature tells apart the rounds of iterative pruning, which all name the large run and one spec
    targets: dict[tuple, int] = {}
    labels: dict[tuple, list] = {}  # (key, seed) -> [(target, strategy)]
    for (key, seed), run in done.items():
        origin = _origin(run.init)
        if origin is None or not specs[key]:
            continue
        parent, method, spec_text, start = origin
        target = (parent, seed, method, spec_text, _signature(specs[key]))
        targets.setdefault(target, int(run.params))
        own = specs.get(parent)
        same_recipe = own is not None and own.get("recipe") == specs[key].get("recipe")
        strategy = "winning-ticket" if start == ORIGINAL else "fine-tune-restart" if same_recipe else "fine-tune"
        labels.setdefault((key, seed), []).append((target, strategy))
    _fine_tune_lengths(labels, done)
    parents = {(t[0], t[1]) for t in targets}
    for (key, seed), run in done.items():
        if run.init not in SCRATCH_INITS or (key, seed) in parents or not specs[key]:
            continue
        signature = _signature(specs[key])
        for target in targets:
            if target[1] == seed and target[4] == signature:
                for strategy in _scratch_strategies(run, specs[key], done.get(target[:2]), specs.get(target[0])):
                    labels.setdefault((key, seed), []).append((target, strategy))
    root = {run_id: chosen[0][0][0] for run_id, chosen in labels.items()}  # -> the large run it was pruned from
    settings = {}
    rows = []
    for (key, seed), run in done.items():
        top = root.get((key, seed), key)
        if (top, seed) not in settings:
            settings[(top, seed)] = _setting(done.get((top, seed)), specs.get(top), run)
        base = {**_columns(run), **settings[(top, seed)], "parent": top if (key, seed) in root or
                (key, seed) in parents else ""}
        if (key, seed) in labels:
            for target, strategy in labels[(key, seed)]:
                method, spec_text = target[2], target[3]
                rows.append({**base, "config": _config_name(run.model, method, json.loads(spec_text),
                                                            _round(target, targets)),
                             "method": method, "strategy": strategy})
        elif (key, seed) in parents:
            methods = sorted({t[2] for t in targets if t[:2] == (key, seed)})
            soft = any(pruning.get(m).soft for m in methods)
            rows.append({**base, "config": run.model, "method": ", ".join(methods),
                         "strategy": "soft-pruned" if soft else "unpruned"})
        else:
            rows.append({**base, "config": "", "method": "", "strategy": ""})
    return pd.DataFrame(rows, columns=ROW_COLUMNS)


def _read_spec(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as error:
        warnings.warn(CorruptFile(f"the spec {path} cannot be read ({type(error).__name__}); its runs stay "
                                  "unattributed"), stacklevel=3)
        return {}


def _origin(init: str):
    """(parent key, method, spec text, start) of a run that inherits weights (`pipeline._origin`,
    plus "|original-init" for a lottery ticket); None for any other start."""
    parts = str(init).split("|")
    if len(parts) < 3 or parts[1] not in pruning.methods():
        return None
    return parts[0], parts[1], parts[2], ORIGINAL if parts[3:] == [ORIGINAL] else "trained"


def _signature(spec: dict) -> str:
    """What every child of one pruned target shares, whichever way it trains: the spec but for
    its recipe and start (`pipeline.child_spec` changes only those between strategies)."""
    return json.dumps({k: v for k, v in spec.items() if k not in ("key", "recipe", "init")}, sort_keys=True)


def _scratch_strategies(run, spec: dict, parent, parent_spec: dict | None) -> list[str]:
    """How a from-scratch sibling of a target trained, judged against the large run it was pruned
    from: the large run's recipe is Scratch-E (also Scratch-B when the budget rule gives the same
    epochs), the same recipe with more epochs is Scratch-B; else it is not this target's."""
    if parent is None or not parent_spec or "recipe" not in spec:
        return []
    ours, theirs = dict(spec["recipe"]), dict(parent_spec["recipe"])
    if {k: v for k, v in ours.items() if k not in ("epochs", "milestones")} != \
            {k: v for k, v in theirs.items() if k not in ("epochs", "milestones")}:
        return []
    if ours != theirs:
        return ["scratch-b"] if ours["epochs"] > theirs["epochs"] else []
    try:
        with warnings.catch_warnings():  # a short schedule's warning was given when it trained
            warnings.simplefilter("ignore")
            large = _recipe(theirs)
            stretched = budget.scratch_b(parent.macs, min(run.macs, parent.macs), large,
                                         pipeline.protocol(parent.dataset).rule)
    except ValueError:  # a recipe this version no longer accepts: its Scratch-B budget is unknown
        return ["scratch-e"]
    return ["scratch-e"] + (["scratch-b"] if stretched == large else [])


def _fine_tune_lengths(labels: dict, done: dict) -> None:
    """Table 16's longer fine-tunings in place: a target's fine-tuned runs that train k times its
    shortest become "fine-tune-N" (`pipeline.fine_tune`: N = k x the method's paper fine-tuning
    epochs); the shortest stays "fine-tune" (fine-tune-40 is the same run)."""
    tuned: dict[tuple, list] = {}
    for run_id, chosen in labels.items():
        for n, (target, strategy) in enumerate(chosen):
            if strategy == "fine-tune":
                tuned.setdefault(target, []).append((run_id, n))
    for target, members in tuned.items():
        shortest = min(done[run_id].epochs for run_id, _ in members)
        unit = _finetune_epochs(target[2], done[members[0][0]].dataset)
        for run_id, n in members:
            epochs = done[run_id].epochs
            if unit and epochs != shortest and epochs % shortest == 0:
                labels[run_id][n] = (target, pipeline.fine_tune(unit * int(epochs // shortest), unit).name)


def _finetune_epochs(method: str, dataset: str) -> int:
    """The paper's fine-tuning epochs of `method` on `dataset`'s kind (CIFAR L1-norm: 40); 0 if none."""
    try:
        return pruning.get(method).finetune_recipe(pipeline.protocol(dataset).kind).epochs
    except ValueError:
        return 0


def _recipe(fields: dict) -> Recipe:
    known = set(Recipe.__dataclass_fields__)
    return Recipe(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items() if k in known})


def _round(target: tuple, targets: dict) -> int:
    """Which round of iterative pruning `target` is: 1 + the targets of the same large run, seed,
    method and spec that keep more parameters (every round before it is trained in its chain)."""
    return 1 + sum(other[:4] == target[:4] and params > targets[target] for other, params in targets.items())


def _config_name(model: str, method: str, spec: dict, rounds: int) -> str:
    """The name `rk.pipeline.run` gave the target: the paper config whose spec it is (a spec with a
    named deviation, e.g. slimming's s, keeps the name), an iterative round, a one-shot or uniform
    target at its ratio, or else the model, method and spec in words."""
    if spec.get("remaining"):
        return pipeline.iterative(model, rounds, spec["ratio"])[-1].name
    for c in paper.CONFIGS.values():
        if c.model == model and c.method == method and _within(_plain(c.spec, omit_defaults=True), spec):
            return c.name
    if "ratio" in spec and pruning.get(method).ratio_spec is not None:
        # the notebooks' targets at one ratio: one-shot magnitude pruning ("-p80"), else uniform ones
        for t in (*pipeline.one_shot(model, [spec["ratio"]]), pipeline.uniform(model, spec["ratio"], method)):
            if t.method == method and _within(_plain(t.spec, omit_defaults=True), spec):
                return t.name
    return f"{model}-{method}-" + ",".join(f"{k}={v}" for k, v in sorted(spec.items()) if k != "type")


def _within(part: dict, whole: dict) -> bool:
    return all(whole.get(k) == v for k, v in part.items())


def _columns(run) -> dict:
    return {"dataset": run.dataset, "model": run.model, "seed": int(run.seed), "epochs": int(run.epochs),
            "lr": float(run.base_lr), "num_classes": int(run.num_classes), "params": int(run.params),
            "macs": int(run.macs), "final_top1": float(run.final_top1), "best_top1": float(run.best_top1),
            "key": f"{run.key}/seed{int(run.seed)}", "init": run.init}


def _setting(large, spec: dict | None, run) -> dict:
    """The setting a lineage was trained in, from its large run (else from the run itself): the
    dataset, training images, the large model's epochs and lr, its width (channels against the
    registered model's) and its training hooks; `setting` is all of them in words."""
    chosen = large if large is not None else run
    spec = spec or {}
    width = _width(chosen.model, spec.get("cfg"))
    hooks = ", ".join(f"{h.get('type', 'hook')}(" + ", ".join(f"{k}={v}" for k, v in h.items() if k != "type") + ")"
                      for h in spec.get("hooks", []))
    epochs = int(chosen.epochs) if large is not None else math.nan
    lr = float(chosen.base_lr) if large is not None else math.nan
    words = [chosen.dataset, f"{int(chosen.train_images)} training images"]
    if "test_subset" in spec and spec["test_subset"]:
        words.append(f"{spec['test_subset']} test images")
    words.append(f"large model {epochs} epochs at lr {lr:g}" if large is not None else "no large run in the store")
    if width != 1:
        words.append(f"width {width:g}")
    if hooks:
        words.append(hooks)
    return {"setting": ", ".join(words), "train_images": int(chosen.train_images), "large_epochs": epochs,
            "large_lr": lr, "width": width}


def _width(model: str, cfg) -> float:
    """The large model's channels against the registered model's (1 when its cfg is the default)."""
    if cfg is None:
        return 1.0
    try:
        default = models.default_cfg(model)
    except ValueError:  # a model this version does not register: its width is unknown
        return math.nan
    return round(_channels(cfg) / _channels(default), 2) if _channels(default) else 1.0


def _channels(cfg) -> int:
    """The sum of a cfg's widths, nested lists included ('M' and None left out)."""
    if isinstance(cfg, (list, tuple)):
        return sum(_channels(v) for v in cfg)
    return cfg if isinstance(cfg, int) and not isinstance(cfg, bool) else 0


def attributed(rows: pd.DataFrame, i: Item) -> pd.DataFrame:
    """The rows of `rows` (`store_rows`) that are `i`'s: targets of its paper tables' configs, or
    of its methods outside the paper's configs, with the large runs they descend from."""
    if not (i.tables or i.methods) or rows.empty:
        return rows.iloc[0:0]
    configs = {c for t in i.tables for c in paper.table(t)["config"]}
    outside = ~rows["config"].isin(set(paper.CONFIGS)) & rows["method"].isin(i.methods)
    chosen = rows[(rows["strategy"] != "") & ~rows["strategy"].isin(("unpruned", "soft-pruned"))
                  & (rows["config"].isin(configs) | outside)]
    large = rows[rows["strategy"].isin(("unpruned", "soft-pruned"))
                 & rows["key"].isin({f"{p}/seed{s}" for p, s in zip(chosen["parent"], chosen["seed"])})]
    return pd.concat([large, chosen], ignore_index=True)


def runs_by_item(rows: pd.DataFrame) -> pd.DataFrame:
    """Per item and setting: the configs, strategies, seeds and number of distinct runs the store
    holds for it."""
    out = []
    for i in ITEMS:
        mine = attributed(rows, i)
        for setting, group in mine.groupby("setting", sort=False):
            targets = group[~group["strategy"].isin(("unpruned", "soft-pruned"))]
            out.append({"item": i.name, "dataset": group["dataset"].iloc[0], "setting": setting,
                        "configs": ", ".join(dict.fromkeys(targets["config"])),
                        "strategies": ", ".join(dict.fromkeys(group["strategy"])),
                        "seeds": sorted(int(s) for s in set(group["seed"])), "runs": group["key"].nunique()})
    return pd.DataFrame(out, columns=["item", "dataset", "setting", "configs", "strategies", "seeds", "runs"])


def unattributed(rows: pd.DataFrame) -> pd.DataFrame:
    """The store's runs no lineage places in a table, per dataset and model: Section 5's designs and
    other runs trained from scratch alone, large runs whose children all trained from scratch."""
    left = rows[rows["strategy"] == ""]
    if left.empty:
        return pd.DataFrame(columns=["dataset", "model", "runs", "seeds", "epochs"])
    return (left.groupby(["dataset", "model"], sort=False)
            .agg(runs=("key", "nunique"), seeds=("seed", lambda s: sorted(set(int(v) for v in s))),
                 epochs=("epochs", lambda e: sorted(set(int(v) for v in e))))
            .reset_index())


# --- verdicts ----------------------------------------------------------------------------------

VERDICT_COLUMNS = ("item", "dataset", "setting", "config", "claim", "ours", "verdict (ours)", "paper",
                   "verdict (paper)", "agree", "n", "source")


def _same_runs() -> dict[str, str]:
    """Strategies that train the very same runs (the lottery's "random-init" is Scratch-E), from
    rk.pipeline.STRATEGIES: alias -> the first strategy of its kind."""
    kinds: dict[tuple, list] = {}
    for s in pipeline.STRATEGIES.values():
        kinds.setdefault((s.start, s.schedule, s.factor), []).append(s.name)
    return {alias: names[0] for names in kinds.values() for alias in names[1:]}


def _as_strategies(rows: pd.DataFrame, wanted: set[str]) -> pd.DataFrame:
    """`rows` with the other names a paper table gives the same runs: the lottery's "random-init"
    (Scratch-E's runs) and Table 16's "fine-tune-40" (the protocol's fine-tuning)."""
    extra = [rows[rows["strategy"] == same].assign(strategy=alias)
             for alias, same in _same_runs().items() if alias in wanted]
    tuned = rows[rows["strategy"] == "fine-tune"]
    names = pd.Series([pipeline.fine_tune(unit, unit).name if unit else "" for unit in
                       (_finetune_epochs(m, d) for m, d in zip(tuned["method"], tuned["dataset"]))],
                      index=tuned.index, dtype=object)
    if names.isin(wanted).any():
        extra.append(tuned[names.isin(wanted)].assign(strategy=names[names.isin(wanted)]))
    return pd.concat([rows, *extra], ignore_index=True) if extra else rows


def paper_table(i: Item, dataset: str, lr: float) -> pd.DataFrame:
    """`i`'s paper rows that runs on `dataset` at the large model's initial `lr` are compared with:
    the dataset's own or CIFAR-10's (`rk.paper.compared_dataset`); Section 6's table of that lr."""
    on = paper.compared_dataset(dataset)
    chosen = [t for t in i.tables if t not in paper.LOTTERY_LR or math.isclose(paper.LOTTERY_LR[t], lr)]
    if not chosen:
        return paper.table(i.tables[0], dataset=on).iloc[0:0]
    return pd.concat([paper.table(t, dataset=on) for t in chosen], ignore_index=True)


def store_verdicts(rows: pd.DataFrame, metric: str = "final_top1") -> pd.DataFrame:
    """Every item's verdict recomputed on the store's runs: `rk.report.compare` with the claim its
    notebook uses, per setting, one row per config that has runs of both sides of the claim."""
    report.check_metric(metric)
    out = []
    for i in ITEMS:
        if not i.claim:
            continue
        mine = attributed(rows, i)
        for setting, group in mine.groupby("setting", sort=False):
            reported = paper_table(i, group["dataset"].iloc[0], group["large_lr"].iloc[0])
            group = _as_strategies(group, set(reported["strategy"]) | set(i.claim))
            has = group.groupby("config")["strategy"].agg(set)
            both = [c for c, s in has.items() if set(i.claim) <= s]
            if not both:
                continue
            table = report.compare(group, reported, claim=i.claim, metric=metric)
            a, b = i.claim
            for _, r in table[table["config"].isin(both)].iterrows():
                n = group[(group["config"] == r["config"]) & group["strategy"].isin(i.claim)]["seed"].nunique()
                out.append({"item": i.name, "dataset": r["dataset"], "setting": setting, "config": r["config"],
                            "claim": f"{a} − {b}", "ours": r[f"{a} − {b} (ours)"], "verdict (ours)": r["verdict (ours)"],
                            "paper": r[f"{a} − {b} (paper)"], "verdict (paper)": r["verdict (paper)"],
                            "agree": r["agree"], "n": n,
                            "source": f"the store: rk.report.compare on its runs ({report.METRICS[metric]})"})
    return pd.DataFrame(out, columns=VERDICT_COLUMNS)


def recorded(folder: str | Path | None = None) -> pd.DataFrame:
    """The verdicts written in the results pages (`docs/results/*.md`): one row per item and row of
    every table with a verdict column, with the page and the section it is under. A section
    belongs to the items its heading names, else to those the page's title names."""
    folder = results_folder(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"no results folder {folder}: pass the folder holding the results pages "
                                "(docs/results/ of the project), or leave it empty for the project's")
    out = []
    for page in sorted(folder.glob("*.md")):
        lines = page.read_text().splitlines()
        title = next((line[2:] for line in lines if line.startswith("# ")), "")
        for heading, table in _tables(lines):
            verdict = next((c for c in table.columns if c.startswith("verdict")), None)
            if verdict is None:
                continue
            for name in named(heading) or named(title):
                for _, r in table.iterrows():
                    if r[verdict] in ("", "—"):
                        continue
                    claim, ours = _difference(table.columns, r)
                    out.append({"item": name, "dataset": r.get("dataset", ""), "setting": title,
                                "config": r.get("config", ""), "claim": claim, "ours": ours,
                                "verdict (ours)": r[verdict], "paper": _paper_difference(table.columns, r),
                                "verdict (paper)": r.get("verdict (paper)", "—"), "agree": r.get("agree", "—"),
                                "n": _n(r), "source": f"{_shown(page)}, section '{heading}'"})
    return pd.DataFrame(out, columns=VERDICT_COLUMNS)


def pages(folder: str | Path | None = None, rows: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per results page (`<name>.md`, with its runs in `<name>.csv`, one row per run as the
    scripts write them): the items its title names, the datasets of its runs, how many configs
    (the unpruned models included), the seeds, how many distinct runs, and how many of them the
    store holds (`rows`: `store_rows`)."""
    folder = results_folder(folder)
    held = set(rows["key"]) if rows is not None else set()
    out = []
    for page in sorted(folder.glob("*.md")):
        lines = page.read_text().splitlines()
        title = next((line[2:] for line in lines if line.startswith("# ")), "")
        runs = page.with_suffix(".csv")
        table = pd.read_csv(runs) if runs.exists() else pd.DataFrame(columns=["dataset", "config", "seed", "key"])
        if not named(title) and table.empty:
            continue  # an index page (README.md)
        keys = set(table["key"])
        out.append({"page": _shown(page), "items": ", ".join(named(title)) or "—",
                    "datasets": ", ".join(dict.fromkeys(table["dataset"])) or "—",
                    "configs": table["config"].nunique(),
                    "seeds": sorted(int(s) for s in set(table["seed"])), "runs": len(keys),
                    "in this store": len(keys & held)})
    return pd.DataFrame(out, columns=["page", "items", "datasets", "configs", "seeds", "runs", "in this store"])


def _tables(lines: list[str]):
    """(the heading above it, DataFrame of text cells) for every Markdown table of a page."""
    heading, block = "", []
    for line in [*lines, ""]:
        if line.startswith("|"):
            block.append(line)
            continue
        if len(block) > 2:
            cells = [[c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", row.strip()[1:-1])]
                     for row in block]
            yield heading, pd.DataFrame([c for c in cells[2:] if len(c) == len(cells[0])], columns=cells[0])
        block = []
        if line.startswith("#"):
            heading = line.lstrip("#").strip()


def _difference(columns, row) -> tuple[str, str]:
    for c in columns:
        if c.endswith(" (ours)") and not c.startswith("verdict"):
            return c.removesuffix(" (ours)"), row[c]
    if "gap" in columns:
        interval = f" [{row['low']}, {row['high']}]" if "low" in columns and row["low"] not in ("", "—") else ""
        return "gap to uniform at the same params", f"{row['gap']}{interval}"
    return "", ""


def _paper_difference(columns, row) -> str:
    return next((row[c] for c in columns if c.endswith(" (paper)") and not c.startswith("verdict")
                 and " − " in c), "—")


def _n(row) -> float:
    """The most runs behind one of our cells ("93.14 ± 0.12 (n=3)"); the paper's cells left out."""
    found = re.findall(r"\(n=(\d+)\)", " ".join(str(v) for c, v in row.items() if "(paper)" not in c))
    return max(int(n) for n in found) if found else math.nan


def _shown(path: Path) -> str:
    root = project_root()
    try:
        return str(path.resolve().relative_to(root)) if root else str(path)
    except ValueError:
        return str(path)


def verdicts(rows: pd.DataFrame, written: pd.DataFrame, metric: str = "final_top1") -> pd.DataFrame:
    """Each item's verdicts beside the paper's: recomputed on the store's runs where it holds both
    sides of the item's claim; else those recorded in the results pages, with where they come from."""
    ours = store_verdicts(rows, metric)
    fallback = written[~written["item"].isin(set(ours["item"]))]
    order = {i.name: n for n, i in enumerate(ITEMS)}
    both = pd.concat([ours, fallback], ignore_index=True) if len(fallback) else ours
    return both.sort_values("item", key=lambda s: s.map(order), kind="stable").reset_index(drop=True)


def agreement(judged: pd.DataFrame) -> pd.DataFrame:
    """Per item (`verdicts` rows): how many verdicts, from where (the store or a results page), how
    many could be set beside the paper's (both sides decided), and how many of those agree."""
    out = []
    for name, group in judged.groupby("item", sort=False):
        decided = group[group["agree"].isin(("yes", "no"))]
        out.append({"item": name, "from": "the store" if group["source"].str.startswith("the store").all()
                    else "results pages", "verdicts": len(group), "beside the paper's": len(decided),
                    "agree": int((decided["agree"] == "yes").sum())})
    return pd.DataFrame(out, columns=["item", "from", "verdicts", "beside the paper's", "agree"])


# --- where the pages and the executed copies are; the map ---------------------------------


def results_folder(folder: str | Path | None = None) -> Path:
    """`folder`, or the project's docs/results/ when it is empty."""
    if folder not in (None, ""):
        return Path(folder).expanduser()
    root = project_root()
    if root is None:
        raise FileNotFoundError("not inside a rethinkkit checkout, so there is no docs/results/ to read: "
                                "pass the folder holding the results pages")
    return root / "docs" / "results"


def executed(folder: str | Path | None = None) -> pd.DataFrame:
    """The executed notebook copies under `folder` (default: the project's runs/), which batch runs
    write to `<folder>/<profile>/<notebook>[__<parameters>].ipynb`: notebook, profile, copy, and
    whether the run failed. A folder that does not exist has none."""
    if folder in (None, ""):
        root = project_root()
        folder = root / "runs" if root else None
    copies = sorted(Path(folder).glob("*/*.ipynb")) if folder is not None else []
    rows = []
    for path in copies:
        if path.name.endswith(".running.ipynb"):
            continue
        failed = path.name.endswith(".failed.ipynb")
        stem = path.name.removesuffix(".failed.ipynb").removesuffix(".ipynb")
        rows.append({"notebook": stem.split("__")[0], "profile": path.parent.name, "copy": str(path),
                     "failed": failed})
    return pd.DataFrame(rows, columns=["notebook", "profile", "copy", "failed"])


def overview(rows: pd.DataFrame, written: pd.DataFrame, copies: pd.DataFrame, metric: str = "final_top1") -> pd.DataFrame:
    """The coverage map: per item, its notebooks and status, the runs the store holds for it
    (datasets, seeds, runs, settings), the profiles its notebooks were executed under, and where
    its verdicts come from with how many agree with the paper's."""
    judged = verdicts(rows, written, metric)
    out = []
    for i in ITEMS:
        mine = attributed(rows, i)
        ran = copies[copies["notebook"].isin(i.notebooks)]
        profiles = ", ".join(f"{p}" + (" (failed)" if ran[ran["profile"] == p]["failed"].all() else "")
                             for p in dict.fromkeys(ran["profile"])) or "—"
        mine_judged = judged[judged["item"] == i.name]
        out.append({
            "item": i.name, "section": i.section, "notebooks": ", ".join(i.notebooks) or "—", "status": status(i),
            "datasets": ", ".join(dict.fromkeys(mine["dataset"])) or "—",
            "seeds": sorted(int(s) for s in set(mine["seed"])) if len(mine) else "—",
            "runs in store": mine["key"].nunique(), "settings": mine["setting"].nunique(),
            "executed (profiles)": profiles, "verdicts": _summary(mine_judged, i),
        })
    return pd.DataFrame(out)


def _summary(judged: pd.DataFrame, i: Item) -> str:
    if judged.empty:
        if not i.notebooks:
            return "—"
        if not i.claim:
            return "none recorded (the notebook shows it)"
        unstored = [s for s in i.claim if s in pipeline.STRATEGIES and not pipeline.STRATEGIES[s].trains]
        if unstored:
            return (f"none recorded; the store cannot give one: '{unstored[0]}' is evaluated by the notebook, "
                    "never stored")
        return "none yet: no runs of both sides of the claim in the store, none recorded"
    sources = ", ".join(dict.fromkeys("the store" if s.startswith("the store") else s.split(",")[0]
                                      for s in judged["source"]))
    decided = judged[judged["agree"].isin(("yes", "no"))]
    agree = f"; agrees with the paper in {int((decided['agree'] == 'yes').sum())} of {len(decided)}" if len(decided) else ""
    return f"{len(judged)} from {sources}{agree}"


def summary(table: pd.DataFrame) -> str:
    """The map (`overview`) in one sentence: how many items a notebook covers, have runs in the
    store, have verdicts; which are not covered."""
    covered = table["status"] == "covered"
    missing = table.loc[table["status"].str.startswith("not covered"), "item"]
    diagrams = (~covered & ~table["status"].str.startswith("not covered")).sum()
    judged = ~table["verdicts"].str.startswith(("none", "—"))
    return (f"{int(covered.sum())} of {len(table)} tables and figures are regenerated by a notebook"
            + (f", {int(diagrams)} are diagrams" if diagrams else "")
            + (f"; not covered: {', '.join(missing)}" if len(missing) else "")
            + f". {int((table['runs in store'] > 0).sum())} have runs in this store, {int(judged.sum())} have verdicts.")
