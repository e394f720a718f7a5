"""Run (or load from the store) Section 5's Figure 3 and Table 7 and write them under docs/results/.

    .venv/bin/python scripts/architecture_results.py --dataset fashion-mnist --device cpu --seeds 0 1 2 \
        --epochs 30 --train-subset 2000 --test-subset 1000 --width 0.25 --sparsity 3e-3 \
        --slimming-ratios 0.4 0.6 0.8 --uniform-ratios 0.4 0.6 0.8 --weight-ratios 0.5 0.8 0.95 0.99 \
        --guided --transfer-model vgg19 --name figure3_fashion_mnist_cpu

It calls the same `rk.pipeline.run` as `notebooks/05_architecture_search.ipynb` (its parameters of the
same names), so the runs are shared with the notebook through the store. Every architecture trains
from scratch for the large model's epochs (Scratch-E); `--guided` adds Figure 6's guided designs (the
pruned architectures' average per-stage pattern, on the same model) and `--transfer-model` the channel
patterns on another model (Figure 6's transfer) beside its uniform pruning. Writes <name>.md (Figure 3's
numbers, Table 7 and the per-stage patterns beside the paper's, the setup), <name>.csv (one row per
run), <name>_channels.png and <name>_weights.png (Figure 3 left and right), <name>_transfer.png
(Figure 6, with --transfer-model), <name>_kernels.png (Figure 4) and <name>_curves.png (the large
models' learning curves).
"""
from __future__ import annotations

import time

import matplotlib
import pandas as pd
from results_common import parser, study

import rethinkkit as rk

COLUMNS = ["config", "series", "params", "top1", "uniform at same params", "gap", "low", "high", "verdict"]


