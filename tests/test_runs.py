import dataclasses
import json
import textwrap

import pandas as pd
import pytest
import torch

import rethinkkit as rk
from rethinkkit.config import Recipe, RunSpec

from killing import checkpoint_epoch, sigkill_after_checkpoint

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
    sigkill_after_checkpoint(script, killed.root, checkpoint)
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



DIVERGES = RunSpec(dataset="fashion-mnist-mini", model="resnet20", cfg=[4] * 3 + [8] * 3 + [16] * 3,
                   recipe=Recipe(epochs=2, lr=1e6), train_subset=256)


def test_a_diverged_run_is_never_stored_and_leaves_nothing_behind(store, mini):
    """lr 1e6 blows the loss up in the first epoch: the error says what to change, and no
    spec.json, lock or folder stays behind to look like a run."""
    for _ in range(2):  # and the second call fails the same way, it is not served from the store
        with pytest.raises(rk.train.TrainingDiverged, match=r"epoch 1 of 2 at lr 1e\+06: .*Lower the learning rate"):
            store.get_or_run(DIVERGES, 0, data=mini)
        assert store.status(DIVERGES, 0) == "new"
        assert not (store.root / DIVERGES.key()).exists()


def test_a_failed_run_keeps_its_checkpoint_and_other_seeds_keep_the_spec(store, mini, monkeypatch):
    finished = store.get_or_run(SPEC, 0, data=mini)
    calls = []

    def interrupted(*args, **kwargs):
        calls.append(1)
        raise KeyboardInterrupt

    monkeypatch.setattr(rk.runs, "train", interrupted)
    with pytest.raises(KeyboardInterrupt):
        store.get_or_run(SPEC, 1, data=mini)
    assert calls and not store.run_dir(SPEC, 1).exists()
    assert (store.root / SPEC.key() / "spec.json").exists() and finished.final_top1 >= 0


def test_a_truncated_checkpoint_is_moved_aside_and_the_previous_one_used(store, mini):
    spec = dataclasses.replace(SPEC, recipe=Recipe(epochs=3))
    folder = store.run_dir(spec, 0)
    straight = rk.runs.Store(store.root.parent / "straight").get_or_run(spec, 0, data=mini)

    # stop after epoch 2 (a hook the spec does not name), then damage the latest checkpoint
    class StopAfterTwo(rk.train.Hook):
        def on_epoch_end(self, model, epoch):
            if epoch == 2:
                raise KeyboardInterrupt

    real = rk.train.train
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(rk.runs, "train", lambda *a, **k: real(*a, **{**k, "hooks": (StopAfterTwo(),)}))
        with pytest.raises(KeyboardInterrupt):
            store.get_or_run(spec, 0, data=mini)
    checkpoint = folder / "checkpoint.pt"
    assert checkpoint_epoch(checkpoint) == 2 and checkpoint_epoch(folder / "checkpoint.prev.pt") == 1
    checkpoint.write_bytes(checkpoint.read_bytes()[:1000])

    with pytest.warns(rk.files.CorruptFile, match=r"checkpoint\.pt cannot be read.*moved to checkpoint\.pt\.corrupt-.*previous checkpoint"):
        resumed = store.get_or_run(spec, 0, data=mini)
    assert list(folder.glob("checkpoint.pt.corrupt-*"))  # kept for inspection, not deleted
    assert resumed.history["test_top1"].tolist() == straight.history["test_top1"].tolist()  # from epoch 1: exact


def test_an_unreadable_checkpoint_with_no_predecessor_restarts_from_scratch(store, mini):
    folder = store.run_dir(SPEC, 0)
    folder.mkdir(parents=True)
    (folder / "checkpoint.pt").write_bytes(b"not a checkpoint")
    assert store.status(SPEC, 0) == "partial"
    with pytest.warns(rk.files.CorruptFile, match="continues from scratch"):
        run = store.get_or_run(SPEC, 0, data=mini)
    assert list(run.history["epoch"]) == [1, 2]


@pytest.mark.parametrize("damage", ["edit", "truncate", "other run"])
def test_an_edited_or_truncated_result_is_detected_and_the_run_redone(store, mini, damage):
    run = store.get_or_run(SPEC, 0, data=mini)
    accuracies = run.history["test_top1"].tolist()
    result = run.path / "result.parquet"
    if damage == "edit":
        history = pd.read_parquet(result)
        history.loc[1, "test_top1"] = 99.0
        history.to_parquet(result, index=False)
    elif damage == "truncate":
        result.write_bytes(result.read_bytes()[:200])
    else:  # a result that is valid but belongs to another run (two seeds' files swapped)
        other = store.get_or_run(SPEC, 1, data=mini)
        result.write_bytes((other.path / "result.parquet").read_bytes())
        (run.path / "result.sha256").unlink()
    with pytest.warns(rk.files.CorruptFile):
        assert rk.report.results(store=store)["seed"].tolist() in ([], [1])  # left out of reports
    with pytest.warns(rk.files.CorruptFile, match="cannot be (used|read).*trained again"):
        assert store.status(SPEC, 0) == "new"
    assert list(run.path.glob("result.parquet.corrupt-*"))
    again = store.get_or_run(SPEC, 0, data=mini)
    assert again.history["test_top1"].tolist() == accuracies
