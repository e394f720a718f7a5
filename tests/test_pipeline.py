"""The protocol: large -> prune -> strategies, every run cached in the store."""
import dataclasses

import pytest
import torch

import rethinkkit as rk
from rethinkkit import pipeline

TARGET = pipeline.uniform("resnet20", 0.5)


@pytest.fixture(scope="module")
def protocol():
    return pipeline.Protocol("fashion-mnist-mini", epochs=2, finetune_epochs=1, train_subset=128, test_subset=100)


@pytest.fixture(scope="module")
def table(mini, protocol, tmp_path_factory):
    store = rk.runs.Store(tmp_path_factory.mktemp("store"))
    torch.set_num_threads(1)
    return store, pipeline.run(protocol, [TARGET], seeds=[0, 1], data=mini, store=store, progress=False)


def test_one_row_per_run_with_every_strategy(table):
    _, df = table
    assert len(df) == 2 * 5
    assert sorted(df["strategy"].unique()) == sorted(["unpruned", "fine-tune", "scratch-e", "scratch-b",
                                                      "fine-tune-restart"])
    assert set(df["seed"]) == {0, 1}
    assert (df.loc[df.strategy == "unpruned", "config"] == "resnet20").all()
    assert (df.loc[df.strategy != "unpruned", "config"] == TARGET.name).all()
    pruned = df[df.strategy == "scratch-e"].iloc[0]
    assert pruned["params"] < df[df.strategy == "unpruned"].iloc[0]["params"]


def test_epochs_follow_the_protocol_and_the_budget_rule(table, protocol):
    _, df = table
    epochs = df.groupby("strategy")["epochs"].first()
    base = df[df.strategy == "unpruned"].iloc[0]
    pruned = df[df.strategy == "scratch-b"].iloc[0]
    assert epochs["unpruned"] == epochs["scratch-e"] == epochs["fine-tune-restart"] == 2
    assert epochs["fine-tune"] == 1
    assert epochs["scratch-b"] == rk.budget.scratch_b(base["macs"], pruned["macs"], protocol.large_recipe).epochs
    assert epochs["scratch-b"] == int(2 * base["macs"] / pruned["macs"]) > 2


def test_inheriting_runs_name_their_origin_and_share_a_key_across_seeds(table):
    _, df = table
    ft = df[df.strategy == "fine-tune"]
    parent = df[df.strategy == "unpruned"]["key"].iloc[0].split("/")[0]
    assert ft["init"].str.startswith(parent + "|l1-norm|").all()
    assert ft["key"].str.split("/").str[0].nunique() == 1  # seed s inherits from the large model's seed s
    assert (df[df.strategy == "scratch-e"]["init"] == "scratch").all()


def test_a_shared_large_model_is_one_row_per_seed(table, protocol, mini):
    store, _ = table
    both = pipeline.run(protocol, [TARGET, pipeline.uniform("resnet20", 0.25)], seeds=[0, 1], data=mini,
                        store=store, strategies=["scratch-e"], progress=False)
    assert len(both[both.strategy == "unpruned"]) == 2
    assert list(both["config"]) == ["resnet20", TARGET.name, "resnet20", TARGET.name,
                                    "resnet20-uniform-0.25", "resnet20-uniform-0.25"]


