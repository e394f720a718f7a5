"""The scripts that write docs/results/ run end to end on the embedded data (a tiny protocol, one
seed, a store and an output folder of the test's own), and write every file they promise with one
row per run and the paper's claim sections. The numbers are meaningless at this size; the path
is what is tested."""
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--dataset", "fashion-mnist-mini", "--device", "cpu", "--seeds", "0", "--epochs", "2", "--finetune-epochs", "1",
        "--train-subset", "64", "--test-subset", "100", "--width", "0.125", "--name", "tiny"]
CLAIM = ["## Ours beside the paper", "## Scratch-E vs fine-tuned", "## Best test epoch"]


def run_script(name: str, args: list[str], tmp_path: Path) -> pd.DataFrame:
    env = {**os.environ, "RETHINKKIT_STORE": str(tmp_path / "store")}
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / name), *TINY, "--out", str(tmp_path / "out"), *args],
                          capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    text = (tmp_path / "out" / "tiny.md").read_text()
    assert all(section in text for section in CLAIM), text
    assert not list((ROOT / "docs" / "results").glob("tiny*")), "--out was ignored: written into docs/results"
    return pd.read_csv(tmp_path / "out" / "tiny.csv")


def test_l1_norm_results_script(tmp_path):
    runs = run_script("l1_norm_results.py", ["--configs", "vgg16-a"], tmp_path)
    assert sorted(runs.strategy) == ["fine-tune", "fine-tune-restart", "scratch-b", "scratch-e", "unpruned"]
    assert "## The slides' fine-tune-restart row" in (tmp_path / "out" / "tiny.md").read_text()


def test_slimming_results_script(tmp_path):
    sparsity = 0.003
    runs = run_script("slimming_results.py", ["--configs", "vgg19-p70", "--sparsity", str(sparsity)], tmp_path)
    assert sorted(runs.strategy) == ["fine-tune", "scratch-b", "scratch-e", "unpruned"]
    assert set(runs.method.dropna()) == {"network-slimming"}
    pruned = runs[runs.strategy != "unpruned"]
    assert (pruned.params < runs[runs.strategy == "unpruned"].params.iloc[0]).all()
    text = (tmp_path / "out" / "tiny.md").read_text()
    assert f"sparsity strength s of the large models: {sparsity}" in text
    for figure in ("tiny_curves.png", "tiny_strategies.png"):
        assert (tmp_path / "out" / figure).stat().st_size > 1000 and f"({figure})" in text


def test_unstructured_results_script(tmp_path):
    runs = run_script("unstructured_results.py", ["--configs", "vgg19_bn-p80", "--budget-cap", "2"], tmp_path)
    assert sorted(runs.strategy) == ["fine-tune", "scratch-b", "scratch-e", "unpruned"]
    pruned = runs[runs.strategy != "unpruned"]
    assert (pruned.sparsity.round(3) == 0.8).all() and (pruned.macs < runs.macs.max()).all()
    text = (tmp_path / "out" / "tiny.md").read_text()
    assert "## Scratch-B's budget from the nonzero MACs" in text and "yes: the MACs ratio" in text  # capped at 2
    assert "'budget_cap': (2.0, 'none')" in text  # the cap is a named deviation


def test_lottery_results_script(tmp_path):
    env = {**os.environ, "RETHINKKIT_STORE": str(tmp_path / "store")}
    args = [*TINY, "--out", str(tmp_path / "out"), "--ratios", "0.8", "--lrs", "0.1", "0.01"]
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "lottery_results.py"), *args],
                          capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    runs = pd.read_csv(tmp_path / "out" / "tiny.csv")
    assert sorted(set(runs.strategy)) == ["random-init", "unpruned", "winning-ticket"]
    assert sorted(set(runs.lr)) == [0.01, 0.1] and len(runs) == 6
    text = (tmp_path / "out" / "tiny.md").read_text()
    for section in ("## Ours beside Table 9 at lr 0.1", "## Ours beside Table 9 at lr 0.01", "## Mean top-1 by"):
        assert section in text
    assert (tmp_path / "out" / "tiny_sparsity.png").stat().st_size > 1000


def test_reconstruction_results_script(tmp_path):
    runs = run_script("reconstruction_results.py", ["--model", "vgg16_bn", "--ratio", "0.5"], tmp_path)
    trained = runs[runs.strategy != "pruned"]
    assert sorted(trained.strategy.unique()) == ["fine-tune", "scratch-b", "scratch-e", "unpruned"]
    assert set(runs.method.dropna()) == {"thinet", "regression"}
    assert set(runs[runs.strategy == "pruned"].config) == {"vgg16_bn-thinet-0.5", "vgg16_bn-regression-0.5"}
    text = (tmp_path / "out" / "tiny.md").read_text()
    assert "## What pruning alone keeps" in text and "vgg16_bn-uniform-0.5" in text  # L1-norm beside them
