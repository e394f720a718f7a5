"""L1-norm filter pruning and surgery: the paper's targets, the criterion, and the proof that
the physically pruned model is the large model with its pruned filters (and BN) zeroed."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import rethinkkit as rk
from rethinkkit.pruning import L1Spec, surgery
from rethinkkit.pruning.base import filter_l1
from rethinkkit.pruning.l1_norm import target_cfg


def _randomize_bn(model: nn.Module, generator: torch.Generator) -> None:
    """Non-trivial BN statistics and affine terms, so a forgotten BN slice shows up."""
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=generator, dtype=m.running_mean.dtype) * 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=generator, dtype=m.running_var.dtype) + 0.5)
            m.weight.data.copy_(torch.rand(m.weight.shape, generator=generator, dtype=m.weight.dtype) + 0.5)
            m.bias.data.copy_(torch.randn(m.bias.shape, generator=generator, dtype=m.bias.dtype) * 0.1)


def _twins(name: str, spec: L1Spec, in_channels: int = 3, seed: int = 0):
    torch.manual_seed(seed)
    large = rk.models.build(name, in_channels=in_channels).double()
    with torch.no_grad():
        _randomize_bn(large, torch.Generator().manual_seed(seed))
    pruned = rk.pruning.prune("l1-norm", large, spec)
    return large, pruned, surgery.zero_pruned(large, pruned.kept)


@pytest.mark.parametrize("config", ["vgg16-a", "resnet56-b", "resnet110-b"])
@pytest.mark.parametrize("mode", ["eval", "train"])
def test_pruned_model_is_the_masked_large_model(config, mode, one_thread):
    c = rk.paper.config(config)
    large, pruned, masked = _twins(c.model, c.spec)
    x = torch.randn(8, 3, 32, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    getattr(masked, mode)(), getattr(pruned.model, mode)(), getattr(large, mode)()
    with torch.no_grad():
        small, reference, full = pruned.model(x), masked(x), large(x)
    assert pruned.model.cfg == list(c.cfg)
    # 1e-10 relative to the logits' scale: eval-mode BN with random statistics lets deep ResNets' logits grow large
    assert (small - reference).abs().max() <= 1e-10 * reference.abs().max().clamp(min=1)
    assert (small - full).abs().max() > 1e-3, "pruning must change the function, or the test proves nothing"


def test_masking_without_bn_shift_is_not_the_pruned_model(one_thread):
    """Why BN's shift is zeroed too: zeroing only the filters (the original lottery masks,
    REFERENCE.md bug 2) leaves relu(beta) flowing on, so the models differ."""
    c = rk.paper.config("resnet56-a")
    large, pruned, masked = _twins(c.model, c.spec)
    for layer in masked.prunable_layers():
        if layer.position in pruned.kept:
            bn = masked.get_submodule(layer.dependents[0][0])
            drop = torch.ones(bn.bias.shape[0], dtype=torch.bool)
            drop[pruned.kept[layer.position]] = False
            bn.bias.data[drop] = 0.5
    masked.eval(), pruned.model.eval()
    x = torch.randn(4, 3, 32, 32, dtype=torch.float64)
    with torch.no_grad():
        assert (masked(x) - pruned.model(x)).abs().max() > 1e-6


@settings(max_examples=8, deadline=None)
@given(ratio=st.floats(0.0, 0.95), seed=st.integers(0, 1000))
def test_uniform_ratio_keeps_int_c_times_one_minus_p(ratio, seed):
    large, pruned, masked = _twins("resnet20", L1Spec(ratio=ratio), in_channels=1, seed=seed)
    for layer, width in zip(large.prunable_layers(), pruned.cfg):
        full = large.cfg[layer.position]
        assert width == max(1, int(full * (1 - ratio)))
    masked.eval(), pruned.model.eval()
    x = torch.randn(2, 1, 32, 32, dtype=torch.float64)
    with torch.no_grad():
        assert torch.allclose(pruned.model(x), masked(x), rtol=0, atol=1e-10)


@pytest.mark.parametrize("config", [c.name for c in rk.paper.configs()])
def test_paper_specs_give_the_paper_cfgs(config):
    c = rk.paper.config(config)
    assert target_cfg(rk.models.build(c.model, num_classes=c.num_classes), c.spec) == list(c.cfg)


def test_a_fixed_cfg_on_a_narrower_model_keeps_the_same_fraction_per_layer():
    """VGG-16-A's cfg is for the paper's VGG-16; at Protocol.width 0.25 each layer keeps the same
    fraction of the narrower model's filters: 64 -> 32 becomes 16 -> 8, 512 -> 256 becomes 128 -> 64,
    and a layer the paper keeps whole (128) stays whole (32)."""
    c = rk.paper.config("vgg16-a")
    narrow = rk.models.build(c.model, cfg=rk.models.uniform_cfg(c.model, 0.75))
    cfg = target_cfg(narrow, c.spec)
    paper_cfg = rk.models.default_cfg(c.model)
    expected = [e if e == "M" else max(1, int(h * t / p)) for e, h, t, p in zip(c.cfg, narrow.cfg, c.cfg, paper_cfg)]
    assert cfg == expected and cfg[0] == 8 and cfg[-1] == 64 and cfg[3] == narrow.cfg[3] == 32
    assert rk.pruning.prune("l1-norm", narrow, c.spec).arch["cfg"] == expected


def test_l1_criterion_keeps_the_filters_with_the_largest_l1_norm():
    torch.manual_seed(0)
    model = rk.models.build("resnet20")
    conv = model.layer1[0].conv1
    scale = torch.tensor([5.0, 0.1, 3.0, 0.2, 4.0, 0.3, 2.0, 0.4, 1.0, 0.5, 6.0, 0.6, 7.0, 0.7, 8.0, 0.8])
    with torch.no_grad():
        conv.weight.copy_(torch.ones_like(conv.weight) * scale[:, None, None, None])
    pruned = rk.pruning.prune("l1-norm", model, L1Spec(ratio=0.5))
    assert pruned.kept[0] == [0, 2, 4, 6, 8, 10, 12, 14]  # the 8 largest, in channel order
    norms = filter_l1(model)[0]
    assert norms[pruned.kept[0]].min() > norms[[1, 3, 5, 7, 9, 11, 13, 15]].max()
    assert torch.equal(pruned.model.layer1[0].conv1.weight, conv.weight[pruned.kept[0]])
    assert torch.equal(pruned.model.layer1[0].conv2.weight, model.layer1[0].conv2.weight[:, pruned.kept[0]])


def test_skip_ids_and_stage_ratios_are_respected():
    model = rk.models.build("resnet56")
    cfg = target_cfg(model, L1Spec(skip=(2,), ratios=(0.5, 0.0, 0.25)))
    assert cfg[0] == 16 and cfg[1:9] == [8] * 8 and cfg[9:18] == [32] * 9 and cfg[18:] == [48] * 9


def test_pruning_leaves_the_large_model_alone():
    torch.manual_seed(0)
    model = rk.models.build("vgg16")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rk.pruning.prune("l1-norm", model, rk.paper.config("vgg16-a").spec)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: L1Spec(), "exactly one of"),
        (lambda: L1Spec(ratio=0.5, ratios=(0.1, 0.1, 0.1)), "exactly one of"),
        (lambda: L1Spec(ratio=1.0), "in \\[0, 0.95\\]"),
        (lambda: target_cfg(rk.models.build("resnet56"), L1Spec(ratios=(0.1, 0.1))), "needs 3 values"),
        (lambda: target_cfg(rk.models.build("resnet56"), L1Spec(skip=(3,), ratios=(0.1,) * 3)), "cannot prune"),
        (lambda: target_cfg(rk.models.build("resnet20"), L1Spec(cfg=[17] * 9)), "between 1 and"),
        (lambda: target_cfg(rk.models.build("resnet20"), L1Spec(cfg=[8] * 8)), "does not match"),
        (lambda: rk.pruning.prune("magic", rk.models.build("resnet20"), L1Spec(ratio=0.5)), "unknown pruning method"),
        (lambda: surgery.extract(rk.models.build("resnet20"), {0: [3, 1]}), "ascending"),
        (lambda: surgery.extract(rk.models.build("resnet20"), {0: [16]}), "between 1 and 16"),
        (lambda: rk.pruning.prune("l1-norm", rk.models.build("densenet40"), L1Spec(ratio=0.5)), "does not apply to it"),
    ],
)
def test_bad_pruning_requests_say_what_is_wrong(make, message):
    with pytest.raises(ValueError, match=message):
        make()
