"""Section 5 and Appendix G: layer stages, the uniform and guided designs, patterns distilled from
stored runs (traceable to them) and transferred to another model, the tables that read them, and
the paper's pattern data."""
import json
import math

import pandas as pd
import pytest
import torch

import rethinkkit as rk
from rethinkkit import pipeline
from rethinkkit.pruning import GuidedSpec, Pattern, UniformSpec
from rethinkkit.pruning.design import channel_pattern, kernel_pattern
from rethinkkit.pruning.magnitude import conv_weights

pytestmark = pytest.mark.usefixtures("one_thread")

QUARTER = rk.models.uniform_cfg("vgg16", 0.75)  # VGG-16 at a quarter width: fast, same layout


def _vgg16(seed=0, **kwargs):
    torch.manual_seed(seed)
    return rk.models.build("vgg16", cfg=QUARTER, head="linear", **kwargs)


def test_stages_are_the_feature_map_sizes_from_the_input_down():
    model = _vgg16()
    where = rk.models.stages(model)
    convs = [name for name, m in model.named_modules() if isinstance(m, torch.nn.Conv2d)]
    assert [where[c] for c in convs] == [0, 0, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4]  # VGG-16's five stages
    assert where["classifier"] == 5  # flat outputs are the last stage
    resnet = rk.models.build("preresnet164")
    where = rk.models.stages(resnet)
    assert where["layer2.0.conv2"] == 1 and where["layer2.0.conv1"] == 0  # the stride-2 conv starts stage 2
    assert sorted(set(where[n] for n, m in resnet.named_modules() if isinstance(m, torch.nn.Conv2d))) == [0, 1, 2]
    assert resnet.training  # the probe leaves the model's mode as it was


@pytest.mark.parametrize("name", ["vgg16", "preresnet164", "densenet40"])
def test_uniform_channels_keep_the_same_fraction_of_every_prunable_layer(name):
    torch.manual_seed(0)
    model = rk.models.build(name)
    pruned = rk.pruning.prune("uniform-channels", model, UniformSpec(0.5))
    for layer in model.prunable_layers():  # widths and channel selections alike
        total = model.get_submodule(layer.gate).num_features
        assert pruned.cfg[layer.position] == max(1, int(total * 0.5))
    if model.width_positions() and not model.selections():
        assert pruned.cfg == rk.models.uniform_cfg(name, 0.5)  # the kit's one uniform rule
    out = rk.models.from_arch(pruned.arch)(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 10) and torch.isfinite(out).all()


def test_uniform_sparsity_keeps_the_same_fraction_of_every_conv_at_seeded_random_positions():
    model = _vgg16()
    torch.manual_seed(1)
    a = rk.pruning.prune("uniform-sparsity", model, UniformSpec(0.8))
    torch.manual_seed(1)
    b = rk.pruning.prune("uniform-sparsity", model, UniformSpec(0.8))
    torch.manual_seed(2)
    c = rk.pruning.prune("uniform-sparsity", model, UniformSpec(0.8))
    for name, weight in conv_weights(model).items():
        total = weight.numel()
        assert int(a.masks[name].sum()) == total - int(total * 0.8)
        assert torch.equal(a.masks[name], b.masks[name])
    assert any(not torch.equal(a.masks[n], c.masks[n]) for n in a.masks)  # another seed, other positions
    assert set(a.masks) == set(conv_weights(model))
    assert a.arch == model.arch and a.macs < rk.flops.count(model).macs


def test_guided_channels_follow_the_pattern_stage_by_stage():
    pattern = Pattern("channels", (1.0, 0.9, 0.6, 0.3, 0.25), "vgg16", "cifar10", "vgg16-network-slimming-0.6")
    for name in ("vgg16", "vgg19"):  # VGG-19 is the transferred case: the same five stages
        model = rk.models.build(name, head="linear") if name == "vgg16" else rk.models.build(name)
        pruned = rk.pruning.prune("guided-channels", model, GuidedSpec(pattern))
        where = rk.models.stages(model)
        for layer in model.prunable_layers():
            fraction = pattern.values[where[layer.gate]]
            assert pruned.cfg[layer.position] == round(model.cfg[layer.position] * fraction)
        assert channel_pattern(pruned.model, model.cfg) == pytest.approx(pattern.values, abs=0.01)
        assert "vgg16-network-slimming-0.6@cifar10" in pruned.notes[0]


