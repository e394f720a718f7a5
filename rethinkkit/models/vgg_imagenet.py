"""VGGs for ImageNet, cfg-driven, as the paper's ImageNet experiments build them.

- `ImageNetVGG`: Network Slimming's VGG-11 (below);
- `ImageNetVGG16`: torchvision's VGG-16, without BatchNorm (`vgg16`: ThiNet's and regression
  pruning's base model and their targets VGG-Conv, VGG-GAP, VGG-Tiny, VGG-16-5x) or with it
  (`vgg16_bn`: the weight-level experiments' ImageNet VGG-16).

VGG-11 for ImageNet as Network Slimming's original code builds it
(`imagenet/network-slimming/vgg.py` of Eric-mingjie/rethinking-network-pruning,
`slimmingvgg`): torchvision's `vgg11_bn` features with a batch-normalised classifier.

Features: per cfg entry up to the last 'M', 'M' is a 2x2 max-pool and an int is
conv3x3 (with bias, as torchvision) - BN - ReLU; the module names `features.<i>` are
torchvision's, so `vgg11_bn`'s feature weights load into `model.features`. Then a 7x7
adaptive average pool (torchvision's: the identity on the 7x7 map of a 224x224 input,
and smaller inputs still run) and the classifier

    Linear(C*7*7, cfg[-2]) - BN1d - ReLU - Linear(cfg[-2], cfg[-1]) - BN1d - ReLU - Linear(cfg[-1], classes)

where C is the last conv's width. torchvision's classifier has dropout and no BN; the
original swapped in BN1d so that Network Slimming can prune the two hidden widths too
(its threshold runs over BatchNorm2d and BatchNorm1d scales alike).

The cfg is the original's: the 13 feature entries, then the two hidden widths. The
original pruned this model with masks (zeroed BN scales); here surgery removes the
channels, which computes the same function (tested).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn

from .common import Init, Net, PrunableLayer, check_pooled
from .vgg import init_vgg_

# VGG "A" with BN (torchvision's vgg11_bn layout), then the classifier's two hidden widths.
DEFAULT_CFG = [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M", 4096, 4096]
FEATURES = len(DEFAULT_CFG) - 2  # cfg entries that describe the features; the rest are hidden widths
POOLED = 7  # side of the map the classifier reads (224 / 2**5)


class ImageNetVGG(Net):
    """Network Slimming's ImageNet VGG-11; see the module docstring for the cfg."""

    image_size = 224

    def __init__(self, cfg: list, num_classes: int = 1000, in_channels: int = 3) -> None:
        if len(cfg) != len(DEFAULT_CFG):
            raise ValueError(
                f"ImageNetVGG cfg needs {len(DEFAULT_CFG)} entries (13 feature entries, then 2 hidden widths), "
                f"got {len(cfg)}"
            )
        super().__init__(cfg, num_classes, in_channels, {})
        layers: list[nn.Module] = []
        channels = in_channels
        for entry in cfg[:FEATURES]:
            if entry == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [
                    nn.Conv2d(channels, entry, kernel_size=3, padding=1),
                    nn.BatchNorm2d(entry),
                    nn.ReLU(inplace=True),
                ]
                channels = entry
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(POOLED)
        hidden1, hidden2 = cfg[FEATURES:]
        self.classifier = nn.Sequential(
            nn.Linear(channels * POOLED * POOLED, hidden1),
            nn.BatchNorm1d(hidden1),
            nn.ReLU(inplace=True),
            nn.Linear(hidden1, hidden2),
            nn.BatchNorm1d(hidden2),
            nn.ReLU(inplace=True),
            nn.Linear(hidden2, num_classes),
        )
        # The original: convs Kaiming normal (fan_out), BatchNorm2d and BatchNorm1d scale 0.5
        # and shift 0 (Network Slimming's starting scale), Linear N(0, 0.01) with zero bias.
        init_vgg_(self)

    def prunable_layers(self) -> list[PrunableLayer]:
        """Every conv (gated by the BN after it; the next conv reads it, and the last conv's
        channels are read by the classifier's first Linear as 7x7 blocks of its C*7*7
        inputs), then the two hidden Linear widths (gated by their BatchNorm1d; the next
        Linear reads them). layer_id counts the weight layers from the stem as "VGG-11"
        does: convs 1-8, hidden Linears 9 and 10. stage is the resolution stage (the number
        of max-pools before the layer); the classifier is stage 5."""
        convs = [int(name) for name, m in self.features.named_children() if isinstance(m, nn.Conv2d)]
        positions = [i for i, entry in enumerate(self.cfg[:FEATURES]) if entry != "M"]
        readers = [f"features.{conv}" for conv in convs[1:]] + ["classifier.0"]
        layers = []
        for layer_id, (position, conv, reader) in enumerate(zip(positions, convs, readers), start=1):
            gate = f"features.{conv + 1}"
            layers.append(PrunableLayer(position, f"features.{conv}", ((gate, 0), (reader, 1)), layer_id,
                                        stage=self.cfg[:position].count("M"), gate=gate))
        hidden = [("classifier.0", "classifier.1", "classifier.3"), ("classifier.3", "classifier.4", "classifier.6")]
        for k, (linear, gate, reader) in enumerate(hidden):
            layers.append(PrunableLayer(FEATURES + k, linear, ((gate, 0), (reader, 1)), len(convs) + 1 + k,
                                        stage=self.cfg[:FEATURES].count("M"), gate=gate))
        return layers

    def forward(self, x: Tensor) -> Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(x.flatten(1))


