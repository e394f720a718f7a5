"""The benchmark's code path (not its timings: timed assertions do not belong in tests)."""
import torch

from rethinkkit import bench


def test_bench_table_has_both_sides_and_names_the_hardware():
    table = bench.run(["resnet20"], steps=2, device="cpu")
    assert list(table["model"]) == ["resnet20"]
    row = table.iloc[0]
    assert row["kit img/s"] > 0 and row["baseline img/s"] > 0
    assert row["speed-up"] == row["kit img/s"] / row["baseline img/s"]
    text = bench.markdown(table, torch.device("cpu"), 2, 64)
    assert "| resnet20 |" in text and "cores" in text
