"""Run notebooks unattended with papermill: profiles, parameter overrides and grids, outputs in runs/.

A profile is a YAML file in `params/` (smoke, quick, paper):

    defaults:            parameters every notebook receives (when it declares them)
      dataset: fashion-mnist-mini
    notebooks:           per-notebook overrides, by notebook stem
      00_quickstart:
        epochs: 2

A notebook receives only the parameters its `parameters` cell declares, so one profile
serves every notebook; an override (`-p NAME VALUE`) or a grid (`-g NAME VALUES`) that a
notebook does not declare is an error. A grid runs the notebook once per combination of
its values, each into its own `<stem>__<name>=<value>....ipynb`. A batch file lists
several such entries (notebook, profile, parameters, grid) for one command.

Runs go through the run store, so a re-run trains nothing new and an interrupted batch
resumes. A failed notebook (a raising cell, a dead kernel) does not stop the batch: the
others still run, the failures are raised together at the end, and a failed execution is
written beside the last good copy (`<stem>.failed.ipynb`), never over it. Every input --
profile, `-p`, `-g`, batch file -- is parsed and checked against the notebooks' declared
parameter types before anything runs.

An engine runs the planned jobs (`ENGINES`): `serial` (the default) one after another here,
`ray` one Ray task per job on a local Ray instance or a running cluster, retrying a job whose
kernel or worker died (the store resumes its runs from their last checkpoint).
"""
from __future__ import annotations

import dataclasses
import functools
import importlib
import inspect
import itertools
import logging
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping

import yaml

from .paths import project_root
from .runs import STORE_ENV, default_root
from .together import TOGETHER_ENV
from .train import QUIET_ENV, SPEED_ENVS, quiet


class BatchError(ValueError):
    """A batch request that is malformed or names something that does not exist."""


class NotebookFailed(RuntimeError):
    """Notebooks raised while executing; the message says where each executed copy is."""


@dataclass(frozen=True)
class Entry:
    """One request: a notebook under a profile, fixed parameters, and a grid of values to sweep.

    Both the command line (`-p`, `-g`) and a batch file come down to entries, so both are
    checked and planned by the same code."""

    notebook: str
    profile: str
    parameters: dict = field(default_factory=dict)
    grid: dict = field(default_factory=dict)

    def __post_init__(self):
        clash = sorted(set(self.parameters) & set(self.grid))
        if clash:
            raise BatchError(
                f"{clash} given both as a fixed parameter (-p / parameters:) and as a grid (-g / grid:); "
                "give each name in one place"
            )
        for name, values in self.grid.items():
            if not isinstance(values, list) or not values:
                example = "a, b" if values is None or isinstance(values, (list, dict)) else values
                raise BatchError(
                    f"grid {name!r} needs a non-empty YAML list of values, got {values!r}: "
                    f'write e.g. -g {name} "[{example}]" (in a batch file: grid: {{{name}: [{example}]}})'
                )


@dataclass(frozen=True)
class Job:
    notebook: Path
    output: Path
    parameters: dict
    profile: str
    changes: dict  # the parameters that differ from what the profile alone would pass


@dataclass(frozen=True)
class Outcome:
    job: Job
    seconds: float  # of its last attempt
    error: str | None = None  # why it failed and where its executed copy is; None when it ran through
    died: bool = False  # the kernel or the process running it died (not a raising cell): worth another attempt
    attempts: int = 1


def root() -> Path:
    found = project_root()
    if found is None:
        raise BatchError(
            "cannot find the rethinkkit checkout (a folder with notebooks/ and params/): "
            "run this from inside it, e.g. `cd rethinkkit && rethinkkit run 00_quickstart --profile smoke`"
        )
    return found


def profiles(base: Path | None = None) -> list[str]:
    """The profiles in params/: its YAML files but the batch files (a YAML list, e.g. paper_all.yaml)."""
    return sorted(p.stem for p in ((base or root()) / "params").glob("*.yaml") if not _is_batch_file(p))


def _is_batch_file(path: Path) -> bool:
    """A batch file is a YAML list of entries; a profile is a mapping."""
    return isinstance(read_yaml(path.read_text(), str(path)), list)


