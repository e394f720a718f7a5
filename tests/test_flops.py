"""Parameter and MAC counts, checked against the papers and against hand-written formulas."""

import math

import pytest
import torch

from rethinkkit import flops, models
from test_imagenet import resnet34_counts

VGG16_A = [32, 64, "M", 128, 128, "M", 256, 256, 256, "M", 256, 256, 256, "M", 256, 256, 256]
RESNET56_A = [14] * 7 + [16, 14] + [32] + [28] * 8 + [64] + [57] * 7 + [64]
RESNET56_B = [6] * 7 + [16, 16] + [32] + [22] * 6 + [32, 22] + [64] + [57] * 7 + [64]
RESNET110_A = [8] * 17 + [16] + [32] * 18 + [64] * 18
RESNET110_B = [8] * 17 + [16] + [32] + [19] * 17 + [64] + [44] * 17


pytestmark = pytest.mark.usefixtures("one_thread")


# Hand-written counts (conv/linear MACs at 32x32; params with BN), independent of the code.

def vgg_counts(cfg, head, classes=10, channels=3, bias=False):
    params = macs = 0
    side = 32
    for width in cfg:
        if width == "M":
            side //= 2
            continue
        params += 9 * channels * width + 2 * width + (width if bias else 0)
        macs += 9 * channels * width * side * side
        channels = width
    if head == "mlp":
        params += channels * 512 + 512 + 2 * 512 + 512 * classes + classes
        macs += channels * 512 + 512 * classes
    else:
        params += channels * classes + classes
        macs += channels * classes
    return params, macs


def vgg_imagenet_counts(cfg, classes=10, channels=3, side=32):
    """Network Slimming's ImageNet VGG-11: convs with bias; the classifier reads a 7x7 map
    whatever the input size (adaptive average pool), through two BN1d hidden layers."""
    params = macs = 0
    for width in cfg[:-2]:
        if width == "M":
            side //= 2
            continue
        params += 9 * channels * width + width + 2 * width
        macs += 9 * channels * width * side * side
        channels = width
    inputs = channels * 7 * 7
    for width in cfg[-2:]:
        params += inputs * width + width + 2 * width
        macs += inputs * width
        inputs = width
    return params + inputs * classes + classes, macs + inputs * classes


def resnet_counts(cfg, classes=10, channels=3, projection=False):
    n = len(cfg) // 3
    params = 9 * channels * 16 + 2 * 16
    macs = 9 * channels * 16 * 32 * 32
    inputs = 16
    for block, inner in enumerate(cfg):
        stage = block // n
        width, side = (16, 32, 64)[stage], (32, 16, 8)[stage]
        params += 9 * inputs * inner + 2 * inner + 9 * inner * width + 2 * width
        macs += (9 * inputs * inner + 9 * inner * width) * side * side
        if projection and inputs != width:  # conv1x1 (stride 2) + BN on a stage's first block
            params += inputs * width + 2 * width
            macs += inputs * width * side * side
        inputs = width
    return params + 64 * classes + classes, macs + 64 * classes


def preresnet_counts(cfg, classes=10, channels=3):
    n = (len(cfg) - 1) // 9
    params = 9 * channels * 16
    macs = 9 * channels * 16 * 32 * 32
    inputs, side = 16, 32
    for block in range(3 * n):
        selected, c1, c2 = cfg[3 * block:3 * block + 3]
        stage = block // n
        out, out_side = 4 * (16, 32, 64)[stage], (32, 16, 8)[stage]
        params += 2 * inputs + selected * c1 + 2 * c1 + 9 * c1 * c2 + 2 * c2 + c2 * out
        macs += selected * c1 * side * side + (9 * c1 * c2 + c2 * out) * out_side * out_side
        if inputs != out:  # projection shortcut, strided
            params += inputs * out
            macs += inputs * out * out_side * out_side
        inputs, side = out, out_side
    params += 2 * inputs + cfg[-1] * classes + classes
    return params, macs + cfg[-1] * classes


def densenet_counts(cfg, layers, bottleneck, compression, classes=10, channels=3, growth=12):
    params = 9 * channels * 2 * growth
    macs = 9 * channels * 2 * growth * 32 * 32
    width, side, i = 2 * growth, 32, 0
    for block in range(3):
        for _ in range(layers):
            selected = cfg[i]
            if bottleneck:
                layer = selected * 4 * growth + 2 * 4 * growth + 9 * 4 * growth * growth
                conv_weights = selected * 4 * growth + 9 * 4 * growth * growth
            else:
                layer = conv_weights = 9 * selected * growth
            params += 2 * width + layer
            macs += conv_weights * side * side
            width, i = width + growth, i + 1
        if block < 2:
            out = math.floor(width * compression)
            params += 2 * width + cfg[i] * out
            macs += cfg[i] * out * side * side
            width, side, i = out, side // 2, i + 1
    params += 2 * width + cfg[-1] * classes + classes
    return params, macs + cfg[-1] * classes


