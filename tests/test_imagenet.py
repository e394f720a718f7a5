"""ImageNet: the cfg-driven ResNet-34 (Li et al. 2017) and the ImageFolder data path (CPU).

The data tests write a tiny ImageFolder (3 classes, 6 train / 2 val images each, PNGs of
40-80 px). Every image's red channel is a constant that names its class, so a batch's
labels can be checked against its pixels after any crop; green and blue are noise, so
different crops give different tensors.
"""

import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision
from PIL import Image

import rethinkkit as rk
from rethinkkit import data as rd
from rethinkkit import flops, models
from rethinkkit.config import Recipe, RunSpec
from rethinkkit.data import imagenet
from rethinkkit.data.imagenet import IMAGENET_MEAN, IMAGENET_STD, ImageFolderData

pytestmark = pytest.mark.usefixtures("one_thread")

# Li et al. (2017), from REFERENCE.md: skip ids, per-stage ratios, and the resulting cfgs.
SKIP = (2, 8, 14, 16, 26, 28, 30, 32)
RESNET34_A = [64, 44, 44, 128, 89, 89, 128, 256, 179, 179, 179, 179, 256, 512, 512, 512]
RESNET34_B = [64, 32, 32, 128, 51, 51, 128, 256, 153, 153, 153, 153, 256, 512, 512, 512]
RATIOS = {"A": (0.3, 0.3, 0.3, 0.0), "B": (0.5, 0.6, 0.4, 0.0)}
TORCHVISION_RESNET34_PARAMS = 21_797_672

CLASSES = ["n01", "n02", "n03"]
RED = (40, 130, 220)  # red value of each class's images


# --- ResNet-34 -------------------------------------------------------------------------


def resnet34_counts(cfg, classes=1000, side=224):
    """Hand-written params (with BN) and conv+linear MACs of ResNet-34, independent of the code.

    Also returns the projection shortcuts' share (params of their convs, MACs)."""
    side //= 2  # stem: 7x7 stride 2
    params = 49 * 3 * 64 + 2 * 64
    macs = 49 * 3 * 64 * side * side
    side //= 2  # max-pool
    inputs, block = 64, 0
    short_params = short_macs = 0
    for stage, (width, n) in enumerate(zip((64, 128, 256, 512), (3, 4, 6, 3))):
        for i in range(n):
            if stage > 0 and i == 0:
                side //= 2
                short_params += inputs * width
                short_macs += inputs * width * side * side
                params += inputs * width + 2 * width
            inner = cfg[block]
            params += 9 * inputs * inner + 2 * inner + 9 * inner * width + 2 * width
            macs += (9 * inputs * inner + 9 * inner * width) * side * side
            inputs, block = width, block + 1
    params += 512 * classes + classes
    macs += 512 * classes
    return params, macs + short_macs, short_params, short_macs


def forward_backward(model, in_channels, num_classes, side=64):
    torch.manual_seed(0)
    logits = model(torch.randn(2, in_channels, side, side))
    assert logits.shape == (2, num_classes)
    loss = F.cross_entropy(logits, torch.tensor([0, num_classes - 1]))
    loss.backward()
    assert torch.isfinite(loss)
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_resnet34_is_torchvisions_resnet34():
    ours = models.build("resnet34", num_classes=1000)
    theirs = torchvision.models.resnet34()
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters())
    assert sum(p.numel() for p in ours.parameters()) == TORCHVISION_RESNET34_PARAMS
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in theirs.state_dict().items()}
    # Same names, same computation: torchvision's weights load and give its logits.
    ours.load_state_dict(theirs.state_dict())
    ours.eval()
    theirs.eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x))


@pytest.mark.parametrize("cfg", [None, RESNET34_A, RESNET34_B])
@pytest.mark.parametrize("classes, side", [(1000, 224), (10, 32)])
def test_resnet34_counts_match_the_formula(cfg, classes, side):
    model = models.build("resnet34", num_classes=classes, cfg=cfg)
    params, macs, _, _ = resnet34_counts(model.cfg, classes, side)
    assert flops.count(model, (3, side, side)) == flops.Counts(params, macs)


