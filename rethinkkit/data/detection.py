"""Detection data for the transfer experiment (Appendix B, Table 12).

- `voc2007`: PASCAL VOC 2007 through torchvision's `VOCDetection` (trainval for training, test for
  testing, as the paper), from a local root or downloaded on the user's machine; images are read
  lazily, one at a time.
- `fashion-mnist-detection`: a detection set built from real images, Fashion-MNIST items placed on
  larger black canvases with their boxes and classes (`canvases`), generated deterministically from
  the full Fashion-MNIST (Debian's `dataset-fashion-mnist`, a root, or a download); training canvases
  from the training images, test canvases from the test images.
- `fashion-mnist-detection-mini`: the same from the embedded `fashion-mnist-mini` subset: runs
  anywhere, with no files (smoke profiles, CI).

An item's box is the tight box of its pixels brighter than `INK` (Fashion-MNIST's items lie on a
black background), in the canvas's pixel coordinates (x1, y1, x2, y2), x2/y2 exclusive. Labels are
1..C (0 is the background, as torchvision's detectors count).
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .roots import DatasetNotFound, _base_roots, _bulleted

FASHION_CLASSES = ("t-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
                   "ankle boot")
VOC_CLASSES = ("aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "diningtable",
               "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor")
VOC_MEAN = (0.485, 0.456, 0.406)  # torchvision's ImageNet statistics: the backbone was trained with them
VOC_STD = (0.229, 0.224, 0.225)
FASHION_MEAN = (0.2190,)  # the classification data's (rethinkkit.data.fashion_mnist): the backbone's inputs
FASHION_STD = (0.3318,)
INK = 25  # a pixel brighter than this (of 255) belongs to the item; its box is the tight box of such pixels


@dataclass(frozen=True)
class CanvasSpec:
    """How `canvases` lays Fashion-MNIST items out: canvas side, items per canvas, item scale."""

    size: int = 96  # canvas side in pixels
    objects: tuple[int, int] = (1, 3)  # items per canvas, inclusive range
    scale: tuple[float, float] = (1.0, 2.0)  # an item's side is 28 x a uniform draw from this range
    attempts: int = 50  # placements tried per item before the item is left out (no overlaps)

    def __post_init__(self) -> None:
        low, high = self.objects
        if not (isinstance(low, int) and isinstance(high, int) and 1 <= low <= high):
            raise ValueError(f"objects is an inclusive range of items per canvas, e.g. (1, 3); got {self.objects!r}")
        if not 0 < self.scale[0] <= self.scale[1]:
            raise ValueError(f"scale is a range of item scales with 0 < low <= high; got {self.scale!r}")
        if round(28 * self.scale[1]) > self.size:
            raise ValueError(f"a canvas of {self.size} px cannot hold an item of {round(28 * self.scale[1])} px "
                             f"(28 x scale {self.scale[1]}): make the canvas larger or the scale smaller")


class DetectionSet:
    """Images with their boxes, labels and difficult flags; `item(i)` is (uint8 image C x H x W,
    {"boxes": float32 N x 4, "labels": int64 N, "difficult": bool N})."""

    def __init__(self, count: int, item):
        self._count = count
        self._item = item

    def __len__(self) -> int:
        return self._count

    def item(self, index: int) -> tuple[Tensor, dict]:
        if not 0 <= index < self._count:
            raise IndexError(f"image {index} of a detection set of {self._count}")
        return self._item(index)

    def head(self, n: int | None) -> "DetectionSet":
        """The first n images (the sets are already in random order), or all of them."""
        if n is None or n >= self._count:
            return self
        if n < 1:
            raise ValueError(f"a detection subset needs at least one image, got {n}")
        return DetectionSet(n, self._item)


@dataclass
class DetectionData:
    """A detection dataset: train and test sets, the foreground class names, the input's channels
    and the normalisation the backbone was trained with."""

    name: str
    train: DetectionSet
    test: DetectionSet
    classes: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @property
    def num_classes(self) -> int:
        """Foreground classes (the detector adds the background)."""
        return len(self.classes)

    @property
    def in_channels(self) -> int:
        return len(self.mean)

    def subset(self, n_train: int | None = None, n_test: int | None = None) -> "DetectionData":
        return DetectionData(self.name, self.train.head(n_train), self.test.head(n_test), self.classes,
                             self.mean, self.std)


# --- Fashion-MNIST on canvases ---------------------------------------------------------------


def _ink_box(item: np.ndarray) -> tuple[int, int, int, int] | None:
    """The tight box (x1, y1, x2, y2; x2/y2 exclusive) of an item's pixels brighter than INK."""
    ys, xs = np.nonzero(item > INK)
    if len(xs) == 0:
        return None
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def _resized(item: np.ndarray, side: int) -> np.ndarray:
    """An item scaled to side x side (bilinear on the CPU, rounded: deterministic)."""
    if side == item.shape[0]:
        return item
    scaled = F.interpolate(torch.from_numpy(item).float()[None, None], size=(side, side), mode="bilinear",
                           align_corners=False)
    return np.clip(np.rint(scaled[0, 0].numpy()), 0, 255).astype(np.uint8)


