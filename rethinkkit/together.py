"""Several seeds of one architecture trained together, in one process, as one stacked model.

A small CIFAR model leaves most of a GPU idle: its kernels are too small to fill it and the
step is bound by kernel launches. Training K seeds at once as one model whose every parameter,
buffer and optimizer state has a leading seed dimension (`torch.func.stack_module_state`, the
forward `vmap`-ed over it, so each convolution runs as one grouped convolution) issues the
kernels of one step for all K seeds.

The math of each seed is untouched: seed k sees its own data order and augmentation
(`data.train_batches(seed=k)`), starts from its own initialisation, keeps its own BN statistics
and SGD momentum, and its loss is its own batch mean (the K losses are summed, and as no
parameter is shared the sum's gradient for seed k's parameters is exactly seed k's gradient).
What can differ is floating-point order: a grouped convolution sums in another order than K
separate ones, so the weights are not bit-identical to training each seed alone. One step
agrees to float32 rounding (~1e-7); over many steps the difference grows at the rate any
reassociation grows in training (the same as changing the number of threads, which the tests
measure side by side). The checkpoints are `train()`'s, one per seed, so a run started together
resumes alone and the other way round.

Measured on the development machine's 2-core CPU (docs/benchmarks.md), stacking is slower per
seed than training alone: there the convolutions already fill the cores. So by default it is
used on CUDA only (`wanted`); ``RETHINKKIT_SEEDS_TOGETHER=1`` forces it anywhere, ``0`` turns it
off. Runs with training hooks (Network Slimming's penalty, weight masks, soft pruning) or with
dropout (the ImageNet VGG classifiers) train alone: `unsupported` says why.
"""
from __future__ import annotations

import copy
import dataclasses
import os
import time
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from . import distributed
from .config import Recipe
from .train import (TrainResult, _check_loss, _progress_bar, evaluate, load_checkpoint,
                    save_checkpoint)

TOGETHER_ENV = "RETHINKKIT_SEEDS_TOGETHER"  # auto (default): on CUDA only | 1: always | 0: never
CHOICES = ("auto", "1", "0")


class CannotResumeTogether(ValueError):
    """The seeds' checkpoints are at different points; train each alone to resume it."""


def wanted(device) -> bool:
    """Whether missing seeds of one run should train together on `device` (see the module doc)."""
    choice = os.environ.get(TOGETHER_ENV, "auto").strip().lower() or "auto"
    if choice not in CHOICES:
        raise ValueError(f"${TOGETHER_ENV} is {choice!r}; set it to auto (stack seeds on CUDA only), "
                         "1 (always) or 0 (never)")
    if choice == "auto":
        return torch.device(device).type == "cuda"
    return choice == "1"


def unsupported(model: nn.Module, hooks: Sequence = ()) -> str | None:
    """Why `model` with `hooks` cannot train together with other seeds; None when it can."""
    if distributed.group() is not None:
        return "under torchrun each run already spans the processes (DDP)"
    if tuple(hooks):
        return f"its training hooks ({', '.join(type(h).__name__ for h in hooks)}) act on one model"
    if any(isinstance(m, nn.Dropout) and m.p > 0 for m in model.modules()):
        return "it has dropout, whose random draws would differ from training it alone"
    return None


