"""Seeds trained together (`rethinkkit.together`) against each seed trained alone by `train()`.

The stated tolerance: from the same state, one step of the stacked model and one step of the
model alone agree within 1e-4 in the weights (float32 rounding of a step at the paper's lr 0.1;
seen: ~1e-5) and 1e-3 in SGD's momentum (gradients, not scaled by the lr).
Whole runs are not compared at a tolerance, because BN networks amplify any reassociation
(changing the thread count alone moves a 12-step run by ~5e-2): each epoch below is one step,
started from the solo run's own checkpoint, so every epoch is a one-step comparison. The bound
is ResNet-20's: a deep plain stack is touchier (a half-width VGG-16's momentum after two steps
moves by 2e-2 when only the thread count changes), so it is not a bound for every model."""
import dataclasses
import shutil

import pytest
import torch

import rethinkkit as rk
from rethinkkit.config import Recipe
from rethinkkit.together import TOGETHER_ENV, train_together, unsupported, wanted
from rethinkkit.train import BNL1Penalty, load_checkpoint, previous, train

ATOL = 1e-4
# SGD's momentum holds gradients, which the lr does not scale down: a weight 1e-5 off after a step at
# lr 0.1 is a gradient 1e-4 off (seen: up to 1.0e-4 on a momentum of magnitude ~0.06)
MOMENTUM_ATOL = 1e-3
SEEDS = (0, 3)
RECIPE = Recipe(epochs=2, milestones=(0.5,))  # epoch 1 at lr 0.1, epoch 2 at 0.01, momentum carried over


def build(seed, model="resnet20", **options):
    torch.manual_seed(seed)
    return rk.models.build(model, cfg=rk.models.uniform_cfg(model, 0.5), num_classes=10, in_channels=1, **options)


@pytest.fixture(scope="module")
def one_step(mini):
    """64 images at batch 64: each epoch is one step."""
    return mini.subset(n_train=64, n_test=100, seed=0)


def max_diff(a: dict, b: dict) -> float:
    return max((a[k].double() - b[k].double()).abs().max().item() for k in a)


def solo(seed, data, folder, model):
    """Seed `seed` alone for RECIPE: its checkpoint after epoch 1 (kept as `.prev`) and after epoch 2."""
    path = folder / f"solo{seed}.pt"
    train(build(seed, model), data, RECIPE, seed=seed, checkpoint=path, progress=False)
    return [torch.load(p, weights_only=True) for p in (previous(path), path)]


def test_each_epoch_matches_the_seed_trained_alone(one_step, tmp_path, model="resnet20"):
    alone = {s: solo(s, one_step, tmp_path, model) for s in SEEDS}
    # epoch 1 from each seed's own initialisation
    models = [build(s, model) for s in SEEDS]
    train_together(models, one_step, Recipe(epochs=1, milestones=()), seeds=SEEDS, progress=False)
    for s, m in zip(SEEDS, models):
        assert max_diff(m.state_dict(), alone[s][0]["model"]) < ATOL, s
    # epoch 2 (lr dropped, momentum carried) resumed from the solo run's own epoch-1 checkpoint
    paths = []
    for s in SEEDS:
        paths.append(tmp_path / f"together{s}.pt")
        shutil.copy(previous(tmp_path / f"solo{s}.pt"), paths[-1])
    models = [build(s, model) for s in SEEDS]
    results = train_together(models, one_step, RECIPE, seeds=SEEDS, checkpoints=paths, progress=False)
    for s, m, result in zip(SEEDS, models, results):
        assert max_diff(m.state_dict(), alone[s][1]["model"]) < ATOL, s
        assert [row["lr"] for row in result.history] == pytest.approx([0.1, 0.01])
        assert result.history[-1]["test_top1"] == pytest.approx(alone[s][1]["history"][-1]["test_top1"], abs=2.0)
        saved = torch.load(tmp_path / f"together{s}.pt", weights_only=True)
        assert saved["seed"] == s and saved["epoch"] == 2 and saved["hooks"] == []
        momentum = saved["optimizer"]["state"][0]["momentum_buffer"]
        assert (momentum.double() - alone[s][1]["optimizer"]["state"][0]["momentum_buffer"].double()).abs().max() < MOMENTUM_ATOL


def test_the_seeds_differ_as_alone(one_step):
    """Seed k's batches, augmentation and initialisation are seed k's, not a shared one."""
    models = [build(s) for s in SEEDS]
    train_together(models, one_step, Recipe(epochs=1, milestones=()), seeds=SEEDS, progress=False)
    assert max_diff(models[0].state_dict(), models[1].state_dict()) > 1e-2


def test_resumed_together_equals_uninterrupted(tiny, tmp_path):
    recipe = Recipe(epochs=2, milestones=(0.5,))
    paths = [tmp_path / f"s{s}.pt" for s in SEEDS]
    straight = [build(s) for s in SEEDS]
    train_together(straight, tiny, recipe, seeds=SEEDS, checkpoints=paths, progress=False)
    for p in paths:  # back to the epoch-1 checkpoints, as after a kill during epoch 2
        shutil.copy(previous(p), p)
    resumed = [build(s) for s in SEEDS]
    results = train_together(resumed, tiny, recipe, seeds=SEEDS, checkpoints=paths, progress=False)
    for a, b in zip(straight, resumed):
        assert max_diff(a.state_dict(), b.state_dict()) == 0.0
    assert [len(r.history) for r in results] == [2, 2]


