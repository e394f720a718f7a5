"""What a batch costs before it runs: the training runs each job needs that the store does not
hold yet, their training compute, and the time they take on this device.

    from rethinkkit import batch, costs
    jobs = batch.plan_batch("params/paper_all.yaml", "paper")
    plans = costs.plan(jobs, "runs/store")       # one JobPlan per job: the runs it needs, those stored
    print(costs.describe(jobs, "runs/store"))    # the table `rethinkkit run` prints first

Training compute is counted as the paper counts FLOPs (`rk.flops`: conv + linear multiply-
accumulates for one image), three times per training image (forward, and a backward twice the
forward's), for every image of every epoch (`training_macs`). Masked weights (unstructured
pruning, lottery tickets) cost what the device computes: the dense model's MACs. Epochs are the
pipeline's own (`rk.pipeline.child_spec`, Scratch-B from `rk.budget`).

How a notebook's runs are known without executing it (its data may not even be on this machine):
`NOTEBOOKS` maps each notebook to the pipeline calls its cells make, from its parameters, with the
pipeline's own target, strategy and protocol functions; `plan` turns each call into run specs with
the pipeline's spec-building functions (`large_chain`, `child_spec`, `designed`). Tests execute a
notebook and the pipeline and check the plan against the store they leave. Which runs are exact:

- large models, and the children of predefined targets (paper configs and uniform ratios of
  L1-norm, ThiNet, regression pruning and SFP; the architectures Section 5 designs): their store
  keys, MACs and epochs are exact (a uniform sparsification's random masks, part of its key, are
  drawn only where the store may hold the run or Scratch-B needs its nonzero MACs);
- the children of automatic targets (Network Slimming, magnitude pruning, SSS, guided designs)
  are known only after their large model trains: until then they are counted and *estimated* as
  the uniform architecture at their target ratio (its pruned fraction of every layer's channels,
  or of the conv weights), and planned exactly once the large model and its pruning are stored.

The time is the training compute over a rate measured on this device (`calibrate`, run by
`rethinkkit bench --calibrate`, stored as `<store>/calibration.json` by hardware); without a
calibration for this device the plan says how to get one instead of guessing.
"""
from __future__ import annotations

import ast
import contextlib
import dataclasses
import datetime
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import torch

from . import detection, flops, models, paper, pipeline, pruning
from .config import Recipe, RunSpec, _plain
from .config import seeds as config_seeds
from .files import atomic_write
from .batch import declared_parameters
from .pipeline import TABLE_1, Protocol, Target
from .provenance import hardware
from .pruning.l1_norm import L1Spec, Widths
from .report import architecture
from .runs import Run, Store, build_model

# What a plan needs of a dataset without loading it: training images per epoch, classes, image
# shape (C, H, W) as the kit's loaders give them (Fashion-MNIST padded to 32x32). A test checks the
# embedded one against the loaded data.
DATASETS = {
    "cifar10": (50_000, 10, (3, 32, 32)),
    "cifar100": (50_000, 100, (3, 32, 32)),
    "fashion-mnist": (60_000, 10, (1, 32, 32)),
    "fashion-mnist-mini": (3_000, 10, (1, 32, 32)),
    "imagenet": (1_281_167, 1000, (3, 224, 224)),
}
PASSES = 3  # a training step's MACs per forward MAC: the forward, and a backward costing twice as much
CALIBRATION = "calibration.json"  # in the store's root: {hardware: measured rate}
TICKET = pipeline.STRATEGIES["winning-ticket"]  # what an iterative target's earlier rounds train


def training_macs(forward_macs: float, images: int, epochs: int) -> float:
    """The MACs of training a model of `forward_macs` (per image) on `images` for `epochs`:
    forward_macs x 3 x images x epochs."""
    return float(forward_macs) * PASSES * images * epochs


@dataclass(frozen=True)
class DatasetShape:
    """A dataset as far as planning needs it (`DATASETS`); stands in for the loaded data where the
    pipeline's design functions read only its shape (`pipeline.designed`) and a device."""

    name: str
    num_train: int
    num_classes: int
    image_shape: tuple
    device: torch.device = torch.device("cpu")

    @property
    def in_channels(self) -> int:
        return self.image_shape[0]


def dataset_shape(name: str) -> DatasetShape:
    if name not in DATASETS:
        raise ValueError(f"the cost plan knows the sizes of {', '.join(DATASETS)}; {name!r} is not among them "
                         "(add it to rethinkkit.costs.DATASETS)")
    return DatasetShape(name, *DATASETS[name])


# --- what the notebooks ask the pipeline for ---------------------------------------------------


@dataclass(frozen=True)
class Guided:
    """A guided target (`pipeline.guided`) whose pattern is distilled from `target`'s pruned
    architectures under `protocol` over `seeds` (`pipeline.pattern`): known once those are stored."""

    protocol: Protocol
    target: Target
    seeds: tuple
    model: str

    @property
    def name(self) -> str:
        return f"{self.model}-guided[{self.target.name}@{self.protocol.dataset}]"


@dataclass(frozen=True)
class Request:
    """One call a notebook makes: `rk.pipeline.run` (targets, seeds, strategies), `run_table`
    (`table`: designed targets take only the from-scratch strategies), `architectures` or `pattern`
    (no strategies: the large models, pruned), or plain specs trained as they are (`rk.runs.get_or_run`)."""

    protocol: Protocol | None = None
    targets: tuple = ()
    seeds: tuple = ()
    strategies: tuple = ()
    table: bool = False
    specs: tuple = ()


