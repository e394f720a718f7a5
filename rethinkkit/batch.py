"""Run notebooks unattended with papermill: profiles, parameter overrides, outputs in runs/.

A profile is a YAML file in `params/` (smoke, quick, paper):

    defaults:            parameters every notebook receives (when it declares them)
      dataset: fashion-mnist-mini
    notebooks:           per-notebook overrides, by notebook stem
      00_quickstart:
        epochs: 2

A notebook receives only the parameters its `parameters` cell declares, so one profile
serves every notebook; an override (`-p NAME VALUE`) that a notebook does not declare is
an error. Runs go through the run store, so a re-run trains nothing new and an
interrupted batch resumes. The engine is serial; a distributed engine plugs in at
`ENGINES` (Ray comes in a later issue).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping

import yaml

from .paths import project_root
from .runs import STORE_ENV, default_root
from .train import QUIET_ENV


class BatchError(ValueError):
    """A batch request that names something that does not exist."""


class NotebookFailed(RuntimeError):
    """A notebook raised while executing; the message says where its executed copy is."""


@dataclass(frozen=True)
class Job:
    notebook: Path
    output: Path
    parameters: dict


@dataclass(frozen=True)
class Outcome:
    job: Job
    seconds: float


def root() -> Path:
    found = project_root()
    if found is None:
        raise BatchError(
            "cannot find the rethinkkit checkout (a folder with notebooks/ and params/): "
            "run this from inside it, e.g. `cd rethinkkit && rethinkkit run 00_quickstart --profile smoke`"
        )
    return found


def profiles(base: Path | None = None) -> list[str]:
    return sorted(p.stem for p in ((base or root()) / "params").glob("*.yaml"))


def load_profile(profile: str | os.PathLike, base: Path | None = None) -> dict:
    """The profile's YAML as {"defaults": {...}, "notebooks": {stem: {...}}}."""
    path = Path(profile)
    if path.suffix not in (".yaml", ".yml"):
        path = (base or root()) / "params" / f"{profile}.yaml"
    if not path.exists():
        raise BatchError(f"no profile {str(profile)!r} (looked for {path}); profiles: {', '.join(profiles(base))}")
    data = yaml.safe_load(path.read_text()) or {}
    unknown = set(data) - {"defaults", "notebooks"}
    if unknown:
        raise BatchError(f"{path}: unknown top-level keys {sorted(unknown)}; expected 'defaults' and 'notebooks'")
    return {"defaults": data.get("defaults") or {}, "notebooks": data.get("notebooks") or {}}


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
    import papermill

    return {name: spec["default"] for name, spec in papermill.inspect_notebook(str(notebook)).items()}


def parse_value(text: str):
    """A `-p` value as YAML: 3 -> int, 0.5 -> float, true -> bool, [1, 2] -> list, else str."""
    return yaml.safe_load(text) if text.strip() else text


def plan(
    notebooks: Iterable[str],
    profile: str,
    overrides: Mapping[str, object] | None = None,
    output_dir: str | os.PathLike | None = None,
    base: Path | None = None,
) -> list[Job]:
    """One Job per notebook: its parameters (profile defaults < notebook section < overrides,
    filtered to what the notebook declares) and where its executed copy goes."""
    base = base or root()
    spec = load_profile(profile, base)
    overrides = dict(overrides or {})
    out_dir = Path(output_dir) if output_dir else base / "runs" / Path(profile).stem
    jobs = []
    for name in notebooks:
        notebook = find_notebook(name, base)
        declared = declared_parameters(notebook)
        unknown = sorted(set(overrides) - set(declared))
        if unknown:
            raise BatchError(
                f"{notebook.stem} has no parameter(s) {unknown}; its parameters are: {', '.join(declared)}"
            )
        merged = {**spec["defaults"], **(spec["notebooks"].get(notebook.stem) or {}), **overrides}
        params = {k: v for k, v in merged.items() if k in declared}
        jobs.append(Job(notebook, out_dir / notebook.name, params))
    return jobs


def execute(job: Job, store: Path | None = None) -> Outcome:
    """Run one job with papermill in the notebook's folder; progress bars stay quiet."""
    import papermill

    job.output.parent.mkdir(parents=True, exist_ok=True)
    env = {QUIET_ENV: "1", STORE_ENV: str((store or default_root()).resolve())}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the kernel inherits this process's environment
    began = time.perf_counter()
    try:
        papermill.execute_notebook(
            str(job.notebook),
            str(job.output),
            parameters=job.parameters,
            cwd=str(job.notebook.parent),
            progress_bar=False,
            kernel_name="python3",
        )
    except papermill.PapermillExecutionError as error:
        raise NotebookFailed(
            f"{job.notebook.stem} failed in cell {error.exec_count}: {error.ename}: {error.evalue}\n"
            f"the executed copy, with the traceback, is at {job.output}"
        ) from None
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return Outcome(job, time.perf_counter() - began)


def serial(jobs: list[Job], store: Path | None, report: Callable[[Outcome], None]) -> list[Outcome]:
    outcomes = []
    for job in jobs:
        outcome = execute(job, store)
        report(outcome)
        outcomes.append(outcome)
    return outcomes


ENGINES: dict[str, Callable[..., list[Outcome]]] = {"serial": serial}


def run(
    notebooks: Iterable[str],
    profile: str,
    overrides: Mapping[str, object] | None = None,
    output_dir: str | os.PathLike | None = None,
    store: str | os.PathLike | None = None,
    engine: str = "serial",
    report: Callable[[Outcome], None] = lambda outcome: None,
) -> list[Outcome]:
    """Plan and execute notebooks under a profile; returns what ran, where it went, how long."""
    if engine not in ENGINES:
        raise BatchError(f"unknown engine {engine!r}; available: {', '.join(ENGINES)}")
    jobs = plan(notebooks, profile, overrides, output_dir)
    return ENGINES[engine](jobs, Path(store) if store else None, report)
