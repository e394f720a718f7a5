"""Transfer to detection (Appendix B, Table 12): the detection data (Fashion-MNIST canvases, VOC 2007
in its on-disk format), the Faster R-CNN on the kit's ResNet-34, Prune-D's pruned detector, the
store's detection runs (cached, resumed to the same weights), mAP from torchmetrics, and the whole
Table 12 protocol at a tiny size."""
import dataclasses
import math

import numpy as np
import pytest
import torch

import rethinkkit as rk
from rethinkkit import detection
from rethinkkit.data import detection as dd
from rethinkkit.data.roots import DatasetNotFound
from rethinkkit.runs import Store

QUARTER = [16] * 3 + [32] * 4 + [64] * 6 + [128] * 3
WIDTHS = (16, 32, 64, 128)
TINY = dataclasses.replace(detection.FASHION, epochs=2, decay_epochs=1)


def quarter_resnet34(seed: int = 0, cfg=QUARTER):
    torch.manual_seed(seed)
    return rk.models.build("resnet34", num_classes=10, in_channels=1, cfg=cfg, widths=WIDTHS)


@pytest.fixture(scope="module")
def mini():
    return dd.load("fashion-mnist-detection-mini")


# --- the canvases -------------------------------------------------------------------------------

def fake_items(n=40, seed=0):
    rng = np.random.default_rng(seed)
    images = np.zeros((n, 28, 28), dtype=np.uint8)
    for i in range(n):  # a bright rectangle of random size somewhere in each item, as a garment on black
        y, x = rng.integers(0, 10, size=2)
        h, w = rng.integers(8, 18, size=2)
        images[i, y:y + h, x:x + w] = rng.integers(60, 255)
    return images, rng.integers(0, 10, size=n)


def test_canvases_are_a_function_of_their_seed():
    images, labels = fake_items()
    a = dd.canvases(images, labels, 12, seed=3)
    b = dd.canvases(images, labels, 12, seed=3)
    c = dd.canvases(images, labels, 12, seed=4)
    assert all(np.array_equal(x, y) for ca, cb in zip(a, b) for x, y in zip(ca, cb))
    assert not all(np.array_equal(ca[0], cc[0]) for ca, cc in zip(a, c))


def test_every_inked_pixel_lies_in_a_tight_box_of_its_item():
    images, labels = fake_items()
    spec = dd.CanvasSpec(size=80, objects=(1, 3), scale=(1.0, 2.0))
    for canvas, boxes, classes in dd.canvases(images, labels, 30, spec, seed=1):
        assert canvas.shape == (80, 80) and canvas.dtype == np.uint8
        assert 1 <= len(boxes) <= 3 and boxes.shape == (len(classes), 4)
        assert ((classes >= 1) & (classes <= 10)).all()
        inked = canvas > dd.INK
        covered = np.zeros_like(inked)
        for x1, y1, x2, y2 in boxes:
            assert 0 <= x1 < x2 <= 80 and 0 <= y1 < y2 <= 80
            covered[y1:y2, x1:x2] = True
            box = inked[y1:y2, x1:x2]  # tight: every edge row and column of the box holds ink
            assert box[0].any() and box[-1].any() and box[:, 0].any() and box[:, -1].any()
        assert not (inked & ~covered).any()
        for i, a in enumerate(boxes):  # items never overlap
            for b in boxes[i + 1:]:
                assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]


def test_canvas_labels_are_the_items_classes_plus_one():
    images, labels = fake_items(n=1)
    for _, _, classes in dd.canvases(images, labels, 5, dd.CanvasSpec(objects=(1, 1)), seed=0):
        assert classes.tolist() == [int(labels[0]) + 1]


@pytest.mark.parametrize("changes, message", [
    ({"objects": (0, 2)}, "inclusive range"), ({"scale": (2.0, 1.0)}, "0 < low <= high"),
    ({"size": 40, "scale": (1.0, 2.0)}, "cannot hold an item of 56 px"),
])
def test_bad_canvas_specs_say_what_is_wrong(changes, message):
    with pytest.raises(ValueError, match=message):
        dd.CanvasSpec(**changes)


