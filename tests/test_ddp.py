"""Data-parallel training under torchrun (`rethinkkit.distributed`), on the CPU: gloo, 2 processes.

- The shards, in this process: the ranks' chunks of every global batch, put together, are the
  1-process batch (images after augmentation, and labels), for in-memory data and a tiny
  ImageFolder (3 classes, 8 train / 3 val PNGs each, written here).
- `train()` under the real launcher (`python -m torch.distributed.run --standalone
  --nproc_per_node=2`, which picks a free port): each rank trains on its chunk of every global
  batch of the 1-process order (recorded in the workers), and the final weights and history of
  the 2-process run equal a 1-process run at the same global batch, for in-memory data and for
  the ImageFolder. The models have no BatchNorm: with plain DDP each rank normalises by its own
  chunk's statistics (as DataParallel, the original's ImageNet setting), so a BN model is not
  expected to match a 1-process run; for one, the two ranks must hold identical weights and
  buffers, and rank 0's checkpoint must be that state.
  Tolerance: float32 summation order only -- DDP adds the two ranks' gradient sums where one
  process sums the batch in one backward -- after 8-10 SGD steps: atol 1e-5 + rtol 1e-4 on every
  weight (seen: at most 2.7e-7 in memory, 1.3e-6 on the 224-px ImageFolder). Training on half the
  global batch moves some weight by more than 1e-2 (seen: 0.18 and 0.88; checked, so the tolerance
  tells runs apart).
- `rethinkkit train` under torchrun (the README's command on fashion-mnist-mini and resnet56-a):
  only rank 0 writes (every write of the run store and the checkpoints is logged per rank), the
  store holds one copy of each run, and a run whose ranks are SIGKILLed mid-way resumes from rank
  0's checkpoint to the same weights as an uninterrupted run.
The launches are waited for without a deadline: a busy machine only makes them slower.
"""
import dataclasses
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from torch import nn

import rethinkkit as rk
from rethinkkit import cli, distributed, pipeline
from rethinkkit.config import Recipe
from rethinkkit.data.imagenet import ImageFolderData

pytestmark = pytest.mark.usefixtures("one_thread")

ROOT = Path(__file__).resolve().parent.parent
LAUNCH = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
TOLERANCE = dict(atol=1e-5, rtol=1e-4)  # float32 summation order (module docstring)

# --- what the workers train (imported by the worker script too) -------------------------

CASES = ("memory", "memory-bn", "folder")  # in-memory data, the same with BatchNorm, an ImageFolder
RECIPES = {
    # 69 images in batches of 16: the last global batch (5) splits 3 / 2
    "memory": Recipe(epochs=2, batch_size=16, eval_batch_size=32, milestones=()),
    # 24 images in batches of 7 (4 / 3, and the last 3: 2 / 1); 9 test images in 4s (the last, 1, leaves rank 1 none)
    "folder": Recipe(epochs=2, batch_size=7, eval_batch_size=4, milestones=()),
}


def tiny_net(data, batch_norm: bool, stride: int) -> nn.Module:
    torch.manual_seed(0)
    norm = [nn.BatchNorm2d(8)] if batch_norm else []
    return nn.Sequential(nn.Conv2d(data.in_channels, 8, 3, stride=stride), *norm, nn.ReLU(), nn.AdaptiveAvgPool2d(2),
                         nn.Flatten(), nn.Linear(32, data.num_classes))


def write_folder(root: Path, n_train: int = 8, n_val: int = 3) -> Path:
    """A tiny ImageFolder: 3 classes, PNGs of 24-48 px whose red channel names the class."""
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("val", n_val)):
        for c, name in enumerate(("n01", "n02", "n03")):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                h, w = rng.integers(24, 49, size=2)
                pixels = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
                pixels[:, :, 0] = 40 + 90 * c
                Image.fromarray(pixels).save(folder / f"{name}_{i}.png")
    return root


def memory_data():
    return rk.data.load("fashion-mnist-mini", device="cpu").subset(n_train=69, n_test=50, seed=0)


def case(name: str, folder: Path, workers: int = 0):
    """(model, data, recipe) of a case; the model's initialisation is seeded."""
    if name == "folder":
        data = ImageFolderData(folder, device="cpu", num_workers=workers)
        return tiny_net(data, False, stride=8), data, RECIPES[name]
    data = memory_data()
    return tiny_net(data, name.endswith("-bn"), stride=2), data, RECIPES["memory"]