def read_yaml(text: str, where: str):
    """`text` as YAML, or a BatchError saying where it is malformed (never a parser traceback)."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise BatchError(f"{where} is not valid YAML{at}: {problem}") from None


def load_profile(profile: str | os.PathLike, base: Path | None = None) -> dict:
    """The profile's YAML as {"defaults": {...}, "notebooks": {stem: {...}}}, checked against the
    notebooks: every name it sets is a parameter some notebook declares, with that type."""
    base = base or root()
    path = Path(profile)
    if path.suffix not in (".yaml", ".yml"):
        path = base / "params" / f"{profile}.yaml"
    if not path.exists():
        raise BatchError(f"no profile {str(profile)!r} (looked for {path}); profiles: {', '.join(profiles(base))}")
    data = read_yaml(path.read_text(), f"the profile {path}") or {}
    if isinstance(data, list):
        raise BatchError(f"{path} is a YAML list: a profile is a mapping with 'defaults' and 'notebooks' "
                         f"(a list of jobs is a batch file: run it with --batch {path})")
    if not isinstance(data, dict):
        raise BatchError(f"{path}: a profile is a mapping with 'defaults' and 'notebooks', got {data!r}")
    unknown = set(data) - {"defaults", "notebooks"}
    if unknown:
        raise BatchError(f"{path}: unknown top-level keys {sorted(unknown)}; expected 'defaults' and 'notebooks'")
    spec = {"defaults": data.get("defaults") or {}, "notebooks": data.get("notebooks") or {}}
    _check_profile(path, spec, base)
    return spec


def _check_profile(path: Path, spec: dict, base: Path) -> None:
    """A typo in a profile would otherwise be silently ignored: every notebook section names a
    notebook, every name in it is declared there, every default is declared by some notebook,
    and each value has the type the notebook declares."""
    for part in ("defaults", "notebooks"):
        if not isinstance(spec[part], dict):
            raise BatchError(f"{path}: '{part}' must be a mapping, got {spec[part]!r}")
    notebooks = {p.stem: p for p in sorted((base / "notebooks").glob("*.ipynb"))}
    types = {stem: parameter_types(p) for stem, p in notebooks.items()}
    for stem, section in spec["notebooks"].items():
        if stem not in notebooks:
            raise BatchError(f"{path}: notebooks.{stem} names no notebook; notebooks: {', '.join(notebooks)}")
        if not isinstance(section, dict):
            raise BatchError(f"{path}: notebooks.{stem} must be a mapping of parameters, got {section!r}")
        for name, value in section.items():
            if name not in types[stem]:
                raise BatchError(f"{path}: notebooks.{stem} sets {name!r}, which {stem} does not declare; "
                                 f"its parameters are: {', '.join(types[stem])}")
            check_type(stem, name, value, types[stem][name], f"{path.name} (notebooks.{stem})")
    for name, value in spec["defaults"].items():
        declaring = [stem for stem in notebooks if name in types[stem]]
        if not declaring:
            raise BatchError(f"{path}: defaults sets {name!r}, which no notebook declares (a typo?)")
        for stem in declaring:
            check_type(stem, name, value, types[stem][name], f"{path.name} (defaults)")


def find_notebook(name: str, base: Path | None = None) -> Path:
    """'00_quickstart', '00_quickstart.ipynb' or a path -> the notebook file."""
    path = Path(name)
    if path.suffix == ".ipynb" and path.exists():
        return path.resolve()
    folder = (base or root()) / "notebooks"
    candidate = folder / f"{path.stem}.ipynb"
    if candidate.exists():
        return candidate
    known = sorted(p.stem for p in folder.glob("*.ipynb"))
    raise BatchError(f"no notebook {name!r} in {folder}; notebooks: {', '.join(known)}")


def declared_parameters(notebook: Path) -> dict:
    """The notebook's parameters cell: name -> default (as papermill reads it)."""
    return {name: spec["default"] for name, spec in _inspect(str(notebook), notebook.stat().st_mtime).items()}


def parameter_types(notebook: Path) -> dict:
    """The notebook's parameters cell: name -> its annotated type ('int', 'float', 'list', ...)."""
    return {name: spec["inferred_type_name"] for name, spec in _inspect(str(notebook), notebook.stat().st_mtime).items()}


@functools.lru_cache(maxsize=None)
def _inspect(path: str, mtime: float) -> dict:
    import papermill

    return papermill.inspect_notebook(path)


