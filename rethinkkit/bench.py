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

`pruned_speed` answers another question: how much faster is a pruned model, measured, where the
paper gives MACs only? It times inference and the training step of every predefined paper config
with a fixed architecture beside its unpruned model (`plot_pruned_speed`: speed-up against MAC
reduction; `rethinkkit bench --pruned`).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from . import data as data_mod
from . import flops, models, paper, pruning
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


# --- measured speed of pruned models ------------------------------------------------------------
#
# The paper compares pruned models by their MACs. MACs count only conv and linear multiply-adds for
# one image; time also pays for BatchNorm, ReLU, pooling, shortcuts and channel selection's gather,
# for moving activations through memory, and for kernels that use the hardware badly at thin widths
# or small batches. `pruned_speed` times each paper config with a fixed architecture beside its
# unpruned model, so the MAC reduction can be read against the measured speed-up.

INFERENCE, TRAIN_STEP, SKIPPED = "inference", "train step", "skipped"

# Methods whose widths are an output of pruning a *trained* model: there is no architecture to time
# before that training has run (their notebooks measure what they find). Every other registered
# method's architecture follows from its spec alone (`speed_architecture`).
LEARNED_ARCHITECTURE = {
    "network-slimming": "automatic: one global threshold over a trained model's BN scales sets every width",
    "sss": "automatic: the blocks removed are those whose factors training drives to zero",
    "magnitude": "weight-level: the unpruned layers with zeroed weights (masks from a trained model); dense "
                 "kernels compute the zeros, so there is no smaller architecture to time",
}


@dataclass(frozen=True)
class SpeedSettings:
    """What `pruned_speed` times, checked once."""

    batches: tuple = (1, 64)  # inference batch sizes
    train_batch: int = 64  # batch of the timed training step (the paper's CIFAR batch)
    repeats: int = 5  # timed repeats per measurement; the table gives their median
    warmup: int = 2  # untimed repeats before them (allocator, caches, cuDNN's algorithm choice)
    imagenet_max_batch: int | None = None  # caps every batch of 224x224 configs (a CPU: e.g. 8); None: no cap
    threads: int | None = None  # torch's CPU threads while timing (None: as set); on a busy CPU 1 is steadier

    def __post_init__(self) -> None:
        object.__setattr__(self, "batches", tuple(self.batches))
        counts = {"repeats": (self.repeats, 1), "warmup": (self.warmup, 0), "train_batch": (self.train_batch, 1),
                  **{f"batches[{i}]": (b, 1) for i, b in enumerate(self.batches)}}
        for name in ("imagenet_max_batch", "threads"):
            if getattr(self, name) is not None:
                counts[name] = (getattr(self, name), 1)
        for name, (value, least) in counts.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ValueError(f"{name} must be an integer >= {least}, got {value!r}")
        if not self.batches:
            raise ValueError("batches: give at least one inference batch size, e.g. (1, 64)")

    def batch(self, asked: int, image_size: int) -> int:
        """The batch measured for `asked` at inputs of side `image_size`: capped for ImageNet sizes."""
        if self.imagenet_max_batch is not None and image_size >= paper.IMAGE_SIZE["imagenet"]:
            return min(asked, self.imagenet_max_batch)
        return asked


def time_calls(step, device: torch.device, repeats: int, warmup: int, clock=time.perf_counter) -> list[float]:
    """Seconds of each of `repeats` calls of `step()`, after `warmup` calls that are not timed (the
    first calls pay for allocation and kernel choice). Each timed call waits for the device before
    and after, so a call's time is its own work."""
    seconds = []
    for i in range(warmup + repeats):
        _sync(device)
        began = clock()
        step()
        _sync(device)
        if i >= warmup:
            seconds.append(clock() - began)
    return seconds


def _inference_step(model, x):
    """One forward in eval mode without autograd (`torch.inference_mode`), as a deployed model runs."""
    model.eval()

    def step():
        with torch.inference_mode():
            model(x)
    return step


def _train_step(model, x, y, recipe: Recipe = Recipe()):
    """One training step as `ceiling_rate`: forward, cross-entropy, backward, SGD step (train mode)."""
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                                weight_decay=recipe.weight_decay, nesterov=recipe.nesterov)

    def step():
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return step


