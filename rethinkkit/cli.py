"""`rethinkkit` command line: run notebooks under a profile, benchmark the training loop.

    rethinkkit run 00_quickstart --profile smoke
    rethinkkit run 00_quickstart 03_methodology --profile quick -p dataset cifar10
    rethinkkit run 00_quickstart --profile quick -g dataset "[cifar10, cifar100]" -g seeds "[[0], [1]]" --dry-run
    rethinkkit run --batch sweep.yaml --profile quick
    rethinkkit bench --models resnet20 resnet56 vgg16
"""
from __future__ import annotations

import argparse
import sys

from . import batch


def _jobs(args) -> list[batch.Job]:
    """The planned jobs: from a batch file, or from notebooks x grid points with -p overrides."""
    if args.batch:
        if args.notebooks or args.param or args.grid:
            raise batch.BatchError(
                "--batch takes its notebooks, parameters and grids from the file: "
                "leave out notebook names, -p and -g, or drop --batch"
            )
        return batch.plan_batch(args.batch, args.profile, args.output)
    if not args.notebooks:
        raise batch.BatchError("name the notebooks to run (e.g. rethinkkit run 00_quickstart) or give --batch FILE.yaml")
    overrides = {name: batch.parse_value(value, f"-p {name} {value!r}") for name, value in args.param or []}
    grid = {name: batch.parse_value(values, f"-g {name} {values!r}") for name, values in args.grid or []}
    return batch.plan(args.notebooks, args.profile, overrides, args.output, grid=grid)


def _plan_line(job: batch.Job) -> str:
    changes = " ".join(f"{name}={value}" for name, value in job.changes.items()) or "(profile values)"
    return f"  {job.notebook.stem} [{job.profile}] {changes} -> {job.output}"


def _report(outcome: batch.Outcome) -> None:
    status = "FAILED" if outcome.error else "done"
    print(f"{outcome.job.output.stem}: {status} in {outcome.seconds:.0f} s -> {outcome.job.output}", flush=True)


def _run(args) -> int:
    jobs = _jobs(args)
    print(f"plan: {len(jobs)} job(s) (notebook [profile] parameters that differ from the profile -> output)")
    print("\n".join(_plan_line(job) for job in jobs), flush=True)
    if args.dry_run:
        print("dry run: nothing executed")
        return 0
    outcomes = batch.run_jobs(jobs, args.store, report=_report)
    folders = sorted({str(outcome.job.output.parent) for outcome in outcomes})
    print(f"executed notebooks: {', '.join(folders)}")
    print(f"run store (checkpoints, weights, result.parquet per run): {args.store or batch.default_root()}")
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
    from . import __version__

    p = argparse.ArgumentParser(prog="rethinkkit", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=f"rethinkkit {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="execute notebooks with papermill under a profile")
    r.add_argument("notebooks", nargs="*", help="notebook names (e.g. 00_quickstart) or paths")
    r.add_argument("--profile", default="smoke", help="a profile in params/ (smoke, quick, paper) or a YAML path")
    r.add_argument("-p", "--param", nargs=2, action="append", metavar=("NAME", "VALUE"),
                   help="override a notebook parameter (value read as YAML: 3, 0.5, true, [1, 2], text)")
    r.add_argument("-g", "--grid", nargs=2, action="append", metavar=("NAME", "VALUES"),
                   help='sweep a parameter: one run per value of a YAML list, e.g. -g seeds "[[0], [1]]"; '
                        "several -g run every combination")
    r.add_argument("--batch", metavar="FILE.yaml",
                   help="run the entries of a YAML list of {notebook, profile, parameters, grid} "
                        "(profile defaults to --profile)")
    r.add_argument("--dry-run", action="store_true", help="print the planned jobs and exit without running them")
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
    except KeyboardInterrupt:
        import logging

        logging.getLogger("asyncio").setLevel(logging.CRITICAL)  # the kernel's pending tasks: nothing to say
        print("\nrethinkkit: interrupted. Finished runs are in the store; run the same command again and the "
              "interrupted run resumes from its last checkpoint.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
