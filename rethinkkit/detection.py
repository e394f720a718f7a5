"""Transfer to object detection (Appendix B, Table 12): torchvision's Faster R-CNN on the kit's
cfg-driven ResNet-34 (unpruned, -A, -B), four ways to get the pruned detector, each a cached,
resumable run in the store.

- **Prune-C**: train on classification, prune on classification, fine-tune on classification,
  transfer to detection (the backbone is the pipeline's fine-tuned run).
- **Prune-D**: train on classification, transfer to detection, prune on detection (the detector's
  backbone, by the same L1-norm rule), fine-tune on detection.
- **Scratch-E / Scratch-B**: the pruned architecture trained from scratch on classification
  (the pipeline's Scratch-E/B runs), transferred to detection.
- **Unpruned**: the large classification model transferred to detection.

The detector follows the code the paper used (Yang et al. 2017, jwyang/faster-rcnn.pytorch, its
ResNet "C4" layout): the backbone up to layer3 (stride 16) feeds the RPN and RoIAlign (7 x 7);
layer4 and a global average pool are the box head; conv1, bn1 and layer1 are frozen and every
BatchNorm is frozen (FIXED_BLOCKS = 1, BN fixed); anchors 128/256/512 (scales 8, 16, 32 at stride
16) at ratios 0.5/1/2. `DetectionRecipe` holds its training settings; mAP@0.5 comes from
torchmetrics (pycocotools backend), not from code written here.

Detection runs live in `<store>/detection/<key>/seed<k>/` (the classification store's readers never
see them): result.parquet (one row per epoch: lr, train_loss, test_map50, seconds), model.pt, a
checkpoint per epoch while training.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Callable, Iterable, Sequence

import pandas as pd
import torch
from torch import Tensor, nn

from . import flops, models, paper, pipeline, pruning
from .config import ConfigError, _plain
from .data.detection import DetectionData
from .files import atomic_write
from .runs import Run, Store, _locked, _write_spec, default_root

STRATEGIES = ("unpruned", "prune-c", "prune-d", "scratch-e", "scratch-b")


@dataclass(frozen=True)
class DetectionRecipe:
    """How the detector trains: Yang et al.'s Faster R-CNN defaults for PASCAL VOC 2007 with a
    ResNet (trainval_net.py, cfgs/res101.yml, and the README's VOC 2007 row: batch 1, lr 1e-3,
    decay step 5, 7 epochs)."""

    epochs: int = 7  # README's VOC 2007 ResNet row: max epoch 7
    batch_size: int = 1  # images per step (--bs 1)
    lr: float = 1e-3  # --lr
    decay_epochs: int = 5  # lr x gamma after every 5 epochs (--lr_decay_step 5: epochs 6-7 at 1e-4)
    gamma: float = 0.1  # --lr_decay_gamma
    momentum: float = 0.9  # TRAIN.MOMENTUM
    weight_decay: float = 1e-4  # TRAIN.WEIGHT_DECAY (res101.yml); biases are not decayed (BIAS_DECAY False)
    min_size: int = 600  # TRAIN.SCALES: the shorter side, resized
    max_size: int = 1000  # TRAIN.MAX_SIZE
    flip: bool = True  # TRAIN.USE_FLIPPED: horizontal flips (here drawn per image and epoch)
    anchor_sizes: tuple = (128, 256, 512)  # ANCHOR_SCALES 8, 16, 32 x the feature stride 16
    aspect_ratios: tuple = (0.5, 1.0, 2.0)  # ANCHOR_RATIOS
    rpn_batch: int = 256  # TRAIN.RPN_BATCHSIZE anchors sampled per image
    roi_batch: int = 128  # TRAIN.BATCH_SIZE RoIs sampled per image (a quarter foreground)
    rpn_train_top: tuple = (12000, 2000)  # TRAIN.RPN_PRE_NMS_TOP_N, RPN_POST_NMS_TOP_N
    rpn_test_top: tuple = (6000, 300)  # TEST.RPN_PRE_NMS_TOP_N, RPN_POST_NMS_TOP_N
    frozen_blocks: int = 1  # RESNET.FIXED_BLOCKS: conv1 and layer1 fixed
    pool: int = 7  # POOLING_SIZE, RoIAlign (POOLING_MODE align)
    detections: int = 100  # TEST: at most 100 boxes per image, score threshold 0

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "decay_epochs", "rpn_batch", "roi_batch", "min_size", "max_size", "pool"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"DetectionRecipe.{name} must be a positive integer, got {value!r}")
        if not 0 < self.lr <= 1:
            raise ConfigError(f"DetectionRecipe.lr must be in (0, 1], got {self.lr!r}")
        if not 0 <= self.frozen_blocks <= 4:
            raise ConfigError(f"DetectionRecipe.frozen_blocks is 0 (none) to 4 (the stem and layer1..3), "
                              f"got {self.frozen_blocks!r}")

    def lr_at(self, epoch: int) -> float:
        """The lr of 1-based `epoch`."""
        return self.lr * self.gamma ** ((epoch - 1) // self.decay_epochs)


VOC = DetectionRecipe()  # the paper's: PASCAL VOC 2007
# Fashion-MNIST canvases (rethinkkit.data.detection): 96 px images are not resized (600 px would
# blow 28-56 px items up twentyfold), anchors match the items (16-64 px at stride 16), and fewer
# RoIs and proposals per image fit the one to three items a canvas holds. lr 0.01, ten times the
# paper's: a CPU study's few hundred canvases give a few thousand steps against VOC's ~70,000, and
# at 1e-3 the quarter-width detector stood at 1.3% mAP@0.5 after 2 of its 7 epochs (at 0.01: 19.6%;
# measured on 600 canvases). Named deviations.
FASHION = DetectionRecipe(lr=0.01, min_size=96, max_size=96, anchor_sizes=(16, 32, 64), roi_batch=32, rpn_batch=64,
                          rpn_train_top=(600, 300), rpn_test_top=(300, 100))


def recipe_for(dataset: str, epochs: int = 0) -> DetectionRecipe:
    """The detection recipe of a dataset (`VOC` for voc2007, `FASHION` for the Fashion-MNIST
    canvases), with `epochs` instead of its 7 when given (a named deviation)."""
    base = VOC if dataset == "voc2007" else FASHION
    if epochs:
        return dataclasses.replace(base, epochs=epochs)
    return base


def deviations(recipe: DetectionRecipe, train_subset: int | None = None, test_subset: int | None = None) -> dict:
    """{setting: (ours, paper's)} where the detection side differs from the paper's (Yang et al.'s
    VOC 2007 recipe on all of trainval / test)."""
    out = {f.name: (getattr(recipe, f.name), getattr(VOC, f.name)) for f in dataclasses.fields(DetectionRecipe)
           if getattr(recipe, f.name) != getattr(VOC, f.name)}
    if train_subset:
        out["det_train_subset"] = (train_subset, "all (5,011 trainval images)")
    if test_subset:
        out["det_test_subset"] = (test_subset, "all (4,952 test images)")
    return out


def plot_examples(data: DetectionData, n: int = 6, split: str = "train"):
    """The first `n` images of a split with their boxes and class names (a look at the data)."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    chosen = {"train": data.train, "test": data.test}[split]
    n = min(n, len(chosen))
    fig, axes = plt.subplots(1, n, figsize=(2.2 * n, 2.4), squeeze=False)
    for ax, i in zip(axes[0], range(n)):
        image, target = chosen.item(i)
        ax.imshow(image.permute(1, 2, 0).squeeze(-1).numpy(), cmap="gray" if image.shape[0] == 1 else None)
        for (x1, y1, x2, y2), label in zip(target["boxes"].tolist(), target["labels"].tolist()):
            ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, color="tab:orange", linewidth=1))
            ax.text(x1, y1, data.classes[label - 1], color="tab:orange", fontsize=6, va="bottom")
        ax.axis("off")
    fig.suptitle(f"{data.name} ({split}): boxes and classes", fontsize=9)
    return fig


