"""Run (or load from the store) Table 12's transfer to detection and write it under docs/results/.

    .venv/bin/python scripts/detection_results.py --dataset fashion-mnist --det-dataset fashion-mnist-detection \
        --device cpu --configs resnet34-a resnet34-b --seeds 0 1 --epochs 30 --finetune-epochs 8 \
        --train-subset 2000 --test-subset 1000 --width 0.25 --det-train 600 --det-test 300 --threads 1 \
        --name table12_fashion_mnist_cpu

It calls the same `rk.detection.transfer` as `notebooks/B_detection_transfer.ipynb`, so the runs are
shared with the notebook through the store. Writes <name>.md (ours beside Table 12, the verdicts, the
setup), <name>.csv (one row per detection run), <name>_curves.png (the detectors' test mAP per epoch)
and <name>_cls_curves.png (the large classifiers' test accuracy per epoch).
"""
from __future__ import annotations

import time

from results_common import parser, study

import rethinkkit as rk


def main() -> None:
    p = parser(__doc__.splitlines()[0], ["resnet34-a", "resnet34-b"])
    p.add_argument("--det-dataset", default="voc2007")
    p.add_argument("--det-train", type=int, default=0, help="the first n detection training images (0: all)")
    p.add_argument("--det-test", type=int, default=0, help="the first n detection test images (0: all)")
    p.add_argument("--det-epochs", type=int, default=0, help="0: the recipe's (7)")
    args = p.parse_args()
    data, protocol = study(args)
    det = rk.data.detection.load(args.det_dataset, root=args.data_root or None)
    recipe = rk.detection.recipe_for(det.name, args.det_epochs)
    began = time.perf_counter()
    runs = rk.detection.transfer(protocol, args.configs, args.seeds, det, recipe, cls_data=data,
                                 train_subset=args.det_train or None, test_subset=args.det_test or None)
    elapsed = time.perf_counter() - began
    table = rk.detection.compare(runs)
    cells = rk.detection.cells(runs)

    args.out.mkdir(parents=True, exist_ok=True)
    runs.to_csv(args.out / f"{args.name}.csv", index=False)
    ax = rk.detection.plot_history(rk.detection.history(runs))
    ax.figure.savefig(args.out / f"{args.name}_curves.png", dpi=120, bbox_inches="tight")
    cls = rk.pipeline.run(protocol, rk.detection.targets(args.configs, protocol), args.seeds,
                          ("fine-tune", "scratch-e", "scratch-b"), data=data)
    curves = rk.report.plot_history(rk.report.history_of(cls, strategy="unpruned"), hue="config")
    curves.figure.savefig(args.out / f"{args.name}_cls_curves.png", dpi=120, bbox_inches="tight")
    lines = [
        f"# Table 12 (transfer to detection) on {det.name}, backbones trained on {data.name}",
        "",
        *rk.report.setup_lines(cls, data, protocol, args.seeds, elapsed, "scripts/detection_results.py",
                               "B_detection_transfer"),
        f"- detection: {det.name}, {len(det.subset(args.det_train or None).train)} training / "
        f"{len(det.subset(None, args.det_test or None).test)} test images; deviations from the paper's detection "
        f"side (ours, paper's): {rk.detection.deviations(recipe, args.det_train, args.det_test)}",
        f"- detection training wall time, summed over the {runs['key'].nunique()} distinct detection runs: "
        f"{runs.drop_duplicates('key')['seconds'].sum() / 3600:.2f} h (the classification line above counts the backbones)",
        "- detection metric: final-epoch test mAP@0.5 (%, torchmetrics / pycocotools, COCO's 101-point "
        "interpolation; the paper's code used VOC 2007's 11-point metric)",
        "",
        "## Ours beside Table 12 (mAP@0.5 %, mean, std over n seeds; the paper: one run on VOC 2007)",
        "",
        rk.report.markdown(cells),
        "",
        "## The comparisons (a − b, 95% Welch interval; the paper's single runs give a sign)",
        "",
        rk.report.markdown(table),
        "",
        rk.detection.verdict_summary(table),
        "",
        "## The backbones on classification",
        "",
        rk.report.markdown(cls.groupby(["config", "strategy"])["final_top1"].agg(["mean", "std", "count"]).reset_index()),
        "",
    ]
    (args.out / f"{args.name}.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