FORMULAS = {
    "vgg11": lambda cfg: vgg_counts(cfg, "linear"),
    "vgg13": lambda cfg: vgg_counts(cfg, "linear"),
    "vgg16": lambda cfg: vgg_counts(cfg, "mlp"),
    "vgg19": lambda cfg: vgg_counts(cfg, "linear"),
    "vgg16_bn": lambda cfg: vgg_counts(cfg, "linear", bias=True),
    "vgg19_bn": lambda cfg: vgg_counts(cfg, "linear", bias=True),
    "resnet50": lambda cfg: resnet_counts(cfg, projection=True),
    "resnet20": resnet_counts,
    "resnet32": resnet_counts,
    "resnet56": resnet_counts,
    "resnet110": resnet_counts,
    "vgg11-imagenet": vgg_imagenet_counts,
    "preresnet56": preresnet_counts,
    "preresnet110": preresnet_counts,
    "preresnet164": preresnet_counts,
    "densenet40": lambda cfg: densenet_counts(cfg, 12, False, 1.0),
    "densenet_bc100": lambda cfg: densenet_counts(cfg, 16, True, 0.5),
    "resnet34": lambda cfg: resnet34_counts(cfg, 10, 32)[:2],  # ImageNet ResNet-34, counted at CIFAR size
}


# ImageNet's VGG-16 (with and without BN) and ResNet-50 are checked against hand formulas and torchvision's
# counts in test_imagenet_models.py, built on the meta device (no 138M-parameter model in memory)
CHECKED_ELSEWHERE = {"vgg16-imagenet", "vgg16_bn-imagenet", "resnet50-imagenet"}


def test_formulas_cover_the_registry():
    assert sorted(set(FORMULAS) | CHECKED_ELSEWHERE) == models.names()


@pytest.mark.parametrize("name", sorted(FORMULAS))
def test_counts_match_the_formula(name):
    model = models.build(name)
    assert flops.count(model) == flops.Counts(*FORMULAS[name](model.cfg))


def test_vgg11_imagenet_formula_gives_torchvisions_macs_at_224():
    # torchvision documents vgg11_bn at 7.61 GFLOPS (multiply-accumulates) and 132.87M parameters;
    # the slimming classifier's two BatchNorm1d add 4 * 4096 parameters and no MACs.
    params, macs = vgg_imagenet_counts(models.default_cfg("vgg11-imagenet"), classes=1000, side=224)
    assert params == 132_868_840 + 4 * 4096
    assert math.isclose(macs, 7.61e9, rel_tol=0.001)