def test_guided_sparsity_keeps_each_kernel_position_at_its_stage_probability():
    maps = tuple(((0.2, 0.5, 0.2), (0.5, 0.9, 0.5), (0.2, 0.5, 0.2 + 0.1 * s)) for s in range(5))
    pattern = Pattern("kernels", maps, "vgg16_bn", "cifar10", "vgg16_bn-p80")
    torch.manual_seed(0)
    model = rk.models.build("vgg19_bn")  # full width: millions of draws, so the rates are tight
    torch.manual_seed(0)
    pruned = rk.pruning.prune("guided-sparsity", model, GuidedSpec(pattern))
    realised = kernel_pattern(model, pruned.masks)
    where = rk.models.stages(model)
    for stage, (want, got) in enumerate(zip(maps, realised)):
        kernels = sum(w.shape[0] * w.shape[1] for n, w in conv_weights(model).items() if where[n[:-7]] == stage)
        tolerance = 4 * math.sqrt(0.25 / kernels)  # four binomial standard deviations at the worst rate
        assert torch.allclose(torch.tensor(got, dtype=torch.float64), torch.tensor(want, dtype=torch.float64),
                              atol=tolerance), stage


def test_a_pattern_refuses_what_it_cannot_be():
    with pytest.raises(ValueError, match="kind"):
        Pattern("filters", (0.5,), "vgg16", "cifar10", "t")
    with pytest.raises(ValueError, match="fraction in"):
        Pattern("channels", (0.5, 1.5), "vgg16", "cifar10", "t")
    with pytest.raises(ValueError, match="3x3 map"):
        Pattern("kernels", ((0.5, 0.5),), "vgg16", "cifar10", "t")
    kernels = Pattern("kernels", (((0.5,) * 3,) * 3,) * 3, "preresnet110", "cifar100", "t", ("abc/seed0",))
    assert Pattern.from_json(kernels.to_json()) == kernels
    with pytest.raises(ValueError, match="has 3 stages, vgg16 has 5"):
        rk.pruning.prune("guided-sparsity", _vgg16(), GuidedSpec(kernels))
    with pytest.raises(ValueError, match="use guided-sparsity"):
        rk.pruning.prune("guided-channels", _vgg16(), GuidedSpec(kernels))
    with pytest.raises(ValueError, match="takes a Pattern"):
        GuidedSpec((0.5,) * 5)
    with pytest.raises(ValueError, match="in \\[0, 1\\)"):
        UniformSpec(1.0)


@pytest.fixture(scope="module")
def section5(mini, tmp_path_factory):
    """Both pruning methods, their patterns, uniform, guided and transferred-guided targets, trained
    once through one store on a tiny slice (two epochs: the paths, not results)."""
    store = rk.runs.Store(tmp_path_factory.mktemp("store"))
    protocol = pipeline.protocol(mini.name, epochs=2, train_subset=128, test_subset=100, width=0.25)
    slimmed = pipeline.with_spec([pipeline.uniform("vgg16", 0.5, "network-slimming", head="linear")], s=1e-3)
    magnitude = pipeline.one_shot("vgg16_bn", [0.8])
    kw = dict(data=mini, store=store, progress=False)
    channels = pipeline.pattern(protocol, slimmed[0], [0, 1], **kw)
    kernels = pipeline.pattern(protocol, magnitude[0], [0, 1], **kw)
    targets = slimmed + magnitude + pipeline.with_uniform(slimmed)[1:] + pipeline.with_uniform(magnitude)[1:] + [
        pipeline.guided(channels, "vgg16", head="linear"), pipeline.guided(channels, "vgg19"),
        pipeline.guided(kernels, "vgg19_bn")]
    rows = pipeline.run(protocol, targets, [0, 1], strategies=["scratch-e"], **kw)
    return store, protocol, channels, kernels, targets, rows