def canvases(images: np.ndarray, labels: np.ndarray, n: int, spec: CanvasSpec = CanvasSpec(),
             seed: int = 0) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """`n` canvases of Fashion-MNIST items (28x28 uint8 `images`, class `labels` 0..9): each a
    (size x size uint8 canvas, boxes int N x 4, labels 1..10), drawn from numpy's generator seeded
    by `seed` alone, so the same inputs always give the same canvases. Items do not overlap (their
    ink boxes are disjoint); an item that finds no free place in `spec.attempts` tries is left out,
    but every canvas holds at least one item."""
    if images.ndim != 3 or images.shape[1:] != (28, 28) or len(images) != len(labels) or len(images) == 0:
        raise ValueError(f"canvases needs N x 28 x 28 images with N labels, got images {images.shape} and "
                         f"{len(labels)} labels")
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        canvas = np.zeros((spec.size, spec.size), dtype=np.uint8)
        boxes, classes = [], []
        for _ in range(int(rng.integers(spec.objects[0], spec.objects[1] + 1))):
            index = int(rng.integers(len(images)))
            side = int(round(28 * rng.uniform(*spec.scale)))
            item = _resized(images[index], side)
            ink = _ink_box(item)
            if ink is None:
                continue
            for _ in range(spec.attempts):
                x, y = (int(v) for v in rng.integers(0, spec.size - side + 1, size=2))
                box = (x + ink[0], y + ink[1], x + ink[2], y + ink[3])
                if all(box[2] <= b[0] or b[2] <= box[0] or box[3] <= b[1] or b[3] <= box[1] for b in boxes):
                    region = canvas[y:y + side, x:x + side]
                    np.maximum(region, item, out=region)
                    boxes.append(box)
                    classes.append(int(labels[index]) + 1)
                    break
        if boxes:  # a canvas whose items were all blank is drawn again: it would teach nothing
            out.append((canvas, np.array(boxes, dtype=np.int64), np.array(classes, dtype=np.int64)))
    return out


def _canvas_set(made: list) -> DetectionSet:
    images = [torch.from_numpy(canvas)[None] for canvas, _, _ in made]
    targets = [{"boxes": torch.from_numpy(boxes).float(), "labels": torch.from_numpy(classes),
                "difficult": torch.zeros(len(classes), dtype=torch.bool)} for _, boxes, classes in made]
    return DetectionSet(len(made), lambda i: (images[i], targets[i]))


# The sizes of the two Fashion-MNIST detection sets (canvases drawn; a spec's subset takes the first n)
FULL_SIZES = (10_000, 2_000)
MINI_SIZES = (600, 300)
TRAIN_SEED, TEST_SEED = 0, 1  # the generator's seeds for the training and the test canvases


def fashion_detection(arrays: dict, name: str, sizes: tuple[int, int], spec: CanvasSpec = CanvasSpec()) -> DetectionData:
    """The detection set drawn from Fashion-MNIST arrays (`read_fashion_mnist`'s keys): training
    canvases from the training images, test canvases from the test images."""
    train = canvases(arrays["train_images"], arrays["train_labels"], sizes[0], spec, seed=TRAIN_SEED)
    test = canvases(arrays["test_images"], arrays["test_labels"], sizes[1], spec, seed=TEST_SEED)
    return DetectionData(name, _canvas_set(train), _canvas_set(test), FASHION_CLASSES, FASHION_MEAN, FASHION_STD)


# --- PASCAL VOC 2007 ---------------------------------------------------------------------------


def voc_target(annotation: dict) -> dict:
    """torchvision's parsed VOC annotation -> boxes (0-based pixel coordinates, as the Faster R-CNN
    code the paper used: 1 subtracted from every VOC coordinate), labels 1..20 and difficult flags."""
    objects = annotation["annotation"].get("object", [])
    if isinstance(objects, dict):
        objects = [objects]
    boxes, labels, difficult = [], [], []
    for obj in objects:
        box = obj["bndbox"]
        boxes.append([float(box[k]) - 1 for k in ("xmin", "ymin", "xmax", "ymax")])
        labels.append(VOC_CLASSES.index(obj["name"]) + 1)
        difficult.append(obj.get("difficult", "0") == "1")
    return {"boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
            "labels": torch.tensor(labels, dtype=torch.int64), "difficult": torch.tensor(difficult, dtype=torch.bool)}


def _voc_set(dataset) -> DetectionSet:
    from torchvision.transforms.functional import pil_to_tensor

    def item(i: int):
        image, annotation = dataset[i]
        return pil_to_tensor(image.convert("RGB")), voc_target(annotation)

    return DetectionSet(len(dataset), item)