# What a value of each declared type may be (float accepts an int: `-p ratio 0` is 0.0).
_ACCEPTS = {
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "bool": lambda v: isinstance(v, bool),
    "str": lambda v: isinstance(v, str),
    "list": lambda v: isinstance(v, list),
    "dict": lambda v: isinstance(v, dict),
}
_EXAMPLES = {"int": "a whole number, e.g. 3", "float": "a number, e.g. 0.5", "bool": "true or false",
             "str": "text (quote it if it looks like a number: \"'123'\")", "list": "a YAML list",
             "dict": "a YAML mapping, e.g. \"{a: 1}\""}


def check_type(notebook: str, name: str, value, type_name: str, source: str, example: str = "") -> None:
    """BatchError unless `value` fits the notebook's declared type (unknown types pass)."""
    accepts = _ACCEPTS.get(type_name)
    if accepts is None or accepts(value):
        return
    if not example:
        example = _EXAMPLES[type_name]
        if type_name == "list":
            example += f', e.g. "[{value}]"' if not isinstance(value, (dict, list)) else ", e.g. \"[0, 1]\""
    raise BatchError(f"{notebook}'s parameter {name!r} is {'an' if type_name == 'int' else 'a'} {type_name}, but "
                     f"{source} gives {value!r} ({type(value).__name__}); write {example}")


def parse_value(text: str, where: str = "a value"):
    """A `-p` value as YAML: 3 -> int, 0.5 -> float, true -> bool, [1, 2] -> list, else str."""
    return read_yaml(text, where) if text.strip() else text


BATCH_KEYS = {"notebook": str, "profile": str, "parameters": dict, "grid": dict}


def read_batch(path: str | os.PathLike, profile: str) -> list[Entry]:
    """A batch file's entries; `profile` is the default for entries that name none.

    The file is a YAML list of {notebook, profile, parameters, grid} mappings. Every entry
    is checked before anything runs, and an error names the entry, so a typo in entry 7
    does not surface hours into the batch."""
    path = Path(path)
    if not path.exists():
        raise BatchError(f"no batch file {str(path)!r}")
    data = read_yaml(path.read_text(), f"the batch file {path}")
    if not isinstance(data, list) or not data:
        raise BatchError(f"{path}: a batch file is a non-empty YAML list of entries like "
                         "'- {notebook: 00_quickstart, grid: {seeds: [[0], [1]]}}'")
    entries = []
    for index, item in enumerate(data, 1):
        try:
            entries.append(_entry(item, profile))
        except BatchError as error:
            raise BatchError(f"{path}, entry {index}: {error}") from None
    return entries


def _entry(item, profile: str) -> Entry:
    """One batch-file item as an Entry, or an error saying which key is wrong and how."""
    if not isinstance(item, dict):
        raise BatchError(f"expected a mapping with keys {sorted(BATCH_KEYS)}, got {item!r}")
    unknown = sorted(set(item) - set(BATCH_KEYS))
    if unknown:
        raise BatchError(f"unknown key(s) {unknown}; an entry has {sorted(BATCH_KEYS)}")
    if "notebook" not in item:
        raise BatchError("no 'notebook': name the notebook to run, e.g. notebook: 00_quickstart")
    for key, kind in BATCH_KEYS.items():
        if key in item and not isinstance(item[key], kind):
            raise BatchError(f"{key!r} must be {'a mapping' if kind is dict else 'text'}, got {item[key]!r}")
    return Entry(item["notebook"], item.get("profile", profile), item.get("parameters", {}), item.get("grid", {}))


def grid_points(grid: Mapping[str, list]) -> list[dict]:
    """Every combination of the grid's values, the first name varying slowest; no grid is
    one empty point, so a plain run and a sweep take the same path."""
    return [dict(zip(grid, values)) for values in itertools.product(*grid.values())]


def slug(value) -> str:
    """A parameter value as a readable, path-safe piece of a file name: [0, 1] -> '0-1'."""
    if isinstance(value, (list, tuple)):
        return "-".join(slug(item) for item in value)
    return re.sub(r"[^\w.+-]", "_", str(value))