def _protocol(p: dict, dataset: str = "", finetune: bool = True, **changes) -> Protocol:
    """The protocol `rk.pipeline.study` builds from a notebook's parameters (without loading data);
    `finetune` False where the notebook passes 0 fine-tuning epochs (it has no such parameter)."""
    return pipeline.protocol(dataset or p["dataset"], epochs=p["epochs"],
                             finetune_epochs=p["finetune_epochs"] if finetune else 0,
                             train_subset=p["train_subset"], test_subset=p["test_subset"], **changes)


def _quickstart(p: dict) -> list[Request]:
    shape = dataset_shape(p["dataset"])
    arch = architecture(p["model"], p["ratio"], num_classes=shape.num_classes, in_channels=shape.in_channels)
    spec = RunSpec(dataset=p["dataset"], model=arch["model"], cfg=arch["cfg"], recipe=Recipe(epochs=p["epochs"]))
    return [Request(seeds=tuple(p["seeds"]), specs=(spec,))]


def _l1_norm(p: dict) -> list[Request]:
    targets = pipeline.targets(p["configs"], uniform_ratio=p["uniform_ratio"])
    strategies = ("fine-tune", "scratch-e", "scratch-b", "fine-tune-restart")
    return [Request(_protocol(p), tuple(targets), tuple(p["seeds"]), strategies)]


def _introduction(p: dict) -> list[Request]:
    """01_introduction: Figure 1's uniform L1-norm target, Figure 2's predefined and automatic targets."""
    protocol = _protocol(p, width=p["width"])
    figure1 = pipeline.uniform(p["model"], p["ratio"])
    predefined = pipeline.uniform(p["model"], p["uniform_ratio"])
    automatic = pipeline.uniform(p["model"], p["uniform_ratio"], "network-slimming")
    if p["sparsity"]:
        automatic = pipeline.with_spec([automatic], s=p["sparsity"])[0]
    return [Request(protocol, (figure1,), tuple(p["seeds"]), ("pruned", "fine-tune", "scratch-e", "scratch-b")),
            Request(protocol, (predefined, automatic), tuple(p["seeds"]), tuple(p["figure2_strategies"]))]


def _detection_transfer(p: dict) -> list[Request]:
    """B_detection_transfer: its classification side (`rk.detection.targets` at the notebook's width).
    The detectors trained on those backbones are not in this plan: their cost is not a classifier's."""
    protocol = _protocol(p, width=p["width"])
    return [Request(protocol, tuple(detection.targets(p["configs"], protocol)), tuple(p["seeds"]),
                    ("fine-tune", "scratch-e", "scratch-b"))]


def _reconstruction(method: str, table: int) -> Callable[[dict], list[Request]]:
    """04_1_thinet (Table 2) and 04_1_regression (Table 3): the paper's ImageNet targets, else the base
    model pruned by the method at one ratio."""
    def requests(p: dict) -> list[Request]:
        paper_targets = [c.name for c in paper.configs("imagenet", method=None, table=table)]
        chosen = (pipeline.targets(p["configs"] or paper_targets) if p["dataset"] == "imagenet"
                  else [pipeline.uniform(p["model"], p["ratio"], method=method)])
        targets = pipeline.with_spec(chosen, images=p["images"]) if p["images"] else chosen
        protocol = _protocol(p, width=p["width"], lr=p["lr"])
        return [Request(protocol, tuple(targets), tuple(p["seeds"]), TABLE_1, table=True)]
    return requests


def _slimming(p: dict) -> list[Request]:
    targets = pipeline.with_spec(pipeline.targets(p["configs"], uniform_ratio=p["ratio"], method="network-slimming"),
                                 s=p["sparsity"] or None)
    return [Request(_protocol(p, width=p["width"]), tuple(targets), tuple(p["seeds"]), TABLE_1)]


def _sss(p: dict) -> list[Request]:
    protocol = _protocol(p, finetune=False, budget_cap=p["budget_cap"])
    table_5 = paper.configs(dataset=p["dataset"], method="sss-target", table=5)
    targets = pipeline.targets(table_5) if table_5 else pipeline.sparse_structure(p["model"], p["gammas"])
    strategies = ("scratch-e", "scratch-b") if table_5 else ("pruned", "scratch-e", "scratch-b")
    return [Request(protocol, tuple(targets), tuple(p["seeds"]), strategies)]


def _unstructured(p: dict) -> list[Request]:
    targets = pipeline.with_spec(pipeline.targets(p["configs"], uniform_ratio=p["ratio"], method="magnitude"),
                                 rescale=p["rescale"])
    protocol = _protocol(p, width=p["width"], budget_cap=p["budget_cap"])
    return [Request(protocol, tuple(targets), tuple(p["seeds"]), TABLE_1)]