def load_voc2007(root: str | os.PathLike | None = None, download: bool = False) -> DetectionData:
    """VOC 2007 trainval / test from the first root holding `VOCdevkit/VOC2007`, else downloaded
    with torchvision into the first root (`download=True`)."""
    from torchvision.datasets import VOCDetection

    folders = _base_roots(root)
    found = next((f for f in folders if (f / "VOCdevkit" / "VOC2007" / "Annotations").is_dir()), None)
    if found is None and not download:
        raise DatasetNotFound(
            f"voc2007 was not found: no VOCdevkit/VOC2007 in\n{_bulleted(folders)}\nTo get it: load with "
            f"download=True (notebooks / papermill: `-p download true`) to download trainval and test with "
            f"torchvision into {folders[0]}, or pass root= (or set $RETHINKKIT_DATA) to the folder holding "
            f"VOCdevkit/.")
    target = found or folders[0]
    try:
        sets = {split: VOCDetection(str(target), year="2007", image_set=split, download=download and found is None)
                for split in ("trainval", "test")}
    except (OSError, RuntimeError) as error:
        raise DatasetNotFound(f"voc2007 could not be read from or downloaded into {target}: {error}") from error
    return DetectionData("voc2007", _voc_set(sets["trainval"]), _voc_set(sets["test"]), VOC_CLASSES, VOC_MEAN, VOC_STD)


def write_voc(root: str | os.PathLike, split: str, images: Sequence[np.ndarray], targets: Sequence[dict]) -> None:
    """Write images (H x W x 3 uint8) and their objects ({"boxes": [[x1, y1, x2, y2], ...] in VOC's
    1-based coordinates, "names": [...], "difficult": [...]}) as a VOC 2007 split under `root`
    (JPEGImages, Annotations, ImageSets/Main/<split>.txt): the on-disk format torchvision reads,
    for tests and for users converting their own data."""
    from PIL import Image

    base = Path(root) / "VOCdevkit" / "VOC2007"
    for folder in ("JPEGImages", "Annotations", "ImageSets/Main"):
        (base / folder).mkdir(parents=True, exist_ok=True)
    ids = []
    for i, (image, target) in enumerate(zip(images, targets)):
        name = f"{split}_{i:06d}"
        ids.append(name)
        Image.fromarray(image).save(base / "JPEGImages" / f"{name}.jpg", quality=95)
        annotation = ET.Element("annotation")
        ET.SubElement(annotation, "filename").text = f"{name}.jpg"
        size = ET.SubElement(annotation, "size")
        for key, value in zip(("width", "height", "depth"), (image.shape[1], image.shape[0], 3)):
            ET.SubElement(size, key).text = str(value)
        for box, label, hard in zip(target["boxes"], target["names"], target["difficult"]):
            obj = ET.SubElement(annotation, "object")
            ET.SubElement(obj, "name").text = label
            ET.SubElement(obj, "difficult").text = "1" if hard else "0"
            bndbox = ET.SubElement(obj, "bndbox")
            for key, value in zip(("xmin", "ymin", "xmax", "ymax"), box):
                ET.SubElement(bndbox, key).text = str(int(value))
        ET.ElementTree(annotation).write(base / "Annotations" / f"{name}.xml")
    (base / "ImageSets" / "Main" / f"{split}.txt").write_text("\n".join(ids) + "\n")


# --- by name -------------------------------------------------------------------------------------

NAMES = ("fashion-mnist-detection-mini", "fashion-mnist-detection", "voc2007")
_cache: dict = {}


def load(name: str, root: str | os.PathLike | None = None, download: bool = False) -> DetectionData:
    """A detection dataset by name (`NAMES`), cached per process (the canvases are drawn once)."""
    if name not in NAMES:
        raise ValueError(f"unknown detection dataset {name!r}; choose from {', '.join(NAMES)}")
    key = (name, str(root), download)
    if key not in _cache:
        _cache[key] = _load(name, root, download)
    return _cache[key]


def _load(name: str, root, download: bool) -> DetectionData:
    if name == "voc2007":
        return load_voc2007(root, download)
    from . import fashion_mnist
    if name == "fashion-mnist-detection-mini":
        from importlib import resources
        import io

        raw = (resources.files("rethinkkit") / "data_files" / fashion_mnist.MINI_RESOURCE).read_bytes()
        with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in ("train_images", "train_labels", "test_images", "test_labels")}
        return fashion_detection(arrays, name, MINI_SIZES)
    folders = fashion_mnist._fashion_mnist_folders(root)
    found = next((f for f in folders if fashion_mnist._has_fashion_mnist(f)), None)
    if found is None:  # the classification loader's own search, download and error message
        fashion_mnist._load_fashion_mnist(root, download, torch.device("cpu"))
        found = next((f for f in fashion_mnist._fashion_mnist_folders(root) if fashion_mnist._has_fashion_mnist(f)))
    return fashion_detection(fashion_mnist.read_fashion_mnist(found), name, FULL_SIZES)
