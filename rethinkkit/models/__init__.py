"""The model registry: every architecture is a name plus a channel cfg (plain data).

    model = build("resnet56", num_classes=10, cfg=uniform_cfg("resnet56", 0.5))
    twin = from_arch(model.arch)          # same architecture, fresh weights

A new model is one family file (a `Net` subclass and a `Spec`) plus one `register` line.
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any

import torch
from torch import nn

from .common import WEIGHT_LEVEL_INIT, WEIGHT_LEVEL_VGG_INIT, ChannelSelection, Init, Net, PrunableLayer, Spec, stages
from .densenet import DenseNet, DenseNetSpec
from .preresnet import PreResNet, PreResNetSpec
from .resnet import ResNet, ResNetSpec
from .resnet_imagenet import BottleneckResNet, BottleneckResNetSpec, ImageNetResNet, ImageNetResNetSpec
from .vgg import VGG, VGGSpec
from .vgg_imagenet import ImageNetVGG, ImageNetVGG16, ImageNetVGG16Spec, ImageNetVGGSpec

__all__ = [
    "BottleneckResNet", "ChannelSelection", "DenseNet", "Init", "ImageNetResNet", "ImageNetVGG", "ImageNetVGG16", "Net", "PreResNet", "PrunableLayer", "ResNet",
    "Spec", "VGG",
    "MAX_RATIO", "build", "check_ratio", "default_cfg", "from_arch", "names", "option_defaults", "register",
    "stages", "uniform_cfg",
]

_REGISTRY: dict[str, Spec] = {}


def register(name: str, spec: Spec) -> None:
    """Make `name` buildable; `spec` says the default cfg and how to check and build one."""
    if name in _REGISTRY:
        raise ValueError(f"model {name!r} is already registered")
    _REGISTRY[name] = spec


register("vgg11", VGGSpec(depth=11, head="linear"))
register("vgg13", VGGSpec(depth=13, head="linear"))
register("vgg16", VGGSpec(depth=16, head="mlp"))  # L1-norm pruning's VGG-16 (Li et al. 2017)
register("vgg19", VGGSpec(depth=19, head="linear"))  # Network Slimming's VGG-19 (Liu et al. 2017)
# bearpaw's VGGs of the weight-level and lottery-ticket codes (Table 6: VGG-19; Section 6: VGG-16)
register("vgg16_bn", VGGSpec(depth=16, init=WEIGHT_LEVEL_VGG_INIT, conv_bias=True))
register("vgg19_bn", VGGSpec(depth=19, init=WEIGHT_LEVEL_VGG_INIT, conv_bias=True))
register("resnet20", ResNetSpec(depth=20))
register("resnet32", ResNetSpec(depth=32))
register("resnet56", ResNetSpec(depth=56))
register("resnet110", ResNetSpec(depth=110))
# The lottery-ticket code's CIFAR "ResNet-50" (Table 9): basic blocks, n = 8, projection shortcuts
register("resnet50", ResNetSpec(depth=50, shortcut="projection", init=WEIGHT_LEVEL_INIT))
register("resnet34", ImageNetResNetSpec())  # L1-norm pruning's ImageNet ResNet-34 (Li et al. 2017)
register("vgg11-imagenet", ImageNetVGGSpec())  # Network Slimming's ImageNet VGG-11 (Liu et al. 2017)
# torchvision's ImageNet VGG-16 and ResNet-50, cfg-driven: ThiNet's and regression pruning's base models (Luo et
# al. 2017, He et al. 2017), SSS's ResNet-50 (Huang & Wang 2018), the weight-level code's vgg16_bn and resnet50
register("vgg16-imagenet", ImageNetVGG16Spec())
register("vgg16_bn-imagenet", ImageNetVGG16Spec(batch_norm=True))
register("resnet50-imagenet", BottleneckResNetSpec())
register("preresnet56", PreResNetSpec(depth=56))  # n=6, the slimming code's resnet(depth=56); Table 13
register("preresnet110", PreResNetSpec(depth=110, init=WEIGHT_LEVEL_INIT))  # the weight-level code's (Table 6)
register("preresnet164", PreResNetSpec(depth=164))
register("densenet40", DenseNetSpec(depth=40, growth=12, bottleneck=False, compression=1.0))
# Table 6's DenseNet-BC-100, as the paper names it. The weight-level code's README builds it with
# `--depth 100 --compressionRate 2` and no block argument, i.e. 32 non-bottleneck layers per block
# (4.07M parameters, not BC); we follow the paper (bottleneck, 0.77M), with that code's BN scale 1.
register("densenet_bc100", DenseNetSpec(depth=100, growth=12, bottleneck=True, compression=0.5,
                                        init=WEIGHT_LEVEL_INIT))


def names() -> list[str]:
    """The registered model names, sorted."""
    return sorted(_REGISTRY)


def _spec(name: str) -> Spec:
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown model {name!r}; valid names: {', '.join(names())}") from None


def _check_count(what: str, value: Any) -> int:
    if not isinstance(value, Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{what} must be a positive int, got {value!r}")
    return int(value)


def option_defaults(name: str) -> dict:
    """The build options `name` takes, with its defaults (e.g. {"head": "mlp"} for vgg16)."""
    return _spec(name).option_defaults()


def default_cfg(name: str) -> list:
    """The unpruned cfg of `name` (a fresh list)."""
    return _spec(name).default_cfg()


def build(name: str, num_classes: int = 10, in_channels: int = 3, cfg: list | None = None,
          **options: Any) -> nn.Module:
    """The model `name` with channel cfg `cfg` (None: the unpruned default).

    `options` are the family's build options (VGG: `head`; ResNet: `shortcut`, `block_scale`; PreResNet
    and DenseNet: `select`), defaulting to the name's. The model has `model.cfg` and
    `model.arch`, from which `from_arch` rebuilds the same architecture.
    """
    spec = _spec(name)
    num_classes = _check_count("num_classes", num_classes)
    in_channels = _check_count("in_channels", in_channels)
    cfg = spec.default_cfg() if cfg is None else spec.check_cfg(name, cfg)
    allowed = spec.option_defaults()
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(f"{name} takes the options {sorted(allowed)}, got unknown {unknown}")
    model = spec.build(cfg, num_classes, in_channels, **{**allowed, **options})
    model.name = name
    return model


def from_arch(arch: dict) -> nn.Module:
    """Rebuild a model (fresh weights) from `model.arch`."""
    keys = {"name", "num_classes", "in_channels", "cfg", "options"}
    if not isinstance(arch, dict) or not {"name", "cfg"} <= set(arch) or set(arch) - keys:
        raise ValueError(f"arch must be a dict with the keys {sorted(keys)}, got {arch!r}")
    return build(arch["name"], num_classes=arch.get("num_classes", 10),
                 in_channels=arch.get("in_channels", 3), cfg=arch["cfg"],
                 **arch.get("options", {}))


# The largest prune ratio (pruned fraction of a layer) the kit accepts anywhere: uniform
# targets, L1-norm per-stage ratios, the widgets' sliders. The paper's largest is 95%
# (unstructured, Table 6); beyond it most layers keep a single channel.
MAX_RATIO = 0.95


def check_ratio(ratio: Any, what: str = "ratio") -> float:
    """`ratio` as a float in [0, MAX_RATIO], or a ValueError saying so."""
    if isinstance(ratio, bool) or not isinstance(ratio, Real) or not 0 <= ratio <= MAX_RATIO:
        raise ValueError(f"{what} is the pruned fraction of channels, in [0, {MAX_RATIO}]; got {ratio!r}")
    return float(ratio)


def uniform_cfg(name: str, ratio: float, cfg: list | None = None) -> list:
    """The cfg that prunes a fraction `ratio` of every prunable layer of `name`.

    Each prunable width C becomes max(1, int(C * (1 - ratio))): Li et al.'s rule, guarded
    so no layer is emptied. The widths are the family's width-kind `prunable_layers()`:
    every VGG conv, every ResNet block's inner width, the two inner widths of every
    PreResNet bottleneck. Other entries ('M', channel selections) are kept. `cfg`
    (default: the unpruned one) is the starting point.
    """
    spec = _spec(name)
    check_ratio(ratio)
    cfg = spec.default_cfg() if cfg is None else spec.check_cfg(name, cfg)
    with torch.device("meta"):  # the layout only: no memory, no initialisation cost (VGG-11 ImageNet is 133M weights)
        positions = build(name, cfg=cfg).width_positions()
    if not positions:
        raise ValueError(
            f"uniform ratios are not defined for {name} (it has no prunable widths: its cfg counts channels "
            f"selected from the concatenated features, which a ratio cannot pick); use a method that "
            f"selects channels, e.g. Network Slimming"
        )
    for position in positions:
        cfg[position] = max(1, int(cfg[position] * (1 - ratio)))
    return cfg
