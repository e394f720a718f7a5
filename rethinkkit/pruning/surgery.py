"""Surgery: copy the kept channels of a large model into its small twin.

Shared by every structured method: a criterion decides which output channels of each
prunable conv survive (`kept`: cfg position -> sorted channel indices); surgery builds
the small model from the pruned cfg and copies, for every parameter and buffer, the
slice of the large tensor that the kept channels select. Which tensors a conv's channels
reach (its BN, the next conv or Linear) is the model family's `prunable_layers()`.

`zero_pruned` is the masked twin: the large model with the pruned filters and their BN
scale and shift set to zero. With BN's shift zeroed the pruned channels output exactly
zero, so the masked model and the small model compute the same function (tested). The
original code's lottery masks left BN active (REFERENCE.md bug 2); this does not.
"""
from __future__ import annotations

import copy
from itertools import chain
from typing import Mapping, Sequence

import torch
from torch import nn

from .. import models

Kept = Mapping[int, Sequence[int]]  # cfg position -> kept output channels (ascending)


def _indices(large: nn.Module, kept: Kept) -> dict[str, dict[int, torch.Tensor]]:
    """module name -> {dim: kept channel indices} for every tensor the pruning touches."""
    layers = {layer.position: layer for layer in large.prunable_layers()}
    unknown = sorted(set(kept) - set(layers))
    if unknown:
        raise ValueError(f"kept names cfg positions {unknown} that are not prunable; prunable: {sorted(layers)}")
    index: dict[str, dict[int, torch.Tensor]] = {}
    for position, channels in kept.items():
        layer = layers[position]
        channels = torch.as_tensor(list(channels), dtype=torch.int64)
        width = large.get_submodule(layer.conv).out_channels
        if channels.numel() == 0 or int(channels.min()) < 0 or int(channels.max()) >= width:
            raise ValueError(f"kept[{position}] must list between 1 and {width} channels in [0, {width}), "
                             f"got {channels.tolist()}")
        if channels.numel() > 1 and not bool((channels[1:] > channels[:-1]).all()):
            raise ValueError(f"kept[{position}] must be ascending without repeats, got {channels.tolist()}")
        for name, dim in ((layer.conv, 0), *layer.dependents):
            index.setdefault(name, {})[dim] = channels
    return index


def pruned_cfg(large: nn.Module, kept: Kept) -> list:
    """The large model's cfg with each pruned position's width set to its kept count."""
    cfg = list(large.cfg)
    for position, channels in kept.items():
        cfg[position] = len(channels)
    return cfg


def extract(large: nn.Module, kept: Kept) -> nn.Module:
    """The small model (built from the pruned cfg) holding the large model's kept weights.

    Same device, dtype and train/eval mode as `large`; `large` is not changed.
    """
    index = _indices(large, kept)
    small = models.from_arch({**large.arch, "cfg": pruned_cfg(large, kept)})
    reference = next(large.parameters())
    small.to(device=reference.device, dtype=reference.dtype)
    sources = dict(large.named_modules())
    with torch.no_grad():
        for name, module in small.named_modules():
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
    """A copy of `large` whose pruned filters, and their BN scale and shift, are zero."""
    masked = copy.deepcopy(large)
    layers = {layer.position: layer for layer in masked.prunable_layers()}
    index = _indices(masked, kept)
    with torch.no_grad():
        for position in kept:
            layer = layers[position]
            for name, dim in ((layer.conv, 0), *(d for d in layer.dependents if d[1] == 0)):
                module = masked.get_submodule(name)
                keep = index[name][dim]
                for param in (module.weight, getattr(module, "bias", None)):
                    if param is None:
                        continue
                    drop = torch.ones(param.shape[0], dtype=torch.bool)
                    drop[keep] = False
                    param[drop.to(param.device)] = 0
    return masked
