"""Data-parallel training under `torchrun`: PyTorch's DistributedDataParallel around the one loop.

    torchrun --standalone --nproc_per_node=8 -m rethinkkit train --dataset imagenet \\
        --data-root /data/imagenet --configs resnet34-a --strategies scratch-b

Every rank runs the same program (the same `rk.pipeline.run` calls, the same `rk.train.train`
loops). When `torch.distributed` is initialised (`init`), `train.train` wraps the model in
DistributedDataParallel and asks the data for this rank's part of every batch; nothing else
about training changes:

- The global batch and the sample order are a 1-process run's: every rank draws the same
  seeded epoch order (and, in memory, the same crop/flip draws) and keeps the `rank`-th of
  `size` contiguous, near-equal chunks of each global batch (`data.container.shard_of`), as
  DataParallel's scatter splits it. The loss of a rank is its images' summed loss times size / (global
  batch), so DDP's gradient average is the global batch's mean-loss gradient, exactly, even
  when the last batch does not split evenly. The paper's ImageNet batch, 256, is global: the
  original code (`imagenet/l1-norm-pruning/main_E.py`) trains it with DataParallel over the
  node's GPUs, and so do we with DDP over the ranks.
- BatchNorm: plain DDP, as the PyTorch ImageNet example. In training each rank normalises by
  its own chunk's batch statistics (as DataParallel's replicas do: 32 images per GPU for 256
  on 8 GPUs), so a multi-GPU run is not bit-equal to a 1-GPU one for a model with BN -- the
  same as the original's multi-GPU runs. The running statistics are rank 0's (DDP broadcasts
  rank 0's buffers before every forward; `sync_buffers` does it once more after each epoch),
  so every rank evaluates and checkpoints the same model.
- Evaluation is sharded and reduced: each rank evaluates its part of every test batch and the
  loss sums and correct counts are added over the ranks (`all_sum`).
- Only rank 0 writes: checkpoints (`train.train`), the run's spec, weights and result
  (`runs.Store`). Rank 0 alone takes the run's file lock and decides whether a run is done,
  to be resumed or new; the other ranks wait for its word (`from_main`) and read.
- Resume: rank 0 reads the checkpoint first (moving an unreadable one aside), then the
  others read the same file (`main_first`); the epochs they resume from are checked equal.

Backend: NCCL when CUDA is available (each rank on cuda:LOCAL_RANK), else gloo on the CPU.

Limits: the run store must be one folder every rank sees (one machine; several need a shared
filesystem). Dropout (the ImageNet VGG-11's classifier) draws other masks than a 1-process run.
The pipeline's pruning cache beside a run is computed by every rank and written atomically, so
it too ends as one file. A rank waits for rank 0's word at most the process group's timeout
(torch's default), which matters only when another process holds a run's lock that long.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, TypeVar

import torch
import torch.distributed as dist
from torch import nn

from .data import resolve_device

T = TypeVar("T")

# What torchrun sets in every rank's environment (torch.distributed.run's documentation).
TORCHRUN_ENV = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


@dataclass(frozen=True)
class Group:
    """This process's place among the ranks of the default process group."""

    rank: int
    size: int  # the world size: how many ranks train together

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def shard(self) -> tuple[int, int]:
        """The (rank, size) that `train_batches(..., shard=)` and `test_batches(..., shard=)` take."""
        return (self.rank, self.size)


def group() -> Group | None:
    """The default process group as a `Group`; None when torch.distributed is not initialised."""
    if not (dist.is_available() and dist.is_initialized()):
        return None
    return Group(dist.get_rank(), dist.get_world_size())


def is_main() -> bool:
    """Whether this process writes: rank 0, or the only process."""
    g = group()
    return g is None or g.main


def launched() -> bool:
    """Whether torchrun started this process (its environment variables are set)."""
    return all(name in os.environ for name in TORCHRUN_ENV)


def init(device: str | torch.device | None = "auto") -> torch.device:
    """Join torchrun's process group (once) and return this rank's training device.

    Not under torchrun: nothing is initialised and `device` is resolved as everywhere
    (`"auto"`: the GPU if there is one). Under torchrun: `"auto"` is cuda:LOCAL_RANK with the
    NCCL backend when CUDA is available, else the CPU with gloo; `"cpu"` forces the CPU and
    gloo. Any other device is refused, since every rank needs its own."""
    if not launched():
        return resolve_device(device)
    choice = "auto" if device is None else str(device).strip().lower()
    if choice not in ("auto", "cpu"):
        raise ValueError(f"under torchrun every rank trains on cuda:LOCAL_RANK (or all on the CPU), so "
                         f"device={device!r} cannot be honoured; pass device 'auto' or 'cpu'")
    local = int(os.environ["LOCAL_RANK"])
    if choice == "auto" and torch.cuda.is_available():
        if local >= torch.cuda.device_count():
            raise ValueError(f"LOCAL_RANK {local} has no GPU of its own: {torch.cuda.device_count()} GPU(s) are "
                             f"visible; start torchrun with --nproc_per_node at most {torch.cuda.device_count()}")
        dev = torch.device("cuda", local)
        torch.cuda.set_device(dev)  # NCCL's collectives and barrier use the current device
    else:
        dev = torch.device("cpu")
    if not dist.is_initialized():  # device_id binds NCCL's communicator to this rank's GPU
        cuda = dev.type == "cuda"
        dist.init_process_group(backend="nccl" if cuda else "gloo", device_id=dev if cuda else None)
    return dev


def finish() -> None:
    """Leave the process group, when one was joined (no collective: a rank that failed leaves too)."""
    if group() is not None:
        dist.destroy_process_group()


def wrap(model: nn.Module) -> nn.Module:
    """`model` in DistributedDataParallel when the process group is initialised, else itself.
    DDP broadcasts rank 0's parameters and buffers when it is built, and averages the
    gradients over the ranks during every backward."""
    if group() is None:
        return model
    device = next(model.parameters()).device
    return nn.parallel.DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)


def all_sum(*tensors: torch.Tensor) -> None:
    """Add each tensor over the ranks, in place (nothing outside torchrun)."""
    if group() is None:
        return
    for tensor in tensors:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)


def sync_buffers(model: nn.Module) -> None:
    """Copy rank 0's buffers (BatchNorm's running statistics) to every rank."""
    if group() is None:
        return
    for buffer in model.buffers():
        dist.broadcast(buffer, src=0)


def barrier() -> None:
    """Wait until every rank is here (nothing outside torchrun)."""
    if group() is not None:
        dist.barrier()


def from_main(compute: Callable[[], T]) -> T:
    """`compute()` on rank 0, its (picklable) value sent to every rank; outside torchrun, just
    `compute()`. The other ranks do not call `compute`: rank 0 alone looks at (and may tidy)
    shared files, and every rank acts on its one answer."""
    if group() is None:
        return compute()
    box = [compute() if is_main() else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def main_first(compute: Callable[[], T]) -> T:
    """`compute()` on rank 0, then on the other ranks: for reading shared files that rank 0
    may move aside when unreadable, or download (a dataset), before the others read them."""
    if group() is None:
        return compute()
    if is_main():
        value = compute()
        dist.barrier()
        return value
    dist.barrier()
    return compute()


def check_same(value, what: str) -> None:
    """Raise RuntimeError on every rank unless all ranks hold the same (picklable) `value`."""
    g = group()
    if g is None:
        return
    values = [None] * g.size
    dist.all_gather_object(values, value)
    if any(v != values[0] for v in values):
        raise RuntimeError(f"the ranks disagree on {what}: {values} (rank by rank); they must read the same "
                           f"files: is the run store on a filesystem every rank sees?")