def output_name(notebook: Path, point: Mapping[str, object]) -> str:
    """`<stem>.ipynb` for a plain run, `<stem>__<name>=<value>__....ipynb` for a grid point or
    an override, so runs with different parameters never overwrite each other's executed copy
    and the copies of a sweep sit side by side and say what they ran."""
    return notebook.stem + "".join(f"__{name}={slug(value)}" for name, value in point.items()) + ".ipynb"


def plan(
    notebooks: Iterable[str],
    profile: str,
    overrides: Mapping[str, object] | None = None,
    output_dir: str | os.PathLike | None = None,
    base: Path | None = None,
    grid: Mapping[str, list] | None = None,
) -> list[Job]:
    """One Job per notebook and grid point (notebooks x grid), the overrides applied to all."""
    entries = [Entry(name, profile, dict(overrides or {}), dict(grid or {})) for name in notebooks]
    return plan_entries(entries, output_dir, base)


def plan_batch(
    path: str | os.PathLike,
    profile: str,
    output_dir: str | os.PathLike | None = None,
    base: Path | None = None,
) -> list[Job]:
    """The jobs of a batch file (see `read_batch`), in file order."""
    return plan_entries(read_batch(path, profile), output_dir, base)


def plan_entries(entries: Iterable[Entry], output_dir: str | os.PathLike | None = None,
                 base: Path | None = None) -> list[Job]:
    """The one planning path: every entry's jobs, refusing two jobs that would write the
    same executed copy (the second would silently overwrite the first)."""
    base = base or root()
    jobs = [job for entry in entries for job in _jobs(entry, output_dir, base)]
    _check_distinct(jobs)
    return jobs


def _jobs(entry: Entry, output_dir: str | os.PathLike | None, base: Path) -> list[Job]:
    """An entry's jobs: parameters are profile defaults < notebook section < entry parameters
    < grid point, filtered to what the notebook declares and checked against its types."""
    spec = load_profile(entry.profile, base)
    notebook = find_notebook(entry.notebook, base)
    types = parameter_types(notebook)
    unknown = sorted((set(entry.parameters) | set(entry.grid)) - set(types))
    if unknown:
        raise BatchError(
            f"{notebook.stem} has no parameter(s) {unknown}; its parameters are: {', '.join(types)}"
        )
    for name, value in entry.parameters.items():
        check_type(notebook.stem, name, value, types[name], f"-p {name} (parameters: {name})")
    for name, values in entry.grid.items():
        for value in values:
            check_type(notebook.stem, name, value, types[name], f"a value of -g {name} (grid: {name})",
                       f'a YAML list of lists, one per run, e.g. -g {name} "[[0], [1]]"' if types[name] == "list" else "")
    from_profile = {**spec["defaults"], **(spec["notebooks"].get(notebook.stem) or {})}
    out_dir = Path(output_dir) if output_dir else base / "runs" / Path(entry.profile).stem
    _check_folder(out_dir)
    jobs = []
    for point in grid_points(entry.grid):
        given = {**entry.parameters, **point}
        params = {k: v for k, v in {**from_profile, **given}.items() if k in types}
        changes = {k: v for k, v in given.items() if k not in from_profile or from_profile[k] != v}
        # the copy is named by its grid point and by every -p value the profile does not already set
        named = {**point, **{k: v for k, v in entry.parameters.items() if k in changes}}
        jobs.append(Job(notebook, out_dir / output_name(notebook, named), params, Path(entry.profile).stem, changes))
    return jobs


def _check_folder(folder: Path) -> None:
    """The output folder must be a folder (or not exist yet, under a folder)."""
    for path in (folder, *folder.parents):
        if path.exists():
            if not path.is_dir():
                raise BatchError(f"--output {folder}: {path} is a file, not a folder; give a folder for the "
                                 "executed notebooks, e.g. --output runs/mine")
            return


def _check_distinct(jobs: list[Job]) -> None:
    first = {}
    for job in jobs:
        if job.output in first:
            raise BatchError(
                f"two jobs would write {job.output} ({_describe(first[job.output])} and {_describe(job)}); "
                "name each run once, sweep the parameter that differs with a grid (-g / grid:), which "
                "names each output by its values, or run them separately with different --output folders"
            )
        first[job.output] = job


def _describe(job: Job) -> str:
    return f"{job.notebook.stem} under {job.profile} with {job.changes or 'its values'}"


# How long a kernel may take to start (papermill's default is 60 s, which a machine busy with
# training can exceed); cells themselves have no time limit.
KERNEL_START_SECONDS = 600


