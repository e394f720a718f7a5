"""Training throughput: the kit's loop against a baseline in the original code's style.

Both train the same model (same initial weights) with the same recipe (SGD 0.9, wd 1e-4,
batch 64, pad-4 crop + flip + normalise) on the same CIFAR-shaped images, in one process:

- kit:      `rethinkkit.train.train` — data resident on the device as uint8, shuffling and
            augmentation as batched tensor ops there, one host sync per epoch;
- baseline: the original scripts' pipeline (pytorch-classification): a torchvision-style
            Dataset returning PIL images, torchvision transforms, a DataLoader with
            num_workers=1, `.to(device)` per batch and a host sync per step (`loss.item()`).

Images are random uint8 (content does not change speed). Each side runs one warm-up pass
and then one timed pass over the same number of images; seconds per epoch are for the
50,000 training images of CIFAR at the measured rate.
"""
from __future__ import annotations

import time

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from . import data as data_mod
from . import models
from .config import Recipe
from .provenance import hardware  # noqa: F401 -- bench tables name the hardware
from .train import train

CIFAR_TRAIN_IMAGES = 50_000
MEAN, STD = data_mod.CIFAR_MEAN, data_mod.CIFAR_STD


def _images(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, size=n)


def kit_rate(model, images, labels, device, recipe: Recipe) -> float:
    """Images per second of `train` over the timed (second) epoch; evaluation on 64 images."""
    x = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
    y = torch.from_numpy(labels).long()
    data = data_mod.from_tensors("bench", x, y, x[:64], y[:64], num_classes=10, mean=MEAN, std=STD, device=device)
    result = train(model, data, Recipe(epochs=2, batch_size=recipe.batch_size, milestones=()), progress=False)
    return len(labels) / result.history[-1]["seconds"]


class _PILDataset(torch.utils.data.Dataset):
    """Like torchvision's CIFAR10: HWC uint8 arrays, a PIL image per item, then transforms."""

    def __init__(self, images, labels, transform):
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        from PIL import Image

        return self.transform(Image.fromarray(self.images[i])), int(self.labels[i])


def baseline_rate(model, images, labels, device, recipe: Recipe) -> float:
    """Images per second of the original-style loop over the timed (second) pass."""
    from torchvision import transforms

    transform = transforms.Compose([
        transforms.RandomCrop(32, padding=4),
        transforms.RandomHorizontalFlip(),
        transforms.ToTensor(),
        transforms.Normalize(MEAN, STD),
    ])
    loader = torch.utils.data.DataLoader(
        _PILDataset(images, labels, transform), batch_size=recipe.batch_size, shuffle=True, num_workers=1,
        pin_memory=device.type == "cuda",
    )
    model.to(device).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                                weight_decay=recipe.weight_decay)
    seconds = 0.0
    for _ in range(2):  # warm-up pass, then the timed pass
        began = time.perf_counter()
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            out = model(x)
            loss = F.cross_entropy(out, y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss.item()  # the original's per-step meters read the loss and accuracy on the host
            (out.argmax(1) == y).float().mean().item()
        seconds = time.perf_counter() - began
    return len(labels) / seconds


def run(model_names=("resnet20", "resnet56", "vgg16"), steps: int = 20, device=None,
        recipe: Recipe = Recipe()) -> pd.DataFrame:
    """One row per model: img/s and s/epoch for the kit and the baseline, and their ratio."""
    device = data_mod.resolve_device(device)
    images, labels = _images(steps * recipe.batch_size)
    rows = []
    for name in model_names:
        torch.manual_seed(0)
        start = models.build(name).state_dict()
        rates = {}
        for side, measure in (("baseline", baseline_rate), ("kit", kit_rate)):
            model = models.build(name)
            model.load_state_dict(start)
            rates[side] = measure(model, images, labels, device, recipe)
        rows.append({
            "model": name,
            "baseline img/s": rates["baseline"],
            "kit img/s": rates["kit"],
            "baseline s/epoch": CIFAR_TRAIN_IMAGES / rates["baseline"],
            "kit s/epoch": CIFAR_TRAIN_IMAGES / rates["kit"],
            "speed-up": rates["kit"] / rates["baseline"],
        })
    return pd.DataFrame(rows)


def markdown(table: pd.DataFrame, device: torch.device, steps: int, batch_size: int = Recipe().batch_size) -> str:
    lines = [
        f"Hardware: {hardware(device)}; device `{device}`; {steps} timed steps of batch {batch_size} per side "
        f"after one warm-up pass; s/epoch = {CIFAR_TRAIN_IMAGES:,} CIFAR training images at the measured rate.",
        "",
        "| model | baseline img/s | kit img/s | baseline s/epoch | kit s/epoch | speed-up |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in table.itertuples(index=False):
        lines.append(f"| {r[0]} | {r[1]:.0f} | {r[2]:.0f} | {r[3]:.1f} | {r[4]:.1f} | {r[5]:.2f}x |")
    return "\n".join(lines)