def _architecture_search(p: dict) -> list[Request]:
    seeds, scratch = tuple(p["seeds"]), ("scratch-e",)
    protocol = _protocol(p, finetune=False, width=p["width"])
    moved = p["transfer_dataset"] not in ("", p["dataset"])
    transfer = _protocol(p, p["transfer_dataset"], finetune=False, width=p["width"]) if moved else protocol
    slimmed = [pipeline.uniform(p["channel_model"], r, "network-slimming", **p["channel_options"])
               for r in p["slimming_ratios"]]
    slimmed = pipeline.with_spec(slimmed, s=p["sparsity"]) if p["sparsity"] else slimmed
    uniform_channels = [pipeline.uniform(p["channel_model"], r, "uniform-channels", **p["channel_options"])
                        for r in p["uniform_ratios"]]
    magnitude = pipeline.one_shot(p["weight_model"], p["weight_ratios"])
    uniform_weights = [pipeline.uniform(p["weight_model"], r, "uniform-sparsity") for r in p["weight_ratios"]]
    t_slimmed = [pipeline.uniform(p["transfer_channel_model"], r, "network-slimming") for r in p["slimming_ratios"]]
    t_slimmed = pipeline.with_spec(t_slimmed, s=p["sparsity"]) if p["sparsity"] else t_slimmed
    t_magnitude = pipeline.one_shot(p["transfer_weight_model"], p["weight_ratios"])
    guided_channels = [Guided(pr, t, seeds, p["transfer_channel_model"])
                       for pr, t in [(transfer, t) for t in t_slimmed] + [(protocol, t) for t in slimmed]]
    guided_weights = [Guided(pr, t, seeds, p["transfer_weight_model"])
                      for pr, t in [(transfer, t) for t in t_magnitude] + [(protocol, t) for t in magnitude]]
    slimmed5 = [pipeline.uniform(p["figure5_slimming_model"], r, "network-slimming")
                for r in p["figure5_slimming_ratios"]]
    slimmed5 = pipeline.with_spec(slimmed5, s=p["sparsity"]) if p["sparsity"] else slimmed5
    sparse5 = [t for m in p["figure5_weight_models"] for t in pipeline.one_shot(m, p["figure5_weight_ratios"])]
    return [
        Request(protocol, tuple(slimmed + uniform_channels), seeds, scratch),
        Request(protocol, tuple(magnitude + uniform_weights), seeds, scratch),
        Request(protocol, tuple(slimmed + magnitude), seeds),  # the patterns: the same large models, pruned
        Request(transfer, tuple(t_slimmed + t_magnitude), seeds),
        Request(transfer, tuple(t_slimmed + [pipeline.uniform(p["transfer_channel_model"], r, "uniform-channels")
                                             for r in p["uniform_ratios"]] + guided_channels), seeds, scratch),
        Request(transfer, tuple(t_magnitude + [pipeline.uniform(p["transfer_weight_model"], r, "uniform-sparsity")
                                               for r in p["weight_ratios"]] + guided_weights), seeds, scratch),
        Request(protocol, tuple(pipeline.with_uniform(slimmed5)), seeds, scratch),
        Request(transfer, tuple(pipeline.with_uniform(sparse5)), seeds, scratch),
    ]


def _lottery(p: dict) -> list[Request]:
    protocol = _protocol(p, finetune=False, width=p["width"])
    one_shot = pipeline.one_shot(p["model"], p["ratios"])
    iterative = pipeline.iterative(p["model"], p["rounds"]) if p["rounds"] else []
    structured = pipeline.targets(p["l1_configs"])
    return [Request(protocol.at_lr(lr), tuple(targets), tuple(p["seeds"]), pipeline.LOTTERY)
            for targets in (one_shot, iterative, structured) for lr in p["lrs"]]


def _soft_filter(p: dict) -> list[Request]:
    fresh = pipeline.targets(p["configs"])
    pretrained = pipeline.with_spec(pipeline.targets(p["pretrained_configs"]),
                                    pretrained_lr_scale=p["pretrained_lr_scale"])
    return [Request(_protocol(p, finetune=False), tuple(fresh + pretrained), tuple(p["seeds"]), pipeline.APPENDIX_A)]


def _aggressive(p: dict) -> list[Request]:
    configs = p["slimming_configs"] + p["l1_configs"] + p["unstructured_configs"]
    targets = pipeline.with_spec(pipeline.targets(configs), s=p["sparsity"] or None)
    protocol = _protocol(p, width=p["width"], budget_cap=p["budget_cap"])
    return [Request(protocol, tuple(targets), tuple(p["seeds"]), TABLE_1)]


def _configs(*strategies: str) -> Callable[[dict], list[Request]]:
    """D_extended_finetuning and E_extended_schedule: paper configs under one list of strategies."""
    def requests(p: dict) -> list[Request]:
        return [Request(_protocol(p), tuple(pipeline.targets(p["configs"])), tuple(p["seeds"]), strategies)]
    return requests


def _weight_distributions(p: dict) -> list[Request]:
    targets = (pipeline.uniform("vgg16", p["slimming_ratio"], "network-slimming", head="linear"),
               pipeline.uniform("vgg16_bn", p["magnitude_ratio"], "magnitude"))
    return [Request(_protocol(p, width=p["width"]), targets, tuple(p["seeds"]), ("fine-tune", "scratch-e"))]


