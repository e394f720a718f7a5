"""Unstructured magnitude pruning (Han et al. 2015; Table 6) and the lottery-ticket starts (Section 6):
the global threshold, masks that stay exactly zero through training and a kill + resume, nonzero
MACs against an independent count, the rescaled scratch init, winning tickets bit-identical to
their large run's initialisation."""
import textwrap

import pytest
import torch
from torch import nn

import rethinkkit as rk
from rethinkkit import pipeline
from rethinkkit.pruning import MagnitudeSpec
from rethinkkit.pruning.magnitude import conv_weights

from killing import sigkill_after_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")


def _trained_like(name="vgg19_bn", seed=0, **kwargs):
    """A model whose weights are spread like a trained one's (no ties): a seeded fresh build."""
    torch.manual_seed(seed)
    return rk.models.build(name, **kwargs)


@pytest.mark.parametrize("ratio", [0.3, 0.8, 0.95])
def test_one_global_threshold_prunes_the_ratio_of_all_conv_weights(ratio):
    model = _trained_like("vgg19_bn", cfg=rk.models.uniform_cfg("vgg19_bn", 0.75))
    pruned = rk.pruning.prune("magnitude", model, MagnitudeSpec(ratio))
    convs = conv_weights(model)
    assert set(pruned.masks) == set(convs)  # every conv, nothing else
    total = sum(m.numel() for m in pruned.masks.values())
    kept = sum(int(m.sum()) for m in pruned.masks.values())
    assert abs((1 - kept / total) - ratio) < 1e-4
    flat = torch.cat([w.detach().abs().flatten() for w in convs.values()])
    threshold = torch.sort(flat).values[int(total * ratio)]
    small = dict(pruned.model.named_parameters())
    for name, weight in convs.items():  # one threshold: kept exactly where |w| > it, weights zeroed elsewhere
        assert torch.equal(pruned.masks[name].bool(), weight.detach().abs() > threshold)
        assert torch.equal(small[name], weight.detach() * pruned.masks[name])
    assert torch.equal(small["classifier.weight"], model.classifier.weight)  # the Linear is not pruned
    assert pruned.arch == model.arch and pruned.kept == {}


def test_iterative_rounds_prune_a_fraction_of_the_remaining_weights():
    """The original iterative rule: `ratio` of the still-nonzero conv weights, so k rounds of 20%
    leave 0.8^k of them (up to one weight of rounding per round)."""
    model = _trained_like("resnet20")
    total = sum(w.numel() for w in conv_weights(model).values())
    for k in range(1, 4):
        model = rk.pruning.prune("magnitude", model, MagnitudeSpec(0.2, remaining=True)).model
        nonzero = sum(int(torch.count_nonzero(w)) for w in conv_weights(model).values())
        assert abs(nonzero - total * 0.8 ** k) <= k + 1


def test_bad_magnitude_specs_say_what_is_wrong():
    for bad in (1.0, -0.1, "0.5", True):
        with pytest.raises(ValueError, match="pruned fraction of the conv weights"):
            MagnitudeSpec(bad)
    with pytest.raises(ValueError, match="True or False"):
        MagnitudeSpec(0.5, remaining=1)
    with pytest.raises(TypeError, match="magnitude takes a MagnitudeSpec"):
        rk.pruning.prune("magnitude", _trained_like("resnet20"), rk.pruning.L1Spec(ratio=0.5))


def independent_nonzero_macs(model: nn.Module, side: int = 32) -> int:
    """Nonzero MACs of a CIFAR VGG, counted layer by layer: a conv's nonzero weights times its
    output positions (3x3 stride-1 pad-1: the map keeps its side; 'M' halves it), plus the Linear."""
    macs = 0
    for entry, layer in zip(model.cfg, [m for m in model.features if isinstance(m, (nn.Conv2d, nn.MaxPool2d))]):
        if isinstance(layer, nn.MaxPool2d):
            side //= 2
        else:
            macs += int(torch.count_nonzero(layer.weight)) * side * side
    return macs + model.classifier.weight.numel()


