"""Build rethinkkit's embedded dataset ``fashion-mnist-mini`` from the real Fashion-MNIST.

Where it comes from
    Fashion-MNIST (Xiao, Rasul & Vollgraf 2017, https://github.com/zalandoresearch/fashion-mnist),
    read from its four idx files -- by default Debian's package ``dataset-fashion-mnist``
    (``/usr/share/datasets/fashion-mnist``), or any folder holding
    ``train-images-idx3-ubyte[.gz]``, ``train-labels-idx1-ubyte[.gz]``,
    ``t10k-images-idx3-ubyte[.gz]`` and ``t10k-labels-idx1-ubyte[.gz]``.

What it is
    A stratified subset: 300 training images per class (3000) drawn from the real training
    split and 100 test images per class (1000) from the real test split, chosen without
    replacement by ``numpy.random.default_rng(SEED)`` and kept in their original order.
    Stored 28x28 uint8 (rethinkkit pads to 32x32 at load time) with uint8 labels and the
    indices into the original splits, in a deflated ``.npz`` written with fixed zip
    timestamps so that a rebuild is byte-identical (given the same zlib).

How to rebuild
    python scripts/build_fashion_mnist_mini.py [--source DIR] [--out PATH]

    The default output is ``rethinkkit/data_files/fashion-mnist-mini.npz``; the licence notice
    ``LICENSE-fashion-mnist.txt`` is written next to it. tests/test_data.py checks that a
    rebuild gives the committed arrays.

Licence
    Fashion-MNIST is Copyright (c) 2017 Zalando SE and distributed under the MIT licence; the
    notice travels with the subset in ``LICENSE-fashion-mnist.txt``.
"""

from __future__ import annotations

import argparse
import io
import zipfile
from pathlib import Path

import numpy as np

from rethinkkit.data import DEBIAN_FASHION_MNIST, read_fashion_mnist

SEED = 20190506  # fixed: the subset is part of the package and must not change between builds
TRAIN_PER_CLASS = 300
TEST_PER_CLASS = 100
NUM_CLASSES = 10

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "rethinkkit" / "data_files" / "fashion-mnist-mini.npz"
LICENSE_NAME = "LICENSE-fashion-mnist.txt"

LICENSE_TEXT = """\
fashion-mnist-mini.npz is a subset (3000 training and 1000 test images) of Fashion-MNIST,
https://github.com/zalandoresearch/fashion-mnist, built by scripts/build_fashion_mnist_mini.py.
Fashion-MNIST is distributed under the following licence:

The MIT License (MIT)

Copyright (c) 2017 Zalando SE, https://tech.zalando.com

Permission is hereby granted, free of charge, to any person obtaining a copy of this software
and associated documentation files (the "Software"), to deal in the Software without
restriction, including without limitation the rights to use, copy, modify, merge, publish,
distribute, sublicense, and/or sell copies of the Software, and to permit persons to whom the
Software is furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or
substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING
BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM,
DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
"""


def _stratified(labels: np.ndarray, per_class: int, rng: np.random.Generator) -> np.ndarray:
    picks = [rng.choice(np.flatnonzero(labels == c), per_class, replace=False) for c in range(NUM_CLASSES)]
    return np.sort(np.concatenate(picks))


def build_arrays(source: str | Path = DEBIAN_FASHION_MNIST) -> dict[str, np.ndarray]:
    """The subset's arrays, selected from the real data in ``source``."""
    full = read_fashion_mnist(source)
    rng = np.random.default_rng(SEED)
    train = _stratified(full["train_labels"], TRAIN_PER_CLASS, rng)
    test = _stratified(full["test_labels"], TEST_PER_CLASS, rng)
    return {
        "train_images": full["train_images"][train],
        "train_labels": full["train_labels"][train],
        "test_images": full["test_images"][test],
        "test_labels": full["test_labels"][test],
        "train_index": train.astype(np.int32),  # positions in the original 60000 / 10000
        "test_index": test.astype(np.int32),
    }


def write_npz(path: str | Path, arrays: dict[str, np.ndarray]) -> None:
    """Like ``np.savez_compressed``, with fixed zip timestamps (reproducible bytes)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for key, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buffer.getvalue(), compresslevel=9)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=DEBIAN_FASHION_MNIST,
                        help="folder with the four Fashion-MNIST idx files (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="the .npz to write (default: %(default)s)")
    args = parser.parse_args(argv)
    arrays = build_arrays(args.source)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_npz(args.out, arrays)
    (args.out.parent / LICENSE_NAME).write_text(LICENSE_TEXT)
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes) and {args.out.parent / LICENSE_NAME}")


if __name__ == "__main__":
    main()
