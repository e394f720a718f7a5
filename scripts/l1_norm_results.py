"""Run (or load from the store) Table 1's L1-norm protocol and write it under docs/results/.

    .venv/bin/python scripts/l1_norm_results.py --dataset fashion-mnist --device cpu \
        --configs resnet56-a resnet56-b --seeds 0 1 2 --epochs 12 --finetune-epochs 3 \
        --train-subset 1000 --test-subset 1000 --threads 1 --name table1_fashion_mnist_cpu

It calls the same `rk.pipeline.run` as `notebooks/04_1_l1_norm.ipynb`, so the runs are shared
with the notebook through the store. Writes <name>.md (the comparison with the paper, the
verdicts, the setup: hardware, protocol, seeds, wall time) and <name>.csv (one row per run).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

import rethinkkit as rk

OUT = Path(__file__).resolve().parent.parent / "docs" / "results"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="cifar10")
    p.add_argument("--data-root", default=None)
    p.add_argument("--device", default=None)
    p.add_argument("--configs", nargs="+", default=[c.name for c in rk.paper.configs("cifar10")])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    p.add_argument("--epochs", type=int, default=0, help="0: the paper's")
    p.add_argument("--finetune-epochs", type=int, default=0, help="0: the paper's")
    p.add_argument("--train-subset", type=int, default=0, help="0: all training images")
    p.add_argument("--test-subset", type=int, default=0, help="0: all test images")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--name", required=True, help="file stem under docs/results/")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    data = rk.data.load(args.dataset, root=args.data_root, device=args.device)
    protocol = rk.pipeline.protocol(data.name, epochs=args.epochs, finetune_epochs=args.finetune_epochs,
                                    train_subset=args.train_subset, test_subset=args.test_subset)
    began = time.perf_counter()
    runs = rk.pipeline.run(protocol, args.configs, args.seeds,
                           strategies=["fine-tune", "scratch-e", "scratch-b", "fine-tune-restart"], data=data)
    elapsed = time.perf_counter() - began

    table = rk.report.compare(runs, rk.paper.table(1), claim=("scratch-b", "fine-tune"))
    restart = rk.report.compare(runs, rk.paper.table("restart"), claim=("scratch-b", "fine-tune-restart"))
    scratch_e = rk.report.compare(runs, rk.paper.table(1), claim=("scratch-e", "fine-tune"))
    best = rk.report.compare(runs, rk.paper.table(1), claim=("scratch-b", "fine-tune"), metric="best_top1")
    epochs = runs.groupby(["config", "strategy"], sort=False)["epochs"].first().unstack()
    epochs = epochs.astype("Int64").astype(str).replace("<NA>", "—")

    OUT.mkdir(parents=True, exist_ok=True)
    runs.to_csv(OUT / f"{args.name}.csv", index=False)
    lines = [
        f"# Table 1 (L1-norm filter pruning) on {data.name}",
        "",
        *rk.report.setup_lines(runs, data, protocol, args.seeds, elapsed, "scripts/l1_norm_results.py", "04_1_l1_norm"),
        "",
        "## Epochs per strategy",
        "",
        rk.report.markdown(epochs.reset_index()),
        "",
        "## Ours beside the paper, and the claim (Scratch-B vs fine-tuned, 95% Welch interval)",
        "",
        rk.report.markdown(table.drop(columns=["metric"])),
        "",
        rk.report.verdict_summary(table),
        "",
        "## Scratch-E vs fine-tuned",
        "",
        rk.report.markdown(scratch_e[["config", "scratch-e − fine-tune (ours)", "verdict (ours)",
                                      "scratch-e − fine-tune (paper)", "verdict (paper)", "agree"]]),
        "",
        "## The slides' fine-tune-restart row (Scratch-B vs fine-tune-restart)",
        "",
        rk.report.markdown(restart[["config", "fine-tune-restart", "fine-tune-restart (paper)",
                                    "scratch-b − fine-tune-restart (ours)", "verdict (ours)",
                                    "scratch-b − fine-tune-restart (paper)", "verdict (paper)", "agree"]]),
        "",
        rk.report.verdict_summary(restart),
        "",
        "## Best test epoch instead of the final epoch (selects on the test set, as the original scripts)",
        "",
        rk.report.markdown(best[["config", "verdict (ours)", "verdict (paper)", "agree"]]),
        "",
    ]
    (OUT / f"{args.name}.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
