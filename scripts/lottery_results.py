"""Run (or load from the store) a Table 9 / Figure 7b (one-shot lottery tickets) protocol and write it under docs/results/.

    .venv/bin/python scripts/lottery_results.py --dataset fashion-mnist --device cpu --model vgg16_bn \
        --ratios 0.4 0.8 0.95 --lrs 0.1 0.01 --seeds 0 1 2 --epochs 30 --train-subset 2000 --test-subset 1000 \
        --width 0.25 --name table9_fashion_mnist_cpu

It calls the same `rk.pipeline.run_lrs` as `notebooks/06_lottery_ticket.ipynb`, so the runs are shared
with the notebook through the store (the random-init runs are `04_3_unstructured`'s Scratch-E runs).
Writes <name>.md (ours beside Table 9 per learning rate, the verdicts winning ticket vs random init,
the accuracy by lr, the setup), <name>.csv (one row per run), <name>_curves.png (the large models'
learning curves at both lrs) and <name>_sparsity.png (Figure 7b: accuracy vs prune ratio).
"""
from __future__ import annotations

import time

import matplotlib
from results_common import parser, study

import rethinkkit as rk


def main() -> None:
    p = parser(__doc__.splitlines()[0], [])
    p.add_argument("--model", default="vgg16_bn", help="vgg16_bn | resnet50 (Table 9's)")
    p.add_argument("--ratios", nargs="+", type=float, default=[0.2, 0.4, 0.6, 0.8, 0.95])
    p.add_argument("--lrs", nargs="+", type=float, default=[0.1, 0.01])
    args = p.parse_args()
    matplotlib.use("Agg")
    data, protocol = study(args)
    began = time.perf_counter()
    runs = rk.pipeline.run_lrs(protocol, args.lrs, rk.pipeline.one_shot(args.model, args.ratios), args.seeds,
                               data=data)
    elapsed = time.perf_counter() - began

    paper_dataset = rk.paper.compared_dataset(data.name)
    args.out.mkdir(parents=True, exist_ok=True)
    runs.to_csv(args.out / f"{args.name}.csv", index=False)
    curves = rk.report.plot_history(rk.report.history_of(runs, strategy="unpruned"), hue="base_lr")
    curves.figure.savefig(args.out / f"{args.name}_curves.png", dpi=120, bbox_inches="tight")
    figure = rk.report.plot_sparsity(runs)
    figure.figure.savefig(args.out / f"{args.name}_sparsity.png", dpi=120, bbox_inches="tight")
    by_lr = rk.report.summarize(runs, ["config", "strategy", "lr"]).pivot_table(
        index=["config", "strategy"], columns="lr", values="mean", sort=False).reset_index()
    by_lr.columns = [c if isinstance(c, str) else f"lr {c:g}" for c in by_lr.columns]
    lines = [
        f"# Table 9 / Figure 7b (one-shot lottery tickets, {args.model}) on {data.name}",
        "",
        *rk.report.setup_lines(runs, data, protocol, args.seeds, elapsed, "scripts/lottery_results.py",
                               "06_lottery_ticket", methods=["magnitude"]),
        f"- initial learning rates: {args.lrs} (the large model and every ticket; the paper: 0.1 and 0.01)",
        "",
        "## The large models' learning curves at each lr (dotted: lr drops)",
        "",
        f"![curves]({args.name}_curves.png)",
        "",
        "## Figure 7b: accuracy vs prune ratio (solid: the first lr, dashed: the second)",
        "",
        f"![sparsity]({args.name}_sparsity.png)",
        "",
    ]
    for lr in args.lrs:
        table = rk.report.compare(runs[runs.lr == lr], rk.paper.lottery(9, lr, paper_dataset),
                                  claim=("winning-ticket", "random-init"))
        lines += [
            f"## Ours beside Table 9 at lr {lr:g}: winning ticket vs random init (95% Welch interval)",
            "",
            rk.report.markdown(table.drop(columns=["metric"])),
            "",
            rk.report.verdict_summary(table),
            "",
        ]
    lines += [
        "## Mean top-1 by initial learning rate (the paper: lr 0.01 ends below lr 0.1)",
        "",
        rk.report.markdown(by_lr),
        "",
    ]
    (args.out / f"{args.name}.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