WORKER = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    import torch

    import rethinkkit as rk
    from rethinkkit import distributed
    from test_ddp import CASES, case

    out, folder = Path(sys.argv[1]), Path(sys.argv[2])
    distributed.init("cpu")
    rank = distributed.group().rank
    for name in CASES:
        model, data, recipe = case(name, folder, workers=1)  # a DataLoader worker process per rank
        seen, batches = [], data.train_batches

        def recorded(*args, batches=batches, seen=seen, **kwargs):  # the labels of every batch this rank trains on
            for x, y in batches(*args, **kwargs):
                seen.append(y.tolist())
                yield x, y

        data.train_batches = recorded
        result = rk.train.train(model, data, recipe, seed=1, checkpoint=out / f"{name}.ckpt", progress=False)
        torch.save({"state": model.state_dict(), "history": result.history, "seen": seen},
                   out / f"{name}.rank{rank}.pt")
    distributed.finish()
    """
)

# `rethinkkit train` (cli.main, as `-m rethinkkit` runs it), logging every file the run store and the
# training loop write, per rank.
LOGGING_CLI = textwrap.dedent(
    """
    import json
    import os
    import sys
    from pathlib import Path

    import rethinkkit.runs
    import rethinkkit.train
    from rethinkkit import cli

    writes = []
    for module in (rethinkkit.runs, rethinkkit.train):
        def logged(path, write, original=module.atomic_write):
            writes.append(str(path))
            return original(path, write)
        module.atomic_write = logged
    try:
        code = cli.main(sys.argv[2:])
    finally:
        Path(sys.argv[1], f"writes.rank{os.environ['RANK']}.json").write_text(json.dumps(writes))
    sys.exit(code)
    """
)


def launch(args: list[str], cwd: Path, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1", "RETHINKKIT_QUIET": "1"}
    return subprocess.run([*LAUNCH, *args], cwd=cwd, env=env, capture_output=True, text=True, **kwargs)


# --- the shards ------------------------------------------------------------------------


def shards(data, batch_size: int, world: int, **kwargs):
    """Every rank's batches of one epoch: [rank][step] -> (x, y)."""
    return [list(data.train_batches(batch_size, seed=3, epoch=1, shard=(rank, world), **kwargs))
            for rank in range(world)]


@pytest.mark.parametrize("batch_size, world", [(16, 2), (16, 3), (10, 4)])
def test_in_memory_shards_put_together_are_the_global_batch(batch_size, world):
    data = memory_data()  # 69 images
    whole = list(data.train_batches(batch_size, seed=3, epoch=1))
    parts = shards(data, batch_size, world)
    assert all(len(p) == len(whole) for p in parts)  # every rank steps as often
    for step, (x, y) in enumerate(whole):
        sizes = [len(p[step][1]) for p in parts]
        assert max(sizes) - min(sizes) <= 1 and min(sizes) >= 1 and sizes == sorted(sizes, reverse=True)
        assert torch.equal(torch.cat([p[step][0] for p in parts]), x)  # the same crops and flips
        assert torch.equal(torch.cat([p[step][1] for p in parts]), y)


def test_imagefolder_shards_put_together_are_the_global_batch(tmp_path):
    data = ImageFolderData(write_folder(tmp_path / "imagenet"), device="cpu", num_workers=0)
    whole = list(data.train_batches(7, seed=3, epoch=1))
    parts = shards(data, 7, 2)
    assert [len(y) for _, y in parts[0]] == [4, 4, 4, 2] and [len(y) for _, y in parts[1]] == [3, 3, 3, 1]
    for step, (x, y) in enumerate(whole):
        assert torch.equal(torch.cat([p[step][0] for p in parts]), x)  # each image's own seeded crop
        assert torch.equal(torch.cat([p[step][1] for p in parts]), y)
    tests = [list(data.test_batches(4, shard=(rank, 2))) for rank in range(2)]
    assert [len(y) for _, y in tests[0]] == [2, 2, 1] and [len(y) for _, y in tests[1]] == [2, 2]
    x, y = map(torch.cat, zip(*data.test_batches(4)))
    assert torch.equal(torch.cat([tests[0][0][1], tests[1][0][1], tests[0][1][1], tests[1][1][1], tests[0][2][1]]), y)
    assert sum(len(b) for t in tests for _, b in t) == data.num_test


