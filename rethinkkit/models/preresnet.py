"""Pre-activation ResNet with bottleneck blocks and channel selection (He et al. 2016b), as in
Network Slimming's code (`cifar/network-slimming/models/preresnet.py` of
Eric-mingjie/rethinking-network-pruning). PreResNet-164 is the slimming model; the
bottleneck PreResNet-110 (n=12) is the one used for the unstructured experiments.

Depth 9n+2: a conv3x3 stem to 16 channels, three stages of n bottlenecks with planes
16/32/64 (outputs 64/128/256, stride 2 at the start of stages 2 and 3), then
BN-select-ReLU, global average pool and Linear.

Block: BN(in) -> select(in -> c0) -> ReLU -> conv1x1(c0 -> c1) -> BN -> ReLU ->
conv3x3(c1 -> c2, stride) -> BN -> ReLU -> conv1x1(c2 -> 4*planes), plus the shortcut
(identity, or a strided conv1x1 of the block input where the shape changes).

The cfg is Network Slimming's: three entries per block [c0, c1, c2] (channels kept by the
block's selection, conv1 width, conv2 width), then one entry for the channels kept by
the final selection. Slimming prunes every BN, so all of these can shrink; the block
outputs (the residual stream) keep their width.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from .common import ChannelSelection, Net, PrunableLayer, check_selected, check_widths, init_conv_bn_, SLIMMING_INIT, Init

EXPANSION = 4  # bottleneck output = 4 * planes
STAGE_PLANES = (16, 32, 64)
STEM_WIDTH = 16


def block_inputs(n: int) -> list[int]:
    """Width of the residual stream entering each of the 3n blocks, then the final BN."""
    widths, channels = [], STEM_WIDTH
    for planes in STAGE_PLANES:
        for _ in range(n):
            widths.append(channels)
            channels = planes * EXPANSION
    return widths + [channels]


class Bottleneck(nn.Module):
    """Pre-activation bottleneck with channel selection after the first BN."""

    def __init__(self, in_channels: int, planes: int, cfg: Sequence[int], stride: int) -> None:
        super().__init__()
        out_channels = planes * EXPANSION
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.select = ChannelSelection(in_channels, cfg[0])
        self.conv1 = nn.Conv2d(cfg[0], cfg[1], kernel_size=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cfg[1])
        self.conv2 = nn.Conv2d(cfg[1], cfg[2], kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(cfg[2])
        self.conv3 = nn.Conv2d(cfg[2], out_channels, kernel_size=1, bias=False)
        self.downsample: nn.Module = (
            nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False)
            if stride != 1 or in_channels != out_channels
            else nn.Identity()
        )

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv1(F.relu(self.select(self.bn1(x))))
        out = self.conv2(F.relu(self.bn2(out), inplace=True))
        out = self.conv3(F.relu(self.bn3(out), inplace=True))
        return out + self.downsample(x)


class PreResNet(Net):
    """Bottleneck pre-activation ResNet; `cfg` has 9n+1 entries (see module docstring).

    `select`: optional kept-channel lists, one per channel-selection layer (3n blocks, then
    the final one), e.g. from a pruner; by default each keeps its first cfg-many channels.
    """

    def __init__(self, cfg: list, num_classes: int = 10, in_channels: int = 3,
                 select: Sequence[Sequence[int]] | None = None, init: Init = SLIMMING_INIT) -> None:
        if len(cfg) % 9 != 1:
            raise ValueError(
                f"PreResNet cfg needs 9n+1 entries (3 per block, then 1), got {len(cfg)}"
            )
        super().__init__(cfg, num_classes, in_channels, {})
        n = len(cfg) // 9
        self.conv1 = nn.Conv2d(in_channels, STEM_WIDTH, kernel_size=3, padding=1, bias=False)
        channels = STEM_WIDTH
        for stage, planes in enumerate(STAGE_PLANES):
            blocks = []
            for i in range(n):
                block = stage * n + i
                stride = 2 if stage > 0 and i == 0 else 1
                blocks.append(Bottleneck(channels, planes, cfg[3 * block:3 * block + 3], stride))
                channels = planes * EXPANSION
            self.add_module(f"layer{stage + 1}", nn.Sequential(*blocks))
        self.bn = nn.BatchNorm2d(channels)
        self.select = ChannelSelection(channels, cfg[-1])
        self.fc = nn.Linear(cfg[-1], num_classes)
        # Network Slimming: convs N(0, sqrt(2 / (k*k*out_channels))), BN scale 0.5, Linear default;
        # the weight-level code (bearpaw): the same with BN scale 1 (`init`).
        init_conv_bn_(self, init)
        self.set_selection(select)

    def prunable_layers(self) -> list[PrunableLayer]:
        """Every BN gates prunable channels (Network Slimming prunes them all): per block, the
        selection after bn1 (which channels of the residual stream conv1 reads), conv1's width
        (gated by bn2) and conv2's width (gated by bn3); then the final selection before fc.
        The residual stream itself keeps its width."""
        layers = []
        n = len(self.cfg) // 9
        for b in range(3 * n):
            block = f"layer{b // n + 1}.{b % n}"
            layers += [
                PrunableLayer(3 * b, None, ((f"{block}.conv1", 1),), stage=b // n, gate=f"{block}.bn1",
                              select=f"{block}.select"),
                PrunableLayer(3 * b + 1, f"{block}.conv1", ((f"{block}.bn2", 0), (f"{block}.conv2", 1)),
                              stage=b // n, gate=f"{block}.bn2"),
                PrunableLayer(3 * b + 2, f"{block}.conv2", ((f"{block}.bn3", 0), (f"{block}.conv3", 1)),
                              stage=b // n, gate=f"{block}.bn3"),
            ]
        layers.append(PrunableLayer(9 * n, None, (("fc", 1),), stage=2, gate="bn", select="select"))
        return layers

    def forward(self, x: Tensor) -> Tensor:
        x = self.layer3(self.layer2(self.layer1(self.conv1(x))))
        x = F.relu(self.select(self.bn(x)))
        # Global average pool: the original's AvgPool2d(8) on the final 8x8 map.
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


@dataclass(frozen=True)
class PreResNetSpec:
    """A named bottleneck PreResNet depth (9n+2)."""

    depth: int
    init: Init = SLIMMING_INIT  # the original code's (the weight-level models: WEIGHT_LEVEL_INIT)

    @property
    def n(self) -> int:
        return (self.depth - 2) // 9

    def default_cfg(self) -> list:
        cfg: list[int] = []
        for stage, planes in enumerate(STAGE_PLANES):
            first_in = STEM_WIDTH if stage == 0 else STAGE_PLANES[stage - 1] * EXPANSION
            cfg += [first_in, planes, planes] + [planes * EXPANSION, planes, planes] * (self.n - 1)
        return cfg + [STAGE_PLANES[-1] * EXPANSION]

    def check_cfg(self, name: str, cfg: Any) -> list:
        blocks = 3 * self.n
        cfg = check_widths(
            name, cfg, 3 * blocks + 1,
            f"entries (3 per block for its {blocks} blocks: selected input channels, conv1 "
            f"width, conv2 width; then the channels selected by the final BN)",
        )
        selections = [3 * block for block in range(blocks)] + [3 * blocks]
        check_selected(name, cfg, block_inputs(self.n), selections)
        return cfg

    def option_defaults(self) -> dict:
        return {"select": None}

    def build(self, cfg: list, num_classes: int, in_channels: int, **options: Any) -> PreResNet:
        return PreResNet(cfg, num_classes, in_channels, init=self.init, **options)