def _sparsity_patterns(p: dict) -> list[Request]:
    protocol = _protocol(p, finetune=False, width=p["width"])
    kernel_dataset = p["kernel_dataset"] or p["dataset"]
    kernel = (protocol if kernel_dataset == p["dataset"]
              else _protocol(p, kernel_dataset, finetune=False, width=p["width"]))
    whole = _protocol(p, kernel_dataset, finetune=False)  # DenseNet-40 has no width to narrow
    vgg = [pipeline.uniform("vgg16", r, "network-slimming", **p["vgg_options"]) for r in p["table21_ratios"]]
    resnet = [pipeline.uniform("preresnet164", r, "network-slimming") for r in p["table18_ratios"]]
    if p["sparsity"]:
        vgg, resnet = pipeline.with_spec(vgg, s=p["sparsity"]), pipeline.with_spec(resnet, s=p["sparsity"])
    seeds = tuple(p["seeds"])
    return [Request(protocol, tuple(vgg + resnet), seeds),
            Request(kernel, tuple(pipeline.one_shot("preresnet110", p["table19_ratios"])), seeds),
            Request(whole, tuple(pipeline.one_shot("densenet40", p["table20_ratios"])), seeds)]


# notebook stem -> its parameters (the notebook's defaults under the job's) -> the pipeline calls its
# cells make. Each function follows its notebook's cells; tests/test_costs.py checks that every
# notebook has one and executes notebooks to compare the plan with what they store.
NOTEBOOKS: dict[str, Callable[[dict], list[Request]]] = {
    "00_quickstart": _quickstart,
    "01_introduction": _introduction,
    "03_methodology": lambda p: [],  # explains the protocol and budgets; trains nothing
    "04_1_l1_norm": _l1_norm,
    "04_1_thinet": _reconstruction("thinet", 2),
    "04_1_regression": _reconstruction("regression", 3),
    "04_2_network_slimming": _slimming,
    "04_2_sparse_structure_selection": _sss,
    "04_3_unstructured": _unstructured,
    "05_architecture_search": _architecture_search,
    "06_lottery_ticket": _lottery,
    "07_discussion": _l1_norm,  # the cost side of Table 1's runs: the same calls as 04_1_l1_norm
    "A_soft_filter_pruning": _soft_filter,
    "B_detection_transfer": _detection_transfer,
    "C_aggressive_pruning": _aggressive,
    "D_extended_finetuning": _configs("fine-tune-40", "fine-tune-80", "fine-tune-160", "scratch-e"),
    "E_extended_schedule": _configs(*TABLE_1),
    "F_weight_distributions": _weight_distributions,
    "G_sparsity_patterns": _sparsity_patterns,
    "99_overview": lambda p: [],  # reads the store and the results pages; trains nothing
}


# --- the plan ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Planned:
    """One training run: what it is, who it is in the store, and what training it costs."""

    what: str  # e.g. "resnet56-a scratch-b seed 0"
    identity: str  # "<spec key>/seed<seed>" when the key is known; else a name for the run it stands for
    # (an estimated child; a weight-level design whose masks are not drawn: not in the store, see `designed_children`)
    macs: int  # forward MACs per image the device computes (masked weights included)
    images: int  # training images per epoch
    epochs: int
    exact: bool = True  # False: an automatic target's child, its architecture estimated
    stored: bool = False  # its result is in the store

    @property
    def training_macs(self) -> float:
        return training_macs(self.macs, self.images, self.epochs)


@dataclass
class JobPlan:
    """A job's runs: those it needs (not in the store, not needed by an earlier job of the plan) and
    how many it finds stored; `note` says why a job is not planned."""

    job: object
    needed: list = field(default_factory=list)
    stored: int = 0
    note: str = ""

    @property
    def training_macs(self) -> float:
        return sum(r.training_macs for r in self.needed)

    @property
    def estimated(self) -> int:
        return sum(not r.exact for r in self.needed)


class _NotCached(Exception):
    """A pruning that is not beside its large run yet."""


@dataclass(frozen=True)
class _CacheOnly:
    """A stored run as `pipeline.pruned_of` sees it, reading its pruning cache only: a missing cache
    raises instead of loading the model and pruning it."""

    path: Path

    def load_model(self, device=None):
        raise _NotCached


