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

Residual blocks are architecture too (Sparse Structure Selection, Huang & Wang, "Data-Driven
Sparse Structure Selection for Deep Neural Networks", ECCV 2018, removes whole blocks):

- a cfg entry of None is a block whose residual branch is removed. The block is then its
  shortcut alone: nothing at all where the shortcut is the identity (the block's input is a
  ReLU output, so ReLU(0 + x) = x), and the downsampling shortcut followed by ReLU where the
  block opens a stage that changes resolution or width (`Shortcut`): as in the SSS code and the
  rethinking paper's ResNet-41/32/26, "the first block of a stage holds the downsampling", so
  removing its residual branch keeps the downsampling. The number of blocks of each stage is
  the count of its widths (`ResNet.blocks`); the cfg keeps one entry per block of the named
  depth, so every kept block keeps its module name (`layer2.5` stays `layer2.5`);
- the build option `block_scale=True` gives every block a learnable scalar that multiplies its
  residual branch's output before the addition (SSS's lambda, initialised to 1;
  `ResNet.block_scales()`). The default, False, is the plain ResNet.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .common import RESNET_INIT, Init, Net, PrunableLayer, init_conv_bn_, is_width

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
    ImageNet: a projection); None means the identity. With `scale`, the residual branch's
    output is multiplied by the learnable scalar `self.scale` (initialised to 1) before the
    addition: Sparse Structure Selection's block factor lambda (Huang & Wang 2018).
    """

    def __init__(self, in_channels: int, width: int, out_channels: int, stride: int,
                 downsample: nn.Module | None = None, scale: bool = False) -> None:
        super().__init__()
        self.conv1 = conv3x3(in_channels, width, stride)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = conv3x3(width, out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.downsample: nn.Module = downsample if downsample is not None else nn.Identity()
        self.scale = nn.Parameter(torch.ones(())) if scale else None

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = self.bn2(self.conv2(out))
        if self.scale is not None:
            out = out * self.scale
        return F.relu(out + self.downsample(x), inplace=True)


class Shortcut(nn.Module):
    """A stage's first block with its residual branch removed: its downsampling shortcut, then
    the block's ReLU (Sparse Structure Selection keeps the downsampling of a removed first block).
    The child keeps the block's name for it (`downsample`), so its weights (a projection's conv
    and BN) carry over by name."""

    def __init__(self, downsample: nn.Module) -> None:
        super().__init__()
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.downsample(x), inplace=True)


def changes_shape(in_channels: int, out_channels: int, stride: int) -> bool:
    """Whether a block's shortcut must downsample (else it is the identity)."""
    return stride != 1 or in_channels != out_channels


