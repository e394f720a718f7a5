"""Network Slimming on every family it prunes (VGG widths, PreResNet selections and widths,
DenseNet selections, the ImageNet VGG-11's conv and Linear widths): the physically pruned
model is the large model with its pruned channels zeroed, the threshold is one global one,
an emptied layer is guarded and named, and the hand-off to Scratch-E/B carries the exact
pruned architecture (channel selections included) without the sparsity hook."""
import pytest
import torch
from torch import nn

import rethinkkit as rk
from rethinkkit.pruning import SlimmingSpec, surgery

pytestmark = pytest.mark.usefixtures("one_thread")

# The ImageNet VGG-11 at half its conv widths and 1/8 of its hidden widths: the same layers
# and readers (the first Linear still reads C x 7 x 7 blocks), at CPU-test cost (its default
# classifier alone is 120M weights).
VGG11_SMALL = [32, "M", 64, "M", 128, 128, "M", 256, 256, "M", 256, 256, "M", 512, 512]

# model -> (its paper ratio, a gate to empty, cfg (None: the default), input side)
CASES = {
    "vgg19": (0.7, "features.50", None, 32),  # the last conv's BN: the classifier reads it
    "preresnet164": (0.4, "layer2.0.bn1", None, 32),  # a selection of a block with a projection shortcut
    "preresnet56": (0.8, "layer3.2.bn2", None, 32),  # a bottleneck's conv1 width
    "densenet40": (0.4, "bn", None, 32),  # the final selection, read by fc
    "vgg11-imagenet": (0.5, "features.26", VGG11_SMALL, 64),  # the last conv, read as 7x7 blocks by a Linear
}


def _randomize(model: nn.Module, generator: torch.Generator) -> None:
    """A trained-looking model: random BN statistics and shifts, scales of both signs and
    spread-out |gamma|, nonzero conv/Linear biases, so a forgotten slice shows up."""
    def rand(shape, dtype):
        return torch.rand(shape, generator=generator, dtype=dtype)

    def randn(shape, dtype):
        return torch.randn(shape, generator=generator, dtype=dtype)

    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                sign = torch.where(rand(m.weight.shape, m.weight.dtype) < 0.2, -1.0, 1.0).to(m.weight.dtype)
                m.weight.copy_(sign * (rand(m.weight.shape, m.weight.dtype) + 0.05))
                m.bias.copy_(randn(m.bias.shape, m.bias.dtype) * 0.1)
                m.running_mean.copy_(randn(m.running_mean.shape, m.running_mean.dtype) * 0.1)
                m.running_var.copy_(rand(m.running_var.shape, m.running_var.dtype) + 0.5)
            elif isinstance(m, (nn.Conv2d, nn.Linear)) and m.bias is not None:
                m.bias.copy_(randn(m.bias.shape, m.bias.dtype) * 0.1)


def _large(name: str, seed: int = 0, in_channels: int = 3, dtype=torch.float64) -> nn.Module:
    cfg = CASES[name][2] if name in CASES else None
    torch.manual_seed(seed)
    model = rk.models.build(name, in_channels=in_channels, cfg=cfg).to(dtype)
    _randomize(model, torch.Generator().manual_seed(seed))
    return model


def _empty(model: nn.Module, gate: str) -> None:
    """Scale one gate's |gamma| far below every other channel's, so the threshold takes it all."""
    bn = model.get_submodule(gate)
    with torch.no_grad():
        bn.weight.mul_(1e-4)


def _distinct_scales(model: nn.Module, generator: torch.Generator) -> None:
    """Every BN's |gamma| a distinct value in [0.05, 1.05) (distinct in float32 too, which the
    threshold compares in), in random order across layers, with random signs."""
    bns = [m for m in model.modules() if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))]
    total = sum(bn.num_features for bn in bns)
    values = 0.05 + torch.randperm(total, generator=generator).double() / total
    signs = torch.where(torch.rand(total, generator=generator) < 0.2, -1.0, 1.0).double()
    with torch.no_grad():
        for bn, chunk, sign in zip(bns, values.split([bn.num_features for bn in bns]),
                                   signs.split([bn.num_features for bn in bns])):
            bn.weight.copy_(sign * chunk)


def _all_bn_scales(model: nn.Module) -> torch.Tensor:
    """|gamma| of every BatchNorm, as the original prune scripts collect them (module order)."""
    return torch.cat([m.weight.detach().abs().flatten() for m in model.modules()
                      if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))])


# --- the pruned model is the masked large model ---------------------------------------------

