"""`rethinkkit` command line: run notebooks under a profile, benchmark the training loop.

    rethinkkit run 00_quickstart --profile smoke
    rethinkkit run 00_quickstart 03_methodology --profile quick -p dataset cifar10
    rethinkkit bench --models resnet20 resnet56 vgg16
"""
from __future__ import annotations

import argparse
import sys

from . import batch


def _run(args) -> int:
    overrides = {name: batch.parse_value(value) for name, value in args.param or []}

    def report(outcome: batch.Outcome) -> None:
        print(f"{outcome.job.notebook.stem}: done in {outcome.seconds:.0f} s -> {outcome.job.output}", flush=True)

    outcomes = batch.run(args.notebooks, args.profile, overrides, args.output, args.store, report=report)
    store = args.store or batch.default_root()
    print(f"executed notebooks: {outcomes[0].job.output.parent}")
    print(f"run store (checkpoints, weights, result.parquet per run): {store}")
    return 0


def _bench(args) -> int:
    from . import bench
    from .data import resolve_device

    device = resolve_device(args.device)
    print(f"benchmarking {', '.join(args.models)} on {bench.hardware(device)} ...", flush=True)
    table = bench.run(args.models, steps=args.steps, device=device)
    print(bench.markdown(table, device, args.steps))
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rethinkkit", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="execute notebooks with papermill under a profile")
    r.add_argument("notebooks", nargs="+", help="notebook names (e.g. 00_quickstart) or paths")
    r.add_argument("--profile", default="smoke", help="a profile in params/ (smoke, quick, paper) or a YAML path")
    r.add_argument("-p", "--param", nargs=2, action="append", metavar=("NAME", "VALUE"),
                   help="override a notebook parameter (value read as YAML: 3, 0.5, true, [1, 2], text)")
    r.add_argument("--output", help="folder for executed notebooks (default runs/<profile>/)")
    r.add_argument("--store", help="run store folder (default runs/store, or $RETHINKKIT_STORE)")
    r.set_defaults(func=_run)

    b = sub.add_parser("bench", help="training images/s: the kit's loop vs an original-style baseline")
    b.add_argument("--models", nargs="+", default=["resnet20", "resnet56", "vgg16"])
    b.add_argument("--steps", type=int, default=20, help="timed steps of batch 64 per side and model")
    b.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    b.set_defaults(func=_bench)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except (batch.BatchError, batch.NotebookFailed, FileNotFoundError, ValueError) as error:
        print(f"rethinkkit: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
