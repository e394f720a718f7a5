"""The run store: every training run is named by its spec and seed, trained once, resumable.

Layout under the store root (default: `runs/store` of the project, or $RETHINKKIT_STORE):

    <spec key>/spec.json                      the spec as plain data (for people and reports)
    <spec key>/seed<seed>/checkpoint.pt       written atomically after every epoch while running
                          checkpoint.prev.pt  the one before it (the fallback if the latest is damaged)
    <spec key>/seed<seed>/model.pt            final weights (state_dict), once finished
    <spec key>/seed<seed>/result.parquet      one row per epoch with the run's columns; its
                                              presence marks the run finished
    <spec key>/seed<seed>/result.sha256       the result file's checksum (an edited or truncated
                                              result is detected, moved aside and the run redone)
    <spec key>/seed<seed>/init.sha256         the digest of the starting weights (`initial_model`
                                              rebuilds a scratch run's and checks it bit for bit)
    <spec key>/seed<seed>/pruned/             a pruning of this run, computed once (rk.pipeline)

Every result row also records where it came from: the kit's version and commit, torch, the
hardware (PROVENANCE_COLUMNS).

`get_or_run(spec, seed)` returns a finished run without training, resumes an interrupted
one from its last checkpoint, or starts it. A file lock keeps two processes (two notebooks,
two batch workers) from training the same run at once. A run that fails before its first
checkpoint (a diverged loss, Ctrl-C, a bad input) leaves nothing behind; a file that cannot
be read is moved aside (`<name>.corrupt-<time>`) with a warning, never silently used.

Under torchrun (`rethinkkit.distributed`) every rank calls `get_or_run` alike: rank 0 alone
takes the lock, decides (done, resume, new) and writes every file; the other ranks train
beside it, act on its decision and only read.
"""
from __future__ import annotations

import copy

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import time
import warnings
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Callable, Mapping, Sequence

import pandas as pd
import torch
from torch import nn

from . import data as data_mod
from . import distributed, flops, models
from .config import ConfigError, RunSpec
from .paths import project_root
from .files import CorruptFile, atomic_write, move_aside
from .provenance import hardware, source
from .train import previous, state_digest, train

STORE_ENV = "RETHINKKIT_STORE"
RESULT = "result.parquet"
CHECKSUM = "result.sha256"
CHECKPOINT = "checkpoint.pt"
INIT_DIGEST = "init.sha256"  # sha256 of the starting weights, written when a run starts


class CorruptResult(ValueError):
    """A result file that cannot be read, fails its checksum, or does not match its run."""


def default_root() -> Path:
    """$RETHINKKIT_STORE; else `runs/store` of the rethinkkit checkout (so notebooks opened
    by hand and batch runs share one store); else ~/.cache/rethinkkit/store."""
    if os.environ.get(STORE_ENV):
        return Path(os.environ[STORE_ENV]).expanduser()
    root = project_root()
    return root / "runs" / "store" if root else Path.home() / ".cache" / "rethinkkit" / "store"


@dataclass
class Run:
    """A finished run: its spec, seed, where it lives, and its per-epoch results."""

    spec: RunSpec
    seed: int
    path: Path

    @property
    def key(self) -> str:
        return f"{self.spec.key()}/seed{self.seed}"

    @cached_property
    def history(self) -> pd.DataFrame:
        return read_result(self.path / RESULT, self.spec, self.seed)

    @property
    def final_top1(self) -> float:
        return float(self.history["test_top1"].iloc[-1])

    @property
    def best_top1(self) -> float:
        return float(self.history["test_top1"].max())

    @property
    def params(self) -> int:
        return int(self.history["params"].iloc[0])

    @property
    def macs(self) -> int:
        return int(self.history["macs"].iloc[0])

    def state_dict(self, device="cpu") -> dict:
        return torch.load(self.path / "model.pt", map_location=device, weights_only=True)

    def load_model(self, device="cpu") -> nn.Module:
        """The trained model (its architecture rebuilt from the spec)."""
        first = self.history.iloc[0]
        model = build_model(self.spec, num_classes=int(first["num_classes"]), in_channels=int(first["in_channels"]))
        model.load_state_dict(self.state_dict(device))
        return model.to(device)


