"""The model registry and the four CIFAR families (CPU, batch of 2, 32x32)."""

import json
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from rethinkkit import models
from rethinkkit.models.common import ChannelSelection
from rethinkkit.models.resnet import BasicBlock, ShortcutA

ALL = [
    "densenet40", "densenet_bc100", "preresnet110", "preresnet164", "preresnet56", "resnet110", "resnet20",
    "resnet32", "resnet34", "resnet50", "resnet50-imagenet", "resnet56", "vgg11", "vgg11-imagenet", "vgg13", "vgg16",
    "vgg16-imagenet", "vgg16_bn", "vgg16_bn-imagenet", "vgg19", "vgg19_bn",
]
UNIFORM = [name for name in ALL if not name.startswith("densenet")]

# Li et al. (2017) predefined targets, from REFERENCE.md.
VGG16_A = [32, 64, "M", 128, 128, "M", 256, 256, 256, "M", 256, 256, 256, "M", 256, 256, 256]
RESNET56_A = [14] * 7 + [16, 14] + [32] + [28] * 8 + [64] + [57] * 7 + [64]


pytestmark = pytest.mark.usefixtures("one_thread")


def shapes(model):
    return {key: tuple(value.shape) for key, value in model.state_dict().items()}


def forward_backward(model, in_channels, num_classes):
    torch.manual_seed(0)
    x = torch.randn(2, in_channels, 32, 32)
    logits = model(x)
    assert logits.shape == (2, num_classes)
    loss = F.cross_entropy(logits, torch.tensor([0, num_classes - 1]))
    loss.backward()
    assert torch.isfinite(loss)
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name


def test_names_are_the_registered_set():
    assert models.names() == ALL


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("in_channels, num_classes", [(3, 10), (1, 100)])
def test_every_model_runs_and_round_trips(name, in_channels, num_classes):
    model = models.build(name, num_classes=num_classes, in_channels=in_channels)
    forward_backward(model, in_channels, num_classes)
    arch = model.arch
    assert arch["name"] == name
    assert arch["cfg"] == model.cfg == models.default_cfg(name)
    assert (arch["num_classes"], arch["in_channels"]) == (num_classes, in_channels)
    assert json.loads(json.dumps(arch)) == arch
    assert shapes(models.from_arch(arch)) == shapes(model)


@pytest.mark.parametrize("name", UNIFORM)
def test_uniform_half_builds_and_runs(name):
    cfg = models.uniform_cfg(name, 0.5)
    model = models.build(name, cfg=cfg)
    assert model.cfg == cfg
    forward_backward(model, 3, 10)
    assert shapes(models.from_arch(model.arch)) == shapes(model)
    assert sum(p.numel() for p in model.parameters()) < sum(
        p.numel() for p in models.build(name).parameters()
    )


def test_li_et_al_predefined_cfgs_build():
    resnet = models.build("resnet56", cfg=RESNET56_A)
    forward_backward(resnet, 3, 10)
    assert [block.conv1.out_channels for layer in (resnet.layer1, resnet.layer2, resnet.layer3)
            for block in layer] == RESNET56_A
    vgg = models.build("vgg16", cfg=VGG16_A)
    forward_backward(vgg, 3, 10)
    convs = [m.out_channels for m in vgg.features if isinstance(m, torch.nn.Conv2d)]
    assert convs == [w for w in VGG16_A if w != "M"]
    assert vgg.classifier[0].in_features == 256