# --- the detector ------------------------------------------------------------------------------


class Trunk(nn.Module):
    """ResNet-34 up to layer3 (stride 16), torchvision's backbone interface: `out_channels`."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.conv1, self.bn1, self.maxpool = net.conv1, net.bn1, net.maxpool
        self.layer1, self.layer2, self.layer3 = net.layer1, net.layer2, net.layer3
        self.out_channels = net.layer3[-1].conv2.out_channels

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool(torch.relu(self.bn1(self.conv1(x))))
        return self.layer3(self.layer2(self.layer1(x)))


class C4Head(nn.Module):
    """layer4 on each 7 x 7 RoI, then a global average pool: the box head of the C4 layout."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.layer4 = net.layer4
        self.out_channels = net.layer4[-1].conv2.out_channels

    def forward(self, x: Tensor) -> Tensor:
        return self.layer4(x).mean(dim=(2, 3))


def _frozen_bn(module: nn.Module) -> nn.Module:
    """Every BatchNorm2d replaced by torchvision's FrozenBatchNorm2d holding its statistics."""
    from torchvision.ops.misc import FrozenBatchNorm2d

    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            frozen = FrozenBatchNorm2d(child.num_features, eps=child.eps)
            for key in ("weight", "bias", "running_mean", "running_var"):
                getattr(frozen, key).copy_(getattr(child, key).detach())
            setattr(module, name, frozen)
        else:
            _frozen_bn(child)
    return module