def failed_copy(output: Path) -> Path:
    """Where a failed execution's copy goes, so the last good executed copy is kept."""
    return output.with_name(f"{output.stem}.failed.ipynb")


def running_copy(output: Path) -> Path:
    """Where a notebook executes into until it ends (then renamed to the output or its failed copy)."""
    return output.with_name(f"{output.stem}.running.ipynb")


def execute(job: Job, store: Path | None = None) -> Outcome:
    """Run one job with papermill in the notebook's folder; progress bars stay quiet.

    The notebook executes into `<output>.running.ipynb`, renamed to the output when it runs
    through and to `<output stem>.failed.ipynb` when it does not, so a failed run never
    replaces the last good copy. Any failure -- a raising cell, a dead kernel (what an
    out-of-memory kill looks like), a timeout -- gives an Outcome with `error` set rather
    than an exception, so an engine carries on with the next job and reports every failure
    at the end. Ctrl-C still stops the batch."""
    import papermill
    from jupyter_client import AsyncKernelManager
    from jupyter_core.utils import run_sync

    job.output.parent.mkdir(parents=True, exist_ok=True)
    running = running_copy(job.output)
    env = {QUIET_ENV: "1", STORE_ENV: str((store or default_root()).resolve())}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the kernel inherits this process's environment
    # Our own kernel manager, so the kernel is shut down here whatever happens (Ctrl-C included);
    # local sockets, so no "running over TCP without encryption" warning on every run; they live in a
    # temporary folder (the default is the kernel's working directory, here notebooks/), removed after.
    sockets = Path(tempfile.mkdtemp(prefix="rethinkkit-kernel-"))
    kernel = AsyncKernelManager(kernel_name="python3", transport="ipc", ip=str(sockets / "kernel-ipc"))
    began = time.perf_counter()
    error = None
    died = False
    try:
        papermill.execute_notebook(
            str(job.notebook),
            str(running),
            parameters=job.parameters,
            cwd=str(job.notebook.parent),
            progress_bar=False,
            kernel_name="python3",
            km=kernel,
            start_timeout=KERNEL_START_SECONDS,
        )
    except papermill.PapermillExecutionError as failure:
        error = f"{job.output.stem} failed in cell {failure.exec_count}: {failure.ename}: {failure.evalue}"
    except Exception as failure:  # noqa: BLE001 -- a dead kernel, a timeout, papermill itself
        died = "Dead" in type(failure).__name__
        hint = " (a kernel that dies is often the machine running out of memory)" if died else ""
        error = f"{job.output.stem} failed: {type(failure).__name__}: {str(failure).strip()[:300]}{hint}"
    except BaseException:
        _keep_failed(running, job.output)
        raise
    finally:
        if kernel.has_kernel:
            run_sync(kernel.shutdown_kernel)(now=True)
        shutil.rmtree(sockets, ignore_errors=True)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    if error is None:
        os.replace(running, job.output)
        failed_copy(job.output).unlink(missing_ok=True)
    else:
        error += "\n  " + _keep_failed(running, job.output)
    return Outcome(job, time.perf_counter() - began, error, died)


def _keep_failed(running: Path, output: Path) -> str:
    """Move a failed execution to its own file; say where it and the last good copy are."""
    where = "no executed copy was written"
    if running.exists():
        os.replace(running, failed_copy(output))
        where = f"the executed copy, with the traceback, is at {failed_copy(output)}"
    if output.exists():
        where += f"; the last good copy is kept at {output}"
    return where


def serial(jobs: list[Job], store: Path | None, report: Callable[[Outcome], None]) -> list[Outcome]:
    """Jobs one after another, in order, each reported as it ends, failed ones included."""
    outcomes = []
    for job in jobs:
        outcome = execute(job, store)
        report(outcome)
        outcomes.append(outcome)
    return outcomes


RAY_MISSING = 'pip install -e ".[cluster]"'
RAY_LOGGING = logging.WARNING  # Ray's own INFO lines ("Started a local Ray instance" ...) stay out of the output