def test_nonzero_macs_of_a_95_percent_sparse_vgg19_equal_an_independent_count():
    pruned = rk.pruning.prune("magnitude", _trained_like("vgg19_bn"), MagnitudeSpec(0.95))
    dense = rk.flops.count(rk.models.build("vgg19_bn"), (3, 32, 32)).macs
    assert pruned.macs == independent_nonzero_macs(pruned.model)
    assert dense / pruned.macs > 5  # the budget ratio Scratch-B stretches by (the original measured 1)
    described = rk.budget.describe(dense, pruned.macs, rk.Recipe())
    assert described["scratch_b_epochs"] == int(160 * dense / pruned.macs)
    assert described["capped"].startswith("no: the paper's CIFAR rule has no cap")
    capped = rk.budget.describe(dense, pruned.macs, rk.Recipe(), cap=3)
    assert capped["scratch_b_epochs"] == 480 and capped["capped"].startswith("yes: the MACs ratio")
    assert rk.budget.describe(dense, pruned.macs, rk.Recipe(epochs=90), rule="imagenet")["capped"].startswith("yes")


def test_masked_weights_stay_exactly_zero_through_training_with_momentum_and_weight_decay(tiny):
    model = _trained_like("resnet20", in_channels=1, cfg=[4] * 3 + [8] * 3 + [16] * 3)
    pruned = rk.pruning.prune("magnitude", model, MagnitudeSpec(0.8))
    recipe = rk.Recipe(epochs=3, momentum=0.9, weight_decay=5e-4, nesterov=True)  # 12 steps a epoch
    trained = pruned.model
    rk.train.train(trained, tiny, recipe, hooks=(rk.train.WeightMasks(pruned.masks),), progress=False)
    params = dict(trained.named_parameters())
    for name, mask in pruned.masks.items():
        assert torch.count_nonzero(params[name][mask == 0]) == 0, name
        assert torch.count_nonzero(params[name][mask == 1]) == int(mask.sum()), name  # the kept ones trained
    assert not torch.equal(params["conv1.weight"], model.conv1.weight * pruned.masks["conv1.weight"])


RUNNER = textwrap.dedent(
    """
    import sys, torch
    import rethinkkit as rk
    from rethinkkit.config import Recipe, RunSpec
    torch.manual_seed(0)
    large = rk.models.build("resnet20", in_channels=1, cfg=[4] * 3 + [8] * 3 + [16] * 3)
    pruned = rk.pruning.prune("magnitude", large, rk.pruning.MagnitudeSpec(0.8))
    spec = RunSpec(dataset="fashion-mnist-mini", model="resnet20", cfg=[4] * 3 + [8] * 3 + [16] * 3,
                   recipe=Recipe(epochs=6, weight_decay=5e-4), train_subset=512,
                   hooks=(rk.train.WeightMasks(pruned.masks),), init="masked test")
    if __name__ == "__main__":
        rk.runs.Store(sys.argv[1]).get_or_run(spec, 3, device="cpu", progress=False,
                                              initial=lambda: pruned.model.state_dict())
    """
)


@pytest.mark.slow
def test_masked_weights_stay_zero_across_a_kill_and_resume(tmp_path):
    script = tmp_path / "runner.py"
    script.write_text(RUNNER)
    scope: dict = {}
    exec(RUNNER, scope)  # the same spec and masks in this process
    spec, pruned = scope["spec"], scope["pruned"]
    killed = rk.runs.Store(tmp_path / "killed")
    checkpoint = killed.run_dir(spec, 3) / "checkpoint.pt"
    sigkill_after_checkpoint(script, killed.root, checkpoint)
    assert killed.status(spec, 3) == "partial", "the kill did not land mid-run"
    torch.set_num_threads(1)
    resumed = killed.get_or_run(spec, 3, device="cpu", initial=lambda: pruned.model.state_dict())
    straight = rk.runs.Store(tmp_path / "straight").get_or_run(spec, 3, device="cpu",
                                                               initial=lambda: pruned.model.state_dict())
    state, other = resumed.state_dict(), straight.state_dict()
    for name, mask in pruned.masks.items():
        assert torch.count_nonzero(state[name][mask == 0]) == 0, name
        assert torch.equal(state[name], other[name]), name
    assert resumed.history["test_top1"].tolist() == straight.history["test_top1"].tolist()
    # the resumed process counted its MACs on a freshly built model: the masks make them the nonzero ones
    assert resumed.macs == straight.macs == pruned.macs < rk.flops.count(scope["large"], (1, 32, 32)).macs



