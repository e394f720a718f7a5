"""Parameter and multiply-accumulate counts of a model.

The convention is Li et al. (2017)'s, which the paper's FLOPs columns follow: MACs of the
conv and linear layers for one input (batch size 1); BN, ReLU, pooling, shortcut padding
and channel selection cost nothing. The counting is PyTorch's own
`torch.utils.flop_counter.FlopCounterMode` (2 FLOPs per multiply-accumulate), keeping
only its conv and matrix-multiply entries.

    counts = count(model, (3, 32, 32))      # Counts(params=..., macs=...)
    print(counts)                           # 0.85M params, 125.5M MACs
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral
from typing import Sequence

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

_aten = torch.ops.aten
# The ops FlopCounterMode counts for nn.Conv* (whichever backend runs them) and nn.Linear
# (a 2-D input runs addmm, or mm without bias; higher-rank inputs are flattened to 2-D).
_CONV_AND_LINEAR = {
    _aten.convolution,
    _aten._convolution,
    _aten.cudnn_convolution,
    _aten._slow_conv2d_forward,
    _aten.convolution_overrideable,
    _aten.mm,
    _aten.addmm,
}
_WEIGHTED = (nn.modules.conv._ConvNd, nn.Linear)


@dataclass(frozen=True)
class Counts:
    """Parameter entries and conv+linear multiply-accumulates for one input."""

    params: int
    macs: int

    def __str__(self) -> str:
        return f"{self.params / 1e6:.2f}M params, {self.macs / 1e6:.1f}M MACs"


def count(model: nn.Module, input_size: Sequence[int] = (3, 32, 32)) -> Counts:
    """Parameters and MACs of `model` for one input of shape `input_size` (C, H, W).

    params counts every entry of every parameter (BN scales and shifts included; buffers
    such as BN running statistics and channel-selection indices are not parameters).
    The model runs once, in eval mode and without gradients, on its own device; its
    train/eval flags and its state are left as they were.
    """
    macs, _ = _conv_linear_macs(model, input_size)
    return Counts(params=sum(p.numel() for p in model.parameters()), macs=macs)


def count_nonzero(model: nn.Module, input_size: Sequence[int] = (3, 32, 32)) -> Counts:
    """Like `count`, without the zero entries of conv and linear weights (masked models).

    Each conv/linear layer's MACs scale by its weight density (nonzero / total): exact,
    because every weight entry is used once per output position. params drops the zero
    weight entries of those layers; biases and BN parameters count in full, as in
    `count` (weight pruning does not remove them, and a BN shift of 0 is still learned).
    An unmasked model gives the same as `count`.
    """
    macs, per_module = _conv_linear_macs(model, input_size)
    params = sum(p.numel() for p in model.parameters())
    for module in model.modules():
        if isinstance(module, _WEIGHTED):
            total = module.weight.numel()
            nonzero = int(torch.count_nonzero(module.weight.detach()))
            params -= total - nonzero
            module_macs = per_module.get(module, 0)
            macs -= module_macs - module_macs * nonzero // total
    return Counts(params=params, macs=macs)


def _check_input_size(model: nn.Module, input_size: Sequence[int]) -> tuple[int, int, int]:
    if (
        isinstance(input_size, (str, bytes))
        or not isinstance(input_size, Sequence)
        or len(input_size) != 3
        or not all(isinstance(d, Integral) and not isinstance(d, bool) and d >= 1
                   for d in input_size)
    ):
        raise ValueError(
            f"input_size is one input's shape (channels, height, width) as 3 positive ints, "
            f"e.g. (3, 32, 32); got {input_size!r}"
        )
    for name, module in model.named_modules():
        if isinstance(module, nn.modules.conv._ConvNd):
            if module.in_channels != input_size[0]:
                raise ValueError(
                    f"input_size {tuple(input_size)} has {input_size[0]} channels, but the "
                    f"model's first conv ({name}) takes {module.in_channels}"
                )
            break
    return int(input_size[0]), int(input_size[1]), int(input_size[2])


def _module_names(model: nn.Module) -> dict[nn.Module, str]:
    """The names FlopCounterMode's ModuleTracker gives modules: root class, then child names.

    Built the same way the tracker builds them (depth-first over named_children, a shared
    module keeping the last name it is reached by), so the keys of `get_flop_counts` match.
    """
    names = {model: type(model).__name__}

    def visit(module: nn.Module) -> None:
        for child_name, child in module.named_children():
            names[child] = f"{names[module]}.{child_name}"
            visit(child)

    visit(model)
    return names


def _conv_linear_macs(
    model: nn.Module, input_size: Sequence[int]
) -> tuple[int, dict[nn.Module, int]]:
    """Total conv+linear MACs, and the MACs of each conv/linear module that ran."""
    shape = _check_input_size(model, input_size)
    tensor = next(iter(model.parameters()), None)
    if tensor is None:
        tensor = next(iter(model.buffers()), torch.zeros(()))
    dtype = tensor.dtype if tensor.is_floating_point() else torch.get_default_dtype()
    x = torch.zeros((1, *shape), device=tensor.device, dtype=dtype)

    # eval(): BN must not update its running statistics, and BatchNorm1d refuses a batch
    # of one in training mode. Each module's own flag is restored, not just the root's.
    modes = {module: module.training for module in model.modules()}
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(x)
    except RuntimeError as err:
        raise ValueError(f"the model cannot run on one input of shape {shape}: {err}") from err
    finally:
        for module, training in modes.items():
            module.training = training

    flops = counter.get_flop_counts()

    def conv_linear(key: str) -> int:
        counts = flops.get(key, {})
        return sum(n for op, n in counts.items() if op in _CONV_AND_LINEAR) // 2

    per_module = {
        module: conv_linear(name)
        for module, name in _module_names(model).items()
        if isinstance(module, _WEIGHTED) and name in flops
    }
    return conv_linear("Global"), per_module
