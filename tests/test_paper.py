"""The paper's configs and tables as data, and the ours-vs-paper comparison with its verdicts."""
import math

import pandas as pd
import pytest
from scipy import stats

import rethinkkit as rk

# Liu et al. 2019 Table 1 (params pruned) and Li et al. 2017 (MACs pruned), in %
REPORTED = {
    "vgg16-a": (64.0, 34.2), "resnet56-a": (9.4, 10.4), "resnet56-b": (13.7, 27.6),
    "resnet110-a": (2.3, 15.9), "resnet110-b": (32.4, 38.6), "resnet34-a": (7.6, 15.5), "resnet34-b": (10.8, 24.2),
}


def test_every_table_1_config_is_here():
    assert {c.name for c in rk.paper.configs()} == set(REPORTED)


@pytest.mark.parametrize("name", sorted(REPORTED))
def test_reductions_match_the_paper(name):
    c = rk.paper.config(name)
    base = rk.flops.count(rk.models.build(c.model, num_classes=c.num_classes), c.input_shape)
    pruned = rk.flops.count(rk.models.build(c.model, num_classes=c.num_classes, cfg=list(c.cfg)), c.input_shape)
    params, macs = REPORTED[name]
    assert abs(rk.report.pruned_pct(base.params, pruned.params) - params) <= 0.15
    assert abs(rk.report.pruned_pct(base.macs, pruned.macs) - macs) <= 0.3
    assert (c.params_pruned, c.macs_pruned) == (params, macs)


@pytest.mark.parametrize("table", [1, 16, 17, "restart"])
def test_every_paper_row_has_a_config_a_pruner_and_a_strategy(table):
    rows = rk.paper.table(table)
    assert len(rows) and set(rows.columns) >= {"dataset", "model", "config", "strategy", "mean", "std", "n", "source"}
    for _, row in rows.iterrows():
        if row["strategy"] == "unpruned":
            assert row["config"] in rk.models.names()
        else:
            c = rk.paper.config(row["config"])
            assert c.method in rk.pruning.methods()
            assert rk.pipeline.strategy(row["strategy"]).name == row["strategy"]
        assert 70 < row["mean"] < 95


def test_table_1_numbers_and_rows():
    t1 = rk.paper.table(1).set_index(["config", "strategy"])
    assert t1.loc[("resnet110-b", "scratch-b"), "mean"] == 93.60 and t1.loc[("resnet110-b", "scratch-b"), "std"] == 0.25
    assert t1.loc[("resnet34", "unpruned"), "n"] == 1 and math.isnan(t1.loc[("resnet34", "unpruned"), "std"])
    assert rk.paper.config("resnet56-b").row() == {
        "unpruned": (93.14, 0.12), "fine-tune": (92.67, 0.14), "scratch-e": (92.54, 0.19), "scratch-b": (93.05, 0.18)}
    assert rk.paper.config("vgg16-a").row(16)["fine-tune-160"] == (93.45, 0.08)
    with pytest.raises(ValueError, match="no paper table"):
        rk.paper.table(99)
    with pytest.raises(ValueError, match="not in table"):
        rk.paper.config("resnet34-a").row(16)


def test_welch_interval_matches_scipy():
    a, b = (93.60, 0.25, 5), (92.69, 0.09, 5)
    result = rk.report.welch(a, b)
    test = stats.ttest_ind_from_stats(*a, *b, equal_var=False)
    # the interval excludes 0 exactly when the two-sided Welch test rejects at 5%
    assert (result["low"] > 0) == (test.pvalue < 0.05)
    assert result["verdict"] == "a better" and result["diff"] == pytest.approx(0.91)
    se = (0.25**2 / 5 + 0.09**2 / 5) ** 0.5
    assert test.statistic == pytest.approx(result["diff"] / se)
    assert rk.report.welch((93.09, 0.14, 5), (92.97, 0.17, 5))["verdict"] == "on par"
    assert rk.report.welch((92.0, 0.1, 5), (93.0, 0.1, 5))["verdict"] == "b better"
    assert rk.report.welch((73.0, float("nan"), 1), (72.5, float("nan"), 1))["verdict"] == "no CI"


def _runs(values: dict) -> pd.DataFrame:
    rows = []
    for (config, strategy), accs in values.items():
        for seed, acc in enumerate(accs):
            rows.append({"dataset": "cifar10", "model": config.split("-")[0], "config": config, "num_classes": 10,
                         "strategy": strategy, "seed": seed, "final_top1": acc, "best_top1": acc + 0.1})
    return pd.DataFrame(rows)


