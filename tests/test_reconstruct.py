"""ThiNet and regression pruning: the per-layer choice against brute force and random choices,
the least-squares refit, the Gram-form LASSO, the layer-by-layer pruner and the pipeline."""
import itertools
import statistics

import numpy as np
import pytest
import torch

import rethinkkit as rk
from rethinkkit.pruning import reconstruct, regression, thinet
from rethinkkit.pruning.reconstruct import Sample


def tiny_layer(seed: int = 0, samples: int = 300, channels: int = 6, outputs: int = 3, k: int = 4,
               scales=None) -> Sample:
    """A reader with random inputs and weights; the target is its own unpruned output."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(samples, channels, k, generator=gen, dtype=torch.float64)
    if scales is not None:
        x = x * torch.tensor(scales, dtype=torch.float64)[None, :, None]
    weight = torch.randn(outputs, channels, k, generator=gen, dtype=torch.float64)
    return Sample(x=x, weight=weight, target=torch.einsum("sck,ock->so", x, weight))


def removed_sum(z: torch.Tensor, kept: list[int]) -> float:
    removed = [c for c in range(z.shape[1]) if c not in kept]
    return float((z[:, removed].sum(1) ** 2).sum())


def all_choices(channels: int, keep: int) -> list[list[int]]:
    return [list(c) for c in itertools.combinations(range(channels), keep)]


# --- ThiNet ----------------------------------------------------------------------------------


def test_thinet_greedy_matches_algorithm_1_step_by_step():
    """Each step removes the channel minimising the removed set's squared sum, written out naively."""
    z = tiny_layer(1).contributions(torch.zeros(300, dtype=torch.long))
    removed = []
    for _ in range(3):
        rest = [c for c in range(6) if c not in removed]
        removed.append(min(rest, key=lambda c: float((z[:, removed + [c]].sum(1) ** 2).sum())))
    assert thinet.greedy_removal(z, 3) == sorted(set(range(6)) - set(removed))


def test_thinet_finds_the_brute_force_optimum_where_channels_are_negligible():
    layer = tiny_layer(2, scales=[1, 1e-3, 1, 1e-3, 1, 1e-3])  # channels 1, 3, 5 barely contribute
    z = layer.contributions(torch.zeros(300, dtype=torch.long))
    best = min(all_choices(6, 3), key=lambda kept: removed_sum(z, kept))
    assert thinet.greedy_removal(z, 3) == best == [0, 2, 4]


