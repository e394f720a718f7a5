"""Datasets by name -> uint8 tensors resident on the training device, with on-device augmentation.

A :class:`Data` holds the whole train and test split as ``uint8`` NCHW tensors on one device.
Batches are drawn with batched tensor ops on that device (shuffle, pad-and-crop, flip,
normalise): no DataLoader workers, no PIL, no per-image Python loop and no host sync.

The augmentation follows the original code (REFERENCE.md, "Augmentation (CIFAR)"): the uint8
image is zero-padded by 4 pixels (a black border), randomly cropped back to its size, flipped
horizontally with p=0.5, and only then normalised, so border pixels become ``(0 - mean) / std``.

Datasets: ``cifar10`` and ``cifar100`` (torchvision's on-disk format, downloaded on request),
``fashion-mnist`` (a local root, Debian's ``dataset-fashion-mnist`` package, or a torchvision
download) and ``fashion-mnist-mini`` (a stratified subset shipped inside the package). Tests
add synthetic datasets with :func:`register` or build them with :func:`from_tensors`.
A dataset that cannot be found raises :class:`DatasetNotFound` naming every path tried; this
module never falls back to other data.
"""

from __future__ import annotations

import dataclasses

import gzip
import io
import math
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

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

# Per-channel constants of the original code (REFERENCE.md, "Augmentation (CIFAR)").
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2023, 0.1994, 0.2010)

# Fashion-MNIST after zero-padding 28x28 -> 32x32 (two black pixels on every side): mean and
# population std of x/255 over every pixel of the 60000 real training images, computed once in
# float64 (0.21899983..., 0.33181137...) and rounded to 4 decimals like the CIFAR constants.
FASHION_MNIST_MEAN = (0.2190,)
FASHION_MNIST_STD = (0.3318,)

ENV_DATA = "RETHINKKIT_DATA"
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
MINI_RESOURCE = "fashion-mnist-mini.npz"

_DEVICE_CHOICES = "'auto' (or None), 'cpu', 'cuda', 'cuda:N', 'mps'"


class DatasetNotFound(FileNotFoundError):
    """A dataset's files are in none of the places tried; the message says how to get them."""


class DatasetCorrupt(ValueError):
    """A dataset file exists but is not in the expected format (truncated, wrong file, ...)."""


