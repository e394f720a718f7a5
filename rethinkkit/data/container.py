"""The dataset containers: :class:`DatasetInfo` (what a dataset is), :class:`DatasetView`
(what every dataset object shares), :class:`Data` (a whole dataset resident on one device
as uint8 tensors, batched there) and :func:`from_tensors`; plus the stratified subset
selection that ``Data.subset`` and ``imagenet.ImageFolderData.subset`` share."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from .augmentation import _epoch_generator, normalize
from .augmentation import augment as _augment  # Data.train_batches has a parameter named `augment`
from .device import resolve_device


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    num_classes: int
    in_channels: int
    image_size: int  # images are image_size x image_size
    mean: tuple[float, ...]  # per channel, of x / 255
    std: tuple[float, ...]


class DatasetView:
    """What every dataset object shares (`Data`, and `imagenet.ImageFolderData`): the
    descriptive properties read from `info`, and the batch count from `num_train`."""

    info: DatasetInfo

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def num_classes(self) -> int:
        return self.info.num_classes

    @property
    def in_channels(self) -> int:
        return self.info.in_channels

    def num_train_batches(self, batch_size: int) -> int:
        """Batches per epoch; the last partial batch is kept."""
        _check_batch_size(batch_size)
        return math.ceil(self.num_train / batch_size)


class Data(DatasetView):
    """A dataset resident on one device: uint8 (N, C, S, S) images and int64 (N,) labels."""

    def __init__(
        self,
        info: DatasetInfo,
        train_images: Tensor,
        train_labels: Tensor,
        test_images: Tensor,
        test_labels: Tensor,
    ) -> None:
        device = train_images.device
        for split, images, labels in (
            ("train", train_images, train_labels),
            ("test", test_images, test_labels),
        ):
            expected = (info.in_channels, info.image_size, info.image_size)
            if images.dtype != torch.uint8 or images.dim() != 4 or tuple(images.shape[1:]) != expected:
                raise ValueError(
                    f"{info.name}: {split} images must be uint8 (N, {expected[0]}, {expected[1]}, "
                    f"{expected[2]}), got {images.dtype} {tuple(images.shape)}"
                )
            if labels.dtype != torch.int64 or labels.dim() != 1 or len(labels) != len(images):
                raise ValueError(
                    f"{info.name}: {split} labels must be int64 (N,) with N = {len(images)} "
                    f"images, got {labels.dtype} {tuple(labels.shape)}"
                )
            if images.device != device or labels.device != device:
                raise ValueError(
                    f"{info.name}: all tensors must be on one device, got {split} images on "
                    f"{images.device} and labels on {labels.device} (train images on {device})"
                )
            if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= info.num_classes):
                raise ValueError(
                    f"{info.name}: {split} labels must lie in 0..{info.num_classes - 1}, "
                    f"got {int(labels.min())}..{int(labels.max())}"
                )
        if len(info.mean) != info.in_channels or len(info.std) != info.in_channels:
            raise ValueError(
                f"{info.name}: mean and std need one value per channel ({info.in_channels}), "
                f"got mean={info.mean} std={info.std}"
            )
        if any(s <= 0 for s in info.std):
            raise ValueError(f"{info.name}: std must be positive, got {info.std}")
        self.info = info
        self.train_images = train_images
        self.train_labels = train_labels
        self.test_images = test_images
        self.test_labels = test_labels
        self.device = device
        self._mean = torch.tensor(info.mean, dtype=torch.float32, device=device)
        self._std = torch.tensor(info.std, dtype=torch.float32, device=device)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """One image's (C, S, S): the input size `flops.count` takes."""
        return tuple(self.train_images.shape[1:])

    @property
    def num_train(self) -> int:
        return len(self.train_labels)

    @property
    def num_test(self) -> int:
        return len(self.test_labels)

    def __repr__(self) -> str:
        i = self.info
        return (
            f"Data({i.name!r}: {self.num_train} train / {self.num_test} test, "
            f"{i.in_channels}x{i.image_size}x{i.image_size}, {i.num_classes} classes, on {self.device})"
        )

    def normalize(self, images: Tensor) -> Tensor:
        """This dataset's normalisation of a uint8 batch."""
        return normalize(images, self._mean, self._std)

    def train_batches(
        self,
        batch_size: int,
        *,
        seed: int,
        epoch: int,
        augment: bool = True,
        pad: int = 4,
        flip: bool = True,
        shard: tuple[int, int] | None = None,
    ) -> Iterator[tuple[Tensor, Tensor]]:
        """One epoch of shuffled (float32 images, int64 labels) batches; last partial batch kept.

        The permutation and the crop/flip draws come from one generator on this device seeded
        from (seed, epoch) only. ``augment=False`` gives normalised shuffled batches. ``pad``
        and ``flip`` are the paper's augmentation (4, True); change them only as a named
        deviation. ``shard=(rank, size)`` (data-parallel training, `rethinkkit.distributed`):
        this rank's chunk of every global batch, augmented with the draws a 1-process run
        gives those images (the whole batch's draws are made, then the chunk is kept).
        """
        _check_batch_size(batch_size)
        _check_train_shard(shard, self.num_train, batch_size)
        gen = _epoch_generator(self.device, seed, epoch)
        order = torch.randperm(self.num_train, generator=gen, device=self.device)
        for start in range(0, self.num_train, batch_size):
            index = order[start : start + batch_size]
            images = self.train_images[index]
            if augment:
                images = _augment(images, gen, pad=pad, flip=flip)
            labels = self.train_labels[index]
            if shard is not None:
                part = shard_of(len(index), *shard)
                images, labels = images[part], labels[part]
            yield self.normalize(images), labels

    def test_batches(self, batch_size: int, shard: tuple[int, int] | None = None) -> Iterator[tuple[Tensor, Tensor]]:
        """The test set in order, normalised, not augmented; last partial batch kept.
        ``shard=(rank, size)``: this rank's chunk of every batch (empty chunks are skipped)."""
        _check_batch_size(batch_size)
        _check_shard(shard)
        for start in range(0, self.num_test, batch_size):
            stop = min(start + batch_size, self.num_test)
            if shard is not None:
                part = shard_of(stop - start, *shard)
                start, stop = start + part.start, start + part.stop
                if start == stop:
                    continue
            yield self.normalize(self.test_images[start:stop]), self.test_labels[start:stop]

    def subset(self, n_train: int | None = None, n_test: int | None = None, seed: int = 0) -> Data:
        """A stratified subset, deterministic in ``seed`` (``None`` keeps a split whole).

        Each class's examples are shuffled, then taken round-robin over the classes (in an order
        shuffled by ``seed``) until n are chosen, so class counts differ by at most one while
        every class has examples left. The chosen examples keep their original order.
        """
        train = _stratified_index(self.train_labels, n_train, seed, 0, "n_train")
        test = _stratified_index(self.test_labels, n_test, seed, 1, "n_test")
        if train is None and test is None:
            return self

        def pick(images: Tensor, labels: Tensor, index: Tensor | None) -> tuple[Tensor, Tensor]:
            if index is None:
                return images, labels
            index = index.to(self.device)
            return images[index], labels[index]

        # the name says it is a subset, so a run store never files it under the full data's name
        label = f"{self.info.name}[train {n_train or 'all'}, test {n_test or 'all'}, seed {seed}]"
        return Data(dataclasses.replace(self.info, name=label), *pick(self.train_images, self.train_labels, train),
                    *pick(self.test_images, self.test_labels, test))

    def to(self, device: str | torch.device | None) -> Data:
        """This dataset on another device (``self`` when it is already there)."""
        dev = resolve_device(device)
        if dev == self.device:
            return self
        return Data(
            self.info,
            self.train_images.to(dev),
            self.train_labels.to(dev),
            self.test_images.to(dev),
            self.test_labels.to(dev),
        )


