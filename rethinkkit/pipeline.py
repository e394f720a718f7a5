"""The paper's protocol: train a large model, prune it, then train the pruned architecture
by each strategy -- every step a cached run in the store, for every seed.

    protocol = rk.pipeline.Protocol("cifar10")                    # the paper's CIFAR recipe
    table = rk.pipeline.run(protocol, [rk.paper.config("resnet56-a")], seeds=[0, 1, 2, 3, 4])

Strategies (Section 3 and the talk's slides):

- ``fine-tune``: the pruned model with its inherited weights, trained at the fine-tuning
  recipe (CIFAR: 40 epochs at lr 0.001);
- ``scratch-e``: the pruned architecture from a fresh initialisation, the large model's epochs;
- ``scratch-b``: the same, with epochs stretched to the large model's computation
  (`budget.scratch_b`, from the measured MACs ratio);
- ``fine-tune-restart``: inherited weights trained with the large model's full schedule.

A run that inherits weights is keyed by where they come from: `RunSpec.init` names the
large model's spec key, the method and its spec. The seed is not part of it: the run with
seed s starts from the large model trained with seed s. Re-running trains nothing new; a
killed call resumes from the last checkpoints when called again.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import pandas as pd

from . import budget, flops, paper, pruning
from . import data as data_mod
from .config import CIFAR, FINETUNE_CIFAR, IMAGENET, Recipe, RunSpec, _plain, deviations
from .config import seeds as config_seeds
from .runs import Run, Store

IMAGENET_FINETUNE_L1 = dataclasses.replace(IMAGENET, epochs=20, lr=0.001, milestones=())  # Li et al. on ImageNet


@dataclass(frozen=True)
class Protocol:
    """Where and how long every run of the protocol trains; the paper's values by default."""

    dataset: str
    epochs: int = 160  # the large model and Scratch-E (paper: 160 on CIFAR, 90 on ImageNet)
    finetune_epochs: int = 40  # paper: 40 on CIFAR (L1-norm on ImageNet: 20)
    rule: budget.Rule = "cifar"  # the Scratch-B rule ("imagenet" caps the budget at 2x epochs)
    train_subset: int | None = None  # train on a stratified subset of this many images (a named deviation)
    test_subset: int | None = None  # evaluate on a stratified subset of the test images (a named deviation)
    large: Recipe = CIFAR  # the large model's recipe apart from its epochs
    finetune: Recipe = FINETUNE_CIFAR  # the fine-tuning recipe apart from its epochs

    def __post_init__(self) -> None:
        for name in ("epochs", "finetune_epochs"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"Protocol.{name} must be a positive number of epochs, got {value!r}")
        if self.rule not in budget.RULES:
            raise ValueError(f"unknown budget rule {self.rule!r}; choose one of {budget.RULES}")

    @classmethod
    def imagenet(cls, **changes) -> "Protocol":
        """The paper's ImageNet protocol for L1-norm pruning (90 epochs, fine-tune 20, capped budget)."""
        return cls(**{"dataset": "imagenet", "epochs": 90, "finetune_epochs": 20, "rule": "imagenet",
                      "large": IMAGENET, "finetune": IMAGENET_FINETUNE_L1, **changes})

    @property
    def large_recipe(self) -> Recipe:
        return dataclasses.replace(self.large, epochs=self.epochs)

    @property
    def finetune_recipe(self) -> Recipe:
        return dataclasses.replace(self.finetune, epochs=self.finetune_epochs)

    def recipes(self) -> dict[str, Recipe]:
        return {"large / Scratch-E": self.large_recipe, "fine-tune": self.finetune_recipe}

    def deviations(self) -> dict:
        """Where this protocol departs from the paper's on its dataset: {what: (ours, paper's)}.
        Notebooks print it, so a shortened schedule or a data slice is always named."""
        paper = protocol(self.dataset)
        out = {}
        if self.dataset not in PAPER_DATASETS:
            out["dataset"] = (self.dataset, " / ".join(PAPER_DATASETS))
        for name in ("epochs", "finetune_epochs", "rule", "train_subset", "test_subset"):
            if getattr(self, name) != getattr(paper, name):
                out[name] = (getattr(self, name), getattr(paper, name) or "all")
        for name, ours, theirs in (("large", self.large, paper.large), ("finetune", self.finetune, paper.finetune)):
            for field_name, (a, b) in deviations(dataclasses.replace(ours, epochs=theirs.epochs), theirs).items():
                out[f"{name}.{field_name}"] = (a, b)
        return out


