"""Every notebook executes once per test run, under the smoke profile and one shared store:
`00_quickstart` through the README's main-job command (papermill via the console script),
every other notebook under nbval (--nbval-lax) on papermill-prepared copies. No test here has
a time limit: a busy machine only makes them slower."""
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import papermill
import pytest

from rethinkkit import batch

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
MAIN = "00_quickstart"  # the README's main job executes this one
pytestmark = pytest.mark.notebooks


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory):
    return tmp_path_factory.mktemp("store")


def test_there_are_notebooks():
    assert {p.stem for p in NOTEBOOKS} >= {MAIN, "03_methodology", "04_1_l1_norm", "D_extended_finetuning", "E_extended_schedule"}


def main_job() -> list[str]:
    """The command under the README's "The main job" heading."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## The main job", 1)[1]
    command = re.search(r"```bash\n(.*?)\n```", section, re.S).group(1).strip()
    assert command == f".venv/bin/rethinkkit run {MAIN} --profile smoke", command
    return shlex.split(command)


def test_readme_main_job_executes_the_quickstart(tmp_path, shared_store):
    out = tmp_path / "executed"
    command = main_job()
    command[0] = str(Path(sys.executable).parent / "rethinkkit")  # the venv running the tests
    sockets = set((ROOT / "notebooks").glob("kernel-ipc*"))
    done = subprocess.run([*command, "--output", str(out), "--store", str(shared_store)],
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert set((ROOT / "notebooks").glob("kernel-ipc*")) == sockets, "the kernel's sockets were left in notebooks/"
    assert "run store" in done.stdout and str(out) in done.stdout
    assert "Traceback" not in done.stderr and "without encryption" not in done.stderr
    executed = json.loads((out / f"{MAIN}.ipynb").read_text())
    errors = [o for c in executed["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    assert any(c["metadata"].get("tags") == ["injected-parameters"] for c in executed["cells"])
    images = [o for c in executed["cells"] for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert images, "the quickstart shows its learning curve"
    assert list(shared_store.glob("*/seed0/result.parquet")), "the quickstart stored its run"


def test_every_other_notebook_under_nbval(tmp_path, shared_store):
    others = [p.stem for p in NOTEBOOKS if p.stem != MAIN]
    prepared = []
    for job in batch.plan(others, "smoke", output_dir=tmp_path):
        papermill.execute_notebook(str(job.notebook), str(job.output), parameters=job.parameters,
                                   prepare_only=True, progress_bar=False)
        prepared.append(str(job.output))
    env = {**os.environ, "RETHINKKIT_STORE": str(shared_store), "RETHINKKIT_QUIET": "1"}
    no_limit = ["--nbval-cell-timeout", "86400", "--nbval-kernel-startup-timeout", str(batch.KERNEL_START_SECONDS)]
    done = subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", *no_limit, "-q", "-p", "no:cacheprovider",
                           *prepared], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert re.search(r"\b\d+ passed", done.stdout) and " failed" not in done.stdout