def import_ray():
    """The `ray` module, or a BatchError saying how to install it: Ray is an optional extra."""
    try:
        return importlib.import_module("ray")
    except ImportError as error:
        raise BatchError(
            f"the ray engine needs Ray, which is not installed ({error}): install the kit's cluster extra with "
            f"`{RAY_MISSING}` in the checkout (or `pip install \"ray>=2.9\"`), or leave out --engine ray to run "
            "the jobs one after another here"
        ) from None


def on_ray(
    jobs: list[Job],
    store: Path | None,
    report: Callable[[Outcome], None],
    *,
    address: str | None = None,
    retries: int = 2,
    cpus_per_job: float = 1,
    dashboard_host: str | None = None,
    num_cpus: int | None = None,
) -> list[Outcome]:
    """Every job as one Ray task running `execute`, so all about one job stays in one place.

    address:        a running cluster ("auto", "HOST:6379", "ray://HOST:10001"); None starts a local Ray
                    instance on this machine for the batch (with `num_cpus`, default all) and stops it after.
    retries:        how many more times a job runs when its kernel or the Ray worker running it dies (a
                    killed process, a lost node, memory); the store resumes its runs from their last
                    checkpoint, and its file lock keeps two attempts from training the same run. A raising
                    cell is not retried: it would raise again.
    cpus_per_job:   CPUs Ray reserves per job (and the threads its kernel's torch uses); where the
                    cluster has GPUs, every job also takes one GPU (Ray sets CUDA_VISIBLE_DEVICES for it).
    dashboard_host: start the local instance's dashboard on this address (needs `ray[default]`); off by
                    default, so nothing listens beyond this machine unless asked.

    Every node must see the notebooks, the output folder and the store at the same paths (one checkout
    and store on a shared filesystem): a task gets absolute paths. The driver retries (Ray's own
    `max_retries` is 0), so both kinds of death share one budget and each job's attempts are counted.
    One progress bar counts the jobs as they end; `report` gets every outcome in job order at the end."""
    ray = import_ray()
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise BatchError(f"retries must be a whole number >= 0 (how many more attempts a job whose kernel or worker "
                         f"died gets), got {retries!r}")
    if isinstance(cpus_per_job, bool) or not isinstance(cpus_per_job, (int, float)) or cpus_per_job <= 0:
        raise BatchError(f"cpus_per_job must be a positive number of CPUs, got {cpus_per_job!r}")
    if address is not None and (dashboard_host is not None or num_cpus is not None):
        raise BatchError(
            "a running cluster keeps its own dashboard and CPUs: drop --dashboard-host / num_cpus with --address "
            "(start the cluster with `ray start --head --dashboard-host HOST` to choose where its dashboard listens)"
        )
    store = (store or default_root()).resolve()  # the workers' working directories are not ours
    started = start_ray(address, num_cpus=num_cpus, dashboard_host=dashboard_host)
    try:
        return _run_on_ray(ray, jobs, store, report, retries, cpus_per_job, getattr(started, "dashboard_url", None))
    finally:
        if started is not None:
            ray.shutdown()


# Ray gives a new local node a fixed 30 s to register with its control store; a machine busy with
# training can miss that, so a local start that timed out is tried again (a busy machine only waits longer).
LOCAL_START_ATTEMPTS = 3


def start_ray(address: str | None = None, *, num_cpus: int | None = None, dashboard_host: str | None = None):
    """Connect to the Ray cluster at `address`, or start a local instance (`num_cpus`, a dashboard only
    on `dashboard_host`), as the ray engine does: Ray's own INFO lines and worker output stay out of
    this process's output. Returns Ray's context (its `dashboard_url` says where the dashboard is), or
    None when Ray was already initialised here (a notebook's own `ray.init(...)`): that one is used as
    it is, and whoever started it stops it."""
    ray = import_ray()
    if ray.is_initialized():
        return None
    quiet_driver = {"log_to_driver": False, "logging_level": RAY_LOGGING}  # worker output goes to Ray's session logs
    if address is None:
        # Ray turns token authentication on for a new local instance and says so at WARNING each time:
        # a good default, nothing for the user to do (the logger exists from Ray 2.5x; harmless before)
        logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(logging.ERROR)
        dashboard = {"include_dashboard": True, "dashboard_host": dashboard_host} if dashboard_host else \
            {"include_dashboard": False}
        # one machine: every Ray process talks over loopback, whatever interfaces and names it has
        arguments = {"address": "local", "num_cpus": num_cpus, "_node_ip_address": "127.0.0.1", **dashboard,
                     **quiet_driver}
    else:
        arguments = {"address": address, **quiet_driver}
    for attempt in range(1, LOCAL_START_ATTEMPTS + 1):
        try:
            return ray.init(**arguments)
        except Exception as error:  # noqa: BLE001 -- Ray raises bare Exceptions here; the user gets one line
            ray.shutdown()
            if address is None and "timed out" in str(error) and attempt < LOCAL_START_ATTEMPTS:
                continue
            where = f"connect to the Ray cluster at {address!r}" if address else "start a local Ray instance"
            hint = (" Is it running (`ray status` on its head node)? Start one with `ray start --head`, or leave "
                    "out --address for a local instance." if address else "")
            if dashboard_host and "dashboard" in str(error):
                hint = ' The dashboard needs Ray\'s default extra: pip install "ray[default]", or leave out --dashboard-host.'
            raise BatchError(f"cannot {where}: {type(error).__name__}: {str(error).strip()[:300]}.{hint}") from None