def measure(model, measurement: str, batch: int, input_shape: tuple, num_classes: int, device: torch.device,
            repeats: int, warmup: int) -> float:
    """Median seconds of one `measurement` (INFERENCE or TRAIN_STEP) of `model` on a batch of random
    normalised inputs already on `device` (content does not change the time)."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn((batch, *input_shape), generator=generator).to(device)
    if measurement == INFERENCE:
        step = _inference_step(model, x)
    elif measurement == TRAIN_STEP:
        y = torch.randint(0, num_classes, (batch,), generator=generator).to(device)
        step = _train_step(model, x, y)
    else:
        raise ValueError(f"unknown measurement {measurement!r}: {INFERENCE!r} or {TRAIN_STEP!r}")
    return float(np.median(time_calls(step, device, repeats, warmup)))


def speed_architecture(config: paper.PrunedConfig) -> tuple[dict | None, str]:
    """The architecture (`model.arch` form) to time for `config`, and how it was obtained; None and the
    reason when its method learns the architecture from a trained model (LEARNED_ARCHITECTURE).

    A config's fixed cfg is its architecture; a method that designs its target without a trained model
    (SSS's ResNet-41/32/26, Tables 2-3's fixed targets) or keeps a count per layer set by its spec (L1-norm
    per-stage ratios, SFP) gives the same widths for any weights, so it prunes a fresh model."""
    if config.method in LEARNED_ARCHITECTURE:
        return None, LEARNED_ARCHITECTURE[config.method]
    method = pruning.get(config.method)
    if config.cfg is not None and method.from_trained:
        model = models.build(config.model, num_classes=config.num_classes, cfg=list(config.cfg))
        return model.arch, "the config's cfg"
    torch.manual_seed(0)
    fresh = models.build(config.model, num_classes=config.num_classes)
    pruned = pruning.prune(config.method, fresh, config.spec, input_shape=config.input_shape)
    if not method.from_trained:
        return pruned.arch, f"{config.method}'s target, designed without a trained model"
    return pruned.arch, f"{config.method}'s per-layer counts on a fresh {config.model} (widths do not depend on weights)"


def _check_configs(names) -> list[paper.PrunedConfig]:
    """The configs by name (all predefined ones when None), each once, in the order asked."""
    if names is None:
        return list(paper.CONFIGS.values())
    if isinstance(names, str):
        names = [names]
    names = list(dict.fromkeys(names))
    if not names:
        raise ValueError("configs: name at least one paper config (rk.paper.CONFIGS), or None for all")
    return [paper.config(name) for name in names]


def _describe(config: paper.PrunedConfig) -> dict:
    side = config.image_size
    return {"config": config.name, "model": config.model, "dataset": config.dataset,
            "input size": f"{config.input_shape[0]}x{side}x{side}"}


def pruned_speed(configs=None, *, device=None, repeats: int = 5, warmup: int = 2, batches=(1, 64),
                 train_batch: int = 64, imagenet_max_batch: int | None = None,
                 threads: int | None = None) -> pd.DataFrame:
    """Measured time of each paper config's pruned model against its unpruned model.

    configs: paper config names (None: every predefined config). Per config with a fixed architecture
    (`speed_architecture`), both models are built at the config's input size (CIFAR 3x32x32, ImageNet
    3x224x224) and timed on `device`: inference (eval mode, `torch.inference_mode`) at each of `batches`,
    and the training step (forward, loss, backward, SGD step) at `train_batch`; each the median of
    `repeats` timed calls after `warmup` untimed ones. `imagenet_max_batch` caps every batch of 224x224
    configs (the `batch` column is what was measured, `batch asked` what was asked). `threads` sets
    torch's CPU threads while timing (restored after; the `threads` column says what was used).

    One row per config and measurement: median seconds of both ("base s", "pruned s"), "time ratio"
    (pruned / base) and "speed-up" (base / pruned), where the architecture came from, MACs and params of both (`rk.flops.count`, one
    image) and "MAC reduction" (base_macs / pruned_macs). A config whose architecture is learned from
    a trained model has one row, measurement "skipped", with the reason in "note". An unpruned model
    (and an architecture two configs share) is measured once, and its rows share that time.
    """
    settings = SpeedSettings(batches=batches, train_batch=train_batch, repeats=repeats, warmup=warmup,
                             imagenet_max_batch=imagenet_max_batch, threads=threads)
    chosen = _check_configs(configs)
    device = data_mod.resolve_device(device)
    previous = torch.get_num_threads()
    if settings.threads is not None:
        torch.set_num_threads(settings.threads)
    try:
        return _speed_frame(_speed_rows(chosen, device, settings))
    finally:
        torch.set_num_threads(previous)


def _speed_rows(chosen: list, device: torch.device, settings: SpeedSettings) -> list[dict]:
    """`pruned_speed`'s rows, measured with the threads already set."""
    timed: dict[tuple, float] = {}  # (architecture, input shape, measurement, batch) -> median seconds
    first_of: dict[str, str] = {}  # a pruned architecture -> the first config measured with it
    rows = []
    for config in chosen:
        arch, how = speed_architecture(config)
        if arch is None:
            rows.append({**_describe(config), "measurement": SKIPPED, "note": how})
            continue
        torch.manual_seed(0)
        base = models.build(config.model, num_classes=config.num_classes)
        pruned = models.from_arch(arch)
        base_counts, pruned_counts = flops.count(base, config.input_shape), flops.count(pruned, config.input_shape)
        key = json.dumps(arch, sort_keys=True)
        shared = first_of.setdefault(key, config.name)
        asked = [(INFERENCE, b) for b in settings.batches] + [(TRAIN_STEP, settings.train_batch)]
        for measurement, batch_asked in asked:
            batch = settings.batch(batch_asked, config.image_size)
            seconds = []
            for model in (base, pruned):
                at = (json.dumps(model.arch, sort_keys=True), config.input_shape, measurement, batch)
                if at not in timed:
                    timed[at] = measure(model.to(device), measurement, batch, config.input_shape,
                                        config.num_classes, device, settings.repeats, settings.warmup)
                seconds.append(timed[at])
            notes = ([f"batch capped at {batch} (imagenet_max_batch)"] if batch != batch_asked else []) + (
                [f"same architecture as {shared}: measured once"] if shared != config.name else [])
            rows.append({
                **_describe(config), "architecture": how, "measurement": measurement, "batch": batch,
                "batch asked": batch_asked, "repeats": settings.repeats, "warmup": settings.warmup, "threads": torch.get_num_threads(),
                "base s": seconds[0], "pruned s": seconds[1],
                "time ratio": seconds[1] / seconds[0], "speed-up": seconds[0] / seconds[1],
                "base_macs": base_counts.macs, "pruned_macs": pruned_counts.macs,
                "MAC reduction": base_counts.macs / pruned_counts.macs,
                "base_params": base_counts.params, "pruned_params": pruned_counts.params,
                "note": "; ".join(notes),
            })
        del base, pruned
    return rows