def test_in_memory_test_shards_cover_the_test_set_once():
    data = memory_data()  # 50 test images in batches of 32: 16/16, then 9/9
    parts = [list(data.test_batches(32, shard=(rank, 2))) for rank in range(2)]
    labels = torch.cat([parts[r][s][1] for s in range(2) for r in range(2)])
    assert torch.equal(labels, data.test_labels)
    # a last batch of one image: rank 1 has no chunk of it and skips it
    assert [len(y) for _, y in data.test_batches(49, shard=(1, 2))] == [24]


def test_a_batch_too_small_to_split_and_a_bad_shard_are_explained(tmp_path):
    data = memory_data()  # 69 images: batches of 17 leave a last batch of 1
    with pytest.raises(ValueError, match=r"a global batch of 1 image\(s\) cannot be split over 2 ranks"):
        next(data.train_batches(17, seed=0, epoch=0, shard=(0, 2)))
    with pytest.raises(ValueError, match=r"whose last batch holds at least 2"):
        next(data.train_batches(17, seed=0, epoch=0, shard=(1, 2)))
    folder = ImageFolderData(write_folder(tmp_path / "imagenet"), device="cpu", num_workers=0)  # 24 images
    with pytest.raises(ValueError, match=r"global batch of 3 image\(s\) cannot be split over 4 ranks .*the last one"):
        next(folder.train_batches(7, seed=0, epoch=0, shard=(0, 4)))
    with pytest.raises(ValueError, match=r"batch of 2 image\(s\) cannot be split over 3 ranks .*at most 2 process"):
        next(folder.train_batches(2, seed=0, epoch=0, shard=(2, 3)))
    for bad in ((2, 2), (0, 0), [0, 2], (0.0, 2)):
        with pytest.raises(ValueError, match=r"shard must be \(rank, size\)"):
            next(data.test_batches(8, shard=bad))


def test_torchrun_device_choices_are_checked(monkeypatch):
    for name, value in zip(distributed.TORCHRUN_ENV, ("1", "1", "2", "127.0.0.1", "29500")):
        monkeypatch.setenv(name, value)
    assert distributed.launched()
    with pytest.raises(ValueError, match="every rank trains on cuda:LOCAL_RANK"):
        distributed.init("cuda:1")
    monkeypatch.delenv("RANK")
    assert not distributed.launched() and distributed.init("cpu") == torch.device("cpu")
    assert distributed.group() is None and distributed.is_main()


# --- train() under torchrun --------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The cases trained by 2 processes under torchrun: {case: [rank 0's, rank 1's]}, and the folder."""
    root = tmp_path_factory.mktemp("ddp-train")
    folder = write_folder(root / "imagenet")
    (root / "worker.py").write_text(WORKER)
    done = launch([str(root / "worker.py"), str(root), str(folder)], cwd=root)
    assert done.returncode == 0, done.stdout + done.stderr
    out = {name: [torch.load(root / f"{name}.rank{r}.pt", weights_only=False) for r in range(2)] for name in CASES}
    return out, root, folder


def one_process(name: str, folder: Path, **changes):
    model, data, recipe = case(name, folder)
    result = rk.train.train(model, data, dataclasses.replace(recipe, **changes), seed=1, progress=False)
    return model.state_dict(), result.history


@pytest.mark.slow
@pytest.mark.parametrize("name", CASES)
def test_each_rank_trains_on_its_chunk_of_every_global_batch(trained, name):
    runs, _, folder = trained
    _, data, recipe = case(name, folder)
    for epoch in range(recipe.epochs):
        steps = len(runs[name][0]["seen"]) // recipe.epochs
        ours = [runs[name][r]["seen"][epoch * steps:(epoch + 1) * steps] for r in range(2)]
        whole = [y.tolist() for _, y in data.train_batches(recipe.batch_size, seed=1, epoch=epoch)]
        assert len(whole) == steps
        for step, labels in enumerate(whole):
            assert ours[0][step] and ours[1][step] and ours[0][step] + ours[1][step] == labels