@pytest.fixture
def protocol():
    return pipeline.Protocol("fashion-mnist-mini", epochs=2, finetune_epochs=1, train_subset=256, test_subset=200)


def test_a_winning_ticket_starts_bit_identical_to_its_large_runs_initialisation(mini, store, protocol):
    """Winning ticket = the pruned masks on the large run's *initial* weights, bit for bit; random
    init = the same masks on the original's rescaled fresh draw; both at the large schedule."""
    t = pipeline.uniform("resnet20", 0.8, method="magnitude")
    df = pipeline.run(protocol, [t], seeds=[1], strategies=list(pipeline.LOTTERY), data=mini, store=store,
                      progress=False)
    assert list(df["strategy"]) == ["unpruned", "winning-ticket", "random-init"]
    assert (df["epochs"] == 2).all()
    large = store.get(pipeline.parent_spec(protocol, t), 1)
    pruned = pipeline.pruned_of(large, t, mini)
    expected = store.initial_model(large.spec, 1, mini).state_dict()
    for name, mask in pruned.masks.items():
        expected[name] = expected[name] * mask.to(expected[name].dtype)
    ticket = pipeline._start("original", pruned, large.seed, large, store, mini)()
    for name, value in expected.items():
        assert torch.equal(ticket[name].cpu(), value.cpu()), name
    ticket_run = store.get(pipeline.child_spec(pipeline.parent_spec(protocol, t), pruned, t,
                                               pipeline.strategy("winning-ticket"), protocol, large.macs), 1)
    assert ticket_run.history["init_sha256"].iloc[0] == rk.train.state_digest(expected)  # what it trained from
    assert df["init"].iloc[1].endswith("|original-init") and df["init"].iloc[2] == "scratch|rescaled"


def test_scratch_strategies_start_as_the_method_declares(protocol):
    magnitude = pipeline.uniform("vgg19_bn", 0.5, method="magnitude")
    unscaled = pipeline.Target("x", "vgg19_bn", MagnitudeSpec(0.5, rescale=False), "magnitude")
    l1 = pipeline.uniform("vgg16", 0.5)
    scratch = pipeline.strategy("scratch-b")
    assert pipeline.start_of(scratch, magnitude) == "rescaled"
    assert pipeline.start_of(scratch, unscaled) == "fresh"
    assert pipeline.start_of(scratch, l1) == "fresh"
    assert pipeline.start_of(pipeline.strategy("fine-tune"), magnitude) == "trained"
    assert pipeline.strategy("random-init").schedule == pipeline.strategy("scratch-e").schedule == "large"


def test_lr_is_a_protocol_knob_and_a_named_deviation():
    p = pipeline.protocol("cifar10", lr=0.01)
    assert p.large_recipe.lr == 0.01 and p.deviations()["large.lr"] == (0.01, 0.1)
    assert pipeline.large_spec(p, "vgg16_bn").key() != pipeline.large_spec(pipeline.protocol("cifar10"), "vgg16_bn").key()
    assert pipeline.protocol("cifar10", lr=0.1) == pipeline.protocol("cifar10")
    with pytest.raises(ValueError, match="initial learning rate"):
        pipeline.protocol("cifar10", lr=-1)
    capped = pipeline.protocol("cifar10", budget_cap=3)
    assert capped.deviations()["budget_cap"] == (3, "none")
    with pytest.raises(ValueError, match="budget_cap"):
        pipeline.protocol("cifar10", budget_cap=0.5)


