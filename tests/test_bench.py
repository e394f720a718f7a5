"""The benchmark's code path (not its timings: timed assertions do not belong in tests)."""
import re

import numpy as np
import pandas as pd
import pytest
import torch

from rethinkkit import bench, cli, flops, models, paper
from rethinkkit.config import Recipe

pytestmark = [
    pytest.mark.usefixtures("one_thread"),  # small CPU batches: threads only wait on a busy machine
    pytest.mark.filterwarnings("ignore::rethinkkit.train.ChannelsLastOnCPU"),  # tested in test_speed
]


def test_bench_table_has_three_sides_their_ratios_and_names_the_hardware():
    table = bench.run(["resnet20"], steps=1, device="cpu", variants=("plain", "channels_last"))
    assert list(table["model"]) == ["resnet20", "resnet20"]
    assert list(table["variant"]) == ["plain", "channels_last"]
    for row in table.to_dict("records"):
        assert row["ceiling img/s"] > 0 and row["kit img/s"] > 0 and row["baseline img/s"] > 0
        assert row["kit/ceiling"] == row["kit img/s"] / row["ceiling img/s"]
        assert row["kit/baseline"] == row["kit img/s"] / row["baseline img/s"]
        assert row["kit s/epoch"] == bench.CIFAR_TRAIN_IMAGES / row["kit img/s"]
    assert table["baseline img/s"].nunique() == 1  # the original's loop, measured once per model
    text = bench.markdown(table, torch.device("cpu"), 1, 64)
    assert "cores" in text and "ceiling" in text
    assert re.search(r"\| resnet20 \| \d+ \| \d+ \| \d+ \| [\d.]+ \| [\d.]+x \| [\d.]+ \| plain \|", text), text
    assert re.search(r"\| resnet20 \| \d+ \| \d+ \| \d+ \| [\d.]+ \| [\d.]+x \| [\d.]+ \| channels_last \|", text)


def test_the_ceiling_is_bare_steps_on_one_batch(monkeypatch):
    """Warm-up and timed passes of `steps` SGD steps each, on the batch's images, and nothing else:
    no evaluation, no data pipeline, no host read of the loss."""
    steps, images, labels = 2, *bench._images(2 * 64)
    calls = []
    original_step = torch.optim.SGD.step
    monkeypatch.setattr(torch.optim.SGD, "step", lambda self, *a, **k: calls.append(1) or original_step(self, *a, **k))
    monkeypatch.setattr(torch.Tensor, "item", lambda self: pytest.fail("the bare step read a value on the host"))
    torch.manual_seed(0)
    model = models.build("resnet20")
    before = [p.detach().clone() for p in model.parameters()]
    rate = bench.ceiling_rate(model, images, labels, torch.device("cpu"), Recipe())
    assert rate > 0 and len(calls) == 2 * steps
    assert all(not torch.equal(a, p) for a, p in zip(before, model.parameters()))


def test_variants_reach_both_the_kit_and_its_ceiling(monkeypatch):
    """torch.compile itself is exercised in test_speed; here a stand-in records who asked for it."""
    compiled = []
    monkeypatch.setattr(torch, "compile", lambda module, **kwargs: compiled.append(module) or module)
    table = bench.run(["resnet20"], steps=1, device="cpu", variants=("compile",))
    assert list(table["variant"]) == ["compile"] and len(compiled) == 2  # the ceiling's model and the kit's


def test_variants_asked_by_flags_and_checked():
    assert bench.variants_asked() == ("plain",)
    assert bench.variants_asked(compile=True) == ("plain", "compile")
    assert bench.variants_asked(channels_last=True, compile=True) == (
        "plain", "channels_last", "compile", "channels_last+compile")
    with pytest.raises(ValueError, match="unknown bench variant.*'fast'.*choose from plain, channels_last"):
        bench.run(["resnet20"], steps=1, device="cpu", variants=("fast",))
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        bench.run(["resnet20"], steps=0, device="cpu")


def test_bench_command_prints_a_row_per_variant(capsys):
    assert cli.main(["bench", "--models", "resnet20", "--steps", "1", "--device", "cpu", "--channels-last"]) == 0
    out = capsys.readouterr().out
    assert "| model | ceiling img/s | kit img/s | baseline img/s | kit/ceiling | kit/baseline |" in out
    assert re.search(r"\| resnet20 \| \d+ \| \d+ \|.*\| plain \|", out), out
    assert re.search(r"\| resnet20 \| \d+ \| \d+ \|.*\| channels_last \|", out), out


