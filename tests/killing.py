"""Kill a training subprocess mid-run, for the resume tests."""
import os
import signal
import subprocess
import sys
import time

import torch


def sigkill_after_checkpoint(script, root, checkpoint, epoch: int = 2) -> None:
    """Run `script root` in a subprocess and SIGKILL it once `checkpoint` holds epoch >= `epoch`.
    No deadline: a busy machine only makes this wait longer."""
    proc = subprocess.Popen([sys.executable, str(script), str(root)], env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        while not (checkpoint.exists() and checkpoint_epoch(checkpoint) >= epoch):
            assert proc.poll() is None, "the runner exited before it could be killed"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()


def checkpoint_epoch(checkpoint) -> int:
    try:
        return torch.load(checkpoint, weights_only=False)["epoch"]
    except (RuntimeError, EOFError, FileNotFoundError):  # caught mid-rename
        return 0
