"""Run (or load from the store) a Table 4 (Network Slimming) protocol and write it under docs/results/.

    .venv/bin/python scripts/slimming_results.py --dataset fashion-mnist --device cpu \
        --configs vgg19-p70 vgg19-p50 --seeds 0 1 2 --epochs 30 --finetune-epochs 8 \
        --train-subset 2000 --test-subset 1000 --width 0.25 --sparsity 0.003 --name table4_fashion_mnist_cpu

It calls the same `rk.pipeline.run` as `notebooks/04_2_network_slimming.ipynb` (parameters
`width` and `sparsity` are the notebook's), so the runs are shared with the notebook through
the store. Writes <name>.md (the comparison with the paper, the verdicts, the setup),
<name>.csv (one row per run), <name>_curves.png (the large models' learning curves) and
<name>_strategies.png (accuracy by strategy).
"""
from __future__ import annotations

import time

import matplotlib
from results_common import claim_lines, epochs_table, parser, study, write_runs

import rethinkkit as rk


def main() -> None:
    p = parser(__doc__.splitlines()[0], [c.name for c in rk.paper.configs("cifar10", method="network-slimming")])
    p.add_argument("--sparsity", type=float, default=0.0, help="the large models' s (0: the paper's)")
    args = p.parse_args()
    matplotlib.use("Agg")
    data, protocol = study(args)
    targets = rk.pipeline.with_spec(args.configs, s=args.sparsity or None)
    began = time.perf_counter()
    runs = rk.pipeline.run(protocol, targets, args.seeds, strategies=["fine-tune", "scratch-e", "scratch-b"], data=data)
    elapsed = time.perf_counter() - began

    paper = rk.paper.table(4, dataset=rk.paper.compared_dataset(data.name))
    sizes = runs[runs.strategy.isin(["unpruned", "scratch-e"])].groupby("config", sort=False)[["params", "macs"]].mean()

    write_runs(runs, paper, args)
    notes = sorted({n for n in runs["notes"] if n})
    lines = [
        f"# Table 4 (Network Slimming) on {data.name}",
        "",
        *rk.report.setup_lines(runs, data, protocol, args.seeds, elapsed, "scripts/slimming_results.py",
                               "04_2_network_slimming", methods=["network-slimming"]),
        f"- sparsity strength s of the large models: {args.sparsity or 'the paper’s'}",
        "",
        "## The large models' learning curves (dotted: lr drops)",
        "",
        f"![curves]({args.name}_curves.png)",
        "",
        "## Sizes (mean over seeds) and epochs per strategy",
        "",
        rk.report.markdown(sizes.reset_index(), digits=0),
        "",
        rk.report.markdown(epochs_table(runs)),
        "",
        *claim_lines(runs, paper, figure=f"{args.name}_strategies.png"),
        "## Layers the global threshold would have emptied",
        "",
        *(f"- {n}" for n in notes or ["none"]),
        "",
    ]
    (args.out / f"{args.name}.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