class Store:
    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root).expanduser() if root is not None else default_root()

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r})"

    def run_dir(self, spec: RunSpec, seed: int) -> Path:
        return self.root / spec.key() / f"seed{seed}"

    def status(self, spec: RunSpec, seed: int) -> str:
        """'done', 'partial' (a checkpoint to resume from) or 'new'. A result file that fails
        its checks is moved aside here (with a warning), so the run counts as not done."""
        folder = self.run_dir(spec, seed)
        if (folder / RESULT).exists():
            try:
                read_result(folder / RESULT, spec, seed)
                return "done"
            except CorruptResult as error:
                if distributed.is_main():  # under torchrun the other ranks only read
                    moved = [move_aside(f) for f in (folder / RESULT, folder / CHECKSUM) if f.exists()]
                    warnings.warn(CorruptFile(f"{error}; moved aside to {moved[0].name}, so the run is trained again"),
                                  stacklevel=2)
        checkpoint = folder / CHECKPOINT
        return "partial" if checkpoint.exists() or previous(checkpoint).exists() else "new"

    def get(self, spec: RunSpec, seed: int) -> Run | None:
        """The finished run, or None."""
        return Run(spec, seed, self.run_dir(spec, seed)) if self.status(spec, seed) == "done" else None

    def result_files(self) -> list[Path]:
        return sorted(self.root.glob(f"*/seed*/{RESULT}"))

    def get_or_run(
        self,
        spec: RunSpec,
        seed: int = 0,
        *,
        initial: Callable[[], dict | nn.Module] | None = None,
        data=None,
        data_root: str | os.PathLike | None = None,
        device=None,
        progress: bool | None = None,
    ) -> Run:
        """Return the finished run; otherwise train it (resuming from its last checkpoint).

        initial: for runs whose spec.init is not "scratch": a callable returning the starting
                 weights (a state_dict or a model of the spec's architecture). Only called
                 when the run starts fresh.
        data:    the already loaded `spec.dataset` (its device is where training happens); else
                 it is loaded by name from `data_root` onto `device`. None of these changes the key.
        """
        self._check_request(spec, seed, initial, data)
        folder = self.run_dir(spec, seed)
        main = distributed.is_main()  # under torchrun rank 0 alone locks and writes; the other ranks follow it
        with _locked(folder / ".lock") if main else contextlib.nullcontext() as lock:
            # another process may have finished it while we waited
            if distributed.from_main(lambda: self.status(spec, seed)) == "done":
                return Run(spec, seed, folder)
            if main:
                _write_spec(folder.parent / "spec.json", spec)
            try:
                return self._train(spec, seed, folder, initial, data, data_root, device, progress)
            except BaseException:
                if main and self.status(spec, seed) == "new":  # nothing to resume from: leave nothing behind
                    lock.discard()
                raise

    def _check_request(self, spec: RunSpec, seed: int, initial, data) -> None:
        if not isinstance(spec, RunSpec):
            raise TypeError(f"get_or_run needs a rethinkkit RunSpec, got {type(spec).__name__}")
        if data is not None and data.name != spec.dataset:
            raise ValueError(
                f"the spec trains on {spec.dataset!r} but data={data.name!r} was passed; pass the whole"
                " dataset and set RunSpec.train_subset / test_subset to use a stratified subset"
            )
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
        if spec.init != "scratch" and initial is None and self.status(spec, seed) == "new":
            raise ValueError(
                f"this spec starts from {spec.init!r}, not from scratch: pass initial=<callable returning"
                " the starting weights> so the run can begin"
            )

    def _train(self, spec, seed, folder, initial, data, data_root, device, progress) -> Run:
        data = _data_for(spec, data, data_root, device)
        model, counts = self._prepare(spec, seed, folder, initial, data)
        began = time.time()
        result = train(
            model,
            data,
            spec.recipe,
            seed=seed,
            hooks=spec.hooks,
            checkpoint=folder / CHECKPOINT,
            progress=progress,
            desc=f"{spec.model} {spec.key()}/seed{seed}",
        )
        return self._finish(spec, seed, folder, model, result, counts, data, began)

    def _prepare(self, spec: RunSpec, seed: int, folder: Path, initial, data) -> tuple[nn.Module, flops.Counts]:
        """The run's model at its start (a new run records the digest of its starting weights) and its counts."""
        torch.manual_seed(seed)  # the initialisation is a function of the seed alone
        model = build_model(spec, num_classes=data.num_classes, in_channels=data.in_channels)
        if distributed.from_main(lambda: self.status(spec, seed)) == "new":
            if initial is not None:
                start = initial()
                model.load_state_dict(start.state_dict() if isinstance(start, nn.Module) else start)
            digest = state_digest(model.state_dict())  # the starting weights, provably rebuilt later
            if distributed.is_main():
                atomic_write(folder / INIT_DIGEST, lambda f: f.write(digest.encode()))
        return model, _counts(spec, model, data.image_shape)

    def _finish(self, spec: RunSpec, seed: int, folder: Path, model: nn.Module, result, counts, data,
                began: float) -> Run:
        """Write a trained run's weights and result (marking it done) and drop its checkpoints."""
        checkpoint = folder / CHECKPOINT
        history = pd.DataFrame(result.history)
        columns = {**_run_columns(spec, seed, counts, data), **_provenance(folder, data)}
        for name, value in columns.items():
            history[name] = value
        history["finished_at"] = pd.Timestamp.fromtimestamp(began + result.seconds)
        state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        if distributed.is_main():
            atomic_write(folder / "model.pt", lambda f: torch.save(state, f))
            write_result(folder / RESULT, history)
            for stale in (checkpoint, previous(checkpoint)):
                stale.unlink(missing_ok=True)  # model.pt holds the final weights
        distributed.barrier()  # the other ranks return once the result is there to read
        return Run(spec, seed, folder)

    def get_or_run_seeds(
        self,
        spec: RunSpec,
        seeds: Sequence[int],
        *,
        initial: Mapping[int, Callable[[], dict | nn.Module]] | None = None,
        data=None,
        data_root: str | os.PathLike | None = None,
        device=None,
        progress: bool | None = None,
    ) -> list[Run]:
        """`get_or_run` for several seeds of one spec (`initial`: seed -> its `get_or_run` initial).

        Where `rethinkkit.together.wanted` on the data's device (CUDA, by default) and the run
        allows it (no training hooks, no dropout, not under torchrun), the missing seeds train
        together in this process, as one stacked model; the rest, and seeds whose checkpoints
        are at other epochs, train one after another as `get_or_run` does. Either way each seed's
        run, files and result are the ones `get_or_run` writes (weights equal up to
        floating-point order: `rethinkkit.together`)."""
        from . import together

        initial = dict(initial or {})
        for seed in seeds:
            self._check_request(spec, seed, initial.get(seed), data)
        if data is None:  # loaded once for all the seeds
            data = data_mod.load(spec.dataset, root=data_root, device=device)
        missing = [s for s in seeds if self.status(spec, s) != "done"]
        if len(missing) > 1 and not spec.hooks and together.wanted(data.device) and distributed.group() is None:
            self._train_together(spec, missing, initial, data, progress)
        return [self.get_or_run(spec, s, initial=initial.get(s), data=data, progress=progress) for s in seeds]

    def _train_together(self, spec: RunSpec, seeds: list[int], initial: Mapping, data, progress) -> None:
        """Train the seeds of `spec` that are still missing once their locks are held, together."""
        from . import together

        with contextlib.ExitStack() as held:
            locks = {s: held.enter_context(_locked(self.run_dir(spec, s) / ".lock")) for s in sorted(seeds)}
            seeds = [s for s in seeds if self.status(spec, s) != "done"]  # another process may have finished some
            if len(seeds) < 2:
                return
            _write_spec(self.run_dir(spec, seeds[0]).parent / "spec.json", spec)
            try:
                subset = _data_for(spec, data, None, None)
                prepared = {s: self._prepare(spec, s, self.run_dir(spec, s), initial.get(s), subset) for s in seeds}
                if together.unsupported(prepared[seeds[0]][0], spec.hooks):
                    return  # get_or_run trains them one by one
                began = time.time()
                try:
                    results = together.train_together(
                        [prepared[s][0] for s in seeds], subset, spec.recipe, seeds=seeds,
                        checkpoints=[self.run_dir(spec, s) / CHECKPOINT for s in seeds], progress=progress,
                        desc=f"{spec.model} {spec.key()}/seeds {','.join(map(str, seeds))} together")
                except together.CannotResumeTogether:
                    return
                for s, result in zip(seeds, results):
                    model, counts = prepared[s]
                    self._finish(spec, s, self.run_dir(spec, s), model, result, counts, subset, began)
            except BaseException:
                for s in seeds:
                    if self.status(spec, s) == "new":  # nothing to resume from: leave nothing behind
                        locks[s].discard()
                raise

    def initial_model(self, spec: RunSpec, seed: int, data) -> nn.Module:
        """The weights a from-scratch run of `spec` started from, rebuilt from its seed on the
        data's device -- and checked bit for bit against the digest the run stored when it
        started, so a lottery ticket's "original initialisation" is provably the original."""
        if spec.init != "scratch":
            raise ValueError(f"only a from-scratch run's initialisation is rebuilt from its seed; this run "
                             f"started from {spec.init!r}")
        torch.manual_seed(seed)
        model = build_model(spec, num_classes=data.num_classes, in_channels=data.in_channels)
        stored = self.run_dir(spec, seed) / INIT_DIGEST
        if stored.exists() and stored.read_text().strip() != state_digest(model.state_dict()):
            raise RuntimeError(
                f"the initialisation of {spec.key()}/seed{seed} cannot be rebuilt bit-identically (its digest "
                f"differs from the one stored when it started: another torch version or model code?)"
            )
        return model.to(data.device)


