"""The one training loop of the kit, and `evaluate`.

Every experiment trains through `train()`: the large models, fine-tuning, Scratch-E/B,
and the methods that change training (Network Slimming's L1 on BN scales, fixed weight
masks, soft pruning) — those come in as hooks, never as a forked loop.

Speed without changing the math: the data lives on the training device and is shuffled
and augmented there (`rethinkkit.data`); loss and accuracy accumulate on the device and
are read once per epoch, so a step never waits for the host. Two more are opt-in, as they
pay off on some devices only (`rethinkkit bench --channels-last --compile` measures them):
`channels_last` memory format and `torch.compile`. They change the order of floating-point
sums, nothing else, so they are not part of a run's key: a run trained with them is the same
run, and resumes from (or into) a checkpoint written without them. `train(channels_last=...,
compile=...)` sets them for one call; $RETHINKKIT_CHANNELS_LAST=1 and $RETHINKKIT_COMPILE=1 set
them for every training of a process and of the notebooks it runs (`rethinkkit run`, whose
kernels inherit its environment). On the CPU, channels_last without compile rounds BatchNorm
less precisely (`ChannelsLastOnCPU` warns).
"""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import math
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from . import distributed
from .config import Recipe
from .files import CorruptFile, atomic_write, move_aside

QUIET_ENV = "RETHINKKIT_QUIET"  # set (to anything but "" / "0") by batch runs: no progress bars
# Recipe-neutral speed options (module doc), read only by `speed_options`: 1 = on, unset or 0 = off.
CHANNELS_LAST_ENV = "RETHINKKIT_CHANNELS_LAST"
COMPILE_ENV = "RETHINKKIT_COMPILE"
SPEED_ENVS = (CHANNELS_LAST_ENV, COMPILE_ENV)  # what a launcher forwards to its workers to keep them


class CompileFailed(UserWarning):
    """torch.compile could not compile the model; training went on without it (the same math)."""


class ChannelsLastOnCPU(UserWarning):
    """channels_last without compile on the CPU: PyTorch's CPU BatchNorm computes channels_last
    batch statistics in a less precise order (pytorch/pytorch#121651): in float32 one step's
    gradients came out about 1% off the ordinary layout's (ResNet-20 and VGG-11 on
    fashion-mnist-mini; 1e-16 in float64, tests/test_speed.py), where another thread count moves
    them by 1e-5. torch.compile generates its own BatchNorm code and does not have it."""


class TrainingDiverged(RuntimeError):
    """The loss stopped being finite or rose far above chance; the last good checkpoint is kept."""


# An epoch whose mean training loss exceeds this many times the loss of guessing uniformly,
# ln(classes), has diverged: even a model that learned nothing scores ln(classes), so no
# working run (fine-tuning at a large lr included) comes near it, while a blown-up one
# (lr 1e6 reached 5e17) is far beyond.
DIVERGED_FACTOR = 10.0


# --- hooks -----------------------------------------------------------------------------


class Hook:
    """Extra terms of a training method. Override what you need; all default to nothing.

    Hooks are frozen dataclasses so a run spec can name them (their fields are hashed
    into the run key); hooks holding tensors define `key_data()` instead.
    """

    def on_start(self, model: nn.Module) -> None:
        """Before the first step (also after a resume)."""

    def after_backward(self, model: nn.Module) -> None:
        """Gradients are computed, the optimizer has not stepped yet."""

    def after_step(self, model: nn.Module) -> None:
        """Right after each optimizer step."""

    def on_epoch_end(self, model: nn.Module, epoch: int) -> None:
        """After the last step of 0-based `epoch`, before evaluation and the checkpoint."""

    def state_dict(self) -> dict:
        """What the hook has learned while training (plain data and tensors); saved in every
        checkpoint so a resumed run continues exactly. Stateless hooks keep nothing."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Restore what `state_dict` returned (on resume, before `on_start`)."""


@dataclass(frozen=True)
class BNL1Penalty(Hook):
    """Network Slimming's sparsity term: add s * sign(gamma) to each BN2d scale's gradient
    (the subgradient of s * |gamma|), before every optimizer step (Liu et al. 2017)."""

    s: float = 1e-4  # 1e-4 for VGG-19; 1e-5 for PreResNet-164, DenseNet-40 (REFERENCE.md)
    bn1d: bool = False  # also the BatchNorm1d scales (the ImageNet VGG-11's classifier, as its original code)

    def after_backward(self, model: nn.Module) -> None:
        kinds = (nn.BatchNorm2d, nn.BatchNorm1d) if self.bn1d else nn.BatchNorm2d
        for m in model.modules():
            if isinstance(m, kinds) and m.weight is not None and m.weight.grad is not None:
                m.weight.grad.add_(torch.sign(m.weight.detach()), alpha=self.s)