@contextlib.contextmanager
def _one_thread():
    """Planning builds and counts models one image at a time: extra threads only wait on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


class Planner:
    """Turns jobs into the runs they need, against one store. A run planned for an earlier job is
    not counted again, so a batch's total is what it trains. Models are built to count their MACs
    and to design architectures; every such result is cached for the plan."""

    def __init__(self, store: Store | str | Path | None = None):
        self.store = store if isinstance(store, Store) else Store(store)
        self.seen: set[str] = set()
        self._macs: dict = {}
        self._archs: dict = {}
        self._predefined: dict = {}
        self._designs: dict = {}
        self._uniform: dict = {}
        self._stored_specs: set | None = None

    # jobs and requests

    def job(self, job) -> JobPlan:
        """The plan of one `batch.Job` (its notebook's declared defaults under the job's parameters)."""
        result = JobPlan(job)
        stem = job.notebook.stem
        if stem not in NOTEBOOKS:
            result.note = "not planned: rethinkkit.costs.NOTEBOOKS does not say what this notebook trains"
            return result
        try:
            defaults = {name: _literal(text) for name, text in declared_parameters(job.notebook).items()}
            parameters = {**defaults, **job.parameters}
            with _one_thread():
                runs = [run for request in NOTEBOOKS[stem](parameters) for run in self.request(request)]
        except Exception as error:  # noqa: BLE001 -- the plan is advice: a job it cannot plan is named, not fatal
            result.note = f"cannot plan: {type(error).__name__}: {error}"
            return result
        for run in runs:
            if run.identity in self.seen:
                continue
            self.seen.add(run.identity)
            if run.stored:
                result.stored += 1
            else:
                result.needed.append(run)
        return result

    def request(self, request: Request) -> Iterator[Planned]:
        """Every run one pipeline call trains, in its order (a run two targets share comes twice)."""
        seeds = config_seeds(list(request.seeds))
        for spec in request.specs:
            for seed in seeds:
                yield self.exact(spec, seed, f"{spec.model} seed {seed}")
        chosen = [pipeline.strategy(s) for s in request.strategies]
        for t in request.targets:
            if isinstance(t, Guided):
                yield from self.guided(t, seeds, chosen)
                continue
            t = pipeline.target(t)
            strategies = chosen
            if request.table and not pruning.get(t.method).from_trained:
                strategies = [s for s in chosen if not s.inherit]  # run_table: fixed targets train from scratch only
            yield from self.target(request.protocol, t, seeds, strategies)

    def target(self, protocol: Protocol, t: Target, seeds: Sequence[int], strategies: Sequence) -> Iterator[Planned]:
        """The runs `pipeline.run` trains for target `t`: its large chain, an iterative target's earlier
        rounds, and a child per training strategy, for every seed."""
        method = pruning.get(t.method)
        parent = pipeline.parent_spec(protocol, t)
        training = [s for s in strategies if s.trains]  # "pruned" only evaluates
        if not method.from_trained:
            inheriting = [s.name for s in training if s.inherit]
            if inheriting:
                raise ValueError(f"target {t.name}: {t.method} designs an architecture without a trained model, so "
                                 f"{', '.join(inheriting)} has no weights to inherit")
            for seed in seeds:
                yield from self.designed_children(protocol, parent, t, seed, training)
            return
        chain = pipeline.large_chain(protocol, t)
        for seed in seeds:
            for spec, label in chain:
                if not spec.init.startswith(pipeline.PRETRAINED):  # published weights are loaded, not trained
                    yield self.exact(spec, seed, f"{t.model if label == 'unpruned' else t.name} {label} seed {seed}")
            if not training and t.rounds == 1:  # `architectures`, `pattern`: the large models, pruned
                continue
            large = self.store.get(parent, seed)
            base_macs = large.macs if large is not None else self.macs(parent)
            pruned = self.stored_pruning(large, t) or self.predefined(parent, t)
            for rounds in range(1, t.rounds):  # round k trains the winning ticket of round k's pruning
                if pruned is None:
                    yield self.estimated(protocol, parent, t, TICKET, seed, base_macs, rounds)
                    continue
                spec = self.child(parent, pruned, t, TICKET, protocol, base_macs)
                yield self.exact(spec, seed, f"{t.name} round {rounds} {TICKET.name} seed {seed}")
                pruned = self.stored_pruning(self.store.get(spec, seed), t)
            for s in training:
                if pruned is None:
                    yield self.estimated(protocol, parent, t, s, seed, base_macs, t.rounds)
                else:
                    spec = self.child(parent, pruned, t, s, protocol, base_macs)
                    yield self.exact(spec, seed, f"{t.name} {s.name} seed {seed}")

    def designed_children(self, protocol: Protocol, parent: RunSpec, t: Target, seed: int,
                          strategies: Sequence) -> Iterator[Planned]:
        """A designed target's runs (no large model). Its architecture is exact; a weight-level design
        draws its masks per seed (they are in its key), which is done only where it matters: when the
        store may hold the run, or Scratch-B's epochs need its nonzero MACs."""
        shape = dataset_shape(parent.dataset)
        if not _weight_level(t.method):
            pruned, base_macs = self.design(parent, t, None)  # no masks: the same architecture for every seed
        elif any(s.schedule == "budget" for s in strategies) or self.may_be_stored(protocol, parent, t, strategies):
            pruned, base_macs = self.design(parent, t, seed)
        else:
            base_macs = self.macs(parent)
            unmasked = pruning.Pruned(arch=self.arch(parent), kept={}, model=None, method=t.method, spec=t.spec,
                                      macs=base_macs)
            design = json.dumps(_plain(t.spec, omit_defaults=True), sort_keys=True)
            for s in strategies:  # the key but for its masks, which the design draws from the target's spec
                spec = self.child(parent, unmasked, t, s, protocol, base_macs)
                yield Planned(f"{t.name} {s.name} seed {seed}", f"{spec.key()}|{t.method}|{design}/seed{seed}",
                              self.macs(spec), _images(spec, shape), spec.recipe.epochs)
            return
        for s in strategies:
            spec = self.child(parent, pruned, t, s, protocol, base_macs)
            yield self.exact(spec, seed, f"{t.name} {s.name} seed {seed}")

    def guided(self, g: Guided, seeds: Sequence[int], strategies: Sequence) -> Iterator[Planned]:
        """A guided target's runs: planned exactly when its pattern's runs are stored; else estimated as
        the guided model's uniform architecture at the pattern target's ratio."""
        pattern = self.stored_pattern(g)
        if pattern is not None:
            yield from self.target(g.protocol, pipeline.guided(pattern, g.model), seeds, strategies)
            return
        stand_in = pipeline.uniform(g.model, _ratio(g.target), pruning.get(g.target.method).uniform)
        for run in self.target(g.protocol, stand_in, seeds, strategies):  # its pattern is not stored: nor is it
            yield dataclasses.replace(run, what=run.what.replace(stand_in.name, g.name, 1),
                                      identity=f"{g.name}|{run.identity}", exact=False, stored=False)

    # one run

    def child(self, parent: RunSpec, pruned: pruning.Pruned, t: Target, s, protocol: Protocol,
              base_macs: int) -> RunSpec:
        """`pipeline.child_spec`, its dense MACs noted when the pruning counted them (no masks)."""
        spec = pipeline.child_spec(parent, pruned, t, s, protocol, base_macs)
        if not pruned.masks:
            self._macs.setdefault(_arch_key(spec), pruned.macs)
        return spec

    def exact(self, spec: RunSpec, seed: int, what: str) -> Planned:
        shape = dataset_shape(spec.dataset)
        return Planned(what, f"{spec.key()}/seed{seed}", self.macs(spec), _images(spec, shape), spec.recipe.epochs,
                       stored=self.store.status(spec, seed) == "done")

    def estimated(self, protocol: Protocol, parent: RunSpec, t: Target, s, seed: int, base_macs: int,
                  rounds: int) -> Planned:
        """The child of an automatic target before its large model is pruned, costed as the uniform
        architecture at the target's ratio (after `rounds` rounds): a weight-level method keeps the
        parent's architecture (dense MACs) with that fraction of its MACs nonzero (Scratch-B's ratio);
        a structured one keeps that fraction of every layer's channels (`uniform-channels`)."""
        kept = (1 - _ratio(t)) ** (rounds if getattr(t.spec, "remaining", False) else 1)
        if _weight_level(t.method):
            macs, pruned_macs = base_macs, max(1, int(base_macs * kept))
        elif kept < 1:
            macs = pruned_macs = min(self.uniform_macs(parent, round(1 - kept, 12)), base_macs)
        else:
            macs = pruned_macs = base_macs
        recipe = s.recipe(protocol, base_macs, pruned_macs, t.method)
        spec = json.dumps(_plain(t.spec, omit_defaults=True), sort_keys=True)
        schedule = json.dumps(_plain(recipe, omit_defaults=True), sort_keys=True)
        identity = f"{parent.key()}|{t.method}|{spec}|round {rounds}|{s.start} {schedule}/seed{seed}"
        label = f"{t.name} round {rounds} {s.name}" if rounds < t.rounds else f"{t.name} {s.name}"
        return Planned(f"{label} seed {seed}", identity, macs, _images(parent, dataset_shape(parent.dataset)),
                       recipe.epochs, exact=False)

    # architectures and MACs, cached

    def macs(self, spec: RunSpec) -> int:
        """Forward MACs per image of the spec's model, dense (`rk.flops.count`)."""
        key = _arch_key(spec)
        if key not in self._macs:
            self._macs[key] = _layout(spec, lambda model, shape: flops.count(model, shape.image_shape).macs)
        return self._macs[key]

    def arch(self, spec: RunSpec) -> dict:
        """The spec's architecture (`model.arch`: cfg and options)."""
        key = _arch_key(spec)
        if key not in self._archs:
            self._archs[key] = _layout(spec, lambda model, shape: model.arch)
        return self._archs[key]

    def uniform_macs(self, parent: RunSpec, ratio: float) -> int:
        """The MACs of the parent's model with `ratio` of every layer's channels pruned: its widths by
        `models.uniform_cfg`; a model without prunable widths (DenseNet) by the `uniform-channels` design."""
        key = (_arch_key(parent), ratio)
        if key not in self._uniform:
            try:
                cfg = models.uniform_cfg(parent.model, min(ratio, models.MAX_RATIO), pipeline.base_cfg(parent))
                self._uniform[key] = self.macs(dataclasses.replace(parent, cfg=tuple(cfg)))
            except ValueError:
                stand_in = pipeline.uniform(parent.model, ratio, "uniform-channels")
                self._uniform[key] = self.design(parent, stand_in, None)[0].macs
        return self._uniform[key]

    def predefined(self, parent: RunSpec, t: Target) -> pruning.Pruned | None:
        """A predefined target's pruning, from a fresh model: its architecture does not depend on the
        trained weights (the target widths are the spec's; which filters go is not architecture). None
        for an automatic target, or where the kept channels are part of the architecture (selections)."""
        spec = t.spec
        if isinstance(spec, Widths):  # L1-norm, ThiNet, regression: the same target, whatever the criterion
            method, spec = "l1-norm", L1Spec(skip=spec.skip, ratios=spec.ratios, cfg=spec.cfg, ratio=spec.ratio)
        elif isinstance(spec, pruning.SFPSpec):
            method = "sfp"
        else:
            return None
        key = (_arch_key(parent), method, json.dumps(_plain(spec), sort_keys=True))
        if key not in self._predefined:
            shape = dataset_shape(parent.dataset)
            with torch.random.fork_rng(devices=[]):  # the caller's random stream is left as it was
                model = build_model(parent, num_classes=shape.num_classes, in_channels=shape.in_channels)
            pruned = pruning.prune(method, model, spec, input_shape=shape.image_shape)
            self._predefined[key] = None if "select" in pruned.options or pruned.masks else pruned
        return self._predefined[key]

    def design(self, parent: RunSpec, t: Target, seed: int | None) -> tuple[pruning.Pruned, int]:
        """`pipeline.designed` for `seed` (None: a design without masks, the same for every seed)."""
        key = (_arch_key(parent), t, seed)  # the design reads the parent's architecture alone
        if key not in self._designs:
            self._designs[key] = pipeline.designed(parent, t, seed or 0, dataset_shape(parent.dataset))
        return self._designs[key]

    def stored_pruning(self, run: Run | None, t: Target) -> pruning.Pruned | None:
        """`t`'s pruning of a stored run when the pipeline has cached it beside the run; else None."""
        if run is None:
            return None
        try:
            return pipeline.pruned_of(_CacheOnly(run.path), t, dataset_shape(run.spec.dataset))
        except _NotCached:
            return None

    def stored_pattern(self, g: Guided) -> pruning.Pattern | None:
        """The pattern `pipeline.pattern` distils for `g`, when every run and pruning it reads is stored."""
        chain = pipeline.large_chain(g.protocol, g.target)
        for seed in config_seeds(list(g.seeds)):
            if any(self.store.status(spec, seed) != "done" for spec, _ in chain):
                return None
            if self.stored_pruning(self.store.get(chain[-1][0], seed), g.target) is None:
                return None
        return pipeline.pattern(g.protocol, g.target, list(g.seeds), store=self.store,
                                data=dataset_shape(g.protocol.dataset), progress=False)

    def may_be_stored(self, protocol: Protocol, parent: RunSpec, t: Target, strategies: Sequence) -> bool:
        """Whether the store holds a run that is one of `t`'s children but for its masks."""
        if self._stored_specs is None:
            self._stored_specs = set()
            for path in self.store.root.glob("*/spec.json"):
                with contextlib.suppress(OSError, ValueError):
                    self._stored_specs.add(_unmasked(json.loads(path.read_text())))
        base_macs = self.macs(parent)
        unmasked = pruning.Pruned(arch=self.arch(parent), kept={}, model=None, method=t.method, spec=t.spec,
                                  macs=base_macs)
        return any(_unmasked(self.child(parent, unmasked, t, s, protocol, base_macs).to_dict())
                   in self._stored_specs for s in strategies)


