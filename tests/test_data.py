"""rethinkkit.data: on-device augmentation, epoch batching, dataset loading and subsets (CPU)."""

from __future__ import annotations

import gzip
import importlib.util
import math
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import rethinkkit.data as rd

REPO = Path(__file__).resolve().parents[1]
DEBIAN = Path("/usr/share/datasets/fashion-mnist")
needs_debian = pytest.mark.skipif(
    not (DEBIAN / "train-images-idx3-ubyte.gz").is_file(),
    reason=f"real Fashion-MNIST not installed at {DEBIAN} (apt-get install dataset-fashion-mnist)",
)


@pytest.fixture(autouse=True)
def isolated_roots(tmp_path, monkeypatch):
    """No $RETHINKKIT_DATA and an empty home, so only the roots a test creates exist; the
    registry and the load cache are restored afterwards (other test files share them)."""
    monkeypatch.delenv(rd.ENV_DATA, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(rd, "_LOADERS", dict(rd._LOADERS))
    monkeypatch.setattr(rd, "_CACHE", {})


def normalised_black(mean, std) -> torch.Tensor:
    """(0 - mean) / std in float32, computed independently of rd.normalize."""
    return (torch.zeros(len(mean)) - torch.tensor(mean, dtype=torch.float32)) / torch.tensor(
        std, dtype=torch.float32
    )


def marker_images(n: int, row: int, col: int, size: int = 32) -> torch.Tensor:
    images = torch.zeros((n, 1, size, size), dtype=torch.uint8)
    images[:, 0, row, col] = 255
    return images


def marker_positions(out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(row, col) of the single marker pixel in each image of a (B, 1, H, W) batch."""
    flat = out[:, 0].flatten(1)
    assert torch.equal((flat == 255).sum(1), torch.ones(len(out), dtype=torch.int64))
    where = flat.argmax(1)
    return where // out.shape[-1], where % out.shape[-1]


def bound(n: int, p: float = 0.5, sds: float = 6.0) -> float:
    """A binomial proportion's deviation that a correct sampler exceeds with p < 1e-8."""
    return sds * math.sqrt(p * (1 - p) / n)


# --------------------------------------------------------------------------------------------
# Devices


def test_resolve_device():
    assert rd.resolve_device("cpu") == torch.device("cpu")
    assert rd.resolve_device(torch.device("cpu")) == torch.device("cpu")
    auto = rd.resolve_device(None)
    assert auto == rd.resolve_device("auto")
    assert auto.type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="'cpu', 'cuda'"):
        rd.resolve_device("gpu")
    with pytest.raises(TypeError):
        rd.resolve_device(0)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_is_a_clear_error():
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        rd.resolve_device("cuda")
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        rd.load("fashion-mnist-mini", device="cuda")


# --------------------------------------------------------------------------------------------
# augment / normalize


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), row=st.integers(4, 27), col=st.integers(4, 27))
def test_crop_offsets_lie_in_0_to_8(seed, row, col):
    images = marker_images(512, row, col)
    gen = torch.Generator().manual_seed(seed)
    out = rd.augment(images, gen, pad=4, flip=False)
    assert out.dtype == torch.uint8 and out.shape == images.shape
    r, c = marker_positions(out)
    # output[i, j] = padded[i + top, j + left] = image[i + top - 4, j + left - 4]
    dr, dc = (r - row).unique().tolist(), (c - col).unique().tolist()
    assert dr == list(range(-4, 5)) and dc == list(range(-4, 5))  # all 9 offsets, nothing else


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), row=st.integers(4, 27), col=st.integers(4, 10))
def test_flip_mirrors_the_column(seed, row, col):
    out = rd.augment(marker_images(256, row, col), torch.Generator().manual_seed(seed))
    r, c = marker_positions(out)
    assert ((r - row).abs() <= 4).all()
    kept = (c - col).abs() <= 4
    mirrored = (c - (31 - col)).abs() <= 4  # disjoint from `kept` for col <= 10
    assert (kept ^ mirrored).all()
    assert 0 < int(mirrored.sum()) < 256


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_offsets_uniform_and_flip_rate_half(seed):
    n = 18_000
    gen = torch.Generator().manual_seed(seed)
    r, c = marker_positions(rd.augment(marker_images(n, 16, 6), gen))
    flipped = c > 16
    assert abs(flipped.float().mean().item() - 0.5) < bound(n)
    col_shift = torch.where(flipped, c - (31 - 6), c - 6)
    for shift in (r - 16, col_shift):
        counts = torch.bincount(shift + 4, minlength=9).double() / n
        assert len(counts) == 9
        assert (counts - 1 / 9).abs().max().item() < bound(n, 1 / 9)