# --------------------------------------------------------------------------------------------
# Devices


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None``/``"auto"`` -> the current CUDA device if available, else CPU.

    ``"cuda"`` resolves to an indexed device (``cuda:0``) so that equal devices compare equal.
    """
    if device is None or (isinstance(device, str) and device.strip().lower() == "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("cpu")
    if isinstance(device, str):
        try:
            dev = torch.device(device.strip())
        except RuntimeError:
            raise ValueError(
                f"unknown device {device!r}; expected one of {_DEVICE_CHOICES}"
            ) from None
    elif isinstance(device, torch.device):
        dev = device
    else:
        raise TypeError(
            f"device must be a str, torch.device or None, not {type(device).__name__}; "
            f"expected one of {_DEVICE_CHOICES}"
        )
    if dev.type == "cpu":
        return torch.device("cpu")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(
                f"device {str(device)!r} was requested but CUDA is not available here "
                f"(torch {torch.__version__}, built for CUDA {torch.version.cuda}, "
                f"{torch.cuda.device_count()} GPU(s) visible); use device='cpu' or 'auto'"
            )
        index = torch.cuda.current_device() if dev.index is None else dev.index
        if index >= torch.cuda.device_count():
            raise RuntimeError(
                f"device {str(device)!r} was requested but only {torch.cuda.device_count()} "
                f"CUDA device(s) are visible (cuda:0 .. cuda:{torch.cuda.device_count() - 1})"
            )
        return torch.device("cuda", index)
    if dev.type == "mps":
        if not torch.backends.mps.is_available():
            raise RuntimeError(
                f"device {str(device)!r} was requested but MPS is not available here; "
                "use device='cpu' or 'auto'"
            )
        return torch.device("mps")
    raise ValueError(f"unsupported device {str(device)!r}; expected one of {_DEVICE_CHOICES}")


# --------------------------------------------------------------------------------------------
# Augmentation and normalisation (pure functions on batches)


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


_augment = augment  # Data.train_batches has a parameter named `augment`


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


# --------------------------------------------------------------------------------------------
# Data


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
    ) -> Iterator[tuple[Tensor, Tensor]]:
        """One epoch of shuffled (float32 images, int64 labels) batches; last partial batch kept.

        The permutation and the crop/flip draws come from one generator on this device seeded
        from (seed, epoch) only. ``augment=False`` gives normalised shuffled batches. ``pad``
        and ``flip`` are the paper's augmentation (4, True); change them only as a named
        deviation.
        """
        _check_batch_size(batch_size)
        gen = _epoch_generator(self.device, seed, epoch)
        order = torch.randperm(self.num_train, generator=gen, device=self.device)
        for start in range(0, self.num_train, batch_size):
            index = order[start : start + batch_size]
            images = self.train_images[index]
            if augment:
                images = _augment(images, gen, pad=pad, flip=flip)
            yield self.normalize(images), self.train_labels[index]

    def test_batches(self, batch_size: int) -> Iterator[tuple[Tensor, Tensor]]:
        """The test set in order, normalised, not augmented; last partial batch kept."""
        _check_batch_size(batch_size)
        for start in range(0, self.num_test, batch_size):
            images = self.test_images[start : start + batch_size]
            yield self.normalize(images), self.test_labels[start : start + batch_size]

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


# --------------------------------------------------------------------------------------------
# Where data lives


def _default_cache_dir() -> Path:
    return Path.home() / ".cache" / "rethinkkit" / "data"


def _base_roots(root: str | os.PathLike | None) -> list[Path]:
    """The roots tried, in order: the argument, $RETHINKKIT_DATA, ~/.cache/rethinkkit/data."""
    roots = []
    if root is not None:
        roots.append(Path(root).expanduser())
    env = os.environ.get(ENV_DATA)
    if env:
        roots.append(Path(env).expanduser())
    roots.append(_default_cache_dir())
    unique: list[Path] = []
    for r in roots:
        if r not in unique:
            unique.append(r)
    return unique


def _bulleted(paths: Sequence[Path]) -> str:
    return "\n".join(f"  - {p}" for p in paths)


# --------------------------------------------------------------------------------------------
# CIFAR-10 / CIFAR-100 (torchvision's on-disk format)


def _load_cifar(
    name: str, cls_name: str, num_classes: int, root, download: bool, device: torch.device
) -> Data:
    import torchvision.datasets as tvd

    cls = getattr(tvd, cls_name)
    files = [f for f, _ in cls.train_list + cls.test_list] + [cls.meta["filename"]]
    roots = _base_roots(root)
    found = next((r for r in roots if all((r / cls.base_folder / f).is_file() for f in files)), None)
    if found is None and not download:
        raise DatasetNotFound(
            f"{name} was not found. Looked for {cls.base_folder}/ with "
            f"{', '.join(files)} under:\n{_bulleted(roots)}\n"
            f"To get it, load with download=True (notebooks / papermill: `-p download true`), "
            f"which downloads {cls.url} into {roots[0]}; or pass root= (or set ${ENV_DATA}) "
            f"to a folder that contains {cls.base_folder}/."
        )
    where = found if found is not None else roots[0]
    try:
        if found is None:
            where.mkdir(parents=True, exist_ok=True)
        train = cls(str(where), train=True, download=found is None)
        test = cls(str(where), train=False, download=False)
    except RuntimeError as err:  # torchvision: "Dataset not found or corrupted"
        raise DatasetCorrupt(
            f"{name} files under {where / cls.base_folder} failed torchvision's integrity "
            f"(md5) check ({err}). Delete that folder and load with download=True to fetch "
            f"the genuine files."
        ) from err
    except OSError as err:  # no network, permission denied, ...
        raise DatasetNotFound(
            f"{name} was not found under:\n{_bulleted(roots)}\nand downloading {cls.url} "
            f"into {where} failed: {err}"
        ) from err

    def tensors(ds) -> tuple[Tensor, Tensor]:
        images = torch.from_numpy(np.ascontiguousarray(ds.data)).permute(0, 3, 1, 2).contiguous()
        return images, torch.as_tensor(ds.targets, dtype=torch.int64)

    return from_tensors(
        name,
        *tensors(train),
        *tensors(test),
        num_classes=num_classes,
        mean=CIFAR_MEAN,
        std=CIFAR_STD,
        device=device,
    )


def _load_cifar10(root, download: bool, device: torch.device) -> Data:
    return _load_cifar("cifar10", "CIFAR10", 10, root, download, device)


def _load_cifar100(root, download: bool, device: torch.device) -> Data:
    # The original code normalised CIFAR-100 with CIFAR-10's constants; kept for fidelity.
    return _load_cifar("cifar100", "CIFAR100", 100, root, download, device)


# --------------------------------------------------------------------------------------------
# Fashion-MNIST (idx files, read directly)

_FASHION_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def read_idx(path: str | os.PathLike, ndim: int) -> np.ndarray:
    """Read one uint8 idx file (``.gz`` or uncompressed) with ``ndim`` dimensions."""
    path = Path(path)
    raw = path.read_bytes()
    if path.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as err:  # gzip.BadGzipFile is an OSError
            raise DatasetCorrupt(
                f"{path} is not a valid gzip file ({err}); replace it with the original file"
            ) from err
    if len(raw) < 4 + 4 * ndim or raw[:2] != b"\x00\x00" or raw[2] != 0x08 or raw[3] != ndim:
        raise DatasetCorrupt(
            f"{path} is not a uint8 idx file with {ndim} dimension(s) (magic "
            f"{raw[:4].hex() or 'missing'}, expected 000008{ndim:02x}); replace it with the "
            f"original file"
        )
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    header = 4 + 4 * ndim
    if len(raw) - header != math.prod(shape):
        raise DatasetCorrupt(
            f"{path} declares shape {shape} ({math.prod(shape)} bytes) but holds "
            f"{len(raw) - header} bytes (truncated or wrong file); replace it with the original file"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape).copy()


def _idx_file(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def read_fashion_mnist(folder: str | os.PathLike) -> dict[str, np.ndarray]:
    """The four Fashion-MNIST idx files in ``folder`` as 28x28 uint8 images and uint8 labels."""
    folder = Path(folder)
    out = {}
    for key, stem in _FASHION_FILES.items():
        path = _idx_file(folder, stem)
        if path is None:
            raise DatasetNotFound(f"{folder} has no {stem} or {stem}.gz")
        out[key] = read_idx(path, ndim=3 if key.endswith("images") else 1)
    for split in ("train", "test"):
        if len(out[f"{split}_images"]) != len(out[f"{split}_labels"]):
            raise DatasetCorrupt(
                f"{folder}: {len(out[f'{split}_images'])} {split} images but "
                f"{len(out[f'{split}_labels'])} labels"
            )
    return out


def _fashion_mnist_folders(root) -> list[Path]:
    folders = []
    bases = _base_roots(root)
    for base in bases:
        if base == _default_cache_dir():  # Debian's system copy comes before the user cache
            folders.append(DEBIAN_FASHION_MNIST)
        folders += [base, base / "fashion-mnist", base / "FashionMNIST" / "raw"]
    unique: list[Path] = []
    for f in folders:
        if f not in unique:
            unique.append(f)
    return unique


def _has_fashion_mnist(folder: Path) -> bool:
    return all(_idx_file(folder, stem) is not None for stem in _FASHION_FILES.values())


def _pad_to_32(images: np.ndarray) -> Tensor:
    """28x28 -> (N, 1, 32, 32) with a black border of two pixels (done once, at load time)."""
    n, h, w = images.shape
    if (h, w) != (28, 28):
        raise DatasetCorrupt(f"expected 28x28 Fashion-MNIST images, got {h}x{w}")
    out = torch.zeros((n, 1, 32, 32), dtype=torch.uint8)
    out[:, 0, 2:30, 2:30] = torch.from_numpy(np.ascontiguousarray(images))
    return out


def _fashion_data(name: str, arrays: dict[str, np.ndarray], device: torch.device) -> Data:
    return from_tensors(
        name,
        _pad_to_32(arrays["train_images"]),
        torch.from_numpy(arrays["train_labels"].astype(np.int64)),
        _pad_to_32(arrays["test_images"]),
        torch.from_numpy(arrays["test_labels"].astype(np.int64)),
        num_classes=10,
        mean=FASHION_MNIST_MEAN,
        std=FASHION_MNIST_STD,
        device=device,
    )


def _load_fashion_mnist(root, download: bool, device: torch.device) -> Data:
    folders = _fashion_mnist_folders(root)
    found = next((f for f in folders if _has_fashion_mnist(f)), None)
    if found is None and download:
        from torchvision.datasets import FashionMNIST

        target = _base_roots(root)[0]
        try:
            target.mkdir(parents=True, exist_ok=True)
            FashionMNIST(str(target), train=True, download=True)
        except (OSError, RuntimeError) as err:
            raise DatasetNotFound(
                f"fashion-mnist was not found in:\n{_bulleted(folders)}\nand the torchvision "
                f"download into {target} failed: {err}"
            ) from err
        found = target / "FashionMNIST" / "raw"
    if found is None:
        stems = ", ".join(f"{s}[.gz]" for s in _FASHION_FILES.values())
        raise DatasetNotFound(
            f"fashion-mnist was not found. Looked for {stems} in:\n{_bulleted(folders)}\n"
            f"To get it: `apt-get install dataset-fashion-mnist` (Debian/Ubuntu, installs "
            f"{DEBIAN_FASHION_MNIST}); or pass root= (or set ${ENV_DATA}) to a folder holding "
            f"those files; or load with download=True (notebooks / papermill: "
            f"`-p download true`) to download with torchvision into {_base_roots(root)[0]}. "
            f"The embedded subset 'fashion-mnist-mini' needs no files at all."
        )
    return _fashion_data("fashion-mnist", read_fashion_mnist(found), device)


def _load_fashion_mnist_mini(root, download: bool, device: torch.device) -> Data:
    """The stratified subset shipped in rethinkkit/data_files (see
    scripts/build_fashion_mnist_mini.py); ``root`` and ``download`` do not apply."""
    resource = resources.files("rethinkkit") / "data_files" / MINI_RESOURCE
    try:
        raw = resource.read_bytes()
    except (FileNotFoundError, OSError) as err:
        raise DatasetNotFound(
            f"the embedded dataset {MINI_RESOURCE} is missing from the installed rethinkkit "
            f"package ({resource}); reinstall rethinkkit, or rebuild it with "
            f"scripts/build_fashion_mnist_mini.py"
        ) from err
    with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in _FASHION_FILES}
    return _fashion_data("fashion-mnist-mini", arrays, device)


def _load_imagenet(root, download: bool, device: torch.device):
    """ImageNet from an ImageFolder root, streamed from disk (rethinkkit.imagenet)."""
    from . import imagenet  # imagenet.py builds on this module

    return imagenet.load(root, download, device)


# --------------------------------------------------------------------------------------------
# Registry and cache

Loader = Callable[[object, bool, torch.device], Data]

_BUILTIN: dict[str, Loader] = {
    "cifar10": _load_cifar10,
    "cifar100": _load_cifar100,
    "fashion-mnist": _load_fashion_mnist,
    "fashion-mnist-mini": _load_fashion_mnist_mini,
    "imagenet": _load_imagenet,
}
_LOADERS: dict[str, Loader] = dict(_BUILTIN)
_CACHE: dict[tuple, Data] = {}


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
) -> Data:
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
        from .imagenet import ImageFolderData  # imagenet.py builds on this module

        if not isinstance(data, (Data, ImageFolderData)):
            raise TypeError(
                f"the loader for {name!r} returned {type(data).__name__}, not Data or ImageFolderData"
            )
        _CACHE[key] = data.to(dev)
    return _CACHE[key]