def test_uniform_cfg_follows_li_et_al_rule():
    # int(C * (1 - p)) per stage reproduces ResNet-56-A's widths away from its skipped layers.
    cfg = models.uniform_cfg("resnet56", 0.1)
    assert cfg == [14] * 9 + [28] * 9 + [57] * 9
    assert models.uniform_cfg("resnet56", 0.0) == models.default_cfg("resnet56")
    vgg = models.uniform_cfg("vgg16", 0.5)
    assert vgg == [w if w == "M" else w // 2 for w in models.default_cfg("vgg16")]
    # The largest ratio keeps int(C * 0.05), never fewer than one channel.
    assert models.uniform_cfg("resnet20", models.MAX_RATIO) == [1] * 3 + [1] * 3 + [3] * 3


def test_uniform_cfg_preresnet_prunes_only_inner_widths():
    default = models.default_cfg("preresnet164")
    cfg = models.uniform_cfg("preresnet164", 0.5)
    for block in range(54):
        assert cfg[3 * block] == default[3 * block]  # selection of the residual stream
        inner = slice(3 * block + 1, 3 * block + 3)
        assert cfg[inner] == [w // 2 for w in default[inner]]
    assert cfg[-1] == default[-1] == 256


def test_uniform_cfg_starts_from_a_given_cfg():
    assert models.uniform_cfg("resnet20", 0.5, cfg=[8] * 9) == [4] * 9


@settings(max_examples=25, deadline=None)
@given(ratio=st.floats(min_value=0.0, max_value=models.MAX_RATIO))
def test_uniform_cfg_property(ratio):
    default = models.default_cfg("vgg19")
    cfg = models.uniform_cfg("vgg19", ratio)
    for new, old in zip(cfg, default):
        if old == "M":
            assert new == "M"
        else:
            assert new == max(1, int(old * (1 - ratio)))
            assert 1 <= new <= old


def test_default_cfgs():
    assert models.default_cfg("vgg19") == [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
                                           512, 512, 512, 512, "M", 512, 512, 512, 512]
    assert models.default_cfg("resnet56") == [16] * 9 + [32] * 9 + [64] * 9
    slimming = ([16, 16, 16] + [64, 16, 16] * 17 + [64, 32, 32] + [128, 32, 32] * 17
                + [128, 64, 64] + [256, 64, 64] * 17 + [256])
    assert models.default_cfg("preresnet164") == slimming
    assert len(models.default_cfg("preresnet110")) == 9 * 12 + 1
    # PreResNet-56 (Table 13) is the bottleneck 9n+2 net with n = 6, as the slimming code's resnet(depth=56).
    assert models.default_cfg("preresnet56") == ([16, 16, 16] + [64, 16, 16] * 5 + [64, 32, 32] + [128, 32, 32] * 5
                                                 + [128, 64, 64] + [256, 64, 64] * 5 + [256])
    assert models.default_cfg("vgg11-imagenet") == [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M",
                                                    4096, 4096]
    dense = models.default_cfg("densenet40")
    assert dense == ([24 + 12 * j for j in range(13)] + [168 + 12 * j for j in range(13)]
                     + [312 + 12 * j for j in range(13)])
    bc = models.default_cfg("densenet_bc100")
    assert bc == ([24 + 12 * j for j in range(17)] + [108 + 12 * j for j in range(17)]
                  + [150 + 12 * j for j in range(17)])
    # The cfg is a fresh list each time.
    models.default_cfg("resnet20").append(1)
    assert len(models.default_cfg("resnet20")) == 9


def test_vgg_heads():
    mlp = models.build("vgg16")
    assert [type(m) for m in mlp.classifier] == [
        torch.nn.Linear, torch.nn.BatchNorm1d, torch.nn.ReLU, torch.nn.Linear]
    assert mlp.arch["options"] == {"head": "mlp"}
    assert isinstance(models.build("vgg19").classifier, torch.nn.Linear)
    linear16 = models.build("vgg16", head="linear")
    assert isinstance(linear16.classifier, torch.nn.Linear)
    assert isinstance(models.from_arch(linear16.arch).classifier, torch.nn.Linear)


def preresnet_params(n, classes=10, channels=3):
    """Bottleneck PreResNet parameters, block by block (He et al. 2016b; BN scale + shift)."""
    params, inputs = 9 * channels * 16, 16
    for planes in (16, 32, 64):
        for block in range(n):
            out = 4 * planes
            params += 2 * inputs + inputs * planes + 2 * planes + 9 * planes * planes + 2 * planes + planes * out
            params += inputs * out if block == 0 else 0  # the projection shortcut of a stage's first block
            inputs = out
    return params + 2 * inputs + inputs * classes + classes


@pytest.mark.parametrize("name, n", [("preresnet56", 6), ("preresnet164", 18)])
def test_preresnet_depths(name, n):
    model = models.build(name)
    assert len(model.cfg) == 9 * n + 1 and 9 * n + 2 == int(name[9:])
    assert sum(p.numel() for p in model.parameters()) == preresnet_params(n)
    assert len(model.prunable_layers()) == 9 * n + 1  # every BN gates a selection or a width


def vgg11_imagenet_params(classes=1000):
    """Parameters of the original slimming VGG-11: torchvision's vgg11_bn features, then
    Linear-BN1d-ReLU-Linear-BN1d-ReLU-Linear on the 512 x 7 x 7 map."""
    params, channels = 0, 3
    for width in (64, 128, 256, 256, 512, 512, 512, 512):
        params += 9 * channels * width + width + 2 * width  # conv with bias, BN
        channels = width
    hidden = 4096
    params += channels * 7 * 7 * hidden + hidden + 2 * hidden
    params += hidden * hidden + hidden + 2 * hidden
    return params + hidden * classes + classes


# Half the widths: uniform_cfg("vgg11-imagenet", 0.5), written out (uniform_cfg builds the default model).
VGG11_IMAGENET_HALF = [32, "M", 64, "M", 128, 128, "M", 256, 256, "M", 256, 256, "M", 2048, 2048]


@pytest.fixture(scope="module")
def vgg11_imagenet():
    torch.manual_seed(0)
    return models.build("vgg11-imagenet", num_classes=1000)


def test_vgg11_imagenet_counts_and_torchvision_features(vgg11_imagenet):
    import torchvision

    # torchvision's vgg11_bn has 132,868,840 parameters; ours drops its dropout and adds two
    # BatchNorm1d(4096) (scale and shift each) to the classifier.
    assert sum(p.numel() for p in vgg11_imagenet.parameters()) == vgg11_imagenet_params() == 132_868_840 + 4 * 4096
    reference = torchvision.models.vgg11_bn(weights=None).features.state_dict()  # random init: nothing is downloaded
    vgg11_imagenet.features.load_state_dict(reference)  # strict: same names, same shapes
    assert torch.equal(vgg11_imagenet.features[25].weight, reference["25.weight"])
    assert [type(m) for m in vgg11_imagenet.classifier] == [
        torch.nn.Linear, torch.nn.BatchNorm1d, torch.nn.ReLU] * 2 + [torch.nn.Linear]
    assert vgg11_imagenet.classifier[0].in_features == 512 * 7 * 7
    assert vgg11_imagenet.image_size == 224


def test_vgg11_imagenet_init_follows_the_original():
    torch.manual_seed(0)
    model = models.build("vgg11-imagenet", cfg=VGG11_IMAGENET_HALF)
    for module in model.modules():
        if isinstance(module, (torch.nn.BatchNorm2d, torch.nn.BatchNorm1d)):
            assert torch.all(module.weight == 0.5) and torch.all(module.bias == 0)
        if isinstance(module, (torch.nn.Linear, torch.nn.Conv2d)):
            assert torch.all(module.bias == 0)
    assert abs(model.classifier[0].weight.std().item() - 0.01) < 0.001
    conv = model.features[22]  # 256 -> 256, 3x3
    assert math.isclose(conv.weight.std().item(), math.sqrt(2 / (9 * 256)), rel_tol=0.02)


def test_vgg11_imagenet_uniform_cfg_shrinks_convs_and_hidden_widths():
    assert models.uniform_cfg("vgg11-imagenet", 0.5) == VGG11_IMAGENET_HALF


def test_vgg11_imagenet_prunable_layers():
    model = models.build("vgg11-imagenet", cfg=VGG11_IMAGENET_HALF)
    layers = model.prunable_layers()
    assert [layer.position for layer in layers] == [0, 2, 4, 5, 7, 8, 10, 11, 13, 14]
    assert [layer.layer_id for layer in layers] == list(range(1, 11))
    assert [layer.stage for layer in layers] == [0, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    for layer in layers:  # each gate BN follows its layer and has its width
        assert model.get_submodule(layer.gate).num_features == model.cfg[layer.position]
        assert model.get_submodule(layer.conv).weight.shape[0] == model.cfg[layer.position]
    assert layers[7].dependents[-1] == ("classifier.0", 1)  # the last conv is read as 7x7 blocks
    assert layers[-1].dependents == (("classifier.4", 0), ("classifier.6", 1))


def test_densenet_structure():
    dense = models.build("densenet40")
    assert dense.fc.in_features == 456
    assert dense.trans1.conv1.out_channels == 168  # no compression
    bc = models.build("densenet_bc100")
    assert bc.trans1.conv1.out_channels == 108 and bc.trans2.conv1.out_channels == 150
    assert bc.dense1[0].conv1.out_channels == 48  # bottleneck: 4 * growth
    assert bc.fc.in_features == 342


def test_pruned_densenet_cfg_builds():
    cfg = [max(1, w // 2) for w in models.default_cfg("densenet40")]
    model = models.build("densenet40", cfg=cfg)
    forward_backward(model, 3, 10)
    assert [layer.num_selected for layer in model.selections()] == cfg


# Option-A shortcut ----------------------------------------------------------------------

@pytest.mark.parametrize("pool", ["avgpool", "subsample"])
def test_option_a_shortcut_matches_formula_and_passes_gradient(pool):
    x = torch.randn(2, 16, 8, 8, requires_grad=True)
    out = ShortcutA(16, 32, stride=2, pool=pool)(x)
    pooled = F.avg_pool2d(x, 2) if pool == "avgpool" else x[:, :, ::2, ::2]
    expected = torch.cat([pooled, torch.zeros(2, 16, 4, 4)], dim=1)
    torch.testing.assert_close(out, expected)
    out.sum().backward()
    # d(sum)/dx: 1/4 everywhere for the 2x2 average; 1 on the kept pixels for subsampling.
    if pool == "avgpool":
        expected_grad = torch.full_like(x, 0.25)
    else:
        expected_grad = torch.zeros_like(x)
        expected_grad[:, :, ::2, ::2] = 1.0
    torch.testing.assert_close(x.grad, expected_grad)


def test_gradient_reaches_block_input_through_downsampling_shortcut():
    block = BasicBlock(16, 32, 32, stride=2, downsample=ShortcutA(16, 32, 2, "avgpool"))
    # Silence the residual branch: bn2 outputs exactly 0, so only the shortcut carries x.
    torch.nn.init.zeros_(block.bn2.weight)
    x = (torch.rand(2, 16, 8, 8) + 0.1).requires_grad_()
    out = block(x)  # relu(0 + shortcut(x)) with x > 0: the first 16 channels are avgpool(x)
    torch.testing.assert_close(out[:, :16], F.avg_pool2d(x, 2))
    out.sum().backward()
    torch.testing.assert_close(x.grad, torch.full_like(x, 0.25))


def test_resnet_shortcut_option_round_trips():
    model = models.build("resnet20", shortcut="subsample")
    assert model.layer2[0].downsample.pool == "subsample"
    assert models.from_arch(model.arch).layer2[0].downsample.pool == "subsample"
    assert models.build("resnet20").arch["options"] == {"shortcut": "avgpool"}


# Channel selection ----------------------------------------------------------------------

def test_channel_selection_gives_the_indexed_channels():
    layer = ChannelSelection(8, 3)
    x = torch.randn(2, 8, 4, 4)
    torch.testing.assert_close(layer(x), x[:, :3])
    layer.set_index([1, 4, 7])
    torch.testing.assert_close(layer(x), x[:, [1, 4, 7]])
    assert "index" in layer.state_dict()
    full = ChannelSelection(8)
    assert full(x) is x


@pytest.mark.parametrize("bad, message", [
    ([1, 4], "must keep 3"),
    ([1, 4, 8], r"in \[0, 8\)"),
    ([4, 1, 7], "sorted"),
    ([1, 1, 7], "without repeats"),
])
def test_channel_selection_rejects_bad_index(bad, message):
    with pytest.raises(ValueError, match=message):
        ChannelSelection(8, 3).set_index(bad)


def test_selected_channels_are_part_of_the_arch():
    cfg = models.default_cfg("preresnet110")
    cfg[3] = 10  # block 2 keeps 10 of its 64 input channels
    model = models.build("preresnet110", cfg=cfg)
    assert "select" not in model.arch["options"]
    kept = [0, 3, 5, 9, 20, 33, 40, 41, 50, 63]
    model.layer1[1].select.set_index(kept)
    arch = model.arch
    assert arch["options"]["select"][1] == kept
    twin = models.from_arch(json.loads(json.dumps(arch)))
    assert twin.layer1[1].select.index.tolist() == kept
    x = torch.randn(2, 3, 32, 32)
    twin.load_state_dict(model.state_dict())
    model.eval(), twin.eval()
    torch.testing.assert_close(twin(x), model(x))


def test_select_option_is_checked():
    n = len(models.build("densenet40").selections())
    message = f"one list of kept channels per channel-selection layer \\({n}\\)"
    with pytest.raises(ValueError, match=message):
        models.build("densenet40", select=[[0]])


# Initialisation ----------------------------------------------------------------------------

def test_vgg_init_follows_the_original():
    torch.manual_seed(0)
    model = models.build("vgg16")
    for module in model.modules():
        if isinstance(module, (torch.nn.BatchNorm2d, torch.nn.BatchNorm1d)):
            assert torch.all(module.weight == 0.5) and torch.all(module.bias == 0)
        if isinstance(module, torch.nn.Linear):
            assert abs(module.weight.std().item() - 0.01) < 0.001
            assert torch.all(module.bias == 0)
    conv = model.features[-3]  # 512 -> 512, 3x3: 2.4M samples
    assert conv.out_channels == 512
    assert math.isclose(conv.weight.std().item(), math.sqrt(2 / (9 * 512)), rel_tol=0.01)


def test_slimming_and_resnet_init():
    torch.manual_seed(0)
    pre = models.build("preresnet164")
    assert torch.all(pre.bn.weight == 0.5) and torch.all(pre.layer2[3].bn2.weight == 0.5)
    dense = models.build("densenet40")
    assert torch.all(dense.dense2[5].bn1.weight == 0.5)
    resnet = models.build("resnet56")
    assert torch.all(resnet.layer3[0].bn1.weight == 1) and torch.all(resnet.bn1.bias == 0)
    conv = resnet.layer3[5].conv2  # 64 -> 64, 3x3; the original uses fan_out = 9 * out
    assert math.isclose(conv.weight.std().item(), math.sqrt(2 / (9 * 64)), rel_tol=0.05)


# Errors -------------------------------------------------------------------------------

def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="unknown model 'resnet57'.*resnet56.*vgg19"):
        models.build("resnet57")
    with pytest.raises(ValueError, match="valid names"):
        models.default_cfg("alexnet")


@pytest.mark.parametrize("name, cfg, message", [
    ("resnet56", [16] * 26, r"resnet56 cfg needs 27 inner widths \(one per block\), got 26"),
    ("resnet20", [16] * 8 + [0], r"resnet20 cfg\[8\] must be a positive int"),
    ("resnet20", [16] * 8 + [16.0], r"resnet20 cfg\[8\] must be a positive int"),
    ("resnet20", [16] * 8 + [True], r"resnet20 cfg\[8\] must be a positive int"),
    ("resnet20", "16", "must be a list of 9"),
    ("vgg16", [64] * 13, r"vgg16 cfg needs 13 conv widths with 'M' at positions \[2, 5, 9, 13\]"),
    ("vgg16", VGG16_A[:-1] + ["M"], "vgg16 cfg needs 13 conv widths"),
    ("vgg16", VGG16_A[:-1] + [-5], r"vgg16 cfg\[16\] must be a positive int"),
    ("preresnet164", [16] * 162, "preresnet164 cfg needs 163 entries"),
    ("preresnet110", [16, 16, 16, 65] + models.default_cfg("preresnet110")[4:],
     r"preresnet110 cfg\[3\] selects 65 channels, but only 64 reach that layer"),
    ("vgg11-imagenet", [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M", 4096],
     r"vgg11-imagenet cfg needs 15 entries: 8 conv widths with 'M' at positions \[1, 3, 6, 9, 12\], then the "
     "classifier's 2 hidden widths"),
    ("vgg11-imagenet", [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M", 4096, 0],
     r"vgg11-imagenet cfg\[14\] must be a positive int \(a hidden Linear width\)"),
    ("densenet40", [24] * 38, "densenet40 cfg needs 39 channel counts"),
    ("densenet40", [25] + models.default_cfg("densenet40")[1:],
     r"cfg\[0\] selects 25 channels, but only 24"),
])
def test_bad_cfgs_are_explained(name, cfg, message):
    with pytest.raises(ValueError, match=message):
        models.build(name, cfg=cfg)


@pytest.mark.parametrize("kwargs, message", [
    ({"num_classes": 0}, "num_classes must be a positive int"),
    ({"in_channels": 0}, "in_channels must be a positive int"),
    ({"num_classes": 2.5}, "num_classes must be a positive int"),
    ({"head": "conv"}, r"VGG head must be one of \['linear', 'mlp'\]"),
    ({"shortcut": "conv"}, r"takes the options \['head'\], got unknown \['shortcut'\]"),
])
def test_bad_arguments_are_explained(kwargs, message):
    with pytest.raises(ValueError, match=message):
        models.build("vgg16", **kwargs)


@pytest.mark.parametrize("ratio", [-0.1, 0.96, 1.0, 1.5, float("nan"), "0.5", None, True])
def test_bad_ratios_are_explained(ratio):
    with pytest.raises(ValueError, match=r"ratio is the pruned fraction of channels, in \[0, 0.95\]"):
        models.uniform_cfg("resnet56", ratio)


def test_uniform_ratio_is_refused_for_densenet():
    with pytest.raises(ValueError, match="uniform ratios are not defined for densenet"):
        models.uniform_cfg("densenet40", 0.5)


def test_from_arch_rejects_malformed_arch():
    with pytest.raises(ValueError, match="arch must be a dict with the keys"):
        models.from_arch({"name": "resnet20"})
    with pytest.raises(ValueError, match="arch must be a dict with the keys"):
        models.from_arch({**models.build("resnet20").arch, "extra": 1})


# Parameter counts of the weight-level and lottery-ticket codes' models at 10 classes, measured
# by building the original model files (cifar/weight-level/models/cifar/{vgg,preresnet,densenet}.py,
# cifar/lottery-ticket/weight-level/models/cifar/{vgg,resnet}.py) under PyTorch 2.14 on 2026-12-04.
# The original README builds its "DenseNet-BC-100" with `--depth 100 --compressionRate 2` and no
# bottleneck argument, i.e. BasicBlock layers (4,068,490 parameters); the paper names DenseNet-BC-100,
# which the bottleneck variant is (769,162): we follow the paper.
ORIGINAL_PARAMS = {"vgg19_bn": 20_040_522, "vgg16_bn": 14_728_266, "preresnet110": 1_146_842,
                   "densenet_bc100": 769_162, "resnet50": 758_554}


@pytest.mark.parametrize("name, params", ORIGINAL_PARAMS.items())
def test_weight_level_models_match_the_original_parameter_counts(name, params):
    assert sum(p.numel() for p in models.build(name).parameters()) == params


def test_bearpaw_vgg_has_conv_biases_and_fan_in_init():
    """bearpaw's VGG: convs with bias, N(0, sqrt(2 / (9 * C_in))); the slimming VGG: no bias, fan_out."""
    torch.manual_seed(0)

    def widening(name):  # the first 256 -> 512 conv: fan_in 9*256, fan_out 9*512
        return next(m for m in models.build(name).features.modules()
                    if isinstance(m, torch.nn.Conv2d) and (m.in_channels, m.out_channels) == (256, 512))

    conv = widening("vgg19_bn")
    assert conv.bias is not None and torch.count_nonzero(conv.bias) == 0
    assert conv.weight.std().item() == pytest.approx(math.sqrt(2 / (9 * 256)), rel=0.01)
    slim = widening("vgg19")
    assert slim.bias is None
    assert slim.weight.std().item() == pytest.approx(math.sqrt(2 / (9 * 512)), rel=0.01)


@pytest.mark.parametrize("name, init, gamma", [
    ("vgg19", "network-slimming", 0.5), ("preresnet164", "network-slimming", 0.5),
    ("densenet40", "network-slimming", 0.5), ("vgg16", "network-slimming", 0.5),
    ("vgg19_bn", "weight-level-vgg", 1.0), ("vgg16_bn", "weight-level-vgg", 1.0),
    ("preresnet110", "weight-level", 1.0), ("densenet_bc100", "weight-level", 1.0), ("resnet50", "weight-level", 1.0),
    ("resnet56", "resnet", 1.0),
])
def test_initialisation_is_a_named_property(name, init, gamma):
    model = models.build(name)
    assert model.init.name == init and model.init.bn_weight == gamma
    for module in model.modules():
        if isinstance(module, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            assert torch.all(module.weight == gamma) and torch.all(module.bias == 0)
    assert models.from_arch(model.arch).init == model.init


def test_resnet50_is_the_lottery_codes_basic_block_resnet():
    model = models.build("resnet50")
    assert model.cfg == [16] * 8 + [32] * 8 + [64] * 8
    assert isinstance(model.layer2[0].downsample[0], torch.nn.Conv2d)  # projection shortcut, not option A
    assert isinstance(model.layer1[0].downsample, torch.nn.Identity)
