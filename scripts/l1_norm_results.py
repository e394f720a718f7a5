"""Run (or load from the store) Table 1's L1-norm protocol and write it under docs/results/.

    .venv/bin/python scripts/l1_norm_results.py --dataset fashion-mnist --device cpu \
        --configs resnet56-a resnet56-b --seeds 0 1 2 --epochs 12 --finetune-epochs 3 \
        --train-subset 1000 --test-subset 1000 --threads 1 --name table1_fashion_mnist_cpu

It calls the same `rk.pipeline.run` as `notebooks/04_1_l1_norm.ipynb`, so the runs are shared
with the notebook through the store. Writes <name>.md (the comparison with the paper, the
verdicts, the setup: hardware, protocol, seeds, wall time) and <name>.csv (one row per run).
"""
from __future__ import annotations

import time

from results_common import claim_lines, epochs_table, parser, study

import rethinkkit as rk


def main() -> None:
    args = parser(__doc__.splitlines()[0], [c.name for c in rk.paper.configs("cifar10")]).parse_args()
    data, protocol = study(args)
    began = time.perf_counter()
    runs = rk.pipeline.run(protocol, args.configs, args.seeds,
                           strategies=["fine-tune", "scratch-e", "scratch-b", "fine-tune-restart"], data=data)
    elapsed = time.perf_counter() - began

    restart = rk.report.compare(runs, rk.paper.table("restart"), claim=("scratch-b", "fine-tune-restart"))

    args.out.mkdir(parents=True, exist_ok=True)
    runs.to_csv(args.out / f"{args.name}.csv", index=False)
    lines = [
        f"# Table 1 (L1-norm filter pruning) on {data.name}",
        "",
        *rk.report.setup_lines(runs, data, protocol, args.seeds, elapsed, "scripts/l1_norm_results.py", "04_1_l1_norm"),
        "",
        "## Epochs per strategy",
        "",
        rk.report.markdown(epochs_table(runs)),
        "",
        *claim_lines(runs, rk.paper.table(1)),
        "## The slides' fine-tune-restart row (Scratch-B vs fine-tune-restart)",
        "",
        rk.report.markdown(restart[["config", "fine-tune-restart", "fine-tune-restart (paper)",
                                    "scratch-b − fine-tune-restart (ours)", "verdict (ours)",
                                    "scratch-b − fine-tune-restart (paper)", "verdict (paper)", "agree"]]),
        "",
        rk.report.verdict_summary(restart),
        "",
    ]
    (args.out / f"{args.name}.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