class ResNet(Net):
    """CIFAR ResNet with basic blocks; `cfg` holds the 3n inner widths, None for a removed
    block (see the module docstring)."""

    def __init__(self, cfg: list, num_classes: int = 10, in_channels: int = 3,
                 shortcut: str = "avgpool", init: Init = RESNET_INIT, block_scale: bool = False) -> None:
        if shortcut not in SHORTCUTS:
            raise ValueError(f"ResNet shortcut must be one of {sorted(SHORTCUTS)}, got {shortcut!r}")
        if not isinstance(block_scale, bool):
            raise ValueError(f"ResNet block_scale is True (a learnable factor per residual block, Sparse Structure "
                             f"Selection) or False (the plain ResNet), got {block_scale!r}")
        if len(cfg) % 3:
            raise ValueError(
                f"ResNet cfg needs 3n inner widths (n blocks per stage), got {len(cfg)}"
            )
        # the factor is an option only where it is on, so the plain ResNets' arch is what it always was
        super().__init__(cfg, num_classes, in_channels,
                         {"shortcut": shortcut, **({"block_scale": True} if block_scale else {})})
        n = len(cfg) // 3
        self.conv1 = conv3x3(in_channels, STAGE_WIDTHS[0])
        self.bn1 = nn.BatchNorm2d(STAGE_WIDTHS[0])
        channels = STAGE_WIDTHS[0]
        for stage, width in enumerate(STAGE_WIDTHS):
            blocks: list[nn.Module] = []
            stride = 2 if stage > 0 else 1  # taken by the stage's first block, kept or reduced to its shortcut
            for i, inner in enumerate(cfg[stage * n:(stage + 1) * n]):
                downsample = None
                if i == 0 and changes_shape(channels, width, stride):
                    downsample = (projection(channels, width, stride) if shortcut == "projection"
                                  else ShortcutA(channels, width, stride, shortcut))
                if inner is not None:
                    blocks.append(BasicBlock(channels, inner, width, stride if i == 0 else 1, downsample,
                                             scale=block_scale))
                else:  # a removed block: its shortcut alone; the Identity keeps later blocks' names
                    blocks.append(Shortcut(downsample) if downsample is not None else nn.Identity())
                channels = width
            self.add_module(f"layer{stage + 1}", nn.Sequential(*blocks))
        self.fc = nn.Linear(channels, num_classes)
        # The original: convs N(0, sqrt(2 / (k*k*out_channels))), BN scale 1, Linear left at
        # PyTorch's default (the same uniform(+-1/sqrt(fan_in)) in 0.3 and now).
        init_conv_bn_(self, init)

    def _block_names(self) -> list[str]:
        """The module name of every block position, in cfg order."""
        n = len(self.cfg) // 3
        return [f"layer{b // n + 1}.{b % n}" for b in range(len(self.cfg))]

    @property
    def blocks(self) -> tuple[int, ...]:
        """The number of residual blocks (with a residual branch) in each stage."""
        n = len(self.cfg) // 3
        return tuple(sum(w is not None for w in self.cfg[s * n:(s + 1) * n]) for s in range(3))

    @property
    def depth(self) -> int:
        """Layers as He et al. count them, 2 per residual block + the stem + the classifier: 56 for
        ResNet-56, fewer once blocks are removed (projection shortcuts are not counted)."""
        return 2 * sum(self.blocks) + 2

    def block_scales(self) -> dict[str, nn.Parameter]:
        """The block factors by block name ("layer2.3"), in cfg order; empty unless the model was
        built with `block_scale=True` (a removed block has none)."""
        modules = dict(self.named_modules())
        return {name: modules[name].scale for name, width in zip(self._block_names(), self.cfg)
                if width is not None and modules[name].scale is not None}

    def prunable_layers(self) -> list[PrunableLayer]:
        """The first conv of every block (Li et al. prune only that one, so the residual
        stream keeps its width); block b's first conv is layer id 2 + 2b. Removed blocks
        have none."""
        n = len(self.cfg) // 3
        layers = []
        for b, block in enumerate(self._block_names()):
            if self.cfg[b] is None:
                continue
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
        """`cfg` as a list of ints and Nones (removed blocks), one per block of this depth."""
        if isinstance(cfg, (str, bytes)) or not isinstance(cfg, Sequence):
            raise ValueError(f"{name} cfg must be a list of {self.blocks} inner widths (one per block), got {cfg!r}")
        if len(cfg) != self.blocks:
            raise ValueError(f"{name} cfg needs {self.blocks} inner widths (one per block), got {len(cfg)}")
        for position, value in enumerate(cfg):
            if value is not None and not is_width(value):
                raise ValueError(f"{name} cfg[{position}] must be a positive int (a block's inner width) or None "
                                 f"(a block removed by Sparse Structure Selection), got {value!r}")
        return [None if value is None else int(value) for value in cfg]

    def option_defaults(self) -> dict:
        return {"shortcut": self.shortcut, "block_scale": False}

    def build(self, cfg: list, num_classes: int, in_channels: int, **options: Any) -> ResNet:
        return ResNet(cfg, num_classes, in_channels, init=self.init, **options)
