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
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--name", required=True, help="file stem under docs/results/")
    return p


def study(args: argparse.Namespace):
    """(data, protocol) as `rk.pipeline.study` builds them for the notebooks."""
    if args.threads:
        torch.set_num_threads(args.threads)
    return rk.pipeline.study(args.dataset, args.data_root, False, args.device, args.epochs, args.finetune_epochs,
                             args.train_subset, args.test_subset, width=args.width)


def epochs_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Epochs per config (rows) and strategy (columns), "—" where a config has no such run."""
    epochs = runs.groupby(["config", "strategy"], sort=False)["epochs"].first().unstack()
    return epochs.astype("Int64").astype(str).replace("<NA>", "—").reset_index()