@dataclass(frozen=True, eq=False)
class WeightMasks(Hook):
    """Fixed binary masks on named parameters: masked weights are zero at the start and stay
    zero after every step (unstructured pruning, lottery tickets)."""

    masks: dict = field(default_factory=dict)  # parameter name -> 0/1 tensor of its shape

    def key_data(self) -> dict:
        digest = hashlib.sha256()
        for name in sorted(self.masks):
            digest.update(name.encode())
            digest.update(self.masks[name].to("cpu", torch.uint8).numpy().tobytes())
        return {"masks_sha256": digest.hexdigest()[:16], "kept": int(sum(int(m.sum()) for m in self.masks.values()))}

    def _apply(self, model: nn.Module) -> None:
        params = dict(model.named_parameters())
        missing = sorted(set(self.masks) - set(params))
        if missing:
            raise KeyError(f"WeightMasks names parameters the model does not have: {missing[:5]}")
        with torch.no_grad():
            for name, mask in self.masks.items():
                params[name].mul_(mask.to(params[name].device, params[name].dtype))

    def on_start(self, model: nn.Module) -> None:
        self._apply(model)

    def after_step(self, model: nn.Module) -> None:
        self._apply(model)


# --- results ---------------------------------------------------------------------------


@dataclass
class TrainResult:
    """Per-epoch history (one dict per epoch) and run totals. Accuracies are percentages."""

    history: list[dict]
    seconds: float  # wall time spent training in this process (resumed runs: this part only)

    @property
    def final_top1(self) -> float:
        return self.history[-1]["test_top1"]

    @property
    def best_top1(self) -> float:
        return max(row["test_top1"] for row in self.history)

    @property
    def best_epoch(self) -> int:
        """1-based epoch of the best test accuracy (selecting it uses the test set: REFERENCE bug 3)."""
        return max(self.history, key=lambda row: row["test_top1"])["epoch"]


# --- the loop --------------------------------------------------------------------------


@torch.no_grad()
def evaluate(model: nn.Module, data, batch_size: int = 256, *, ranks: distributed.Group | None = None) -> dict:
    """Test loss and top-1 accuracy (%) of `model` on `data`'s test split, read once.

    ranks: under torchrun (`distributed.group()`), every rank evaluates its chunk of each test
    batch and the sums are added over the ranks; every rank must call it, with the same model.
    """
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), device=data.device)
    correct = torch.zeros((), device=data.device, dtype=torch.long)
    n = 0
    for x, y in data.test_batches(batch_size, **({} if ranks is None else {"shard": ranks.shard})):
        out = model(x)
        loss_sum += F.cross_entropy(out, y, reduction="sum")
        correct += (out.argmax(1) == y).sum()
        n += len(y)
    if ranks is not None:  # this rank's sums -> the whole test set's
        total = torch.tensor(n, device=data.device)
        distributed.all_sum(loss_sum, correct, total)
        n = total.item()
    model.train(was_training)
    return {"test_loss": loss_sum.item() / n, "test_top1": 100.0 * correct.item() / n}