def test_resnet34_size_and_li_et_al_reductions():
    base = flops.count(models.build("resnet34", num_classes=1000), (3, 224, 224))
    assert base.params == TORCHVISION_RESNET34_PARAMS
    assert round(base.macs / 1e9, 2) == 3.66  # torchvision's documented "GFLOPS" (MACs) of resnet34
    # Reductions as rethinkkit counts them (every conv, BN and the fc) vs Li et al.'s table:
    # params 7.6% / 10.8%, FLOPs (MACs) 15.5% / 24.2%.
    for cfg, params_pruned, macs_pruned in ((RESNET34_A, 7.6, 15.5), (RESNET34_B, 10.8, 24.2)):
        pruned = flops.count(models.build("resnet34", num_classes=1000, cfg=cfg), (3, 224, 224))
        assert 100 * (1 - pruned.params / base.params) == pytest.approx(params_pruned, abs=0.15)
        assert 100 * (1 - pruned.macs / base.macs) == pytest.approx(macs_pruned, abs=0.3)


def test_li_et_al_numbers_leave_out_the_projection_shortcuts():
    # Li et al.'s ResNet-34 FLOPs, 3.64e9 / 3.08e9 / 2.76e9, and their rounded percentages
    # are exactly the counts without the three 1x1 projection shortcuts (whose MACs do not
    # change with the cfg); their params percentages are too, without the shortcut convs.
    rows = {}
    for label, cfg in (("base", None), ("A", RESNET34_A), ("B", RESNET34_B)):
        model = models.build("resnet34", num_classes=1000, cfg=cfg)
        counts = flops.count(model, (3, 224, 224))
        _, _, short_params, short_macs = resnet34_counts(model.cfg)
        rows[label] = (counts.params - short_params, counts.macs - short_macs)
    assert [float(f"{rows[k][1]:.2e}") for k in ("base", "A", "B")] == [3.64e9, 3.08e9, 2.76e9]
    for label, params_pruned, macs_pruned in (("A", 7.6, 15.5), ("B", 10.8, 24.2)):
        assert round(100 * (1 - rows[label][0] / rows["base"][0]), 1) == params_pruned
        assert round(100 * (1 - rows[label][1] / rows["base"][1]), 1) == macs_pruned


def test_resnet34_prunable_layers_follow_li_et_al_ids():
    model = models.build("resnet34")
    layers = model.prunable_layers()
    assert [layer.position for layer in layers] == list(range(16))
    assert [layer.layer_id for layer in layers] == list(range(2, 34, 2))
    first, last = layers[0], layers[15]
    assert (first.layer_id, first.conv) == (2, "layer1.0.conv1")
    assert first.dependents == (("layer1.0.bn1", 0), ("layer1.0.conv2", 1))
    assert (last.layer_id, last.conv) == (32, "layer4.2.conv1")
    assert last.dependents == (("layer4.2.bn1", 0), ("layer4.2.conv2", 1))
    modules = dict(model.named_modules())
    for layer in layers:
        width = model.cfg[layer.position]
        assert modules[layer.conv].weight.shape[0] == width
        for name, dim in layer.dependents:
            assert modules[name].weight.shape[dim] == width
    # Li et al.'s rule over these ids gives REFERENCE.md's ResNet-34-A and -B.
    assert [layer.stage for layer in layers] == [0] * 3 + [1] * 4 + [2] * 6 + [3] * 3
    for version, cfg in (("A", RESNET34_A), ("B", RESNET34_B)):
        derived = [model.cfg[layer.position] if layer.layer_id in SKIP
                   else int(model.cfg[layer.position] * (1 - RATIOS[version][layer.stage]))
                   for layer in layers]
        assert derived == cfg


