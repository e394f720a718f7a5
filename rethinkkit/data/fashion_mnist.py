"""Fashion-MNIST: idx files read directly (a local root, Debian's ``dataset-fashion-mnist``
package, or a torchvision download), and ``fashion-mnist-mini``, the stratified subset
shipped inside the package. Images are padded 28x28 -> 32x32 with black at load time."""

from __future__ import annotations

import gzip
import io
import math
import os
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .container import Data, from_tensors
from .roots import ENV_DATA, DatasetCorrupt, DatasetNotFound, _base_roots, _bulleted, _default_cache_dir

# Fashion-MNIST after zero-padding 28x28 -> 32x32 (two black pixels on every side): mean and
# population std of x/255 over every pixel of the 60000 real training images, computed once in
# float64 (0.21899983..., 0.33181137...) and rounded to 4 decimals like the CIFAR constants.
FASHION_MNIST_MEAN = (0.2190,)
FASHION_MNIST_STD = (0.3318,)

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
MINI_RESOURCE = "fashion-mnist-mini.npz"

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
