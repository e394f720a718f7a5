"""On-device augmentation and normalisation: pure functions on uint8 batches, and the
generator that makes an epoch's draws depend only on (seed, epoch).

The augmentation follows the original code (REFERENCE.md, "Augmentation (CIFAR)"): pad with
black, random crop, horizontal flip, and only then normalise.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor


def augment(images: Tensor, generator: torch.Generator, pad: int = 4, flip: bool = True) -> Tensor:
    """Zero-pad ``pad`` black pixels, random-crop back to HxW, flip horizontally with p=0.5.

    ``images`` is a uint8 (B, C, H, W) batch; the result has the same dtype, shape and device.
    Each image gets its own crop offsets (uniform in ``0 .. 2*pad`` per axis) and flip, drawn
    from ``generator`` (which must live on the images' device) in the order rows, columns,
    flips. Everything is one gather on the device: no per-image loop, no host sync.
    """
    if images.dim() != 4:
        raise ValueError(f"augment expects a (B, C, H, W) batch, got shape {tuple(images.shape)}")
    if pad < 0:
        raise ValueError(f"pad must be >= 0, got {pad}")
    b, c, h, w = images.shape
    dev = images.device
    padded = F.pad(images, (pad, pad, pad, pad)) if pad else images
    top = torch.randint(0, 2 * pad + 1, (b, 1), generator=generator, device=dev)
    left = torch.randint(0, 2 * pad + 1, (b, 1), generator=generator, device=dev)
    rows = top + torch.arange(h, device=dev)  # (B, H) rows of the padded image
    cols = left + torch.arange(w, device=dev)  # (B, W) columns of the padded image
    if flip:
        flipped = torch.rand((b, 1), generator=generator, device=dev) < 0.5
        cols = torch.where(flipped, cols.flip(1), cols)
    batch = torch.arange(b, device=dev).view(b, 1, 1, 1)
    channel = torch.arange(c, device=dev).view(1, c, 1, 1)
    return padded[batch, channel, rows.view(b, 1, h, 1), cols.view(b, 1, 1, w)]


def normalize(images: Tensor, mean: Sequence[float] | Tensor, std: Sequence[float] | Tensor) -> Tensor:
    """``(x / 255 - mean) / std`` per channel, as float32 (uint8 (B, C, H, W) in)."""
    if images.dim() < 3:
        raise ValueError(f"normalize expects (..., C, H, W) images, got shape {tuple(images.shape)}")
    mean_t = torch.as_tensor(mean, dtype=torch.float32, device=images.device).view(-1, 1, 1)
    std_t = torch.as_tensor(std, dtype=torch.float32, device=images.device).view(-1, 1, 1)
    return (images.to(torch.float32) / 255.0 - mean_t) / std_t


def _epoch_generator(device: torch.device, seed: int, epoch: int) -> torch.Generator:
    """A generator that depends only on (seed, epoch): epoch k is the same whether or not
    epochs 0..k-1 ran in this process, so a resumed run sees the same batches."""
    gen = torch.Generator(device=device)
    gen.manual_seed((seed * 1_000_003 + epoch) % (1 << 63))
    return gen
