"""The Ray engine (`rk.batch.ENGINES["ray"]`, `rethinkkit run --engine ray`) on a local Ray instance:
two smoke jobs run through the store, a job whose Ray worker is SIGKILLed mid-training is retried and
resumes to the weights of an uninterrupted run, a dead kernel is retried a bounded number of times,
and without Ray the error says how to install it. Ray runs only in the `rethinkkit run` subprocesses,
never in this test process. Skipped where Ray is not installed (the cluster extra: `pip install -e
".[cluster]"`) or where this machine cannot start a bare local instance, except the tests that need no Ray."""
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
ROOT = Path(__file__).resolve().parents[1]
# A hang guard, not a speed check: these batches take under a minute here. A Ray instance that hangs
# (a dead raylet, a stuck shutdown) must fail its test with Ray's logs, not stall the whole suite.
HANG_GUARD_S = 1200


def ray_logs() -> str:
    """The tail of the newest local Ray session's error logs, for a failure message."""
    logs = sorted(Path("/tmp/ray/session_latest/logs").glob("*.err"))
    return "\n".join(f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:])
                     for log in logs if log.stat().st_size)[-6000:]


def guarded(command: list[str], cwd: Path, while_running=None) -> subprocess.CompletedProcess:
    """Run `command` (which starts and stops its own local Ray instance) in its own session, the
    whole session killed if it outlives HANG_GUARD_S; `while_running(process)` runs beside it. Ray
    never runs inside this test process: a stuck Ray cannot hang the suite's own teardown."""
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True, env={**os.environ, "RETHINKKIT_QUIET": ""})
    finished = threading.Event()
    watcher = threading.Thread(target=while_running, args=(finished,)) if while_running else None
    if watcher:
        watcher.start()
    try:
        out, err = process.communicate(timeout=HANG_GUARD_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        pytest.fail(f"{' '.join(command)} hung for {HANG_GUARD_S} s\n{out}\n{err}\n{ray_logs()}")
    finally:
        finished.set()
        if watcher:
            watcher.join()
    return subprocess.CompletedProcess(command, process.returncode, out, err)


@pytest.fixture(scope="module")
def local_ray():
    """Ray installed, and a bare local Ray instance able to run one task on this machine (checked in a
    subprocess, with nothing of the kit's): where a sandbox keeps Ray from starting, the tests that
    need it are skipped with Ray's own words, as the browser test is where no browser is installed."""
    pytest.importorskip("ray")
    probe = ("import ray; ray.init(address='local', num_cpus=1, include_dashboard=False, log_to_driver=False, "
             "_node_ip_address='127.0.0.1'); print(ray.get(ray.remote(lambda: 'ray-ok').remote())); ray.shutdown()")
    done = guarded([sys.executable, "-c", probe], ROOT)
    if done.returncode != 0 or "ray-ok" not in done.stdout:
        pytest.skip(f"a local Ray instance cannot run a task on this machine: {done.stderr.strip()[-1500:]}"
                    f"\n{ray_logs()}")


def quickstart(store: Path, output: Path, seeds: str, *extra: str, while_running=None) -> subprocess.CompletedProcess:
    """00_quickstart under the smoke profile, shortened to EPOCHS, one job per seed list, through
    `rethinkkit run --engine ray` on its own local instance."""
    return guarded([SCRIPT, "run", "00_quickstart", "--profile", "smoke", "-p", "epochs", str(EPOCHS), "-g", "seeds",
                    seeds, "--engine", "ray", "--store", str(store), "--output", str(output), *extra], ROOT,
                   while_running)


def stored(store):
    """{seed folder: (weights digest, test accuracy per epoch)} of every finished run in a store."""
    return {f"{p.parent.parent.name}/{p.parent.name}": (state_digest(torch.load(p.parent / "model.pt")),
                                                        pd.read_parquet(p)["test_top1"].tolist())
            for p in sorted(Path(store).glob("*/seed*/result.parquet"))}


def job_line(stdout: str, stem: str) -> str:
    (line,) = [line for line in stdout.splitlines() if line.startswith(f"{stem}: ")] or [f"no line for {stem}"]
    return line


@pytest.fixture(scope="module")
def smoke(local_ray, tmp_path_factory):
    """Two smoke jobs (seeds 0 and 1), side by side on a local instance, uninterrupted."""
    root = tmp_path_factory.mktemp("smoke")
    done = quickstart(root / "store", root / "out", "[[0], [1]]")
    return done, root / "out", root / "store"


def test_two_smoke_jobs_run_to_completion_through_the_store(smoke):
    done, out, store = smoke
    assert done.returncode == 0, done.stdout + done.stderr + ray_logs()
    runs = stored(store)
    assert sorted(key.split("/")[1] for key in runs) == ["seed0", "seed1"]
    assert all(len(accuracies) == EPOCHS for _, accuracies in runs.values())
    for seed in (0, 1):
        stem = f"00_quickstart__seeds={seed}__epochs={EPOCHS}"
        output = out / f"{stem}.ipynb"
        assert re.fullmatch(rf"{re.escape(stem)}: done in \d+ s -> {re.escape(str(output))}",
                            job_line(done.stdout, stem)), done.stdout
        assert output.exists() and not batch.running_copy(output).exists()
        assert "Traceback" not in output.read_text()
        # each executed copy names the run it trained (its last cells print the run keys)
        assert [key for key in runs if key in output.read_text()] == [key for key in runs if key.endswith(f"seed{seed}")]
    assert "done 2, failed 0" in done.stderr  # the progress bar over the jobs
    assert "Traceback" not in done.stderr and "Token authentication" not in done.stderr, done.stderr


def kernel_of(store: Path):
    """The kernel executing a notebook for `store` (its environment names the store) and the Ray
    worker that started it, or None while there is none."""
    for process in psutil.process_iter(["cmdline", "environ"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if "ipykernel" in cmdline and (process.info["environ"] or {}).get(STORE_ENV) == str(store):
            return process, process.parent()
    return None


def kill_after_first_checkpoint(store: Path, seen: dict):
    """A watcher for `guarded`: wait for a run's first checkpoint in `store`, then SIGKILL the Ray
    worker running the job and the kernel it started, as a lost machine would. No deadline: a busy
    machine only makes this wait longer; it gives up once the batch has ended."""
    def watch(finished: threading.Event) -> None:
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
    return watch


def test_a_worker_killed_mid_run_is_retried_and_ends_as_an_uninterrupted_run(smoke, tmp_path):
    store, seen = tmp_path / "store", {}
    done = quickstart(store, tmp_path / "out", "[[0]]", "--retries", "1",
                      while_running=kill_after_first_checkpoint(store, seen))
    assert seen, "the job ended before it could be killed\n" + done.stdout + done.stderr
    assert "ray::" in seen["worker"] or "default_worker" in seen["worker"], seen  # a Ray worker, nothing else
    assert 1 <= seen["epoch"] < EPOCHS and not seen["finished"], seen  # killed mid-run
    assert done.returncode == 0, done.stdout + done.stderr + ray_logs()
    output = tmp_path / "out" / f"00_quickstart__seeds=0__epochs={EPOCHS}.ipynb"
    assert re.fullmatch(r".*: done in \d+ s \(2 attempts\) -> " + re.escape(str(output)),
                        job_line(done.stdout, output.stem)), done.stdout
    assert output.exists() and not batch.running_copy(output).exists()
    (resumed,) = stored(store).items()
    uninterrupted = stored(smoke[2])
    assert resumed[1] == uninterrupted[resumed[0]]  # the same weights, bit for bit, and the same accuracies


def test_command_line_retries_a_dead_kernel_a_bounded_number_of_times(local_ray, tmp_path):
    """`rethinkkit run --engine ray` starts its own local instance; a kernel that kills itself on
    every attempt fails after 1 + --retries attempts, the other job runs through."""
    tiny_project(tmp_path)
    done = guarded([SCRIPT, "run", "tiny", "--profile", "tiny", "-g", "die", "[true, false]",
                    "--engine", "ray", "--retries", "1", "--store", str(tmp_path / "store")], tmp_path)
    out = tmp_path / "runs" / "tiny"
    assert done.returncode == 2, done.stdout + done.stderr + ray_logs()
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