def build_model(spec: RunSpec, *, num_classes: int, in_channels: int) -> nn.Module:
    """The spec's architecture; the spec's classes and channels win over the given (dataset's)."""
    return models.build(
        spec.model,
        num_classes=spec.num_classes or num_classes,
        in_channels=spec.in_channels or in_channels,
        cfg=list(_thaw(spec.cfg)) if spec.cfg is not None else None,
        **dict(spec.options),
    )


def get_or_run(spec: RunSpec, seed: int = 0, *, store: Store | str | None = None, **kwargs) -> Run:
    """`Store(store).get_or_run(spec, seed, ...)`; the default store is `default_root()`."""
    if not isinstance(store, Store):
        store = Store(store)
    return store.get_or_run(spec, seed, **kwargs)


def _data_for(spec: RunSpec, data, root, device):
    if data is None:
        data = data_mod.load(spec.dataset, root=root, device=device)
    if spec.train_subset is not None or spec.test_subset is not None:
        data = data.subset(n_train=spec.train_subset, n_test=spec.test_subset)
    return data


def _masked(spec: RunSpec) -> bool:
    """Whether the run trains with fixed weight masks: its MACs are the nonzero ones."""
    return any(hasattr(hook, "masks") for hook in spec.hooks)


def _counts(spec: RunSpec, model: nn.Module, shape) -> flops.Counts:
    """The run's params and MACs: nonzero ones under masks, counted with the masks applied (a
    fresh, unmasked start is masked by the hook when training starts)."""
    if not _masked(spec):
        return flops.count(model, shape)
    masked = copy.deepcopy(model)
    for hook in spec.hooks:
        if hasattr(hook, "masks"):
            hook.on_start(masked)  # the hook's own masking, as training will apply it
    return flops.count_nonzero(masked, shape)