PAPER_DATASETS = ("cifar10", "cifar100", "imagenet")


def protocol(dataset: str, epochs: int = 0, finetune_epochs: int = 0, train_subset: int = 0,
             test_subset: int = 0, **changes) -> Protocol:
    """The paper's protocol for `dataset` (ImageNet: 90 epochs, fine-tune 20, the capped
    budget rule; anything else: CIFAR's), with notebook-friendly overrides: 0 keeps the
    paper's epochs and the whole data."""
    base = Protocol.imagenet() if dataset == "imagenet" else Protocol(dataset)
    return dataclasses.replace(
        base,
        dataset=dataset,
        epochs=epochs or base.epochs,
        finetune_epochs=finetune_epochs or base.finetune_epochs,
        train_subset=train_subset or None,
        test_subset=test_subset or None,
        **changes,
    )


@dataclass(frozen=True)
class Strategy:
    """How a pruned architecture is trained: from which weights, on which schedule."""

    name: str  # the column in tables
    inherit: bool  # start from the pruned large model's weights (else a fresh initialisation)
    schedule: str  # "finetune" | "large" | "budget" (Scratch-B: the large schedule stretched)
    factor: int = 1  # multiplies the schedule's epochs (Table 16: fine-tune 80 = 2 x 40)

    def recipe(self, protocol: Protocol, base_macs: float, pruned_macs: float) -> Recipe:
        if self.schedule == "finetune":
            base = protocol.finetune_recipe
        elif self.schedule == "large":
            base = protocol.large_recipe
        elif self.schedule == "budget":
            base = budget.scratch_b(base_macs, pruned_macs, protocol.large_recipe, protocol.rule)
        else:
            raise ValueError(f"unknown schedule {self.schedule!r}; choose finetune, large or budget")
        return dataclasses.replace(base, epochs=base.epochs * self.factor)


STRATEGIES = {
    s.name: s
    for s in (
        Strategy("fine-tune", inherit=True, schedule="finetune"),
        Strategy("scratch-e", inherit=False, schedule="large"),
        Strategy("scratch-b", inherit=False, schedule="budget"),
        Strategy("fine-tune-restart", inherit=True, schedule="large"),
    )
}
TABLE_1 = ("fine-tune", "scratch-e", "scratch-b")


