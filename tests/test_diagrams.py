"""rk.diagrams: Figure 1's stage table and verdicts, Figure 2's widths, and the drawings of both."""
import math

import matplotlib

matplotlib.use("Agg")
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import rethinkkit as rk  # noqa: E402


def _row(config, model, method, strategy, seed, top1, key, init, epochs=4, params=100, macs=1000):
    return {"config": config, "model": model, "method": method, "strategy": strategy, "seed": seed, "epochs": epochs,
            "params": params, "macs": macs, "final_top1": top1, "best_top1": top1, "num_classes": 10, "key": key,
            "init": init}


def _table(l1_large=(80.0, 82.0), slim_large=(60.0, 61.0), tuned=(70.0, 71.0), scratch_b=(85.0, 86.0)):
    """A protocol table of two seeds holding two large models of one base model (an L1-norm target's and
    a slimming target's), as `rk.pipeline.run` returns: inheriting runs name their large run in `init`."""
    rows = []
    for seed in (0, 1):
        l1, slim = f"l1large/seed{seed}", f"slimlarge/seed{seed}"
        rows += [
            _row("vgg11", "vgg11", "l1-norm", "unpruned", seed, l1_large[seed], l1, "scratch", params=400, macs=4000),
            _row("vgg11-uniform-0.5", "vgg11", "l1-norm", "pruned", seed, 10.0, l1, f"{l1}|l1-norm|{{}}", epochs=0),
            _row("vgg11-uniform-0.5", "vgg11", "l1-norm", "fine-tune", seed, tuned[seed], f"ft{seed}",
                 f"{l1}|l1-norm|{{}}", epochs=1),
            _row("vgg11-uniform-0.5", "vgg11", "l1-norm", "scratch-b", seed, scratch_b[seed], f"sb{seed}", "scratch",
                 epochs=15),
            _row("vgg11", "vgg11", "network-slimming", "unpruned", seed, slim_large[seed], slim, "scratch"),
            _row("vgg11-network-slimming-0.5", "vgg11", "network-slimming", "fine-tune", seed, 50.0, f"sft{seed}",
                 f"{slim}|network-slimming|{{}}", epochs=1),
        ]
    return pd.DataFrame(rows)


def test_stages_are_in_figure_order_with_the_configs_own_large_model():
    # another large model of the same base model and method (e.g. another lr's, `run_lrs`) is not this config's
    other = pd.DataFrame([_row("vgg11", "vgg11", "l1-norm", "unpruned", 0, 20.0, "otherlr/seed0", "scratch")])
    table = rk.diagrams.stages(pd.concat([other, _table()], ignore_index=True), "vgg11-uniform-0.5")
    assert list(table["strategy"]) == ["unpruned", "pruned", "fine-tune", "scratch-b"]  # scratch-e was not run
    large = table.set_index("strategy").loc["unpruned"]
    assert large["mean"] == 81.0 and large["n"] == 2 and large["params"] == 400  # the L1 large model, not slimming's
    assert math.isclose(large["std"], pd.Series([80.0, 82.0]).std(ddof=1)) and large["top1"] == "81.00 ± 1.41 (n=2)"
    slim = rk.diagrams.stages(_table(), "vgg11-network-slimming-0.5").set_index("strategy")
    assert slim.loc["unpruned", "mean"] == 60.5


def test_stages_of_stacks_configs_and_an_unknown_config_is_named():
    both = rk.diagrams.stages_of(_table(), ["vgg11-uniform-0.5", "vgg11-network-slimming-0.5"])
    assert list(both.columns[:2]) == ["config", "strategy"] and both["config"].nunique() == 2
    assert len(both) == 4 + 2
    with pytest.raises(ValueError, match="its configs are .*vgg11-uniform-0.5"):
        rk.diagrams.stages(_table(), "vgg19-p70")


def test_stages_without_inheriting_runs_fall_back_to_the_same_model_and_method():
    table = _table()
    scratch_only = table[~table["strategy"].isin(["pruned", "fine-tune"])]
    stages = rk.diagrams.stages(scratch_only, "vgg11-uniform-0.5").set_index("strategy")
    assert stages.loc["unpruned", "mean"] == 81.0


def test_verdict_reads_the_interval():
    clear = rk.diagrams.verdict(rk.diagrams.stages(_table(), "vgg11-uniform-0.5"), "scratch-b", "fine-tune")
    assert clear.startswith("scratch-b − fine-tune = +15.00 points") and clear.endswith("scratch-b better")
    close = _table(tuned=(84.0, 87.0))
    assert rk.diagrams.verdict(rk.diagrams.stages(close, "vgg11-uniform-0.5"), "scratch-b", "fine-tune").endswith("on par")
    worse = _table(tuned=(95.0, 96.0))
    assert rk.diagrams.verdict(rk.diagrams.stages(worse, "vgg11-uniform-0.5")).endswith("fine-tune better")


