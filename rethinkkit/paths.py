"""Where the project's folders are: one rule used by the run store and batch runs."""
from __future__ import annotations

from pathlib import Path


def project_root(start: str | Path | None = None) -> Path | None:
    """The rethinkkit checkout enclosing `start` (default: the working directory) — a folder
    holding both `notebooks/` and `params/` — else the checkout this package was installed
    from in editable mode, else None."""
    here = Path(start or Path.cwd()).resolve()
    package_parent = Path(__file__).resolve().parent.parent
    for folder in (here, *here.parents, package_parent):
        if (folder / "notebooks").is_dir() and (folder / "params").is_dir():
            return folder
    return None