def test_a_pattern_is_stored_and_names_the_runs_it_averages(section5, mini):
    store, protocol, channels, kernels, targets, rows = section5
    for pattern, config in ((channels, "vgg16-network-slimming-0.5"), (kernels, "vgg16_bn-p80")):
        large = rows[(rows.strategy == "unpruned") & (rows.model == config.split("-")[0])]
        assert pattern.runs == tuple(large.sort_values("seed")["key"])  # the large runs pruned, seed by seed
        saved = list((store.root / "patterns").glob(f"{config}@{mini.name}-*.json"))
        assert len(saved) == 1 and Pattern.from_json(saved[0].read_text()) == pattern
        for key in pattern.runs:
            assert (store.root / key / "result.parquet").exists()
    pruned = rows[(rows.config == "vgg16-network-slimming-0.5")].sort_values("seed")["stage_kept"]
    mean = [sum(values) / 2 for values in zip(*pruned)]  # the pattern is the seeds' mean
    assert channels.values == pytest.approx(mean)
    assert kernels.kind == "kernels" and len(kernels.values) == 5


def test_designed_targets_train_only_from_scratch_and_no_large_model(section5):
    store, protocol, channels, kernels, targets, rows = section5
    designed = rows[rows.method.isin(["uniform-channels", "uniform-sparsity", "guided-channels", "guided-sparsity"])]
    assert set(designed.series) == {"uniform", "guided", "transferred guided"}
    assert (designed.init.isin(["scratch", "scratch|rescaled"])).all()
    assert set(rows[rows.strategy == "unpruned"].model) == {"vgg16", "vgg16_bn"}  # no VGG-19 large model
    series = dict(zip(rows.config, rows.series))
    assert series["vgg16-guided[vgg16-network-slimming-0.5@fashion-mnist-mini]"] == "guided"
    assert series["vgg19-guided[vgg16-network-slimming-0.5@fashion-mnist-mini]"] == "transferred guided"
    assert series["vgg19_bn-guided[vgg16_bn-p80@fashion-mnist-mini]"] == "transferred guided"
    sparse = rows[rows.config == "vgg16_bn-uniform-sparsity-0.8"]
    assert sparse.sparsity.iloc[0] == pytest.approx(0.8, abs=1e-4)
    assert sparse.key.nunique() == 2  # random positions differ per seed, so do the masks and the keys
    with pytest.raises(ValueError, match="no weights to inherit"):
        pipeline.run(protocol, [targets[2]], [0], strategies=["fine-tune"], store=store, progress=False)