def test_the_embedded_set_runs_anywhere(mini):
    assert (len(mini.train), len(mini.test)) == dd.MINI_SIZES
    image, target = mini.train.item(0)
    assert image.shape == (1, 96, 96) and image.dtype == torch.uint8
    assert target["boxes"].dtype == torch.float32 and target["labels"].dtype == torch.int64
    assert mini.num_classes == 10 and mini.in_channels == 1
    assert len(mini.subset(10, 5).train) == 10 and len(mini.subset(10, 5).test) == 5
    with pytest.raises(ValueError, match="unknown detection dataset 'coco'"):
        dd.load("coco")


# --- PASCAL VOC 2007 in its on-disk format --------------------------------------------------------

def test_voc2007_reads_the_on_disk_format(tmp_path):
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, size=(60, 80, 3), dtype=np.uint8) for _ in range(3)]
    objects = [{"boxes": [[11, 21, 40, 50]], "names": ["dog"], "difficult": [False]},
               {"boxes": [[1, 1, 80, 60], [5, 6, 20, 30]], "names": ["person", "car"], "difficult": [False, True]},
               {"boxes": [[30, 10, 70, 40]], "names": ["tvmonitor"], "difficult": [False]}]
    dd.write_voc(tmp_path, "trainval", images[:2], objects[:2])
    dd.write_voc(tmp_path, "test", images[2:], objects[2:])
    data = dd.load_voc2007(tmp_path)
    assert (len(data.train), len(data.test), data.num_classes, data.in_channels) == (2, 1, 20, 3)
    image, target = data.train.item(1)
    assert image.shape == (3, 60, 80) and image.dtype == torch.uint8
    assert target["boxes"].tolist() == [[0, 0, 79, 59], [4, 5, 19, 29]]  # 1-based VOC coordinates, minus one
    assert [dd.VOC_CLASSES[i - 1] for i in target["labels"]] == ["person", "car"]
    assert target["difficult"].tolist() == [False, True]


def test_voc2007_not_found_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("RETHINKKIT_DATA", raising=False)
    with pytest.raises(DatasetNotFound, match=r"(?s)no VOCdevkit/VOC2007.*download=True"):
        dd.load_voc2007(tmp_path / "nothing")


# --- the detector --------------------------------------------------------------------------------

def test_the_detector_is_torchvisions_faster_rcnn_on_the_kits_resnet34(mini):
    from torchvision.models.detection import FasterRCNN
    from torchvision.ops.misc import FrozenBatchNorm2d

    net = quarter_resnet34()
    model = detection.detector(net, mini.num_classes, TINY, mini.mean, mini.std)
    assert isinstance(model, FasterRCNN)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    assert any(isinstance(m, FrozenBatchNorm2d) for m in model.modules())
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
    assert frozen and all(n.startswith(("backbone.conv1", "backbone.layer1")) for n in frozen)
    assert model.backbone.out_channels == 64 and model.roi_heads.box_predictor.cls_score.out_features == 11
    images, targets = detection._images([mini.train.item(0), mini.train.item(1)], [False, True])
    model.train()
    losses = model(images, targets)
    assert set(losses) == {"loss_classifier", "loss_box_reg", "loss_objectness", "loss_rpn_box_reg"}
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    model.eval()
    with torch.inference_mode():
        (found,) = model(images[:1])
    assert set(found) == {"boxes", "labels", "scores"}


def test_flips_mirror_the_boxes(mini):
    image, target = mini.train.item(0)
    (flipped,), (boxes,) = detection._images([(image, target)], [True])
    assert torch.equal(flipped, image.float().flip(-1) / 255)
    width = image.shape[-1]
    assert torch.equal(boxes["boxes"][:, 0], width - target["boxes"][:, 2])
    assert torch.equal(boxes["boxes"][:, 2], width - target["boxes"][:, 0])


def test_the_detectors_backbone_comes_back_as_a_classifier(mini):
    net = quarter_resnet34()
    model = detection.detector(net, mini.num_classes, TINY, mini.mean, mini.std)
    back = detection.classifier_of(model)
    for key, value in net.state_dict().items():
        if not key.startswith("fc.") and not key.endswith("num_batches_tracked"):
            assert torch.equal(back.state_dict()[key], value), key