def _arch_key(spec: RunSpec) -> tuple:
    """What of a spec makes its model: the plan caches counts and designs by it."""
    return spec.dataset, spec.model, spec.cfg, spec.options, spec.num_classes, spec.in_channels


def _layout(spec: RunSpec, read: Callable):
    """`read(model, dataset shape)` of the spec's model, freshly built: an ImageNet-sized one on torch's meta
    device (no memory, no initialisation: VGG-16 holds 138M weights), where it can be built there; a
    CIFAR-sized one on the CPU, where its initialisation is faster than the meta device's."""
    shape = dataset_shape(spec.dataset)
    if shape.image_shape[-1] >= 224:
        with contextlib.suppress(NotImplementedError, RuntimeError):  # channel selections need data to build
            with torch.device("meta"):
                return read(build_model(spec, num_classes=shape.num_classes, in_channels=shape.in_channels), shape)
    return read(build_model(spec, num_classes=shape.num_classes, in_channels=shape.in_channels), shape)


def _literal(text: str):
    """A parameters-cell default as papermill reads it (its source text) -> its value."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _unmasked(spec: dict) -> str:
    """A spec's plain data without its hooks and key, as text: what a masked run shares with its twins."""
    return json.dumps({k: v for k, v in spec.items() if k not in ("hooks", "key")}, sort_keys=True, default=str)


