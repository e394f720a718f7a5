"""VGG for CIFAR with batch norm, as in the original code (`cifar/l1-norm-pruning/models/vgg.py`
and `cifar/network-slimming/models/vgg.py` of Eric-mingjie/rethinking-network-pruning).

Features: per cfg entry, 'M' is a 2x2 max-pool and an int is conv3x3 (no bias)-BN-ReLU.
Then a 2x2 average pool (the features end at 2x2 for a 32x32 input with four 'M') and
the classifier. The two original codes differ only in the classifier:

- "mlp" (L1-norm pruning, Li et al. 2017): Linear(cfg[-1], 512)-BN1d-ReLU-Linear(512, classes);
- "linear" (Network Slimming, Liu et al. 2017): Linear(cfg[-1], classes).

The weight-level and lottery-ticket codes use bearpaw's `vgg16_bn`/`vgg19_bn`
(`cifar/weight-level/models/cifar/vgg.py`): the "linear" head, convs *with* bias, convs
N(0, sqrt(2 / (k*k*in_channels))) and BN scale 1 -- registered as `vgg16_bn`/`vgg19_bn`
(`VGGSpec.init`, `VGGSpec.conv_bias`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn

from .common import SLIMMING_INIT, Init, Net, PrunableLayer, check_pooled, init_conv_bn_

# Standard VGG A/B/D/E without the last max-pool (CIFAR inputs are 32x32, not 224x224).
DEFAULT_CFGS = {
    11: [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512],
    13: [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512],
    16: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512],
    19: [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
         512, 512, 512, 512, "M", 512, 512, 512, 512],
}

HIDDEN = 512  # width of the "mlp" head's hidden layer (L1-norm code)


def _mlp_head(in_features: int, num_classes: int) -> nn.Module:
    return nn.Sequential(
        nn.Linear(in_features, HIDDEN),
        nn.BatchNorm1d(HIDDEN),
        nn.ReLU(inplace=True),
        nn.Linear(HIDDEN, num_classes),
    )


def _linear_head(in_features: int, num_classes: int) -> nn.Module:
    return nn.Linear(in_features, num_classes)


HEADS = {"mlp": _mlp_head, "linear": _linear_head}


def init_vgg_(model: nn.Module, init: Init = SLIMMING_INIT) -> None:
    """The original VGGs' initialisation: convs Kaiming normal, BatchNorm scales as `init`
    says (the structured codes: fan_out and 0.5), shifts 0, the classifier's Linears
    N(0, 0.01) with zero bias."""
    init_conv_bn_(model, init)
    for module in model.classifier.modules():
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, 0.0, 0.01)
            nn.init.zeros_(module.bias)


class VGG(Net):
    """VGG with BN for 32x32 inputs; see the module docstring for the cfg and heads."""

    def __init__(self, cfg: list, num_classes: int = 10, in_channels: int = 3,
                 head: str = "linear", init: Init = SLIMMING_INIT, conv_bias: bool = False) -> None:
        if head not in HEADS:
            raise ValueError(f"VGG head must be one of {sorted(HEADS)}, got {head!r}")
        super().__init__(cfg, num_classes, in_channels, {"head": head})
        layers: list[nn.Module] = []
        channels = in_channels
        for entry in cfg:
            if entry == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [
                    nn.Conv2d(channels, entry, kernel_size=3, padding=1, bias=conv_bias),
                    nn.BatchNorm2d(entry),
                    nn.ReLU(inplace=True),
                ]
                channels = entry
        self.features = nn.Sequential(*layers)
        self.pool = nn.AvgPool2d(2)
        self.classifier = HEADS[head](channels, num_classes)
        # Both structured CIFAR codes: BN scale 0.5 (BatchNorm1d included here; the L1-norm code
        # left BN1d at PyTorch 0.3's default, uniform(0, 1), whose mean is 0.5), Linear N(0, 0.01).
        init_vgg_(self, init)

    def prunable_layers(self) -> list[PrunableLayer]:
        """Every conv: its BN follows it; the next conv, or the classifier's first Linear
        after the last one, reads its channels (the 2x2 average pool leaves one pixel each)."""
        convs = [name for name, m in self.features.named_children() if isinstance(m, nn.Conv2d)]
        head = "classifier.0" if isinstance(self.classifier, nn.Sequential) else "classifier"
        readers = [f"features.{name}" for name in convs[1:]] + [head]
        positions = [i for i, entry in enumerate(self.cfg) if entry != "M"]
        return [
            PrunableLayer(position, f"features.{conv}",
                          ((f"features.{int(conv) + 1}", 0), (reader, 1)), layer_id, gate=f"features.{int(conv) + 1}")
            for layer_id, (position, conv, reader) in enumerate(zip(positions, convs, readers), start=1)
        ]

    def forward(self, x: Tensor) -> Tensor:
        x = self.pool(self.features(x))
        return self.classifier(x.flatten(1))


@dataclass(frozen=True)
class VGGSpec:
    """A named VGG depth (11/13/16/19), its default classifier head, its original code's
    initialisation and whether its convs have a bias."""

    depth: int
    head: str = "linear"
    init: Init = SLIMMING_INIT
    conv_bias: bool = False

    def default_cfg(self) -> list:
        return list(DEFAULT_CFGS[self.depth])

    def check_cfg(self, name: str, cfg: Any) -> list:
        default = DEFAULT_CFGS[self.depth]
        pools = [i for i, entry in enumerate(default) if entry == "M"]
        expected = (f"{len(default) - len(pools)} conv widths with 'M' at positions {pools} "
                    f"({len(default)} entries, like the default {default})")
        return check_pooled(name, cfg, default, expected, lambda position: "a conv width")

    def option_defaults(self) -> dict:
        return {"head": self.head}

    def build(self, cfg: list, num_classes: int, in_channels: int, **options: Any) -> VGG:
        return VGG(cfg, num_classes, in_channels, init=self.init, conv_bias=self.conv_bias, **options)
