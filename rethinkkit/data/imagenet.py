"""ImageNet (ILSVRC-2012) from an ImageFolder root, streamed from disk by DataLoader workers.

ImageNet does not fit on the training device as uint8 the way CIFAR does (`rethinkkit.data`),
so :class:`ImageFolderData` decodes JPEGs in DataLoader worker processes and hands
`rethinkkit.train` the same interface as :class:`rethinkkit.data.Data`: ``train_batches``,
``test_batches``, ``subset``, ``to``, ``num_classes``, ``image_shape``, ...

The pipeline is the standard PyTorch ImageNet example's, which the original code uses
(`imagenet/l1-norm-pruning/main_E.py` of Eric-mingjie/rethinking-network-pruning): training
images RandomResizedCrop(224) + horizontal flip, test images Resize(256) + CenterCrop(224),
both normalised with the ImageNet mean and std.

Determinism: the order of epoch e is a permutation drawn from a generator seeded by
(seed, e) alone (``augmentation._epoch_generator``), and each image's crop and flip are
drawn from the CPU generator seeded by (that epoch's augmentation seed, the image's index).
So a resumed run sees exactly the batches an uninterrupted one would, augmentation
included, whatever ``num_workers`` is. Loading never touches the global random state.

The expected layout (the PyTorch example's; `extract_ILSVRC.sh` there builds it)::

    root/train/n01440764/*.JPEG ...   (one folder per class)
    root/val/n01440764/*.JPEG ...     (the same class folders)
"""

from __future__ import annotations

import copy
import dataclasses
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from .augmentation import _epoch_generator
from .container import (DatasetInfo, DatasetView, _check_batch_size, _check_shard, _check_train_shard,
                        _stratified_index, shard_of)
from .device import resolve_device
from .roots import ENV_DATA, DatasetCorrupt, DatasetNotFound, _base_roots, _bulleted

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "ImageFolderData", "load", "test_transform", "train_transform"]

# torchvision's ImageNet constants (per channel, of x / 255), as in the original code.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IMAGE_SIZE = 224  # the crop the models see
RESIZE = 256  # test images: shorter side resized to this, then the centre IMAGE_SIZE crop

Sample = tuple[str, int]  # (image path, class index), as ImageFolder lists them


def train_transform() -> Callable:
    """RandomResizedCrop(224) + RandomHorizontalFlip + ToTensor + Normalize (ImageNet)."""
    from torchvision import transforms as T

    return T.Compose([
        T.RandomResizedCrop(IMAGE_SIZE),
        T.RandomHorizontalFlip(),
        T.ToTensor(),
        T.Normalize(IMAGENET_MEAN, IMAGENET_STD),
    ])


def test_transform() -> Callable:
    """Resize(256) + CenterCrop(224) + ToTensor + Normalize (ImageNet): no randomness."""
    from torchvision import transforms as T

    return T.Compose([
        T.Resize(RESIZE),
        T.CenterCrop(IMAGE_SIZE),
        T.ToTensor(),
        T.Normalize(IMAGENET_MEAN, IMAGENET_STD),
    ])


class _Images(Dataset):
    """`samples[i]` decoded and transformed; with `seed`, the transform's random draws come
    from the CPU generator seeded with seed + i, so they depend on the image, not on which
    worker or in which order it is loaded."""

    def __init__(self, samples: Sequence[Sample], transform: Callable, seed: int | None) -> None:
        from torchvision.datasets.folder import default_loader

        self.samples = samples
        self.transform = transform
        self.seed = seed
        self.loader = default_loader

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        path, target = self.samples[index]
        image = self.loader(path)
        if self.seed is None:
            return self.transform(image), target
        # fork_rng restores the generator afterwards: with num_workers=0 this runs in the
        # training process, whose random state (checkpointed by train) must not move.
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed((self.seed + index) % (1 << 63))
            return self.transform(image), target