def detector(classifier: nn.Module, num_classes: int, recipe: DetectionRecipe, mean: Sequence[float],
             std: Sequence[float]):
    """torchvision's Faster R-CNN on a copy of `classifier` (an ImageNet ResNet of the kit, any cfg)
    for `num_classes` foreground classes: the C4 layout, frozen BN and frozen first blocks of the
    recipe. The RPN and the box predictor start from torchvision's initialisation (under torch's
    current seed)."""
    from torchvision.models.detection import FasterRCNN
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor
    from torchvision.ops import MultiScaleRoIAlign

    if not all(hasattr(classifier, name) for name in ("conv1", "layer1", "layer4")):
        raise ValueError(f"the detector's backbone is an ImageNet ResNet of the kit (resnet34), got "
                         f"{type(classifier).__name__}")
    net = _frozen_bn(copy.deepcopy(classifier).cpu())
    fixed = [net.conv1, net.bn1, *[getattr(net, f"layer{i}") for i in range(1, recipe.frozen_blocks + 1)]]
    for module in fixed:
        module.requires_grad_(False)
    trunk, head = Trunk(net), C4Head(net)
    model = FasterRCNN(
        trunk, num_classes=None,
        rpn_anchor_generator=AnchorGenerator((tuple(recipe.anchor_sizes),), (tuple(recipe.aspect_ratios),)),
        box_roi_pool=MultiScaleRoIAlign(["0"], output_size=recipe.pool, sampling_ratio=2),
        box_head=head, box_predictor=FastRCNNPredictor(head.out_channels, num_classes + 1),
        min_size=recipe.min_size, max_size=recipe.max_size, image_mean=list(mean), image_std=list(std),
        rpn_pre_nms_top_n_train=recipe.rpn_train_top[0], rpn_post_nms_top_n_train=recipe.rpn_train_top[1],
        rpn_pre_nms_top_n_test=recipe.rpn_test_top[0], rpn_post_nms_top_n_test=recipe.rpn_test_top[1],
        rpn_batch_size_per_image=recipe.rpn_batch, box_batch_size_per_image=recipe.roi_batch,
        box_score_thresh=0.0, box_detections_per_img=recipe.detections)
    model.classifier_arch = classifier.arch  # what `classifier_of` rebuilds
    return model


def classifier_of(model: nn.Module) -> nn.Module:
    """The detector's backbone as the kit's classification model (its fc freshly initialised, its
    frozen BN back to BatchNorm2d with the same statistics): what a pruner reads."""
    net = models.from_arch(model.classifier_arch)
    state = {}
    for key, value in model.state_dict().items():
        if key.startswith("backbone."):
            state[key[len("backbone."):]] = value
        elif key.startswith("roi_heads.box_head."):
            state[key[len("roi_heads.box_head."):]] = value
    missing, unexpected = net.load_state_dict(state, strict=False)
    if unexpected or any(not (k.startswith("fc.") or k.endswith("num_batches_tracked")) for k in missing):
        raise RuntimeError(f"the detector's backbone does not match its architecture: missing {missing}, "
                           f"unexpected {unexpected}")
    return net


