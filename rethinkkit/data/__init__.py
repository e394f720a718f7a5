"""Datasets by name -> uint8 tensors resident on the training device, with on-device augmentation.

A :class:`Data` holds the whole train and test split as ``uint8`` NCHW tensors on one device.
Batches are drawn with batched tensor ops on that device (shuffle, pad-and-crop, flip,
normalise): no DataLoader workers, no PIL, no per-image Python loop and no host sync.

The augmentation follows the original code (REFERENCE.md, "Augmentation (CIFAR)"): the uint8
image is zero-padded by 4 pixels (a black border), randomly cropped back to its size, flipped
horizontally with p=0.5, and only then normalised, so border pixels become ``(0 - mean) / std``.

Datasets: ``cifar10`` and ``cifar100`` (torchvision's on-disk format, downloaded on request),
``fashion-mnist`` (a local root, Debian's ``dataset-fashion-mnist`` package, or a torchvision
download), ``fashion-mnist-mini`` (a stratified subset shipped inside the package) and
``imagenet`` (an ImageFolder root, streamed from disk by :mod:`.imagenet`, which is too big
to live on the device). Tests add synthetic datasets with :func:`register` or build them with
:func:`from_tensors`. A dataset that cannot be found raises :class:`DatasetNotFound` naming
every path tried; this package never falls back to other data.

The package: this module is the registry (:func:`load` by name, and its cache); below it sit
``device`` (:func:`resolve_device`), ``augmentation`` (:func:`augment`, :func:`normalize`),
``container`` (:class:`Data` and what every dataset object shares), ``roots`` (where files
are looked for, and the errors) and one module per source: ``cifar``, ``fashion_mnist``,
``imagenet``. They import only each other, never this module.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import torch

from . import imagenet
from .augmentation import augment, normalize
from .cifar import CIFAR_MEAN, CIFAR_STD, _load_cifar10, _load_cifar100  # noqa: F401
from .container import Data, DatasetInfo, DatasetView, from_tensors  # noqa: F401
from .device import resolve_device
from .fashion_mnist import (  # noqa: F401
    DEBIAN_FASHION_MNIST,
    FASHION_MNIST_MEAN,
    FASHION_MNIST_STD,
    MINI_RESOURCE,
    _load_fashion_mnist,
    _load_fashion_mnist_mini,
    read_fashion_mnist,
    read_idx,
)
from .roots import ENV_DATA, DatasetCorrupt, DatasetNotFound

__all__ = [
    "Data",
    "DatasetCorrupt",
    "DatasetInfo",
    "DatasetNotFound",
    "augment",
    "clear_cache",
    "from_tensors",
    "load",
    "names",
    "normalize",
    "register",
    "resolve_device",
]

Loader = Callable[[object, bool, torch.device], Data | imagenet.ImageFolderData]

_BUILTIN: dict[str, Loader] = {
    "cifar10": _load_cifar10,
    "cifar100": _load_cifar100,
    "fashion-mnist": _load_fashion_mnist,
    "fashion-mnist-mini": _load_fashion_mnist_mini,
    "imagenet": imagenet.load,
}
_LOADERS: dict[str, Loader] = dict(_BUILTIN)
_CACHE: dict[tuple, Data | imagenet.ImageFolderData] = {}


def names() -> list[str]:
    """Dataset names :func:`load` accepts: the built-in ones, then registered ones."""
    return list(_LOADERS)


def register(name: str, loader: Callable[..., Data]) -> None:
    """Make ``load(name)`` call ``loader(root, download, device)`` (device already resolved).

    Registering a name again replaces its loader (and drops its cached data); the built-in
    names cannot be replaced.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"a dataset name must be a non-empty str, got {name!r}")
    if name in _BUILTIN:
        raise ValueError(f"{name!r} is a built-in dataset and cannot be re-registered")
    if not callable(loader):
        raise TypeError(f"loader for {name!r} must be callable, got {type(loader).__name__}")
    _LOADERS[name] = loader
    for key in [k for k in _CACHE if k[0] == name]:
        del _CACHE[key]


def clear_cache() -> None:
    """Forget every dataset :func:`load` has returned (frees their device memory)."""
    _CACHE.clear()


def load(
    name: str,
    root: str | os.PathLike | None = None,
    download: bool = False,
    device: str | torch.device | None = None,
) -> Data | imagenet.ImageFolderData:
    """The dataset ``name`` on ``device``; a second call with the same arguments returns the
    same object. Roots tried: ``root``, ``$RETHINKKIT_DATA``, ``~/.cache/rethinkkit/data``
    (plus ``/usr/share/datasets/fashion-mnist`` for Fashion-MNIST)."""
    if name not in _LOADERS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {names()}")
    dev = resolve_device(device)
    root_key = str(Path(root).expanduser().resolve()) if root is not None else None
    key = (name, root_key, os.environ.get(ENV_DATA), str(Path.home()), bool(download), dev)
    if key not in _CACHE:
        data = _LOADERS[name](root, bool(download), dev)
        if not isinstance(data, (Data, imagenet.ImageFolderData)):
            raise TypeError(
                f"the loader for {name!r} returned {type(data).__name__}, not Data or ImageFolderData"
            )
        _CACHE[key] = data.to(dev)
    return _CACHE[key]