@pytest.mark.parametrize("cfg", [None, RESNET34_B])
@pytest.mark.parametrize("in_channels, num_classes", [(3, 10), (1, 100)])
def test_resnet34_runs_small_inputs(cfg, in_channels, num_classes):
    model = models.build("resnet34", num_classes=num_classes, in_channels=in_channels, cfg=cfg)
    forward_backward(model, in_channels, num_classes)
    assert model.arch == {"name": "resnet34", "num_classes": num_classes, "in_channels": in_channels,
                          "cfg": cfg or models.default_cfg("resnet34"), "options": {}}
    assert models.from_arch(model.arch).state_dict().keys() == model.state_dict().keys()


def test_resnet34_init_is_torchvisions():
    torch.manual_seed(0)
    model = models.build("resnet34", num_classes=1000)
    conv = model.layer4[2].conv2  # 512 -> 512, 3x3: kaiming_normal_(fan_out) std sqrt(2 / (9 * 512))
    assert conv.weight.std().item() == pytest.approx((2 / (9 * 512)) ** 0.5, rel=0.02)
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert all(torch.all(bn.weight == 1) and torch.all(bn.bias == 0) for bn in bns)
    bound = 1 / 512 ** 0.5  # Linear left at PyTorch's default uniform(+-1/sqrt(fan_in))
    assert model.fc.weight.abs().max().item() <= bound and model.fc.weight.std().item() > bound / 3


def test_resnet34_bad_cfg_is_explained():
    with pytest.raises(ValueError, match=r"resnet34 cfg needs 16 inner widths \(one per block\), got 15"):
        models.build("resnet34", cfg=[64] * 15)
    with pytest.raises(ValueError, match=r"resnet34 cfg\[3\] must be a positive int"):
        models.build("resnet34", cfg=[64, 64, 64, 0] + [128] * 12)
    with pytest.raises(ValueError, match="takes the options"):
        models.build("resnet34", shortcut="avgpool")


# --- the ImageFolder data path ---------------------------------------------------------


def write_folder(root, classes=CLASSES, n_train=6, n_val=2, flat_val=False):
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("val", n_val)):
        for c, name in enumerate(classes):
            folder = root / split if (flat_val and split == "val") else root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                h, w = rng.integers(40, 81, size=2)
                pixels = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
                pixels[:, :, 0] = RED[c]
                Image.fromarray(pixels).save(folder / f"{name}_{i}.png")
    return root


@pytest.fixture
def folder(tmp_path):
    return write_folder(tmp_path / "imagenet")


@pytest.fixture
def data(folder):
    return ImageFolderData(folder, device="cpu", num_workers=0)


def red_class(images):
    """The class whose red value each image shows (the red channel is constant per image)."""
    red = images[:, 0] * IMAGENET_STD[0] + IMAGENET_MEAN[0]  # back to x / 255
    values = red.flatten(1).mean(1) * 255
    assert (red.flatten(1).amax(1) - red.flatten(1).amin(1)).max() * 255 < 3  # constant up to resampling
    return (values.unsqueeze(1) - torch.tensor(RED, dtype=values.dtype)).abs().argmin(1)


def epoch(data, **kwargs):
    batches = list(data.train_batches(4, **kwargs))
    return torch.cat([x for x, _ in batches]), torch.cat([y for _, y in batches]), batches


