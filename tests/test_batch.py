import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

import rethinkkit
from rethinkkit import batch, cli

ROOT = batch.root()


def test_profiles_exist_and_parse():
    assert {"smoke", "quick", "paper"} <= set(batch.profiles())
    for name in ("smoke", "quick", "paper"):
        profile = batch.load_profile(name)
        assert profile["defaults"]["profile"] == name
    assert batch.load_profile("paper")["defaults"]["epochs"] == 160
    assert batch.load_profile("paper")["defaults"]["seeds"] == [0, 1, 2, 3, 4]


def test_plan_merges_profile_and_overrides_and_filters_to_declared(tmp_path):
    (job,) = batch.plan(["00_quickstart"], "smoke", {"ratio": 0.25}, tmp_path)
    assert job.output == tmp_path / "00_quickstart__ratio=0.25.ipynb"  # not the profile's own copy
    (plain,) = batch.plan(["00_quickstart"], "smoke", {"ratio": 0.5}, tmp_path)  # the profile's own value
    assert plain.output == tmp_path / "00_quickstart.ipynb"
    assert job.parameters["dataset"] == "fashion-mnist-mini"
    assert job.parameters["epochs"] == 4 and job.parameters["ratio"] == 0.25
    (meth,) = batch.plan(["03_methodology"], "smoke", None, tmp_path)
    assert "dataset" not in meth.parameters  # 03 declares no dataset: the profile's is not passed
    assert set(meth.parameters) <= set(batch.declared_parameters(meth.notebook))


def test_plan_errors_name_the_problem(tmp_path):
    with pytest.raises(batch.BatchError, match="has no parameter.*'colour'"):
        batch.plan(["00_quickstart"], "smoke", {"colour": "red"}, tmp_path)
    with pytest.raises(batch.BatchError, match="no notebook 'nope'.*00_quickstart"):
        batch.plan(["nope"], "smoke")
    with pytest.raises(batch.BatchError, match="no profile 'fast'.*smoke"):
        batch.plan(["00_quickstart"], "fast")


@pytest.mark.parametrize("text, value", [("3", 3), ("0.5", 0.5), ("true", True), ("[0, 1]", [0, 1]), ("cifar10", "cifar10")])
def test_parse_value(text, value):
    assert batch.parse_value(text) == value