@pytest.mark.parametrize("emptied", [False, True], ids=["ratio", "emptying"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_pruned_model_is_the_masked_large_model(name, emptied):
    ratio, gate, _, side = CASES[name]
    large = _large(name)
    if emptied:
        _empty(large, gate)
    pruned = rk.pruning.prune("network-slimming", large, SlimmingSpec(ratio), input_shape=(3, side, side))
    masked = surgery.zero_pruned(large, pruned.kept)
    position = {layer.gate: layer.position for layer in large.prunable_layers()}[gate]
    if emptied:
        # The guard: the layer keeps its single largest-|gamma| channel and the notes name it.
        assert any(f"empty {gate} (cfg[{position}])" in note for note in pruned.notes), pruned.notes
        assert pruned.cfg[position] == 1
        assert pruned.kept[position] == [int(large.get_submodule(gate).weight.abs().argmax())]
    else:
        assert pruned.notes == ()
        assert pruned.cfg[position] > 1
    assert pruned.model.cfg == pruned.cfg and pruned.model.arch == pruned.arch
    x = torch.randn(3, 3, side, side, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    for mode in ("eval", "train"):  # train: BN normalises with the batch's statistics
        for model in (masked, pruned.model, large):
            model.train(mode == "train")
        with torch.no_grad():
            small, reference, full = pruned.model(x), masked(x), large(x)
        scale = reference.abs().max().clamp(min=1)
        assert (small - reference).abs().max() <= 1e-10 * scale, mode
        assert (small - full).abs().max() > 1e-4 * scale, f"{mode}: pruning must change the function"


# --- the global threshold ------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(CASES))
def test_one_global_threshold_over_every_bn(name):
    ratio = CASES[name][0]
    large = _large(name, seed=3, dtype=torch.float32)
    _distinct_scales(large, torch.Generator().manual_seed(3))
    layers = large.prunable_layers()
    # Slimming's gates are every BN of these families, as the original prune scripts threshold.
    bns = [n for n, m in large.named_modules() if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))]
    assert sorted(layer.gate for layer in layers) == sorted(bns)
    side = CASES[name][3]
    pruned = rk.pruning.prune("network-slimming", large, SlimmingSpec(ratio), input_shape=(3, side, side))

    scales = _all_bn_scales(large)
    total = scales.numel()
    threshold = torch.sort(scales).values[int(total * ratio)]
    kept_scales, pruned_scales, rescued = [], [], []
    for layer in layers:
        gamma = large.get_submodule(layer.gate).weight.detach().abs()
        above = gamma > threshold
        if not above.any():  # the threshold empties it: the guard keeps its largest |gamma|
            rescued.append(layer)
            above = gamma == gamma.max()
        keep = torch.zeros_like(above)
        keep[pruned.kept.get(layer.position, list(range(gamma.numel())))] = True
        assert torch.equal(keep, above), layer.gate
        if layer not in rescued:
            kept_scales.append(gamma[keep])
        pruned_scales.append(gamma[~keep])
    # Every kept channel outranks every pruned one, whichever layer each is in (bar the guard's).
    assert torch.cat(kept_scales).min() > torch.cat(pruned_scales).max()
    # sorted(|gamma|)[int(total * ratio)] is the threshold and only channels strictly above it
    # stay (the original's `gt(thre)`), so the threshold channel itself goes too: with no ties
    # int(total * ratio) + 1 channels are pruned, less one per layer the guard keeps alive.
    removed = sum(large.cfg[layer.position] - pruned.cfg[layer.position] for layer in layers)
    assert removed == int(total * ratio) + 1 - len(rescued)
    assert len(pruned.notes) == len(rescued)
    assert all(f"empty {layer.gate} (cfg[{layer.position}])" in note for layer, note in zip(rescued, pruned.notes))


# --- the hand-off: Scratch-E/B build exactly the pruned architecture --------------------------

PROTOCOL = dict(epochs=2, finetune_epochs=1)
SPARSITY = {"vgg19": 1e-4, "preresnet164": 1e-5, "densenet40": 1e-5}
RATIOS = {"vgg19": 0.7, "preresnet164": 0.4, "densenet40": 0.4}


@pytest.mark.parametrize("name", sorted(SPARSITY))
def test_scratch_children_build_exactly_the_pruned_architecture(name):
    protocol = rk.pipeline.protocol("fashion-mnist-mini", **PROTOCOL)
    target = rk.pipeline.Target("pre", name, SlimmingSpec(RATIOS[name]), "network-slimming")
    parent = rk.pipeline.parent_spec(protocol, target)
    # The parent trains with the sparsity term at the paper's s for its family.
    sparsity = [hook for hook in parent.hooks if isinstance(hook, rk.train.BNL1Penalty)]
    assert len(sparsity) == 1 and sparsity[0].s == SPARSITY[name]

    torch.manual_seed(0)
    large = rk.models.build(name, num_classes=10, in_channels=1)
    _randomize(large, torch.Generator().manual_seed(0))
    pruned = rk.pruning.prune("network-slimming", large, target.spec)
    base_macs = rk.flops.count(large, (1, 32, 32)).macs
    assert pruned.macs < base_macs
    selections = pruned.model.selections()
    if name != "vgg19":  # random gammas: the kept channels are not the first k
        assert any(not layer.is_default() for layer in selections)

    for strategy in ("scratch-e", "scratch-b"):
        spec = rk.pipeline.child_spec(parent, pruned, target, rk.pipeline.strategy(strategy), protocol, base_macs)
        child = rk.runs.build_model(spec, num_classes=10, in_channels=1)
        assert child.cfg == pruned.cfg, strategy
        assert child.arch == pruned.arch, strategy
        assert [layer.index.tolist() for layer in child.selections()] == [
            layer.index.tolist() for layer in selections], strategy
        assert not any(isinstance(hook, rk.train.BNL1Penalty) for hook in spec.hooks), strategy
        assert spec.init == "scratch"
        if strategy == "scratch-e":
            assert spec.recipe.epochs == protocol.large_recipe.epochs
        else:
            assert spec.recipe.epochs == rk.budget.scratch_b(base_macs, pruned.macs, protocol.large_recipe).epochs
            assert spec.recipe.epochs > protocol.large_recipe.epochs  # the pruned model is cheaper


def test_sparsity_of_the_imagenet_vgg11_reaches_its_classifier():
    """The ImageNet VGG-11 prunes its hidden Linear widths by their BatchNorm1d scales, so its
    sparsity term pulls on BatchNorm1d too (the original's updateBN), at s = 1e-5."""
    target = rk.pipeline.Target("pre", "vgg11-imagenet", SlimmingSpec(0.5), "network-slimming")
    hooks = rk.pruning.get("network-slimming").large_hooks(target.model, target.spec)
    assert [(type(h), h.s, h.bn1d) for h in hooks] == [(rk.train.BNL1Penalty, 1e-5, True)]
    gates = {layer.gate for layer in _large("vgg11-imagenet", dtype=torch.float32).prunable_layers()}
    assert {"classifier.1", "classifier.4"} <= gates


@pytest.mark.parametrize("model, ratio", [("vgg19", 0.7), ("preresnet164", 0.4)])
def test_a_sparsity_trained_model_prunes_to_its_masked_twin_and_scratch_trains_that_arch(model, ratio, mini, tmp_path):
    """End to end through the store: the large model trains with the sparsity hook (a quarter of
    its widths and a strong s, so it is CPU-cheap and the scales really spread), is pruned at the
    paper's ratio into a smaller model equal to its masked twin, and the stored Scratch-E/B runs
    are exactly that architecture, channel selections included."""
    from rethinkkit import pipeline

    protocol = pipeline.Protocol("fashion-mnist-mini", epochs=2, finetune_epochs=1, train_subset=64,
                                 test_subset=50, width=0.25)
    target = pipeline.Target(f"{model}-slim", model, SlimmingSpec(ratio, s=1e-2), "network-slimming")
    store = rk.runs.Store(tmp_path)
    pipeline.run(protocol, [target], [0], strategies=["scratch-e", "scratch-b"], data=mini, store=store, progress=False)
    parent = pipeline.parent_spec(protocol, target)
    assert parent.hooks == (rk.train.BNL1Penalty(s=1e-2),)
    large = store.get(parent, 0)
    pruned = pipeline.pruned_of(large, target, mini)
    assert pruned.params < large.params and pruned.macs < large.macs
    if model == "preresnet164":
        assert "select" in pruned.options  # the threshold reached the block-input selections too

    big = large.load_model().double().eval()
    small, masked = surgery.extract(big, pruned.kept), surgery.zero_pruned(big, pruned.kept)
    x = torch.randn(4, 1, 32, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert (small(x) - masked(x)).abs().max() <= 1e-10 * masked(x).abs().max().clamp(min=1)

    for name in ("scratch-e", "scratch-b"):
        spec = pipeline.child_spec(parent, pruned, target, pipeline.strategy(name), protocol, large.macs)
        trained = store.get(spec, 0).load_model()
        assert trained.arch["cfg"] == pruned.cfg and trained.arch["options"] == pruned.arch["options"]
        assert [m.index.tolist() for m in trained.selections()] == [m.index.tolist() for m in pruned.model.selections()]