def backbone_counts(model: nn.Module, image_shape: tuple) -> flops.Counts:
    """Params and MACs of the detector's backbone as a classifier at its classification input size."""
    return flops.count(classifier_of(model), image_shape)


# --- training and evaluation ---------------------------------------------------------------------


def _images(batch: Sequence[tuple[Tensor, dict]], flips: Sequence[bool], device="cpu"):
    """The batch as the detector takes it: float images in [0, 1] (it normalises them itself) and
    {"boxes", "labels"} targets, flipped where asked, on `device`."""
    images, targets = [], []
    for (image, target), flip in zip(batch, flips):
        image = image.to(device).float() / 255
        boxes = target["boxes"].clone()
        if flip:
            image = image.flip(-1)
            width = image.shape[-1]
            boxes[:, [0, 2]] = width - target["boxes"][:, [2, 0]]
        images.append(image)
        targets.append({"boxes": boxes.to(device), "labels": target["labels"].to(device)})
    return images, targets


def evaluate(model: nn.Module, data: DetectionData, batch_size: int = 8) -> dict:
    """mAP on the test set by torchmetrics' MeanAveragePrecision (pycocotools backend): `map50` at
    IoU 0.5 (COCO's 101-point interpolation; the paper's code used VOC 2007's 11-point metric) and
    `map` over IoU 0.5:0.95. Difficult objects are marked crowd, so detecting them is not required."""
    from torchmetrics.detection import MeanAveragePrecision

    metric = MeanAveragePrecision(iou_type="bbox")
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(data.test), batch_size):
            batch = [data.test.item(i) for i in range(start, min(start + batch_size, len(data.test)))]
            images, _ = _images(batch, [False] * len(batch), device)
            found = model(images)
            metric.update([{k: v.cpu().float() if k != "labels" else v.cpu() for k, v in f.items()} for f in found],
                          [{"boxes": t["boxes"], "labels": t["labels"], "iscrowd": t["difficult"].long()}
                           for _, t in batch])
    scores = metric.compute()
    return {"map50": float(scores["map_50"]) * 100, "map": float(scores["map"]) * 100}


def _optimizer(model: nn.Module, recipe: DetectionRecipe) -> torch.optim.SGD:
    weights = [p for n, p in model.named_parameters() if p.requires_grad and not n.endswith("bias")]
    biases = [p for n, p in model.named_parameters() if p.requires_grad and n.endswith("bias")]
    return torch.optim.SGD([{"params": weights, "weight_decay": recipe.weight_decay},
                            {"params": biases, "weight_decay": 0.0}], lr=recipe.lr, momentum=recipe.momentum)


def train_detector(model: nn.Module, data: DetectionData, recipe: DetectionRecipe, *, seed: int,
                   checkpoint: Path | None = None, progress: bool | None = None, desc: str = "") -> pd.DataFrame:
    """Train the detector on `data.train`, mAP on `data.test` after every epoch; one row per epoch.
    Each epoch's order, flips and the detector's own sampling are drawn from generators seeded by
    (seed, epoch), so a run resumed from its checkpoint (written after every epoch) ends as an
    uninterrupted one."""
    optimizer = _optimizer(model, recipe)
    device = next(model.parameters()).device
    history, first = [], 1
    if checkpoint is not None and checkpoint.exists():
        saved = torch.load(checkpoint, map_location=device, weights_only=False)
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        history, first = saved["history"], saved["epoch"] + 1
    from tqdm.auto import tqdm

    steps = -(-len(data.train) // recipe.batch_size)
    bar = tqdm(total=recipe.epochs * steps, initial=(first - 1) * steps, desc=desc or "detector", leave=False,
               disable=not progress if progress is not None else None)
    try:
        for epoch in range(first, recipe.epochs + 1):
            began = time.perf_counter()
            generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
            torch.manual_seed(seed * 100_003 + epoch)  # the RPN's and RoI heads' sampling
            order = torch.randperm(len(data.train), generator=generator).tolist()
            flips = (torch.rand(len(order), generator=generator) < 0.5).tolist() if recipe.flip else [False] * len(order)
            for group in optimizer.param_groups:
                group["lr"] = recipe.lr_at(epoch)
            model.train()
            total = torch.zeros(())
            for start in range(0, len(order), recipe.batch_size):
                chosen = order[start:start + recipe.batch_size]
                images, targets = _images([data.train.item(i) for i in chosen], flips[start:start + len(chosen)],
                                          device)
                loss = sum(model(images, targets).values())
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total += loss.detach() * len(chosen)
                bar.update(1)
            scores = evaluate(model, data)
            history.append({"epoch": epoch, "lr": recipe.lr_at(epoch), "train_loss": float(total) / len(order),
                            "test_map50": scores["map50"], "test_map": scores["map"],
                            "seconds": time.perf_counter() - began})
            bar.set_postfix(map50=f"{scores['map50']:.1f}")
            if checkpoint is not None:
                state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "history": history,
                         "epoch": epoch}
                atomic_write(checkpoint, lambda f: torch.save(state, f))
    finally:
        bar.close()
    return pd.DataFrame(history)


