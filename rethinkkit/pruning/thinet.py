"""ThiNet (Luo et al., "ThiNet: A Filter Level Pruning Method for Deep Neural Network
Compression", ICCV 2017): prune a layer's channels by what the *next* layer loses.

Each sample is one position of a training image and one output channel o of the reader (drawn
at random per sample, as ThiNet). The reader's output there is the sum of the channels'
contributions, y = sum_c z_c. ThiNet removes the set T of channels whose contributions sum
closest to zero, min ||sum_{c in T} z_c||^2, built greedily: one channel at a time, the one
that keeps the running sum smallest (Luo et al., Algorithm 1). Then each kept channel's
weights in the reader are scaled by w, the least-squares fit of the unpruned output from the
kept contributions (ThiNet's Eq. 6).

The target is predefined (`ThiNetSpec` is a `Widths`: ratio, per-stage ratios or a cfg such as
VGG-Conv's). Layers go one at a time from the stem (`reconstruct.layerwise`); ThiNet fine-tunes
an epoch after each layer, this pruner once at the end (the pipeline's fine-tune strategy).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .base import Pruned
from .reconstruct import Reconstruction, Sample, layerwise, least_squares

LUO_2017 = "Luo et al., ThiNet: A Filter Level Pruning Method for Deep Neural Network Compression, ICCV 2017"


@dataclass(frozen=True)
class ThiNetSpec(Reconstruction):
    """ThiNet's target (a `Widths`) and its samples: `images` x `locations` positions per layer,
    each with one random output channel of the reader."""


def outputs(sample: Sample, gen: torch.Generator) -> torch.Tensor:
    """One random reader output channel per sample (ThiNet's sampling)."""
    return torch.randint(sample.weight.shape[0], (len(sample.x),), generator=gen)


def greedy_removal(z: torch.Tensor, keep: int) -> list[int]:
    """Luo et al.'s Algorithm 1 on contributions z (S, C): remove, one at a time, the channel
    that keeps ||sum of the removed contributions||^2 smallest, until `keep` remain; the kept
    channels, ascending. Ties go to the lower channel."""
    channels = z.shape[1]
    if not 1 <= keep <= channels:
        raise ValueError(f"keep must be between 1 and {channels}, got {keep}")
    removed = torch.zeros(channels, dtype=torch.bool)
    running = torch.zeros(z.shape[0], dtype=z.dtype)
    norms = (z * z).sum(0)
    for _ in range(channels - keep):
        cost = norms + 2 * (running @ z)  # ||running + z_c||^2 - ||running||^2
        cost[removed] = float("inf")
        chosen = int(torch.argmin(cost))
        removed[chosen] = True
        running += z[:, chosen]
    return torch.nonzero(~removed).flatten().tolist()


def scales(sample: Sample, kept: list[int], picked: torch.Tensor) -> torch.Tensor:
    """ThiNet's Eq. 6: w = argmin ||y - Z_kept w||^2, y the unpruned reader's output at each
    sample's output channel `picked`."""
    z = sample.contributions(picked)[:, kept]
    y = sample.target[torch.arange(len(picked)), picked]
    return least_squares(z, y[:, None])[:, 0]


def reduce(sample: Sample, keep: int, gen: torch.Generator) -> tuple[list[int], torch.Tensor]:
    """One layer: the kept channels (greedy) and the reader's weight with each kept channel scaled."""
    picked = outputs(sample, gen)
    kept = greedy_removal(sample.contributions(picked), keep)
    return kept, sample.weight[:, kept] * scales(sample, kept, picked)[None, :, None]


def prune(model: nn.Module, spec: ThiNetSpec, data=None) -> Pruned:
    """ThiNet to `spec`'s predefined target, layer by layer, on `data`'s training images."""
    if not isinstance(spec, ThiNetSpec):
        raise TypeError(f"ThiNet takes a ThiNetSpec, got {type(spec).__name__}")
    return layerwise(model, spec, data, "thinet", reduce, unknowns=lambda kept, k: len(kept))
