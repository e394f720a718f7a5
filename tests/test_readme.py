"""Every command in README.md runs in a test: the main job for real (test_notebooks), `bench` for
real with fewer steps, every other `rethinkkit run` as a dry run (they need CIFAR, ImageNet or a
GPU; the dry run still plans them, so a parameter a notebook does not declare, a malformed
value or a missing notebook fails here), and the setup/test commands are the ones CI runs."""
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
SCRIPT = str(Path(sys.executable).parent / "rethinkkit")


def commands() -> list[str]:
    """Every command line of the README's bash blocks (continuations joined, comments dropped)."""
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", README, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("  #")[0].strip()
            if line and not line.startswith("#"):
                lines.append(line)
    return lines




def kind(command: str) -> str:
    if command.startswith("python3 -m venv"):
        return "setup"
    if command == ".venv/bin/python -m pytest":
        return "test"
    if command == ".venv/bin/rethinkkit run 00_quickstart --profile smoke":
        return "main job"
    if command.startswith(".venv/bin/rethinkkit bench --pruned"):
        return "pruned bench"
    if command.startswith(".venv/bin/rethinkkit bench"):
        return "bench"
    if command.startswith(".venv/bin/rethinkkit run"):
        return "dry run"
    return "unknown"


def test_every_readme_command_is_one_the_tests_run():
    found = {c: kind(c) for c in commands()}
    assert "unknown" not in found.values(), [c for c, k in found.items() if k == "unknown"]
    assert set(found.values()) >= {"setup", "test", "main job", "bench", "pruned bench", "dry run"}


@pytest.mark.parametrize("command", [c for c in commands() if kind(c) == "dry run"])
def test_readme_run_commands_plan_without_error(command, tmp_path):
    args = shlex.split(command)[1:]
    if "--batch" in args:  # the README's sweep.yaml, written where the command looks for it
        (tmp_path / "sweep.yaml").write_text(re.search(r"```yaml\n# sweep.yaml\n(.*?)```", README, re.S).group(1))
    if "--dry-run" not in args:
        args.append("--dry-run")
    done = subprocess.run([SCRIPT, *args], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "dry run: nothing executed" in done.stdout and done.stdout.count(" -> ") >= 1


def test_readme_bench_runs():
    (command,) = [c for c in commands() if kind(c) == "bench"]
    done = subprocess.run([SCRIPT, *shlex.split(command)[1:], "--steps", "2"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"\| resnet20 \| \d+ \| \d+ \|", done.stdout), done.stdout


def test_readme_pruned_bench_runs_here_on_one_config():
    """The README's `bench --pruned` (a GPU command) with its options, on this CPU for one config and
    one repeat: the options it names exist and it prints the table."""
    (command,) = [c for c in commands() if kind(c) == "pruned bench"]
    small = ["--device", "cpu", "--configs", "resnet56-a", "--repeats", "1", "--warmup", "0", "--batches", "1",
             "--train-batch", "2"]
    done = subprocess.run([SCRIPT, *shlex.split(command)[1:], *small], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"\| resnet56-a \| cifar10 \| 3x32x32 \| inference \| 1 \|", done.stdout), done.stdout
    assert re.search(r"\| resnet56-a \| cifar10 \| 3x32x32 \| train step \| 2 \|", done.stdout), done.stdout