@pytest.mark.parametrize("seed", range(5))
def test_thinet_choice_reconstructs_better_than_a_random_choice(seed):
    layer = tiny_layer(seed, scales=[1.0, 0.3, 2.0, 0.5, 1.5, 0.8])
    picked = thinet.outputs(layer, torch.Generator().manual_seed(seed))
    z = layer.contributions(picked)
    kept = thinet.greedy_removal(z, 3)
    costs = sorted(removed_sum(z, c) for c in all_choices(6, 3))
    assert removed_sum(z, kept) <= statistics.median(costs)
    assert removed_sum(z, kept) <= costs[len(costs) // 4]  # in the best quarter of all 20 choices


@pytest.mark.parametrize("seed", range(3))
def test_thinet_scales_lower_the_reconstruction_error(seed):
    layer = tiny_layer(seed)
    picked = thinet.outputs(layer, torch.Generator().manual_seed(0))
    kept, weight = thinet.reduce(layer, 3, torch.Generator().manual_seed(0))
    y = layer.target[torch.arange(len(picked)), picked]
    z = layer.contributions(picked)[:, kept]
    w = thinet.scales(layer, kept, picked)
    assert float(((z @ w - y) ** 2).sum()) < float(((z.sum(1) - y) ** 2).sum())
    assert torch.allclose(weight, layer.weight[:, kept] * w[None, :, None])


# --- regression pruning ------------------------------------------------------------------------


def test_lasso_in_gram_form_ranks_as_the_lasso_on_the_full_problem():
    from sklearn.linear_model import lasso_path

    layer = tiny_layer(3, samples=200, channels=8, outputs=4, scales=[1, 0.2, 1.5, 0.1, 0.7, 1.2, 0.05, 0.9])
    z = layer.contributions()  # (S, C, O)
    design = z.permute(0, 2, 1).reshape(-1, 8).numpy()  # one row per (sample, output)
    y = layer.target.reshape(-1).numpy()
    alphas, coefs, _ = lasso_path(design, y, alphas=np.geomspace(abs(design.T @ y).max() / len(y), 1e-6, 200))
    entry = [alphas[np.flatnonzero(row)].max() if row.any() else 0 for row in coefs]
    full = sorted(range(8), key=lambda c: -entry[c])
    ours = regression.lasso_ranking(*regression.gram(layer), alphas=200)
    for keep in (2, 4, 6):  # the same channels at each size (the alpha grids differ, so order within may not)
        assert set(ours[:keep]) == set(full[:keep])


def test_lasso_keeps_the_channels_the_output_depends_on():
    layer = tiny_layer(4)
    weight = layer.weight.clone()
    weight[:, [0, 2, 3, 5]] *= 1e-4  # the output is (almost) channels 1 and 4 alone
    layer = Sample(layer.x, weight, torch.einsum("sck,ock->so", layer.x, weight))
    assert sorted(regression.lasso_ranking(*regression.gram(layer))[:2]) == [1, 4]


@pytest.mark.parametrize("seed", range(5))
def test_regression_choice_against_brute_force_and_random_choices(seed):
    layer = tiny_layer(seed, scales=[1.0, 0.3, 2.0, 0.5, 1.5, 0.8])
    kept, weight = regression._reducer(100)(layer, 3, torch.Generator())
    errors = {tuple(c): layer.error(c, regression.refit(layer, c)) for c in all_choices(6, 3)}
    ours = layer.error(kept, weight)
    assert ours == pytest.approx(errors[tuple(kept)])
    assert ours <= statistics.median(errors.values())
    assert ours <= 3 * min(errors.values())  # near the optimum over all 20 choices


@pytest.mark.parametrize("seed", range(3))
def test_regression_refit_lowers_the_reconstruction_error(seed):
    layer = tiny_layer(seed)
    kept = [0, 2, 5]
    assert layer.error(kept, regression.refit(layer, kept)) < layer.error(kept)


# --- the layer-by-layer pruner ---------------------------------------------------------------


@pytest.fixture(scope="module")
def vgg(one_thread):
    torch.manual_seed(0)
    cfg = [c if c == "M" else c // 8 for c in rk.models.default_cfg("vgg16")]
    return rk.models.build("vgg16", num_classes=10, in_channels=1, cfg=cfg).eval()


def reader_output(model, name, images):
    out = []
    handle = model.get_submodule(name).register_forward_hook(lambda m, a, o: out.append(o.detach()))
    with torch.no_grad():
        model.eval()(images)
    handle.remove()
    conv = model.get_submodule(name)
    return out[0] - (conv.bias[None, :, None, None] if conv.bias is not None else 0)


@pytest.mark.parametrize("method,spec_type", [("thinet", rk.pruning.ThiNetSpec), ("regression", rk.pruning.RegressionSpec)])
def test_the_pruned_model_holds_the_refitted_reader(vgg, mini, method, spec_type):
    """One layer pruned (the second conv) by a fixed cfg: the pruned model's next conv reconstructs
    the unpruned one's output better than the same kept channels without the refit."""
    cfg = rk.models.default_cfg("vgg16")  # a target cfg names the registered widths: 24 of 64 is 3 of this model's 8
    cfg[1] = 24  # features.3: 8 -> 3 channels, read by features.7
    pruned = rk.pruning.prune(method, vgg, spec_type(cfg=tuple(cfg), images=64), data=mini)
    assert pruned.cfg[:2] == [8, 3] and pruned.cfg[2:] == vgg.cfg[2:] and list(pruned.kept) == [1] and len(pruned.kept[1]) == 3
    images = reconstruct.training_images(mini, spec_type(ratio=0.5, images=64, seed=1))  # other images
    want = reader_output(vgg, "features.7", images)
    plain = rk.pruning.surgery.extract(vgg, pruned.kept)
    err_refit = float(((reader_output(pruned.model, "features.7", images) - want) ** 2).sum())
    err_plain = float(((reader_output(plain, "features.7", images) - want) ** 2).sum())
    assert err_refit < err_plain
    assert pruned.arch == rk.pruning.surgery.pruned_arch(vgg, pruned.kept)


@pytest.mark.parametrize("method,spec_type", [("thinet", rk.pruning.ThiNetSpec), ("regression", rk.pruning.RegressionSpec)])
def test_layerwise_pruning_is_seeded_and_reaches_the_target(vgg, mini, method, spec_type):
    spec = spec_type(ratio=0.5, images=32, locations=3)
    first = rk.pruning.prune(method, vgg, spec, data=mini)
    again = rk.pruning.prune(method, vgg, spec, data=mini)
    assert first.kept == again.kept
    assert all(torch.equal(a, b) for a, b in zip(first.model.state_dict().values(), again.model.state_dict().values()))
    assert first.cfg == rk.pruning.l1_norm.target_cfg(vgg, spec)
    assert first.macs < rk.flops.count(vgg, (1, 32, 32)).macs
    with torch.no_grad():
        assert first.model(next(mini.test_batches(4))[0]).shape == (4, 10)


def test_a_linear_reader_is_reconstructed_too(vgg, mini):
    """The last conv is read by the classifier: its contributions are per flattened block."""
    cfg = rk.models.default_cfg("vgg16")
    cfg[-1] = 16  # 2 of this model's 64
    pruned = rk.pruning.prune("regression", vgg, rk.pruning.RegressionSpec(cfg=tuple(cfg), images=64), data=mini)
    assert pruned.model.classifier[0].weight.shape[1] == 2
    x = next(mini.test_batches(64))[0]
    with torch.no_grad():
        want = vgg(x)
        plain = rk.pruning.surgery.extract(vgg, pruned.kept)(x)
        got = pruned.model(x)
    assert float(((got - want) ** 2).sum()) < float(((plain - want) ** 2).sum())


# --- inputs and the pipeline -------------------------------------------------------------------


def test_bad_inputs_say_what_to_do(vgg, mini):
    with pytest.raises(ValueError, match="pass data="):
        rk.pruning.prune("thinet", vgg, rk.pruning.ThiNetSpec(ratio=0.5))
    with pytest.raises(ValueError, match="images must be a positive integer"):
        rk.pruning.ThiNetSpec(ratio=0.5, images=0)
    with pytest.raises(ValueError, match="exactly one of"):
        rk.pruning.RegressionSpec()
    with pytest.raises(ValueError, match="alphas"):
        rk.pruning.RegressionSpec(ratio=0.5, alphas=1)
    with pytest.raises(TypeError, match="takes a ThiNetSpec"):
        rk.pruning.prune("thinet", vgg, rk.pruning.L1Spec(ratio=0.5), data=mini)
    with pytest.raises(ValueError, match="no prunable conv widths"):
        model = rk.models.build("densenet40", num_classes=10, in_channels=1)
        rk.pruning.prune("regression", model, rk.pruning.RegressionSpec(ratio=0.5), data=mini)


def test_l1_targets_keep_their_run_keys():
    """Widths became the shared base of L1Spec: L1 targets' keys are those computed before."""
    protocol = rk.pipeline.Protocol("cifar10")
    for t, key in [
        (rk.pipeline.target("vgg16-a"), '61eded55f9db|l1-norm|{"cfg":[32,64,"M",128,128,"M",256,256,256,"M",256,256,256,'
                                        '"M",256,256,256],"type":"L1Spec"}'),
        (rk.pipeline.uniform("resnet56", 0.5), '76e5d373df5e|l1-norm|{"ratio":0.5,"type":"L1Spec"}'),
    ]:
        assert rk.pipeline._origin(rk.pipeline.parent_spec(protocol, t), t) == key


@pytest.mark.parametrize("method", ["thinet", "regression"])
def test_the_pipeline_prunes_fine_tunes_and_trains_from_scratch(mini, store, method, one_thread, monkeypatch):
    seen = []
    sampled = reconstruct.training_images
    monkeypatch.setattr(reconstruct, "training_images", lambda data, spec: seen.append(data.num_train) or sampled(data, spec))
    protocol = rk.pipeline.Protocol("fashion-mnist-mini", epochs=2, finetune_epochs=1, train_subset=64, test_subset=50)
    spec = rk.pruning.get(method).spec_type(ratio=0.5, images=32, locations=3)
    target = rk.pipeline.Target(f"resnet20-{method}", "resnet20", spec, method)
    runs = rk.pipeline.run(protocol, [target], seeds=[0], data=mini, store=store,
                           strategies=["fine-tune", "scratch-e"], progress=False)
    assert sorted(runs["strategy"]) == ["fine-tune", "scratch-e", "unpruned"]
    tuned = runs[runs.strategy == "fine-tune"].iloc[0]
    assert f"|{method}|" in tuned["init"]
    assert tuned["params"] < runs[runs.strategy == "unpruned"].iloc[0]["params"]
    assert seen == [64]  # the pruner samples the images the large model trained on, not the whole set


def test_a_table_of_pruned_and_fixed_targets_trains_the_fixed_ones_from_scratch_only(mini, store, one_thread):
    """Tables 2 and 3 mix targets pruning reaches with fixed ones (`rk.pruning.FixedSpec`): a fixed
    architecture equal to a pruned one trains the very same Scratch-E run, and takes no fine-tuning."""
    protocol = rk.pipeline.Protocol("fashion-mnist-mini", epochs=2, finetune_epochs=1, train_subset=64, test_subset=50)
    pruned = rk.pipeline.Target("resnet20-thinet", "resnet20", rk.pruning.ThiNetSpec(ratio=0.5, images=32, locations=3),
                                "thinet")
    cfg = rk.pruning.l1_norm.target_cfg(rk.models.build("resnet20"), pruned.spec)
    fixed = rk.pipeline.Target("resnet20-fixed", "resnet20", rk.pruning.FixedSpec(cfg), "fixed")
    runs = rk.pipeline.run_table(protocol, [pruned, fixed], seeds=[0], strategies=["fine-tune", "scratch-e"],
                                 data=mini, store=store, progress=False)
    assert sorted(runs[runs.config == "resnet20-fixed"].strategy) == ["scratch-e"]
    assert sorted(runs[runs.config == "resnet20-thinet"].strategy) == ["fine-tune", "scratch-e"]
    keys = runs[runs.strategy == "scratch-e"].set_index("config")["key"]
    assert keys["resnet20-fixed"] == keys["resnet20-thinet"]
    with pytest.raises(ValueError, match="from scratch only"):
        rk.pipeline.run_table(protocol, [fixed], seeds=[0], strategies=["fine-tune"], data=mini, store=store)
    with pytest.raises(ValueError, match="does not fit resnet20"):
        rk.pruning.prune("fixed", rk.models.build("resnet20"), rk.pruning.FixedSpec([16, 16]))


def test_the_papers_fixed_targets_build_their_architectures():
    """VGG-GAP, VGG-Tiny and ResNet-50-2x as "fixed" configs build exactly `rk.paper.architecture` (whose
    sizes test_imagenet_models checks against the papers'), selections included."""
    for name in ("vgg-gap", "vgg-tiny", "resnet50-2x"):
        config = rk.paper.config(name)
        assert config.method == "fixed" and not rk.pruning.get("fixed").from_trained
        with torch.device("meta"):  # the 138M-parameter base only describes the family here
            base = rk.models.build(config.model, num_classes=1000)
        built = rk.pruning.design.fixed(base, config.spec)
        assert built.arch == rk.paper.architecture(name), name
