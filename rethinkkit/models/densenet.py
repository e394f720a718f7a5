"""DenseNet for CIFAR (Huang et al. 2017) with channel selection, as in Network Slimming's
code (`cifar/network-slimming/models/densenet.py` of Eric-mingjie/rethinking-network-pruning).

A conv3x3 stem to 2*growth channels, three dense blocks joined by transitions, then
BN-select-ReLU, global average pool and Linear.

- Dense layer: BN(in) -> select(in -> c) -> ReLU -> conv3x3(c -> growth); its output is
  concatenated to its input. With `bottleneck` (DenseNet-BC) the layer is
  BN -> select -> ReLU -> conv1x1(c -> 4*growth) -> BN -> ReLU -> conv3x3(-> growth).
- Transition: BN(in) -> select(in -> c) -> ReLU -> conv1x1(c -> floor(in*compression)) ->
  2x2 average pool.

Every BN that sees the concatenated features is followed by a channel selection, and
the cfg lists how many channels each one keeps, in forward order: per dense block its
layers, then the transition (or, after the last block, the final BN). Unpruned, each
keeps all of its input; the widths between layers do not depend on the cfg.

DenseNet-40: growth 12, 12 layers per block, no bottleneck, no compression (the slimming
model). DenseNet-BC-100: growth 12, 16 bottleneck layers per block, compression 0.5.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .common import ChannelSelection, Net, PrunableLayer, check_selected, check_widths, init_conv_bn_, SLIMMING_INIT, Init

BLOCKS = 3
BOTTLENECK_FACTOR = 4  # a bottleneck layer's conv1x1 gives 4*growth channels


def layer_inputs(layers: int, growth: int, compression: float) -> list[int]:
    """Width of the features entering every channel-selecting BN, in forward order."""
    widths, channels = [], 2 * growth
    for block in range(BLOCKS):
        for _ in range(layers):
            widths.append(channels)
            channels += growth
        widths.append(channels)
        if block < BLOCKS - 1:
            channels = math.floor(channels * compression)
    return widths


class DenseLayer(nn.Module):
    """One dense layer: its `growth` new channels are concatenated to its input."""

    def __init__(self, in_channels: int, selected: int, growth: int, bottleneck: bool) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.select = ChannelSelection(in_channels, selected)
        if bottleneck:
            inner = BOTTLENECK_FACTOR * growth
            self.conv1 = nn.Conv2d(selected, inner, kernel_size=1, bias=False)
            self.bn2 = nn.BatchNorm2d(inner)
            self.conv2 = nn.Conv2d(inner, growth, kernel_size=3, padding=1, bias=False)
        else:
            self.conv1 = nn.Conv2d(selected, growth, kernel_size=3, padding=1, bias=False)
        self.bottleneck = bottleneck

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv1(F.relu(self.select(self.bn1(x))))
        if self.bottleneck:
            out = self.conv2(F.relu(self.bn2(out), inplace=True))
        return torch.cat((x, out), 1)


class Transition(nn.Module):
    """BN-select-ReLU-conv1x1, then a 2x2 average pool."""

    def __init__(self, in_channels: int, selected: int, out_channels: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.select = ChannelSelection(in_channels, selected)
        self.conv1 = nn.Conv2d(selected, out_channels, kernel_size=1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv1(F.relu(self.select(self.bn1(x))))
        return F.avg_pool2d(out, 2)


class DenseNet(Net):
    """CIFAR DenseNet with channel selection; `cfg` has 3*(layers+1) entries (module docstring).

    `select`: optional kept-channel lists, one per channel-selection layer in cfg order,
    e.g. from a pruner; by default each keeps its first cfg-many channels.
    """

    def __init__(self, cfg: list, num_classes: int = 10, in_channels: int = 3, growth: int = 12,
                 bottleneck: bool = False, compression: float = 1.0,
                 select: Sequence[Sequence[int]] | None = None, init: Init = SLIMMING_INIT) -> None:
        if len(cfg) % BLOCKS or len(cfg) < 2 * BLOCKS:
            raise ValueError(
                f"DenseNet cfg needs 3*(layers+1) entries (per block its layers, then the "
                f"transition or final BN), got {len(cfg)}"
            )
        super().__init__(cfg, num_classes, in_channels, {})
        layers = len(cfg) // BLOCKS - 1
        widths = layer_inputs(layers, growth, compression)
        self.conv1 = nn.Conv2d(in_channels, 2 * growth, kernel_size=3, padding=1, bias=False)
        for block in range(BLOCKS):
            start = block * (layers + 1)
            dense = [DenseLayer(widths[start + i], cfg[start + i], growth, bottleneck)
                     for i in range(layers)]
            self.add_module(f"dense{block + 1}", nn.Sequential(*dense))
            end = start + layers
            if block < BLOCKS - 1:
                out_channels = math.floor(widths[end] * compression)
                transition = Transition(widths[end], cfg[end], out_channels)
                self.add_module(f"trans{block + 1}", transition)
        self.bn = nn.BatchNorm2d(widths[-1])
        self.select = ChannelSelection(widths[-1], cfg[-1])
        self.fc = nn.Linear(cfg[-1], num_classes)
        # Network Slimming: convs N(0, sqrt(2 / (k*k*out_channels))), BN scale 0.5, Linear default;
        # the weight-level code (bearpaw): the same with BN scale 1 (`init`).
        init_conv_bn_(self, init)
        self.set_selection(select)

    def prunable_layers(self) -> list[PrunableLayer]:
        """Every channel selection, in cfg order: each dense layer's (which concatenated
        features its first conv reads), each transition's, and the final one before fc. Their
        BNs are the gates Network Slimming scores. A bottleneck layer's inner width is not in
        the cfg, so it is not prunable here."""
        layers = len(self.cfg) // BLOCKS - 1
        out = []
        for block in range(BLOCKS):
            start = block * (layers + 1)
            for i in range(layers):
                name = f"dense{block + 1}.{i}"
                out.append(PrunableLayer(start + i, None, ((f"{name}.conv1", 1),), stage=block,
                                         gate=f"{name}.bn1", select=f"{name}.select"))
            name = f"trans{block + 1}" if block < BLOCKS - 1 else ""
            out.append(PrunableLayer(start + layers, None, ((f"{name}.conv1" if name else "fc", 1),), stage=block,
                                     gate=f"{name}.bn1" if name else "bn", select=f"{name}.select" if name else "select"))
        return out

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv1(x)
        x = self.trans1(self.dense1(x))
        x = self.trans2(self.dense2(x))
        x = self.dense3(x)
        x = F.relu(self.select(self.bn(x)))
        # Global average pool: the original's AvgPool2d(8) on the final 8x8 map.
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


@dataclass(frozen=True)
class DenseNetSpec:
    """A named CIFAR DenseNet: depth, growth rate, bottleneck layers, transition compression."""

    depth: int
    init: Init = SLIMMING_INIT  # the original code's (the weight-level models: WEIGHT_LEVEL_INIT)
    growth: int = 12
    bottleneck: bool = False
    compression: float = 1.0

    @property
    def layers(self) -> int:
        """Dense layers per block: depth = 3 * layers * (convs per layer) + 4."""
        convs = 2 if self.bottleneck else 1
        return (self.depth - 4) // (BLOCKS * convs)

    def widths(self) -> list[int]:
        return layer_inputs(self.layers, self.growth, self.compression)

    def default_cfg(self) -> list:
        return self.widths()

    def check_cfg(self, name: str, cfg: Any) -> list:
        expected = BLOCKS * (self.layers + 1)
        cfg = check_widths(
            name, cfg, expected,
            f"channel counts (one per channel-selecting BN: {self.layers} layers and a "
            f"transition or final BN per block)",
        )
        check_selected(name, cfg, self.widths(), list(range(expected)))
        return cfg

    def option_defaults(self) -> dict:
        return {"select": None}

    def build(self, cfg: list, num_classes: int, in_channels: int, **options: Any) -> DenseNet:
        return DenseNet(cfg, num_classes, in_channels, init=self.init, growth=self.growth,
                        bottleneck=self.bottleneck, compression=self.compression, **options)
