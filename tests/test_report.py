import math

import matplotlib

matplotlib.use("Agg")
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import rethinkkit as rk  # noqa: E402
from rethinkkit.config import Recipe, RunSpec  # noqa: E402


@pytest.fixture(scope="module")
def two_seeds(tmp_path_factory, mini):
    store = rk.runs.Store(tmp_path_factory.mktemp("store"))
    spec = RunSpec("fashion-mnist-mini", "resnet20", cfg=[4] * 3 + [8] * 3 + [16] * 3, recipe=Recipe(epochs=2),
                   train_subset=256)
    return store, [store.get_or_run(spec, seed, data=mini) for seed in (0, 1)]


def test_results_one_row_per_run_with_final_and_best(two_seeds):
    store, runs = two_seeds
    table = rk.report.results(store=store)
    assert len(table) == 2 and sorted(table["seed"]) == [0, 1]
    for run in runs:
        row = table[table["seed"] == run.seed].iloc[0]
        assert row["final_top1"] == run.history["test_top1"].iloc[-1]
        assert row["best_top1"] == run.history["test_top1"].max() >= row["final_top1"]
        assert row["epochs"] == 2 and row["params"] == run.params
    from_runs = rk.report.results(runs).sort_values("seed").reset_index(drop=True)
    pd.testing.assert_frame_equal(from_runs, table.sort_values("seed").reset_index(drop=True))


def test_history_is_tidy(two_seeds):
    _, runs = two_seeds
    epochs = rk.report.history(runs)
    assert len(epochs) == 4 and {"epoch", "seed", "test_top1", "train_loss", "lr"} <= set(epochs)


def test_summarize_mean_std_n(two_seeds):
    _, runs = two_seeds
    table = rk.report.results(runs)
    summary = rk.report.summarize(table, by=["model"])
    assert summary.loc[0, "n"] == 2
    assert summary.loc[0, "mean"] == pytest.approx(table["final_top1"].mean())
    assert summary.loc[0, "std"] == pytest.approx(table["final_top1"].std(ddof=1))
    with pytest.raises(KeyError, match="no column"):
        rk.report.summarize(table, by=["model"], metric="top5")


def test_mean_std_text():
    assert rk.report.mean_std(93.141, 0.123, 5) == "93.14 ± 0.12 (n=5)"
    assert rk.report.mean_std(93.141, math.nan, 1) == "93.14 (n=1)"


def test_plot_history(two_seeds):
    _, runs = two_seeds
    ax = rk.report.plot_history(rk.report.history(runs))
    assert ax.get_ylabel() == "top-1 (%)" and ax.lines
    with pytest.raises(ValueError, match="empty"):
        rk.report.plot_history(pd.DataFrame(columns=["epoch", "seed", "test_top1", "train_top1"]))


def test_empty_store_gives_empty_tables(tmp_path):
    assert rk.report.results(store=tmp_path).empty


def test_architecture_uniform_ratio():
    row = rk.report.architecture("resnet56", 0.5)
    assert row["cfg"] == [8] * 9 + [16] * 9 + [32] * 9
    assert 0 < row["macs_pruned_pct"] < 50 and row["base_macs"] == rk.flops.count(rk.models.build("resnet56")).macs
    assert rk.report.architecture("resnet56", 0.0)["macs_pruned_pct"] == 0


def test_budget_table_matches_li_et_al():
    table = rk.report.budget_table(rk.paper.configs())
    assert table["agrees"].all(), table[["config", "macs_pruned_pct", "macs_pruned_pct_reported"]]
    vgg = table.set_index("config").loc["vgg16-a"]
    assert vgg["scratch_b_epochs"] == int(160 * vgg["base_macs"] / vgg["pruned_macs"])


def test_budget_rules_cap_imagenet():
    rules = rk.report.budget_rules([1.5, 4.0]).set_index("macs_ratio")
    assert rules.loc[1.5, "imagenet_epochs"] == 135 and rules.loc[4.0, "imagenet_epochs"] == 180
    assert rules.loc[4.0, "imagenet_compute_vs_large"] == pytest.approx(0.5)
    assert rules.loc[4.0, "cifar_epochs"] == 640


def test_paper_configs_build_and_are_named():
    assert rk.paper.config("ResNet56-A") is rk.paper.config("resnet56-a")
    with pytest.raises(ValueError, match="known: vgg16-a"):
        rk.paper.config("resnet57-a")
    frame = rk.report.frame(rk.paper.configs())
    assert list(frame["name"]) == ["vgg16-a", "resnet56-a", "resnet56-b", "resnet110-a", "resnet110-b",
                                   "resnet34-a", "resnet34-b"]
    assert [c.name for c in rk.paper.configs("imagenet")] == ["resnet34-a", "resnet34-b"]
    for c in rk.paper.configs():
        assert rk.models.build(c.model, cfg=list(c.cfg)).cfg == list(c.cfg)


def test_markdown_table():
    df = pd.DataFrame({"config": ["a|b", "c"], "top1": [93.123, float("nan")], "n": [5, 1]})
    assert rk.report.markdown(df).splitlines() == [
        "| config | top1 | n |",
        "|---|---|---|",
        "| a\\|b | 93.12 | 5 |",
        "| c | — | 1 |",
    ]
