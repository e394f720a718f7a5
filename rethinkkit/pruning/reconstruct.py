"""Pruning that reconstructs the next layer: the machinery ThiNet and regression pruning share.

Both methods prune to a predefined target (`Widths`: a ratio, per-stage ratios or a cfg) one
prunable width at a time, from the stem on. The layer that reads a width's channels (its
dependent at dim 1: the next conv, or the classifier's Linear) is its *reader*. At sampled
positions of training images (`Sample`):

    x[s, c, k]   the reader's input at sample s: channel c, kernel offset k (a Linear reading a
                 flattened C x H x W map: k runs over the channel's H x W block)
    W[o, c, k]   the reader's weight
    z[s, c, o] = sum_k W[o, c, k] x[s, c, k]   channel c's contribution to output o
    y[s, o]    = sum_c z[s, c, o]              the reader's output, bias excluded

A method chooses the channels to keep from the contributions, then refits the reader's weights
on the kept inputs (`layerwise`). Every layer is chosen on the *partly pruned* network (the
layers before it already pruned and refitted), and refitted to reproduce the *unpruned* network's
reader output at the same samples, so errors do not accumulate (He et al. 2017, Sec. 3.3).

The methods' papers fine-tune between layers (ThiNet: one epoch after each); a pruner here is
pure (no training), so the pruned network is refitted layer by layer and fine-tuned once at the
end, by the pipeline's fine-tune strategy.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from . import surgery
from .base import Pruned
from .l1_norm import Widths, target_cfg


@dataclass(frozen=True)
class Reconstruction(Widths):
    """A predefined target (`Widths`) and the training samples the reconstruction reads."""

    images: int = 256  # training images sampled (un-augmented, the seed's shuffle of the training set)
    locations: int = 10  # positions sampled per image and layer (a Linear reader: the image itself)
    seed: int = 0  # draws the images and positions

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("images", "locations"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{type(self).__name__}.{name} must be a positive integer, got {value!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError(f"{type(self).__name__}.seed must be an integer, got {self.seed!r}")


@dataclass(frozen=True)
class Sample:
    """One layer's reader at the sampled positions (float64, on the CPU)."""

    x: torch.Tensor  # (S, C, K) the reader's input
    weight: torch.Tensor  # (O, C, K) the reader's weight
    target: torch.Tensor  # (S, O) the *unpruned* network's reader output at the same positions, bias excluded

    def contributions(self, outputs: torch.Tensor | None = None) -> torch.Tensor:
        """z: (S, C, O), or (S, C) for one output per sample when `outputs` (S,) names it."""
        if outputs is None:
            return torch.einsum("sck,ock->sco", self.x, self.weight)
        return torch.einsum("sck,sck->sc", self.x, self.weight[outputs])

    def error(self, kept: list[int], weight: torch.Tensor | None = None) -> float:
        """The squared reconstruction error of the target from the kept channels only, with
        the kept weights (default: the reader's own), summed over samples and outputs."""
        w = self.weight[:, kept] if weight is None else weight
        return float(((torch.einsum("sck,ock->so", self.x[:, kept], w) - self.target) ** 2).sum())


class _Stop(Exception):
    """Raised by the capture hook: nothing after the reader needs computing."""


def _reader(model: nn.Module, layer) -> str:
    readers = [name for name, dim in layer.dependents if dim == 1]
    if len(readers) != 1:
        raise ValueError(f"{model.name}'s layer {layer.conv} (cfg[{layer.position}]) is read by {readers or 'no layer'}; "
                         "reconstruction pruning needs exactly one reading layer")
    module = model.get_submodule(readers[0])
    if isinstance(module, nn.Conv2d) and module.groups != 1:
        raise ValueError(f"{readers[0]} is a grouped conv: reconstruction pruning needs a plain conv or a Linear reader")
    if not isinstance(module, (nn.Conv2d, nn.Linear)):
        raise ValueError(f"{readers[0]} is a {type(module).__name__}: reconstruction pruning reads a Conv2d or a Linear")
    return readers[0]


def _inputs(model: nn.Module, reader: str, images: torch.Tensor, batch_size: int = 128) -> torch.Tensor:
    """The reader's input on `images`, forward stopped at the reader."""
    captured = []

    def capture(module, args):
        captured.append(args[0].detach())
        raise _Stop

    handle = model.get_submodule(reader).register_forward_pre_hook(capture)
    try:
        with torch.no_grad():
            for start in range(0, len(images), batch_size):
                try:
                    model(images[start:start + batch_size])
                except _Stop:
                    pass
    finally:
        handle.remove()
    return torch.cat(captured)


