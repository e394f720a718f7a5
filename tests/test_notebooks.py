"""Every notebook runs under the smoke profile: through the README's main-job command
(papermill), and under nbval (--nbval-lax) on papermill-prepared copies."""
import json
import os
import subprocess
import sys
from pathlib import Path

import papermill
import pytest

from rethinkkit import batch

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
pytestmark = pytest.mark.notebooks


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory):
    """One store for the module: nbval re-uses the runs the papermill pass stored."""
    return tmp_path_factory.mktemp("store")


def test_there_are_notebooks():
    assert {p.stem for p in NOTEBOOKS} >= {"00_quickstart", "03_methodology", "04_1_l1_norm", "D_extended_finetuning", "E_extended_schedule"}


def test_main_job_runs_every_notebook_with_papermill(tmp_path, shared_store):
    out = tmp_path / "executed"
    script = Path(sys.executable).parent / "rethinkkit"  # the README's console command
    cmd = [str(script), "run", *[p.stem for p in NOTEBOOKS],
           "--profile", "smoke", "--output", str(out), "--store", str(shared_store)]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "run store" in done.stdout and str(out) in done.stdout
    for nb in NOTEBOOKS:
        executed = json.loads((out / nb.name).read_text())
        errors = [o for c in executed["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
        assert not errors
        assert any(c["metadata"].get("tags") == ["injected-parameters"] for c in executed["cells"])
    quick = json.loads((out / "00_quickstart.ipynb").read_text())
    images = [o for c in quick["cells"] for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert images, "the quickstart shows its learning curve"
    assert list(shared_store.glob("*/seed0/result.parquet")), "the quickstart stored its run"


def test_nbval_on_papermill_prepared_copies(tmp_path, shared_store):
    prepared = []
    for job in batch.plan([p.stem for p in NOTEBOOKS], "smoke", output_dir=tmp_path):
        papermill.execute_notebook(str(job.notebook), str(job.output), parameters=job.parameters,
                                   prepare_only=True, progress_bar=False)
        prepared.append(str(job.output))
    env = {**os.environ, "RETHINKKIT_STORE": str(shared_store), "RETHINKKIT_QUIET": "1"}
    done = subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "-q", "-p", "no:cacheprovider", *prepared],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in done.stdout