@pytest.mark.parametrize("name", ["vgg16", "resnet56", "preresnet164", "densenet40", "vgg11-imagenet"])
def test_pruned_counts_match_the_formula(name):
    if name == "densenet40":
        cfg = [max(1, w // 3) for w in models.default_cfg(name)]
    else:
        cfg = models.uniform_cfg(name, 0.4)
    assert flops.count(models.build(name, cfg=cfg)) == flops.Counts(*FORMULAS[name](cfg))


@pytest.mark.parametrize("name, cfg, paper_macs", [
    # Li et al. (2017), Tables 1 and 2: FLOPs = multiply-accumulates of conv + linear layers.
    ("vgg16", None, 3.13e8),
    ("vgg16", VGG16_A, 2.06e8),
    ("resnet56", None, 1.25e8),
    ("resnet56", RESNET56_A, 1.12e8),
    ("resnet56", RESNET56_B, 9.09e7),
    ("resnet110", None, 2.53e8),
    ("resnet110", RESNET110_A, 2.13e8),
    ("resnet110", RESNET110_B, 1.55e8),
])
def test_macs_match_li_et_al(name, cfg, paper_macs):
    macs = flops.count(models.build(name, cfg=cfg)).macs
    assert math.isclose(macs, paper_macs, rel_tol=0.005)


@pytest.mark.parametrize("name, paper_params, rel_tol", [
    ("vgg16", 15.0e6, 0.005),  # Li et al. 2017 (mlp head)
    ("vgg19", 20.04e6, 0.001),  # Liu et al. 2017 (Network Slimming)
    ("resnet56", 0.85e6, 0.005),  # Li et al. 2017
    ("resnet110", 1.72e6, 0.01),  # Li et al. 2017
    ("preresnet164", 1.70e6, 0.005),  # Liu et al. 2017
    ("densenet40", 1.06e6, 0.005),  # Liu et al. 2017
    ("densenet_bc100", 0.8e6, 0.05),  # Huang et al. 2017
])
def test_params_match_the_papers(name, paper_params, rel_tol):
    params = flops.count(models.build(name)).params
    assert math.isclose(params, paper_params, rel_tol=rel_tol)


def test_other_input_sizes_and_channels():
    model = models.build("resnet20", num_classes=100, in_channels=1)
    assert flops.count(model, (1, 32, 32)) == flops.Counts(*resnet_counts(model.cfg, 100, 1))
    # Fully convolutional up to the global pool: MACs of the convs grow with the area.
    small, large = flops.count(model, (1, 32, 32)), flops.count(model, (1, 64, 64))
    assert large.macs - 64 * 100 == 4 * (small.macs - 64 * 100)


def test_count_leaves_the_model_as_it_was():
    model = models.build("vgg16")
    model.train()
    model.features[1].eval()  # a frozen BN inside a training model keeps its own flag
    before = {k: v.clone() for k, v in model.state_dict().items()}
    flops.count(model)
    flops.count_nonzero(model)
    assert model.training and model.classifier.training and not model.features[1].training
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    model.eval()
    flops.count(model)
    assert not model.training


def test_counts_pretty_print():
    assert str(flops.Counts(params=853018, macs=125485696)) == "0.85M params, 125.5M MACs"


# count_nonzero -----------------------------------------------------------------------------

def dense_model(name):
    model = models.build(name)
    with torch.no_grad():  # a normal sample can be exactly 0.0; make every weight nonzero
        for p in model.parameters():
            p[p == 0] = 1e-3
    return model


@pytest.mark.parametrize("name", ["resnet56", "vgg16", "densenet40"])
def test_count_nonzero_equals_count_when_unmasked(name):
    model = dense_model(name)
    assert flops.count_nonzero(model) == flops.count(model)


def test_zeroing_half_a_conv_halves_its_macs():
    model = dense_model("resnet56")
    conv = model.layer2[3].conv1  # 32 -> 32 channels at 16x16
    layer_macs = 9 * 32 * 32 * 16 * 16
    with torch.no_grad():
        conv.weight.view(-1)[::2] = 0.0
    full, masked = flops.count(model), flops.count_nonzero(model)
    assert full.macs - masked.macs == layer_macs // 2
    assert full.params - masked.params == conv.weight.numel() // 2


def test_count_nonzero_scales_every_layer_by_its_density():
    model = dense_model("vgg11")
    convs = [m for m in model.features if isinstance(m, torch.nn.Conv2d)]
    kept = {}
    torch.manual_seed(0)
    with torch.no_grad():
        for conv in convs:
            mask = torch.rand_like(conv.weight) < 0.3
            conv.weight.mul_(mask)
            kept[conv] = int(mask.sum())
    sides = [32, 16, 8, 8, 4, 4, 2, 2]  # output side of each conv of VGG-11 at 32x32
    expected = sum(kept[c] * s * s for c, s in zip(convs, sides)) + 512 * 10
    assert flops.count_nonzero(model).macs == expected


def test_zeroed_bn_and_bias_entries_still_count():
    model = dense_model("resnet20")
    with torch.no_grad():
        model.bn1.bias.zero_()
    assert flops.count_nonzero(model) == flops.count(model)


# Input checks ------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "input_size", [(3, 32), (3, 32, 0), (3, 32, 32.0), "3x32x32", 32, (True, 32, 32)]
)
def test_bad_input_size_is_explained(input_size):
    message = r"input_size is one input's shape \(channels, height, width\)"
    with pytest.raises(ValueError, match=message):
        flops.count(models.build("resnet20"), input_size)


def test_channel_mismatch_is_explained():
    message = r"has 1 channels, but the model's first conv \(conv1\) takes 3"
    with pytest.raises(ValueError, match=message):
        flops.count(models.build("resnet20"), (1, 32, 32))


def test_input_too_small_for_the_model_is_explained():
    with pytest.raises(ValueError, match="cannot run on one input of shape"):
        flops.count(models.build("vgg16"), (3, 8, 8))