def _run_on_ray(ray, jobs: list[Job], store: Path, report, retries: int, cpus_per_job: float,
                dashboard: str | None) -> list[Outcome]:
    """Submit every job, wait for them as they end, resubmit the ones that died while attempts remain."""
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    widest = max((node["Resources"].get("CPU", 0) for node in ray.nodes() if node.get("Alive")), default=0)
    if cpus_per_job > widest:
        raise BatchError(f"cpus_per_job={cpus_per_job} but the largest node of the Ray cluster has {widest:g} CPUs: "
                         f"no job could ever start; ask for at most {widest:g}")
    # the kit's switches set in this shell reach the jobs on every node (a remote worker does not inherit them)
    switches = {name: os.environ[name] for name in (*SPEED_ENVS, TOGETHER_ENV) if name in os.environ}
    options = {"num_cpus": cpus_per_job, "num_gpus": 1 if gpus else 0, "max_retries": 0}
    if switches:
        options["runtime_env"] = {"env_vars": switches}
    task = ray.remote(execute).options(**options)
    placed = [_absolute(job) for job in jobs]
    if not quiet():
        per_job = f"{cpus_per_job:g} CPU" + (" + 1 GPU" if gpus else "")
        print(f"ray: {len(jobs)} job(s) on {resources.get('CPU', 0):g} CPUs and {gpus} GPUs, {per_job} per job, "
              f"up to {retries} more attempt(s) each when a kernel or worker dies"
              + (f"; dashboard: http://{dashboard}" if dashboard else ""), file=sys.stderr, flush=True)
    bar = _JobsBar(len(jobs))
    outcomes: list[Outcome | None] = [None] * len(jobs)
    pending = {}  # ObjectRef -> (job index, attempt, when it was submitted)

    def submit(index: int, attempt: int) -> None:
        pending[task.remote(placed[index], store)] = (index, attempt, time.perf_counter())

    try:
        for index in range(len(jobs)):
            submit(index, 1)
        while pending:
            (ref,), _ = ray.wait(list(pending), num_returns=1)
            index, attempt, submitted = pending.pop(ref)
            outcome = _collected(ray, ref, placed[index], submitted)
            if outcome.died and attempt <= retries:
                submit(index, attempt + 1)
                bar.retried()
                continue
            if outcome.died and running_copy(placed[index].output).exists():  # a dead worker left its copy behind
                outcome = dataclasses.replace(
                    outcome, error=outcome.error + "\n  " + _keep_failed(running_copy(placed[index].output),
                                                                          placed[index].output))
            outcomes[index] = dataclasses.replace(outcome, job=jobs[index], attempts=attempt)
            bar.ended(outcome)
    except BaseException:  # Ctrl-C: stop the running notebooks (their kernels exit with their workers)
        for ref in pending:
            ray.cancel(ref, force=True)
        raise
    finally:
        bar.close()
    for outcome in outcomes:
        report(outcome)
    return outcomes


def _absolute(job: Job) -> Job:
    """The job with absolute paths: a Ray worker runs in a directory of Ray's, not ours."""
    return dataclasses.replace(job, notebook=job.notebook.resolve(), output=job.output.resolve())