def test_no_flip_and_no_pad_is_identity():
    images = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8)
    assert torch.equal(rd.augment(images, torch.Generator(), pad=0, flip=False), images)
    with pytest.raises(ValueError):
        rd.augment(images, torch.Generator(), pad=-1)


def test_normalize_per_channel_float32():
    images = torch.full((2, 3, 4, 4), 255, dtype=torch.uint8)
    images[:, 1] = 0
    mean, std = (0.5, 0.25, 0.1), (0.5, 0.25, 0.2)
    out = rd.normalize(images, mean, std)
    assert out.dtype == torch.float32 and out.shape == images.shape
    assert torch.allclose(out[:, 0], torch.tensor(1.0)) and torch.allclose(out[:, 2], torch.tensor(4.5))
    assert torch.equal(out[:, 1], torch.full((2, 4, 4), -1.0))


def white_data(n: int = 200) -> rd.Data:
    images = torch.full((n, 3, 32, 32), 255, dtype=torch.uint8)
    return rd.from_tensors("white", images, torch.zeros(n, dtype=torch.long), images[:10],
                           torch.zeros(10, dtype=torch.long),
                           num_classes=10, mean=rd.CIFAR_MEAN, std=rd.CIFAR_STD, device="cpu")


def test_padded_border_is_normalised_black():
    data = white_data()
    black = normalised_black(rd.CIFAR_MEAN, rd.CIFAR_STD).view(1, 3, 1, 1)
    white = rd.normalize(torch.full((1, 3, 1, 1), 255, dtype=torch.uint8), rd.CIFAR_MEAN, rd.CIFAR_STD)
    borders = 0
    for x, _ in data.train_batches(64, seed=3, epoch=0):
        is_black, is_white = x == black, x == white
        assert (is_black ^ is_white).all()  # every pixel is exactly one of the two values
        assert torch.equal(is_black, is_black[:, :1].expand_as(is_black))  # same in all channels
        inside = ~is_black[:, 0]  # (B, H, W): the image is a rectangle, the border a frame
        rows, cols = inside.any(2), inside.any(1)
        assert torch.equal(inside, rows[:, :, None] & cols[:, None, :])
        assert ((32 - rows.sum(1)) <= 4).all() and ((32 - cols.sum(1)) <= 4).all()
        borders += int(is_black.any(3).any(2).any(1).sum())
    assert borders > 100  # P(offset 4, 4) = 1/81: almost every image has a border


# --------------------------------------------------------------------------------------------
# Epoch batching


def id_data(n: int = 103) -> rd.Data:
    """Label i marks training image i, whose pixels are all i."""
    images = torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1).expand(n, 1, 8, 8).contiguous()
    return rd.from_tensors("ids", images, torch.arange(n), images[:7], torch.arange(7),
                           num_classes=n, mean=(0.5,), std=(0.25,), device="cpu")


@pytest.mark.parametrize("augment", [True, False])
def test_every_image_once_per_epoch_last_partial_batch_kept(augment):
    data = id_data(103)
    assert data.num_train_batches(10) == 11 and data.num_train_batches(103) == 1
    batches = list(data.train_batches(10, seed=0, epoch=0, augment=augment))
    assert [len(y) for _, y in batches] == [10] * 10 + [3]
    labels = torch.cat([y for _, y in batches])
    assert torch.equal(labels.sort().values, torch.arange(103))
    assert not torch.equal(labels, torch.arange(103))  # shuffled
    for x, y in batches:
        assert x.dtype == torch.float32 and x.shape == (len(y), 1, 8, 8) and y.dtype == torch.int64
    if not augment:  # unaugmented images still match their labels
        x, y = batches[0]
        assert torch.allclose(x[:, 0, 0, 0], (y.float() / 255 - 0.5) / 0.25)