def test_load_by_name(folder, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv(rd.ENV_DATA, raising=False)
    data = rk.data.load("imagenet", root=folder, device="cpu")
    assert isinstance(data, ImageFolderData) and "imagenet" in rk.data.names()
    assert rk.data.load("imagenet", root=folder, device="cpu") is data  # cached like every dataset
    assert (data.name, data.num_classes, data.in_channels) == ("imagenet", 3, 3)
    assert data.image_shape == (3, 224, 224) and data.classes == CLASSES
    assert (data.num_train, data.num_test) == (18, 6)
    assert data.train_labels.dtype == torch.int64
    assert data.train_labels.tolist() == [0] * 6 + [1] * 6 + [2] * 6
    assert data.test_labels.tolist() == [0] * 2 + [1] * 2 + [2] * 2
    assert data.num_workers == min(8, os.cpu_count())
    # $RETHINKKIT_DATA/imagenet is found too
    monkeypatch.setenv(rd.ENV_DATA, str(folder.parent))
    assert rk.data.load("imagenet", device="cpu").root == folder


def test_batches_are_normalised_and_labelled(data):
    x, y, batches = epoch(data, seed=0, epoch=0)
    assert [len(b[1]) for b in batches] == [4, 4, 4, 4, 2] and data.num_train_batches(4) == 5
    assert x.dtype == torch.float32 and x.shape == (18, 3, 224, 224) and y.dtype == torch.int64
    assert sorted(y.tolist()) == sorted(data.train_labels.tolist())
    assert torch.equal(red_class(x), y)
    tx, ty = map(torch.cat, zip(*data.test_batches(4)))
    assert tx.shape == (6, 3, 224, 224) and torch.equal(ty, data.test_labels)
    assert torch.equal(red_class(tx), ty)
    assert torch.equal(torch.cat([x for x, _ in data.test_batches(5)]), tx)  # no randomness


def test_epoch_is_a_function_of_seed_and_epoch(data):
    before = torch.get_rng_state()
    x, y, _ = epoch(data, seed=0, epoch=3)
    assert torch.equal(torch.get_rng_state(), before)  # train() checkpoints the global state
    torch.manual_seed(123)  # the global state does not matter either
    again_x, again_y, _ = epoch(data, seed=0, epoch=3)
    assert torch.equal(x, again_x) and torch.equal(y, again_y)
    other_x, other_y, _ = epoch(data, seed=0, epoch=4)
    assert not torch.equal(y, other_y)
    assert not torch.equal(epoch(data, seed=1, epoch=3)[1], y)


def test_batches_do_not_depend_on_the_number_of_workers(folder, data):
    workers = ImageFolderData(folder, device="cpu", num_workers=2)
    x, y, _ = epoch(data, seed=5, epoch=1)
    wx, wy, _ = epoch(workers, seed=5, epoch=1)
    assert torch.equal(x, wx) and torch.equal(y, wy)


def test_augment_false_uses_the_test_transform(data):
    # An epoch holds the test transform of every training image, shuffled; with
    # augmentation the crops differ from seed to seed.
    expected = torch.stack([imagenet.test_transform()(Image.open(path).convert("RGB")).sum()
                            for path, _ in data._train])
    plain = [epoch(data, seed=s, epoch=0, augment=False)[0].sum(dim=(1, 2, 3)) for s in (0, 1)]
    assert not torch.equal(plain[0], plain[1])
    for sums in plain:
        torch.testing.assert_close(sums.sort().values, expected.sort().values)
    augmented = [epoch(data, seed=s, epoch=0)[0].sum(dim=(1, 2, 3)) for s in (0, 1)]
    assert not torch.allclose(augmented[0].sort().values, augmented[1].sort().values)


def test_subset_is_stratified_deterministic_and_named_like_data(data):
    sub = data.subset(n_train=6, n_test=3, seed=0)
    assert (sub.num_train, sub.num_test) == (6, 3)
    assert torch.bincount(sub.train_labels).tolist() == [2, 2, 2]
    assert sorted(torch.bincount(sub.test_labels).tolist()) == [1, 1, 1]
    assert sub._train == data.subset(n_train=6, n_test=3, seed=0)._train
    assert sub._train != data.subset(n_train=6, n_test=3, seed=1)._train
    assert set(sub._train) <= set(data._train) and data.num_train == 18  # the full data is untouched
    assert [label for _, label in sub._train] == sub.train_labels.tolist()
    x, y, _ = epoch(sub, seed=0, epoch=0)
    assert torch.equal(red_class(x), y) and len(y) == 6
    # The same name as Data.subset gives, so the run store never mixes it with the full data.
    tensors = rd.from_tensors("imagenet", torch.zeros(18, 3, 4, 4, dtype=torch.uint8), data.train_labels,
                              torch.zeros(6, 3, 4, 4, dtype=torch.uint8), data.test_labels,
                              num_classes=3, mean=IMAGENET_MEAN, std=IMAGENET_STD, device="cpu")
    for kwargs in ({"n_train": 6, "n_test": 3, "seed": 0}, {"n_train": 9}):
        assert data.subset(**kwargs).name == tensors.subset(**kwargs).name != "imagenet"
    assert data.subset() is data


def test_missing_imagenet_lists_the_paths_tried(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv(rd.ENV_DATA, str(tmp_path / "env"))
    with pytest.raises(rd.DatasetNotFound) as err:
        rk.data.load("imagenet", root=tmp_path / "nowhere", device="cpu")
    message = str(err.value)
    cache = tmp_path / "home" / ".cache" / "rethinkkit" / "data"
    for path in (tmp_path / "nowhere", tmp_path / "nowhere" / "imagenet", tmp_path / "env",
                 tmp_path / "env" / "imagenet", cache, cache / "imagenet"):
        assert f"  - {path}\n" in message
    assert "must be downloaded by you" in message and "train/<class>" in message and "val/<class>" in message
    assert "download=True" not in message


def test_download_cannot_fetch_imagenet(folder, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv(rd.ENV_DATA, raising=False)
    with pytest.raises(rd.DatasetNotFound, match="download=True cannot fetch it: ImageNet is not downloadable"):
        rk.data.load("imagenet", root=tmp_path / "nowhere", download=True, device="cpu")
    # A profile that sets download for every dataset still loads an ImageNet that is there.
    assert rk.data.load("imagenet", root=folder, download=True, device="cpu").num_train == 18


def test_flat_val_folder_is_explained(tmp_path):
    root = write_folder(tmp_path / "flat", flat_val=True)
    with pytest.raises(rd.DatasetCorrupt, match="must be sorted into class folders"):
        ImageFolderData(root, device="cpu", num_workers=0)


def test_train_and_val_classes_must_agree(tmp_path):
    root = write_folder(tmp_path / "mismatch")
    (root / "val" / CLASSES[2]).rename(root / "val" / "n99")
    with pytest.raises(rd.DatasetCorrupt, match=r"only in train/: \['n03'\].*only in val/: \['n99'\]"):
        ImageFolderData(root, device="cpu", num_workers=0)


def test_bad_num_workers_is_explained(folder):
    with pytest.raises(ValueError, match="num_workers must be an int >= 0"):
        ImageFolderData(folder, device="cpu", num_workers=-1)


def test_resnet34_trains_on_imagefolder_through_the_run_store(data, store):
    spec = RunSpec(dataset="imagenet", model="resnet34", recipe=Recipe(epochs=1, batch_size=4, eval_batch_size=6),
                   train_subset=4)
    run = store.get_or_run(spec, 0, data=data, progress=False)
    row = run.history.iloc[0]
    assert row["train_images"] == 4 and row["num_classes"] == 3 and np.isfinite(row["train_loss"])
    assert 0 <= row["test_top1"] <= 100
    # The run's counts are at the data's image shape, 224x224.
    expected = flops.count(models.build("resnet34", num_classes=3), (3, 224, 224))
    assert (run.params, run.macs) == (expected.params, expected.macs)
    torch.manual_seed(0)  # the run store seeds the initialisation with the run's seed
    initial = models.build("resnet34", num_classes=3)
    assert not torch.equal(run.load_model().fc.weight, initial.fc.weight)  # one step was taken


def test_load_passes_num_workers(folder):
    assert imagenet.load(folder, device="cpu", num_workers=0).num_workers == 0