@dataclass(frozen=True)
class ImageNetVGGSpec:
    """Network Slimming's ImageNet VGG-11 (the one ImageNet model the paper slims, Table 4)."""

    def default_cfg(self) -> list:
        return list(DEFAULT_CFG)

    def check_cfg(self, name: str, cfg: Any) -> list:
        pools = [i for i, entry in enumerate(DEFAULT_CFG) if entry == "M"]
        expected = (f"{len(DEFAULT_CFG)} entries: 8 conv widths with 'M' at positions {pools}, then the "
                    f"classifier's 2 hidden widths (like the default {DEFAULT_CFG})")
        return check_pooled(name, cfg, DEFAULT_CFG, expected,
                            lambda position: "a conv width" if position < FEATURES else "a hidden Linear width")

    def option_defaults(self) -> dict:
        return {}

    def build(self, cfg: list, num_classes: int, in_channels: int, **options: Any) -> ImageNetVGG:
        return ImageNetVGG(cfg, num_classes, in_channels, **options)


# --- VGG-16 as torchvision builds it (ThiNet, regression pruning, the weight-level code) ---------

# torchvision's configuration "D"; a cfg that ends in 'M' feeds the fully connected classifier
VGG16_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
GAP_CFG = VGG16_CFG[:-1]  # the layout of a cfg that ends in a conv: global average pool, one Linear
HIDDEN = 4096  # torchvision's hidden classifier width (not pruned by ThiNet or He et al.)
# torchvision's VGG init (also the ThiNet and regression codes'): convs fan_out, BN scale 1; Linear N(0, 0.01)
TORCHVISION_INIT = Init("torchvision", bn_weight=1.0)


class Conv2d(nn.Conv2d):
    """A conv that is its own gate. A width's gate is the module whose channels the width counts
    (`num_features`, read by surgery and the reconstruction pruners); VGG-16 without BatchNorm has
    no module after the conv that holds them. Zeroing a filter (and its bias) zeroes the channel,
    as zeroing a BatchNorm channel does. Its parameters are nn.Conv2d's, so state dicts are too."""

    @property
    def num_features(self) -> int:
        return self.out_channels