# Where a run came from; written beside RUN_COLUMNS (results from before they existed lack them)
PROVENANCE_COLUMNS = ("source", "torch", "hardware", "init_sha256")


def _provenance(folder: Path, data) -> dict:
    digest = folder / INIT_DIGEST
    return {
        "source": source(),
        "torch": torch.__version__,
        "hardware": hardware(data.device),
        "init_sha256": digest.read_text().strip() if digest.exists() else "",
    }


RUN_COLUMNS = (
    "key", "seed", "dataset", "model", "cfg", "init", "tag", "epochs", "base_lr",
    "train_images", "num_classes", "in_channels", "params", "macs", "device",
)  # what every row of a result file says about its run (besides the per-epoch columns)


def _run_columns(spec: RunSpec, seed: int, counts, data) -> dict:
    recipe = spec.recipe
    return {
        "key": spec.key(),
        "seed": seed,
        "dataset": spec.dataset,
        "model": spec.model,
        "cfg": json.dumps(_thaw(spec.cfg)) if spec.cfg is not None else "default",
        "init": spec.init,
        "tag": spec.tag,
        "epochs": recipe.epochs,
        "base_lr": recipe.lr,
        "train_images": len(data.train_labels),
        "num_classes": spec.num_classes or data.num_classes,
        "in_channels": spec.in_channels or data.in_channels,
        "params": counts.params,
        "macs": counts.macs,
        "device": str(data.device),
    }  # keys: RUN_COLUMNS, checked by the tests


