"""ResNet-34 for ImageNet (He et al. 2016), as in the original L1-norm pruning code
(`imagenet/l1-norm-pruning/resnet.py` of Eric-mingjie/rethinking-network-pruning), which
is torchvision's `resnet34` with a cfg of inner widths.

A conv7x7 stride-2 stem to 64 channels + BN + ReLU + max-pool 3x3 stride 2, four stages of
[3, 4, 6, 3] basic blocks at widths 64/128/256/512 (stride 2 at the start of stages 2-4),
global average pool, Linear(512, classes). The cfg lists the 16 blocks' inner widths (the
output of each block's first conv): Li et al. prune only that conv, so block outputs keep
the stage width. Where a block changes resolution or width, its shortcut is a projection,
conv1x1(stride) + BN (He et al.'s option B), as in torchvision.

Module names are torchvision's, so the unpruned model loads torchvision's ImageNet weights
(`model.load_state_dict(torchvision.models.resnet34(weights=...).state_dict())`), which is
how the original starts pruning.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from .common import RESNET_INIT, Net, PrunableLayer, check_widths, init_conv_bn_
from .resnet import BasicBlock, changes_shape, projection

STAGE_WIDTHS = (64, 128, 256, 512)
STAGE_BLOCKS = (3, 4, 6, 3)  # ResNet-34


def _blocks() -> list[tuple[int, int]]:
    """(stage, index in stage) of every block, in cfg order."""
    return [(stage, i) for stage, n in enumerate(STAGE_BLOCKS) for i in range(n)]


class ImageNetResNet(Net):
    """ImageNet ResNet-34 with basic blocks; `cfg` holds the 16 inner widths (module docstring)."""

    image_size = 224

    def __init__(self, cfg: list, num_classes: int = 1000, in_channels: int = 3) -> None:
        if len(cfg) != len(_blocks()):
            raise ValueError(
                f"ImageNetResNet cfg needs {len(_blocks())} inner widths (one per block), got {len(cfg)}"
            )
        super().__init__(cfg, num_classes, in_channels, {})
        self.conv1 = nn.Conv2d(in_channels, STAGE_WIDTHS[0], kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(STAGE_WIDTHS[0])
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        channels = STAGE_WIDTHS[0]
        inner = iter(cfg)
        for stage, (width, n) in enumerate(zip(STAGE_WIDTHS, STAGE_BLOCKS)):
            blocks = []
            for i in range(n):
                stride = 2 if stage > 0 and i == 0 else 1
                downsample = projection(channels, width, stride) if changes_shape(channels, width, stride) else None
                blocks.append(BasicBlock(channels, next(inner), width, stride, downsample))
                channels = width
            self.add_module(f"layer{stage + 1}", nn.Sequential(*blocks))
        # Linear(512): a block's output is its stage width whatever its inner width. The
        # original wrote Linear(cfg[-1]), equal only while the last block is unpruned.
        self.fc = nn.Linear(channels, num_classes)
        # torchvision (and the original): convs kaiming_normal_(fan_out, relu) =
        # N(0, sqrt(2 / (k*k*out_channels))), BN scale 1 and shift 0, Linear at PyTorch's default.
        init_conv_bn_(self, RESNET_INIT)

    def prunable_layers(self) -> list[PrunableLayer]:
        """The first conv of every block; block b's first conv is Li et al.'s layer id 2 + 2b
        (the stem is id 1; the 1x1 projection shortcuts are not counted, as in the original's
        prune.py)."""
        layers = []
        for b, (stage, i) in enumerate(_blocks()):
            block = f"layer{stage + 1}.{i}"
            layers.append(PrunableLayer(b, f"{block}.conv1", ((f"{block}.bn1", 0), (f"{block}.conv2", 1)),
                                        gate=f"{block}.bn1",
                                        layer_id=2 + 2 * b, stage=stage))
        return layers

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool(F.relu(self.bn1(self.conv1(x)), inplace=True))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        # Global average pool: torchvision's AdaptiveAvgPool2d(1) (the original's AvgPool2d(7)
        # on the 7x7 map of a 224x224 input), so smaller inputs run too.
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.fc(x)


@dataclass(frozen=True)
class ImageNetResNetSpec:
    """ImageNet ResNet-34 (the one depth the paper prunes on ImageNet with Li et al.'s method)."""

    def default_cfg(self) -> list:
        return [width for width, n in zip(STAGE_WIDTHS, STAGE_BLOCKS) for _ in range(n)]

    def check_cfg(self, name: str, cfg: Any) -> list:
        return check_widths(name, cfg, len(_blocks()), "inner widths (one per block)")

    def option_defaults(self) -> dict:
        return {}

    def build(self, cfg: list, num_classes: int, in_channels: int, **options: Any) -> ImageNetResNet:
        return ImageNetResNet(cfg, num_classes, in_channels, **options)
