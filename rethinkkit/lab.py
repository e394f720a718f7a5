"""`rethinkkit lab`: JupyterLab on the checkout's notebooks/, with this environment's Python as the kernel.

JupyterLab is the study's main interface: a person opens a numbered notebook, moves its widgets
and runs its cells. Three things go wrong for people who start it by hand, and this command
settles them before JupyterLab starts:

- the `python3` kernel Jupyter finds may be another interpreter's (a kernelspec in
  ~/.local/share/jupyter or on $JUPYTER_PATH shadows the environment's), and `import rethinkkit`
  then fails in the first cell; when it is, a `python3` kernelspec for this interpreter is written
  to ~/.cache/rethinkkit/ and put first on the server's $JUPYTER_PATH;
- Jupyter refuses to run as root (common in containers) with a one-line log message; this command
  says so before starting, and what to do (`--allow-root`, passed through);
- the server listens on 127.0.0.1 unless asked otherwise, so the notebooks (which run code) are
  not offered to the network by default.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

KERNEL = "python3"  # the kernel every notebook names in its metadata
ALLOW_ROOT = "--allow-root"
_ALLOW_ROOT_TRAIT = "--serverapp.allow_root=true"  # the same, spelled as a Jupyter config option


class LabError(ValueError):
    """JupyterLab cannot be started as asked; the message says what to do."""


def port(text: str) -> int:
    """An argparse type: a TCP port, 1-65535."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number from 1 to 65535, got {text!r}")
    return value


def notebooks_folder(start: str | os.PathLike | None = None) -> Path:
    """The notebooks/ folder of the checkout enclosing `start` (default: the working directory),
    else of the checkout this package was installed from in editable mode."""
    from .paths import project_root

    root = project_root(start)
    if root is None:
        raise LabError(
            "no rethinkkit checkout here (a folder holding notebooks/ and params/): run `rethinkkit lab` "
            "from inside the checkout, or install the kit from one with `pip install -e .`"
        )
    return root / "notebooks"


def root_problem(jupyter_args: list[str], uid: int | None = None) -> str | None:
    """Why Jupyter would refuse to start for user `uid` (default: this process's effective user),
    with what to do; None when it would not: not root, or root allowed by `--allow-root`."""
    uid = os.geteuid() if uid is None and hasattr(os, "geteuid") else uid
    allowed = any(arg == ALLOW_ROOT or arg.lower() == _ALLOW_ROOT_TRAIT for arg in jupyter_args)
    if uid != 0 or allowed:
        return None
    return (
        "you are root (uid 0), and Jupyter refuses to run as root: it would stop at once with "
        "'Running as root is not recommended'. Start it as a normal user, or, where root is the only "
        "user (a container, a throwaway machine), allow it: rethinkkit lab --allow-root"
    )


