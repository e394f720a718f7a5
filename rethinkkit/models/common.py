"""Pieces shared by the model families.

- `Net`: the base class of every registered model. The architecture is plain data:
  `model.cfg` (the channel cfg) and `model.arch` (everything `models.from_arch` needs).
- `Spec`: what a family tells the registry about one named depth (default cfg, cfg
  check, build options, how to build).
- `PrunableLayer`: the one description of what structured pruning may shrink.
- `ChannelSelection`: Network Slimming's channel-selection layer, as an index buffer.
- `Init`: how an original code initialised a family (a named property, `model.init`).
- `stages`: each layer's stage (layers with the same feature map size), found by running the model.
- `check_widths`, `kaiming_fan_out_`, `init_conv_bn_`: helpers the families share.
"""

from __future__ import annotations

import math
from numbers import Integral
from dataclasses import dataclass
from typing import Any, Protocol, Sequence

import torch
from torch import nn


class ChannelSelection(nn.Module):
    """Keeps a subset of the channels of the preceding BatchNorm's output.

    Network Slimming (Liu et al. 2017, `models/channel_selection.py`) puts this after the
    BN of a pre-activation block: the BN keeps its full width (its input is the residual
    stream or the DenseNet concatenation, which pruning does not touch) and only the
    selected channels feed the next conv.

    The kept channels are the buffer `index` (int64, sorted ascending, no repeats). As a
    buffer it follows the model to its device and lives in `state_dict`, and `forward` is
    one `index_select` on the device. The original stored a 0/1 vector and converted it
    through numpy on every forward, a host sync per layer per step.

    A freshly built layer keeps the first `num_selected` channels (all of them by default);
    a pruner sets the kept channels with `set_index`.
    """

    def __init__(self, num_channels: int, num_selected: int | None = None) -> None:
        super().__init__()
        if num_selected is None:
            num_selected = num_channels
        if not 1 <= num_selected <= num_channels:
            raise ValueError(
                f"ChannelSelection keeps between 1 and {num_channels} channels, got {num_selected}"
            )
        self.num_channels = num_channels
        self.register_buffer("index", torch.arange(num_selected))

    @property
    def num_selected(self) -> int:
        return self.index.numel()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Keeping every channel of a sorted, repeat-free index is the identity: skip the copy.
        # numel() is tensor metadata, so this test never waits for the device.
        if self.index.numel() == self.num_channels:
            return x
        return x.index_select(1, self.index)

    def is_default(self) -> bool:
        """True when the layer keeps the first `num_selected` channels (as built)."""
        first = torch.arange(self.num_selected, device=self.index.device)
        return bool(torch.equal(self.index, first))

    def set_index(self, index: Sequence[int] | torch.Tensor) -> None:
        """Keep exactly the channels `index` (the count is fixed by the following conv)."""
        kept = torch.as_tensor(index, dtype=torch.int64).flatten().cpu()
        if kept.numel() != self.num_selected:
            raise ValueError(
                f"this selection feeds a conv with {self.num_selected} input channels, "
                f"so it must keep {self.num_selected} channels, got {kept.numel()}"
            )
        if kept.numel() and (int(kept.min()) < 0 or int(kept.max()) >= self.num_channels):
            raise ValueError(
                f"selected channels must lie in [0, {self.num_channels}), got {kept.tolist()}"
            )
        if kept.numel() > 1 and not bool((kept[1:] > kept[:-1]).all()):
            raise ValueError(
                f"selected channels must be sorted ascending without repeats, got {kept.tolist()}"
            )
        self.index.copy_(kept)

    def extra_repr(self) -> str:
        return f"{self.num_channels} -> {self.num_selected}"


@dataclass(frozen=True)
class PrunableLayer:
    """One group of channels structured pruning may remove, and every tensor that sees them.

    This is the one description of what is prunable in a model family: L1-norm pruning,
    Network Slimming, uniform targets and surgery all read it. Two kinds:

    - a *width* (`select` is None): the output channels of `conv` (a Conv2d, or a Linear in an
      MLP head) are removed, with its BatchNorm `gate`, and the next layer reads fewer inputs;
    - a *selection* (`select` set): a ChannelSelection after the BatchNorm `gate` keeps fewer
      of the gate's channels (the residual stream or the DenseNet concatenation keeps its
      width); the conv after it reads fewer inputs. `conv` is None.

    position:   the cfg entry that holds the kept count
    conv:       width kind: the module whose weight dim 0 (and bias) the kept channels index
    dependents: (module name, dim) pairs indexed by the same kept channels: the gate BN (dim 0)
                and the layer that reads them (dim 1; a Linear reading a flattened C x H x W map
                is indexed per channel block)
    layer_id:   Li et al.'s conv number, counting convs from the stem (id 1); the paper's
                skip lists name layers by it (0 where it does not apply)
    stage:      the resolution stage (0-based) for per-stage prune ratios
    gate:       the BatchNorm whose channels these are; its |gamma| scores them (Network Slimming)
    select:     selection kind: the ChannelSelection module
    """

    position: int
    conv: str | None
    dependents: tuple[tuple[str, int], ...]
    layer_id: int = 0
    stage: int = 0
    gate: str = ""
    select: str | None = None

    @property
    def kind(self) -> str:
        return "width" if self.select is None else "selection"