def _patches(module: nn.Module, inputs: torch.Tensor, channels: int, positions: torch.Tensor | None) -> torch.Tensor:
    """(S, C, K) patches of the reader's input; `positions` (N, locations) picks per image."""
    if isinstance(module, nn.Linear):
        return inputs.reshape(len(inputs), channels, -1)
    cols = F.unfold(inputs, module.kernel_size, dilation=module.dilation, padding=module.padding, stride=module.stride)
    cols = cols.reshape(len(inputs), channels, -1, cols.shape[-1])  # (N, C, K, L)
    picked = torch.gather(cols, 3, positions.to(cols.device)[:, None, None, :].expand(-1, channels, cols.shape[2], -1))
    return picked.permute(0, 3, 1, 2).reshape(-1, channels, cols.shape[2])


def _weight(module: nn.Module, channels: int) -> torch.Tensor:
    return module.weight.detach().reshape(module.weight.shape[0], channels, -1)


def sample(current: nn.Module, original: nn.Module, layer, images: torch.Tensor, spec: Reconstruction) -> Sample:
    """The reader of `layer` on `current`, with the target from `original`, at positions drawn
    from `spec.seed` and the layer (the same positions in both networks)."""
    reader = _reader(current, layer)
    module, unpruned = current.get_submodule(reader), original.get_submodule(reader)
    channels = current.get_submodule(layer.gate).num_features
    ins = _inputs(current, reader, images)
    if isinstance(module, nn.Conv2d):
        side = F.unfold(ins[:1], module.kernel_size, dilation=module.dilation, padding=module.padding,
                        stride=module.stride).shape[-1]
        gen = torch.Generator().manual_seed(spec.seed * 1_000_003 + layer.position)
        positions = torch.stack([torch.randperm(side, generator=gen)[:spec.locations] for _ in range(len(ins))])
    else:
        positions = None
    x = _patches(module, ins, channels, positions).double().cpu()
    # the layer is not pruned yet, so both networks' readers see its full width
    x0 = _patches(unpruned, _inputs(original, reader, images), channels, positions).double().cpu()
    target = torch.einsum("sck,ock->so", x0, _weight(unpruned, channels).double().cpu())
    return Sample(x=x, weight=_weight(module, channels).double().cpu(), target=target)


def least_squares(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """argmin_w ||a w - b||^2 (the minimum-norm one where a is rank-deficient), float64 on the CPU."""
    return torch.linalg.lstsq(a.double().cpu(), b.double().cpu(), driver="gelsd").solution


def training_images(data, spec: Reconstruction) -> torch.Tensor:
    """The first `spec.images` training images of the seed's shuffle, un-augmented."""
    if data is None:
        raise ValueError(f"{type(spec).__name__} reconstructs layers on training images: pass data= "
                         "(the pipeline passes its data; by hand: rk.pruning.prune(method, model, spec, data=rk.data.load(...)))")
    got, count = [], 0
    for images, _ in data.train_batches(min(spec.images, 256), seed=spec.seed, epoch=0, augment=False):
        got.append(images)
        count += len(images)
        if count >= spec.images:
            break
    return torch.cat(got)[:spec.images]


Reduce = Callable[[Sample, int, torch.Generator], tuple]  # (sample, keep, generator) -> (kept channels, reader weight (O, kept, K))


def layerwise(model: nn.Module, spec: Reconstruction, data, method: str, reduce: Reduce,
              unknowns: Callable[[list, int], int]) -> Pruned:
    """Prune `model` to `spec`'s target one width at a time: `reduce` chooses each layer's kept
    channels on the partly pruned network and refits its reader (module docstring).
    `unknowns(kept, K)` is how many weights per reader output the refit solves for (a note
    says where the samples are fewer)."""
    images = training_images(data, spec)
    cfg = target_cfg(model, spec)
    layers = sorted((layer for layer in model.prunable_layers()
                     if layer.kind == "width" and cfg[layer.position] < model.cfg[layer.position]),
                    key=lambda layer: layer.position)
    original = copy.deepcopy(model).eval()
    current = copy.deepcopy(model).eval()
    images = images.to(next(model.parameters()).device)
    kept, notes = {}, []
    for layer in layers:
        drawn = sample(current, original, layer, images, spec)
        keep = cfg[layer.position]
        gen = torch.Generator().manual_seed(spec.seed * 1_000_003 + layer.position)
        channels, weight = reduce(drawn, keep, gen)
        channels = [int(c) for c in channels]
        if channels != sorted(set(channels)) or len(channels) != keep:
            raise RuntimeError(f"{method} chose channels {channels} of {layer.conv}; it must keep {keep}, ascending")
        solved = unknowns(channels, drawn.x.shape[2])
        if len(drawn.x) < solved:
            notes.append(f"{layer.conv}: {len(drawn.x)} samples for {solved} unknowns per output; "
                         "the least-squares refit is underdetermined (sample more images)")
        reader = _reader(current, layer)
        current = surgery.extract(current, {layer.position: channels})
        module = current.get_submodule(reader)
        with torch.no_grad():
            module.weight.copy_(weight.reshape(module.weight.shape).to(module.weight))
        kept[layer.position] = channels
    current.train(model.training)
    return Pruned(arch=surgery.pruned_arch(model, kept), kept=kept, model=current, method=method, spec=spec,
                  notes=tuple(notes))