class ImageFolderData(DatasetView):
    """An ImageFolder dataset (``root/train``, ``root/val``) streamed to ``device`` in batches.

    Used by ``rethinkkit.train`` and ``rethinkkit.runs`` exactly like ``data.Data``. Images
    are decoded and transformed by ``num_workers`` DataLoader processes (0: in this process)
    and arrive as float32 (B, 3, 224, 224) batches already normalised, with int64 labels, on
    ``device`` (through pinned memory when it is a GPU). ``train_labels`` and
    ``test_labels`` are the class indices, kept on the CPU.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        *,
        name: str = "imagenet",
        device: str | torch.device | None = None,
        num_workers: int | None = None,
    ) -> None:
        from torchvision.datasets import ImageFolder

        if num_workers is None:
            num_workers = min(8, os.cpu_count() or 1)
        if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(f"num_workers must be an int >= 0 (0: load in this process), got {num_workers!r}")
        self.num_workers = num_workers
        self.device = resolve_device(device)
        self.root = Path(root)
        folders = {}
        for split in ("train", "val"):
            try:
                folders[split] = ImageFolder(str(self.root / split))
            except FileNotFoundError as err:  # no class folders, or a class folder without images
                raise DatasetCorrupt(
                    f"{name}: {self.root / split} is not an ImageFolder ({err}). Expected one "
                    f"sub-folder of images per class, e.g. {split}/n01440764/*.JPEG; the "
                    f"ILSVRC-2012 validation images ship in one flat folder and must be sorted "
                    f"into class folders first (the PyTorch ImageNet example's extract_ILSVRC.sh)."
                ) from err
        train, test = folders["train"], folders["val"]
        if train.classes != test.classes:
            only_train = sorted(set(train.classes) - set(test.classes))
            only_test = sorted(set(test.classes) - set(train.classes))
            raise DatasetCorrupt(
                f"{name}: train/ and val/ under {self.root} must hold the same class folders, "
                f"or the labels would not match; only in train/: {only_train[:5]} "
                f"({len(only_train)}), only in val/: {only_test[:5]} ({len(only_test)})"
            )
        self.classes: list[str] = train.classes
        self.info = DatasetInfo(
            name=name,
            num_classes=len(train.classes),
            in_channels=3,
            image_size=IMAGE_SIZE,
            mean=IMAGENET_MEAN,
            std=IMAGENET_STD,
        )
        self._train: list[Sample] = train.samples
        self._test: list[Sample] = test.samples
        self.train_labels = _labels(self._train)
        self.test_labels = _labels(self._test)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """One batch image's (C, H, W): (3, 224, 224), the input size `flops.count` takes."""
        return (self.info.in_channels, self.info.image_size, self.info.image_size)

    @property
    def num_train(self) -> int:
        return len(self._train)

    @property
    def num_test(self) -> int:
        return len(self._test)

    def __repr__(self) -> str:
        return (
            f"ImageFolderData({self.name!r}: {self.num_train} train / {self.num_test} test "
            f"under {self.root}, {self.num_classes} classes, {self.num_workers} workers, on {self.device})"
        )

    def train_batches(
        self, batch_size: int, *, seed: int, epoch: int, augment: bool = True,
        shard: tuple[int, int] | None = None,
    ) -> Iterator[tuple[Tensor, Tensor]]:
        """One epoch of shuffled (float32 images, int64 labels) batches; last partial batch kept.

        The order and the augmentation draws depend only on (seed, epoch) (module docstring).
        ``augment=False`` gives shuffled batches through the test transform.
        ``shard=(rank, size)`` (data-parallel training, `rethinkkit.distributed`): this rank's
        chunk of every global batch (`container.shard_of`); only those images are decoded, and
        each gets the crop and flip it gets in a 1-process run (they are seeded per image).
        """
        _check_batch_size(batch_size)
        _check_train_shard(shard, self.num_train, batch_size)
        gen = _epoch_generator(torch.device("cpu"), seed, epoch)
        order = torch.randperm(self.num_train, generator=gen)
        if augment:
            images = _Images(self._train, train_transform(), int(torch.randint(1 << 62, (), generator=gen)))
        else:
            images = _Images(self._train, test_transform(), None)
        # The loader draws its workers' base seed from `gen`, not from the global generator.
        yield from self._batches(images, _split(order.tolist(), batch_size, shard), gen)

    def test_batches(self, batch_size: int, shard: tuple[int, int] | None = None) -> Iterator[tuple[Tensor, Tensor]]:
        """The validation set in order, through the test transform; last partial batch kept.
        ``shard=(rank, size)``: this rank's chunk of every batch (empty chunks are skipped)."""
        _check_batch_size(batch_size)
        _check_shard(shard)
        images = _Images(self._test, test_transform(), None)
        yield from self._batches(images, _split(range(self.num_test), batch_size, shard),
                                 torch.Generator().manual_seed(0))

    def _batches(
        self, images: _Images, batches: list[list[int]], gen: torch.Generator
    ) -> Iterator[tuple[Tensor, Tensor]]:
        loader = DataLoader(
            images,
            batch_sampler=batches,
            num_workers=self.num_workers,
            pin_memory=self.device.type == "cuda",
            generator=gen,
        )
        for x, y in loader:
            yield x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)

    def subset(
        self, n_train: int | None = None, n_test: int | None = None, seed: int = 0
    ) -> ImageFolderData:
        """A stratified subset, deterministic in ``seed`` (``None`` keeps a split whole).

        The same selection as ``Data.subset`` (``container._stratified_index``: classes taken
        round-robin, so class counts differ by at most one while every class has examples
        left), and the same name, so a run store never files it under the full data's name.
        """
        train = _stratified_index(self.train_labels, n_train, seed, 0, "n_train")
        test = _stratified_index(self.test_labels, n_test, seed, 1, "n_test")
        if train is None and test is None:
            return self
        out = copy.copy(self)
        # The format of Data.subset's name (tests/test_imagenet.py checks that they agree).
        label = f"{self.info.name}[train {n_train or 'all'}, test {n_test or 'all'}, seed {seed}]"
        out.info = dataclasses.replace(self.info, name=label)
        if train is not None:
            out._train = [self._train[i] for i in train.tolist()]
            out.train_labels = self.train_labels[train]
        if test is not None:
            out._test = [self._test[i] for i in test.tolist()]
            out.test_labels = self.test_labels[test]
        return out

    def to(self, device: str | torch.device | None) -> ImageFolderData:
        """This dataset delivering its batches to another device (``self`` when already there)."""
        dev = resolve_device(device)
        if dev == self.device:
            return self
        out = copy.copy(self)
        out.device = dev
        return out