# --- runs in the store -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DetectionSpec:
    """One detector training run, seed excluded. `start` says where its weights come from:
    "backbone:<classification run key>" (a classification run's weights, fresh detection heads) or
    "prune-d:<detection run key>:<method>:<pruning spec>" (that detector, its backbone pruned)."""

    dataset: str
    model: str
    cfg: tuple
    start: str
    recipe: DetectionRecipe = field(default_factory=DetectionRecipe)
    options: tuple = ()
    train_subset: int | None = None  # the first n training images (a named deviation)
    test_subset: int | None = None  # the first n test images (a named deviation)
    tag: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "cfg", tuple(self.cfg))
        object.__setattr__(self, "options", tuple(sorted((k, tuple(v) if isinstance(v, list) else v)
                                                         for k, v in dict(self.options).items())))

    def to_dict(self) -> dict:
        return _plain(self)

    def key(self) -> str:
        """Stable 12-hex-digit name: a hash of the fields that differ from their defaults."""
        payload = json.dumps(_plain(self, omit_defaults=True), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(payload.encode()).hexdigest()[:12]


RESULT_COLUMNS = ("epoch", "lr", "train_loss", "test_map50", "test_map", "seconds")


@dataclass
class DetectionRun(Run):
    """A finished detection run: a store run whose result holds mAP per epoch, not top-1."""

    spec: DetectionSpec

    @cached_property
    def history(self) -> pd.DataFrame:
        return pd.read_parquet(self.path / "result.parquet")

    @property
    def final_map50(self) -> float:
        return float(self.history["test_map50"].iloc[-1])


def detection_root(store: Store) -> Path:
    return store.root / "detection"


def _finished(folder: Path, spec: DetectionSpec, seed: int) -> bool:
    result = folder / "result.parquet"
    if not (result.exists() and (folder / "model.pt").exists()):
        return False
    history = pd.read_parquet(result)
    return (set(RESULT_COLUMNS) <= set(history.columns) and list(history["epoch"]) == list(range(1, spec.recipe.epochs + 1))
            and history["key"].iloc[0] == spec.key() and int(history["seed"].iloc[0]) == seed)


def get_or_train(spec: DetectionSpec, seed: int, build: Callable[[], nn.Module], data: DetectionData, *,
                 store: Store, image_shape: tuple, device="cpu", progress: bool | None = None) -> DetectionRun:
    """The finished detection run, or train it on `device` (resuming from its last epoch's
    checkpoint) under the run's lock. `build()` returns the detector at its start (called only when
    it must train); the device is not part of the run's key."""
    folder = detection_root(store) / spec.key() / f"seed{seed}"
    with _locked(folder / ".lock"):
        if not _finished(folder, spec, seed):
            _write_spec(folder.parent / "spec.json", spec)
            torch.manual_seed(seed)  # the detection heads' initialisation
            model = build().to(device)
            subset = data.subset(spec.train_subset, spec.test_subset)
            history = train_detector(model, subset, spec.recipe, seed=seed, checkpoint=folder / "checkpoint.pt",
                                     progress=progress, desc=f"detector {spec.key()}/seed{seed}")
            counts = backbone_counts(model.cpu(), image_shape)
            for name, value in {"key": spec.key(), "seed": seed, "dataset": spec.dataset, "model": spec.model,
                                "cfg": json.dumps(list(spec.cfg)), "start": spec.start, "epochs": spec.recipe.epochs,
                                "train_images": len(subset.train), "test_images": len(subset.test),
                                "backbone_params": counts.params, "backbone_macs": counts.macs}.items():
                history[name] = value
            state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
            atomic_write(folder / "model.pt", lambda f: torch.save(state, f))
            atomic_write(folder / "result.parquet", lambda f: history.to_parquet(f, index=False))
            (folder / "checkpoint.pt").unlink(missing_ok=True)
    return DetectionRun(spec, seed, folder)


# --- Table 12 ----------------------------------------------------------------------------------------


def targets(configs: Iterable[str], protocol: pipeline.Protocol) -> list[pipeline.Target]:
    """The paper's ResNet-34 configs as pipeline targets; with `protocol.width` below 1, the
    stage widths shrink alike (the `widths` build option: a narrower ResNet-34 for CPU studies)."""
    out = []
    for name in configs:
        t = pipeline.target(name)
        if t.model != "resnet34":
            raise ValueError(f"Table 12 prunes ResNet-34 (resnet34-a, resnet34-b); {name} prunes {t.model}")
        if protocol.width != 1:
            widths = [max(1, int(w * protocol.width)) for w in models.option_defaults("resnet34")["widths"]]
            t = dataclasses.replace(t, options=(("widths", tuple(widths)),))
        out.append(t)
    return out


def _classifier(store: Store, row: pd.Series, t: pipeline.Target, cls_data) -> nn.Module:
    net = models.build(t.model, num_classes=cls_data.num_classes, in_channels=cls_data.in_channels, cfg=list(row["cfg"]),
                       **dict(t.options))
    net.load_state_dict(torch.load(store.root / row["key"] / "model.pt", map_location="cpu", weights_only=True))
    return net


def _pruned_detector(parent: DetectionRun, large: nn.Module, t: pipeline.Target, det: DetectionData,
                     recipe: DetectionRecipe) -> nn.Module:
    """Prune-D's start: the trained unpruned detector, its backbone pruned by `t` (L1-norm on the
    detection-trained weights); the RPN and the box predictor keep their trained weights (block
    outputs keep their stage widths, so their shapes do not change)."""
    trained = detector(large, det.num_classes, recipe, det.mean, det.std)
    trained.load_state_dict(parent.state_dict())
    pruned = pruning.prune(t.method, classifier_of(trained), t.spec)
    child = detector(pruned.model, det.num_classes, recipe, det.mean, det.std)
    heads = {k: v for k, v in trained.state_dict().items() if k.startswith(("rpn.", "roi_heads.box_predictor."))}
    child.load_state_dict({**child.state_dict(), **heads})
    return child


def transfer(protocol: pipeline.Protocol, configs: Iterable[str], seeds: Sequence[int], det: DetectionData,
             recipe: DetectionRecipe = VOC, *, cls_data, store: Store | str | None = None,
             train_subset: int | None = None, test_subset: int | None = None,
             progress: bool | None = None) -> pd.DataFrame:
    """Table 12: for every seed, the classification side through the pipeline (large model,
    L1-norm pruning, fine-tuning, Scratch-E/B on `cls_data`), then one detector per backbone
    (unpruned, Prune-C, Scratch-E, Scratch-B) and Prune-D from the unpruned detector. One row per
    detection run: dataset (the detection set's), backbone_dataset, config, strategy, seed, map50
    (final epoch), best_map50, map (IoU .5:.95),
    backbone params and MACs, cls_top1 (the backbone's classification accuracy; NaN for Prune-D),
    epochs, seconds, key, backbone (its classification run's key)."""
    store = store if isinstance(store, Store) else Store(store if store is not None else default_root())
    chosen = targets(configs, protocol)
    if cls_data.in_channels != det.in_channels:
        raise ValueError(f"the backbones train on {cls_data.name} ({cls_data.in_channels} channel(s)) but the detector "
                         f"reads {det.name} ({det.in_channels}): pair grey with grey (fashion-mnist with "
                         f"fashion-mnist-detection) and colour with colour (imagenet with voc2007)")
    if not chosen:
        raise ValueError("transfer needs at least one config, e.g. ['resnet34-a', 'resnet34-b']")
    base = chosen[0]
    rows = []

    def fit(seed: int, cfg, start: str, build: Callable[[], nn.Module]) -> DetectionRun:
        spec = DetectionSpec(det.name, base.model, tuple(cfg), start, recipe, base.options, train_subset, test_subset)
        return get_or_train(spec, seed, build, det, store=store, image_shape=cls_data.image_shape,
                            device=cls_data.device, progress=progress)

    def row(config: str, strategy: str, done: DetectionRun, backbone) -> dict:
        h = done.history
        return {"dataset": det.name, "backbone_dataset": cls_data.name, "config": config, "strategy": strategy,
                "seed": done.seed, "map50": done.final_map50,
                "best_map50": float(h["test_map50"].max()), "map": float(h["test_map"].iloc[-1]),
                "backbone_params": int(h["backbone_params"].iloc[0]), "backbone_macs": int(h["backbone_macs"].iloc[0]),
                "cls_top1": float(backbone["final_top1"]) if backbone is not None else float("nan"),
                "epochs": int(h["epochs"].iloc[0]), "seconds": float(h["seconds"].sum()), "key": done.key,
                "backbone": backbone["key"] if backbone is not None else ""}

    def detector_on(net: nn.Module) -> Callable[[], nn.Module]:
        return lambda: detector(net, det.num_classes, recipe, det.mean, det.std)

    for seed in seeds:
        table = pipeline.run(protocol, chosen, [seed], ("fine-tune", "scratch-e", "scratch-b"), data=cls_data,
                             store=store, progress=progress)
        large_row = table[table["strategy"] == "unpruned"].iloc[0]
        large = _classifier(store, large_row, base, cls_data)
        unpruned = fit(seed, large_row["cfg"], f"backbone:{large_row['key']}", detector_on(large))
        rows.append(row(base.model, "unpruned", unpruned, large_row))
        for t in chosen:
            mine = table[table["config"] == t.name].set_index("strategy")
            for strategy, name in (("fine-tune", "prune-c"), ("scratch-e", "scratch-e"), ("scratch-b", "scratch-b")):
                backbone = mine.loc[strategy]
                done = fit(seed, backbone["cfg"], f"backbone:{backbone['key']}",
                           detector_on(_classifier(store, backbone, t, cls_data)))
                rows.append(row(t.name, name, done, backbone))
            # Prune-D: the unpruned detector's backbone pruned by the same rule (the cfg the rule gives
            # depends on the ratios alone, so it is Prune-C's), then the detector fine-tuned on detection
            rule = json.dumps(_plain(t.spec, omit_defaults=True), sort_keys=True, separators=(",", ":"))
            done = fit(seed, mine.loc["fine-tune", "cfg"], f"prune-d:{unpruned.key}:{t.method}:{rule}",
                       lambda t=t: _pruned_detector(unpruned, large, t, det, recipe))
            rows.append(row(t.name, "prune-d", done, None))
    return pd.DataFrame(rows)


# A detector has learned when its mean mAP@0.5 reaches this (%): below it a verdict compares
# detectors that found next to nothing.
LEARNED_MAP = 20.0
# The comparisons Table 12's text makes: the scratch backbones against both pruned ones, and its
# "interesting observation" that Prune-C beats Prune-D.
PAIRS = (("scratch-e", "prune-c"), ("scratch-b", "prune-c"), ("scratch-e", "prune-d"), ("scratch-b", "prune-d"),
         ("prune-c", "prune-d"))


def cells(ours: pd.DataFrame, metric: str = "map50") -> pd.DataFrame:
    """Table 12's layout: one row per config and strategy, ours (mean, std, n over seeds) beside
    the paper's single run."""
    stats = ours.groupby(["config", "strategy"], sort=False)[metric].agg(["mean", "std", "count"]).reset_index()
    published = paper.table(12)[["config", "strategy", "mean"]].rename(columns={"mean": "paper"})
    return stats.rename(columns={"count": "n"}).merge(published, on=["config", "strategy"], how="left")


def compare(ours: pd.DataFrame, level: float = 0.95, metric: str = "map50") -> pd.DataFrame:
    """Per pruned config, each of `PAIRS` (a vs b): our mean difference with its Welch interval
    (`rk.report.welch`) and verdict, the paper's difference (single runs: its sign is its verdict),
    and whether they agree. Where either side's detectors did not learn (`LEARNED_MAP`) there is
    no verdict."""
    from . import report

    table = cells(ours, metric).set_index(["config", "strategy"])
    rows = []
    for config in dict.fromkeys(c for c, _ in table.index if c != "resnet34"):
        for a, b in PAIRS:
            if (config, a) not in table.index or (config, b) not in table.index:
                continue
            x, y = table.loc[(config, a)], table.loc[(config, b)]
            result = report.welch((x["mean"], x["std"], int(x["n"])), (y["mean"], y["std"], int(y["n"])), level)
            verdict = {"a better": f"{a} better", "b better": f"{b} better"}.get(result["verdict"], result["verdict"])
            if min(x["mean"], y["mean"]) < LEARNED_MAP:
                verdict = "no verdict (not learned)"
            published = x["paper"] - y["paper"]
            theirs = f"{a} better" if published > 0 else f"{b} better" if published < 0 else "equal"
            rows.append({"config": config, "comparison": f"{a} vs {b}", "ours": result["diff"],
                         "low": result["low"], "high": result["high"], "verdict (ours)": verdict,
                         "paper": published, "verdict (paper)": theirs,
                         "agree": verdict == theirs if verdict.endswith("better") else None})
    return pd.DataFrame(rows, columns=["config", "comparison", "ours", "low", "high", "verdict (ours)", "paper",
                                       "verdict (paper)", "agree"])


def verdict_summary(table: pd.DataFrame) -> str:
    """The comparisons in words: how many have a verdict, and how many agree with the paper."""
    judged = table[table["agree"].notna()]
    unlearned = int((table["verdict (ours)"] == "no verdict (not learned)").sum())
    on_par = int(table["verdict (ours)"].isin(["on par", "no CI"]).sum())
    return (f"{len(table)} comparisons: {len(judged)} with a direction ({int(judged['agree'].sum())} agree with the "
            f"paper's), {on_par} on par or without an interval, {unlearned} without a verdict (detectors below "
            f"{LEARNED_MAP:g} mAP@0.5).")


def history(table: pd.DataFrame, store: Store | str | None = None) -> pd.DataFrame:
    """Per-epoch rows (epoch, lr, train_loss, test_map50, test_map) of `transfer`'s runs, labelled
    with their config, strategy and seed."""
    store = store if isinstance(store, Store) else Store(store if store is not None else default_root())
    parts = []
    for row in table.itertuples(index=False):
        h = pd.read_parquet(detection_root(store) / row.key / "result.parquet")
        parts.append(h[["epoch", "lr", "train_loss", "test_map50", "test_map"]].assign(
            config=row.config, strategy=row.strategy, seed=row.seed))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def plot_history(epochs: pd.DataFrame, ax=None):
    """mAP@0.5 on the test set per epoch, one line per config and strategy (mean over seeds, band:
    their range)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    labelled = epochs.assign(run=epochs["config"] + " " + epochs["strategy"])
    sns.lineplot(data=labelled, x="epoch", y="test_map50", hue="run", errorbar=("pi", 100), ax=ax)
    ax.set_ylabel("test mAP@0.5 (%)")
    ax.set_title("detectors on each backbone, per epoch")
    return ax


def plot_table(ours: pd.DataFrame, ax=None):
    """Ours (mean and each seed) beside Table 12, per config and strategy."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4))
    order = [s for s in STRATEGIES if s in set(ours["strategy"])]
    sns.barplot(data=ours, x="config", y="map50", hue="strategy", hue_order=order, errorbar=None, alpha=0.7, ax=ax)
    sns.stripplot(data=ours, x="config", y="map50", hue="strategy", hue_order=order, dodge=True, palette=["black"] * len(order),
                  size=3, legend=False, ax=ax)
    ax.set_ylabel("test mAP@0.5 (%)")
    return ax
