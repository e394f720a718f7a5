"""Surgery: copy the kept channels of a large model into its small twin.

Shared by every structured method: a criterion decides which channels of each prunable
layer survive (`kept`: cfg position -> sorted channel indices); surgery builds the small
model from the pruned architecture and copies, for every parameter and buffer, the slice
of the large tensor that the kept channels select. Which tensors a layer's channels reach
is the model family's `prunable_layers()` (the one description of what is prunable):

- a width: the conv's output channels (weight dim 0 and bias), its BatchNorm, and the
  next layer's input channels go; a Linear that reads a flattened C x H x W map loses each
  channel's H x W block of inputs;
- a selection: the ChannelSelection keeps fewer of its BatchNorm's channels (an
  architecture option, `select`), and the conv after it reads fewer inputs; the BN, which
  normalises the residual stream or the concatenated features, keeps its width.

`zero_pruned` is the masked twin: the large model with every pruned channel's gate BN
scale and shift set to zero (and, for a width, its conv filter too). A zeroed BN channel
outputs exactly zero, so the masked model and the small model compute the same function
(tested). The original code's lottery masks left BN active (REFERENCE.md bug 2); this
does not.
"""
from __future__ import annotations

import copy
from itertools import chain
from typing import Mapping, Sequence

import torch
from torch import nn

from .. import models
from ..models import ChannelSelection, PrunableLayer

Kept = Mapping[int, Sequence[int]]  # cfg position -> kept channels (ascending)


def _layers(large: nn.Module, kept: Kept) -> dict[int, PrunableLayer]:
    layers = {layer.position: layer for layer in large.prunable_layers()}
    unknown = sorted(set(kept) - set(layers))
    if unknown:
        raise ValueError(f"kept names cfg positions {unknown} that are not prunable; prunable: {sorted(layers)}")
    return layers


def _channels(large: nn.Module, layer: PrunableLayer, channels: Sequence[int]) -> torch.Tensor:
    """`channels` as an index tensor, checked against the layer's full width."""
    index = torch.as_tensor(list(channels), dtype=torch.int64)
    width = large.get_submodule(layer.gate).num_features
    if index.numel() == 0 or int(index.min()) < 0 or int(index.max()) >= width:
        raise ValueError(f"kept[{layer.position}] must list between 1 and {width} channels in [0, {width}), "
                         f"got {index.tolist()}")
    if index.numel() > 1 and not bool((index[1:] > index[:-1]).all()):
        raise ValueError(f"kept[{layer.position}] must be ascending without repeats, got {index.tolist()}")
    return index


def _reader_index(large: nn.Module, layer: PrunableLayer, index: torch.Tensor) -> torch.Tensor:
    """The reader's input positions for the kept channels: through the large model's current
    selection for a selection layer (the kept channels must be among those it keeps)."""
    if layer.select is None:
        return index
    current = {int(c): i for i, c in enumerate(large.get_submodule(layer.select).index.tolist())}
    dropped = [c for c in index.tolist() if c not in current]
    if dropped:
        raise ValueError(f"kept[{layer.position}] keeps channels {dropped} that the large model's selection "
                         f"{layer.select} already dropped; a pruner can only keep a subset of them")
    return torch.tensor([current[c] for c in index.tolist()], dtype=torch.int64)


def _indices(large: nn.Module, kept: Kept) -> dict[str, dict[int, torch.Tensor]]:
    """module name -> {dim: kept indices} for every tensor the pruning touches."""
    layers = _layers(large, kept)
    index: dict[str, dict[int, torch.Tensor]] = {}
    for position, channels in kept.items():
        layer = layers[position]
        channels = _channels(large, layer, channels)
        if layer.conv is not None:
            index.setdefault(layer.conv, {})[0] = channels
        for name, dim in layer.dependents:
            if dim == 0:
                index.setdefault(name, {})[0] = channels
                continue
            reader = _reader_index(large, layer, channels)
            full = large.get_submodule(name).weight.shape[dim]
            width = (large.get_submodule(layer.select).num_selected if layer.select
                     else large.get_submodule(layer.gate).num_features)
            block = full // width  # a Linear reading a flattened C x H x W map: H*W inputs per channel
            if block > 1:
                reader = (reader[:, None] * block + torch.arange(block)).flatten()
            index.setdefault(name, {})[dim] = reader
    return index


def pruned_arch(large: nn.Module, kept: Kept) -> dict:
    """The child architecture (`model.arch` form): the large model's with each pruned
    position's count set to its kept count and each pruned selection's kept channels."""
    layers = _layers(large, kept)
    arch = copy.deepcopy(large.arch)
    for position, channels in kept.items():
        arch["cfg"][position] = len(channels)
    selects = [name for name, m in large.named_modules() if isinstance(m, ChannelSelection)]
    chosen = {layers[p].select: sorted(int(c) for c in kept[p]) for p in kept if layers[p].select is not None}
    if chosen:
        arch["options"]["select"] = [
            chosen.get(name, large.get_submodule(name).index.tolist()) for name in selects
        ]
    return arch


def pruned_cfg(large: nn.Module, kept: Kept) -> list:
    """The large model's cfg with each pruned position's width set to its kept count."""
    return pruned_arch(large, kept)["cfg"]


def extract(large: nn.Module, kept: Kept) -> nn.Module:
    """The small model (built from the pruned architecture) holding the large model's kept weights.

    Same device, dtype and train/eval mode as `large`; `large` is not changed.
    """
    index = _indices(large, kept)
    small = models.from_arch(pruned_arch(large, kept))
    reference = next(large.parameters())
    small.to(device=reference.device, dtype=reference.dtype)
    sources = dict(large.named_modules())
    with torch.no_grad():
        for name, module in small.named_modules():
            if isinstance(module, ChannelSelection):
                continue  # which channels it keeps is architecture (pruned_arch), not a weight
            source = sources[name]
            for attr, target in chain(module.named_parameters(recurse=False), module.named_buffers(recurse=False)):
                value = getattr(source, attr)
                for dim, channels in index.get(name, {}).items():
                    if value.dim() > dim:  # a bias of a reading layer has no input dim
                        value = value.index_select(dim, channels.to(value.device))
                if value.shape != target.shape:
                    raise ValueError(
                        f"surgery cannot fill {name}.{attr}: the large model gives {tuple(value.shape)}, "
                        f"the small model needs {tuple(target.shape)}; the family's prunable_layers() "
                        "misses a layer that reads the pruned channels"
                    )
                target.copy_(value)
    small.train(large.training)
    return small


def zero_pruned(large: nn.Module, kept: Kept) -> nn.Module:
    """A copy of `large` whose pruned channels have their gate BN scale and shift zeroed,
    and, for a width, their conv filter (and bias)."""
    masked = copy.deepcopy(large)
    layers = _layers(masked, kept)
    with torch.no_grad():
        for position, channels in kept.items():
            layer = layers[position]
            keep = _channels(masked, layer, channels)
            for name in filter(None, (layer.conv, layer.gate)):
                module = masked.get_submodule(name)
                for param in (module.weight, getattr(module, "bias", None)):
                    if param is None:
                        continue
                    drop = torch.ones(param.shape[0], dtype=torch.bool)
                    drop[keep] = False
                    param[drop.to(param.device)] = 0
    return masked
