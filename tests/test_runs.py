import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pandas as pd
import pytest
import torch

import rethinkkit as rk
from rethinkkit.config import Recipe, RunSpec

SPEC = RunSpec(
    dataset="fashion-mnist-mini",
    model="resnet20",
    cfg=[4] * 3 + [8] * 3 + [16] * 3,
    recipe=Recipe(epochs=2),
    train_subset=256,
)


def test_get_or_run_trains_once_and_writes_one_result(store, mini, monkeypatch):
    run = store.get_or_run(SPEC, 0, data=mini)
    assert store.status(SPEC, 0) == "done"
    assert run.key == f"{SPEC.key()}/seed0"
    files = store.result_files()
    assert files == [store.run_dir(SPEC, 0) / "result.parquet"]
    history = pd.read_parquet(files[0])
    assert list(history["epoch"]) == [1, 2]
    assert set(rk.runs.RUN_COLUMNS) <= set(history.columns)
    assert set(history["key"]) == {SPEC.key()} and set(history["train_images"]) == {256}
    assert run.params > 0 and run.macs > 0
    assert not (store.run_dir(SPEC, 0) / "checkpoint.pt").exists()
    spec_json = json.loads((store.root / SPEC.key() / "spec.json").read_text())
    assert spec_json["key"] == SPEC.key() and spec_json["model"] == "resnet20"

    monkeypatch.setattr(rk.runs, "train", lambda *a, **k: pytest.fail("a finished run was trained again"))
    again = store.get_or_run(SPEC, 0, data=mini)
    assert again.final_top1 == run.final_top1
    model = again.load_model()
    assert rk.train.evaluate(model, mini)["test_top1"] == pytest.approx(run.final_top1)


def test_seeds_are_separate_runs(store, mini):
    a, b = store.get_or_run(SPEC, 0, data=mini), store.get_or_run(SPEC, 1, data=mini)
    assert a.path != b.path
    table = rk.report.results(store=store)
    assert sorted(table["seed"]) == [0, 1]
    summary = rk.report.summarize(table, by=["model"])
    assert summary.loc[0, "n"] == 2 and "±" in summary.loc[0, "text"]


def test_bad_requests_are_explained(store, mini):
    with pytest.raises(ValueError, match="initial="):
        store.get_or_run(RunSpec("fashion-mnist-mini", "resnet20", init="parent abc"), 0)
    with pytest.raises(ValueError, match="seed"):
        store.get_or_run(SPEC, -1)
    with pytest.raises(ValueError, match="trains on"):
        store.get_or_run(RunSpec("cifar10", "resnet20"), 0, data=mini)


def test_inherited_weights_via_initial(store, mini):
    parent = store.get_or_run(SPEC, 0, data=mini)
    calls = []

    def initial():
        calls.append(1)
        return parent.state_dict()

    child_spec = RunSpec(SPEC.dataset, SPEC.model, cfg=SPEC.cfg, recipe=Recipe(epochs=1, lr=1e-12, milestones=()),
                         train_subset=256, init=f"finetune {parent.key}")
    assert child_spec.key() != RunSpec(SPEC.dataset, SPEC.model, cfg=SPEC.cfg, recipe=child_spec.recipe,
                                       train_subset=256).key()
    child = store.get_or_run(child_spec, 0, data=mini, initial=initial)
    store.get_or_run(child_spec, 0, data=mini, initial=initial)
    assert calls == [1]  # only a fresh start asks for the initial weights
    inherited, started = child.state_dict(), parent.state_dict()
    for name, weight in started.items():
        if name.endswith(".weight") and weight.dim() == 4:  # convs: a vanishing lr keeps them
            assert torch.allclose(inherited[name], weight, atol=1e-8), name


RUNNER = textwrap.dedent(
    """
    import sys
    import rethinkkit as rk
    from rethinkkit.config import Recipe, RunSpec
    spec = RunSpec(dataset="fashion-mnist-mini", model="resnet20", cfg=[4] * 3 + [8] * 3 + [16] * 3,
                   recipe=Recipe(epochs=EPOCHS), train_subset=512)
    rk.runs.Store(sys.argv[1]).get_or_run(spec, 3, device="cpu", progress=False)
    """
)


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_weights(tmp_path):
    """SIGKILL a run after its 2nd checkpoint, resume it, and compare with an uninterrupted run."""
    epochs = 6
    spec = RunSpec(dataset="fashion-mnist-mini", model="resnet20", cfg=[4] * 3 + [8] * 3 + [16] * 3,
                   recipe=Recipe(epochs=epochs), train_subset=512)
    script = tmp_path / "runner.py"
    script.write_text(RUNNER.replace("EPOCHS", str(epochs)))
    killed = rk.runs.Store(tmp_path / "killed")
    checkpoint = killed.run_dir(spec, 3) / "checkpoint.pt"
    proc = subprocess.Popen([sys.executable, str(script), str(killed.root)], env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.time() + 300
    try:
        while time.time() < deadline:
            if checkpoint.exists() and torch.load(checkpoint, weights_only=False)["epoch"] >= 2:
                break
            assert proc.poll() is None, "the runner exited before it could be killed"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert killed.status(spec, 3) == "partial", "the kill did not land mid-run"
    done_before = torch.load(checkpoint, weights_only=False)["epoch"]
    assert 2 <= done_before < epochs

    torch.set_num_threads(1)
    resumed = killed.get_or_run(spec, 3, device="cpu")
    straight = rk.runs.Store(tmp_path / "straight").get_or_run(spec, 3, device="cpu")
    assert list(resumed.history["epoch"]) == list(range(1, epochs + 1))
    for (name, a), b in zip(resumed.state_dict().items(), straight.state_dict().values()):
        assert torch.equal(a, b), f"{name} differs after resume"
    assert resumed.history["test_top1"].tolist() == straight.history["test_top1"].tolist()