def _check_batch_size(batch_size: int) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")


def shard_of(n: int, rank: int, size: int) -> slice:
    """Rank `rank`'s part of a batch of `n` items under data-parallel training: the `rank`-th
    of `size` contiguous chunks, the first `n % size` of them one longer (`torch.tensor_split`'s
    split, as DataParallel scatters a batch over its GPUs)."""
    base, extra = divmod(n, size)
    start = rank * base + min(rank, extra)
    return slice(start, start + base + (rank < extra))


def _check_shard(shard) -> None:
    if shard is None:
        return
    if (not isinstance(shard, tuple) or len(shard) != 2
            or any(isinstance(v, bool) or not isinstance(v, int) for v in shard)
            or not 0 <= shard[0] < shard[1]):
        raise ValueError(f"shard must be (rank, size) with 0 <= rank < size, as rethinkkit.distributed.Group.shard "
                         f"gives it; got {shard!r}")


def _check_train_shard(shard, n: int, batch_size: int) -> None:
    """Every rank needs an image of every global batch: DDP steps all ranks together, and a
    BatchNorm cannot train on an empty batch."""
    _check_shard(shard)
    if shard is None:
        return
    smallest = min(batch_size, n % batch_size or batch_size)
    if smallest < shard[1]:
        last = (f", the last one holding {smallest}); every rank needs an image of every batch: run on at most "
                f"{smallest} process(es), or train on a number of images whose last batch holds at least {shard[1]}"
                if smallest < batch_size else "); every rank needs an image of every batch: run on at most "
                f"{batch_size} process(es)")
        raise ValueError(f"a global batch of {smallest} image(s) cannot be split over {shard[1]} ranks ({n} training "
                         f"images in batches of {batch_size}{last}")


