"""Every bad input gets one clear message before anything trains (issue: hardening, item 5).

Each row of the tables below is one bad input a user can type; the tests check the message
and that no traceback reaches the user. The command-line rows run with --dry-run: they must
fail at plan time, before any notebook starts.
"""
import json
import re

import nbformat
import pytest

import rethinkkit as rk
from rethinkkit import batch, cli
from rethinkkit.config import ConfigError, Recipe, RunSpec

# (arguments after `rethinkkit run`, expected message): plan-time errors of the command line
CLI_INPUTS = [
    (["00_quickstart", "-p", "ratio", "[0.5"], r"-p ratio '\[0.5' is not valid YAML at line 1"),
    (["00_quickstart", "-g", "ratio", "[0.5, "], r"-g ratio '\[0.5, ' is not valid YAML"),
    (["00_quickstart", "-p", "ratio", "abc"], r"00_quickstart's parameter 'ratio' is a float, but -p ratio .* gives 'abc' \(str\); write a number"),
    (["00_quickstart", "-p", "seeds", "0"], r"'seeds' is a list, but -p seeds .* gives 0 \(int\); write a YAML list, e\.g\. \"\[0\]\""),
    (["04_1_l1_norm", "-p", "configs", "resnet56-a"], r"'configs' is a list, but .* gives 'resnet56-a' \(str\); write a YAML list, e\.g\. \"\[resnet56-a\]\""),
    (["00_quickstart", "-p", "epochs", "2.5"], r"'epochs' is an int, but -p epochs .* gives 2\.5 \(float\); write a whole number"),
    (["00_quickstart", "-p", "download", "maybe"], r"'download' is a bool, .* gives 'maybe' \(str\); write true or false"),
    (["00_quickstart", "-p", "model", "12"], r"'model' is a str, .* gives 12 \(int\); write text \(quote it"),
    (["00_quickstart", "-g", "seeds", "[0, 1]"], r"'seeds' is a list, but a value of -g seeds .* gives 0 \(int\)"),
    (["00_quickstart", "-p", "colour", "red"], r"00_quickstart has no parameter\(s\) \['colour'\]"),
]