def _weight_level(method: str) -> bool:
    """Whether `method` masks weights (its uniform twin sparsifies) rather than removing channels."""
    return pruning.get(method).uniform == "uniform-sparsity"


def _ratio(t: Target) -> float:
    """A target's pruned fraction (per round for an iterative one); 0 where it has none (SSS: the
    depth is an output of training, so its children are costed at the large model's size)."""
    ratio = getattr(t.spec, "ratio", None)
    return float(ratio) if ratio is not None else 0.0


def _images(spec: RunSpec, shape: DatasetShape) -> int:
    return spec.train_subset or shape.num_train


def plan(jobs: Iterable, store: Store | str | Path | None = None) -> list[JobPlan]:
    """Every job's plan, in order, against one store (a run two jobs share counts at the first)."""
    planner = Planner(store)
    return [planner.job(job) for job in jobs]


# --- calibration: this device's training rate -------------------------------------------------


def calibrate(model_names: Sequence[str] = ("resnet20", "resnet56", "vgg16"), steps: int = 20, device=None) -> dict:
    """This device's training rate, measured: each model trains two short epochs of `steps` batches
    of 64 CIFAR-shaped images with the kit's loop (`bench.kit_rate`), the second one timed. The rate
    is the models' training MACs (`training_macs`) over their seconds together."""
    from . import bench
    from .data import resolve_device

    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps is the number of timed batches per model, a positive integer; got {steps!r}")
    device = resolve_device(device)
    images, labels = bench._images(steps * Recipe().batch_size)
    per_model, total_macs, total_seconds = {}, 0.0, 0.0
    for name in model_names:
        torch.manual_seed(0)
        model = models.build(name)
        forward = flops.count(model, (3, 32, 32)).macs
        rate = bench.kit_rate(model, images, labels, device, Recipe())
        per_model[name] = {"forward_macs": forward, "images_per_second": rate,
                           "macs_per_second": training_macs(forward, 1, 1) * rate}
        total_macs += training_macs(forward, len(labels), 1)
        total_seconds += len(labels) / rate
    return {"hardware": hardware(device), "device": str(device), "macs_per_second": total_macs / total_seconds,
            "models": per_model, "steps": steps, "batch_size": Recipe().batch_size, "torch": torch.__version__,
            "measured_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


def calibration_path(store: Store | str | Path | None = None) -> Path:
    return (store if isinstance(store, Store) else Store(store)).root / CALIBRATION


def write_calibration(entry: dict, store: Store | str | Path | None = None) -> Path:
    """Add (or replace) `entry` under its hardware in the store's calibration file, atomically."""
    path = calibration_path(store)
    known = _read_calibrations(path)
    known[entry["hardware"]] = entry
    text = json.dumps(known, indent=1, sort_keys=True)
    atomic_write(path, lambda f: f.write(text.encode()))
    return path


def read_calibration(store: Store | str | Path | None = None, device=None) -> dict | None:
    """The calibration measured on this device's hardware (`provenance.hardware`), or None."""
    from .data import resolve_device

    return _read_calibrations(calibration_path(store)).get(hardware(resolve_device(device)))


def _read_calibrations(path: Path) -> dict:
    if not path.exists():
        return {}
    try:
        known = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ValueError(f"the calibration file {path} cannot be read ({error}); delete it and run "
                         "`rethinkkit bench --calibrate` again") from None
    if not isinstance(known, dict):
        raise ValueError(f"the calibration file {path} is not a mapping of hardware to rates; delete it and run "
                         "`rethinkkit bench --calibrate` again")
    return known


# --- the table `rethinkkit run` prints ---------------------------------------------------------


def _pmacs(value: float) -> str:
    return f"{value / 1e15:,.1f}" if value >= 1e14 else f"{value / 1e15:.3g}"  # 7.6, 7,255.0; a smoke job: 0.000123


def rate_text(macs_per_second: float) -> str:
    """A training rate in readable units: "312 TMAC/s", "2.5 GMAC/s"."""
    for unit, scale in (("PMAC/s", 1e15), ("TMAC/s", 1e12), ("GMAC/s", 1e9)):
        if macs_per_second >= scale:
            return f"{macs_per_second / scale:.3g} {unit}"
    return f"{macs_per_second / 1e6:.3g} MMAC/s"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 3600:,.0f} h ({seconds / 86400:,.1f} days)"