def _stratified_index(labels: Tensor, n: int | None, seed: int, stream: int, what: str) -> Tensor | None:
    if n is None:
        return None
    available = len(labels)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1 or n > available:
        raise ValueError(f"{what} must be an int in 1..{available} (the examples available), got {n!r}")
    y = labels.cpu().numpy()
    rng = np.random.default_rng([seed, stream])
    classes = rng.permutation(np.unique(y))
    per_class = [rng.permutation(np.flatnonzero(y == c)) for c in classes]
    # Round-robin: the r-th example of every class that still has one, for r = 0, 1, ...
    depth = max(len(p) for p in per_class)
    grid = np.full((depth, len(per_class)), -1, dtype=np.int64)
    for j, p in enumerate(per_class):
        grid[: len(p), j] = p
    order = grid.reshape(-1)
    chosen = order[order >= 0][:n]
    return torch.from_numpy(np.sort(chosen))


def from_tensors(
    name: str,
    train_images: Tensor,
    train_labels: Tensor,
    test_images: Tensor,
    test_labels: Tensor,
    *,
    num_classes: int,
    mean: Sequence[float],
    std: Sequence[float],
    device: str | torch.device | None = None,
) -> Data:
    """A :class:`Data` from uint8 (N, C, S, S) images (or (N, S, S) grey) and integer labels.

    ``device=None`` means ``"auto"``, as everywhere in rethinkkit.
    """
    dev = resolve_device(device)

    def images(x: Tensor, split: str) -> Tensor:
        x = torch.as_tensor(x)
        if x.dim() == 3:
            x = x.unsqueeze(1)
        if x.dtype != torch.uint8 or x.dim() != 4 or x.shape[2] != x.shape[3]:
            raise ValueError(
                f"{name}: {split} images must be uint8 (N, C, S, S) or (N, S, S), "
                f"got {x.dtype} {tuple(x.shape)}"
            )
        return x.to(dev).contiguous()

    def labels(y: Tensor, split: str) -> Tensor:
        y = torch.as_tensor(y)
        if y.dtype.is_floating_point or y.dtype.is_complex or y.dtype == torch.bool:
            raise ValueError(f"{name}: {split} labels must be integers, got {y.dtype}")
        return y.to(device=dev, dtype=torch.int64).contiguous()

    train_x, test_x = images(train_images, "train"), images(test_images, "test")
    info = DatasetInfo(
        name=name,
        num_classes=int(num_classes),
        in_channels=int(train_x.shape[1]),
        image_size=int(train_x.shape[2]),
        mean=tuple(float(m) for m in mean),
        std=tuple(float(s) for s in std),
    )
    return Data(info, train_x, labels(train_labels, "train"), test_x, labels(test_labels, "test"))