def test_iterative_pruning_chains_cached_winning_tickets(mini, store, protocol):
    """Round k prunes 20% of what round k-1's trained winning ticket kept: masks nest, the
    sparsity is 1 - 0.8^k, and every round is a run in the store (a second call trains nothing)."""
    targets = pipeline.iterative("resnet20", rounds=2)
    assert [t.rounds for t in targets] == [1, 2] and targets[1].name == "resnet20-iterative-2"
    df = pipeline.run(protocol, targets, seeds=[0], strategies=["winning-ticket"], data=mini, store=store,
                      progress=False)
    rows = df[df.strategy == "winning-ticket"].set_index("config")
    assert rows.loc["resnet20-iterative-1", "sparsity"] == pytest.approx(0.2, abs=1e-4)
    assert rows.loc["resnet20-iterative-2", "sparsity"] == pytest.approx(0.36, abs=1e-4)
    large = store.get(pipeline.parent_spec(protocol, targets[0]), 0)
    one = pipeline.pruned_for(large, targets[0], protocol, store, mini)
    two = pipeline.pruned_for(large, targets[1], protocol, store, mini)
    for name, mask in two.masks.items():
        assert bool((mask <= one.masks[name]).all()), name  # round 2 keeps a subset of round 1
    assert rows.loc["resnet20-iterative-1", "key"] != rows.loc["resnet20-iterative-2", "key"]
    before = {p.name for p in store.root.iterdir()}
    again = pipeline.run(protocol, targets, seeds=[0], strategies=["winning-ticket"], data=mini, store=store,
                         progress=False)
    assert {p.name for p in store.root.iterdir()} == before and again["key"].tolist() == df["key"].tolist()
    with pytest.raises(ValueError, match="remaining=True"):
        pipeline.Target("x", "resnet20", MagnitudeSpec(0.2), "magnitude", rounds=2)


def test_an_unscaled_scratch_run_counts_its_nonzero_macs_and_the_reports_read_the_runs(mini, store, protocol):
    """rescale=False starts from the seed's plain fresh init (masked by the hook): the run still
    counts the masked model's MACs. Then the report functions of 04_3 and F on real runs."""
    import matplotlib

    matplotlib.use("Agg")
    t = pipeline.Target("resnet20-p80-unscaled", "resnet20", MagnitudeSpec(0.8, rescale=False), "magnitude")
    df = pipeline.run(protocol, [t], seeds=[0, 1], strategies=["fine-tune", "scratch-e"], data=mini, store=store,
                      progress=False)
    large = store.get(pipeline.parent_spec(protocol, t), 0)
    pruned = pipeline.pruned_of(large, t, mini)
    scratch = df[(df.strategy == "scratch-e") & (df.seed == 0)].iloc[0]
    assert scratch["init"] == "scratch" and scratch["macs"] == pruned.macs < large.macs
    budgets = rk.report.run_budgets(df, protocol)
    assert budgets["macs_ratio"].iloc[0] == pytest.approx(large.macs / df[df.strategy != "unpruned"].macs.mean())
    assert budgets["capped"].iloc[0].startswith("no: the paper's CIFAR rule")
    weights = rk.report.conv_weights(df, store)
    assert (weights["weight"] != 0).all() and set(weights["strategy"]) == {"unpruned", "fine-tune", "scratch-e"}
    near = rk.report.near_zero(weights).set_index("strategy")["fraction_below"]
    assert near["unpruned"] == pytest.approx(0.1, abs=0.01)
    rk.report.plot_weights(weights)
    ax = rk.report.plot_sparsity(df.assign(lr=0.1))
    assert set(ax.get_legend_handles_labels()[1]) >= {"fine-tune, lr 0.1", "scratch-e, lr 0.1"}
    with pytest.raises(ValueError, match="needs masked runs"):
        rk.report.plot_sparsity(df.assign(sparsity=float("nan")))
