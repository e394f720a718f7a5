"""What each pipeline costs (Section 7, notebooks/07_discussion): run costs read from a real store,
pipelines summed from their runs and the runs they inherit from, and the break-even k of case (b)."""
import shutil

import matplotlib

matplotlib.use("Agg")
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import rethinkkit as rk  # noqa: E402
from rethinkkit import costs, pipeline  # noqa: E402
from rethinkkit.runs import RESULT, read_result  # noqa: E402

TARGET = pipeline.uniform("resnet20", 0.5)
STRATEGIES = ["fine-tune", "scratch-e", "scratch-b", "fine-tune-restart", "pruned"]
IMAGES = 64


@pytest.fixture(scope="module")
def studied(mini, tmp_path_factory, one_thread):
    """Table 1's protocol on a tiny slice: every strategy that trains, and "pruned" (evaluated only)."""
    store = rk.runs.Store(tmp_path_factory.mktemp("store"))
    protocol = pipeline.Protocol("fashion-mnist-mini", epochs=2, finetune_epochs=1, train_subset=IMAGES,
                                 test_subset=100)
    table = pipeline.run(protocol, [TARGET], [0, 1], STRATEGIES, data=mini, store=store, progress=False)
    return store, table


def _one(frame, **where):
    chosen = frame
    for column, value in where.items():
        chosen = chosen[chosen[column] == value]
    assert len(chosen) == 1, where
    return chosen.iloc[0]


def test_a_run_costs_its_macs_times_epochs_and_its_summed_seconds(studied):
    store, table = studied
    runs = rk.report.run_costs(table, store)
    assert (runs["train_images"] == IMAGES).all()
    assert (runs["mac_epochs"] == runs["macs"] * runs["epochs"]).all()
    expected = [costs.training_macs(m, i, e) for m, i, e in zip(runs["macs"], runs["train_images"], runs["epochs"])]
    assert runs["training_macs"].tolist() == pytest.approx(expected)
    assert runs["training_macs"].tolist() == pytest.approx((runs["macs"] * 3 * IMAGES * runs["epochs"]).tolist())
    for r in runs.itertuples():
        assert r.seconds == pytest.approx(read_result(store.root / r.key / RESULT)["seconds"].sum())


def test_a_pipeline_from_the_large_model_includes_it_and_one_from_scratch_does_not(studied):
    store, table = studied
    runs = rk.report.run_costs(table, store)
    for seed in (0, 1):
        large = _one(table, strategy="unpruned", seed=seed)["key"]
        for strategy in ("fine-tune", "fine-tune-restart", "pruned"):
            mine = runs[(runs["strategy"] == strategy) & (runs["seed"] == seed)]
            assert mine.loc[mine["part"] == "inherited", "key"].tolist() == [large]
            own = _one(table, strategy=strategy, seed=seed)["key"]
            assert mine.loc[mine["part"] == "own", "key"].tolist() == ([] if strategy == "pruned" else [own])
        for strategy in ("scratch-e", "scratch-b", "unpruned"):
            mine = runs[(runs["strategy"] == strategy) & (runs["seed"] == seed)]
            assert mine["part"].tolist() == ["own"]


def test_pipeline_costs_sum_their_runs_over_seeds_with_the_accuracy_beside(studied):
    store, table = studied
    runs = rk.report.run_costs(table, store)
    pipelines = rk.report.pipeline_costs(table, store).set_index("strategy")
    for strategy, row in pipelines.iterrows():
        mine = runs[runs["strategy"] == strategy]
        for measure in rk.report.COST_MEASURES:
            assert row[measure] == pytest.approx(mine.groupby("seed")[measure].sum().mean())
            assert row[measure] == pytest.approx(row[f"inherited_{measure}"] + row[f"own_{measure}"])
        accuracy = table.loc[table["strategy"] == strategy, "final_top1"]
        assert (row["mean"], row["n"]) == (pytest.approx(accuracy.mean()), 2)
    large = pipelines.loc["unpruned"]
    assert large["vs_large"] == 1
    tuned = pipelines.loc["fine-tune"]
    assert tuned["inherited_training_macs"] == pytest.approx(large["training_macs"])
    assert tuned["runs"] == 2 and pipelines.loc["scratch-e", "runs"] == 1
    assert pipelines.loc["pruned", "training_macs"] == pytest.approx(large["training_macs"])  # evaluated: nothing own
    # Scratch-B's budget: at most the large model's MAC-epochs, more than Scratch-E's
    assert pipelines.loc["scratch-e", "mac_epochs"] < pipelines.loc["scratch-b", "mac_epochs"] <= large["mac_epochs"]


