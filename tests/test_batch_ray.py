"""The Ray engine (`rk.batch.ENGINES["ray"]`, `rethinkkit run --engine ray`) on a local Ray instance:
two smoke jobs run through the store, a job whose Ray worker is SIGKILLed mid-training is retried and
resumes to the weights of an uninterrupted run, a dead kernel is retried a bounded number of times,
and without Ray the error says how to install it. Skipped where Ray is not installed (the cluster
extra: `pip install -e ".[cluster]"`), except the tests that need no Ray."""
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest
import torch

from killing import checkpoint_epoch
from rethinkkit import batch, cli
from rethinkkit.runs import STORE_ENV
from rethinkkit.train import state_digest
from test_batch import tiny_project

EPOCHS = 2  # the kill lands after epoch 1's checkpoint, while epoch 2 trains
SCRIPT = str(Path(sys.executable).parent / "rethinkkit")


@pytest.fixture(scope="module")
def ray():
    return pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray(ray):
    """One local Ray instance (2 CPUs), started as the engine starts one, for the in-process tests; the
    engine uses a Ray that is already initialised as it is (the command-line test starts and stops its own)."""
    assert batch.start_ray(num_cpus=2) is not None
    yield ray
    ray.shutdown()


def quickstart(output, seeds):
    """00_quickstart under the smoke profile, shortened to EPOCHS, one job per seed list."""
    return batch.plan(["00_quickstart"], "smoke", {"epochs": EPOCHS}, output, grid={"seeds": seeds})


def stored(store):
    """{seed folder: (weights digest, test accuracy per epoch)} of every finished run in a store."""
    return {f"{p.parent.parent.name}/{p.parent.name}": (state_digest(torch.load(p.parent / "model.pt")),
                                                        pd.read_parquet(p)["test_top1"].tolist())
            for p in sorted(Path(store).glob("*/seed*/result.parquet"))}


@pytest.fixture(scope="module")
def smoke(local_ray, tmp_path_factory):
    """Two smoke jobs (seeds 0 and 1), side by side on the local instance, uninterrupted."""
    root = tmp_path_factory.mktemp("smoke")
    jobs = quickstart(root / "out", [[0], [1]])
    reported = []
    outcomes = batch.run_jobs(jobs, root / "store", "ray", reported.append)
    return jobs, outcomes, reported, root / "store"


def test_two_smoke_jobs_run_to_completion_through_the_store(smoke):
    jobs, outcomes, reported, store = smoke
    assert [outcome.job for outcome in outcomes] == jobs and reported == outcomes  # every job, in job order
    assert all(outcome.error is None and outcome.attempts == 1 for outcome in outcomes), outcomes
    for job in jobs:
        assert job.output.exists() and not batch.running_copy(job.output).exists()
        assert "Traceback" not in job.output.read_text()
    runs = stored(store)
    assert sorted(key.split("/")[1] for key in runs) == ["seed0", "seed1"]
    for job in jobs:  # each executed copy names the run it trained (its last cells print the run keys)
        (seed,) = job.parameters["seeds"]
        assert [key for key in runs if key in job.output.read_text()] == [key for key in runs if key.endswith(f"seed{seed}")]
    assert all(len(accuracies) == EPOCHS for _, accuracies in runs.values())


