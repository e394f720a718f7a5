"""The paper's protocol: train a large model, prune it, then train the pruned architecture
by each strategy -- every step a cached run in the store, for every seed.

    protocol = rk.pipeline.protocol("cifar10")                     # the paper's CIFAR protocol
    table = rk.pipeline.run(protocol, ["resnet56-a"], seeds=[0, 1, 2, 3, 4])

It is method-neutral: a target names a registered pruning method (`rk.pruning.get`),
which declares how its large model trains (hooks), its fine-tuning recipes and its spec;
nothing here branches on the method. The hand-off from pruning to training is one
function, `child_spec(parent, pruned, target, strategy, protocol, base_macs)`: the child
architecture (cfg *and* options such as channel selections), masks as a training hook,
the schedule (Scratch-B from the pruned model's MACs, nonzero ones when masked) and where
its weights start. Strategies (Section 3 and the talk's slides):

- ``fine-tune``: the pruned model with its inherited weights, at the method's fine-tuning
  recipe (CIFAR: 40 epochs at lr 0.001);
- ``scratch-e``: the pruned architecture from a fresh initialisation, the large model's epochs;
- ``scratch-b``: the same, with epochs stretched to the large model's computation
  (`budget.scratch_b`, from the measured MACs ratio);
- ``fine-tune-restart``: inherited weights trained with the large model's full schedule;
- ``fine-tune-<N>``: fine-tuning for N paper epochs (Table 16);
- ``winning-ticket``: the pruned structure from the large run's *original* initialisation,
  the large model's epochs (Frankle & Carbin 2019; Section 6);
- ``random-init``: the lottery experiments' name for Scratch-E (the same runs);
- ``pruned``: the pruned model with its inherited weights, evaluated without any training
  (Soft Filter Pruning's result, Appendix A: its large training already pruned it).

A method may bring its own large-model recipe (`Method.large_recipe`, scaled to the protocol's
epochs: `Protocol.large_for`), which its Scratch-E/B share; start its large training from a
plainly trained model of the same architecture (`Method.pretrained`: SFP's Table 11); and prune
while training (`Method.soft`: SFP), in which case its large run is reported as "soft-pruned" and
the "unpruned" row is the plainly trained model (`large_chain`).

Section 5's uniform and guided architectures are targets too, of methods that design an
architecture without a trained model (`Method.from_trained` False, `designed`): no large model
is trained for them and only from-scratch strategies apply. A guided target designs from a
`Pattern` that `pattern(...)` distils from a pruned target's runs and stores beside them.

A strategy starts from one of `STARTS`: the parent's trained weights, the parent's original
initialisation (lottery tickets), a fresh initialisation, a fresh one re-drawn for the kept
weights of each masked layer (sparse scratch training), or "scratch": whichever of the last
two the method declares (`Method.scratch`: magnitude pruning rescales, structured methods
start fresh). A run that inherits is keyed
by where its weights come from (`RunSpec.init` names the large model's key, the method and
its spec); seed s inherits from the large model trained with seed s. Pruning a large run
is computed once and cached beside it. Re-running trains nothing new; a killed call
resumes from the last checkpoints when called again.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import time
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable, Iterable, Sequence

import pandas as pd
import torch

from . import budget, flops, models, paper, pruning, together
from . import data as data_mod
from .config import CIFAR, IMAGENET, Recipe, RunSpec, _plain, deviations
from .config import seeds as config_seeds
from .files import CorruptFile, atomic_write, move_aside
from .pruning import Pattern, Pruned, design, magnitude, surgery
from .runs import INIT_DIGEST, Run, Store, _data_for, _provenance, _run_columns, build_model
from .train import WeightMasks, evaluate, quiet, state_digest


@dataclass(frozen=True)
class Protocol:
    """Where and how long every run of the protocol trains; the paper's values by default."""

    dataset: str
    epochs: int = 160  # the large model and Scratch-E (paper: 160 on CIFAR, 90 on ImageNet)
    finetune_epochs: int = 0  # 0: each method's (CIFAR 40; ImageNet L1 20, slimming 5); else all fine-tune this long
    rule: budget.Rule = "cifar"  # the Scratch-B rule ("imagenet" caps the budget at 2x epochs)
    train_subset: int | None = None  # train on a stratified subset of this many images (a named deviation)
    test_subset: int | None = None  # evaluate on a stratified subset of the test images (a named deviation)
    large: Recipe = CIFAR  # the large model's recipe apart from its epochs
    finetune: Recipe | None = None  # None: each method's fine-tuning recipe; else this one for all
    width: float = 1.0  # every prunable width of the base model times this (1: the paper's model)
    budget_cap: float = 0.0  # Scratch-B's MACs ratio capped at this (0: uncapped, the paper's CIFAR rule)
    # where a plainly trained large model comes from: "train" it here, or load torchvision's published ImageNet
    # weights ("torchvision": Table 1's ResNet-34 as the paper had it; `pretrained_spec`)
    large_source: str = "train"

    def __post_init__(self) -> None:
        for name, low in (("epochs", 1), ("finetune_epochs", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"Protocol.{name} must be a {'positive' if low else 'non-negative'} number of "
                                 f"epochs, got {value!r}")
        if self.rule not in budget.RULES:
            raise ValueError(f"unknown budget rule {self.rule!r}; choose one of {budget.RULES}")
        if isinstance(self.width, bool) or not isinstance(self.width, (int, float)) or not 0.05 <= self.width <= 1:
            raise ValueError(f"Protocol.width multiplies the base model's widths, in [0.05, 1]; got {self.width!r}")
        cap = self.budget_cap
        if isinstance(cap, bool) or not isinstance(cap, (int, float)) or not (cap == 0 or cap >= 1):
            raise ValueError(f"Protocol.budget_cap caps Scratch-B's MACs ratio: 0 (uncapped) or a number >= 1; got {cap!r}")
        if self.large_source not in LARGE_SOURCES:
            raise ValueError(f"Protocol.large_source is one of {LARGE_SOURCES}, got {self.large_source!r}")
        if self.large_source == "torchvision" and self.dataset != "imagenet":
            raise ValueError(f"large_source='torchvision' loads ImageNet weights; the protocol's dataset is "
                             f"{self.dataset!r} (use large_source='train')")

    @classmethod
    def imagenet(cls, **changes) -> "Protocol":
        """The paper's ImageNet protocol (90 epochs, each method's fine-tuning, capped budget)."""
        return cls(**{"dataset": "imagenet", "epochs": 90, "rule": "imagenet", "large": IMAGENET, **changes})

    @property
    def kind(self) -> str:
        """Which of a method's recipes apply: "imagenet" or "cifar" (every other dataset)."""
        return "imagenet" if self.rule == "imagenet" else "cifar"

    @property
    def large_recipe(self) -> Recipe:
        return dataclasses.replace(self.large, epochs=self.epochs)

    @property
    def paper_epochs(self) -> int:
        """The paper's large-model epochs of this protocol's kind (CIFAR 160, ImageNet 90)."""
        return (Protocol.imagenet() if self.kind == "imagenet" else Protocol(self.dataset)).epochs

    def large_for(self, method: str) -> Recipe:
        """The recipe `method`'s large model (and its Scratch-E/B) trains with here: the protocol's,
        or the method's own (`Method.large_recipe`, SFP's) with its epochs scaled as the protocol's
        are, by epochs / paper_epochs (SFP: 200 at the paper's 160), the warm-up kept inside them."""
        own = pruning.get(method).large_recipe.get(self.kind)
        if own is None:
            return self.large_recipe
        epochs = max(1, int(own.epochs * self.epochs / self.paper_epochs + 0.5))
        return dataclasses.replace(own, epochs=epochs, warmup_epochs=min(own.warmup_epochs, epochs - 1))

    def at_lr(self, lr: float) -> "Protocol":
        """This protocol with the large model's (and so every scratch and ticket run's) initial lr."""
        return dataclasses.replace(self, large=dataclasses.replace(self.large, lr=float(lr)))

    def finetune_recipe(self, method: str = "l1-norm") -> Recipe:
        """`method`'s fine-tuning recipe here (or the protocol's override), at `finetune_epochs`."""
        base = self.finetune or pruning.get(method).finetune_recipe(self.kind)
        return dataclasses.replace(base, epochs=self.finetune_epochs or base.epochs)

    def recipes(self, methods: Sequence[str] = ("l1-norm",)) -> dict[str, Recipe]:
        out = {"large / Scratch-E": self.large_recipe}
        for method in methods:
            chosen = pruning.get(method)
            if self.kind in chosen.large_recipe:  # a method with its own here (SFP's; SSS's on ImageNet)
                out[f"large / Scratch-E ({method})"] = self.large_for(method)
            if chosen.finetune or self.finetune:
                out["fine-tune" if len(methods) == 1 else f"fine-tune ({method})"] = self.finetune_recipe(method)
        return out

    def base_cfg(self, model: str) -> list | None:
        """The base model's cfg: None (the registered default) unless `width` shrinks it."""
        return None if self.width == 1 else models.uniform_cfg(model, 1 - self.width)

    def deviations(self, methods: Sequence[str] = ("l1-norm",)) -> dict:
        """Where this protocol departs from the paper's on its dataset: {what: (ours, paper's)}.
        Notebooks print it, so a shortened schedule, a data slice or a narrower model is always named."""
        paper_protocol = protocol(self.dataset)
        out = {}
        if self.dataset not in PAPER_DATASETS:
            out["dataset"] = (self.dataset, " / ".join(PAPER_DATASETS))
        for name in ("epochs", "rule", "train_subset", "test_subset", "width", "budget_cap"):
            if getattr(self, name) != getattr(paper_protocol, name):
                out[name] = (getattr(self, name), getattr(paper_protocol, name) or ("none" if name == "budget_cap" else "all"))
        for field_name, (a, b) in deviations(dataclasses.replace(self.large, epochs=paper_protocol.large.epochs),
                                             paper_protocol.large).items():
            out[f"large.{field_name}"] = (a, b)
        for method in methods:
            chosen = pruning.get(method)
            if self.kind in chosen.large_recipe:  # the method's own large recipe, against its paper values
                for field_name, (a, b) in deviations(self.large_for(method), paper_protocol.large_for(method)).items():
                    out[f"large ({method}).{field_name}"] = (a, b)
            if not (chosen.finetune or self.finetune):
                continue
            ours, theirs = self.finetune_recipe(method), paper_protocol.finetune_recipe(method)
            label = "finetune" if len(methods) == 1 else f"finetune ({method})"
            for field_name, (a, b) in deviations(ours, theirs).items():
                out[f"{label}.{field_name}"] = (a, b)
        if self.kind == "imagenet":  # named whichever is chosen: the paper did both
            l1 = [method == "l1-norm" for method in methods]
            out["large_source"] = (self.large_source, "torchvision (Table 1 prunes its pretrained ResNet-34, 73.31%)"
                                   if all(l1) else "train" if not any(l1) else "torchvision for l1-norm, train for the others")
        return out


PAPER_DATASETS = ("cifar10", "cifar100", "imagenet")


def protocol(dataset: str, epochs: int = 0, finetune_epochs: int = 0, train_subset: int = 0,
             test_subset: int = 0, lr: float = 0.0, **changes) -> Protocol:
    """The paper's protocol for `dataset` (ImageNet: 90 epochs, the capped budget rule;
    anything else: CIFAR's), with notebook-friendly overrides: 0 keeps the paper's epochs
    (each method's fine-tuning epochs), the whole data and the large model's initial lr (the
    lottery experiments' 0.01 is a value of `lr`; scratch runs share the large model's recipe)."""
    base = Protocol.imagenet() if dataset == "imagenet" else Protocol(dataset)
    if lr:
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not 0 < lr <= 10:
            raise ValueError(f"lr is the large model's initial learning rate, a number in (0, 10]; got {lr!r}")
        changes["large"] = dataclasses.replace(changes.get("large", base.large), lr=float(lr))
    return dataclasses.replace(
        base,
        dataset=dataset,
        epochs=epochs or base.epochs,
        finetune_epochs=finetune_epochs,
        train_subset=train_subset or None,
        test_subset=test_subset or None,
        **changes,
    )


# --- strategies --------------------------------------------------------------------------

# How a strategy's weights start (the init name its runs are keyed by is `_init`):
STARTS = {
    "trained": "the parent's trained weights, pruned (fine-tuning)",
    "original": "the parent's original initialisation, pruned (a lottery ticket)",
    "fresh": "a fresh initialisation under the run's seed (training from scratch)",
    "rescaled": "a fresh initialisation, each masked conv re-drawn as N(0, sqrt(2 in_channels / kept weights))",
    "scratch": "the method's scratch initialisation: fresh, or rescaled for magnitude pruning (Method.scratch)",
}

# A schedule: (protocol, method name, base MACs, pruned MACs) -> the recipe before `factor`.
SCHEDULES: dict[str, Callable[[Protocol, str, float, float], Recipe]] = {
    "finetune": lambda p, method, base, pruned: p.finetune_recipe(method),
    "large": lambda p, method, base, pruned: p.large_for(method),
    "budget": lambda p, method, base, pruned: budget.scratch_b(base, pruned, p.large_for(method), p.rule, p.budget_cap),
}
NO_TRAINING = "none"  # the schedule of a strategy that only evaluates the weights it starts from


@dataclass(frozen=True)
class Strategy:
    """How a pruned architecture is trained: from which weights, on which schedule."""

    name: str  # the column in tables
    start: str  # one of STARTS
    schedule: str  # one of SCHEDULES ("budget" is Scratch-B: the large schedule stretched), or NO_TRAINING
    factor: int = 1  # multiplies the schedule's epochs (Table 16: fine-tune 80 = 2 x 40)

    def __post_init__(self) -> None:
        if self.start not in STARTS:
            raise ValueError(f"unknown start {self.start!r}; choose one of {', '.join(STARTS)}")
        if self.schedule not in SCHEDULES and self.schedule != NO_TRAINING:
            raise ValueError(f"unknown schedule {self.schedule!r}; choose one of {', '.join(SCHEDULES)} "
                             f"or {NO_TRAINING!r} (evaluate only)")
        if self.schedule == NO_TRAINING and self.start != "trained":
            raise ValueError(f"strategy {self.name}: only inherited trained weights are worth evaluating without "
                             f"training; start={self.start!r} needs a schedule")

    @property
    def trains(self) -> bool:
        """Whether the strategy trains (a run in the store); else it evaluates the pruned model as it is."""
        return self.schedule != NO_TRAINING

    @property
    def inherit(self) -> bool:
        """Whether the run starts from the parent run's weights (trained or original)."""
        return self.start in ("trained", "original")

    def recipe(self, protocol: Protocol, base_macs: float, pruned_macs: float, method: str = "l1-norm") -> Recipe:
        if not self.trains:
            raise ValueError(f"strategy {self.name} trains nothing, so it has no recipe")
        base = SCHEDULES[self.schedule](protocol, method, base_macs, pruned_macs)
        return dataclasses.replace(base, epochs=base.epochs * self.factor)


STRATEGIES = {
    s.name: s
    for s in (
        Strategy("fine-tune", start="trained", schedule="finetune"),
        Strategy("scratch-e", start="scratch", schedule="large"),
        Strategy("scratch-b", start="scratch", schedule="budget"),
        Strategy("fine-tune-restart", start="trained", schedule="large"),
        Strategy("winning-ticket", start="original", schedule="large"),
        Strategy("random-init", start="scratch", schedule="large"),
        Strategy("pruned", start="trained", schedule=NO_TRAINING),
    )
}
TABLE_1 = ("fine-tune", "scratch-e", "scratch-b")
LOTTERY = ("winning-ticket", "random-init")
APPENDIX_A = paper.APPENDIX_A  # Tables 10 and 11: SFP's own result (no fine-tuning), Scratch-E, Scratch-B


def fine_tune(paper_epochs: int, finetune_epochs: int = 40) -> Strategy:
    """Fine-tuning for `paper_epochs` (Table 16: 40, 80, 160), as a multiple of the protocol's
    fine-tuning epochs (paper: 40), so a shortened profile keeps the ratios."""
    if paper_epochs % finetune_epochs:
        raise ValueError(f"fine-tune epochs must be a multiple of {finetune_epochs}, got {paper_epochs}")
    return Strategy(f"fine-tune-{paper_epochs}", start="trained", schedule="finetune",
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


# --- targets -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """What to prune: a base model, a registered method and its spec (a paper config is one)."""

    name: str
    model: str
    spec: object
    method: str = "l1-norm"
    options: tuple = field(default=())  # model build options
    rounds: int = 1  # iterative pruning: round k prunes round k-1's trained winning ticket by `spec`

    def __post_init__(self) -> None:
        chosen = pruning.get(self.method)
        if not isinstance(self.spec, chosen.spec_type):
            raise ValueError(f"target {self.name}: {self.method} takes a {chosen.spec_type.__name__}, "
                             f"got {type(self.spec).__name__}")
        if isinstance(self.rounds, bool) or not isinstance(self.rounds, int) or self.rounds < 1:
            raise ValueError(f"target {self.name}: rounds is a positive number of pruning rounds, got {self.rounds!r}")
        if self.rounds > 1 and not getattr(self.spec, "remaining", False):
            raise ValueError(f"target {self.name}: iterative pruning ({self.rounds} rounds) prunes a fraction of what "
                             f"remains each round; give it a spec with remaining=True, e.g. MagnitudeSpec(0.2, remaining=True)")


def target(config) -> Target:
    """A paper config (`rk.paper.config(...)`), a Target, or a name of a paper config."""
    if isinstance(config, Target):
        return config
    if isinstance(config, str):
        config = paper.config(config)
    return Target(config.name, config.model, config.spec, config.method)


def uniform(model: str, ratio: float, method: str = "l1-norm", **options) -> Target:
    """A custom target: `method` at one `ratio` (L1-norm: every prunable layer keeps
    int(C * (1 - ratio)); Network Slimming: that fraction of all channels, globally; magnitude:
    that fraction of all conv weights). `options` are model build options (e.g. head="linear")."""
    suffix = "uniform" if method == "l1-norm" else method
    return Target(f"{model}-{suffix}-{ratio:g}", model, pruning.get(method).spec_for(ratio), method,
                  options=tuple(sorted(options.items())))


def with_uniform(chosen: Iterable) -> list[Target]:
    """The targets, each followed by its uniform twin at the same ratio (Section 5's baseline): the
    same fraction of every layer's channels for a structured method, of every conv's weights for
    a weight-level one (`Method.uniform`)."""
    out = []
    for t in (target(c) for c in chosen):
        ratio = getattr(t.spec, "ratio", None)
        if ratio is None:
            raise ValueError(f"target {t.name} has no single prune ratio, so it has no uniform twin")
        out += [t, uniform(t.model, ratio, pruning.get(t.method).uniform, **dict(t.options))]
    return out


def iterative(model: str, rounds: int, per_round: float = 0.2) -> list[Target]:
    """Frankle & Carbin's iterative magnitude pruning as the paper runs it (Section 6): round k
    prunes `per_round` of the conv weights still nonzero in round k-1's trained winning ticket
    (round 0: the large model), leaving (1 - per_round)^k. One target per round, sharing the chain:
    every round is a cached, resumable run."""
    spec = pruning.MagnitudeSpec(per_round, remaining=True)
    return [Target(f"{model}-iterative-{k}", model, spec, "magnitude", rounds=k) for k in range(1, rounds + 1)]


def one_shot(model: str, ratios: Iterable[float]) -> list[Target]:
    """Magnitude pruning of the large model at each ratio at once (Table 9's one-shot pruning)."""
    return [Target(f"{model}-p{round(100 * r)}", model, pruning.MagnitudeSpec(r), "magnitude") for r in ratios]


def sparse_structure(model: str, gammas: Iterable[float], **options) -> list[Target]:
    """Sparse Structure Selection (Huang & Wang 2018) of `model` at each sparsity penalty gamma: the
    large model trains a factor per residual block by APG, the blocks whose factor reaches 0 are
    removed, so the pruned depth is an output of training (the "sss" method; Table 5's own targets
    are the paper configs "resnet41-sss", ...). `options` are model build options."""
    if isinstance(gammas, (str, bytes)) or not isinstance(gammas, Iterable):
        raise ValueError(f"gammas is a list of sparsity penalties, e.g. [0.01]; got {gammas!r}")
    specs = [pruning.SSSSpec(gamma=gamma) for gamma in gammas]  # each gamma checked before it names a target
    return [Target(f"{model}-sss-{spec.gamma:g}", model, spec, "sss", options=tuple(sorted(options.items())))
            for spec in specs]


def with_spec(chosen: Iterable, **changes) -> list[Target]:
    """The targets with `changes` applied to the spec of every target whose spec has those
    fields (e.g. `s=3e-3`: Network Slimming's sparsity strength, a named deviation); others
    unchanged. Names stay, so the rows still meet the paper's; the run keys differ."""
    out = []
    for t in (target(c) for c in chosen):
        fields = {f.name for f in dataclasses.fields(t.spec)}
        out.append(dataclasses.replace(t, spec=dataclasses.replace(t.spec, **changes)) if set(changes) <= fields else t)
    return out


def targets(configs: Iterable, uniform_ratio: float = 0.0, method: str = "l1-norm") -> list[Target]:
    """The paper configs named in `configs`, plus (with `uniform_ratio` > 0) each of their base
    models pruned by `method` at that ratio -- the widgets' custom ratio."""
    chosen = [target(c) for c in configs]
    if uniform_ratio:
        chosen += [uniform(model, uniform_ratio, method) for model in dict.fromkeys(t.model for t in chosen)]
    return chosen


# --- the hand-off: parent run + pruned -> child run spec ----------------------------------


def large_spec(protocol: Protocol, model: str, options: tuple = (), hooks: tuple = (),
               recipe: Recipe | None = None) -> RunSpec:
    """The large model's run: the protocol's data and schedule (or `recipe`), the method's training hooks.
    With `protocol.large_source` "torchvision", the plain large run (no hooks, the protocol's
    recipe) is torchvision's published model instead (`pretrained_spec`). A hook that steps at the
    run's learning rate is given the run's recipe (`for_recipe`: SSS's APG), and one that trains
    parameters of its own adds the build options that create them (`model_options`: SSS's block
    factors), so a target's plainly trained twin (`plain_spec`, no hooks) is the plain model."""
    if protocol.large_source == "torchvision" and not hooks and recipe in (None, protocol.large_recipe):
        return pretrained_spec(protocol, model, options)  # the plainly trained large model, published
    cfg = protocol.base_cfg(model)
    recipe = recipe or protocol.large_recipe
    hooks = tuple(hook.for_recipe(recipe) if hasattr(hook, "for_recipe") else hook for hook in hooks)
    needed = [pair for hook in hooks for pair in getattr(hook, "model_options", ())]
    if needed:
        options = tuple(sorted({**dict(options), **dict(needed)}.items()))
    return RunSpec(dataset=protocol.dataset, model=model, cfg=tuple(cfg) if cfg else None,
                   recipe=recipe, options=options, hooks=hooks,
                   train_subset=protocol.train_subset, test_subset=protocol.test_subset)


def plain_spec(protocol: Protocol, t: Target) -> RunSpec:
    """Target `t`'s large model trained plainly: its method's large recipe, none of its hooks. The
    start of a method that continues a pretrained model, and the "unpruned" row of one that prunes
    while it trains (`large_chain`)."""
    return large_spec(protocol, t.model, t.options, recipe=protocol.large_for(t.method))


def parent_spec(protocol: Protocol, t: Target) -> RunSpec:
    """The large run `t` prunes: the method's hooks and large recipe; started from the plainly
    trained model (`plain_spec`, keyed by it) when the method continues a pretrained one."""
    method = pruning.get(t.method)
    recipe = protocol.large_for(t.method)
    continued = method.pretrained(t.spec, recipe)
    spec = large_spec(protocol, t.model, t.options, method.large_hooks(t.model, t.spec), recipe=continued or recipe)
    return dataclasses.replace(spec, init=_continuing(plain_spec(protocol, t))) if continued else spec


def _continuing(previous: RunSpec) -> str:
    """The init name of a run that starts from `previous`'s trained weights, unchanged."""
    return f"{previous.key()}|trained"


def large_chain(protocol: Protocol, t: Target) -> list[tuple[RunSpec, str]]:
    """The runs behind `t`'s large model, in training order, each with its row's strategy: the
    method's large run ("unpruned"), preceded by the plainly trained model when the method continues
    a pretrained one or prunes while training (`Method.soft`: then the plain model is the "unpruned"
    row, the large run the "soft-pruned" one; else the plain model is "pretrained")."""
    method, parent = pruning.get(t.method), parent_spec(protocol, t)
    if not (method.soft or parent.init.endswith("|trained")):  # trained from scratch, or published
        return [(parent, "unpruned")]
    return [(plain_spec(protocol, t), "unpruned" if method.soft else "pretrained"),
            (parent, "soft-pruned" if method.soft else "unpruned")]


def train_chain(chain: Sequence[tuple[RunSpec, str]], seed: int, store: Store, data, progress=None,
                announce: Callable[[RunSpec], None] | None = None) -> list[Run]:
    """Seed `seed`'s runs of a `large_chain`, trained or read from the store; a run that continues
    the one before it starts from that one's trained weights. `announce(spec)` is called before each."""
    done: list[Run] = []
    for spec, _ in chain:
        if announce is not None:
            announce(spec)
        previous = done[-1] if done and spec.init == _continuing(done[-1].spec) else None
        initial = (lambda run=previous: run.state_dict(data.device)) if previous is not None else None
        if spec.init.startswith(PRETRAINED):
            done.append(pretrained_run(spec, seed, store, data))
            continue
        done.append(store.get_or_run(spec, seed, initial=initial, data=data, progress=progress))
    return done


# --- the large model's source: trained here, or torchvision's published weights ------------

LARGE_SOURCES = ("train", "torchvision")
PRETRAINED = "torchvision:"  # the init of a large run whose weights are torchvision's published ones
PRETRAINED_RECORD = "pretrained.json"  # beside its model.pt: its evaluation; its presence marks the run done
# The registered models that are torchvision's architectures, with the ImageNet weights each loads: the
# V1 weights, trained by PyTorch's ImageNet example (90 epochs, batch 256, lr /10 every 30, the paper's
# recipe) at lr 0.1 (ResNets) and 0.01 (VGGs). The paper's Table 1 prunes torchvision's ResNet-34
# (73.31%); its ResNet-50 figure for Tables 2-3 (76.13%) is torchvision's too.
TORCHVISION_WEIGHTS = {
    "resnet34": ("ResNet34_Weights.IMAGENET1K_V1", 0.1),
    "resnet50-imagenet": ("ResNet50_Weights.IMAGENET1K_V1", 0.1),
    "vgg16-imagenet": ("VGG16_Weights.IMAGENET1K_V1", 0.01),
    "vgg16_bn-imagenet": ("VGG16_BN_Weights.IMAGENET1K_V1", 0.01),
}


def torchvision_state(weights: str) -> tuple[dict, dict]:
    """torchvision's published weights by enum name ("ResNet34_Weights.IMAGENET1K_V1"): the state
    dict (downloaded once, into torch's hub cache, on the user's machine) and what torchvision says
    of them: {"url", "published_top1"} (its ImageNet top-1, %)."""
    from torchvision.models import get_weight

    chosen = get_weight(weights)
    return (chosen.get_state_dict(progress=not quiet()),
            {"url": chosen.url, "published_top1": chosen.meta["_metrics"]["ImageNet-1K"]["acc@1"]})


def pretrained_spec(protocol: Protocol, model: str, options: tuple = ()) -> RunSpec:
    """The large run of `model` loaded from torchvision's published weights instead of trained: its
    init names the weights, its recipe is theirs (PyTorch's ImageNet example); its data subsets are
    the protocol's (its children train, and it is evaluated, on them)."""
    if model not in TORCHVISION_WEIGHTS:
        raise ValueError(f"torchvision publishes no ImageNet weights for {model}; large_source='torchvision' takes "
                         f"one of {', '.join(TORCHVISION_WEIGHTS)} (use large_source='train' for the others)")
    if options or protocol.width != 1:
        raise ValueError(f"torchvision's {model} weights are the unpruned model with its default build options; "
                         f"got options {dict(options)} and width {protocol.width} (use large_source='train')")
    weights, lr = TORCHVISION_WEIGHTS[model]
    return RunSpec(dataset=protocol.dataset, model=model, recipe=dataclasses.replace(IMAGENET, lr=lr),
                   init=PRETRAINED + weights, train_subset=protocol.train_subset, test_subset=protocol.test_subset)


class PretrainedRun(Run):
    """A large run whose weights were published, not trained here: its history is one row, the
    evaluation of the loaded weights (epoch 0; no training columns), with where they came from."""

    @cached_property
    def history(self) -> pd.DataFrame:
        return pd.DataFrame([json.loads((self.path / PRETRAINED_RECORD).read_text())])


def pretrained_run(spec: RunSpec, seed: int, store: Store, data) -> PretrainedRun:
    """The run of a `pretrained_spec`: torchvision's weights loaded into the registered model,
    evaluated on the spec's test images and stored (model.pt and a record of the evaluation: test
    top-1, the weights' name and url, torchvision's published top-1); read back when stored."""
    folder = store.run_dir(spec, seed)
    done = PretrainedRun(spec, seed, folder)
    record = folder / PRETRAINED_RECORD
    if record.exists() and (folder / "model.pt").exists():
        try:
            row = done.history.iloc[0]
            if row["key"] == spec.key() and int(row["seed"]) == seed:
                return done
        except Exception as error:  # noqa: BLE001 -- an unreadable record is redone
            warnings.warn(CorruptFile(f"the record {record} cannot be read ({type(error).__name__}); evaluating again"),
                          stacklevel=2)
    data = _data_for(spec, data, None, None)
    weights = spec.init.removeprefix(PRETRAINED)
    state, about = torchvision_state(weights)
    model = build_model(spec, num_classes=data.num_classes, in_channels=data.in_channels)
    ours = model.state_dict()
    wrong = sorted(set(ours) ^ set(state)) + [k for k in ours if k in state and ours[k].shape != state[k].shape]
    if wrong:
        raise ValueError(f"torchvision's {weights} do not fit {spec.model} for {data.name} ({data.num_classes} classes, "
                         f"{data.in_channels} input channels): {wrong[:4]} differ; its weights classify ImageNet's "
                         "1000 classes from RGB images")
    model.load_state_dict(state)
    model.to(data.device)
    began = time.perf_counter()
    result = evaluate(model, data, spec.recipe.eval_batch_size)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(folder / INIT_DIGEST, lambda f: f.write(state_digest(model.state_dict()).encode()))
    columns = {**_run_columns(spec, seed, flops.count(model, data.image_shape), data), **_provenance(folder, data)}
    row = {**columns, "epoch": 0, "lr": float("nan"), "train_loss": float("nan"), "train_top1": float("nan"),
           **result, "seconds": time.perf_counter() - began, "weights": weights, "weights_url": about["url"],
           "published_top1": about["published_top1"]}
    cpu = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    atomic_write(folder / "model.pt", lambda f: torch.save(cpu, f))
    atomic_write(record, lambda f: f.write(json.dumps(row, default=str).encode()))
    return PretrainedRun(spec, seed, folder)


def _origin(parent: RunSpec, t: Target) -> str:
    spec = json.dumps(_plain(t.spec, omit_defaults=True), sort_keys=True, separators=(",", ":"))
    return f"{parent.key()}|{t.method}|{spec}"


def start_of(s: Strategy, t: Target) -> str:
    """Where `s` starts for target `t`: its own start, with "scratch" resolved by the method."""
    return pruning.get(t.method).scratch(t.spec) if s.start == "scratch" else s.start


def _init(parent: RunSpec, t: Target, s: Strategy) -> str:
    """The init name a child run is keyed by (trained: exactly the pre-refactor form)."""
    return {
        "trained": _origin(parent, t),
        "original": f"{_origin(parent, t)}|original-init",
        "fresh": "scratch",
        "rescaled": "scratch|rescaled",
    }[start_of(s, t)]


def child_spec(parent: RunSpec, pruned: Pruned, t: Target, s: Strategy, protocol: Protocol,
               base_macs: float) -> RunSpec:
    """The one hand-off from pruning to training: the child run of `parent` pruned as
    `pruned`, trained by strategy `s`. The architecture is the pruned one, whole: its cfg
    and every option that differs from the family's default (e.g. channel selections);
    masks become a `WeightMasks` hook; Scratch-B's epochs come from `pruned.macs` (nonzero
    MACs when masked). The method's large-model hooks are not carried over: children train
    with the plain recipe, as the original code does."""
    defaults = models.option_defaults(pruned.arch["name"])
    options = {**dict(parent.options),
               **{k: v for k, v in pruned.options.items() if _plain(v) != _plain(defaults.get(k))}}
    # an option the pruned architecture no longer has goes back to its default (SSS folds its block factors away)
    options = {k: v for k, v in options.items() if _plain(pruned.options.get(k, defaults.get(k))) == _plain(v)}
    hooks = (WeightMasks(pruned.masks),) if pruned.masks else ()
    return dataclasses.replace(
        parent,
        cfg=tuple(pruned.cfg),
        options=options,
        recipe=s.recipe(protocol, base_macs, pruned.macs, t.method),
        hooks=hooks,
        init=_init(parent, t, s),
    )


def _start(start: str, pruned: Pruned, seed: int, large: Run | None, store: Store, data) -> Callable[[], dict] | None:
    """The starting weights of seed `seed`'s child run of `large` (None: the seed's fresh initialisation)."""
    if start == "trained":
        return lambda: pruned.model.state_dict()
    if start == "original":
        return lambda: _masked(surgery.extract(store.initial_model(large.spec, large.seed, data), pruned.kept),
                               pruned.masks)
    if start == "rescaled":
        return lambda: _rescaled(pruned, seed)
    return None


def _masked(model: torch.nn.Module, masks: dict | None) -> dict:
    """`model`'s state with each masked parameter multiplied by its mask (a lottery ticket's start)."""
    state = model.state_dict()
    for name, mask in (masks or {}).items():
        state[name] = state[name] * mask.to(state[name].device, state[name].dtype)
    return state


def _rescaled(pruned: Pruned, seed: int) -> dict:
    """A fresh initialisation of the child (seeded as a scratch run) whose masked convs are
    re-drawn for their kept weights, N(0, sqrt(2 in_channels / kept)), then masked: the
    original weight-level scratch scripts' rule (`pruning.magnitude.rescaled_init`)."""
    torch.manual_seed(seed)
    model = models.from_arch(pruned.arch)
    magnitude.rescaled_init(model, pruned.masks or {})
    return model.state_dict()


# --- pruning once per parent run ---------------------------------------------------------


def pruned_for(large: Run, t: Target, protocol: Protocol, store: Store, data, progress=None) -> Pruned:
    """`t`'s pruning of `large`: once (`pruned_of`), or for an iterative target round by round,
    each round pruning the previous round's trained winning ticket (a run in the store)."""
    pruned = pruned_of(large, t, data)
    parent = large.spec
    ticket = STRATEGIES["winning-ticket"]
    for _ in range(1, t.rounds):
        spec = child_spec(parent, pruned, t, ticket, protocol, large.macs)
        trained = store.get_or_run(spec, large.seed, initial=_start("original", pruned, large.seed, large, store, data),
                                   data=data, progress=progress)
        pruned = pruned_of(trained, t, data)
    return pruned


def designed(parent: RunSpec, t: Target, seed: int, data) -> tuple[Pruned, int]:
    """A target whose method reads no trained model (`Method.from_trained` False: Section 5's
    uniform and guided designs): its architecture for `seed`, designed on a fresh model of the
    parent spec with torch's generator seeded by `seed` (so random positions are the seed's),
    and the base model's MACs (Scratch-B's reference). Cheap, so not cached; nothing is trained."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_model(parent, num_classes=data.num_classes, in_channels=data.in_channels).to(data.device)
        base = flops.count(model, data.image_shape)
        torch.manual_seed(seed)
        return pruning.prune(t.method, model, t.spec, data=data), base.macs


def pruned_of(large: Run, t: Target, data) -> Pruned:
    """`large` (any trained run) pruned as `t.spec` asks, on the data's device: computed once,
    then read from beside the run (`<run>/pruned/<method>-<spec hash>.pt`). A cache file that
    cannot be read is moved aside and the pruning is redone."""
    spec = json.dumps(_plain(t.spec, omit_defaults=True), sort_keys=True, separators=(",", ":"))
    path = large.path / "pruned" / f"{t.method}-{hashlib.sha256(spec.encode()).hexdigest()[:12]}.pt"
    if path.exists():
        try:
            saved = torch.load(path, map_location=data.device, weights_only=True)
            model = models.from_arch(saved["arch"]).to(data.device)
            model.load_state_dict(saved["state"])
            kept = {int(k): v for k, v in saved["kept"].items()}
            return Pruned(arch=saved["arch"], kept=kept, model=model, method=t.method, spec=t.spec,
                          macs=saved["macs"], params=saved["params"], masks=saved["masks"] or None,
                          notes=tuple(saved["notes"]))
        except Exception as error:  # noqa: BLE001 -- any unreadable cache is recomputed
            moved = move_aside(path)
            warnings.warn(CorruptFile(f"the pruning cache {path} cannot be read ({type(error).__name__}); "
                                      f"moved to {moved.name}, pruning again"), stacklevel=2)
    # a data-driven method (ThiNet, regression pruning) samples the images the large model trained on
    result = pruning.prune(t.method, large.load_model(data.device), t.spec, data=_data_for(large.spec, data, None, None))
    saved = {"arch": result.arch, "kept": {str(k): v for k, v in result.kept.items()}, "masks": result.masks or {},
             "notes": list(result.notes), "macs": result.macs, "params": result.params,
             "state": {k: v.detach().cpu() for k, v in result.model.state_dict().items()}}
    atomic_write(path, lambda f: torch.save(saved, f))
    return result


# --- the protocol ------------------------------------------------------------------------


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
    however many targets share it, has strategy "unpruned"; a method that prunes while training
    adds its large run as "soft-pruned"; "pruned", a strategy that trains nothing, is the pruned
    model evaluated: epochs 0, lr NaN): dataset, model, config, method,
    strategy, seed, epochs, lr (the initial one), cfg, num_classes, params, macs, final_top1, best_top1, best_epoch,
    seconds, key, init, notes, sparsity (the zeroed fraction of the masked weights; NaN unmasked),
    series (Section 5's figures: "unpruned", "pruned", "uniform", "guided", "transferred guided"),
    stage_kept and kernel_kept (the architecture's per-stage patterns, `patterns_of`; None where
    they do not apply). Targets of a method that reads no trained model (uniform and guided
    designs) train no large model and have no "unpruned" row.

    data: the loaded `protocol.dataset` (its device is where training happens); else it is
    loaded by name from `data_root` onto `device`. progress: one line over all runs (done /
    trained / from the store, the current run, time so far) above each run's own bar."""
    store, data = _setup(protocol, store, data, data_root, device)
    chosen = [strategy(s) for s in strategies]
    seeds = config_seeds(seeds)  # checked before anything trains
    targets = [target(c) for c in targets]
    for t in targets:
        inheriting = [s.name for s in chosen if s.inherit]
        if not pruning.get(t.method).from_trained and inheriting:
            raise ValueError(f"target {t.name}: {t.method} designs an architecture without a trained model, so "
                             f"{', '.join(inheriting)} has no weights to inherit; train it with scratch-e or scratch-b")
        tuned = [s.name for s in chosen if s.schedule == "finetune"]
        if tuned and not (protocol.finetune or pruning.get(t.method).finetune):
            raise ValueError(f"target {t.name}: {t.method} has no fine-tuning recipe, so {', '.join(tuned)} cannot "
                             f"run; choose other strategies (e.g. {', '.join(APPENDIX_A)}) or give the protocol one")
    trained = [t for t in targets if pruning.get(t.method).from_trained]  # designed targets have no large model
    overall = _Overall(len({(spec.key(), s) for t in trained for spec, _ in large_chain(protocol, t) for s in seeds})
                       + len(targets) * len(seeds) * sum(s.trains for s in chosen), progress)
    rows, seen = [], set()
    stacking = together.wanted(data.device)  # several seeds of one run as one stacked model (CUDA, by default)
    try:
        for t in targets:
            parent = parent_spec(protocol, t)
            chain = large_chain(protocol, t) if pruning.get(t.method).from_trained else []
            by_seed = {seed: [] for seed in seeds}  # the rows, seed by seed as they are returned
            status = {}  # each run's store status before any of this target's runs trained
            if chain and stacking and chain[0][0].init == "scratch":
                status.update(((chain[0][0].key(), seed), store.status(chain[0][0], seed)) for seed in seeds)
                store.get_or_run_seeds(chain[0][0], seeds, data=data, progress=progress)
            prepared = {}
            for seed in seeds:
                large = None
                if chain:
                    def announce(spec, seed=seed, labels=dict((spec.key(), label) for spec, label in chain)):
                        if (spec.key(), seed) not in seen:
                            name = t.model if labels[spec.key()] == "unpruned" else t.name
                            overall.next(f"{name} {labels[spec.key()]} seed {seed}",
                                         status.get((spec.key(), seed)) or store.status(spec, seed))

                    larges = train_chain(chain, seed, store, data, progress, announce)
                    large = larges[-1]
                    pruned, base_macs = pruned_for(large, t, protocol, store, data, progress), large.macs
                    found = patterns_of(pruned, base_cfg(parent)) if chosen else {}
                    for done, (spec, label) in zip(larges, chain):
                        if (spec.key(), seed) not in seen:  # one row per large run, however many targets prune it
                            seen.add((spec.key(), seed))
                            by_seed[seed].append(_row(done, t, label) if label == "unpruned"
                                                 else _row(done, t, label, pruned, found))
                else:
                    pruned, base_macs = designed(parent, t, seed, data)
                    found = patterns_of(pruned, base_cfg(parent)) if chosen else {}
                prepared[seed] = (large, pruned, base_macs, found)
            for s in chosen:
                specs = {seed: child_spec(parent, pruned, t, s, protocol, base_macs)
                         for seed, (_, pruned, base_macs, _) in prepared.items()} if s.trains else {}
                if stacking:
                    status.update(((spec.key(), seed), store.status(spec, seed)) for seed, spec in specs.items())
                    _stacked(store, specs, lambda seed: _start(start_of(s, t), prepared[seed][1], seed,
                                                               prepared[seed][0], store, data), data, progress)
                for seed in seeds:
                    large, pruned, base_macs, found = prepared[seed]
                    if not s.trains:
                        by_seed[seed].append(_evaluated(large, pruned, t, s, data, found))
                        continue
                    spec = specs[seed]
                    overall.next(f"{t.name} {s.name} seed {seed}", status.get((spec.key(), seed)) or store.status(spec, seed))
                    done = store.get_or_run(spec, seed, initial=_start(start_of(s, t), pruned, seed, large, store, data),
                                            data=data, progress=progress)
                    by_seed[seed].append(_row(done, t, s.name, pruned, found))
            rows.extend(row for seed in seeds for row in by_seed[seed])
    finally:
        overall.close()
    return pd.DataFrame(rows)


def _stacked(store: Store, specs: dict, start: Callable[[int], Callable | None], data, progress) -> None:
    """The seeds whose child runs share one spec (a predefined target's are the same architecture
    and recipe for every seed) trained together (`Store.get_or_run_seeds`); `start(seed)` is a seed's
    `initial`. Seeds with a spec of their own (an automatic method's architecture) are left to `run`."""
    groups: dict[str, list[int]] = {}
    for seed, spec in specs.items():
        groups.setdefault(spec.key(), []).append(seed)
    for seeds in groups.values():
        spec = specs[seeds[0]]
        missing = [seed for seed in seeds if store.status(spec, seed) != "done"]
        if len(missing) > 1:
            store.get_or_run_seeds(spec, missing, initial={seed: start(seed) for seed in missing}, data=data,
                                   progress=progress)


def _setup(protocol: Protocol, store, data, data_root, device) -> tuple[Store, object]:
    store = store if isinstance(store, Store) else Store(store)
    if data is None:
        data = data_mod.load(protocol.dataset, root=data_root, device=device)
    return store, data


def base_cfg(parent: RunSpec) -> list:
    """The cfg of a parent spec's (unpruned) model."""
    return list(parent.cfg) if parent.cfg is not None else models.default_cfg(parent.model)


def patterns_of(pruned: Pruned, base: Sequence) -> dict:
    """The per-stage patterns of one pruned (or designed) architecture: "stage_kept", the kept
    fraction of prunable channels per stage (when its cfg differs from the `base` cfg), and
    "kernel_kept", the 3x3 keep maps per stage (when it is masked); None where they do not apply."""
    return {
        "stage_kept": design.channel_pattern(pruned.model, base) if list(pruned.cfg) != list(base) else None,
        "kernel_kept": design.kernel_pattern(pruned.model, pruned.masks) if pruned.masks else None,
    }


def architectures(protocol: Protocol, targets: Iterable, seeds: Sequence[int], *, data=None,
                  data_root: str | None = None, store: Store | str | None = None, device=None,
                  progress: bool | None = None) -> pd.DataFrame:
    """The architectures pruning finds, without training them (Appendix G): each target's large
    model of each seed trained (or read) through the store and pruned exactly as `run` does. One
    row per (target, seed): dataset, model, config, method, series, strategy ("pruned"), seed, cfg,
    base_cfg, params, macs, sparsity, stage_kept, kernel_kept (`patterns_of`), key (the large run pruned).
    `rk.report.stage_kept`, `kernel_kept` and `widths` read it like `run`'s rows."""
    store, data = _setup(protocol, store, data, data_root, device)
    rows = []
    for t in (target(c) for c in targets):
        if not pruning.get(t.method).from_trained:
            raise ValueError(f"target {t.name}: {t.method} designs architectures without pruning a trained model; "
                             f"`run` trains them")
        parent = parent_spec(protocol, t)
        for seed in config_seeds(seeds):
            large = train_chain(large_chain(protocol, t), seed, store, data, progress)[-1]
            pruned = pruned_for(large, t, protocol, store, data, progress)
            rows.append({"dataset": protocol.dataset, "model": t.model, "config": t.name, "method": t.method,
                         "series": pruning.get(t.method).series(t.spec, t.model, protocol.dataset),
                         "strategy": "pruned", "seed": seed, "cfg": list(pruned.cfg), "base_cfg": base_cfg(parent),
                         "params": pruned.params, "macs": pruned.macs, "sparsity": pruned.sparsity,
                         **patterns_of(pruned, base_cfg(parent)), "key": large.key})
    return pd.DataFrame(rows)


def pattern(protocol: Protocol, t, seeds: Sequence[int], *, store: Store | str | None = None, **kwargs) -> Pattern:
    """The average per-stage pattern of target `t`'s pruned architectures over `seeds` (Section 5's
    guided designs): kept channel fractions per stage for a structured method, 3x3 keep maps per
    stage for a weight-level one. Each seed's large model is trained and pruned through the store
    (`architectures`, so the runs are shared with `run`). The pattern names the runs it averages and
    is written to `<store>/patterns/<target>@<dataset>-<hash>.json`; `guided(pattern, model)` designs
    from it. `kwargs` are `run`'s (data, data_root, device, progress)."""
    t = target(t)
    store = store if isinstance(store, Store) else Store(store)
    rows = architectures(protocol, [t], seeds, store=store, **kwargs)
    kind = "kernels" if rows["kernel_kept"].notna().all() else "channels"
    values = rows["kernel_kept" if kind == "kernels" else "stage_kept"]
    if values.isna().any():
        raise ValueError(f"target {t.name} pruned nothing for some seed: there is no pattern to distil")
    result = Pattern(kind, design.average(list(values)), t.model, protocol.dataset, t.name, tuple(rows["key"]))
    text = result.to_json()
    path = store.root / "patterns" / f"{result.label}-{hashlib.sha256(text.encode()).hexdigest()[:12]}.json"
    if not path.exists():
        atomic_write(path, lambda f: f.write(text.encode()))
    return result


def guided(source: Pattern, model: str, **options) -> Target:
    """Guided pruning or sparsification (Section 5): `model` designed from a pattern of pruned
    architectures (`pattern(...)`), channels or 3x3 kernels as the pattern's kind; "transferred"
    when the pattern comes from another model or dataset. `options` are model build options."""
    return Target(f"{model}-guided[{source.label}]", model, pruning.GuidedSpec(source), design.GUIDED[source.kind],
                  options=tuple(sorted(options.items())))


def at_ratio(chosen: Sequence[Target], ratio: float) -> Target:
    """Of targets with one prune ratio each, the one whose ratio is nearest `ratio` (the first on a
    tie): e.g. the config a paper table was reported at (Table 7: Network Slimming at 60%)."""
    rated = [t for t in chosen if getattr(t.spec, "ratio", None) is not None]
    if not rated:
        raise ValueError("none of the targets has a single prune ratio")
    return min(rated, key=lambda t: abs(t.spec.ratio - ratio))


def run_table(protocol: Protocol, targets: Iterable, seeds: Sequence[int],
              strategies: Iterable[str | Strategy] = TABLE_1, **kwargs) -> pd.DataFrame:
    """`run` for a paper table whose targets mix pruned configs and architectures no trained model
    gives (`Method.from_trained` False: Tables 2 and 3's fixed targets, trained from scratch only as the
    paper did): those train the from-scratch strategies among `strategies`, the others all of them.
    One table; `kwargs` as `run`'s."""
    targets, strategies = [target(c) for c in targets], [strategy(s) for s in strategies]
    pruned = [t for t in targets if pruning.get(t.method).from_trained]
    fixed = [t for t in targets if not pruning.get(t.method).from_trained]
    scratch = [s for s in strategies if not s.inherit]
    frames = ([run(protocol, pruned, seeds, strategies, **kwargs)] if pruned else []) + (
        [run(protocol, fixed, seeds, scratch, **kwargs)] if fixed and scratch else [])
    if not frames:
        raise ValueError(f"nothing to run: {', '.join(t.name for t in fixed)} train from scratch only, and the "
                         f"strategies {[s.name for s in strategies]} all inherit weights" if fixed else "no targets given")
    return pd.concat(frames, ignore_index=True)


def run_lrs(protocol: Protocol, lrs: Sequence[float], targets: Iterable, seeds: Sequence[int],
            strategies: Iterable[str | Strategy] = LOTTERY, **kwargs) -> pd.DataFrame:
    """`run` once per initial learning rate (the large model's, which the scratch and ticket
    runs share; Section 6 compares 0.1 and 0.01); one table, its `lr` column telling them apart."""
    targets, strategies = list(targets), list(strategies)
    frames = [run(protocol.at_lr(lr), targets, seeds, strategies, **kwargs) for lr in lrs]
    return pd.concat(frames, ignore_index=True)


class _Overall:
    """One progress line over all runs of `run`: done / total, how many were trained and how
    many came from the store, the current run, the time so far (tqdm shows it)."""

    def __init__(self, total: int, progress: bool | None):
        self.bar = None
        if progress if progress is not None else not quiet():
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc="protocol", unit="run", position=0, leave=True)
        self.trained = self.stored = 0

    def next(self, what: str, status: str) -> None:
        """Run `what` starts (the one before it is done); `status` is its store status."""
        if self.bar is None:
            return
        if self.trained + self.stored:
            self.bar.update(1)
        self.stored += status == "done"
        self.trained += status != "done"
        self.bar.set_postfix_str(f"trained or resumed {self.trained}, from the store {self.stored}; now: {what}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.update(1 if self.trained + self.stored else 0)
            self.bar.close()


def _evaluated(large: Run, pruned: Pruned, t: Target, s: Strategy, data, found: dict | None = None) -> dict:
    """The row of a strategy that trains nothing ("pruned"): `large` pruned as `t` asks, with the
    weights it inherited, evaluated on the large run's test images (cheap, so not stored). epochs
    is 0 and lr NaN; key names the run the weights come from, init its pruning."""
    began = time.perf_counter()
    result = evaluate(pruned.model, _data_for(large.spec, data, None, None), large.spec.recipe.eval_batch_size)
    return {**_row(large, t, s.name, pruned, found), "epochs": 0, "lr": float("nan"), "cfg": list(pruned.cfg),
            "params": pruned.params, "macs": pruned.macs, "final_top1": result["test_top1"],
            "best_top1": result["test_top1"], "best_epoch": 0, "seconds": time.perf_counter() - began,
            "init": _origin(large.spec, t)}


def _row(run: Run, t: Target, strategy_name: str, pruned: Pruned | None = None, found: dict | None = None) -> dict:
    h = run.history
    best = h.loc[h["test_top1"].idxmax()]
    return {
        "dataset": run.spec.dataset,
        "model": t.model,
        "config": t.model if strategy_name == "unpruned" else t.name,
        "method": t.method,
        "strategy": strategy_name,
        "seed": run.seed,
        "epochs": run.spec.recipe.epochs,
        "lr": run.spec.recipe.lr,
        "cfg": list(run.spec.cfg) if run.spec.cfg is not None else models.default_cfg(run.spec.model),
        "num_classes": int(h["num_classes"].iloc[0]),
        "params": run.params,
        "macs": run.macs,
        "final_top1": run.final_top1,
        "best_top1": float(best["test_top1"]),
        "best_epoch": int(best["epoch"]),
        "seconds": float(h["seconds"].sum()),
        "key": run.key,
        "init": run.spec.init,
        "notes": "; ".join(pruned.notes) if pruned is not None else "",
        "sparsity": pruned.sparsity if pruned is not None else 0.0,
        "series": "unpruned" if pruned is None else pruning.get(t.method).series(t.spec, t.model, run.spec.dataset),
        "stage_kept": (found or {}).get("stage_kept"),  # per stage (patterns_of)
        "kernel_kept": (found or {}).get("kernel_kept"),
    }


def study(dataset: str, data_root: str = "", download: bool = False, device: str = "auto", epochs: int = 0,
          finetune_epochs: int = 0, train_subset: int = 0, test_subset: int = 0, **changes):
    """The setup the protocol notebooks share: the data (loaded onto `device`) and the paper's
    protocol for it with the notebook's overrides (0 = the paper's). Returns (data, protocol)."""
    data = data_mod.load(dataset, root=data_root or None, download=download, device=device)
    return data, protocol(data.name, epochs=epochs, finetune_epochs=finetune_epochs,
                          train_subset=train_subset, test_subset=test_subset, **changes)