def test_prune_d_prunes_the_detectors_backbone_and_keeps_its_heads(mini):
    parent_net = quarter_resnet34()
    trained = detection.detector(parent_net, mini.num_classes, TINY, mini.mean, mini.std)
    with torch.no_grad():  # stands for detection training: the backbone moves away from the classifier
        for p in trained.backbone.layer2.parameters():
            p.add_(torch.randn_like(p))

    class Parent:
        def state_dict(self):
            return trained.state_dict()

    t = rk.detection.targets(["resnet34-b"], rk.pipeline.protocol("fashion-mnist-mini", width=0.25))[0]
    child = detection._pruned_detector(Parent(), parent_net, t, mini, TINY)
    expected = rk.pruning.prune("l1-norm", detection.classifier_of(trained), t.spec)
    assert child.classifier_arch["cfg"] == expected.cfg != QUARTER
    for key, value in trained.state_dict().items():
        if key.startswith(("rpn.", "roi_heads.box_predictor.")):
            assert torch.equal(child.state_dict()[key], value), key
    # the kept filters are those of the detection-trained weights, not the classifier's
    assert torch.equal(child.state_dict()["backbone.layer2.1.conv1.weight"],
                       expected.model.state_dict()["layer2.1.conv1.weight"])


def test_evaluate_gives_100_for_the_ground_truth_and_0_for_nothing(mini):
    """mAP is torchmetrics': a stand-in detector that returns the test set's own boxes scores 100,
    one that returns no box scores 0."""
    small = mini.subset(4, 6)
    truths = iter([])

    class Oracle(torch.nn.Module):
        def __init__(self, empty):
            super().__init__()
            self.empty = empty

        def forward(self, images):
            out = []
            for _ in images:
                _, t = next(truths)
                n = 0 if self.empty else len(t["labels"])
                out.append({"boxes": t["boxes"][:n], "labels": t["labels"][:n], "scores": torch.ones(n)})
            return out

    truths = iter([small.test.item(i) for i in range(6)])
    assert detection.evaluate(Oracle(False), small, batch_size=4)["map50"] == pytest.approx(100)
    truths = iter([small.test.item(i) for i in range(6)])
    assert detection.evaluate(Oracle(True), small, batch_size=4)["map50"] == pytest.approx(0)


def test_the_recipe_is_yang_et_als_and_checks_its_values():
    assert [detection.VOC.lr_at(e) for e in range(1, 8)] == pytest.approx([1e-3] * 5 + [1e-4] * 2)
    assert (detection.VOC.batch_size, detection.VOC.min_size, detection.VOC.anchor_sizes) == (1, 600, (128, 256, 512))
    with pytest.raises(rk.config.ConfigError, match="epochs must be a positive integer"):
        detection.DetectionRecipe(epochs=0)
    with pytest.raises(rk.config.ConfigError, match="frozen_blocks"):
        detection.DetectionRecipe(frozen_blocks=5)


# --- runs in the store ---------------------------------------------------------------------------

def spec_for(mini, recipe=TINY):
    return detection.DetectionSpec(mini.name, "resnet34", QUARTER, "backbone:test", recipe, (("widths", WIDTHS),),
                                   train_subset=6, test_subset=4)


def test_a_detection_run_resumes_to_the_weights_of_an_uninterrupted_one(tmp_path, mini, monkeypatch):
    build = lambda: detection.detector(quarter_resnet34(), mini.num_classes, TINY, mini.mean, mini.std)  # noqa: E731
    spec = spec_for(mini)
    whole = detection.get_or_train(spec, 0, build, mini, store=Store(tmp_path / "a"), image_shape=(1, 32, 32))

    real, calls = detection.evaluate, []

    def dies_in_epoch_2(model, data, batch_size=8):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # killed after epoch 1's checkpoint
        return real(model, data, batch_size)

    monkeypatch.setattr(detection, "evaluate", dies_in_epoch_2)
    store = Store(tmp_path / "b")
    with pytest.raises(KeyboardInterrupt):
        detection.get_or_train(spec, 0, build, mini, store=store, image_shape=(1, 32, 32))
    folder = detection.detection_root(store) / spec.key() / "seed0"
    assert (folder / "checkpoint.pt").exists() and not (folder / "result.parquet").exists()
    resumed = detection.get_or_train(spec, 0, build, mini, store=store, image_shape=(1, 32, 32))
    assert len(calls) == 3  # epoch 2 only: epoch 1 came from the checkpoint
    a, b = whole.state_dict(), resumed.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    columns = ["epoch", "lr", "train_loss", "test_map50", "test_map"]
    assert whole.history[columns].equals(resumed.history[columns])
    assert not (folder / "checkpoint.pt").exists()