def _split(order: Sequence[int], batch_size: int, shard: tuple[int, int] | None) -> list[list[int]]:
    """`order` in batches of `batch_size` (the last partial one kept); with `shard`, each batch
    cut to that rank's chunk and empty chunks dropped."""
    batches = [list(order[start : start + batch_size]) for start in range(0, len(order), batch_size)]
    if shard is None:
        return batches
    parts = [batch[shard_of(len(batch), *shard)] for batch in batches]
    return [part for part in parts if part]


def _labels(samples: Sequence[Sample]) -> Tensor:
    return torch.tensor([target for _, target in samples], dtype=torch.int64)


def _folders(root: str | os.PathLike | None) -> list[Path]:
    """Where ImageNet is looked for: each of data's roots (``root``, ``$RETHINKKIT_DATA``,
    ``~/.cache/rethinkkit/data``), then its ``imagenet/`` sub-folder."""
    folders: list[Path] = []
    for base in _base_roots(root):
        for folder in (base, base / "imagenet"):
            if folder not in folders:
                folders.append(folder)
    return folders


def load(
    root: str | os.PathLike | None = None,
    download: bool = False,
    device: str | torch.device | None = None,
    *,
    num_workers: int | None = None,
) -> ImageFolderData:
    """ImageNet from the first folder (see `_folders`) holding ``train/`` and ``val/``.

    ImageNet cannot be downloaded automatically (its licence needs an account), so when it
    is missing ``download=True`` only changes the message; when it is present ``download``
    does not matter (a profile may set it for every dataset). ``rethinkkit.data.load("imagenet")``
    calls this with the default ``num_workers``.
    """
    folders = _folders(root)
    found = next((f for f in folders if (f / "train").is_dir() and (f / "val").is_dir()), None)
    if found is None:
        refused = (
            "download=True cannot fetch it: ImageNet is not downloadable automatically. "
            if download else ""
        )
        raise DatasetNotFound(
            f"imagenet was not found. Looked for a folder holding train/ and val/ in:\n"
            f"{_bulleted(folders)}\n{refused}"
            f"ImageNet (ILSVRC-2012) must be downloaded by you from https://image-net.org (an "
            f"account and its terms of access are needed). Arrange it as train/<class>/*.JPEG "
            f"and val/<class>/*.JPEG with the same class folders (e.g. n01440764) in both; the "
            f"validation images ship in one flat folder, and the PyTorch ImageNet example's "
            f"extract_ILSVRC.sh sorts them into class folders. Then pass root= (or set "
            f"${ENV_DATA}) to that folder or to the folder that contains imagenet/."
        )
    return ImageFolderData(found, device=device, num_workers=num_workers)