def _thaw(value):
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


def write_result(path: Path, history: pd.DataFrame) -> None:
    """The result file, then its checksum: a result without a checksum (a crash between the
    two, or a store from before checksums) is still checked against its spec on reading."""
    atomic_write(path, lambda f: history.to_parquet(f, index=False))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    atomic_write(path.with_name(CHECKSUM), lambda f: f.write(digest.encode()))


def read_result(path: str | os.PathLike, spec: RunSpec | None = None, seed: int | None = None) -> pd.DataFrame:
    """A run's per-epoch results, checked: the checksum (when present), the columns, one row
    per epoch 1..E, accuracies in [0, 100], and that it is this run's: its key and seed match
    the spec and seed given (and the epochs the recipe's), else the folder it lies in.
    Raises CorruptResult naming the file and the problem."""
    path = Path(path)
    checksum = path.with_name(CHECKSUM)
    try:
        if checksum.exists() and hashlib.sha256(path.read_bytes()).hexdigest() != checksum.read_text().strip():
            raise CorruptResult("its checksum does not match (edited or truncated)")
        history = pd.read_parquet(path)
        missing = sorted({*RUN_COLUMNS, *EPOCH_COLUMNS} - set(history.columns))
        if missing:
            raise CorruptResult(f"it lacks the columns {missing}")
        epochs = int(history["epochs"].iloc[0]) if len(history) else 0
        if len(history) == 0 or list(history["epoch"]) != list(range(1, epochs + 1)):
            raise CorruptResult(f"it does not hold one row per epoch 1..{epochs}")
        top1 = history[["train_top1", "test_top1"]].to_numpy(dtype=float)
        if not ((top1 >= 0) & (top1 <= 100)).all():
            raise CorruptResult("an accuracy is not a number in [0, 100]")
        found = {"key": history["key"].iloc[0], "seed": int(history["seed"].iloc[0])}
        if spec is not None:
            expected = {"key": spec.key(), "seed": seed, "epochs": spec.recipe.epochs}
            found["epochs"] = epochs
        else:  # the folder names the run: <key>/seed<seed>/result.parquet
            expected = {"key": path.parent.parent.name, "seed": path.parent.name.removeprefix("seed")}
            found["seed"] = str(found["seed"])
        if found != expected:
            raise CorruptResult(f"it belongs to another run ({found}, expected {expected})")
    except CorruptResult as error:
        raise CorruptResult(f"the result file {path} cannot be used: {error}") from None
    except Exception as error:  # noqa: BLE001 -- parquet and file errors: the file is unreadable
        raise CorruptResult(f"the result file {path} cannot be read ({type(error).__name__}: "
                            f"{str(error)[:200]})") from None
    return history


EPOCH_COLUMNS = ("epoch", "lr", "train_loss", "train_top1", "test_loss", "test_top1", "seconds")  # per epoch (train.train)


def _write_spec(path: Path, spec: RunSpec) -> None:
    if not path.exists():
        text = json.dumps({"key": spec.key(), **spec.to_dict()}, indent=2, default=str)
        atomic_write(path, lambda f: f.write(text.encode()))


class _Lock:
    """Held by `_locked`; `discard()` removes the run's folder (and its spec, when no other
    seed is left) while the lock is still held."""

    def __init__(self, path: Path):
        self.path = path

    def discard(self) -> None:
        folder = self.path.parent
        shutil.rmtree(folder, ignore_errors=True)
        with contextlib.suppress(OSError):
            if not any(p.name.startswith("seed") for p in folder.parent.iterdir()):
                shutil.rmtree(folder.parent)


@contextlib.contextmanager
def _locked(path: Path):
    """An exclusive lock the OS releases if the holder dies (no stale locks after a kill).

    A holder may delete the lock file (`_Lock.discard`); a process that was waiting then
    holds a lock on a file nobody else can see, so it checks that its file is still the one
    at `path` and starts over if not."""
    while True:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            handle = open(path, "a")
        except FileNotFoundError:  # the folder was discarded between mkdir and open
            continue
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            current = os.stat(path).st_ino
        except FileNotFoundError:
            current = None
        if current == os.fstat(handle.fileno()).st_ino:
            break
        handle.close()
    lock = _Lock(path)
    try:
        yield lock
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()