def test_batches_are_determined_by_seed_and_epoch_only():
    data = white_data(50)
    data = rd.from_tensors("rand", torch.randint(0, 256, (50, 3, 32, 32), dtype=torch.uint8),
                           torch.arange(50) % 10, data.test_images, data.test_labels,
                           num_classes=10, mean=rd.CIFAR_MEAN, std=rd.CIFAR_STD, device="cpu")

    def epoch(seed, k):
        return [(x, y) for x, y in data.train_batches(16, seed=seed, epoch=k)]

    def same(a, b):
        return all(torch.equal(xa, xb) and torch.equal(ya, yb) for (xa, ya), (xb, yb) in zip(a, b))

    rng_state = torch.get_rng_state()
    fresh_epoch_3 = epoch(7, 3)
    for k in range(3):  # earlier epochs running first change nothing (resume-safe)
        epoch(7, k)
    assert same(fresh_epoch_3, epoch(7, 3))
    order = torch.cat([y for _, y in epoch(7, 3)])
    assert not torch.equal(order, torch.cat([y for _, y in epoch(7, 4)]))
    assert not torch.equal(order, torch.cat([y for _, y in epoch(8, 3)]))
    assert torch.equal(torch.get_rng_state(), rng_state)  # the global RNG is untouched


def test_test_batches_in_order_not_augmented():
    data = id_data(20)
    batches = list(data.test_batches(3))
    assert [len(y) for _, y in batches] == [3, 3, 1]
    assert torch.equal(torch.cat([y for _, y in batches]), torch.arange(7))
    x = torch.cat([x for x, _ in batches])
    expected = (torch.arange(7, dtype=torch.float32) / 255 - 0.5) / 0.25
    assert torch.equal(x, expected.view(7, 1, 1, 1).expand(7, 1, 8, 8))
    with pytest.raises(ValueError):
        next(data.test_batches(0))


# --------------------------------------------------------------------------------------------
# CIFAR in its on-disk format, written by the test


def cifar_images(rng, n):
    return rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)  # HWC, like CIFAR's .data


def planes(images):
    """CIFAR's row format: 3072 bytes, the R plane, then G, then B (each row-major 32x32)."""
    return images.transpose(0, 3, 1, 2).reshape(len(images), 3072)


def dump(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(obj))