def test_the_break_even_k_solves_the_cost_equality(studied):
    store, table = studied
    pipelines = rk.report.pipeline_costs(table, store)
    for measure in rk.report.COST_MEASURES:
        even = rk.report.break_even(pipelines, measure)
        by = pipelines.set_index("strategy")
        assert set(even["from large"]) == {"fine-tune", "fine-tune-restart", "pruned"}
        assert set(even["from scratch"]) == {"scratch-e", "scratch-b"}
        shared = rk.report.amortised(pipelines, range(1, 101), measure).set_index(["strategy", "k"])["per_target"]
        for _, r in even.iterrows():
            a, b = by.loc[r["from large"]], by.loc[r["from scratch"]]
            large, own, theirs = a[f"inherited_{measure}"], a[f"own_{measure}"], b[f"own_{measure}"]
            assert r["measure"] == measure and r["one target: ratio"] == pytest.approx((large + own) / theirs)
            assert r["large model given: ratio"] == pytest.approx(own / theirs)
            if r["break_even_k"] == float("inf"):
                assert own >= theirs and pd.isna(r["cheaper_from"])
                continue
            assert large / r["break_even_k"] + own == pytest.approx(theirs)  # the equality it solves
            k = int(r["cheaper_from"])
            assert k == max(1, int(r["break_even_k"]) + 1)
            if k <= 100:
                assert shared[(r["from large"], k)] < theirs
            if 1 < k <= 101:
                assert shared[(r["from large"], k - 1)] >= theirs * (1 - 1e-12)
    # fine-tune-restart trains the pruned model on the large schedule: as much as Scratch-E, never cheaper
    restart = _one(rk.report.break_even(pipelines), **{"from large": "fine-tune-restart", "from scratch": "scratch-e"})
    assert restart["break_even_k"] == float("inf") and restart["large model given: ratio"] == pytest.approx(1)


def test_amortised_shares_the_inherited_part_over_k(studied):
    store, table = studied
    pipelines = rk.report.pipeline_costs(table, store).set_index("strategy")
    shared = rk.report.amortised(pipelines.reset_index(), [1, 4]).set_index(["strategy", "k"])["per_target"]
    assert "unpruned" not in shared.index.get_level_values("strategy")
    for strategy in ("fine-tune", "scratch-b"):
        row = pipelines.loc[strategy]
        assert shared[(strategy, 1)] == pytest.approx(row["training_macs"])
        assert shared[(strategy, 4)] == pytest.approx(row["inherited_training_macs"] / 4 + row["own_training_macs"])
    with pytest.raises(ValueError, match="whole numbers >= 1"):
        rk.report.amortised(pipelines.reset_index(), [0, 1])
    with pytest.raises(ValueError, match="measure must be one of"):
        rk.report.break_even(pipelines.reset_index(), "flops")


def test_a_missing_run_is_named_with_the_row_and_the_store(studied, tmp_path):
    store, table = studied
    gone = table.copy()
    gone.loc[gone["strategy"] == "scratch-e", "key"] = "nowhere/seed0"
    with pytest.raises(ValueError, match=r"the run nowhere/seed0 is not in the store .*strategy 'scratch-e'.*"
                                         r"pass the store the table's runs were trained in"):
        rk.report.pipeline_costs(gone, store)
    # a fine-tuned run whose large model is not in this store: the message names both
    tuned = _one(table, strategy="fine-tune", seed=0)
    alone = rk.runs.Store(tmp_path / "alone")
    shutil.copytree(store.root / tuned["key"], alone.root / tuned["key"])
    large = _one(table, strategy="unpruned", seed=0)["key"]
    with pytest.raises(ValueError, match=f"the run {large}, which {tuned['key']} starts from, is not in the store"):
        rk.report.run_costs(table[table["key"] == tuned["key"]], alone)
    with pytest.warns(UserWarning, match="left out of the costs"):
        left = rk.report.pipeline_costs(gone, store, strict=False)
    assert "scratch-e" not in set(left["strategy"]) and "scratch-b" in set(left["strategy"])
    with pytest.raises(ValueError, match="needs the columns"):
        rk.report.run_costs(table.drop(columns="key"), store)


def test_the_store_wide_table_is_the_pipelines_own_with_the_tables_that_claim_them(studied, tmp_path):
    store, table = studied
    everything = rk.report.store_costs(store).set_index("strategy")
    ours = rk.report.pipeline_costs(table, store).set_index("strategy")
    stored = [s for s in ours.index if s != "pruned"]  # evaluated, never stored
    assert sorted(everything.index) == sorted(stored)
    for strategy in stored:
        assert everything.loc[strategy, "training_macs"] == pytest.approx(ours.loc[strategy, "training_macs"])
        assert everything.loc[strategy, "seconds"] == pytest.approx(ours.loc[strategy, "seconds"])
    assert "Table 1" in everything.loc["fine-tune", "tables"]  # an L1-norm target at a custom ratio
    assert everything.loc["fine-tune-restart", "tables"] == "Slides: fine-tune-restart"
    assert rk.report.store_costs(tmp_path / "empty").empty


def test_the_verdict_says_where_each_side_is_cheaper(studied):
    store, table = studied
    even = rk.report.break_even(rk.report.pipeline_costs(table, store))
    lines = rk.report.cost_verdicts(even)
    assert len(lines) == len(even)
    for line, (_, r) in zip(lines, even.iterrows()):
        assert line.startswith(f"{TARGET.name}: {r['from large']} costs {r['one target: ratio']:.2f}x the training "
                               f"MACs of {r['from scratch']}")
        assert ("never cheaper" in line) == (r["break_even_k"] == float("inf"))


def test_the_figures(studied):
    store, table = studied
    pipelines = rk.report.pipeline_costs(table, store)
    ax = rk.report.plot_amortised(rk.report.amortised(pipelines), rk.report.break_even(pipelines))
    assert len(ax.lines) == len(STRATEGIES) and ax.get_xlabel().startswith("k")  # a line per pipeline of the target
    ax = rk.report.plot_costs(pipelines, "seconds")
    assert ax.get_xlabel() == "measured training time (s) of the whole pipeline"
    with pytest.raises(ValueError, match="nothing to plot"):
        rk.report.plot_amortised(rk.report.amortised(pipelines.iloc[0:0]))