@pytest.mark.slow
@pytest.mark.parametrize("name", ["memory", "folder"])
def test_two_processes_train_the_weights_of_one(trained, name):
    runs, _, folder = trained
    state, history = one_process(name, folder)
    for rank in range(2):
        for key, value in state.items():
            torch.testing.assert_close(runs[name][rank]["state"][key], value, **TOLERANCE,
                                       msg=lambda m: f"rank {rank}, {key}: {m}")
        ddp_history = runs[name][rank]["history"]
        assert [(r["epoch"], r["lr"], r["train_top1"], r["test_top1"]) for r in ddp_history] == \
               [(r["epoch"], r["lr"], r["train_top1"], r["test_top1"]) for r in history]
        for ours, theirs in zip(ddp_history, history):  # losses reduced over the ranks
            assert ours["train_loss"] == pytest.approx(theirs["train_loss"], rel=1e-5)
            assert ours["test_loss"] == pytest.approx(theirs["test_loss"], rel=1e-5)
    # The tolerance tells runs apart: half the global batch moves the weights far beyond it.
    other, _ = one_process(name, folder, batch_size=RECIPES[name].batch_size // 2)
    assert max((other[k] - v).abs().max().item() for k, v in state.items()) > 1e-2


@pytest.mark.slow
def test_with_batchnorm_every_rank_holds_rank_0s_model(trained):
    runs, root, _ = trained
    rank0, rank1 = (runs["memory-bn"][r]["state"] for r in range(2))
    assert "1.running_mean" in rank0
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), key  # weights by DDP, BN buffers broadcast from rank 0
    checkpoint = torch.load(root / "memory-bn.ckpt", weights_only=False)  # written by rank 0
    assert checkpoint["epoch"] == 2
    for key in rank0:
        assert torch.equal(checkpoint["model"][key], rank0[key]), key
    assert checkpoint["history"] == runs["memory-bn"][0]["history"]


# --- `rethinkkit train` under torchrun -----------------------------------------------------

# The README's command (imagenet, resnet34-a) on the embedded data and a CIFAR config, shortened.
ARGS = ["train", "--dataset", "fashion-mnist-mini", "--configs", "resnet56-a", "--strategies", "scratch-b",
        "--epochs", "4", "--train-subset", "64", "--test-subset", "64"]
FILES = {".lock", "init.sha256", "model.pt", "result.parquet", "result.sha256"}  # a finished run's folder


def large_run_dir(store: Path) -> Path:
    protocol = pipeline.protocol("fashion-mnist-mini", epochs=4, train_subset=64, test_subset=64)
    return rk.runs.Store(store).run_dir(pipeline.parent_spec(protocol, pipeline.target("resnet56-a")), 0)


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """An uninterrupted `rethinkkit train` under torchrun, every write logged per rank."""
    root = tmp_path_factory.mktemp("ddp-cli")
    (root / "logging_cli.py").write_text(LOGGING_CLI)
    done = launch([str(root / "logging_cli.py"), str(root), *ARGS, "--store", str(root / "store")], cwd=root)
    assert done.returncode == 0, done.stdout + done.stderr
    return root, done.stdout


@pytest.mark.slow
def test_torchrun_train_command_writes_one_copy_from_rank_0(straight):
    root, stdout = straight
    assert "trained on 2 processes (DDP), rank 0 on cpu" in stdout
    assert re.search(r"resnet56-a\s+scratch-b\s+0\s+\d+", stdout) and re.search(r"resnet56\s+unpruned\s+0\s+4", stdout)
    store = rk.runs.Store(root / "store")
    results = store.result_files()
    assert len(results) == 2  # the large model and the Scratch-B run
    for result in results:
        folder = result.parent  # no checkpoint left, no temporary file, nothing moved aside
        assert {p.name for p in folder.iterdir()} - {"pruned"} == FILES, sorted(folder.iterdir())
        assert {p.name for p in folder.parent.iterdir()} == {"spec.json", "seed0"}
        history = pd.read_parquet(result)
        assert set(history["train_images"]) == {64} and list(history["epoch"]) == list(range(1, len(history) + 1))
    writes = [json.loads((root / f"writes.rank{r}.json").read_text()) for r in range(2)]
    assert writes[1] == []  # rank 1 wrote nothing: no spec, checkpoint, weights or result
    for result in results:
        folder = result.parent
        mine = [w for w in writes[0] if Path(w).parent == folder]
        assert sorted(set(mine)) == sorted(str(folder / f) for f in (
            "init.sha256", "checkpoint.pt", "model.pt", "result.parquet", "result.sha256"))
        epochs = len(pd.read_parquet(result))
        assert mine.count(str(folder / "checkpoint.pt")) == epochs  # one checkpoint per epoch, one writer
        assert writes[0].count(str(folder.parent / "spec.json")) == 1


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (torchrun's ranks run in sessions of their own)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@pytest.mark.slow
def test_a_killed_torchrun_run_resumes_to_the_same_weights(straight, tmp_path):
    """SIGKILL both ranks (and torchrun) after the large model's first checkpoint, run the same
    command again, and compare with the uninterrupted run."""
    root, _ = straight
    store = tmp_path / "store"
    command = [*LAUNCH, "-m", "rethinkkit", *ARGS, "--store", str(store)]
    checkpoint = large_run_dir(store) / "checkpoint.pt"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "RETHINKKIT_QUIET": "1"}
    agent = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not (checkpoint.exists() and epoch_of(checkpoint) >= 1):
            assert agent.poll() is None, "torchrun exited before it could be killed"
            time.sleep(0.02)
        ranks = children(agent.pid)
        assert len(ranks) == 2
        for pid in ranks:
            os.kill(pid, signal.SIGKILL)
        os.kill(agent.pid, signal.SIGKILL)
    finally:
        agent.wait()
    assert not (checkpoint.parent / "result.parquet").exists(), "the kill did not land mid-run"
    kept = torch.load(checkpoint, weights_only=False)
    assert 1 <= kept["epoch"] < 4

    again = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stdout + again.stderr
    resumed = pd.read_parquet(checkpoint.parent / "result.parquet")
    # The epochs done before the kill come from the checkpoint (their wall times included): resumed, not redone.
    assert resumed["seconds"].tolist()[: kept["epoch"]] == [row["seconds"] for row in kept["history"]]
    ours, theirs = rk.runs.Store(store), rk.runs.Store(root / "store")
    assert [p.relative_to(store) for p in ours.result_files()] == [p.relative_to(root / "store")
                                                                  for p in theirs.result_files()]
    for a, b in zip(ours.result_files(), theirs.result_files()):
        x, y = (torch.load(p.parent / "model.pt", weights_only=True) for p in (a, b))
        for key in x:
            assert torch.equal(x[key], y[key]), f"{a.parent}: {key} differs after resume"
        assert pd.read_parquet(a)["test_top1"].tolist() == pd.read_parquet(b)["test_top1"].tolist()