SPEED_COLUMNS = ("config", "model", "dataset", "input size", "architecture", "measurement", "batch", "batch asked",
                 "repeats", "warmup", "threads", "base s", "pruned s", "time ratio", "speed-up", "base_macs", "pruned_macs",
                 "MAC reduction", "base_params", "pruned_params", "note")
_COUNT_COLUMNS = ("batch", "batch asked", "repeats", "warmup", "threads", "base_macs", "pruned_macs", "base_params",
                  "pruned_params")


def _speed_frame(rows: list[dict]) -> pd.DataFrame:
    """The rows in SPEED_COLUMNS order; counts as nullable integers (a skipped row has none)."""
    table = pd.DataFrame(rows, columns=list(SPEED_COLUMNS))
    table[["architecture", "note"]] = table[["architecture", "note"]].fillna("")
    return table.astype({column: "Int64" for column in _COUNT_COLUMNS})


def _millions(value) -> str:
    return f"{value / 1e6:,.1f}M" if value < 1e9 else f"{value / 1e9:,.2f}G"


def _values(table: pd.DataFrame, column: str) -> str:
    """The distinct values of a column, for a heading (one value when the table is one run)."""
    return ", ".join(map(str, sorted(table[column].unique())))


def pruned_speed_markdown(table: pd.DataFrame, device: torch.device) -> str:
    """`pruned_speed`'s table as markdown, headed by the hardware and what was timed; the skipped
    configs listed after it with their reasons."""
    measured = table[table["measurement"] != SKIPPED]
    timing = ("no config was measured" if measured.empty else
              f"timed with {_values(measured, 'threads')} torch thread(s), median of {_values(measured, 'repeats')} "
              f"timed repeats after {_values(measured, 'warmup')} untimed warm-up ones")
    lines = [
        f"Hardware: {hardware(device)}; device `{device}`; {timing}; inference = one forward in eval mode under "
        "`torch.inference_mode()`; train step = forward, cross-entropy, backward and SGD step (momentum 0.9, "
        "weight decay 1e-4) in train mode; random inputs already on the device; speed-up = unpruned time / "
        "pruned time; MAC reduction = unpruned MACs / pruned MACs (conv and linear, one image).",
        "",
        "| config | dataset | input | measurement | batch | unpruned ms | pruned ms | speed-up | MAC reduction "
        "| MACs (unpruned → pruned) | params (unpruned → pruned) | note |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for r in measured.to_dict("records"):
        lines.append(
            f"| {r['config']} | {r['dataset']} | {r['input size']} | {r['measurement']} | {r['batch']} "
            f"| {1e3 * r['base s']:.2f} | {1e3 * r['pruned s']:.2f} | {r['speed-up']:.2f}x | {r['MAC reduction']:.2f}x "
            f"| {_millions(r['base_macs'])} → {_millions(r['pruned_macs'])} "
            f"| {_millions(r['base_params'])} → {_millions(r['pruned_params'])} | {r['note']} |")
    skipped = table[table["measurement"] == SKIPPED]
    if not skipped.empty:
        lines += ["", "Not measured (no fixed architecture):", ""]
        lines += [f"- {r['config']} ({r['model']}, {r['dataset']}): {r['note']}" for r in skipped.to_dict("records")]
    return "\n".join(lines)


_RATIO_TICKS = (0.25, 0.5, 0.75, 1, 1.25, 1.5, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64)  # speed-up axes' labels


def plot_pruned_speed(table: pd.DataFrame, ax=None):
    """Measured speed-up against MAC reduction, one point per config and measurement (marker: the
    measurement and its batch), on log axes with the line y = x, where a point would lie if MACs
    predicted time. Below the line the pruned model gains less time than MACs. Returns the Axes."""
    import matplotlib.pyplot as plt

    measured = table[table["measurement"] != SKIPPED]
    if measured.empty:
        raise ValueError("no measured rows to plot: every config in the table was skipped (see its 'note' column)")
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 4.5))
    markers = iter("osD^v<>pX*")
    for (measurement, batch), rows in measured.groupby(["measurement", "batch"], sort=True):
        ax.scatter(rows["MAC reduction"], rows["speed-up"], marker=next(markers, "o"), alpha=0.8,
                   label=f"{measurement}, batch {batch}")
    for config, rows in measured.groupby("config", sort=False):
        ax.annotate(config, (rows["MAC reduction"].iloc[0], rows["speed-up"].max()), fontsize=7,
                    xytext=(3, 3), textcoords="offset points")
    low = min(measured["MAC reduction"].min(), measured["speed-up"].min(), 1.0) / 1.1
    high = max(measured["MAC reduction"].max(), measured["speed-up"].max()) * 1.1
    ax.plot([low, high], [low, high], color="grey", linestyle="--", linewidth=1, label="speed-up = MAC reduction")
    ticks, spacing = [], max(1.1, (high / low) ** (1 / 8))  # at most about 8 labels, evenly spread on log axes
    for tick in (t for t in _RATIO_TICKS if low <= t <= high):
        if not ticks or tick / ticks[-1] >= spacing:
            ticks.append(tick)
    ax.set(xscale="log", yscale="log", xlim=(low, high), ylim=(low, high),
           xlabel="MAC reduction (unpruned MACs / pruned MACs)", ylabel="measured speed-up (unpruned / pruned time)",
           title="Do MACs predict time?")
    for axis in (ax.xaxis, ax.yaxis):  # ratios read as 1.5x, not 1.5 x 10^0
        axis.set_ticks(ticks, [f"{t:g}x" for t in ticks])
        axis.set_ticks([], minor=True)
    ax.legend(fontsize=8)
    return ax