def test_rerunning_trains_nothing(table, protocol, mini, monkeypatch):
    store, df = table

    def refuse(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(rk.runs, "train", refuse)
    again = pipeline.run(protocol, [TARGET], seeds=[0, 1], data=mini, store=store, progress=False)
    assert again.equals(df)


def test_a_missing_run_is_trained_alone(table, protocol, mini, monkeypatch):
    store, df = table
    row = df[(df.strategy == "fine-tune") & (df.seed == 1)].iloc[0]
    (store.root / row["key"] / "result.parquet").unlink()
    calls = []
    real = rk.runs.train
    monkeypatch.setattr(rk.runs, "train", lambda *a, **k: calls.append(1) or real(*a, **k))
    again = pipeline.run(protocol, [TARGET], seeds=[0, 1], data=mini, store=store, progress=False)
    assert len(calls) == 1
    assert again.loc[again.key == row["key"], "final_top1"].iloc[0] == pytest.approx(row["final_top1"])


def test_fine_tuning_starts_from_the_pruned_large_model(mini, tmp_path, one_thread):
    """With a learning rate of 1e-12 the fine-tuned weights stay where they started: the
    large model's kept filters."""
    still = rk.Recipe(epochs=1, lr=1e-12, milestones=(), weight_decay=0.0, momentum=0.0)
    protocol = pipeline.Protocol("fashion-mnist-mini", epochs=1, finetune_epochs=1, train_subset=64,
                                 test_subset=50, finetune=still)
    store = rk.runs.Store(tmp_path)
    df = pipeline.run(protocol, [TARGET], seeds=[0], strategies=["fine-tune"], data=mini, store=store, progress=False)
    large_key, tuned_key = df["key"]
    large = rk.runs.Run(pipeline.large_spec(protocol, "resnet20"), 0, store.root / large_key)
    expected = rk.pruning.prune("l1-norm", large.load_model(), TARGET.spec).model.state_dict()
    tuned = torch.load(store.root / tuned_key / "model.pt", weights_only=True)
    for name, value in expected.items():
        if name.endswith("weight") and value.dim() == 4:
            assert torch.allclose(tuned[name], value, atol=1e-9), name


def test_strategies_by_name():
    assert pipeline.strategy("scratch-b").schedule == "budget"
    ft160 = pipeline.strategy("fine-tune-160")
    assert ft160.inherit and ft160.factor == 4
    protocol = pipeline.Protocol("cifar10", epochs=8, finetune_epochs=2)
    assert ft160.recipe(protocol, 2.0, 1.0).epochs == 8 and ft160.recipe(protocol, 2.0, 1.0).lr == 0.001
    assert pipeline.strategy("scratch-b").recipe(protocol, 2.0, 1.0).epochs == 16
    with pytest.raises(ValueError, match="unknown strategy"):
        pipeline.strategy("scratch-z")
    with pytest.raises(ValueError, match="multiple of 40"):
        pipeline.fine_tune(50)


def test_protocol_defaults_are_the_papers():
    cifar = pipeline.Protocol("cifar10")
    assert cifar.large_recipe == rk.Recipe() and cifar.finetune_recipe() == rk.FINETUNE_CIFAR
    assert cifar.finetune_recipe("network-slimming") == rk.FINETUNE_CIFAR  # both methods: 40 epochs at 0.001
    imagenet = pipeline.Protocol.imagenet()
    assert imagenet.large_recipe == rk.IMAGENET and imagenet.rule == "imagenet"
    assert imagenet.finetune_recipe().epochs == 20 and imagenet.finetune_recipe().lr == 0.001  # Li et al.
    assert imagenet.finetune_recipe("network-slimming").epochs == 5  # the original slimming code
    assert pipeline.protocol("cifar10", finetune_epochs=10).finetune_recipe("network-slimming").epochs == 10
    with pytest.raises(ValueError, match="positive number of epochs"):
        pipeline.Protocol("cifar10", epochs=0)
    with pytest.raises(ValueError, match="width"):
        pipeline.Protocol("cifar10", width=0.01)
    with pytest.raises(ValueError, match="budget rule"):
        pipeline.Protocol("cifar10", rule="mnist")
    with pytest.raises(ValueError, match="seeds must be a non-empty list"):
        pipeline.run(cifar, [TARGET], seeds=[], data=object())
    assert dataclasses.replace(cifar, epochs=300).large_recipe.milestone_epochs == (150, 225)


def test_the_refactored_hand_off_keeps_every_stored_run_key():
    """The method-neutral pipeline names the runs of docs/results/table1_fashion_mnist_cpu.csv
    (trained before it existed) exactly as they were named then, so the Table 1/16/17 notebooks
    load the same runs from the same store. Checked without training: the keys depend only on
    the specs, and L1-norm's targets are fixed cfgs."""
    import pandas as pd

    from rethinkkit.paths import project_root

    stored = pd.read_csv(project_root() / "docs" / "results" / "table1_fashion_mnist_cpu.csv")
    protocol = pipeline.protocol("fashion-mnist", epochs=12, finetune_epochs=3, train_subset=1000, test_subset=1000)
    checked = 0
    for config, rows in stored[stored.strategy != "unpruned"].groupby("config"):
        t = pipeline.target(config)
        parent = pipeline.parent_spec(protocol, t)
        base = stored[(stored.config == t.model) & (stored.strategy == "unpruned")].iloc[0]
        assert f"{parent.key()}/seed0" == base["key"]
        torch.manual_seed(0)
        pruned = rk.pruning.prune(t.method, rk.models.build(t.model, in_channels=1), t.spec, input_shape=(1, 32, 32))
        assert pruned.macs == rows["macs"].iloc[0]
        for name, row in rows.groupby("strategy"):
            spec = pipeline.child_spec(parent, pruned, t, pipeline.strategy(name), protocol, base["macs"])
            assert {f"{spec.key()}/seed{s}" for s in row["seed"]} == set(row["key"]), (config, name)
            checked += 1
    assert checked == 3 * 4  # VGG-16-A, ResNet-56-A/B x fine-tune, Scratch-E/B, fine-tune-restart
