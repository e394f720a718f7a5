"""What the docs/results scripts share: their command line, the study they set up, and tables.

Each script (l1_norm_results.py, slimming_results.py) is run as `python scripts/<name>.py`,
so this module is importable from beside them.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
import torch

import rethinkkit as rk

OUT = Path(__file__).resolve().parent.parent / "docs" / "results"


def parser(description: str, configs: list[str]) -> argparse.ArgumentParser:
    """The protocol's knobs as the notebooks name them (0 means the paper's value)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--dataset", default="cifar10")
    p.add_argument("--data-root", default="")
    p.add_argument("--device", default="auto")
    p.add_argument("--configs", nargs="+", default=configs)
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    p.add_argument("--epochs", type=int, default=0, help="0: the paper's")
    p.add_argument("--finetune-epochs", type=int, default=0, help="0: the paper's")
    p.add_argument("--train-subset", type=int, default=0, help="0: all training images")
    p.add_argument("--test-subset", type=int, default=0, help="0: all test images")
    p.add_argument("--width", type=float, default=1.0, help="base models' widths times this (1: the paper's)")
    p.add_argument("--budget-cap", type=float, default=0.0, help="cap on Scratch-B's MACs ratio (0: none, the paper's)")
    p.add_argument("--lr", type=float, default=0.0, help="the large model's (and scratch runs') initial lr (0: the paper's 0.1)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--name", required=True, help="file stem of what is written")
    p.add_argument("--out", type=Path, default=OUT, help="folder written to (default docs/results/)")
    return p


def study(args: argparse.Namespace):
    """(data, protocol) as `rk.pipeline.study` builds them for the notebooks."""
    if args.threads:
        torch.set_num_threads(args.threads)
    return rk.pipeline.study(args.dataset, args.data_root, False, args.device, args.epochs, args.finetune_epochs,
                             args.train_subset, args.test_subset, width=args.width, budget_cap=args.budget_cap,
                             lr=args.lr)


def write_runs(runs: pd.DataFrame, paper: pd.DataFrame, args: argparse.Namespace) -> None:
    """<name>.csv (one row per run), <name>_curves.png (the large models' learning curves) and
    <name>_strategies.png (accuracy by strategy, the paper's means beside) under args.out."""
    args.out.mkdir(parents=True, exist_ok=True)
    runs.to_csv(args.out / f"{args.name}.csv", index=False)
    curves = rk.report.plot_history(rk.report.history_of(runs, strategy="unpruned"), hue="config")
    curves.figure.savefig(args.out / f"{args.name}_curves.png", dpi=120, bbox_inches="tight")
    bars = rk.report.plot_strategies(runs, paper)
    bars.figure.savefig(args.out / f"{args.name}_strategies.png", dpi=120, bbox_inches="tight")


def epochs_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Epochs per config (rows) and strategy (columns), "—" where a config has no such run."""
    epochs = runs.groupby(["config", "strategy"], sort=False)["epochs"].first().unstack()
    return epochs.astype("Int64").astype(str).replace("<NA>", "—").reset_index()


def claim_lines(runs: pd.DataFrame, paper: pd.DataFrame, figure: str = "") -> list[str]:
    """Markdown for the paper's claim on `runs`: Scratch-B vs fine-tuned beside the paper with the
    verdicts (and `figure`, an image file name, under them), Scratch-E vs fine-tuned, and the
    Scratch-B verdicts on the best test epoch instead of the final one."""
    table = rk.report.compare(runs, paper, claim=("scratch-b", "fine-tune"))
    scratch_e = rk.report.compare(runs, paper, claim=("scratch-e", "fine-tune"))
    best = rk.report.compare(runs, paper, claim=("scratch-b", "fine-tune"), metric="best_top1")
    return [
        "## Ours beside the paper, and the claim (Scratch-B vs fine-tuned, 95% Welch interval)",
        "",
        rk.report.markdown(table.drop(columns=["metric"])),
        "",
        rk.report.verdict_summary(table),
        "",
        *([f"![strategies]({figure})", ""] if figure else []),
        "## Scratch-E vs fine-tuned",
        "",
        rk.report.markdown(scratch_e[["config", "scratch-e − fine-tune (ours)", "verdict (ours)",
                                      "scratch-e − fine-tune (paper)", "verdict (paper)", "agree"]]),
        "",
        "## Best test epoch instead of the final epoch (selects on the test set, as the original scripts)",
        "",
        rk.report.markdown(best[["config", "verdict (ours)", "verdict (paper)", "agree"]]),
        "",
    ]