def test_verdict_gives_none_without_two_seeds_a_learned_model_or_the_runs():
    one_seed = rk.diagrams.stages(_table()[lambda t: t["seed"] == 0], "vgg11-uniform-0.5")
    assert "no interval with 1 seed(s) a side, so no verdict" in rk.diagrams.verdict(one_seed)
    at_chance = rk.diagrams.stages(_table(tuned=(12.0, 13.0)), "vgg11-uniform-0.5")
    assert rk.diagrams.verdict(at_chance).startswith("scratch-b vs fine-tune: no verdict, fine-tune is at chance (12.5%")
    assert "scratch-e not run" in rk.diagrams.verdict(one_seed, "scratch-e", "fine-tune")


def test_widths_keep_fractions_and_a_uniform_target_has_no_spread():
    base = rk.models.default_cfg("vgg11")
    uniform = rk.models.uniform_cfg("vgg11", 0.5)
    uneven = [w if w == "M" else (w if i < 3 else w // 4) for i, w in enumerate(base)]
    table = rk.diagrams.widths(base, {"predefined": uniform, "automatic": uneven})
    convs = [w for w in base if w != "M"]
    assert list(table[table.target == "predefined"]["width"]) == convs and set(table["layer"]) == set(range(1, 9))
    assert (table["kept_fraction"] == table["kept"] / table["width"]).all()
    assert ((table["pruned_pct"] - 100 * (1 - table["kept_fraction"])).abs() < 1e-9).all()
    spread = rk.diagrams.spread(table).set_index("target")
    assert spread.loc["predefined", "range_points"] == 0 and spread.loc["predefined", "pruned_pct"] == 50
    assert spread.loc["automatic", "least_pruned_pct"] == 0 and spread.loc["automatic", "most_pruned_pct"] == 75
    assert spread.loc["automatic", "kept"] == sum(w for w in uneven if w != "M")


def test_widths_refuse_cfgs_of_another_model():
    base = rk.models.default_cfg("vgg11")
    with pytest.raises(ValueError, match="its cfg has 13 widths but the unpruned cfg has 8"):
        rk.diagrams.widths(base, {"vgg16": rk.models.default_cfg("vgg16")})
    with pytest.raises(ValueError, match=r"layer\(s\) \[1\] keep no channel or more"):
        rk.diagrams.widths(base, {"wider": [128, *base[1:]]})


def test_the_drawings_return_their_axes_with_every_stage_and_bar():
    import matplotlib.pyplot as plt

    stages = rk.diagrams.stages(_table(), "vgg11-uniform-0.5")
    ax = rk.diagrams.plot_pipeline(stages, title="t")
    texts = [t.get_text() for t in ax.texts]
    assert len(ax.patches) == len(rk.diagrams.STAGES)
    assert any("Scratch-E\nnot run" == t for t in texts) and any("top-1 85.50 ± 0.71 (n=2)" in t for t in texts)
    table = rk.diagrams.widths(rk.models.default_cfg("vgg11"), {"a": rk.models.uniform_cfg("vgg11", 0.5),
                                                                "b": rk.models.uniform_cfg("vgg11", 0.25)})
    ax = rk.diagrams.plot_widths(table)
    assert len(ax.patches) == 8 * 3 and ax.get_legend() is not None
    plt.close("all")


def test_models_are_those_both_methods_prune():
    chosen = rk.diagrams.models()
    assert {"vgg11", "vgg19", "preresnet56"} <= set(chosen) and not {"resnet20", "densenet40"} & set(chosen)
    for name in chosen:
        rk.pruning.network_slimming.sparsity(name)  # an automatic target has its paper's strength
        assert rk.models.uniform_cfg(name, 0.5) != rk.models.default_cfg(name)  # a predefined target narrows it


def test_claims_quote_the_paper():
    assert "fine-tuning a pruned model only gives comparable or worse performance" in rk.diagrams.claim(1)
    assert "predefined target network architectures (Figure 2)" in rk.diagrams.claim("2")
    with pytest.raises(ValueError, match="the framing figures are 1, 2"):
        rk.diagrams.claim(3)


def test_stages_read_a_real_protocol_table(mini, tmp_path, one_thread):
    """Two methods' large models of one base model in one table: each config's stages use its own."""
    protocol = rk.pipeline.protocol("fashion-mnist-mini", epochs=2, finetune_epochs=1, train_subset=128,
                                    test_subset=100, width=0.125)
    targets = [rk.pipeline.uniform("vgg11", 0.5), rk.pipeline.uniform("vgg11", 0.5, "network-slimming")]
    runs = rk.pipeline.run(protocol, targets, [0], strategies=["pruned", "fine-tune"], data=mini,
                           store=tmp_path, progress=False)
    larges = runs[runs.strategy == "unpruned"].set_index("method")["key"]
    assert larges.nunique() == 2
    for t in targets:
        stages = rk.diagrams.stages(runs, t.name).set_index("strategy")
        assert list(stages.index) == ["unpruned", "pruned", "fine-tune"]
        assert stages.loc["unpruned", "keys"] == (larges[t.method],) == stages.loc["pruned", "keys"]
        assert stages.loc["pruned", "epochs"] == 0 and stages.loc["pruned", "macs"] < stages.loc["unpruned", "macs"]