def kernel_python() -> str | None:
    """The interpreter the `python3` kernel Jupyter finds would start (with this process's
    environment), or None when Jupyter finds no `python3` kernel. A bare `python`/`python3` in a
    kernelspec means the server's own interpreter (jupyter_client substitutes sys.executable)."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec(KERNEL)
    except NoSuchKernel:
        return None
    program = spec.argv[0] if spec.argv else ""
    major, minor = sys.version_info[:2]
    if program in {"python", f"python{major}", f"python{major}.{minor}"}:
        return sys.executable
    return program


def _same_program(a: str, b: str) -> bool:
    """Whether two interpreter paths run the same environment: the same path, or the same program
    in the same folder (a venv's bin/python and bin/python3). Links are not followed further: every
    virtual environment's python links to one base interpreter, yet each has its own packages."""
    a, b = os.path.abspath(a), os.path.abspath(b)
    if a == b:
        return True
    try:
        return os.path.dirname(a) == os.path.dirname(b) and os.path.samefile(a, b)
    except OSError:
        return False


def own_kernels_folder(python: str | None = None) -> Path:
    """The folder (a Jupyter data dir) holding a `python3` kernelspec for `python` (default: this
    interpreter): ~/.cache/rethinkkit/jupyter/<hash of the interpreter's path>."""
    python = python or sys.executable
    digest = hashlib.sha256(os.path.abspath(python).encode()).hexdigest()[:12]
    return Path.home() / ".cache" / "rethinkkit" / "jupyter" / digest


def write_kernelspec(folder: Path, python: str | None = None) -> Path:
    """Write a `python3` kernelspec that runs `python` (default: this interpreter) under
    folder/kernels/; return the kernel's folder."""
    from .files import atomic_write

    python = os.path.abspath(python or sys.executable)
    spec = {
        "argv": [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (rethinkkit)",
        "language": "python",
        "metadata": {"debugger": True},
    }
    kernel = folder / "kernels" / KERNEL
    atomic_write(kernel / "kernel.json", lambda f: f.write(json.dumps(spec, indent=1).encode()))
    return kernel


def kernel_environment() -> tuple[dict, str | None]:
    """This process's environment, changed where needed so that JupyterLab's `python3` kernel runs
    this interpreter, and a note saying what was changed (None when nothing needed to be)."""
    environ = dict(os.environ)
    found = kernel_python()
    if found is not None and _same_program(found, sys.executable):
        return environ, None
    folder = own_kernels_folder()
    write_kernelspec(folder)
    environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(folder), environ.get("JUPYTER_PATH", "")]))
    was = f"runs {found}" if found else "was not found"
    return environ, (f"the '{KERNEL}' kernel Jupyter finds {was}, not this kit's {sys.executable}: "
                     f"JupyterLab gets a '{KERNEL}' kernel for this interpreter from {folder}")


def command(
    notebooks: Path,
    port: int | None = None,
    ip: str = "127.0.0.1",
    browser: bool = True,
    jupyter_args: list[str] | tuple = (),
) -> list[str]:
    """The argv that starts JupyterLab on `notebooks` with this interpreter (so this
    environment's JupyterLab, whichever `jupyter` is first on PATH); `jupyter_args` go last,
    so they override the others."""
    argv = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={notebooks}", f"--ServerApp.ip={ip}"]
    if port is not None:
        argv.append(f"--ServerApp.port={port}")
    if not browser:
        argv.append("--ServerApp.open_browser=False")
    return argv + list(jupyter_args)


def _jupyterlab_missing() -> bool:
    import importlib.util

    return importlib.util.find_spec("jupyterlab") is None


def main(args) -> int:
    """`rethinkkit lab`: check, say what starts where, then replace this process with JupyterLab
    (Ctrl-C then reaches Jupyter directly: twice stops the server and its kernels)."""
    jupyter_args = ([ALLOW_ROOT] if args.allow_root else []) + list(args.jupyter_args)
    problem = root_problem(jupyter_args)
    if problem:
        raise LabError(problem)
    if _jupyterlab_missing():
        raise LabError(f"JupyterLab is not installed in this environment ({sys.prefix}): "
                       f"{sys.executable} -m pip install -e '.[dev]' in the checkout (or pip install jupyterlab)")
    notebooks = notebooks_folder()
    environ, note = kernel_environment()
    argv = command(notebooks, args.port, args.ip, not args.no_browser, jupyter_args)
    if note:
        print(f"rethinkkit lab: {note}")
    if args.ip not in {"127.0.0.1", "localhost", "::1"}:
        print(f"rethinkkit lab: listening on {args.ip}: anyone who can reach it and has the token can run code here")
    print(f"rethinkkit lab: JupyterLab on {notebooks} (kernel '{KERNEL}': {sys.executable}); "
          "start with 00_quickstart.ipynb; Ctrl-C twice stops the server", flush=True)
    os.execve(argv[0], argv, environ)
    return 0  # not reached: execve replaces this process