def test_cli_reports_user_errors_without_traceback(capsys):
    assert cli.main(["run", "00_quickstart", "--profile", "smoke", "-p", "colour", "red"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rethinkkit: error:") and "colour" in err and "Traceback" not in err


def test_grid_runs_every_notebook_at_every_combination_with_overrides_on_all(tmp_path):
    jobs = batch.plan(["00_quickstart", "03_methodology"], "smoke", {"model": "vgg16"}, tmp_path,
                      grid={"ratio": [0.25, 0.5, 0.75]})
    assert [(j.notebook.stem, j.parameters["ratio"]) for j in jobs] == [
        (nb, r) for nb in ("00_quickstart", "03_methodology") for r in (0.25, 0.5, 0.75)]
    assert all(j.parameters["model"] == "vgg16" for j in jobs)

    jobs = batch.plan(["00_quickstart"], "smoke", {"epochs": 1}, tmp_path,
                      grid={"ratio": [0.25, 0.5], "seeds": [[0], [1, 2]]})
    assert [(j.parameters["ratio"], j.parameters["seeds"]) for j in jobs] == [
        (0.25, [0]), (0.25, [1, 2]), (0.5, [0]), (0.5, [1, 2])]
    assert all(j.parameters["epochs"] == 1 and j.parameters["dataset"] == "fashion-mnist-mini" for j in jobs)
    assert jobs[1].changes == {"epochs": 1, "ratio": 0.25, "seeds": [1, 2]}
    assert jobs[2].changes == {"epochs": 1}  # ratio 0.5 and seeds [0] are the smoke profile's own


def test_grid_outputs_are_unique_and_say_what_they_ran(tmp_path):
    jobs = batch.plan(["00_quickstart"], "smoke", None, tmp_path,
                      grid={"ratio": [0.25, 0.5], "seeds": [[0, 1], [2]], "data_root": ["/data/a b"]})
    names = [j.output.name for j in jobs]
    assert len(set(names)) == len(jobs) == 4
    assert names[1] == "00_quickstart__ratio=0.25__seeds=2__data_root=_data_a_b.ipynb"
    assert all(j.output.parent == tmp_path for j in jobs)


@pytest.mark.parametrize("value, text", [([0, 1], "0-1"), ([[0], [1]], "0-1"), (0.5, "0.5"),
                                         ("cifar-10", "cifar-10"), ("a/b c:d", "a_b_c_d")])
def test_slug_is_readable_and_path_safe(value, text):
    assert batch.slug(value) == text


def test_grid_errors_name_the_problem(tmp_path):
    with pytest.raises(batch.BatchError, match="03_methodology has no parameter.*'epochs'"):
        batch.plan(["00_quickstart", "03_methodology"], "smoke", None, tmp_path, grid={"epochs": [1, 2]})
    with pytest.raises(batch.BatchError, match=r"\['ratio'\] given both as a fixed parameter .* and as a grid"):
        batch.plan(["00_quickstart"], "smoke", {"ratio": 0.1}, tmp_path, grid={"ratio": [0.2]})
    with pytest.raises(batch.BatchError, match=r"grid 'ratio' needs a non-empty YAML list.*-g ratio \"\[0.5\]\""):
        batch.plan(["00_quickstart"], "smoke", None, tmp_path, grid={"ratio": 0.5})
    with pytest.raises(batch.BatchError, match="grid 'ratio' needs a non-empty YAML list"):
        batch.plan(["00_quickstart"], "smoke", None, tmp_path, grid={"ratio": []})
    with pytest.raises(batch.BatchError, match="two jobs would write .*00_quickstart.ipynb"):
        batch.plan(["00_quickstart", "00_quickstart"], "smoke", None, tmp_path)


@pytest.mark.parametrize("args, message", [
    (["-g", "ratio", "0.5"], "grid 'ratio' needs a non-empty YAML list"),
    (["-g", "ratio", "[0.5]", "-p", "ratio", "0.2"], "given both as a fixed parameter"),
    (["-g", "colour", "[red]"], "00_quickstart has no parameter.*'colour'"),
    (["--batch", "sweep.yaml"], "--batch takes its notebooks"),
])
def test_cli_grid_errors_exit_2_with_the_reason(args, message, capsys):
    assert cli.main(["run", "00_quickstart", "--dry-run", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rethinkkit: error:") and re.search(message, err), err


BATCH = """
- notebook: 00_quickstart
  grid: {ratio: [0.25, 0.5]}
- notebook: 03_methodology
  profile: quick
  parameters: {model: resnet56}
"""


def test_batch_file_expands_each_entry_like_the_command_line(tmp_path):
    (tmp_path / "sweep.yaml").write_text(BATCH)
    jobs = batch.plan_batch(tmp_path / "sweep.yaml", "smoke", base=ROOT)
    assert [(j.notebook.stem, j.profile) for j in jobs] == [
        ("00_quickstart", "smoke"), ("00_quickstart", "smoke"), ("03_methodology", "quick")]
    assert [j.parameters["ratio"] for j in jobs[:2]] == [0.25, 0.5]
    assert jobs[0].output == ROOT / "runs" / "smoke" / "00_quickstart__ratio=0.25.ipynb"
    assert jobs[2].output == ROOT / "runs" / "quick" / "03_methodology__model=resnet56.ipynb"
    assert jobs[2].parameters["model"] == "resnet56" and jobs[2].parameters["profile"] == "quick"


@pytest.mark.parametrize("text, message", [
    ("notebook: 00_quickstart", "a non-empty YAML list of entries"),
    ("- 00_quickstart", "entry 1: expected a mapping"),
    ("- {notebook: 00_quickstart}\n- {notebook: 00_quickstart, colour: red}", r"entry 2: unknown key\(s\) \['colour'\]"),
    ("- {profile: smoke}", "entry 1: no 'notebook'"),
    ("- {notebook: 00_quickstart, profile: 3}", "entry 1: 'profile' must be text"),
    ("- {notebook: 00_quickstart, parameters: [ratio, 0.5]}", "entry 1: 'parameters' must be a mapping"),
    ("- {notebook: 00_quickstart, grid: {ratio: 0.5}}", "entry 1: grid 'ratio' needs a non-empty YAML list"),
    ("- {notebook: 00_quickstart, parameters: {ratio: 0.1}, grid: {ratio: [0.5]}}", "entry 1: .*given both"),
])
def test_batch_file_errors_name_the_entry(tmp_path, text, message):
    (tmp_path / "sweep.yaml").write_text(text)
    with pytest.raises(batch.BatchError, match=message):
        batch.read_batch(tmp_path / "sweep.yaml", "smoke")


def test_dry_run_prints_the_plan_and_executes_nothing(tmp_path, monkeypatch, capsys):
    def refuse(job, store=None):
        raise AssertionError(f"dry run executed {job.notebook}")

    monkeypatch.setattr(batch, "execute", refuse)
    (tmp_path / "sweep.yaml").write_text(BATCH)
    args = ["run", "--batch", str(tmp_path / "sweep.yaml"), "--output", str(tmp_path / "out"), "--dry-run"]
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("  ")]
    assert len(lines) == 3 and "dry run: nothing executed" in out
    assert lines[0].endswith(f"-> {tmp_path / 'out' / '00_quickstart__ratio=0.25.ipynb'}")
    assert " ratio=0.25 " in lines[0] and " ratio=" not in lines[1]  # 0.5 is the profile's own ratio
    assert "model=resnet56" in lines[2] and "[quick]" in lines[2]
    assert not (tmp_path / "out").exists()


def tiny_project(root):
    """A project with one notebook that raises when its `fail` parameter is true (or a file FAIL
    exists beside it), whose kernel kills itself when `die` is true; `n` only labels a run."""
    (root / "params").mkdir()
    (root / "params" / "tiny.yaml").write_text("defaults: {}\n")
    (root / "notebooks").mkdir()
    parameters = nbformat.v4.new_code_cell(
        "fail: bool = False  # raise in the next cell\ndie: bool = False  # SIGKILL the kernel\n"
        "wait: bool = False  # block until a file GO exists beside the notebook\nn: int = 0  # a label")
    parameters.metadata["tags"] = ["parameters"]
    body = ("import os, signal, time\n"
            "while wait and not os.path.exists('GO'):\n    time.sleep(0.1)\n"
            "if die:\n    os.kill(os.getpid(), signal.SIGKILL)\n"
            "if fail or os.path.exists('FAIL'):\n    raise ValueError('boom')\nprint('ran through')")
    cells = [parameters, nbformat.v4.new_code_cell(body)]
    kernel = {"kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"}}
    nbformat.write(nbformat.v4.new_notebook(cells=cells, metadata=kernel), root / "notebooks" / "tiny.ipynb")


def test_a_failed_job_does_not_stop_the_next_and_is_listed_at_the_end(tmp_path, monkeypatch, capsys):
    tiny_project(tmp_path)
    monkeypatch.chdir(tmp_path)  # the CLI finds the project from the working directory
    args = ["run", "tiny", "--profile", "tiny", "-g", "fail", "[true, false]", "-g", "n", "[1, 2]",
            "--store", str(tmp_path / "store")]
    assert cli.main(args) == 2
    captured = capsys.readouterr()
    out = tmp_path / "runs" / "tiny"
    assert "tiny__fail=True__n=2: FAILED" in captured.out  # the first failure did not stop the batch
    for n in (1, 2):
        executed = nbformat.read(out / f"tiny__fail=False__n={n}.ipynb", as_version=4)
        assert "ran through" in executed.cells[-1].outputs[0]["text"]
    err = captured.err
    assert "2 of 4 job(s) failed" in err and err.count("ValueError: boom") == 2
    for n in (1, 2):
        assert f"the executed copy, with the traceback, is at {out / f'tiny__fail=True__n={n}.failed.ipynb'}" in err
    assert not list(out.glob("*.running.ipynb"))


def test_a_dead_kernel_is_recorded_and_the_batch_goes_on(tmp_path, monkeypatch, capfd):
    """A kernel killed mid-run (what the OOM killer does) fails its job only; no raw traceback."""
    tiny_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    args = ["run", "tiny", "--profile", "tiny", "-g", "die", "[true, false]", "--store", str(tmp_path / "store")]
    assert cli.main(args) == 2
    captured = capfd.readouterr()
    out = tmp_path / "runs" / "tiny"
    assert "tiny__die=True: FAILED" in captured.out and "tiny__die=False: done" in captured.out
    assert "1 of 2 job(s) failed" in captured.err and "DeadKernelError" in captured.err
    assert "out of memory" in captured.err and "Traceback" not in captured.err
    assert (out / "tiny__die=True.failed.ipynb").exists() and (out / "tiny__die=False.ipynb").exists()
    assert "without encryption" not in captured.err + captured.out  # the kernel talks over local sockets


def test_a_failed_run_keeps_the_last_good_executed_copy(tmp_path, monkeypatch, capsys):
    tiny_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    args = ["run", "tiny", "--profile", "tiny", "--store", str(tmp_path / "store")]
    assert cli.main(args) == 0
    good = tmp_path / "runs" / "tiny" / "tiny.ipynb"
    assert "ran through" in nbformat.read(good, as_version=4).cells[-1].outputs[0]["text"]
    (tmp_path / "notebooks" / "FAIL").touch()  # the same job now fails
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert "ran through" in nbformat.read(good, as_version=4).cells[-1].outputs[0]["text"]
    assert f"the last good copy is kept at {good}" in err
    assert "ValueError" in str(nbformat.read(good.with_name("tiny.failed.ipynb"), as_version=4).cells[-1].outputs)
    (tmp_path / "notebooks" / "FAIL").unlink()
    assert cli.main(args) == 0
    assert not good.with_name("tiny.failed.ipynb").exists()  # a later success clears the stale failure


def test_ctrl_c_ends_with_one_line_that_says_the_run_resumes(tmp_path):
    """A real SIGINT to the command's process group mid-notebook: exit 130, one line, no traceback,
    the kernel shut down, the interrupted execution kept apart from the good copies."""
    tiny_project(tmp_path)
    script = Path(sys.executable).parent / "rethinkkit"
    proc = subprocess.Popen([str(script), "run", "tiny", "--profile", "tiny", "-p", "wait", "true",
                             "--store", str(tmp_path / "store")], cwd=tmp_path, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    running = tmp_path / "runs" / "tiny" / "tiny__wait=True.running.ipynb"
    while not running.exists():  # the kernel is executing the waiting cell
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    time.sleep(1)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate()
    assert proc.returncode == 130, out + err
    assert err.strip().splitlines() == [
        "rethinkkit: interrupted. Finished runs are in the store; run the same command again and the "
        "interrupted run resumes from its last checkpoint."]
    assert running.with_name("tiny__wait=True.failed.ipynb").exists() and not running.exists()


def test_version(capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == f"rethinkkit {rethinkkit.__version__}"