def describe(jobs: Sequence, store: Store | str | Path | None = None, device=None) -> str:
    """The cost plan as text: a row per job (runs needed, how many of them estimated, runs found in
    the store, training PMACs, time at this device's calibrated rate) and a TOTAL row, with what the
    numbers mean and how to calibrate when this device has no calibration."""
    from .data import resolve_device

    store = store if isinstance(store, Store) else Store(store)
    device = resolve_device(device)
    where = hardware(device)
    try:
        calibration, unreadable = read_calibration(store, device), ""
    except ValueError as error:  # a damaged file costs the time column, not the run
        calibration, unreadable = None, str(error)
    rate = calibration["macs_per_second"] if calibration else None
    plans = plan(jobs, store)
    labels = [getattr(p.job.output, "stem", str(p.job)) for p in plans]
    width = max([len("TOTAL"), len("job"), *map(len, labels)])
    header = f"{'job':<{width}}  {'runs needed':>11}  {'estimated':>9}  {'in store':>8}  {'training PMACs':>14}"
    lines = [f"cost plan against the store {store.root}: training runs not in it yet, and their compute "
             f"(forward MACs x {PASSES} x training images x epochs)",
             header + ("  est. time" if rate else "")]
    for label, p in zip(labels, plans):
        if p.note:
            lines.append(f"{label:<{width}}  {p.note}")
            continue
        row = f"{label:<{width}}  {len(p.needed):>11}  {p.estimated:>9}  {p.stored:>8}  {_pmacs(p.training_macs):>14}"
        lines.append(row + (f"  {_duration(p.training_macs / rate)}" if rate else ""))
    needed = sum(len(p.needed) for p in plans)
    total = sum(p.training_macs for p in plans)
    row = (f"{'TOTAL':<{width}}  {needed:>11}  {sum(p.estimated for p in plans):>9}  "
           f"{sum(p.stored for p in plans):>8}  {_pmacs(total):>14}")
    lines.append(row + (f"  {_duration(total / rate)}" if rate else ""))
    unplanned = [label for label, p in zip(labels, plans) if p.note]
    if unplanned:
        lines.append(f"the TOTAL leaves out {len(unplanned)} job(s) that could not be planned: {', '.join(unplanned)}")
    if any(p.estimated for p in plans):
        lines.append("estimated: runs of automatic targets (Network Slimming, magnitude pruning, SSS, guided designs), "
                     "whose architecture comes from their trained large model, are costed as the uniform "
                     "architecture at their target ratio; they are planned exactly once their large models are stored")
    lines.append("a run that several jobs need is counted at the first, an interrupted one in full; "
                 "masked weights count as computed")
    if rate:
        lines.append(f"est. time at {rate_text(rate)}, calibrated {calibration.get('measured_at', '')} on "
                     f"{where} ({calibration_path(store)})")
    elif unreadable:
        lines.append(f"no time estimate: {unreadable}")
    else:
        lines.append(f"no time estimate: {calibration_path(store)} has no calibration for this device ({where}); "
                     f"measure one with `rethinkkit bench --calibrate --store {store.root}` (a short timed training)")
    return "\n".join(lines)