def test_compare_puts_ours_beside_the_paper_with_verdicts():
    ours = _runs({
        ("resnet110", "unpruned"): [93.1, 93.3, 93.2],
        ("resnet110-b", "fine-tune"): [92.6, 92.7, 92.8],
        ("resnet110-b", "scratch-e"): [92.9, 93.0, 92.8],
        ("resnet110-b", "scratch-b"): [93.5, 93.6, 93.7],
        ("resnet110-a", "fine-tune"): [93.5, 93.6, 93.7],
        ("resnet110-a", "scratch-e"): [93.0, 93.1, 93.2],
        ("resnet110-a", "scratch-b"): [92.5, 92.6, 92.7],
    })
    table = rk.report.compare(ours, rk.paper.table(1)).set_index("config")
    assert table.loc["resnet110-b", "scratch-b"] == "93.60 ± 0.10 (n=3)"
    assert table.loc["resnet110-b", "scratch-b (paper)"] == "93.60 ± 0.25 (n=5)"
    assert table.loc["resnet110-b", "unpruned"] == "93.20 ± 0.10 (n=3)"
    assert table.loc["resnet110-b", "verdict (ours)"] == "scratch-b better"
    assert table.loc["resnet110-b", "verdict (paper)"] == "scratch-b better"
    assert table.loc["resnet110-b", "agree"] == "yes"
    assert table.loc["resnet110-a", "verdict (ours)"] == "fine-tune better"
    assert table.loc["resnet110-a", "verdict (paper)"] == "on par"
    assert table.loc["resnet110-a", "agree"] == "no"
    assert (table["metric"] == "final epoch").all()
    summary = rk.report.verdict_summary(table)
    assert "1 of 2" in summary
    best = rk.report.compare(ours, rk.paper.table(1), metric="best_top1").set_index("config")
    assert best.loc["resnet110-b", "scratch-b"] == "93.70 ± 0.10 (n=3)"
    with pytest.raises(ValueError, match="metric must be"):
        rk.report.compare(ours, rk.paper.table(1), metric="top5")


def test_single_runs_get_no_interval():
    ours = _runs({("resnet56-a", "fine-tune"): [92.0], ("resnet56-a", "scratch-b"): [93.0]})
    table = rk.report.compare(ours, rk.paper.table(1))
    assert table.loc[0, "verdict (ours)"] == "no CI" and table.loc[0, "agree"] == "—"
    assert "No verdict could be compared" in rk.report.verdict_summary(table)


def test_no_verdict_from_models_at_chance():
    """04_1 --profile smoke once trained everything to 10.0-10.5% and 'agreed with the paper':
    a verdict from models that did not learn is no verdict."""
    ours = _runs({
        ("resnet56", "unpruned"): [10.3, 10.0],
        ("resnet56-a", "fine-tune"): [10.0, 10.1],
        ("resnet56-a", "scratch-b"): [10.5, 10.4],
        ("resnet56-b", "fine-tune"): [60.0, 61.0],  # shares the large model at chance
        ("resnet56-b", "scratch-b"): [62.0, 63.0],
        ("resnet110", "unpruned"): [80.0, 81.0],
        ("resnet110-a", "fine-tune"): [79.0, 79.5],
        ("resnet110-a", "scratch-b"): [11.0, 12.0],  # this side did not learn
    })
    table = rk.report.compare(ours, rk.paper.table(1)).set_index("config")
    assert table.loc["resnet56-a", "verdict (ours)"].startswith("no verdict: the large model is at chance (10.2% vs chance 10.0%")
    assert table.loc["resnet56-b", "verdict (ours)"].startswith("no verdict: the large model is at chance")
    assert table.loc["resnet110-a", "verdict (ours)"].startswith("no verdict: the scratch-b model is at chance")
    assert (table["agree"] == "—").all() and (table["verdict (paper)"] != "—").all()  # the paper's side stands
    summary = rk.report.verdict_summary(table)
    assert "No verdict could be compared" in summary and "3 of 3 row(s) have no verdict of ours" in summary
    assert rk.report.learned(28.0, 10) and not rk.report.learned(27.9, 10) and rk.report.learned(20.8, 100)


def test_plot_strategies_draws_ours_and_the_papers():
    import matplotlib

    matplotlib.use("Agg")
    ours = _runs({("resnet56-a", "fine-tune"): [92.0, 92.2], ("resnet56-a", "scratch-b"): [93.0, 93.1]})
    ax = rk.report.plot_strategies(ours, rk.paper.table(1))
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert set(labels) == {"fine-tune", "scratch-b", "paper (hollow ◇)"}
    assert [t.get_text() for t in ax.get_xticklabels()] == ["resnet56-a"]
    with pytest.raises(ValueError, match="empty"):
        rk.report.plot_strategies(ours.iloc[0:0])