def test_seeds_together_table_through_the_cli(capsys):
    """`rethinkkit bench --seeds-together`: one row per K with per-seed and total img/s against one seed
    alone, the hardware named (numbers are not asserted: timings are not tests)."""
    assert cli.main(["bench", "--models", "resnet20", "--seeds-together", "1", "2", "--steps", "1", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| resnet20 |")]
    assert [row.split("|")[2].strip() for row in rows] == ["1", "2"]
    assert "Hardware:" in out and "stacked model" in out
    with pytest.raises(SystemExit):
        cli.main(["bench", "--seeds-together", "0"])


# --- measured speed of pruned models (bench.pruned_speed) ---------------------------------------

TINY = {"device": "cpu", "repeats": 2, "warmup": 1, "batches": (1, 2), "train_batch": 2}


@pytest.fixture(scope="module")
def speed(one_thread):
    """Two L1-norm ResNet-56 targets (one unpruned model) and an automatic one, at tiny batches."""
    return bench.pruned_speed(["resnet56-a", "resnet56-b", "vgg19-p70"], **TINY)


def test_pruned_speed_has_every_config_measured_or_skipped_with_its_reason(speed):
    assert list(dict.fromkeys(speed["config"])) == ["resnet56-a", "resnet56-b", "vgg19-p70"]
    assert list(speed.columns) == list(bench.SPEED_COLUMNS)
    for name in ("resnet56-a", "resnet56-b"):
        rows = speed[speed["config"] == name]
        assert list(zip(rows["measurement"], rows["batch"])) == [("inference", 1), ("inference", 2), ("train step", 2)]
        assert (rows["batch"] == rows["batch asked"]).all() and (rows["note"] == "").all()
        assert (rows["repeats"] == 2).all() and (rows["warmup"] == 1).all() and (rows["threads"] == 1).all()
        assert (rows["input size"] == "3x32x32").all() and (rows["architecture"] == "the config's cfg").all()
    (skipped,) = speed[speed["config"] == "vgg19-p70"].to_dict("records")
    assert skipped["measurement"] == "skipped" and "automatic" in skipped["note"] and pd.isna(skipped["base s"])


def test_pruned_speed_ratios_follow_the_medians_and_the_flops_counts(speed):
    measured = speed[speed["measurement"] != "skipped"]
    assert (measured["base s"] > 0).all() and (measured["pruned s"] > 0).all()
    assert np.allclose(measured["time ratio"], measured["pruned s"] / measured["base s"], rtol=1e-12)
    assert np.allclose(measured["speed-up"] * measured["time ratio"], 1, rtol=1e-12)
    for name in ("resnet56-a", "resnet56-b"):
        config = paper.config(name)
        base = flops.count(models.build("resnet56"), (3, 32, 32))
        pruned = flops.count(models.build("resnet56", cfg=list(config.cfg)), (3, 32, 32))
        rows = measured[measured["config"] == name]
        assert (rows["base_macs"] == base.macs).all() and (rows["pruned_macs"] == pruned.macs).all()
        assert (rows["pruned_params"] == pruned.params).all()
        assert np.allclose(rows["MAC reduction"], base.macs / pruned.macs, rtol=1e-12)
    # one unpruned ResNet-56, measured once: both targets are compared with the same time
    a, b = (measured[measured["config"] == n].set_index(["measurement", "batch"])["base s"] for n in ("resnet56-a", "resnet56-b"))
    assert a.equals(b)


def test_time_calls_leaves_the_warm_up_out():
    """A fake clock that the step advances: warm-up calls take 100 s each, timed call i takes i s."""
    now, calls = [0.0], []

    def step():
        calls.append(1)
        now[0] += 100.0 if len(calls) <= 3 else len(calls)

    seconds = bench.time_calls(step, torch.device("cpu"), repeats=4, warmup=3, clock=lambda: now[0])
    assert len(calls) == 7 and seconds == [4.0, 5.0, 6.0, 7.0]


def test_pruned_speed_runs_warm_up_plus_repeats_per_measurement(monkeypatch):
    calls = []
    real = bench.time_calls
    monkeypatch.setattr(bench, "time_calls", lambda step, device, repeats, warmup, **kw: calls.append(
        (repeats, warmup)) or real(step, device, repeats, warmup, **kw))
    table = bench.pruned_speed(["resnet56-a"], device="cpu", repeats=3, warmup=2, batches=(1,), train_batch=2)
    assert len(table) == 2 and calls == [(3, 2)] * 4  # inference and train step, unpruned and pruned


def test_imagenet_batches_are_capped_and_the_table_says_so(monkeypatch):
    """The timing is replaced (a 224x224 ResNet-34 at batch 64 is heavy); the table records what was asked."""
    measured = []
    monkeypatch.setattr(bench, "measure", lambda model, measurement, batch, shape, classes, *a: measured.append(
        (measurement, batch, shape, classes)) or 1.0)
    table = bench.pruned_speed(["resnet34-a", "resnet56-a"], device="cpu", batches=(1, 64), imagenet_max_batch=8)
    imagenet = table[table["config"] == "resnet34-a"]
    assert list(imagenet["batch"]) == [1, 8, 8] and list(imagenet["batch asked"]) == [1, 64, 64]
    assert list(imagenet["note"]) == ["", "batch capped at 8 (imagenet_max_batch)", "batch capped at 8 (imagenet_max_batch)"]
    assert (imagenet["input size"] == "3x224x224").all()
    assert list(table[table["config"] == "resnet56-a"]["batch"]) == [1, 64, 64]  # CIFAR sizes are not capped
    assert ("train step", 8, (3, 224, 224), 1000) in measured


def test_pruned_speed_refuses_bad_inputs_before_timing(monkeypatch):
    monkeypatch.setattr(bench, "measure", lambda *a: pytest.fail("timed despite a bad input"))
    with pytest.raises(ValueError, match="unknown pruned config 'resnet57-a'; known: vgg16-a"):
        bench.pruned_speed(["resnet56-a", "resnet57-a"], device="cpu")
    with pytest.raises(ValueError, match="repeats must be an integer >= 1, got 0"):
        bench.pruned_speed(["resnet56-a"], device="cpu", repeats=0)
    with pytest.raises(ValueError, match="warmup must be an integer >= 0, got -1"):
        bench.pruned_speed(["resnet56-a"], device="cpu", warmup=-1)
    with pytest.raises(ValueError, match=r"batches\[1\] must be an integer >= 1, got 0"):
        bench.pruned_speed(["resnet56-a"], device="cpu", batches=(1, 0))
    with pytest.raises(ValueError, match="name at least one paper config"):
        bench.pruned_speed([], device="cpu")


def test_every_predefined_config_has_an_architecture_to_time_or_a_reason():
    """The default (configs=None) is every config; each one is timed or skipped for a stated reason.
    The 224x224 targets are left out here for speed, except ResNet-34-A (the same path)."""
    assert [c.name for c in bench._check_configs(None)] == list(paper.CONFIGS)
    for config in paper.CONFIGS.values():
        if config.image_size == 224 and config.name != "resnet34-a":
            continue
        arch, how = bench.speed_architecture(config)
        if config.method in bench.LEARNED_ARCHITECTURE:
            assert arch is None and how == bench.LEARNED_ARCHITECTURE[config.method]
        else:
            assert arch["name"] == config.model and how
            if config.cfg is not None:
                assert tuple(arch["cfg"]) == config.cfg


def test_markdown_and_figure_of_the_speed_table(speed):
    text = bench.pruned_speed_markdown(speed, torch.device("cpu"))
    assert "Hardware:" in text and "cores" in text and "timed with 1 torch thread(s), median of 2 timed repeats" in text
    assert re.search(r"\| resnet56-b \| cifar10 \| 3x32x32 \| train step \| 2 \| [\d.]+ \| [\d.]+ \| [\d.]+x \| 1\.38x \|", text), text
    assert "- vgg19-p70 (vgg19, cifar10): automatic" in text
    ax = bench.plot_pruned_speed(speed)
    assert len(ax.collections) == 3  # inference at batches 1 and 2, the train step
    assert any(line.get_label() == "speed-up = MAC reduction" for line in ax.lines)
    with pytest.raises(ValueError, match="no measured rows"):
        bench.plot_pruned_speed(speed[speed["measurement"] == "skipped"])


def test_bench_pruned_command_prints_the_table_and_saves_the_figure(capsys, tmp_path):
    figure = tmp_path / "speed.png"
    assert cli.main(["bench", "--pruned", "--configs", "resnet56-a", "vgg19-p70", "--repeats", "1", "--warmup", "0",
                     "--batches", "1", "--train-batch", "2", "--threads", "1", "--device", "cpu",
                     "--figure", str(figure)]) == 0
    out = capsys.readouterr().out
    assert "| config | dataset | input | measurement | batch | unpruned ms | pruned ms | speed-up | MAC reduction |" in out
    assert re.search(r"\| resnet56-a \| cifar10 \| 3x32x32 \| inference \| 1 \|", out), out
    assert "Hardware:" in out and "- vgg19-p70" in out and figure.stat().st_size > 0
    assert cli.main(["bench", "--pruned", "--configs", "nope", "--device", "cpu"]) == 2
    assert "unknown pruned config 'nope'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["bench", "--pruned", "--repeats", "0"])
