"""`rethinkkit` command line: run notebooks under a profile, train the protocol's runs, benchmark the loop.

    rethinkkit run 00_quickstart --profile smoke
    rethinkkit run 00_quickstart 03_methodology --profile quick -p dataset cifar10
    rethinkkit run 00_quickstart --profile quick -g dataset "[cifar10, cifar100]" -g seeds "[[0], [1]]" --dry-run
    rethinkkit run --batch sweep.yaml --profile quick
    rethinkkit bench --models resnet20 resnet56 vgg16 --channels-last --compile
    rethinkkit bench --models resnet20 --seeds-together 1 2 4 8
    rethinkkit bench --pruned --configs vgg16-a resnet56-a resnet56-b --repeats 5 --figure speed.png
    rethinkkit lab
    rethinkkit train --dataset cifar10 --configs resnet56-a --strategies scratch-e scratch-b
    torchrun --standalone --nproc_per_node=8 -m rethinkkit train --dataset imagenet --data-root /data/imagenet \
        --configs resnet34-a --strategies scratch-b                # each run on 8 GPUs (DDP)
"""
from __future__ import annotations

import argparse
import sys

from . import batch, pipeline


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
    """One line per ended job: done or FAILED, the seconds of its last attempt, the attempts when a dead
    kernel or worker made it retry, and where its executed copy is (a failed one's own copy)."""
    status = "FAILED" if outcome.error else "done"
    attempts = f" ({outcome.attempts} attempts)" if outcome.attempts > 1 else ""
    copy = outcome.job.output
    if outcome.error:
        copy = batch.failed_copy(copy) if batch.failed_copy(copy).exists() else "no executed copy"
    print(f"{outcome.job.output.stem}: {status} in {outcome.seconds:.0f} s{attempts} -> {copy}", flush=True)


def _run(args) -> int:
    jobs = _jobs(args)
    print(f"plan: {len(jobs)} job(s) (notebook [profile] parameters that differ from the profile -> output)")
    print("\n".join(_plan_line(job) for job in jobs), flush=True)
    from . import costs

    print(costs.describe(jobs, args.store), flush=True)  # what the jobs will train, and how long it takes here
    if args.dry_run:
        print("dry run: nothing executed")
        return 0
    options = {"address": args.address, "retries": args.retries, "cpus_per_job": args.cpus_per_job,
               "dashboard_host": args.dashboard_host}  # the engine's own; only those given, so its defaults hold
    outcomes = batch.run_jobs(jobs, args.store, args.engine, _report,
                              **{name: value for name, value in options.items() if value is not None})
    folders = sorted({str(outcome.job.output.parent) for outcome in outcomes})
    print(f"executed notebooks: {', '.join(folders)}")
    print(f"run store (checkpoints, weights, result.parquet per run): {args.store or batch.default_root()}")
    return 0


def _bench(args) -> int:
    from . import bench
    from .data import resolve_device

    device = resolve_device(args.device)
    if args.pruned:
        return _bench_pruned(args, device)
    if args.calibrate:
        from . import costs

        print(f"calibrating {', '.join(args.models)} on {bench.hardware(device)} ...", flush=True)
        entry = costs.calibrate(args.models, steps=args.steps, device=device)
        path = costs.write_calibration(entry, args.store)
        print(f"training rate: {costs.rate_text(entry['macs_per_second'])} (training MACs: forward x {costs.PASSES}) "
              f"on {entry['hardware']}; written to {path}")
        return 0
    if args.seeds_together:
        print(f"benchmarking seeds trained together (K = {', '.join(map(str, args.seeds_together))}) for "
              f"{', '.join(args.models)} on {bench.hardware(device)} ...", flush=True)
        table = bench.together_rates(args.models, args.seeds_together, steps=args.steps, device=device)
        print(bench.together_markdown(table, device, args.steps))
        return 0
    print(f"benchmarking {', '.join(args.models)} on {bench.hardware(device)} ...", flush=True)
    variants = bench.variants_asked(channels_last=args.channels_last, compile=args.compile)
    table = bench.run(args.models, steps=args.steps, device=device, variants=variants)
    print(bench.markdown(table, device, args.steps))
    return 0


def _bench_pruned(args, device) -> int:
    """`rethinkkit bench --pruned`: the measured speed of the paper's pruned models (`bench.pruned_speed`)."""
    from . import bench

    chosen = f"{len(args.configs)} config(s)" if args.configs else "every predefined config"
    print(f"timing {chosen} pruned vs unpruned on {bench.hardware(device)} ...", flush=True)
    table = bench.pruned_speed(args.configs, device=device, repeats=args.repeats, warmup=args.warmup,
                               batches=args.batches, train_batch=args.train_batch,
                               imagenet_max_batch=args.imagenet_max_batch, threads=args.threads)
    print(bench.pruned_speed_markdown(table, device))
    if args.figure:
        ax = bench.plot_pruned_speed(table)
        ax.figure.savefig(args.figure, bbox_inches="tight", dpi=150)
        print(f"figure written to {args.figure}")
    return 0


