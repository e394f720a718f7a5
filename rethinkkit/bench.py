"""Training throughput: the kit's loop against the bare step (the ceiling) and against a
baseline in the original code's style.

All three train the same model (same initial weights) with the same recipe (SGD 0.9, wd 1e-4,
batch 64) on the same CIFAR-shaped images, in one process:

- ceiling:  the bare model step -- forward, loss, backward and SGD step on one normalised batch
            already on the device, and nothing else (no data pipeline, augmentation or metrics):
            what any loop around this model could reach at most;
- kit:      `rethinkkit.train.train` -- data resident on the device as uint8, shuffling and
            pad-4 crop + flip + normalise as batched tensor ops there, one host sync per epoch;
- baseline: the original scripts' pipeline (pytorch-classification): a torchvision-style
            Dataset returning PIL images, torchvision transforms, a DataLoader with
            num_workers=1, `.to(device)` per batch and a host sync per step (`loss.item()`).

kit / ceiling is what the loop costs over the bare step; kit / baseline what it gains over the
original. Variants add rows for the kit (and its ceiling) with the recipe-neutral speed options
of `train()` (channels_last memory format, torch.compile); the baseline is the original's loop,
without them, in every row.

Images are random uint8 (content does not change speed). Each side runs one warm-up pass (for
torch.compile, the pass that compiles) and then one timed pass over the same number of images;
seconds per epoch are for the 50,000 training images of CIFAR at the measured rate.
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
from .train import faster_forward, train

CIFAR_TRAIN_IMAGES = 50_000
MEAN, STD = data_mod.CIFAR_MEAN, data_mod.CIFAR_STD

# Rows of the kit per model: the speed options of `train()` each variant turns on.
VARIANTS = {
    "plain": {},
    "channels_last": {"channels_last": True},
    "compile": {"compile": True},
    "channels_last+compile": {"channels_last": True, "compile": True},
}


def _images(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, size=n)


def _data(images, labels, device):
    """The images as the kit holds a dataset: uint8 on the device (64 of them as the test split)."""
    x = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
    y = torch.from_numpy(labels).long()
    return data_mod.from_tensors("bench", x, y, x[:64], y[:64], num_classes=10, mean=MEAN, std=STD, device=device)


def _sync(device: torch.device) -> None:
    """Wait for the device's queued work, so a clock read after it has really finished."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def ceiling_rate(model, images, labels, device, recipe: Recipe, *, channels_last: bool = False,
                 compile: bool = False) -> float:
    """Images per second of the bare step on one batch already on the device (module doc): as
    many warm-up steps as there are timed ones, then the timed steps, with `train()`'s own
    optimizer and forward (`faster_forward`), so the options act here exactly as there."""
    batch = min(recipe.batch_size, len(labels))
    steps = len(labels) // batch
    x, y = next(_data(images, labels, device).train_batches(batch, seed=0, epoch=0, augment=False))
    model.to(device).train()
    if channels_last:
        model.to(memory_format=torch.channels_last)
    forward = faster_forward(model, channels_last=channels_last, compile=compile)
    optimizer = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                                weight_decay=recipe.weight_decay, nesterov=recipe.nesterov)
    seconds = 0.0
    for _ in range(2):  # warm-up pass, then the timed pass
        _sync(device)
        began = time.perf_counter()
        for _ in range(steps):
            loss = F.cross_entropy(forward(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        _sync(device)
        seconds = time.perf_counter() - began
    return steps * batch / seconds


def kit_rate(model, images, labels, device, recipe: Recipe, *, channels_last: bool = False,
             compile: bool = False) -> float:
    """Images per second of `train` over the timed (second) epoch; evaluation on 64 images."""
    result = train(model, _data(images, labels, device), Recipe(epochs=2, batch_size=recipe.batch_size, milestones=()), progress=False,
                   channels_last=channels_last, compile=compile)
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


def variants_asked(*, channels_last: bool = False, compile: bool = False) -> tuple[str, ...]:
    """The rows `rethinkkit bench --channels-last --compile` asks for: plain, each option asked,
    and both together when both are."""
    chosen = ["plain"] + (["channels_last"] if channels_last else []) + (["compile"] if compile else [])
    if channels_last and compile:
        chosen.append("channels_last+compile")
    return tuple(chosen)


def check_variants(variants) -> tuple[str, ...]:
    """The variant names, checked: each one of VARIANTS."""
    variants = tuple(variants)
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown or not variants:
        raise ValueError(f"unknown bench variant(s) {unknown or variants}: choose from {', '.join(VARIANTS)}")
    return variants


def run(model_names=("resnet20", "resnet56", "vgg16"), steps: int = 20, device=None,
        recipe: Recipe = Recipe(), variants=("plain",)) -> pd.DataFrame:
    """One row per model and variant (VARIANTS: the kit's speed options): img/s of the bare
    step (ceiling), the kit and the original-style baseline, the kit's ratios to both, and the
    kit's s/epoch. The baseline is measured once per model and shared by its rows."""
    variants = check_variants(variants)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer (timed steps of batch {recipe.batch_size}), got {steps!r}")
    device = data_mod.resolve_device(device)
    images, labels = _images(steps * recipe.batch_size)
    rows = []
    for name in model_names:
        torch.manual_seed(0)
        start = models.build(name).state_dict()

        def fresh():
            model = models.build(name)
            model.load_state_dict(start)
            return model

        baseline = baseline_rate(fresh(), images, labels, device, recipe)
        for variant in variants:
            options = VARIANTS[variant]
            ceiling = ceiling_rate(fresh(), images, labels, device, recipe, **options)
            kit = kit_rate(fresh(), images, labels, device, recipe, **options)
            rows.append({
                "model": name,
                "variant": variant,
                "ceiling img/s": ceiling,
                "kit img/s": kit,
                "baseline img/s": baseline,
                "kit/ceiling": kit / ceiling,
                "kit/baseline": kit / baseline,
                "kit s/epoch": CIFAR_TRAIN_IMAGES / kit,
            })
    return pd.DataFrame(rows)


def markdown(table: pd.DataFrame, device: torch.device, steps: int, batch_size: int = Recipe().batch_size) -> str:
    """`run`'s table as markdown, headed by the hardware and what was timed."""
    lines = [
        f"Hardware: {hardware(device)}; device `{device}`; {steps} timed steps of batch {batch_size} per side "
        f"after one warm-up pass; ceiling = the bare step (forward, backward, SGD step) on one batch already on "
        f"the device; s/epoch = {CIFAR_TRAIN_IMAGES:,} CIFAR training images at the kit's measured rate.",
        "",
        "| model | ceiling img/s | kit img/s | baseline img/s | kit/ceiling | kit/baseline | kit s/epoch | kit options |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in table.to_dict("records"):
        lines.append(
            f"| {r['model']} | {r['ceiling img/s']:.0f} | {r['kit img/s']:.0f} | {r['baseline img/s']:.0f} "
            f"| {r['kit/ceiling']:.2f} | {r['kit/baseline']:.2f}x | {r['kit s/epoch']:.1f} | {r['variant']} |"
        )
    return "\n".join(lines)


# --- seeds trained together (rethinkkit.together) ---------------------------------------------


def together_rates(model_names=("resnet20",), ks=(1, 2, 4, 8), steps: int = 20, device=None,
                   recipe: Recipe = Recipe()) -> pd.DataFrame:
    """One row per model and K: per-seed img/s of K seeds trained together (`train_together`, the
    kit's loop around a stacked model) against one seed alone (`train`, the kit's loop), each over
    the timed (second) epoch of the same images, and the total img/s of the K seeds."""
    from .together import train_together

    device = data_mod.resolve_device(device)
    images, labels = _images(steps * recipe.batch_size)
    data = _data(images, labels, device)
    timed = Recipe(epochs=2, batch_size=recipe.batch_size, milestones=())
    rows = []
    for name in model_names:
        torch.manual_seed(0)
        alone = kit_rate(models.build(name), images, labels, device, recipe)
        for k in ks:
            stack = []
            for seed in range(k):
                torch.manual_seed(seed)
                stack.append(models.build(name))
            results = train_together(stack, data, timed, seeds=list(range(k)), progress=False)
            per_seed = len(labels) / results[0].history[-1]["seconds"]
            rows.append({"model": name, "seeds together": k, "alone img/s": alone, "per-seed img/s": per_seed,
                         "total img/s": per_seed * k, "per-seed vs alone": per_seed / alone})
    return pd.DataFrame(rows)


def together_markdown(table: pd.DataFrame, device: torch.device, steps: int,
                      batch_size: int = Recipe().batch_size) -> str:
    """`together_rates`' table as markdown, headed by the hardware and what was timed."""
    lines = [
        f"Hardware: {hardware(device)}; device `{device}`; {steps} timed steps of batch {batch_size} per seed after "
        "one warm-up epoch; alone = the kit's loop training one seed; together = K seeds as one stacked model "
        "(`rk.together`), per-seed img/s = images of one seed per second.",
        "",
        "| model | seeds together | alone img/s | per-seed img/s | total img/s | per-seed vs alone |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in table.to_dict("records"):
        lines.append(f"| {r['model']} | {r['seeds together']} | {r['alone img/s']:.0f} | {r['per-seed img/s']:.0f} "
                     f"| {r['total img/s']:.0f} | {r['per-seed vs alone']:.2f}x |")
    return "\n".join(lines)