@pytest.mark.parametrize("args, message", CLI_INPUTS, ids=[" ".join(a) for a, _ in CLI_INPUTS])
def test_command_line_inputs_are_checked_before_running(args, message, capsys, monkeypatch):
    monkeypatch.setattr(batch, "execute", lambda *a, **k: pytest.fail("a bad input reached execution"))
    assert cli.main(["run", *args, "--profile", "smoke", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rethinkkit: error:") and "Traceback" not in err
    assert re.search(message, err), err
    assert len(err.strip().splitlines()) <= 2, err  # one message, not a parser dump


# (profile YAML, expected message): a profile is checked against the notebooks it configures
PROFILES = [
    ("defaults: {epochs: 4\n", r"is not valid YAML at line 2"),
    ("notebooks:\n  04_1_l1_norm:\n    finetune_epoch: 1\n",
     r"notebooks\.04_1_l1_norm sets 'finetune_epoch', which 04_1_l1_norm does not declare"),
    ("defaults:\n  seed: [0]\n", r"defaults sets 'seed', which no notebook declares \(a typo\?\)"),
    ("notebooks:\n  04_2_slimming: {epochs: 1}\n", r"notebooks\.04_2_slimming names no notebook"),
    ("defaults:\n  epochs: four\n", r"parameter 'epochs' is an int, but bad\.yaml \(defaults\) gives 'four'"),
    ("notebooks:\n  00_quickstart: {seeds: 0}\n", r"'seeds' is a list, but bad\.yaml \(notebooks\.00_quickstart\) gives 0"),
    ("- epochs: 4\n", r"a profile is a mapping with 'defaults' and 'notebooks'"),
]


@pytest.mark.parametrize("text, message", PROFILES, ids=[m[:30] for _, m in PROFILES])
def test_profile_typos_and_types_are_errors(text, message, tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    assert cli.main(["run", "00_quickstart", "--profile", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert re.search(message, err) and "Traceback" not in err, err


def test_the_committed_profiles_pass_their_own_checks():
    for name in batch.profiles():
        batch.load_profile(name)


def test_batch_file_yaml_and_types_are_checked(tmp_path, capsys):
    bad = tmp_path / "sweep.yaml"
    bad.write_text("- notebook: 00_quickstart\n  grid: {ratio: [0.25, 0.5}\n")
    assert cli.main(["run", "--batch", str(bad), "--dry-run"]) == 2
    assert re.search(r"the batch file .*sweep\.yaml is not valid YAML at line 2", capsys.readouterr().err)
    bad.write_text("- notebook: 00_quickstart\n  parameters: {seeds: 1}\n")
    assert cli.main(["run", "--batch", str(bad), "--dry-run"]) == 2
    assert "'seeds' is a list" in capsys.readouterr().err


def test_output_pointing_at_a_file_is_refused(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("")
    for output in (tmp_path / "notes.txt", tmp_path / "notes.txt" / "deeper"):
        assert cli.main(["run", "00_quickstart", "--output", str(output), "--dry-run"]) == 2
        assert re.search(r"notes\.txt is a file, not a folder", capsys.readouterr().err)


# (callable, exception type, expected message): the library's own checks
def _recipe(**kw):
    return lambda: Recipe(**kw)


API_INPUTS = [
    (_recipe(momentum="x"), ConfigError, r"momentum must be a finite number, got 'x'"),
    (_recipe(lr="0.1"), ConfigError, r"lr must be a finite number, got '0.1'"),
    (_recipe(lr=float("inf")), ConfigError, r"lr must be a finite number"),
    (_recipe(nesterov="yes"), ConfigError, r"nesterov must be True or False"),
    (_recipe(milestones="0.5"), ConfigError, r"milestones must be a list of fractions"),
    (_recipe(milestones=(0.5, "x")), ConfigError, r"milestones must be numbers"),
    (_recipe(epochs=2.0), ConfigError, r"epochs must be a positive integer, got 2\.0"),
    (_recipe(batch_size=True), ConfigError, r"batch_size must be a positive integer, got True"),
    (lambda: rk.config.seeds([0, "a"]), ConfigError, r"seeds must be a non-empty list of non-negative integers.*\['a'\] not allowed"),
    (lambda: rk.config.seeds(0), ConfigError, r"seeds must be a list of non-negative integers, e\.g\. \[0, 1, 2\]; got 0"),
    (lambda: rk.config.seeds([]), ConfigError, r"non-empty"),
    (lambda: rk.config.seeds([1, 1]), ConfigError, r"lists a seed twice"),
    (lambda: rk.runs.Store("/nonexistent").get_or_run(RunSpec("fashion-mnist-mini", "resnet20"), "0"),
     ConfigError, r"seed must be a non-negative integer, got '0'"),
    (lambda: rk.runs.Store("/nonexistent").get_or_run(RunSpec("fashion-mnist-mini", "resnet20"), True),
     ConfigError, r"seed must be a non-negative integer, got True"),
    (lambda: rk.widgets.seeds([0, 1.5]), ConfigError, r"\[1\.5\] not allowed"),
    (lambda: rk.widgets.ratio(1.5), ValueError, r"ratio is the pruned fraction of channels, in \[0, 0\.95\]; got 1\.5"),
    (lambda: rk.pruning.L1Spec(ratio=0.99), ValueError, r"a prune ratio is the pruned fraction of channels, in \[0, 0\.95\]"),
    (lambda: rk.report.check_metric("best"), ValueError, r"metric must be one of \['final_top1', 'best_top1'\], got 'best'"),
]


@pytest.mark.parametrize("call, error, message", API_INPUTS, ids=[m[:40] for _, _, m in API_INPUTS])
def test_library_inputs_are_checked(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_pipeline_checks_seeds_before_training_anything(monkeypatch, tmp_path):
    monkeypatch.setattr(rk.runs, "train", lambda *a, **k: pytest.fail("trained before checking the seeds"))
    protocol = rk.pipeline.protocol("fashion-mnist-mini", epochs=2, finetune_epochs=1, train_subset=64)
    with pytest.raises(ConfigError, match="seeds must be"):
        rk.pipeline.run(protocol, ["resnet56-a"], seeds=[0, "1"], store=tmp_path / "store")


def test_ratio_limits_agree_between_models_widgets_and_notebooks():
    """One bound: uniform_cfg, L1Spec, the sliders and the parameter comments all say [0, MAX_RATIO]."""
    top = rk.models.MAX_RATIO
    assert rk.widgets.ratio(top).max == top and rk.widgets.ratio(0.0).min == 0.0
    rk.models.uniform_cfg("resnet20", top)
    rk.pruning.L1Spec(ratio=top)
    for path in sorted(batch.root().glob("notebooks/*.ipynb")):
        cells = nbformat.read(path, as_version=4).cells
        for line in cells[1].source.splitlines():
            name = line.split(":")[0]
            if name.endswith("ratio") and ": float" in line:
                assert f"[0, {top}]" in line, f"{path.stem}: {line}"
                assert any(f"rk.widgets.ratio({name}," in c.source for c in cells), f"{path.stem}: {name}'s slider"


def test_bad_in_notebook_values_fail_before_any_training(tmp_path, capsys):
    """`metric` is checked in 04_1's first cells, and a ratio out of range in 00's widget cell:
    both notebooks fail with the message before a single run is stored."""
    store = tmp_path / "store"
    for notebook, name, value, message in (
        ("04_1_l1_norm", "metric", "best", "metric must be one of"),
        ("00_quickstart", "ratio", "1.5", r"ratio is the pruned fraction of channels, in \[0, 0.95\]; got 1.5"),
    ):
        args = ["run", notebook, "-p", name, value, "--output", str(tmp_path / "out"), "--store", str(store)]
        assert cli.main(args) == 2
        err = capsys.readouterr().err
        assert re.search(message, err), err
        assert not list(store.glob("*/seed*/result.parquet")) and not list(store.glob("*/seed*/checkpoint.pt"))
        failed = json.loads((tmp_path / "out" / f"{notebook}__{name}={value}.failed.ipynb").read_text())
        assert any(o.get("output_type") == "error" for c in failed["cells"] for o in c.get("outputs", []))

