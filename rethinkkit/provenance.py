"""Where a result came from: the kit's version and commit, torch, the device and hardware.

Every stored run records these beside its numbers, so a table can say what produced it.
"""
from __future__ import annotations

import functools
import os
import platform
import subprocess

import torch

from .paths import project_root


def hardware(device: torch.device) -> str:
    """The device in words: the GPU's name, or the CPU model, cores and torch threads."""
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (torch {torch.__version__})"
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads (torch {torch.__version__})"


@functools.lru_cache(maxsize=1)
def source() -> str:
    """'rethinkkit <version>' and, in a git checkout, '@<commit>' (with '+changes' when the
    working tree differs from it)."""
    from . import __version__

    text = f"rethinkkit {__version__}"
    root = project_root()
    if root is None or not (root / ".git").exists():
        return text
    try:
        commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=root, capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return text
    return f"{text}@{commit}" + ("+changes" if dirty else "")