def train(
    model: nn.Module,
    data,
    recipe: Recipe = Recipe(),
    *,
    seed: int = 0,
    hooks: Iterable[Hook] = (),
    checkpoint: str | os.PathLike | None = None,
    progress: bool | None = None,
    desc: str | None = None,
    channels_last: bool | None = None,
    compile: bool | None = None,
) -> TrainResult:
    """Train `model` on `data` with `recipe`; evaluate after every epoch.

    seed:       the data order and augmentation of epoch e depend only on (seed, e), so a
                resumed run sees the same batches as an uninterrupted one. Seed the model's
                initialisation before building it (`rethinkkit.runs` does).
    checkpoint: a file path. If it exists, training resumes from it (or, if it cannot be read,
                from the one before it: `load_checkpoint`); after every epoch the model,
                optimizer and history are written to it atomically.
    progress:   a tqdm bar over epochs; None = on unless $RETHINKKIT_QUIET is set.
    channels_last, compile: the recipe-neutral speed options (module doc; `speed_options`);
                None = from $RETHINKKIT_CHANNELS_LAST / $RETHINKKIT_COMPILE. The model is returned
                in the ordinary memory format, and checkpoints hold its plain state_dict.
    Under torchrun (torch.distributed initialised: `rethinkkit.distributed`), every rank calls
    this with the same arguments: the model trains in DistributedDataParallel, each rank on its
    chunk of every global batch of `recipe.batch_size`, evaluation is sharded and summed, and
    only rank 0 writes the checkpoint and shows progress.
    Raises TrainingDiverged when a loss is not finite or the training loss rises far above
    chance (`DIVERGED_FACTOR`); nothing of that epoch is saved.
    """
    if not isinstance(recipe, Recipe):
        raise TypeError(f"recipe must be a rethinkkit Recipe, got {type(recipe).__name__}")
    hooks = tuple(hooks)
    channels_last, compile = speed_options(channels_last, compile)
    ranks = distributed.group()  # None unless torchrun started this process
    model.to(data.device)
    if channels_last:  # before DDP, which fixes the gradients' layout when it wraps the model
        model.to(memory_format=torch.channels_last)
        if torch.device(data.device).type == "cpu" and not compile:
            warnings.warn(ChannelsLastOnCPU(
                "channels_last on the CPU without compile: PyTorch's CPU BatchNorm computes its batch statistics "
                "less precisely in this layout (float32 gradients about 1% off the ordinary layout's after one "
                "step). Use it on CUDA, or together with compile=True, or leave it off here."), stacklevel=2)
    optimizer = torch.optim.SGD(
        model.parameters(),
        lr=recipe.lr,
        momentum=recipe.momentum,
        weight_decay=recipe.weight_decay,
        nesterov=recipe.nesterov,
    )
    history: list[dict] = []
    start_epoch = 0
    path = Path(checkpoint) if checkpoint is not None else None
    state = None
    if path is not None:  # under torchrun rank 0 reads first (it moves an unreadable file aside), then the rest
        state = distributed.main_first(lambda: load_checkpoint(path, model, optimizer, data.device))
    if state is not None:
        history = state["history"]
        start_epoch = state["epoch"]
        torch.set_rng_state(state["cpu_rng"])
        for hook, hook_state in zip(hooks, state.get("hooks", [{}] * len(hooks))):
            hook.load_state_dict(hook_state)
    for hook in hooks:
        hook.on_start(model)
    distributed.check_same(start_epoch, "the epoch training resumes from")
    net = distributed.wrap(model)  # DistributedDataParallel(model) under torchrun, else model itself
    net = faster_forward(net, channels_last=channels_last, compile=compile)
    shard = {} if ranks is None else {"shard": ranks.shard}
    if ranks is not None and not ranks.main:
        progress = False

    n_train = len(data.train_labels)
    bar = _progress_bar(range(start_epoch, recipe.epochs), recipe.epochs, start_epoch, progress, desc)
    began = time.perf_counter()
    try:
        for epoch in bar:
            epoch_began = time.perf_counter()
            lr = recipe.lr_at(epoch)
            for group in optimizer.param_groups:
                group["lr"] = lr
            model.train()
            loss_sum = torch.zeros((), device=data.device)
            correct = torch.zeros((), device=data.device, dtype=torch.long)
            seen = 0  # images of this epoch's global batches so far
            for x, y in data.train_batches(recipe.batch_size, seed=seed, epoch=epoch, augment=recipe.augment, **shard):
                out = net(x)
                if ranks is None:
                    loss = F.cross_entropy(out, y)
                    summed = loss.detach() * len(y)
                else:  # DDP averages the gradients over the ranks, making this the global batch's mean loss
                    global_batch = min(recipe.batch_size, n_train - seen)
                    seen += global_batch
                    summed = F.cross_entropy(out, y, reduction="sum")
                    loss = summed * (ranks.size / global_batch)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                for hook in hooks:
                    hook.after_backward(model)
                optimizer.step()
                for hook in hooks:
                    hook.after_step(model)
                loss_sum += summed.detach()
                correct += (out.detach().argmax(1) == y).sum()
            distributed.all_sum(loss_sum, correct)  # this rank's sums -> the global batch's
            distributed.sync_buffers(model)  # rank 0's BN running statistics on every rank
            train_loss = loss_sum.item() / n_train  # the epoch's one host sync
            _check_loss(train_loss, None, data.num_classes, epoch, recipe, lr, history, path)
            for hook in hooks:
                hook.on_epoch_end(model, epoch)
            row = {
                "epoch": epoch + 1,
                "lr": lr,
                "train_loss": train_loss,
                "train_top1": 100.0 * correct.item() / n_train,
                **evaluate(model, data, recipe.eval_batch_size, ranks=ranks),
                "seconds": time.perf_counter() - epoch_began,
            }
            _check_loss(train_loss, row["test_loss"], data.num_classes, epoch, recipe, lr, history, path)
            history.append(row)
            if path is not None and distributed.is_main():  # one writer; every rank holds the same state
                save_checkpoint(
                    path,
                    {
                        "epoch": epoch + 1,
                        "model": model.state_dict(),
                        "optimizer": optimizer.state_dict(),
                        "history": history,
                        "cpu_rng": torch.get_rng_state(),
                        "hooks": [hook.state_dict() for hook in hooks],
                        "recipe": dataclasses.asdict(recipe),
                        "seed": seed,
                    },
                )
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(loss=f"{train_loss:.3f}", top1=f"{row['test_top1']:.2f}")
    finally:
        if hasattr(bar, "close"):
            bar.close()
        if channels_last:
            model.to(memory_format=torch.contiguous_format)
    return TrainResult(history=history, seconds=time.perf_counter() - began)


