"""Where dataset files are looked for, and the two errors a dataset's files can raise."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

ENV_DATA = "RETHINKKIT_DATA"


class DatasetNotFound(FileNotFoundError):
    """A dataset's files are in none of the places tried; the message says how to get them."""


class DatasetCorrupt(ValueError):
    """A dataset file exists but is not in the expected format (truncated, wrong file, ...)."""


def _default_cache_dir() -> Path:
    return Path.home() / ".cache" / "rethinkkit" / "data"


def _base_roots(root: str | os.PathLike | None) -> list[Path]:
    """The roots tried, in order: the argument, $RETHINKKIT_DATA, ~/.cache/rethinkkit/data."""
    roots = []
    if root is not None:
        roots.append(Path(root).expanduser())
    env = os.environ.get(ENV_DATA)
    if env:
        roots.append(Path(env).expanduser())
    roots.append(_default_cache_dir())
    unique: list[Path] = []
    for r in roots:
        if r not in unique:
            unique.append(r)
    return unique


def _bulleted(paths: Sequence[Path]) -> str:
    return "\n".join(f"  - {p}" for p in paths)