def _positive(text: str) -> int:
    """An argparse type: a positive integer."""
    value = _count(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _count(text: str) -> int:
    """An argparse type: a non-negative integer."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return value


def _train(args) -> int:
    """The pipeline's runs (`rk.pipeline.run`) for the configs, strategies and seeds asked, in this
    process, or under torchrun as one DDP rank of each run (`rethinkkit.distributed`)."""
    import os

    from . import data, distributed, train

    protocol = pipeline.protocol(args.dataset, epochs=args.epochs, finetune_epochs=args.finetune_epochs,
                                 train_subset=args.train_subset, test_subset=args.test_subset, lr=args.lr)
    targets = [pipeline.target(name) for name in args.configs]
    strategies = [pipeline.strategy(name) for name in args.strategies]  # all checked before anything starts
    device = distributed.init(args.device)
    try:
        ranks = distributed.group()
        if not distributed.is_main():
            os.environ[train.QUIET_ENV] = "1"  # one set of progress bars: rank 0's
        loaded = distributed.main_first(  # rank 0 first: it downloads when asked, the others then read
            lambda: data.load(args.dataset, root=args.data_root, download=args.download, device=device))
        table = pipeline.run(protocol, targets, args.seeds, strategies, data=loaded, store=args.store)
        if distributed.is_main():
            where = f"{ranks.size} processes (DDP), rank 0 on {device}" if ranks else str(device)
            columns = ["config", "strategy", "seed", "epochs", "params", "macs", "final_top1", "best_top1", "key"]
            print(f"trained on {where}:")
            print(table[columns].to_string(index=False))
            print(f"run store (checkpoints, weights, result.parquet per run): {args.store or batch.default_root()}")
    finally:
        distributed.finish()
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
    r.add_argument("--store", help="run store folder (default runs/store, or $RETHINKKIT_STORE); "
                                   "with --engine ray a path every node sees")
    r.add_argument("--engine", default="serial", choices=list(batch.ENGINES),
                   help="serial: one job after another here (default); ray: one Ray task per job, on a local "
                        "Ray instance or the cluster at --address (needs pip install -e \".[cluster]\")")
    r.add_argument("--address", help="ray: a running cluster's address (auto, HOST:6379, ray://HOST:10001); "
                                     "default: start a local Ray instance for this batch")
    r.add_argument("--retries", type=_count, help="ray: more attempts for a job whose kernel or worker died "
                                                  "(default 2); the store resumes its runs from the last checkpoint")
    r.add_argument("--cpus-per-job", type=float, help="ray: CPUs reserved per job, also its torch threads "
                                                      "(default 1); where the cluster has GPUs each job takes one")
    r.add_argument("--dashboard-host", help="ray: start the local instance's dashboard on this address, e.g. "
                                            "127.0.0.1 (needs ray[default]); default: no dashboard")
    r.set_defaults(func=_run)

    b = sub.add_parser("bench", help="training images/s: the kit's loop vs the bare step (ceiling) and an "
                                     "original-style baseline")
    b.add_argument("--models", nargs="+", default=["resnet20", "resnet56", "vgg16"])
    b.add_argument("--steps", type=int, default=20, help="timed steps of batch 64 per side and model")
    b.add_argument("--channels-last", action="store_true",
                   help="add rows for the kit (and its ceiling) in channels_last memory format")
    b.add_argument("--compile", action="store_true",
                   help="add rows for the kit (and its ceiling) with torch.compile (with --channels-last: also both)")
    b.add_argument("--seeds-together", nargs="+", type=_positive, metavar="K",
                   help="instead: per-seed img/s of K seeds trained together (rk.together) vs one alone, e.g. 1 2 4 8")
    b.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    b.add_argument("--calibrate", action="store_true",
                   help="measure this device's training rate (a short timed training of --models) for the cost "
                        "plan `rethinkkit run` prints, and write it to <store>/calibration.json")
    b.add_argument("--store", help="with --calibrate: the run store to write to (default runs/store, or $RETHINKKIT_STORE)")
    bp = b.add_argument_group("--pruned: measured speed of the paper's pruned models against their unpruned models")
    bp.add_argument("--pruned", action="store_true",
                    help="instead: time inference and the training step of each paper config with a fixed "
                         "architecture and of its unpruned model; print speed-up beside MAC reduction")
    bp.add_argument("--configs", nargs="+", metavar="CONFIG",
                    help="paper configs (rk.paper.CONFIGS), e.g. vgg16-a resnet56-a resnet34-a; default: all, those "
                         "whose architecture is learned from a trained model listed as not measured")
    bp.add_argument("--repeats", type=_positive, default=5, help="timed repeats per measurement, median reported (default 5)")
    bp.add_argument("--warmup", type=_count, default=2, help="untimed repeats before them (default 2)")
    bp.add_argument("--batches", nargs="+", type=_positive, default=[1, 64], metavar="N",
                    help="inference batch sizes (default 1 64)")
    bp.add_argument("--train-batch", type=_positive, default=64, help="training-step batch (default 64)")
    bp.add_argument("--imagenet-max-batch", type=_positive, metavar="N",
                    help="cap every batch of the 224x224 (ImageNet) configs, e.g. 8 on a CPU; the table gives the "
                         "batch measured (default: no cap)")
    bp.add_argument("--threads", type=_positive,
                    help="torch CPU threads while timing (default: torch's); 1 is steadier on a busy CPU")
    bp.add_argument("--figure", metavar="PATH", help="also save speed-up vs MAC reduction (png, pdf, svg) here")
    b.set_defaults(func=_bench)

    t = sub.add_parser("train", help="train the protocol's runs for paper configs and strategies; under torchrun "
                                     "each run trains on every rank with DistributedDataParallel")
    t.add_argument("--dataset", required=True, help="cifar10, cifar100, imagenet, fashion-mnist, fashion-mnist-mini")
    t.add_argument("--configs", nargs="+", required=True, metavar="CONFIG",
                   help="the paper's pruned configs, e.g. resnet34-a resnet34-b (rk.paper.configs)")
    t.add_argument("--strategies", nargs="+", default=list(pipeline.TABLE_1), metavar="STRATEGY",
                   help="fine-tune, scratch-e, scratch-b, fine-tune-restart, winning-ticket, random-init, "
                        "fine-tune-<N> (default: Table 1's three); the large model trains first, once")
    t.add_argument("--seeds", nargs="+", type=_count, default=[0], help="replicate seeds (default: 0)")
    t.add_argument("--epochs", type=_count, default=0,
                   help="large model and Scratch-E epochs (0: the paper's, 90 on ImageNet and 160 on CIFAR)")
    t.add_argument("--finetune-epochs", type=_count, default=0, help="fine-tuning epochs (0: each method's)")
    t.add_argument("--lr", type=float, default=0.0,
                   help="the large model's (and scratch runs') initial learning rate (0: the paper's, 0.1)")
    t.add_argument("--train-subset", type=_count, default=0,
                   help="train on a stratified subset of this many images (0: all; a named deviation)")
    t.add_argument("--test-subset", type=_count, default=0,
                   help="evaluate on a stratified subset of this many test images (0: all)")
    t.add_argument("--data-root", help="where the dataset is (ImageNet: the folder holding train/ and val/)")
    t.add_argument("--download", action="store_true", help="download the dataset when missing (not ImageNet)")
    t.add_argument("--device", default="auto",
                   help="auto or cpu under torchrun (auto: cuda:LOCAL_RANK with NCCL, else the CPU with gloo); "
                        "alone also cuda, cuda:1, ...")
    t.add_argument("--store", help="run store folder (default runs/store, or $RETHINKKIT_STORE)")
    t.set_defaults(func=_train)

    from . import lab

    j = sub.add_parser("lab", help="JupyterLab on the checkout's notebooks/, with this environment's kernel",
                       description="JupyterLab on the checkout's notebooks/ with this environment's Python as "
                                   "the 'python3' kernel; options after -- go to Jupyter as they are, e.g. "
                                   "rethinkkit lab -- --ServerApp.token=abc")
    j.add_argument("--port", type=lab.port, help="the port to listen on (default: Jupyter's, 8888 or the next free one)")
    j.add_argument("--ip", default="127.0.0.1", help="the address to listen on (default 127.0.0.1: this machine only)")
    j.add_argument("--no-browser", action="store_true", help="do not open a browser; open the printed URL yourself")
    j.add_argument("--allow-root", action="store_true",
                   help="let Jupyter run as root (it refuses otherwise), e.g. in a container")
    j.add_argument("jupyter_args", nargs="*", metavar="-- JUPYTER_ARGS", help="more options for JupyterLab, after --")
    j.set_defaults(func=lab.main)
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
