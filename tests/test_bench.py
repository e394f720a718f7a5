"""The benchmark's code path (not its timings: timed assertions do not belong in tests)."""
import re

import pytest
import torch

from rethinkkit import bench, cli, models
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
