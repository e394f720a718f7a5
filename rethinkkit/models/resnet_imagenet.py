"""ResNets for ImageNet (He et al. 2016), cfg-driven, with torchvision's module names.

- `ImageNetResNet`: ResNet-34, basic blocks (L1-norm pruning; below);
- `BottleneckResNet`: ResNet-50, bottleneck blocks (ThiNet, regression pruning, Sparse
  Structure Selection, the weight-level experiments; after ResNet-34).

ResNet-34 for ImageNet (He et al. 2016), as in the original L1-norm pruning code
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
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .common import RESNET_INIT, ChannelSelection, Init, Net, PrunableLayer, check_widths, init_conv_bn_, is_width
from .resnet import BasicBlock, Shortcut, changes_shape, projection

STAGE_WIDTHS = (64, 128, 256, 512)
STAGE_BLOCKS = (3, 4, 6, 3)  # ResNet-34


def _blocks() -> list[tuple[int, int]]:
    """(stage, index in stage) of every block, in cfg order."""
    return [(stage, i) for stage, n in enumerate(STAGE_BLOCKS) for i in range(n)]


class ImageNetResNet(Net):
    """ImageNet ResNet-34 with basic blocks; `cfg` holds the 16 inner widths (module docstring)."""

    image_size = 224

    def __init__(self, cfg: list, num_classes: int = 1000, in_channels: int = 3,
                 widths: Sequence[int] = STAGE_WIDTHS) -> None:
        if len(cfg) != len(_blocks()):
            raise ValueError(
                f"ImageNetResNet cfg needs {len(_blocks())} inner widths (one per block), got {len(cfg)}"
            )
        widths = tuple(widths)
        if len(widths) != len(STAGE_WIDTHS) or not all(is_width(w) for w in widths):
            raise ValueError(f"widths are the {len(STAGE_WIDTHS)} stage widths (the stem is the first), "
                             f"positive integers; got {widths!r}")
        # the arch names the stage widths only where they are not ResNet-34's (its runs keep their keys)
        super().__init__(cfg, num_classes, in_channels, {} if widths == STAGE_WIDTHS else {"widths": list(widths)})
        self.conv1 = nn.Conv2d(in_channels, widths[0], kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        channels = widths[0]
        inner = iter(cfg)
        for stage, (width, n) in enumerate(zip(widths, STAGE_BLOCKS)):
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
        # the stage widths: (64, 128, 256, 512) is ResNet-34; a narrower model (e.g. a quarter, with
        # Protocol(width=0.25) scaling the inner widths alike) is a named deviation for small CPU studies
        return {"widths": list(STAGE_WIDTHS)}

    def build(self, cfg: list, num_classes: int, in_channels: int, **options: Any) -> ImageNetResNet:
        return ImageNetResNet(cfg, num_classes, in_channels, **options)


# --- ResNet-50: bottleneck blocks ---------------------------------------------------------

BOTTLENECK_WIDTHS = (64, 128, 256, 512)  # a stage's inner width; its blocks output EXPANSION times it
BOTTLENECK_BLOCKS = (3, 4, 6, 3)  # ResNet-50
EXPANSION = 4
STEM = 64  # the stem's width, stage 1's input


def block_inputs() -> list[int]:
    """The input width of every ResNet-50 block, in cfg order: the stem's 64 or the previous
    stage's output for a stage's first block, the stage's output for the others. Removing a
    block's residual branch does not change them (its shortcut keeps the stage's output width)."""
    inputs, channels = [], STEM
    for width, n in zip(BOTTLENECK_WIDTHS, BOTTLENECK_BLOCKS):
        for _ in range(n):
            inputs.append(channels)
            channels = width * EXPANSION
    return inputs


def bottleneck_cfg(inner: Sequence[int] = BOTTLENECK_WIDTHS) -> list[int]:
    """The cfg with both inner convs of every block of stage s at `inner[s]` (the unpruned
    widths by default; ThiNet's targets are such cfgs)."""
    if len(inner) != len(BOTTLENECK_WIDTHS) or not all(is_width(w) for w in inner):
        raise ValueError(f"inner needs one positive width per stage ({len(BOTTLENECK_WIDTHS)}), got {inner!r}")
    stage_of = [s for s, n in enumerate(BOTTLENECK_BLOCKS) for _ in range(n)]
    return [entry for b, channels in enumerate(block_inputs()) for entry in (channels, inner[stage_of[b]],
                                                                              inner[stage_of[b]])]


class Bottleneck(nn.Module):
    """torchvision's bottleneck: conv1x1-BN-ReLU, conv3x3(stride)-BN-ReLU, conv1x1-BN, plus
    the shortcut, then ReLU (the stride sits on the 3x3 conv, as in torchvision and the ThiNet
    and regression codes). `cfg` is (selected inputs, conv1 width, conv2 width): with fewer
    selected inputs than `in_channels`, a ChannelSelection before conv1 keeps that many channels
    of the block's input (ResNet-50-2x); the shortcut reads the whole input. With `scale`, the
    residual branch's output is multiplied by a learnable scalar (initialised to 1) before the
    addition: Sparse Structure Selection's block factor (Huang & Wang 2018)."""

    def __init__(self, in_channels: int, cfg: Sequence[int], out_channels: int, stride: int,
                 downsample: nn.Module | None = None, scale: bool = False) -> None:
        super().__init__()
        selected, width1, width2 = cfg
        self.select = ChannelSelection(in_channels, selected) if selected < in_channels else None
        self.conv1 = nn.Conv2d(selected, width1, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width1)
        self.conv2 = nn.Conv2d(width1, width2, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width2)
        self.conv3 = nn.Conv2d(width2, out_channels, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.downsample: nn.Module = downsample if downsample is not None else nn.Identity()
        self.scale = nn.Parameter(torch.ones(())) if scale else None

    def forward(self, x: Tensor) -> Tensor:
        out = x if self.select is None else self.select(x)
        out = F.relu(self.bn1(self.conv1(out)), inplace=True)
        out = F.relu(self.bn2(self.conv2(out)), inplace=True)
        out = self.bn3(self.conv3(out))
        if self.scale is not None:
            out = out * self.scale
        return F.relu(out + self.downsample(x), inplace=True)


class BottleneckResNet(Net):
    """ResNet-50 for ImageNet as torchvision's `resnet50` builds it, with a cfg of 3 entries per block.

    A conv7x7 stride-2 stem to 64 channels + BN + ReLU + max-pool 3x3 stride 2, four stages of
    [3, 4, 6, 3] bottleneck blocks at inner widths 64/128/256/512 and outputs 4x those (stride 2
    on the first block of stages 2-4), global average pool, Linear(2048, classes). A stage's first
    block has a projection shortcut, conv1x1(stride) + BN (the ThiNet and regression codes give
    that conv a bias, torchvision does not; we follow torchvision, 3,840 parameters fewer).

    The cfg is the original codes' layout (`cfg_official`, `cfg_thinet30`, `cfg_2x` in
    `imagenet/thinet/models/thinetresnet.py` and `imagenet/regression-pruning/models/resnet_2x.py`
    of Eric-mingjie/rethinking-network-pruning): per block, in order, (the block input's channels
    conv1 reads, conv1's width, conv2's width). Pruning shrinks the two inner widths; block outputs
    keep the stage width. The first entry is the block's input width unless a channel selection
    keeps fewer (He et al.'s ResNet-50-2x prunes the input of each block's first conv); which
    channels are kept is the build option `select`, one ascending list per selecting block.

    Blocks are architecture too, as in the CIFAR ResNets (`rethinkkit.models.resnet`): a block
    whose three entries are None has lost its residual branch (Sparse Structure Selection's
    ResNet-41/32/26). It is then its shortcut alone: nothing (an identity) inside a stage, and
    for a stage's first block its projection shortcut followed by ReLU (`Shortcut`), so the
    stage still changes resolution and width ("the first block of a stage holds the
    downsampling"). Kept blocks keep their module names. `block_scale=True` gives every kept
    block SSS's learnable factor on its residual branch. (SSS's own code, which the original ran
    for Table 5, builds a pre-activation ResNet-50 in MXNet; its block layouts are taken onto
    torchvision's ResNet-50 here: the same convs, widths and MACs, BN and ReLU placed as torchvision.)

    Module names are torchvision's, so the unpruned model loads torchvision's ImageNet weights
    (`model.load_state_dict(torchvision.models.resnet50(weights=...).state_dict())`).
    """

    image_size = 224

    def __init__(self, cfg: list, num_classes: int = 1000, in_channels: int = 3,
                 select: Sequence[Sequence[int]] | None = None, block_scale: bool = False,
                 init: Init = RESNET_INIT) -> None:
        inputs = block_inputs()
        if len(cfg) != 3 * len(inputs):
            raise ValueError(f"BottleneckResNet cfg needs {3 * len(inputs)} entries (3 per block), got {len(cfg)}")
        if not isinstance(block_scale, bool):
            raise ValueError(f"block_scale is True (a learnable factor per residual block, Sparse Structure "
                             f"Selection) or False (the plain ResNet), got {block_scale!r}")
        # the factor is an option only where it is on, so the plain ResNet-50's arch stays plain
        super().__init__(cfg, num_classes, in_channels, {"block_scale": True} if block_scale else {})
        self.conv1 = nn.Conv2d(in_channels, STEM, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(STEM)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        b = 0
        for stage, (width, n) in enumerate(zip(BOTTLENECK_WIDTHS, BOTTLENECK_BLOCKS)):
            out = width * EXPANSION
            blocks: list[nn.Module] = []
            for i in range(n):
                stride = 2 if stage > 0 and i == 0 else 1
                channels = inputs[b]
                downsample = projection(channels, out, stride) if changes_shape(channels, out, stride) else None
                entries = cfg[3 * b:3 * b + 3]
                if entries[0] is not None:
                    blocks.append(Bottleneck(channels, entries, out, stride, downsample, scale=block_scale))
                else:  # a removed block: its shortcut alone; the Identity keeps later blocks' names
                    blocks.append(Shortcut(downsample) if downsample is not None else nn.Identity())
                b += 1
            self.add_module(f"layer{stage + 1}", nn.Sequential(*blocks))
        self.fc = nn.Linear(BOTTLENECK_WIDTHS[-1] * EXPANSION, num_classes)
        # torchvision: convs kaiming_normal_(fan_out, relu) = N(0, sqrt(2 / (k*k*out_channels))),
        # BN scale 1 and shift 0, Linear at PyTorch's default (ThiNet's and the regression code's too)
        init_conv_bn_(self, init)
        self.set_selection(select)

    def _block_names(self) -> list[str]:
        """The module name of every block position, in cfg order (removed ones included)."""
        return [f"layer{stage + 1}.{i}" for stage, n in enumerate(BOTTLENECK_BLOCKS) for i in range(n)]

    @property
    def blocks(self) -> tuple[int, ...]:
        """The number of blocks with a residual branch in each stage (SSS's ResNet-26: (0, 2, 5, 1))."""
        kept = [self.cfg[3 * b] is not None for b in range(len(self._block_names()))]
        starts = [sum(BOTTLENECK_BLOCKS[:s]) for s in range(len(BOTTLENECK_BLOCKS))]
        return tuple(sum(kept[start:start + n]) for start, n in zip(starts, BOTTLENECK_BLOCKS))

    @property
    def depth(self) -> int:
        """Layers as He et al. count them, 3 per residual block + the stem + the classifier: 50, or
        SSS's 41, 32, 26 (projection shortcuts are not counted)."""
        return 3 * sum(self.blocks) + 2

    def block_scales(self) -> dict[str, nn.Parameter]:
        """The block factors by block name ("layer3.4"), in cfg order; empty unless built with
        `block_scale=True` (a removed block has none)."""
        modules = dict(self.named_modules())
        return {name: modules[name].scale for b, name in enumerate(self._block_names())
                if self.cfg[3 * b] is not None and modules[name].scale is not None}

    def prunable_layers(self) -> list[PrunableLayer]:
        """conv1 and conv2 of every kept block, gated by bn1 and bn2 and read by conv2 and conv3
        (ThiNet and He et al. prune both inner convs; the residual stream keeps its width).
        layer_id counts convs from the stem (id 1), 3 per block position, removed ones included, so
        an id names the same conv in every architecture: block b's conv1 is 2 + 3b, its conv2 3 + 3b
        (projection shortcuts are not counted). stage is the block's stage (0-3). A block's input
        selection (its first cfg entry) is architecture the pruning methods here do not choose."""
        layers = []
        stage_of = [s for s, n in enumerate(BOTTLENECK_BLOCKS) for _ in range(n)]
        for b, block in enumerate(self._block_names()):
            if self.cfg[3 * b] is None:
                continue
            for k, (conv, gate, reader) in enumerate((("conv1", "bn1", "conv2"), ("conv2", "bn2", "conv3")), start=1):
                dependents = ((f"{block}.{gate}", 0), (f"{block}.{reader}", 1))
                layers.append(PrunableLayer(3 * b + k, f"{block}.{conv}", dependents,
                                            layer_id=1 + 3 * b + k, stage=stage_of[b], gate=f"{block}.{gate}"))
        return layers

    forward = ImageNetResNet.forward  # torchvision's stem, four stages, pool and fc


@dataclass(frozen=True)
class BottleneckResNetSpec:
    """torchvision's ResNet-50, cfg-driven (see `BottleneckResNet`)."""

    def default_cfg(self) -> list:
        return bottleneck_cfg()

    def check_cfg(self, name: str, cfg: Any) -> list:
        """`cfg` as a list: per block (selected inputs, conv1 width, conv2 width), all None for a removed block."""
        inputs = block_inputs()
        expected = (f"{3 * len(inputs)} entries, 3 per block (conv1's input channels, conv1's width, conv2's "
                    f"width; all None for a removed block), like the default {bottleneck_cfg()}")
        if isinstance(cfg, (str, bytes)) or not isinstance(cfg, Sequence) or len(cfg) != 3 * len(inputs):
            got = len(cfg) if isinstance(cfg, Sequence) and not isinstance(cfg, (str, bytes)) else repr(cfg)
            raise ValueError(f"{name} cfg needs {expected}; got {got}")
        for b, channels in enumerate(inputs):
            entries = list(cfg[3 * b:3 * b + 3])
            if all(e is None for e in entries):
                continue
            for k, value in enumerate(entries):
                if not is_width(value):
                    raise ValueError(f"{name} cfg[{3 * b + k}] must be a positive int (a channel count), or the "
                                     f"block's three entries all None (a removed block); got {value!r}")
            if entries[0] > channels:
                raise ValueError(f"{name} cfg[{3 * b}] selects {entries[0]} input channels, but only {channels} "
                                 f"reach block {b}")
        return [None if value is None else int(value) for value in cfg]

    def option_defaults(self) -> dict:
        return {"select": None, "block_scale": False}

    def build(self, cfg: list, num_classes: int, in_channels: int, **options: Any) -> BottleneckResNet:
        return BottleneckResNet(cfg, num_classes, in_channels, **options)


# He et al. 2017's ResNet-50-2x selects the inputs of every block's first conv. Which channels: the
# original's `imagenet/regression-pruning/models/filter.pkl` (computed from He et al.'s released
# model; Eric-mingjie/rethinking-network-pruning, MIT licence), one 0/1 mask per block, written here
# as hex digits (4 channels each, first channel in the highest bit).
_RESNET50_2X_MASKS = (
    ("887f3eca89af5539"),
    ("202665089d54d39ad6499b888911a8895dc0c0b35db1a2f154c60018081a8644"),
    ("0a2128089e4ac31a5a484bc4e98588e0c9c5a2b80791e045e10065b08a198660"),
    ("026cef08df35d3be7e7963d879e755e56bc2c83a7f58db7d6c5177e441fa2e35"),
    ("2e2ec8dc484e123502c086a46028b19210502013c20b880289a4b4652a2414587ed60419842f6af12c547844be190640"
     "e77870463df41ce488afc80b6451cb2d"),
    ("0c1ef21f904e3e8110669420623c9790c07c4b05c08c6a5619ba10002e2400291ad04b014082c8d1084028312e93c370"
     "6e306b842d5708b4ec2b20a7b4149af9"),
    ("3f0628dd3a6e1a6b167378fd7ef5f25c56a1641b16ebca5bdfb1d48abe25777bbf5c6f62b27c9dea6ee4cc421eddb746"
     "e4117c0e4f9d3dd1e9b59d97271da6ee"),
    ("dd6ba8df6b243f91d202f6a1906ffe41727de73706ec6c3ff5adc58b714ee74af95c5bf8fc9d5d2132a6ee420aaaf445"
     "ee92620f4c1d20ddeebaa7a2a73dae6b"),
    ("f60a7078510f5425a2b073970d9d01121d4402243591c2b5204b30622d854e55a165cbd83aa27512062d0fa419844222"
     "4d612100d3a4221004ec806683f5cebac000624800f25ac0b64e9d08de416c45e0ae5d06472a62a521a0270a04eb87d8"
     "24f0507562be2d396a042cbf80317c60f453501316318d3ee28824396161e234"),
    ("c200143916ae5425809c63d8b18597926c7542223211c09180123ce3c481c81088812c3a3020fe22cc6c4b54190c9104"
     "69716280f580535414cc20f2883dde6e94044042bac252c3f05c150056c0ed9ce0dcdc1e1b4ad0e740e015ba04e90110"
     "2e61c86343aa4f116a042dff9031fd401c73143014310c7ce3a8341804c1c2bc"),
    ("d2582122376c554d9c25aa7797c5e796561340063111411140a259eb59a8451489813c252424f426c0f08a56b04cd000"
     "45e115e53501d20c574c61bca1bdffeb841005543f831005f05c148c508044dec2a8061733e250a7496045934c6c1da4"
     "0079e8254386c413734041d5c058d58e63731d0890206d6e7025f53700c3483d"),
    ("92714828602451ad80056a1494c6a3131d00482235118909c036c9da998148a2998cb80181bed40e8473ca17501cd405"
     "496928a347815abc4044006e8a3cfccda6814252ee53b015b0141480c8a8c71ed4180e57c34251e04184059209081da1"
     "2a54ee375e87e79bba00c5dddcc4d58ac140597016024664f6a606cd0a07d835"),
    ("d7a865ffd53fb7afe26ffd95fdbff38abf44900a77d7c327a179e5153dc35e57cda062bc81caff269ef7e6ff52c75e27"
     "5f6ae943c1c8781dcefe9466e39acef4f8c877fffe7d7c095cc88608ae5cecd6eafc1c0cef0ec1edef970fabca473d98"
     "3e76e966f7d3971f726207efdd8f7d6cf0e6751a76ff5ddaa6961eeb3660e970"),
    ("dfb071fbf63efd8fa227263dccc7caf71f0a9e1870271b27c173eae7ffc9df51bf18eb80814cdce3dc67ea5652b45a3c"
     "5fa2a943f7fe2a9cc35e9077ff59cfedaeef3d6becfff49d37c1863ce79d0cedc6fe9e5ff7d6c979e5265ce897452feb"
     "3bdaabe6ee8d37bf5b6915fc536dd5fc8e8455f67ee77ef5e6833aef4367cfac"),
    ("d2b0bdb5779f0e7abbaf8783ffa755f930bff9411ad9b6751dad11ff779ba2860f52bf277fab8595f3d42f4714d32f5e"
     "6a9859dd57bcddcefe36eff77cf792b7aeffca6b261baa395adb1f1c1c6bf6bbfb249739ff97c0ff5ed28b3efff75f5d"
     "7b6cba7f39fa6d9cbfcfd0415663753a4fd1c0774c78f231839a8ad0bd4816db5d635fcfccbd7736f066ef9dff4adb8f"
     "b5cb03c1f7c317d7fc1e95687470eb127f237b0a5ef7c74d5dadaa13ba6b3770aa60f4fff57b677e59be56bf04866e4f"
     "a47eb4f7effe12336754497fb3dd38f27e3dd0675cfa2d9aa2c5ffcf7e893f84fd9eee4f7de7721ce17b67f7965aeecb"
     "7afdfb44b2763fcd99fd439796267e5f"),
    ("8ef82f3233bf8b7efaeec0c09c8e32fbb2ae5c8c08ccf157079f1d9d73f80812e6bebd654c6b15eb714c1e479ddd452f"
     "7a38caeb2a74df237e8fed777cffb62834119bca7e9895370a02d99def8bff515efc961f669b91160c34a989b2b2795c"
     "69685d4c3d74247c6e6f6bd7c534f6321cfd663dc5f4fa77e3aacd762faa3ab34fe288624d8efb432cdece597756359b"
     "2d84e72f315a34bf5f6a7968357632c8db1db35c4b9def1c79a6e113b7bd93c6a3e1faff5b6343f85924d79746b24eaf"
     "a7fd3cbbe75f09df66d00b3afd457056737e0c774ebfc46a9ec357ef0104c391f79eef6e5dff66a7616ff78ff58fa60d"
     "73f4d857e275f79719ddd8cb3216ff9d"),
)


def resnet50_2x_select() -> list[list[int]]:
    """The kept input channels of each of ResNet-50-2x's 16 blocks, ascending (the `select` option)."""
    out = []
    for digits in _RESNET50_2X_MASKS:
        bits = bin(int(digits, 16))[2:].zfill(4 * len(digits))
        out.append([c for c, bit in enumerate(bits) if bit == "1"])
    return out
