"""Files that survive a crash: atomic writes, and unreadable files moved aside, never deleted.

A kill mid-write must leave the previous version of a file intact (`atomic_write`), and a
file that cannot be read (truncated by a full disk, edited by hand) must neither block a
run forever nor vanish: `move_aside` renames it beside itself so it can be inspected.
"""
from __future__ import annotations

import os
import time
from pathlib import Path


def atomic_write(path: str | os.PathLike, write) -> None:
    """Call write(file_object) on a temporary file beside `path`, fsync, then rename over it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def move_aside(path: str | os.PathLike) -> Path:
    """Rename `path` to `<name>.corrupt-<UTC time>` in its folder and return the new path."""
    path = Path(path)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    os.replace(path, target)
    return target


class CorruptFile(UserWarning):
    """A stored file could not be read; it was moved aside and the run goes on without it."""