def fine_tune(paper_epochs: int, finetune_epochs: int = 40) -> Strategy:
    """Fine-tuning for `paper_epochs` (Table 16: 40, 80, 160), as a multiple of the protocol's
    fine-tuning epochs (paper: 40), so a shortened profile keeps the ratios."""
    if paper_epochs % finetune_epochs:
        raise ValueError(f"fine-tune epochs must be a multiple of {finetune_epochs}, got {paper_epochs}")
    return Strategy(f"fine-tune-{paper_epochs}", inherit=True, schedule="finetune",
                    factor=paper_epochs // finetune_epochs)


def strategy(name: str | Strategy) -> Strategy:
    """A strategy by name: fine-tune, scratch-e, scratch-b, fine-tune-restart, fine-tune-<N>."""
    if isinstance(name, Strategy):
        return name
    if name in STRATEGIES:
        return STRATEGIES[name]
    if isinstance(name, str) and name.startswith("fine-tune-") and name[10:].isdigit():
        return fine_tune(int(name[10:]))
    raise ValueError(f"unknown strategy {name!r}; choose from {', '.join(STRATEGIES)} or fine-tune-<epochs>")


@dataclass(frozen=True)
class Target:
    """What to prune: a base model, a method and its spec (a paper config is one)."""

    name: str
    model: str
    spec: object
    method: str = "l1-norm"
    options: tuple = field(default=())  # model build options


def target(config) -> Target:
    """A paper config (`rk.paper.config(...)`), a Target, or a name of a paper config."""
    if isinstance(config, Target):
        return config
    if isinstance(config, str):
        config = paper.config(config)
    return Target(config.name, config.model, config.spec, config.method)


def uniform(model: str, ratio: float, method: str = "l1-norm") -> Target:
    """A custom predefined target: every prunable layer of `model` keeps int(C * (1 - ratio))."""
    return Target(f"{model}-uniform-{ratio:g}", model, pruning.L1Spec(ratio=ratio), method)


def targets(configs: Iterable, uniform_ratio: float = 0.0) -> list[Target]:
    """The paper configs named in `configs`, plus (with `uniform_ratio` > 0) a uniformly
    pruned target of each of their base models -- the widgets' custom ratio."""
    chosen = [target(c) for c in configs]
    if uniform_ratio:
        chosen += [uniform(model, uniform_ratio) for model in dict.fromkeys(t.model for t in chosen)]
    return chosen


def large_spec(protocol: Protocol, model: str, options: tuple = ()) -> RunSpec:
    return RunSpec(dataset=protocol.dataset, model=model, recipe=protocol.large_recipe,
                   options=options, train_subset=protocol.train_subset, test_subset=protocol.test_subset)


def _origin(parent: RunSpec, t: Target) -> str:
    spec = json.dumps(_plain(t.spec, omit_defaults=True), sort_keys=True, separators=(",", ":"))
    return f"{parent.key()}|{t.method}|{spec}"


def run(
    protocol: Protocol,
    targets: Iterable,
    seeds: Sequence[int],
    strategies: Iterable[str | Strategy] = TABLE_1 + ("fine-tune-restart",),
    *,
    data=None,
    data_root: str | None = None,
    store: Store | str | None = None,
    device=None,
    progress: bool | None = None,
) -> pd.DataFrame:
    """Run the protocol for every target and seed; one row per run (a large model's row, once
    however many targets share it, has strategy "unpruned"): dataset, model, config, strategy, seed, epochs,
    num_classes, params, macs, final_top1, best_top1, best_epoch, seconds, key, init.

    data: the loaded `protocol.dataset` (its device is where training happens); else it is
    loaded by name from `data_root` onto `device`."""
    store = store if isinstance(store, Store) else Store(store)
    chosen = [strategy(s) for s in strategies]
    seeds = config_seeds(seeds)  # checked before anything trains
    targets = [target(c) for c in targets]
    if data is None:
        data = data_mod.load(protocol.dataset, root=data_root, device=device)
    rows, seen = [], set()
    for t in targets:
        parent = large_spec(protocol, t.model, t.options)
        for seed in seeds:
            large = store.get_or_run(parent, seed, data=data, progress=progress)
            if large.key not in seen:  # one row per large run, however many targets prune it
                seen.add(large.key)
                rows.append(_row(large, t, "unpruned"))
            pruned = pruning.prune(t.method, large.load_model(), t.spec, data=data)
            pruned_macs = flops.count(pruned.model, data.image_shape).macs
            for s in chosen:
                spec = dataclasses.replace(
                    parent,
                    cfg=pruned.cfg,
                    recipe=s.recipe(protocol, large.macs, pruned_macs),
                    init=_origin(parent, t) if s.inherit else "scratch",
                )
                initial = (lambda p=pruned: p.model.state_dict()) if s.inherit else None
                done = store.get_or_run(spec, seed, initial=initial, data=data, progress=progress)
                rows.append(_row(done, t, s.name))
    return pd.DataFrame(rows)


def _row(run: Run, t: Target, strategy_name: str) -> dict:
    h = run.history
    best = h.loc[h["test_top1"].idxmax()]
    return {
        "dataset": run.spec.dataset,
        "model": t.model,
        "config": t.model if strategy_name == "unpruned" else t.name,
        "strategy": strategy_name,
        "seed": run.seed,
        "epochs": run.spec.recipe.epochs,
        "num_classes": int(h["num_classes"].iloc[0]),
        "params": run.params,
        "macs": run.macs,
        "final_top1": run.final_top1,
        "best_top1": float(best["test_top1"]),
        "best_epoch": int(best["epoch"]),
        "seconds": float(h["seconds"].sum()),
        "key": run.key,
        "init": run.spec.init,
    }
