"""Run (or load from the store) a Table 6 (unstructured magnitude pruning) protocol and write it under docs/results/.

    .venv/bin/python scripts/unstructured_results.py --dataset fashion-mnist --device cpu \
        --configs vgg19_bn-p30 vgg19_bn-p80 vgg19_bn-p95 --seeds 0 1 2 --epochs 30 --finetune-epochs 8 \
        --train-subset 2000 --test-subset 1000 --width 0.25 --budget-cap 3 --name table6_fashion_mnist_cpu

It calls the same `rk.pipeline.run` as `notebooks/04_3_unstructured.ipynb` (parameters `width` and
`budget_cap` are the notebook's), so the runs are shared with the notebook through the store.
Writes <name>.md (the comparison with the paper, the verdicts, Scratch-B's budgets, the setup),
<name>.csv (one row per run), <name>_curves.png (the large models' learning curves) and
<name>_strategies.png (accuracy by strategy).
"""
from __future__ import annotations

import time

import matplotlib
from results_common import claim_lines, epochs_table, parser, study, write_runs

import rethinkkit as rk


def main() -> None:
    p = parser(__doc__.splitlines()[0], [c.name for c in rk.paper.configs("cifar10", method="magnitude")])
    args = p.parse_args()
    matplotlib.use("Agg")
    data, protocol = study(args)
    began = time.perf_counter()
    runs = rk.pipeline.run(protocol, args.configs, args.seeds, strategies=["fine-tune", "scratch-e", "scratch-b"],
                           data=data)
    elapsed = time.perf_counter() - began

    paper = rk.paper.table(6, dataset=rk.paper.compared_dataset(data.name))
    budgets = rk.report.run_budgets(runs, protocol)[["config", "sparsity", "macs_ratio", "scratch_e_epochs",
                                                     "scratch_b_epochs", "capped"]]
    gaps = rk.report.gaps(runs, paper, ["fine-tune", "scratch-e", "scratch-b"], "unpruned")

    write_runs(runs, paper, args)
    lines = [
        f"# Table 6 (unstructured magnitude pruning) on {data.name}",
        "",
        *rk.report.setup_lines(runs, data, protocol, args.seeds, elapsed, "scripts/unstructured_results.py",
                               "04_3_unstructured", methods=["magnitude"]),
        "",
        "## The large models' learning curves (dotted: lr drops)",
        "",
        f"![curves]({args.name}_curves.png)",
        "",
        "## Scratch-B's budget from the nonzero MACs, and whether it is capped",
        "",
        rk.report.markdown(budgets, digits=3),
        "",
        rk.report.markdown(epochs_table(runs)),
        "",
        *claim_lines(runs, paper, figure=f"{args.name}_strategies.png"),
        "## Each strategy minus the unpruned model (means), ours beside the paper's",
        "",
        rk.report.markdown(gaps),
        "",
    ]
    (args.out / f"{args.name}.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
