import pytest

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
    assert job.output == tmp_path / "00_quickstart.ipynb"
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