class Net(nn.Module):
    """Base of every registered model: its architecture is plain, JSON-able data.

    `cfg` is the channel cfg that rebuilds the architecture; `options` holds the family's
    build options (e.g. VGG's classifier head). The registry sets `name`. For families
    with `ChannelSelection` layers, which channels each one keeps is architecture too (the
    original Scratch-E/B scripts copy it from the pruned model), so `arch` reports it as
    the option `select` whenever it differs from the freshly built default.
    """

    image_size = 32  # the input side length the family is built for (CIFAR); MACs are counted at it

    def __init__(self, cfg: Sequence, num_classes: int, in_channels: int, options: dict) -> None:
        super().__init__()
        self.name: str | None = None
        self.cfg = list(cfg)
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.options = dict(options)

    def prunable_layers(self) -> list[PrunableLayer]:
        """What structured pruning may shrink, in cfg order (families override this)."""
        raise ValueError(
            f"{self.name or type(self).__name__} does not support structured pruning: it does not list its"
            " prunable layers"
        )

    def width_positions(self) -> list[int]:
        """cfg positions of the prunable widths (what a uniform ratio shrinks)."""
        return [layer.position for layer in self.prunable_layers() if layer.kind == "width"]

    def selections(self) -> list[ChannelSelection]:
        """The channel-selection layers, in the order the cfg lists them."""
        return [m for m in self.modules() if isinstance(m, ChannelSelection)]

    def set_selection(self, select: Sequence[Sequence[int]] | None) -> None:
        """Set the kept channels of every channel-selection layer (None: keep the first)."""
        if select is None:
            return
        layers = self.selections()
        if len(select) != len(layers):
            raise ValueError(
                f"select needs one list of kept channels per channel-selection layer "
                f"({len(layers)}), got {len(select)}"
            )
        for position, (layer, kept) in enumerate(zip(layers, select)):
            try:
                layer.set_index(kept)
            except ValueError as err:
                raise ValueError(f"select[{position}]: {err}") from None

    @property
    def arch(self) -> dict:
        """{"name", "num_classes", "in_channels", "cfg", "options"}: rebuilds this model."""
        options = dict(self.options)
        layers = self.selections()
        if any(not layer.is_default() for layer in layers):
            options["select"] = [layer.index.tolist() for layer in layers]
        return {
            "name": self.name,
            "num_classes": self.num_classes,
            "in_channels": self.in_channels,
            "cfg": list(self.cfg),
            "options": options,
        }


class Spec(Protocol):
    """What a family tells the registry about one named depth (see `models.register`)."""

    def default_cfg(self) -> list:
        """The unpruned cfg."""

    def check_cfg(self, name: str, cfg: Any) -> list:
        """`cfg` as a plain list, or ValueError saying what `name` expects."""

    def option_defaults(self) -> dict:
        """The build options this family takes, with this name's defaults."""

    def build(self, cfg: list, num_classes: int, in_channels: int, **options: Any) -> Net:
        """The model for an already checked cfg."""


def is_width(value: Any) -> bool:
    """A channel count: a positive integer (bool excluded)."""
    return isinstance(value, Integral) and not isinstance(value, bool) and value >= 1


def check_widths(name: str, cfg: Any, expected: int, what: str) -> list[int]:
    """`cfg` as a list of ints, after checking it holds `expected` positive widths."""
    if isinstance(cfg, (str, bytes)) or not isinstance(cfg, Sequence):
        raise ValueError(f"{name} cfg must be a list of {expected} {what}, got {cfg!r}")
    if len(cfg) != expected:
        raise ValueError(f"{name} cfg needs {expected} {what}, got {len(cfg)}")
    for position, value in enumerate(cfg):
        if not is_width(value):
            raise ValueError(
                f"{name} cfg[{position}] must be a positive int (a channel count), got {value!r}"
            )
    return [int(value) for value in cfg]


def check_pooled(name: str, cfg: Any, default: Sequence, expected: str, what) -> list:
    """A VGG-style cfg: positive widths, with 'M' (max-pool) exactly where `default` has them.
    `expected` describes the layout in errors; `what(position)` names an entry's kind."""
    pools = [i for i, entry in enumerate(default) if entry == "M"]
    if isinstance(cfg, (str, bytes)) or not isinstance(cfg, (list, tuple)):
        raise ValueError(f"{name} cfg must be a list of {expected}, got {cfg!r}")
    if len(cfg) != len(default) or [i for i, entry in enumerate(cfg) if entry == "M"] != pools:
        raise ValueError(f"{name} cfg needs {expected}, got {list(cfg)}")
    for position, entry in enumerate(cfg):
        if entry != "M" and not is_width(entry):
            raise ValueError(f"{name} cfg[{position}] must be a positive int ({what(position)}) or 'M', got {entry!r}")
    return [entry if entry == "M" else int(entry) for entry in cfg]