class ImageNetVGG16(Net):
    """VGG-16 for ImageNet as torchvision's `vgg16` / `vgg16_bn` build it, with a cfg of conv widths.

    Features: per cfg entry, 'M' is a 2x2 max-pool and an int a conv3x3 with bias (+ BN when
    `batch_norm`) + ReLU, at torchvision's module indices (`features.<i>`), so torchvision's
    ImageNet state dicts load into the unpruned model. The classifier follows from the cfg, as in
    the original codes' lists (`imagenet/thinet/models/thinetconv.py`, `thinetvgg.py`,
    `imagenet/regression-pruning/models/vgg_5x.py` of Eric-mingjie/rethinking-network-pruning):

    - a cfg that ends in 'M' (VGG-16, VGG-Conv, VGG-16-5x): torchvision's classifier, a 7x7
      adaptive average pool (the identity on the 7x7 map of a 224x224 input; smaller inputs still
      run), Linear(C*7*7, 4096) - ReLU - Dropout - Linear(4096, 4096) - ReLU - Dropout -
      Linear(4096, classes), C the last conv's width;
    - a cfg that ends in a conv, without the fifth pool (ThiNet's VGG-GAP and VGG-Tiny): a global
      average pool and Linear(C, classes). The original pools with AvgPool2d(14, 2), the whole
      14x14 map of a 224x224 input; the global pool is the same there and runs on any size.

    Init (torchvision's, and the original codes'): convs N(0, sqrt(2 / (9 C_out))) with bias 0,
    BN scale 1 and shift 0, Linear N(0, 0.01) with bias 0.
    """

    image_size = 224

    def __init__(self, cfg: list, num_classes: int = 1000, in_channels: int = 3, batch_norm: bool = False) -> None:
        if not isinstance(batch_norm, bool):
            raise ValueError(f"ImageNetVGG16 batch_norm is True or False, got {batch_norm!r}")
        if len(cfg) not in (len(VGG16_CFG), len(GAP_CFG)):
            raise ValueError(f"ImageNetVGG16 cfg needs {len(VGG16_CFG)} entries (ending in 'M') or {len(GAP_CFG)} "
                             f"(ending in a conv), got {len(cfg)}")
        super().__init__(cfg, num_classes, in_channels, {})
        self.batch_norm = batch_norm  # the registered name's (vgg16_bn-imagenet), not a build option
        layers: list[nn.Module] = []
        channels = in_channels
        for entry in cfg:
            if entry == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
                continue
            conv = (nn.Conv2d if batch_norm else Conv2d)(channels, entry, kernel_size=3, padding=1)
            layers += [conv, nn.BatchNorm2d(entry)] if batch_norm else [conv]
            layers.append(nn.ReLU(inplace=True))
            channels = entry
        self.features = nn.Sequential(*layers)
        if self.head == "fc":
            self.avgpool = nn.AdaptiveAvgPool2d(POOLED)
            self.classifier = nn.Sequential(
                nn.Linear(channels * POOLED * POOLED, HIDDEN),
                nn.ReLU(inplace=True),
                nn.Dropout(),
                nn.Linear(HIDDEN, HIDDEN),
                nn.ReLU(inplace=True),
                nn.Dropout(),
                nn.Linear(HIDDEN, num_classes),
            )
        else:
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.classifier = nn.Sequential(nn.Linear(channels, num_classes))
        init_vgg_(self, TORCHVISION_INIT)

    @property
    def head(self) -> str:
        """"fc" (torchvision's classifier, the cfg ends in 'M') or "gap" (ThiNet's global average pool)."""
        return "fc" if self.cfg[-1] == "M" else "gap"

    def prunable_layers(self) -> list[PrunableLayer]:
        """Every conv (ThiNet and He et al. prune convs only; the hidden Linear widths stay 4096).
        Its gate is its BN, or the conv itself without BN (`Conv2d`); the next conv reads its
        channels, and after the last conv the classifier's first Linear (as 7x7 blocks of its
        C*7*7 inputs for the "fc" head). layer_id counts the convs from the stem (1-13); stage
        is the number of max-pools before the conv."""
        convs = [int(name) for name, m in self.features.named_children() if isinstance(m, nn.Conv2d)]
        positions = [i for i, entry in enumerate(self.cfg) if entry != "M"]
        readers = [f"features.{conv}" for conv in convs[1:]] + ["classifier.0"]
        bn = self.batch_norm
        layers = []
        for layer_id, (position, conv, reader) in enumerate(zip(positions, convs, readers), start=1):
            gate = f"features.{conv + 1}" if bn else f"features.{conv}"
            dependents = ((gate, 0), (reader, 1)) if bn else ((reader, 1),)
            layers.append(PrunableLayer(position, f"features.{conv}", dependents, layer_id,
                                        stage=self.cfg[:position].count("M"), gate=gate))
        return layers

    def forward(self, x: Tensor) -> Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(x.flatten(1))


@dataclass(frozen=True)
class ImageNetVGG16Spec:
    """torchvision's VGG-16 (`batch_norm`: its `vgg16_bn`), cfg-driven; see `ImageNetVGG16`."""

    batch_norm: bool = False

    def default_cfg(self) -> list:
        return list(VGG16_CFG)

    def check_cfg(self, name: str, cfg: Any) -> list:
        default = GAP_CFG if isinstance(cfg, (list, tuple)) and cfg and cfg[-1] != "M" else VGG16_CFG
        expected = (f"13 conv widths with 'M' at positions {[i for i, e in enumerate(GAP_CFG) if e == 'M']}, ending "
                    f"in 'M' for the fully connected classifier ({len(VGG16_CFG)} entries, like the default "
                    f"{VGG16_CFG}) or in a conv for the global-average-pool one ({len(GAP_CFG)} entries, like "
                    "ThiNet's VGG-GAP)")
        return check_pooled(name, cfg, default, expected, lambda position: "a conv width")

    def option_defaults(self) -> dict:
        return {}

    def build(self, cfg: list, num_classes: int, in_channels: int, **options: Any) -> ImageNetVGG16:
        return ImageNetVGG16(cfg, num_classes, in_channels, batch_norm=self.batch_norm, **options)