def test_rerunning_section5_trains_nothing(section5, mini, monkeypatch):
    store, protocol, channels, kernels, targets, rows = section5

    def refuse(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(rk.runs, "train", refuse)
    again = pipeline.run(protocol, targets, [0, 1], strategies=["scratch-e"], data=mini, store=store, progress=False)
    assert list(again.key) == list(rows.key)
    assert pipeline.pattern(protocol, targets[0], [0, 1], data=mini, store=store, progress=False) == channels


def test_architectures_are_the_pruned_models_without_training_them(section5, mini):
    store, protocol, channels, kernels, targets, rows = section5
    found = pipeline.architectures(protocol, targets[:2], [0, 1], data=mini, store=store, progress=False)
    assert list(found.strategy.unique()) == ["pruned"]
    scratch = rows[rows.strategy == "scratch-e"].set_index(["config", "seed"])
    for row in found.itertuples():
        assert row.cfg == scratch.loc[(row.config, row.seed), "cfg"]
        assert row.base_cfg == rk.models.uniform_cfg(row.model, 0.75)
    table = rk.report.stage_kept(found)
    assert set(table.config) == {"vgg16-network-slimming-0.5"} and (table.n == 2).all()
    maps = rk.report.kernel_kept(found)
    assert len(maps) == 5 * 9 and maps.kept.between(0, 1).all()
    with pytest.raises(ValueError, match="prunes none|designs architectures"):
        pipeline.architectures(protocol, [targets[2]], [0], data=mini, store=store, progress=False)


def _rows(configs):
    """Synthetic protocol rows: (config, series, seed, params, top1, cfg, stage_kept)."""
    return pd.DataFrame([{"dataset": "d", "model": "vgg16", "method": "m", "strategy": "scratch-e", "config": c, "series": s,
                          "seed": seed, "params": p, "final_top1": a, "cfg": cfg, "stage_kept": kept, "kernel_kept": None}
                         for c, s, seed, p, a, cfg, kept in configs])


def test_widths_are_mean_and_std_over_seeds_beside_the_paper():
    base = rk.models.default_cfg("vgg16")
    one, two = list(base), list(base)
    one[0], two[0] = 30, 40
    rows = _rows([("p", "pruned", 0, 1, 90.0, one, (0.5,)), ("p", "pruned", 1, 1, 91.0, two, (0.6,))])
    table = rk.report.widths(rows, "p", rk.paper.widths())
    first = table.iloc[0]
    assert (first["width"], first["mean"], first["std"]) == (64, 35.0, pytest.approx(math.sqrt(50)))
    assert first["width (paper)"] == 64 and first["width* (paper)"] == "39.0 ± 3.7"
    total = table[table.layer == "total"].iloc[0]
    assert total["width"] == 4224 and total["mean"] == sum(base_w for base_w in base if base_w != "M") - 64 + 35
    assert rk.report.stage_kept(rows).kept.iloc[0] == pytest.approx(0.55)


def test_efficiency_pairs_equal_sizes_and_interpolates_otherwise():
    rows = _rows([("u1", "uniform", s, 100, 80.0 + s, None, None) for s in range(3)]
                 + [("u2", "uniform", s, 10_000, 90.0 + s, None, None) for s in range(3)]
                 + [("p1", "pruned", s, 1_000, 88.0 + s, None, None) for s in range(3)]
                 + [("p2", "pruned", s, 10_100, 95.0 + s, None, None) for s in range(3)])
    table = rk.report.efficiency(rows).set_index("config")
    assert table.loc["p1", "uniform at same params"] == pytest.approx(86.0)  # halfway in log-params
    assert table.loc["p1", "verdict"] == "no CI (interpolated)"
    assert table.loc["p2", "gap"] == pytest.approx(5.0) and table.loc["p2", "verdict"] == "pruned better"
    assert math.isnan(table.loc["u1", "gap"])


def test_pattern_ranges_say_how_far_from_uniform():
    ranges = rk.report.pattern_ranges([rk.paper.stage_pattern(21), rk.paper.stage_pattern(18)], by=["model", "ratio"])
    vgg = ranges[(ranges.model == "vgg16") & (ranges.ratio == 0.6)].iloc[0]
    resnet = ranges[(ranges.model == "preresnet164") & (ranges.ratio == 0.6)].iloc[0]
    assert vgg["range"] == pytest.approx(1.0 - 0.132) and resnet["range"] == pytest.approx(0.428 - 0.349)


def test_the_papers_pattern_tables_are_the_texts():
    widths = rk.paper.widths()
    total = widths[widths.layer == "total"].iloc[0]
    assert (total["width"], total["mean"]) == (4224, 1689.2)  # Table 7's printed totals
    t21 = rk.paper.stage_pattern(21)
    assert (t21[t21.stage == 2].kept == 1.0).all() and len(t21) == 5 * 6
    t19 = rk.paper.kernel_pattern(19)
    assert len(t19) == 3 * 9 * 3
    centre = t19[(t19.ratio == 0.5) & (t19.stage == 1) & (t19.row == 1) & (t19.col == 1)].kept.iloc[0]
    assert centre == 0.588
    assert rk.paper.kernel_pattern(20).query("ratio == 0.9 and stage == 3 and row == 2 and col == 2").kept.iloc[0] == 0.063
    with pytest.raises(ValueError, match="Tables 18 and 21"):
        rk.paper.stage_pattern(19)
    assert "Figure 3" in rk.paper.reading(3) and json.dumps(rk.paper.READINGS)


def test_efficiency_gives_no_verdict_on_models_that_did_not_learn():
    rows = _rows([("u", "uniform", s, 100, 10.0, None, None) for s in range(2)]
                 + [("p", "pruned", s, 100, 10.0 + s, None, None) for s in range(2)]).assign(num_classes=10)
    table = rk.report.efficiency(rows).set_index("config")
    assert table.loc["p", "verdict"].startswith("no verdict: p is at chance")


def test_at_ratio_picks_the_target_nearest_a_papers_ratio():
    chosen = pipeline.one_shot("vgg16_bn", [0.5, 0.8, 0.99])
    assert pipeline.at_ratio(chosen, 0.95).name == "vgg16_bn-p99"
    assert pipeline.at_ratio(chosen, 0.6).name == "vgg16_bn-p50"
    slimmed = [pipeline.uniform("vgg16", r, "network-slimming") for r in (0.4, 0.6)]
    assert pipeline.at_ratio(slimmed, 0.6) is slimmed[1]
    with pytest.raises(ValueError, match="single prune ratio"):
        pipeline.at_ratio([pipeline.target("resnet56-a")], 0.6)