def write_cifar10(root: Path, rng, n_train=20, n_test=10):
    train, test = cifar_images(rng, n_train), cifar_images(rng, n_test)
    train_y, test_y = rng.integers(0, 10, n_train), rng.integers(0, 10, n_test)
    folder = root / "cifar-10-batches-py"
    for i, (x, y) in enumerate(zip(np.array_split(train, 5), np.array_split(train_y, 5)), 1):
        dump(folder / f"data_batch_{i}", {"batch_label": f"training batch {i} of 5",
                                          "data": planes(x), "labels": y.tolist()})
    dump(folder / "test_batch", {"batch_label": "testing batch 1 of 1", "data": planes(test),
                                 "labels": test_y.tolist()})
    dump(folder / "batches.meta", {"label_names": [f"c{i}" for i in range(10)],
                                   "num_cases_per_batch": n_train // 5, "num_vis": 3072})
    return train, train_y, test, test_y


def write_cifar100(root: Path, rng, n_train=20, n_test=10):
    train, test = cifar_images(rng, n_train), cifar_images(rng, n_test)
    train_y, test_y = rng.integers(0, 100, n_train), rng.integers(0, 100, n_test)
    folder = root / "cifar-100-python"
    for name, x, y in (("train", train, train_y), ("test", test, test_y)):
        dump(folder / name, {"data": planes(x), "fine_labels": y.tolist(),
                             "coarse_labels": (y // 5).tolist()})
    dump(folder / "meta", {"fine_label_names": [f"f{i}" for i in range(100)],
                           "coarse_label_names": [f"k{i}" for i in range(20)]})
    return train, train_y, test, test_y


@pytest.fixture
def genuine_md5_unchecked(monkeypatch):
    """torchvision checks the md5 of the genuine CIFAR files; the test's files are not those."""
    import torchvision.datasets.cifar

    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda *args, **kw: True)


@pytest.mark.parametrize("name,write,num_classes", [("cifar10", write_cifar10, 10),
                                                    ("cifar100", write_cifar100, 100)])
def test_cifar_files_land_in_nchw(tmp_path, genuine_md5_unchecked, name, write, num_classes):
    train, train_y, test, test_y = write(tmp_path, np.random.default_rng(0))
    data = rd.load(name, root=tmp_path, device="cpu")
    assert data.name == name and data.num_classes == num_classes and data.in_channels == 3
    assert data.info.mean == rd.CIFAR_MEAN and data.info.std == rd.CIFAR_STD
    assert data.train_images.dtype == torch.uint8 and data.train_images.shape == (20, 3, 32, 32)
    assert data.test_images.shape == (10, 3, 32, 32)
    assert torch.equal(data.train_images, torch.from_numpy(train).permute(0, 3, 1, 2))
    assert torch.equal(data.test_images, torch.from_numpy(test).permute(0, 3, 1, 2))
    assert torch.equal(data.train_labels, torch.from_numpy(train_y).long())
    assert torch.equal(data.test_labels, torch.from_numpy(test_y).long())
    rows = planes(train)  # spot checks against the raw byte layout
    assert data.train_images[0, 0, 1, 2] == rows[0, 0 * 1024 + 1 * 32 + 2]  # R, row 1, col 2
    assert data.train_images[13, 1, 5, 7] == rows[13, 1 * 1024 + 5 * 32 + 7]  # G
    assert data.train_images[19, 2, 31, 0] == rows[19, 2 * 1024 + 31 * 32 + 0]  # B
    assert rd.load(name, root=tmp_path, device="cpu") is data  # cached


def test_cifar_found_through_env_root(tmp_path, genuine_md5_unchecked, monkeypatch):
    write_cifar10(tmp_path / "env", np.random.default_rng(1))
    monkeypatch.setenv(rd.ENV_DATA, str(tmp_path / "env"))
    assert rd.load("cifar10", root=tmp_path / "empty", device="cpu").train_images.shape[0] == 20


def test_cifar_files_failing_md5_are_reported_as_corrupt(tmp_path):
    write_cifar10(tmp_path, np.random.default_rng(2))  # not the genuine bytes, md5 unpatched
    with pytest.raises(rd.DatasetCorrupt, match="download=True") as err:
        rd.load("cifar10", root=tmp_path, device="cpu")
    assert str(tmp_path / "cifar-10-batches-py") in str(err.value)


def test_missing_cifar_names_paths_and_download(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(rd.DatasetNotFound) as err:
        rd.load("cifar10", root=empty, device="cpu")
    message = str(err.value)
    assert isinstance(err.value, FileNotFoundError)
    assert str(empty) in message and str(tmp_path / "home" / ".cache" / "rethinkkit" / "data") in message
    assert "download=True" in message and "-p download true" in message


def test_unknown_name_lists_names():
    with pytest.raises(ValueError, match="fashion-mnist-mini") as err:
        rd.load("cifar-10")
    assert all(name in str(err.value) for name in rd.names())
    assert rd.names()[:4] == ["cifar10", "cifar100", "fashion-mnist", "fashion-mnist-mini"]


# --------------------------------------------------------------------------------------------
# Fashion-MNIST


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, dtype=">u4").tobytes()
    return header + array.astype(np.uint8).tobytes()


def write_fashion(folder: Path, rng, n_train=7, n_test=3):
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {"train-images-idx3-ubyte": rng.integers(1, 256, (n_train, 28, 28)),
              "train-labels-idx1-ubyte": rng.integers(0, 10, n_train),
              "t10k-images-idx3-ubyte": rng.integers(1, 256, (n_test, 28, 28)),
              "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test)}
    for i, (stem, array) in enumerate(arrays.items()):  # torchvision keeps both forms; mix them
        raw = idx_bytes(array)
        if i % 2:
            (folder / stem).write_bytes(raw)
        else:
            (folder / f"{stem}.gz").write_bytes(gzip.compress(raw))
    return arrays


def test_fashion_mnist_from_torchvision_raw_layout(tmp_path):
    arrays = write_fashion(tmp_path / "FashionMNIST" / "raw", np.random.default_rng(0))
    data = rd.load("fashion-mnist", root=tmp_path, device="cpu")
    assert data.in_channels == 1 and data.num_classes == 10
    assert data.train_images.shape == (7, 1, 32, 32) and data.test_images.shape == (3, 1, 32, 32)
    inner = data.train_images[:, 0, 2:30, 2:30]
    assert torch.equal(inner, torch.from_numpy(arrays["train-images-idx3-ubyte"].astype(np.uint8)))
    border = data.train_images[:, 0].clone()
    border[:, 2:30, 2:30] = 0
    assert int(border.max()) == 0  # zero-padded 28 -> 32 (the test's images have no zeros)
    assert torch.equal(data.test_labels, torch.from_numpy(arrays["t10k-labels-idx1-ubyte"]))


def test_corrupt_idx_file_is_a_clear_error(tmp_path):
    folder = tmp_path / "fashion-mnist"
    write_fashion(folder, np.random.default_rng(0))
    bad = folder / "t10k-labels-idx1-ubyte"
    bad.write_bytes(b"\x00\x00\x08\x03" + bad.read_bytes()[4:])  # images' magic on a label file
    with pytest.raises(rd.DatasetCorrupt, match="t10k-labels-idx1-ubyte") as err:
        rd.load("fashion-mnist", root=tmp_path, device="cpu")
    assert "00000801" in str(err.value)
    truncated = folder / "t10k-labels-idx1-ubyte"
    truncated.write_bytes(idx_bytes(np.zeros(3))[:-1])
    with pytest.raises(rd.DatasetCorrupt, match="truncated"):
        rd.load("fashion-mnist", root=tmp_path, device="cpu")


def test_missing_fashion_mnist_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setattr(rd.fashion_mnist, "DEBIAN_FASHION_MNIST", tmp_path / "not-installed")
    with pytest.raises(rd.DatasetNotFound) as err:
        rd.load("fashion-mnist", root=tmp_path / "r", device="cpu")
    message = str(err.value)
    for path in (tmp_path / "r", tmp_path / "r" / "fashion-mnist", tmp_path / "r" / "FashionMNIST" / "raw",
                 tmp_path / "not-installed"):
        assert f"- {path}\n" in message
    assert "apt-get install dataset-fashion-mnist" in message and "download=True" in message


@needs_debian
def test_fashion_mnist_from_debian():
    data = rd.load("fashion-mnist", device="cpu")
    assert (data.num_train, data.num_test) == (60_000, 10_000)
    assert data.train_images.shape[1:] == (1, 32, 32) and data.train_images.dtype == torch.uint8
    assert torch.equal(data.train_labels.bincount(), torch.full((10,), 6000))
    assert int(data.train_images[:, :, :2].max()) == 0 and int(data.train_images[:, :, :, 30:].max()) == 0
    x = data.train_images.double() / 255  # the hard-coded constants match the padded data
    assert abs(x.mean().item() - rd.FASHION_MNIST_MEAN[0]) < 5e-5
    assert abs(x.std(unbiased=False).item() - rd.FASHION_MNIST_STD[0]) < 5e-5


def test_fashion_mnist_mini_is_embedded_and_balanced():
    data = rd.load("fashion-mnist-mini", device="cpu")
    assert (data.num_train, data.num_test) == (3000, 1000)
    assert data.train_images.shape[1:] == (1, 32, 32) and data.num_classes == 10
    assert torch.equal(data.train_labels.bincount(), torch.full((10,), 300))
    assert torch.equal(data.test_labels.bincount(), torch.full((10,), 100))
    assert data.info.mean == rd.FASHION_MNIST_MEAN and data.info.std == rd.FASHION_MNIST_STD
    assert rd.load("fashion-mnist-mini", device="cpu") is data
    size = (REPO / "rethinkkit" / "data_files" / rd.MINI_RESOURCE).stat().st_size
    assert size < 3_000_000
    assert "Zalando SE" in (REPO / "rethinkkit" / "data_files" / "LICENSE-fashion-mnist.txt").read_text()


@needs_debian
def test_build_script_regenerates_the_embedded_arrays():
    spec = importlib.util.spec_from_file_location("build_mini", REPO / "scripts" / "build_fashion_mnist_mini.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    built = script.build_arrays(DEBIAN)
    with np.load(REPO / "rethinkkit" / "data_files" / rd.MINI_RESOURCE) as shipped:
        assert sorted(shipped.files) == sorted(built)
        for key, array in built.items():
            assert np.array_equal(shipped[key], array), key
    full = rd.read_fashion_mnist(DEBIAN)  # the subset really is those images of the real splits
    assert np.array_equal(full["train_images"][built["train_index"]], built["train_images"])
    assert np.array_equal(full["test_labels"][built["test_index"]], built["test_labels"])


# --------------------------------------------------------------------------------------------
# subset / from_tensors / register / cache


def labelled_data(train_counts, test_counts) -> rd.Data:
    def split(counts):
        y = torch.cat([torch.full((n,), c) for c, n in enumerate(counts)])
        y = y[torch.randperm(len(y), generator=torch.Generator().manual_seed(0))]
        return torch.randint(0, 256, (len(y), 1, 4, 4), dtype=torch.uint8), y

    return rd.from_tensors("counts", *split(train_counts), *split(test_counts),
                           num_classes=len(train_counts), mean=(0.5,), std=(0.5,), device="cpu")


def test_subset_is_stratified_and_deterministic():
    data = labelled_data([50] * 10, [20] * 10)
    sub = data.subset(n_train=100, n_test=35, seed=1)
    assert torch.equal(sub.train_labels.bincount(minlength=10), torch.full((10,), 10))
    test_counts = sub.test_labels.bincount(minlength=10)
    assert int(test_counts.sum()) == 35 and set(test_counts.tolist()) == {3, 4}
    again = data.subset(n_train=100, n_test=35, seed=1)
    assert torch.equal(sub.train_images, again.train_images) and torch.equal(sub.test_labels, again.test_labels)
    other = data.subset(n_train=100, n_test=35, seed=2)
    assert not torch.equal(sub.train_images, other.train_images)
    kept = data.subset(n_train=30)
    assert kept.test_images is data.test_images and kept.num_train == 30
    assert data.subset() is data and sub.name == "counts[train 100, test 35, seed 1]"
    assert sub.num_classes == data.num_classes and sub.info.mean == data.info.mean
    for bad in ({"n_train": 501}, {"n_test": 201}, {"n_train": 0}):
        with pytest.raises(ValueError, match="n_t"):
            data.subset(**bad)


def test_subset_round_robin_keeps_balance_when_classes_are_unequal():
    data = labelled_data([3, 40, 40], [5, 5, 5])
    counts = data.subset(n_train=30, seed=0).train_labels.bincount().tolist()
    assert counts[0] == 3 and sorted(counts[1:]) == [13, 14]  # the small class runs out, the rest even


def test_from_tensors_validates_and_normalises():
    x = torch.randint(0, 256, (6, 2, 8, 8), dtype=torch.uint8)
    data = rd.from_tensors("t", x, [0, 1, 2, 0, 1, 2], x[:2], np.array([2, 1]), num_classes=3,
                           mean=(0.1, 0.2), std=(0.3, 0.4), device="cpu")
    assert data.info == rd.DatasetInfo("t", 3, 2, 8, (0.1, 0.2), (0.3, 0.4))
    assert data.test_labels.dtype == torch.int64 and data.device == torch.device("cpu")
    assert data.to("cpu") is data
    grey = rd.from_tensors("g", x[:, 0], [0] * 6, x[:2, 0], [0, 0], num_classes=1, mean=(0.5,),
                           std=(0.5,), device="cpu")
    assert grey.in_channels == 1 and grey.train_images.shape == (6, 1, 8, 8)
    with pytest.raises(ValueError, match="labels must lie in 0..2"):
        rd.from_tensors("t", x, [0, 1, 2, 3, 1, 2], x[:2], [0, 1], num_classes=3, mean=(0.1, 0.2),
                        std=(0.3, 0.4), device="cpu")
    with pytest.raises(ValueError, match="one value per channel"):
        rd.from_tensors("t", x, [0] * 6, x[:2], [0, 1], num_classes=3, mean=(0.1,), std=(0.3,),
                        device="cpu")
    with pytest.raises(ValueError, match="uint8"):
        rd.from_tensors("t", x.float(), [0] * 6, x[:2], [0, 1], num_classes=3, mean=(0.1, 0.2),
                        std=(0.3, 0.4), device="cpu")


def test_register_and_cache():
    calls = []

    def loader(root, download, device):
        calls.append((root, download, device))
        return labelled_data([4, 4], [2, 2]).to(device)

    rd.register("synthetic-two-class", loader)
    assert "synthetic-two-class" in rd.names()
    first = rd.load("synthetic-two-class", device="cpu")
    assert rd.load("synthetic-two-class", device="cpu") is first
    assert calls == [(None, False, torch.device("cpu"))]
    assert rd.load("synthetic-two-class", root="x", device="cpu") is not first  # another key
    rd.register("synthetic-two-class", loader)  # re-registering drops the cached data
    assert rd.load("synthetic-two-class", device="cpu") is not first
    with pytest.raises(ValueError, match="built-in"):
        rd.register("cifar10", loader)