def test_a_finished_detection_run_is_never_trained_again(tmp_path, mini, monkeypatch):
    build = lambda: detection.detector(quarter_resnet34(), mini.num_classes, TINY, mini.mean, mini.std)  # noqa: E731
    spec = spec_for(mini, dataclasses.replace(TINY, epochs=1))
    first = detection.get_or_train(spec, 0, build, mini, store=Store(tmp_path), image_shape=(1, 32, 32))
    monkeypatch.setattr(detection, "train_detector", lambda *a, **k: pytest.fail("trained twice"))
    again = detection.get_or_train(spec, 0, build, mini, store=Store(tmp_path), image_shape=(1, 32, 32))
    assert again.final_map50 == first.final_map50 and again.key == first.key
    assert spec.key() != spec_for(mini, TINY).key()  # the recipe is part of the key


def test_table_12_is_data_with_its_citation():
    table = rk.paper.table(12)
    assert len(table) == 9 and set(table["dataset"]) == {"voc2007"} and set(table["n"]) == {1}
    assert set(table["strategy"]) == set(detection.STRATEGIES)
    assert table.set_index(["config", "strategy"]).loc[("resnet34-b", "prune-d"), "mean"] == 69.62
    assert "Table 12" in table["source"].iloc[0]


def test_the_whole_table_12_protocol_at_a_tiny_size(tmp_path, mini, monkeypatch):
    data, protocol = rk.pipeline.study("fashion-mnist-mini", device="cpu", epochs=2, finetune_epochs=1,
                                       train_subset=32, test_subset=50, width=0.25)
    recipe = dataclasses.replace(detection.FASHION, epochs=1)
    runs = detection.transfer(protocol, ["resnet34-a"], [0], mini, recipe, cls_data=data, store=tmp_path,
                              train_subset=4, test_subset=4)
    assert [tuple(r) for r in runs[["config", "strategy"]].values] == [
        ("resnet34", "unpruned"), ("resnet34-a", "prune-c"), ("resnet34-a", "scratch-e"),
        ("resnet34-a", "scratch-b"), ("resnet34-a", "prune-d")]
    # one detection run per backbone (Scratch-E and Scratch-B share theirs when the budget adds no epoch)
    transferred = runs[runs.strategy != "prune-d"]
    assert transferred.groupby("backbone")["key"].nunique().eq(1).all()
    assert transferred["key"].nunique() == transferred["backbone"].nunique() and runs["key"].nunique() == len(
        set(transferred["key"])) + 1
    pruned = runs[runs.config == "resnet34-a"]
    assert (pruned["backbone_macs"] < runs["backbone_macs"].iloc[0]).all()
    assert pruned["backbone_macs"].nunique() == 1  # one architecture, four ways to train it
    assert math.isnan(runs.set_index("strategy").loc["prune-d", "cls_top1"])
    history = detection.history(runs, tmp_path)
    assert len(history) == len(runs) and set(history["strategy"]) == set(detection.STRATEGIES)
    monkeypatch.setattr(detection, "train_detector", lambda *a, **k: pytest.fail("trained twice"))
    again = detection.transfer(protocol, ["resnet34-a"], [0], mini, recipe, cls_data=data, store=tmp_path,
                               train_subset=4, test_subset=4)
    assert again["key"].tolist() == runs["key"].tolist()
    cells = detection.cells(runs)
    assert set(cells["paper"]) <= set(rk.paper.table(12)["mean"]) and (cells["n"] == 1).all()
    table = detection.compare(runs)  # one seed: no interval, and detectors this small have not learned
    assert len(table) == len(detection.PAIRS) and set(table["verdict (ours)"]) == {"no verdict (not learned)"}
    paper = rk.paper.table(12).set_index(["config", "strategy"])["mean"]
    first = table.iloc[0]  # scratch-e vs prune-c: the paper's difference and its sign
    assert first["paper"] == pytest.approx(paper["resnet34-a", "scratch-e"] - paper["resnet34-a", "prune-c"])
    assert first["verdict (paper)"] == "scratch-e better"


def test_table_12_takes_resnet34_configs_only():
    with pytest.raises(ValueError, match="Table 12 prunes ResNet-34"):
        detection.targets(["resnet56-a"], rk.pipeline.protocol("fashion-mnist-mini"))
