"""ResNet-20/32/56/110 for CIFAR (He et al. 2016), as in the original L1-norm pruning code
(`cifar/l1-norm-pruning/models/resnet.py` of Eric-mingjie/rethinking-network-pruning).

Depth 6n+2: a conv3x3 stem to 16 channels, three stages of n basic blocks at widths
16/32/64 (stride 2 at the start of stages 2 and 3), global average pool, Linear(64, classes).
The cfg lists each block's inner width, the output of its first conv: Li et al. prune
only that conv, so block outputs (the residual stream) keep the stage width.

Shortcuts are option A: a parameter-free identity that, where a block changes resolution
or width, pools by 2 and zero-pads the new channels. The original pools with a 2x2
average (`shortcut="avgpool"`, the default); He et al.'s option A takes every second
pixel (`shortcut="subsample"`).

The lottery-ticket code's CIFAR "ResNet-50" (`cifar/lottery-ticket/weight-level/models/cifar/
resnet.py`, `--depth 50`) is this family at n = 8: its bottleneck starts at depth 54, so
depth 50 builds basic blocks, with projection shortcuts (conv1x1 + BN,
`shortcut="projection"`) and BN scale 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from .common import RESNET_INIT, Init, Net, PrunableLayer, check_widths, init_conv_bn_

STAGE_WIDTHS = (16, 32, 64)


def _avgpool(x: Tensor, stride: int) -> Tensor:
    return F.avg_pool2d(x, stride)


def _subsample(x: Tensor, stride: int) -> Tensor:
    return x[:, :, ::stride, ::stride]


SHORTCUT_POOLS = {"avgpool": _avgpool, "subsample": _subsample}
SHORTCUTS = (*SHORTCUT_POOLS, "projection")


def projection(in_channels: int, out_channels: int, stride: int) -> nn.Module:
    """He et al.'s option-B shortcut, as torchvision: conv1x1(stride) + BN."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False),
        nn.BatchNorm2d(out_channels),
    )


class ShortcutA(nn.Module):
    """Option-A shortcut: pool by `stride`, then zero-pad channels up to `out_channels`.

    Everything stays on the input's device and the gradient flows through it. The
    original built the zeros on the host and concatenated them with the detached
    `x.data`, so no gradient reached a block's input through a downsampling shortcut
    (REFERENCE.md, bug 4); we let it flow, as He et al.'s identity shortcut does.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int, pool: str) -> None:
        super().__init__()
        self.extra_channels = out_channels - in_channels
        self.stride = stride
        self.pool = pool

    def forward(self, x: Tensor) -> Tensor:
        if self.stride != 1:
            x = SHORTCUT_POOLS[self.pool](x, self.stride)
        # F.pad lists (left, right) per dim from the last: W, H, then channels at the end.
        return F.pad(x, (0, 0, 0, 0, 0, self.extra_channels))

    def extra_repr(self) -> str:
        return f"pool={self.pool}, stride={self.stride}, extra_channels={self.extra_channels}"


def conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN, plus the shortcut, then ReLU; `width` is the inner width.

    `downsample` is the shortcut where the block changes resolution or width (CIFAR: option A,
    ImageNet: a projection); None means the identity.
    """

    def __init__(self, in_channels: int, width: int, out_channels: int, stride: int,
                 downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = conv3x3(in_channels, width, stride)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = conv3x3(width, out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.downsample: nn.Module = downsample if downsample is not None else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.downsample(x), inplace=True)


def changes_shape(in_channels: int, out_channels: int, stride: int) -> bool:
    """Whether a block's shortcut must downsample (else it is the identity)."""
    return stride != 1 or in_channels != out_channels


class ResNet(Net):
    """CIFAR ResNet with basic blocks; `cfg` holds the 3n inner widths (see module docstring)."""

    def __init__(self, cfg: list, num_classes: int = 10, in_channels: int = 3,
                 shortcut: str = "avgpool", init: Init = RESNET_INIT) -> None:
        if shortcut not in SHORTCUTS:
            raise ValueError(f"ResNet shortcut must be one of {sorted(SHORTCUTS)}, got {shortcut!r}")
        if len(cfg) % 3:
            raise ValueError(
                f"ResNet cfg needs 3n inner widths (n blocks per stage), got {len(cfg)}"
            )
        super().__init__(cfg, num_classes, in_channels, {"shortcut": shortcut})
        n = len(cfg) // 3
        self.conv1 = conv3x3(in_channels, STAGE_WIDTHS[0])
        self.bn1 = nn.BatchNorm2d(STAGE_WIDTHS[0])
        channels = STAGE_WIDTHS[0]
        for stage, width in enumerate(STAGE_WIDTHS):
            blocks = []
            for i, inner in enumerate(cfg[stage * n:(stage + 1) * n]):
                stride = 2 if stage > 0 and i == 0 else 1
                downsample = None
                if changes_shape(channels, width, stride):
                    downsample = (projection(channels, width, stride) if shortcut == "projection"
                                  else ShortcutA(channels, width, stride, shortcut))
                blocks.append(BasicBlock(channels, inner, width, stride, downsample))
                channels = width
            self.add_module(f"layer{stage + 1}", nn.Sequential(*blocks))
        self.fc = nn.Linear(channels, num_classes)
        # The original: convs N(0, sqrt(2 / (k*k*out_channels))), BN scale 1, Linear left at
        # PyTorch's default (the same uniform(+-1/sqrt(fan_in)) in 0.3 and now).
        init_conv_bn_(self, init)

    def prunable_layers(self) -> list[PrunableLayer]:
        """The first conv of every block (Li et al. prune only that one, so the residual
        stream keeps its width); block b's first conv is layer id 2 + 2b."""
        n = len(self.cfg) // 3
        layers = []
        for b in range(len(self.cfg)):
            block = f"layer{b // n + 1}.{b % n}"
            layers.append(PrunableLayer(b, f"{block}.conv1", ((f"{block}.bn1", 0), (f"{block}.conv2", 1)),
                                        gate=f"{block}.bn1",
                                        layer_id=2 + 2 * b, stage=b // n))
        return layers

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu(self.bn1(self.conv1(x)), inplace=True)
        x = self.layer3(self.layer2(self.layer1(x)))
        # Global average pool: the original's AvgPool2d(8) on the final 8x8 map.
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.fc(x)


@dataclass(frozen=True)
class ResNetSpec:
    """A named CIFAR ResNet depth (6n+2), its default shortcut and initialisation."""

    depth: int
    shortcut: str = "avgpool"
    init: Init = RESNET_INIT

    @property
    def blocks(self) -> int:
        return 3 * ((self.depth - 2) // 6)

    def default_cfg(self) -> list:
        n = self.blocks // 3
        return [width for width in STAGE_WIDTHS for _ in range(n)]

    def check_cfg(self, name: str, cfg: Any) -> list:
        return check_widths(name, cfg, self.blocks, "inner widths (one per block)")

    def option_defaults(self) -> dict:
        return {"shortcut": self.shortcut}

    def build(self, cfg: list, num_classes: int, in_channels: int, **options: Any) -> ResNet:
        return ResNet(cfg, num_classes, in_channels, init=self.init, **options)