def train_together(
    models: Sequence[nn.Module],
    data,
    recipe: Recipe = Recipe(),
    *,
    seeds: Sequence[int],
    checkpoints: Sequence[str | os.PathLike] | None = None,
    progress: bool | None = None,
    desc: str | None = None,
) -> list[TrainResult]:
    """Train `models[k]` with seed `seeds[k]` for every k, together; the same as calling
    `train(models[k], data, recipe, seed=seeds[k], checkpoint=checkpoints[k])` for each, up to
    floating-point order (module doc). The models must share one architecture; on return each
    holds its trained weights. Checkpoints resume as `train()`'s do; all seeds must resume from
    the same epoch (a ValueError says when they do not: train them alone then)."""
    models, seeds = list(models), [int(s) for s in seeds]
    if not models or len(models) != len(seeds):
        raise ValueError(f"give one seed per model: {len(models)} model(s), {len(seeds)} seed(s)")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds {seeds} repeat one: each model trains with its own seed")
    paths = [Path(c) for c in checkpoints] if checkpoints is not None else [None] * len(models)
    if len(paths) != len(models):
        raise ValueError(f"give one checkpoint per model: {len(models)} model(s), {len(paths)} checkpoint(s)")
    shapes = [{k: tuple(v.shape) for k, v in m.state_dict().items()} for m in models]
    if any(s != shapes[0] for s in shapes[1:]):
        raise ValueError("the models differ in architecture; only seeds of one architecture train together")
    for model in models:
        reason = unsupported(model)
        if reason:
            raise ValueError(f"cannot train these seeds together: {reason}")

    device = data.device
    optimizers = []
    for model in models:
        model.to(device)
        optimizers.append(_sgd(model.parameters(), recipe))
    states = [load_checkpoint(p, m, o, device) if p is not None else None for p, m, o in zip(paths, models, optimizers)]
    epochs = {s["epoch"] if s else 0 for s in states}
    if len(epochs) > 1:
        raise CannotResumeTogether(f"the seeds' checkpoints are at different epochs ({sorted(epochs)}); they cannot "
                         "resume together: train each alone (rethinkkit.train.train)")
    start_epoch = epochs.pop()
    histories = [list(s["history"]) if s else [] for s in states]
    if states[0] is not None:
        torch.set_rng_state(states[0]["cpu_rng"])

    stacked = _Stacked(models, optimizers, recipe)
    n_train = len(data.train_labels)
    bar = _progress_bar(range(start_epoch, recipe.epochs), recipe.epochs, start_epoch, progress,
                        desc or f"{len(models)} seeds together")
    began = time.perf_counter()
    try:
        for epoch in bar:
            epoch_began = time.perf_counter()
            lr = recipe.lr_at(epoch)
            for group in stacked.optimizer.param_groups:
                group["lr"] = lr
            loss_sum = torch.zeros(len(models), device=device)
            correct = torch.zeros(len(models), device=device, dtype=torch.long)
            batches = [data.train_batches(recipe.batch_size, seed=s, epoch=epoch, augment=recipe.augment) for s in seeds]
            for pairs in zip(*batches):
                x = torch.stack([x for x, _ in pairs])
                y = torch.stack([y for _, y in pairs])
                out = stacked(x)  # (seeds, batch, classes)
                losses = F.cross_entropy(out.flatten(0, 1), y.flatten(), reduction="none").view(y.shape).mean(1)
                stacked.optimizer.zero_grad(set_to_none=True)
                losses.sum().backward()  # no shared parameter: seed k's gradient is d loss_k
                stacked.optimizer.step()
                loss_sum += losses.detach() * y.shape[1]
                correct += (out.detach().argmax(-1) == y).sum(1)
            train_losses = (loss_sum / n_train).tolist()  # the epoch's one host sync
            for k, loss in enumerate(train_losses):
                _check_loss(loss, None, data.num_classes, epoch, recipe, lr, histories[k], paths[k])
            stacked.write_back(models, optimizers)
            rows = []
            for k, model in enumerate(models):
                rows.append({
                    "epoch": epoch + 1,
                    "lr": lr,
                    "train_loss": train_losses[k],
                    "train_top1": 100.0 * correct[k].item() / n_train,
                    **evaluate(model, data, recipe.eval_batch_size),
                    "seconds": time.perf_counter() - epoch_began,  # the K seeds' epoch, shared
                })
            for k, row in enumerate(rows):  # every seed checked before any checkpoint is written
                _check_loss(row["train_loss"], row["test_loss"], data.num_classes, epoch, recipe, lr, histories[k], paths[k])
            for k, row in enumerate(rows):
                histories[k].append(row)
                if paths[k] is not None:
                    save_checkpoint(paths[k], {
                        "epoch": epoch + 1,
                        "model": models[k].state_dict(),
                        "optimizer": optimizers[k].state_dict(),
                        "history": histories[k],
                        "cpu_rng": torch.get_rng_state(),
                        "hooks": [],
                        "recipe": dataclasses.asdict(recipe),
                        "seed": seeds[k],
                    })
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(top1=" ".join(f"{row['test_top1']:.2f}" for row in rows))
    finally:
        if hasattr(bar, "close"):
            bar.close()
    stacked.write_back(models, optimizers)
    seconds = time.perf_counter() - began
    return [TrainResult(history=h, seconds=seconds) for h in histories]


def _sgd(params, recipe: Recipe) -> torch.optim.SGD:
    """`train()`'s optimizer, for one model or for the stacked parameters alike."""
    return torch.optim.SGD(params, lr=recipe.lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay,
                           nesterov=recipe.nesterov)


class _Stacked:
    """K models of one architecture as stacked parameters, buffers and SGD state (leading seed
    dimension), with a vmap-ed forward; `write_back` copies seed k's slices into model k and
    its optimizer, so evaluation and checkpoints use `train()`'s own code and format."""

    def __init__(self, models: Sequence[nn.Module], optimizers: Sequence[torch.optim.SGD], recipe: Recipe):
        from torch.func import functional_call, stack_module_state, vmap

        params, self.buffers = stack_module_state(list(models))
        self.params = {name: p.detach().clone().requires_grad_(True) for name, p in params.items()}
        self.optimizer = _sgd(list(self.params.values()), recipe)
        self._load_momentum(optimizers)
        skeleton = copy.deepcopy(models[0]).to("meta").train()

        def forward(p, b, x):
            return functional_call(skeleton, (p, b), (x,))

        self._forward = vmap(forward, randomness="error")

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self._forward(self.params, self.buffers, x)

    def _load_momentum(self, optimizers) -> None:
        """The seeds' SGD momentum (resumed from their checkpoints), stacked in parameter order."""
        states = [o.state_dict()["state"] for o in optimizers]
        for index, param in enumerate(self.params.values()):
            buffers = [s.get(index, {}).get("momentum_buffer") for s in states]
            if all(b is not None for b in buffers):
                self.optimizer.state[param]["momentum_buffer"] = torch.stack(buffers).to(param.device)
            elif any(b is not None for b in buffers):
                raise CannotResumeTogether("the seeds' optimizer states differ in which parameters have momentum; "
                                 "they cannot resume together")

    @torch.no_grad()
    def write_back(self, models: Sequence[nn.Module], optimizers: Sequence[torch.optim.SGD]) -> None:
        for k, (model, optimizer) in enumerate(zip(models, optimizers)):
            for name, tensor in model.named_parameters():
                tensor.copy_(self.params[name][k])
            for name, tensor in model.named_buffers():
                tensor.copy_(self.buffers[name][k])
            for param, stacked in zip(model.parameters(), self.params.values()):
                momentum = self.optimizer.state.get(stacked, {}).get("momentum_buffer")
                if momentum is not None:
                    optimizer.state[param]["momentum_buffer"] = momentum[k].clone()