def main() -> None:
    p = parser(__doc__.splitlines()[0], [])
    p.add_argument("--channel-model", default="vgg16")
    p.add_argument("--weight-model", default="vgg16_bn")
    p.add_argument("--slimming-ratios", nargs="+", type=float, default=[0.4, 0.6])
    p.add_argument("--uniform-ratios", nargs="+", type=float, default=[0.4, 0.6, 0.8])
    p.add_argument("--weight-ratios", nargs="+", type=float, default=[0.5, 0.8, 0.95])
    p.add_argument("--sparsity", type=float, default=0.0, help="Network Slimming's s (0: the paper's)")
    p.add_argument("--guided", action="store_true", help="also Figure 6's guided designs, on the same model and data")
    p.add_argument("--transfer-model", default="", help="with --guided: the channel patterns also designed on this model "
                   "(Figure 6's transfer, e.g. vgg19), beside its uniform channel pruning at --uniform-ratios")
    args = p.parse_args()
    matplotlib.use("Agg")
    data, protocol = study(args)
    slimmed = [rk.pipeline.uniform(args.channel_model, r, "network-slimming", head="linear") for r in args.slimming_ratios]
    slimmed = rk.pipeline.with_spec(slimmed, s=args.sparsity) if args.sparsity else slimmed
    uniform = [rk.pipeline.uniform(args.channel_model, r, "uniform-channels", head="linear") for r in args.uniform_ratios]
    magnitude = rk.pipeline.one_shot(args.weight_model, args.weight_ratios)
    sparse = [rk.pipeline.uniform(args.weight_model, r, "uniform-sparsity") for r in args.weight_ratios]
    began = time.perf_counter()
    patterns = [rk.pipeline.pattern(protocol, t, args.seeds, data=data) for t in slimmed + magnitude] if args.guided else []
    guided = [rk.pipeline.guided(p, p.model, **({"head": "linear"} if p.kind == "channels" else {})) for p in patterns]
    channels = rk.pipeline.run(protocol, slimmed + uniform + [g for g in guided if g.method == "guided-channels"],
                               args.seeds, strategies=["scratch-e"], data=data)
    weights = rk.pipeline.run(protocol, magnitude + sparse + [g for g in guided if g.method == "guided-sparsity"],
                              args.seeds, strategies=["scratch-e"], data=data)
    transfer = None
    if args.transfer_model and patterns:
        moved = [rk.pipeline.guided(p, args.transfer_model) for p in patterns if p.kind == "channels"]
        twins = [rk.pipeline.uniform(args.transfer_model, r, "uniform-channels") for r in args.uniform_ratios]
        transfer = rk.pipeline.run(protocol, moved + twins, args.seeds, strategies=["scratch-e"], data=data)
    elapsed = time.perf_counter() - began

    runs = pd.concat([channels, weights, transfer], ignore_index=True)
    args.out.mkdir(parents=True, exist_ok=True)
    runs.to_csv(args.out / f"{args.name}.csv", index=False)
    curves = rk.report.plot_history(rk.report.history_of(runs, strategy="unpruned"), hue="config")
    curves.figure.savefig(args.out / f"{args.name}_curves.png", dpi=120, bbox_inches="tight")
    for table, side, title in ((channels, "channels", "Network Slimming vs uniform channel pruning"),
                               (weights, "weights", "magnitude pruning vs uniform sparsification")):
        ax = rk.report.plot_efficiency(table, "scratch-e")
        ax.set_title(f"Figure 3 on {data.name}: {title}")
        ax.figure.savefig(args.out / f"{args.name}_{side}.png", dpi=120, bbox_inches="tight")
    shown = rk.pipeline.at_ratio(magnitude, 0.95).name  # Figure 4's sparse VGG-16
    if transfer is not None:
        ax = rk.report.plot_efficiency(transfer, "scratch-e")
        ax.set_title(f"Figure 6 on {data.name}: {args.channel_model}'s channel patterns on {args.transfer_model}")
        ax.figure.savefig(args.out / f"{args.name}_transfer.png", dpi=120, bbox_inches="tight")
    kernels = rk.report.kernel_kept(weights, "scratch-e")
    maps = rk.report.plot_kernel_maps(kernels, shown)
    maps[0].figure.savefig(args.out / f"{args.name}_kernels.png", dpi=120, bbox_inches="tight")

    table7 = rk.pipeline.at_ratio(slimmed, 0.6).name
    widths = rk.report.widths(channels, table7, rk.paper.widths())
    stages = rk.report.stage_kept(channels, "scratch-e").pivot_table(index="stage", columns="config", values="kept")
    strength = args.sparsity or "the paper's"
    paper21 = rk.paper.stage_pattern(21).pivot_table(index="stage", columns="ratio", values="kept")
    lines = [
        f"# Figure 3 and Table 7 (pruning as architecture search) on {data.name}",
        "",
        *rk.report.setup_lines(runs, data, protocol, args.seeds, elapsed, "scripts/architecture_results.py",
                               "05_architecture_search", methods=["network-slimming"]),
        f"- every architecture trains from scratch for the large model's {protocol.epochs} epochs (Scratch-E); "
        f"Network Slimming's sparsity strength s: {strength}",
        "",
        "## The large models' learning curves (dotted: lr drops)",
        "",
        f"![curves]({args.name}_curves.png)",
        "",
        "## Figure 3 (left): Network Slimming vs uniform channel pruning",
        "",
        f"The paper: {rk.paper.reading(3)}",
        "",
        f"![channels]({args.name}_channels.png)",
        "",
        rk.report.markdown(rk.report.efficiency(channels, "scratch-e")[COLUMNS]),
        "",
        "## Figure 3 (right): magnitude pruning vs uniform sparsification",
        "",
        f"![weights]({args.name}_weights.png)",
        "",
        rk.report.markdown(rk.report.efficiency(weights, "scratch-e")[COLUMNS]),
        "",
        f"## Table 7: the widths Network Slimming keeps ({table7}), beside the paper's (VGG-16, CIFAR-10, 60%)",
        "",
        f"The paper: {rk.paper.reading(7)}",
        "",
        rk.report.markdown(widths[["layer", "width", "width* (ours)", "width (paper)", "width* (paper)"]]),
        "",
        "## Kept fraction of channels per stage (Table 21's layout): ours, then the paper's",
        "",
        rk.report.markdown(stages.reset_index(), digits=3),
        "",
        rk.report.markdown(paper21.reset_index(), digits=3),
        "",
        f"## Figure 4: the average 3x3 keep map per stage of {shown}",
        "",
        f"![kernels]({args.name}_kernels.png)",
        "",
        *([f"## Figure 6 (transferred guided pruning): {args.channel_model}'s channel patterns on {args.transfer_model}",
           "", f"The paper: {rk.paper.reading(6)}", "", f"![transfer]({args.name}_transfer.png)", "",
           rk.report.markdown(rk.report.efficiency(transfer, "scratch-e")[COLUMNS]), ""] if transfer is not None else []),
        *(["## The patterns the guided designs come from (stored under `<store>/patterns/`)", ""]
          + [f"- {p.label} ({p.kind}): averaged over {', '.join(p.runs)}" for p in patterns] + [""] if patterns else []),
    ]
    (args.out / f"{args.name}.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