# --- recipe-neutral speed options (module doc) ----------------------------------------------


def _env_flag(name: str) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if value in ("", "0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    raise ValueError(f"${name} is {value!r}; set it to 1 (on) or 0 (off), or unset it")


def speed_options(channels_last: bool | None = None, compile: bool | None = None) -> tuple[bool, bool]:
    """(channels_last, compile) for a training: each as given, or when None from its
    environment variable ($RETHINKKIT_CHANNELS_LAST, $RETHINKKIT_COMPILE). The one place they
    are read, so a notebook, a batch and `rethinkkit train` all turn them on the same way."""
    chosen = []
    for value, name, env in ((channels_last, "channels_last", CHANNELS_LAST_ENV), (compile, "compile", COMPILE_ENV)):
        if value is None:
            value = _env_flag(env)
        elif not isinstance(value, bool):
            raise TypeError(f"{name} must be True, False or None (None: from ${env}), got {value!r}")
        chosen.append(value)
    return chosen[0], chosen[1]


class _Forward:
    """`net(x)` as training calls it with the speed options on: the batch converted to
    channels_last, and `net` compiled by torch.compile (default backend). Compiling happens on the
    first call; where it fails (on the CPU it needs a C++ compiler) the forward falls back to `net`
    itself with a CompileFailed warning, before any weight or BN statistic has changed."""

    def __init__(self, net: nn.Module, channels_last: bool, compile: bool):
        self.net, self.channels_last, self.compiled = net, channels_last, None
        if compile:
            # Compiled code is cached per model class, at most torch._dynamo.config.recompile_limit (8)
            # shapes of it per process, then silently run eagerly: a pipeline's many architectures (and
            # each one's last partial batch) would pass that. One training, one fresh cache; the compiled
            # kernels stay cached on disk, so compiling an architecture again is quick.
            torch.compiler.reset()
            try:
                self.compiled = torch.compile(net)
            except RuntimeError as error:  # e.g. a Python version torch.compile does not support yet
                self._fall_back(error)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        if self.compiled is not None:
            from torch._dynamo.exc import TorchDynamoException

            try:
                return self.compiled(x)
            except TorchDynamoException as error:  # compiling failed; nothing of this step has run
                self._fall_back(error)
        return self.net(x)

    def _fall_back(self, error: Exception) -> None:
        self.compiled = None
        reason = next((line for line in str(error).splitlines() if line.strip()), type(error).__name__)
        warnings.warn(CompileFailed(
            f"torch.compile could not compile the model ({type(error).__name__}: {reason[:300]}); training "
            f"continues without it (the same math, at eager speed). On the CPU torch.compile needs a working "
            f"C++ compiler (g++ or $CXX). To skip the attempt, pass compile=False or unset ${COMPILE_ENV}."
        ), stacklevel=3)


def faster_forward(net: nn.Module, *, channels_last: bool = False, compile: bool = False):
    """What training calls for `net(x)`: `net` itself with both options off, else a `_Forward`.
    The caller converts the model's own weights to channels_last (before wrapping it in DDP)."""
    if not (channels_last or compile):
        return net
    return _Forward(net, channels_last, compile)


def _check_loss(train_loss: float, test_loss: float | None, classes: int, epoch: int, recipe: Recipe,
                lr: float, history: list, path: Path | None) -> None:
    """Raise TrainingDiverged when a loss is not finite or the training loss is far above chance."""
    chance = math.log(classes)
    problems = []
    if not math.isfinite(train_loss):
        problems.append(f"the training loss became {train_loss}")
    elif train_loss > DIVERGED_FACTOR * chance:
        problems.append(f"the training loss reached {train_loss:.4g}, over {DIVERGED_FACTOR:g} x the loss of "
                        f"guessing ({chance:.3g} for {classes} classes)")
    if test_loss is not None and not math.isfinite(test_loss):
        problems.append(f"the test loss became {test_loss}")
    if not problems:
        return
    last_good = history[-1]["epoch"] if history else 0
    kept = (f"the last good checkpoint (epoch {last_good}) is kept at {path}" if path and last_good
            else "no epoch of it is kept")
    raise TrainingDiverged(
        f"training diverged in epoch {epoch + 1} of {recipe.epochs} at lr {lr:g}: {' and '.join(problems)}; "
        f"{kept} and the run is not stored as finished. Lower the learning rate (the paper's is "
        f"Recipe().lr = {Recipe.lr}) or check the data and the model."
    )


CHECKPOINT_KEYS = ("epoch", "model", "optimizer", "history", "cpu_rng")


def previous(path: Path) -> Path:
    """Where the checkpoint before the latest one is kept (the fallback when the latest is unreadable)."""
    return path.with_name(f"{path.stem}.prev{path.suffix}")


def state_digest(state: dict) -> str:
    """sha256 of a state_dict's names and tensor bytes: two models with equal digests hold
    bit-identical weights and buffers."""
    digest = hashlib.sha256()
    for name, value in state.items():
        digest.update(name.encode())
        digest.update(value.detach().to("cpu").contiguous().numpy().tobytes())
    return digest.hexdigest()


def save_checkpoint(path: Path, state: dict) -> None:
    """Write atomically, keeping the previous checkpoint beside it: a crash mid-write leaves
    the last one intact, and a checkpoint damaged later still has a predecessor."""
    path = Path(path)
    if path.exists():
        os.replace(path, previous(path))
    atomic_write(path, lambda f: torch.save(state, f))


def load_checkpoint(path: Path, model: nn.Module, optimizer, device) -> dict | None:
    """Load the latest readable checkpoint (`path`, else its predecessor) into `model` and
    `optimizer` and return it; None when there is none. A file that cannot be read is
    moved aside with a warning naming it, so it never blocks the run."""
    fresh = None
    for candidate in (path, previous(path)):
        if not candidate.exists():
            continue
        if fresh is None:  # a file that fails half-way must not leave its half in the model
            fresh = (copy.deepcopy(model.state_dict()), copy.deepcopy(optimizer.state_dict()))
        try:
            state = torch.load(candidate, map_location=device, weights_only=True)  # plain data only
            missing = [k for k in CHECKPOINT_KEYS if k not in state]
            if missing:
                raise ValueError(f"it lacks {missing}")
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            return state
        except Exception as error:  # noqa: BLE001 -- any unreadable file is handled the same way
            model.load_state_dict(fresh[0])
            optimizer.load_state_dict(fresh[1])
            moved = move_aside(candidate)
            warnings.warn(CorruptFile(
                f"the checkpoint {candidate} cannot be read ({type(error).__name__}: {str(error)[:200]}); "
                f"it was moved to {moved.name} and the run continues from "
                + ("the previous checkpoint" if candidate == path and previous(path).exists() else "scratch")
            ), stacklevel=2)
    return None


def quiet() -> bool:
    return os.environ.get(QUIET_ENV, "") not in ("", "0")


def _progress_bar(epochs, total, initial, progress, desc):
    if progress is None:
        progress = not quiet()
    if not progress:
        return epochs
    from tqdm.auto import tqdm

    return tqdm(epochs, total=total, initial=initial, desc=desc or "epochs", unit="epoch", leave=True)