def test_a_together_checkpoint_resumes_alone(tiny, tmp_path):
    paths = [tmp_path / f"s{s}.pt" for s in SEEDS]
    train_together([build(s) for s in SEEDS], tiny, Recipe(epochs=1, milestones=()), seeds=SEEDS,
                   checkpoints=paths, progress=False)
    model = build(SEEDS[1])
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    state = load_checkpoint(paths[1], model, optimizer, "cpu")
    assert state["epoch"] == 1 and state["seed"] == SEEDS[1]
    result = train(model, tiny, Recipe(epochs=2, milestones=()), seed=SEEDS[1], checkpoint=paths[1], progress=False)
    assert [row["epoch"] for row in result.history] == [1, 2]


def test_what_cannot_train_together(tiny, tmp_path):
    with pytest.raises(ValueError, match="differ in architecture"):
        train_together([build(0), rk.models.build("resnet20", num_classes=10, in_channels=1)], tiny, seeds=[0, 1])
    with pytest.raises(ValueError, match="repeat"):
        train_together([build(0), build(0)], tiny, seeds=[0, 0])
    with pytest.raises(ValueError, match="one seed per model"):
        train_together([build(0)], tiny, seeds=[0, 1])
    assert "hooks" in unsupported(build(0), (BNL1Penalty(),))
    assert unsupported(build(0)) is None
    assert "dropout" in unsupported(torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Dropout()))  # ImageNet VGGs
    # checkpoints at different epochs cannot resume together
    paths = [tmp_path / "a.pt", tmp_path / "b.pt"]
    train(build(0), tiny, Recipe(epochs=1, milestones=()), seed=0, checkpoint=paths[0], progress=False)
    with pytest.raises(ValueError, match="different epochs"):
        train_together([build(0), build(1)], tiny, Recipe(epochs=2, milestones=()), seeds=[0, 1],
                       checkpoints=paths, progress=False)


def test_when_it_is_wanted(monkeypatch):
    monkeypatch.delenv(TOGETHER_ENV, raising=False)
    assert not wanted("cpu") and wanted("cuda")  # measured slower on a 2-core CPU: CUDA only by default
    monkeypatch.setenv(TOGETHER_ENV, "1")
    assert wanted("cpu")
    monkeypatch.setenv(TOGETHER_ENV, "0")
    assert not wanted("cuda")
    monkeypatch.setenv(TOGETHER_ENV, "sometimes")
    with pytest.raises(ValueError, match="auto .*1 .*0"):
        wanted("cpu")


# --- through the store: what the pipeline calls ----------------------------------------------

SPEC = rk.config.RunSpec(dataset="fashion-mnist-mini", model="resnet20", cfg=[4] * 3 + [8] * 3 + [16] * 3,
                         recipe=Recipe(epochs=2, milestones=(0.5,)), train_subset=128, test_subset=100)


def counting(monkeypatch):
    calls = []
    real = rk.together.train_together

    def spy(models, data, recipe, *, seeds, **kwargs):
        calls.append(list(seeds))
        return real(models, data, recipe, seeds=seeds, **kwargs)

    monkeypatch.setattr(rk.together, "train_together", spy)
    return calls


def test_the_store_trains_missing_seeds_together(store, mini, monkeypatch):
    monkeypatch.setenv(TOGETHER_ENV, "1")
    calls = counting(monkeypatch)
    store.get_or_run(SPEC, 1, data=mini)  # one seed already done: only the others are missing
    runs = store.get_or_run_seeds(SPEC, [0, 1, 2], data=mini, progress=False)
    assert calls == [[0, 2]]
    assert [r.seed for r in runs] == [0, 1, 2] and all(store.status(SPEC, s) == "done" for s in (0, 1, 2))
    for run in runs:
        assert list(run.history["epoch"]) == [1, 2] and set(run.history["seed"]) == {run.seed}
        assert not (run.path / "checkpoint.pt").exists()
        store.initial_model(SPEC, run.seed, mini.subset(n_train=128, n_test=100))  # its start, rebuilt and checked
    assert store.get_or_run_seeds(SPEC, [0, 1, 2], data=mini) and calls == [[0, 2]]  # nothing trains again


def test_the_store_trains_seeds_alone_where_not_wanted(store, mini, monkeypatch):
    monkeypatch.setenv(TOGETHER_ENV, "0")
    calls = counting(monkeypatch)
    runs = store.get_or_run_seeds(SPEC, [0, 1], data=mini, progress=False)
    assert calls == [] and [r.seed for r in runs] == [0, 1]
    monkeypatch.setenv(TOGETHER_ENV, "1")
    hooked = dataclasses.replace(SPEC, hooks=(BNL1Penalty(),))
    store.get_or_run_seeds(hooked, [0, 1], data=mini, progress=False)
    assert calls == []  # hooks act on one model: each seed alone


def test_the_pipeline_trains_seeds_together_with_the_same_runs_and_rows(mini, tmp_path, monkeypatch):
    """Large models, fine-tuning and Scratch-E of a predefined target: each of them for seeds 0
    and 1 trains as one stacked model, and the table is the one seed-by-seed training gives
    (same runs, keys, epochs, rows in the same order)."""
    protocol = rk.pipeline.Protocol("fashion-mnist-mini", epochs=2, finetune_epochs=1, train_subset=64, test_subset=100)
    target, strategies = rk.pipeline.uniform("resnet20", 0.5), ["fine-tune", "scratch-e"]
    tables = {}
    for choice in ("0", "1"):
        monkeypatch.setenv(TOGETHER_ENV, choice)
        calls = counting(monkeypatch)
        tables[choice] = rk.pipeline.run(protocol, [target], seeds=[0, 1], strategies=strategies, data=mini,
                                         store=tmp_path / choice, progress=False)
        assert calls == ([] if choice == "0" else [[0, 1]] * 3)
    columns = ["config", "strategy", "seed", "epochs", "key", "init", "params", "macs"]
    assert tables["1"][columns].equals(tables["0"][columns])