def _collected(ray, ref, job: Job, submitted: float) -> Outcome:
    """The task's Outcome; a worker that died (killed, its node lost, out of memory) gives a failed
    Outcome marked `died`, so it is retried like a dead kernel."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as error:  # `execute` itself raised: a bug, or the worker was interrupted
        cause = error.cause if getattr(error, "cause", None) is not None else error
        return Outcome(job, time.perf_counter() - submitted,
                       f"{job.output.stem} failed in its Ray worker: {type(cause).__name__}: {str(cause).strip()[:300]}")
    except ray.exceptions.RayError as error:
        first = (str(error).strip().splitlines() or [""])[0][:300]
        return Outcome(job, time.perf_counter() - submitted,
                       f"{job.output.stem} failed: the Ray worker running it died ({type(error).__name__}: {first}); "
                       "a killed process, a lost node, or the machine out of memory", died=True)


class _JobsBar:
    """One tqdm bar over the batch's jobs: how many ended, how many of them failed, how many
    attempts were retried (off when $RETHINKKIT_QUIET is set)."""

    def __init__(self, total: int):
        self.bar = None
        self.done = self.failed = self.retries = 0
        if not quiet():
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc="jobs", unit="job", leave=True)
            self._show()

    def ended(self, outcome: Outcome) -> None:
        self.failed += outcome.error is not None
        self.done += outcome.error is None
        if self.bar is not None:
            self._show(refresh=False)
            self.bar.update(1)

    def retried(self) -> None:
        self.retries += 1
        self._show()

    def _show(self, refresh: bool = True) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(f"done {self.done}, failed {self.failed}, retried {self.retries}", refresh=refresh)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


# An engine takes (jobs, store, report) and returns one Outcome per job, failures included
# (Outcome.error): it does not raise for a failed notebook; `run_jobs` does, once, at the end.
# Keyword options after those three are the engine's own (`on_ray`'s address, retries, ...).
ENGINES: dict[str, Callable[..., list[Outcome]]] = {"serial": serial, "ray": on_ray}


def run_jobs(
    jobs: list[Job],
    store: str | os.PathLike | None = None,
    engine: str = "serial",
    report: Callable[[Outcome], None] = lambda outcome: None,
    **options,
) -> list[Outcome]:
    """Execute planned jobs on an engine, with that engine's `options`; raises NotebookFailed listing
    every failed job after all of them have run, so one bad grid point does not cost the rest of a sweep."""
    if engine not in ENGINES:
        raise BatchError(f"unknown engine {engine!r}; available: {', '.join(ENGINES)}")
    _check_options(engine, options)
    outcomes = ENGINES[engine](jobs, Path(store) if store else None, report, **options)
    failed = [outcome.error for outcome in outcomes if outcome.error]
    if failed:
        raise NotebookFailed(f"{len(failed)} of {len(outcomes)} job(s) failed:\n" + "\n".join(failed))
    return outcomes


def _check_options(engine: str, options: Mapping[str, object]) -> None:
    """An option the engine does not take is an error naming the engines that do take it."""
    taken = [name for name, p in inspect.signature(ENGINES[engine]).parameters.items() if p.kind is p.KEYWORD_ONLY]
    wrong = [name for name in options if name not in taken]
    if wrong:
        flags = ", ".join(f"{name} (--{name.replace('_', '-')})" for name in wrong)
        others = [other for other in ENGINES if other != engine
                  and set(wrong) <= set(inspect.signature(ENGINES[other]).parameters)]
        fix = f"use engine {' or '.join(others)} (--engine {others[0]})" if others else "leave them out"
        raise BatchError(f"the {engine} engine takes no {flags}: {fix}"
                         + (f"; its options are {', '.join(taken)}" if taken else ""))


def run(
    notebooks: Iterable[str],
    profile: str,
    overrides: Mapping[str, object] | None = None,
    output_dir: str | os.PathLike | None = None,
    store: str | os.PathLike | None = None,
    engine: str = "serial",
    report: Callable[[Outcome], None] = lambda outcome: None,
    grid: Mapping[str, list] | None = None,
    **options,
) -> list[Outcome]:
    """Plan and execute notebooks under a profile (`options`: the engine's, e.g. address= for ray);
    returns what ran, where it went, how long."""
    return run_jobs(plan(notebooks, profile, overrides, output_dir, grid=grid), store, engine, report, **options)