def kernel_of(store: Path):
    """The kernel executing a notebook for `store` (its environment names the store) and the Ray
    worker that started it, or None while there is none."""
    for process in psutil.process_iter(["cmdline", "environ"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if "ipykernel" in cmdline and (process.info["environ"] or {}).get(STORE_ENV) == str(store):
            return process, process.parent()
    return None


def kill_after_first_checkpoint(store: Path, finished: threading.Event, seen: dict) -> None:
    """Wait for a run's first checkpoint in `store`, then SIGKILL the Ray worker running the job and
    the kernel it started, as a lost machine would. No deadline: a busy
    machine only makes this wait longer; it gives up only once the batch has ended."""
    while not finished.is_set():
        checkpoints = list(store.glob("*/seed*/checkpoint.pt"))
        found = kernel_of(store) if checkpoints and checkpoint_epoch(checkpoints[0]) >= 1 else None
        if found:
            kernel, worker = found
            seen.update(worker=" ".join(worker.cmdline()), epoch=checkpoint_epoch(checkpoints[0]),
                        finished=any(store.glob("*/seed*/result.parquet")))
            if worker.pid != os.getpid():  # never this test's own process, whatever went wrong
                os.kill(worker.pid, signal.SIGKILL)
            kernel.kill()  # jupyter_client starts it in its own session: the worker's death does not take it along
            return
        time.sleep(0.05)


def test_a_worker_killed_mid_run_is_retried_and_ends_as_an_uninterrupted_run(smoke, tmp_path):
    store = tmp_path / "store"
    (job,) = quickstart(tmp_path / "out", [[0]])
    finished, seen = threading.Event(), {}
    killer = threading.Thread(target=kill_after_first_checkpoint, args=(store, finished, seen))
    killer.start()
    try:
        (outcome,) = batch.run_jobs([job], store, "ray", retries=1)
    finally:
        finished.set()
        killer.join()
    assert seen, "the job ended before it could be killed"
    assert "ray::" in seen["worker"] or "default_worker" in seen["worker"], seen  # a Ray worker, nothing else
    assert 1 <= seen["epoch"] < EPOCHS and not seen["finished"], seen  # killed mid-run
    assert outcome.error is None and outcome.attempts == 2, outcome
    assert job.output.exists() and not batch.running_copy(job.output).exists()
    (resumed,) = stored(store).items()
    uninterrupted = stored(smoke[3])
    assert resumed[1] == uninterrupted[resumed[0]]  # the same weights, bit for bit, and the same accuracies


def test_command_line_retries_a_dead_kernel_a_bounded_number_of_times(ray, tmp_path):
    """`rethinkkit run --engine ray` starts its own local instance; a kernel that kills itself on
    every attempt fails after 1 + --retries attempts, the other job runs through."""
    tiny_project(tmp_path)
    done = subprocess.run([SCRIPT, "run", "tiny", "--profile", "tiny", "-g", "die", "[true, false]",
                           "--engine", "ray", "--retries", "1", "--store", str(tmp_path / "store")],
                          cwd=tmp_path, capture_output=True, text=True, env={**os.environ, "RETHINKKIT_QUIET": ""})
    out = tmp_path / "runs" / "tiny"
    assert done.returncode == 2, done.stdout + done.stderr
    assert re.search(rf"tiny__die=True: FAILED in \d+ s \(2 attempts\) -> {re.escape(str(out))}/tiny__die=True.failed.ipynb",
                     done.stdout), done.stdout
    assert "tiny__die=False: done in " in done.stdout and (out / "tiny__die=False.ipynb").exists()
    assert "1 of 2 job(s) failed" in done.stderr and "DeadKernelError" in done.stderr
    assert "done 1, failed 1, retried 1" in done.stderr  # the progress bar over the jobs
    assert "Traceback" not in done.stderr and "Token authentication" not in done.stderr, done.stderr


def test_without_ray_the_error_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as where it is not installed
    with pytest.raises(batch.BatchError, match=r'needs Ray.*pip install -e "\.\[cluster\]"'):
        batch.run_jobs([], tmp_path / "store", "ray")
    tiny_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["run", "tiny", "--profile", "tiny", "--engine", "ray"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rethinkkit: error: the ray engine needs Ray") and '".[cluster]"' in err
    assert not (tmp_path / "runs" / "tiny" / "tiny.ipynb").exists()  # nothing ran


@pytest.mark.parametrize("args, message", [
    (["--address", "auto"], r"the serial engine takes no address \(--address\): use engine ray \(--engine ray\)"),
    (["--engine", "ray", "--address", "auto", "--dashboard-host", "0.0.0.0"], "keeps its own dashboard"),
    (["--engine", "ray", "--cpus-per-job", "0"], "cpus_per_job must be a positive number"),
])
def test_engine_options_are_checked_before_anything_runs(args, message, tmp_path, monkeypatch, capsys):
    if "ray" in args:
        pytest.importorskip("ray")
    tiny_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["run", "tiny", "--profile", "tiny", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rethinkkit: error:") and re.search(message, err), err
    assert not (tmp_path / "runs").exists()