def check_selected(name: str, cfg: list[int], available: list[int], positions: list[int]) -> None:
    """A selection cannot keep more channels than its BatchNorm has."""
    for position, width in zip(positions, available):
        if cfg[position] > width:
            raise ValueError(
                f"{name} cfg[{position}] selects {cfg[position]} channels, "
                f"but only {width} reach that layer"
            )


@dataclass(frozen=True)
class Init:
    """How an original code initialises a model: BN scales, and the Kaiming fan of the convs
    (biases and BN shifts are always 0). Every registered model names its `Init` (`model.init`),
    so the difference between the structured codes and the weight-level ones is data, tested."""

    name: str
    bn_weight: float  # every BatchNorm scale (gamma) at initialisation
    conv_fan: str = "out"  # convs N(0, sqrt(2 / fan)): "out" = k*k*C_out, "in" = k*k*C_in

    def __post_init__(self) -> None:
        if self.conv_fan not in ("in", "out"):
            raise ValueError(f"Init.conv_fan is 'in' or 'out', got {self.conv_fan!r}")


# The original codes' initialisations (REFERENCE.md, "Init"):
SLIMMING_INIT = Init("network-slimming", bn_weight=0.5)  # Liu et al.'s VGG/PreResNet/DenseNet; the L1-norm VGG
RESNET_INIT = Init("resnet", bn_weight=1.0)  # Li et al.'s CIFAR ResNets, torchvision's ImageNet ResNet
# bearpaw's pytorch-classification models of the weight-level and lottery-ticket codes:
WEIGHT_LEVEL_INIT = Init("weight-level", bn_weight=1.0)  # PreResNet, DenseNet, ResNet: fan_out, gamma 1
WEIGHT_LEVEL_VGG_INIT = Init("weight-level-vgg", bn_weight=1.0, conv_fan="in")  # its VGG: n = k*k*in_channels


def kaiming_(weight: torch.Tensor, fan: str = "out") -> None:
    """Normal(0, sqrt(2 / n)) with n = k*k*out_channels ("out") or k*k*in_channels ("in"):
    the init the original codes write by hand."""
    n = weight.shape[0 if fan == "out" else 1] * math.prod(weight.shape[2:])
    with torch.no_grad():
        weight.normal_(0.0, math.sqrt(2.0 / n))


def kaiming_fan_out_(weight: torch.Tensor) -> None:
    """Normal(0, sqrt(2 / (k*k*out_channels))): the init both original codes write by hand."""
    kaiming_(weight, "out")


def init_conv_bn_(model: nn.Module, init: Init) -> None:
    """Convs Kaiming normal (`init.conv_fan`), bias 0; BN scale `init.bn_weight`, shift 0;
    Linear untouched. Records `model.init`."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            kaiming_(module.weight, init.conv_fan)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.constant_(module.weight, init.bn_weight)
            nn.init.zeros_(module.bias)
    model.init = init


def stages(model: nn.Module, input_size: Sequence[int] | None = None) -> dict[str, int]:
    """The layer stage of every conv, linear and BatchNorm module of `model`, by module name: the
    paper's "layers with the same feature map size" (Section 5), numbered 0, 1, ... from the
    largest output side down; flat (linear, BatchNorm1d) outputs are the last stage. Found by running the model once on one zero input of `input_size`
    (default: its own channels at its own image size), in eval mode, without gradients; the
    model's flags and state are left as they were."""
    if input_size is None:
        input_size = (model.in_channels, model.image_size, model.image_size)
    sides: dict[str, int] = {}

    def record(name: str, output: torch.Tensor) -> None:  # a forward hook that returns None keeps the output
        sides.setdefault(name, output.shape[-1] if output.dim() == 4 else 0)

    handles = [module.register_forward_hook(lambda m, i, out, name=name: record(name, out))
               for name, module in model.named_modules()
               if isinstance(module, (nn.Conv2d, nn.BatchNorm2d, nn.Linear, nn.BatchNorm1d))]
    modes = {module: module.training for module in model.modules()}
    tensor = next(iter(model.parameters()))
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros((1, *input_size), device=tensor.device, dtype=tensor.dtype))
    finally:
        for handle in handles:
            handle.remove()
        for module, training in modes.items():
            module.training = training
    order = sorted(set(sides.values()), reverse=True)
    return {name: order.index(side) for name, side in sides.items()}