def epoch_of(checkpoint: Path) -> int:
    try:
        return torch.load(checkpoint, weights_only=False)["epoch"]
    except (RuntimeError, EOFError, FileNotFoundError):  # caught mid-rename
        return 0


def test_train_command_alone_trains_in_this_process(tmp_path, capsys):
    """Without torchrun the same command trains in this process, on the device asked."""
    assert cli.main([*ARGS, "--epochs", "2", "--device", "cpu", "--store", str(tmp_path / "store")]) == 0
    out = capsys.readouterr().out
    assert "trained on cpu:" in out and re.search(r"resnet56-a\s+scratch-b\s+0\s+\d+", out)
    results = rk.runs.Store(tmp_path / "store").result_files()
    assert len(results) == 2 and all(set(pd.read_parquet(r)["device"]) == {"cpu"} for r in results)


def test_train_command_refuses_bad_input(capsys):
    assert cli.main(["train", "--dataset", "fashion-mnist-mini", "--configs", "resnet56-z"]) == 2
    assert "unknown pruned config 'resnet56-z'" in capsys.readouterr().err
    assert cli.main(["train", "--dataset", "fashion-mnist-mini", "--configs", "resnet56-a", "--strategies", "x"]) == 2
    assert "unknown strategy 'x'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        cli.main(["train", "--dataset", "fashion-mnist-mini", "--configs", "resnet56-a", "--epochs", "-3"])
    assert exit_.value.code == 2 and "expected a non-negative integer, got '-3'" in capsys.readouterr().err


# --- the README's command ----------------------------------------------------------------


def test_readme_torchrun_command_is_the_tested_one():
    """README's torchrun line: the launcher the tests use (8 processes instead of 2), then a
    `rethinkkit train` command the CLI accepts, on ImageNet."""
    readme = (ROOT / "README.md").read_text().replace("\\\n", " ")
    lines = [line for line in readme.splitlines() if line.startswith(".venv/bin/torchrun ")]
    assert len(lines) == 1, lines
    words = shlex.split(lines[0].split("  #")[0])
    assert words[:5] == [".venv/bin/torchrun", "--standalone", "--nproc_per_node=8", "-m", "rethinkkit"]
    args = cli.parser().parse_args(words[5:])
    assert args.func is cli._train and args.dataset == "imagenet" and args.data_root
    assert [word for word in words[5:] if word.startswith("--")] == [
        "--dataset", "--data-root", "--configs", "--strategies"]
    tested = cli.parser().parse_args(ARGS)
    assert set(vars(args)) == set(vars(tested))
