"""The cost plan: which runs a batch needs, their training compute and the time on this device."""
import json
import re
from pathlib import Path

import pytest
import torch

from rethinkkit import batch, cli, costs, flops, pipeline, provenance, runs
from rethinkkit.config import RunSpec

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))


def stored_runs(root) -> set[str]:
    """The finished runs of a store, as the plan names them: "<key>/seed<seed>"."""
    return {f"{p.parent.parent.name}/{p.parent.name}" for p in runs.Store(root).result_files()}


def unique(planned) -> list:
    """Planned runs, each once (the large model two targets share is planned for both)."""
    return list({r.identity: r for r in planned}.values())


def test_training_macs_is_forward_macs_times_three_images_epochs(tmp_path):
    assert costs.training_macs(1_000, 50, 4) == 1_000 * 3 * 50 * 4  # forward + backward (2x): 600,000
    recipe = pipeline.protocol("cifar10", epochs=2).large_recipe
    spec = RunSpec(dataset="cifar10", model="resnet20", train_subset=100, recipe=recipe)
    run = costs.Planner(tmp_path).exact(spec, 0, "resnet20")
    resnet20 = flops.count(runs.build_model(spec, num_classes=10, in_channels=3), (3, 32, 32)).macs
    assert (run.macs, run.images, run.epochs) == (resnet20, 100, 2)
    assert run.training_macs == resnet20 * 3 * 100 * 2


def test_every_notebook_says_what_it_trains(tmp_path):
    assert sorted(costs.NOTEBOOKS) == NOTEBOOKS, "add the new notebook's pipeline calls to rethinkkit.costs.NOTEBOOKS"
    assert costs.Planner(tmp_path).job(batch.plan(["03_methodology"], "smoke")[0]).needed == []  # it trains nothing


def test_the_plan_knows_the_embedded_dataset(mini):
    assert costs.DATASETS["fashion-mnist-mini"] == (mini.num_train, mini.num_classes, mini.image_shape)


@pytest.mark.slow
def test_the_plan_is_the_pipelines_runs_and_stored_runs_are_not_counted(mini, tmp_path, one_thread):
    """A predefined target (L1-norm, uniform) is planned with the pipeline's own keys; an automatic one
    (magnitude pruning) is counted and estimated until its large model is pruned, then exact; runs in
    the store are not needed again."""
    protocol = pipeline.protocol("fashion-mnist-mini", epochs=2, finetune_epochs=1, train_subset=64, test_subset=100,
                                 width=0.5)
    targets = (pipeline.uniform("resnet20", 0.5), *pipeline.one_shot("resnet20", [0.5]))
    request = costs.Request(protocol, targets, (0,), pipeline.TABLE_1)
    before = unique(costs.Planner(tmp_path).request(request))
    assert len(before) == 7 and sum(not r.exact for r in before) == 3  # one shared large model, 3 + 3 children
    pipeline.run(protocol, targets, [0], pipeline.TABLE_1, data=mini, store=tmp_path, progress=False)
    stored = stored_runs(tmp_path)
    assert len(stored) == 7 and {r.identity for r in before if r.exact} <= stored
    after = unique(costs.Planner(tmp_path).request(request))
    assert {r.identity for r in after} == stored and all(r.exact and r.stored for r in after)
    assert [(r.macs, r.images, r.epochs) for r in after if "uniform" in r.what] == [
        (r.macs, r.images, r.epochs) for r in before if "uniform" in r.what]


@pytest.mark.slow
def test_a_guided_design_is_estimated_until_its_pattern_is_stored(mini, tmp_path, one_thread):
    protocol = pipeline.protocol("fashion-mnist-mini", epochs=2, train_subset=64, test_subset=100, width=0.5)
    (pruned,) = pipeline.one_shot("resnet20", [0.5])
    request = costs.Request(protocol, (costs.Guided(protocol, pruned, (0,), "resnet20"),), (0,), ("scratch-e",))
    (before,) = costs.Planner(tmp_path).request(request)
    assert not before.exact and before.what == "resnet20-guided[resnet20-p50@fashion-mnist-mini] scratch-e seed 0"
    pattern = pipeline.pattern(protocol, pruned, [0], data=mini, store=tmp_path, progress=False)
    (planned,) = costs.Planner(tmp_path).request(request)
    assert planned.exact and not planned.stored  # the pattern is stored: the design is known (its masks drawn later)
    pipeline.run(protocol, [pipeline.guided(pattern, "resnet20")], [0], ["scratch-e"], data=mini, store=tmp_path,
                 progress=False)
    (after,) = costs.Planner(tmp_path).request(request)
    assert after.stored and after.identity in stored_runs(tmp_path)  # now its masks are drawn: its key
    assert (after.macs, after.epochs) == (before.macs, before.epochs)  # a masked design computes the dense model


@pytest.mark.notebooks
def test_a_notebook_trains_what_the_plan_said(tmp_path, capsys):
    """F_weight_distributions under the smoke profile (Network Slimming and magnitude pruning: automatic
    targets) trains exactly the runs its plan counted, the plan heads the run, and afterwards the plan
    needs nothing."""
    store, args = tmp_path / "store", ["-p", "train_subset", "64", "-p", "test_subset", "100"]
    jobs = batch.plan(["F_weight_distributions"], "smoke", {"train_subset": 64, "test_subset": 100})
    before = costs.plan(jobs, store)[0]
    assert (len(before.needed), before.estimated, before.stored) == (6, 4, 0)
    command = ["run", "F_weight_distributions", "--profile", "smoke", *args, "--store", str(store),
               "--output", str(tmp_path / "out")]
    assert cli.main(command) == 0
    out = capsys.readouterr().out
    assert re.search(r"^F_weight_distributions\S*\s+6\s+4\s+0\s", out, re.M), out  # the plan heads the run
    stored = stored_runs(store)
    assert len(stored) == 6 and {r.identity for r in before.needed if r.exact} <= stored
    after = costs.plan(jobs, store)[0]
    assert (len(after.needed), after.stored) == (0, 6)


@pytest.mark.slow
def test_the_whole_paper_dry_run_plans_every_notebook_and_a_total(tmp_path, capsys):
    paper_all = ROOT / "params" / "paper_all.yaml"
    entries = batch.read_batch(paper_all, "smoke")  # each entry names its profile: the paper's, unchanged
    assert sorted(e.notebook for e in entries) == NOTEBOOKS
    assert all(e.profile == "paper" and not e.parameters and not e.grid for e in entries)
    command = ["run", "--batch", str(paper_all), "--profile", "paper", "--dry-run",
               "--store", str(tmp_path / "store"), "--output", str(tmp_path / "out")]
    assert cli.main(command) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line and not line.startswith(" ")}
    assert set(NOTEBOOKS) <= set(rows) and "cannot plan" not in out and "not planned" not in out
    assert rows["03_methodology"][:3] == ["0", "0", "0"]
    needed, pmacs = int(rows["TOTAL"][0]), float(rows["TOTAL"][3].replace(",", ""))
    assert needed == sum(int(rows[n][0]) for n in NOTEBOOKS) and needed > 1000  # 5 seeds of every paper table
    assert pmacs == pytest.approx(sum(float(rows[n][3].replace(",", "")) for n in NOTEBOOKS), rel=1e-3)
    assert "rethinkkit bench --calibrate" in out and "dry run: nothing executed" in out
    assert not (tmp_path / "out").exists() and not (tmp_path / "store").exists()


def test_calibration_is_written_by_hardware_and_read_back(tmp_path, capsys, one_thread):
    store = tmp_path / "store"
    other = {"hardware": "another machine", "macs_per_second": 1.0}
    costs.write_calibration(other, store)
    assert cli.main(["bench", "--calibrate", "--models", "resnet20", "--steps", "2", "--device", "cpu",
                     "--store", str(store)]) == 0
    assert re.search(r"training rate: [\d.]+ [GTPM]MAC/s", capsys.readouterr().out)
    saved = json.loads((store / costs.CALIBRATION).read_text())
    here = provenance.hardware(torch.device("cpu"))
    assert set(saved) == {"another machine", here}  # one entry per hardware, the other kept
    entry = costs.read_calibration(store, "cpu")
    assert entry == saved[here] and entry["device"] == "cpu" and entry["macs_per_second"] > 0
    model = entry["models"]["resnet20"]
    assert model["macs_per_second"] == pytest.approx(3 * model["forward_macs"] * model["images_per_second"])
    text = costs.describe(batch.plan(["00_quickstart"], "smoke"), store, device="cpu")
    assert "est. time" in text and "calibrated" in text and "bench --calibrate" not in text


def test_without_a_calibration_the_plan_says_how_to_measure_one(tmp_path):
    text = costs.describe(batch.plan(["00_quickstart"], "smoke"), tmp_path / "store", device="cpu")
    assert f"rethinkkit bench --calibrate --store {tmp_path / 'store'}" in text
    assert "est. time" not in text and re.search(r"^00_quickstart\s+1\s+0\s+0\s", text, re.M)
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / costs.CALIBRATION).write_text("[1, 2")
    with pytest.raises(ValueError, match="cannot be read.*bench --calibrate"):
        costs.read_calibration(tmp_path / "store", "cpu")
    text = costs.describe(batch.plan(["00_quickstart"], "smoke"), tmp_path / "store", device="cpu")
    assert re.search(r"no time estimate: the calibration file .* cannot be read", text)  # the run itself goes on


def test_bad_calibration_input_is_a_clear_error(tmp_path, capsys):
    assert cli.main(["bench", "--calibrate", "--steps", "0", "--store", str(tmp_path)]) == 2
    assert "steps is the number of timed batches" in capsys.readouterr().err


def test_a_job_the_plan_cannot_read_is_named_not_fatal(tmp_path):
    job = batch.plan(["04_1_l1_norm"], "smoke", {"configs": ["resnet56-z"]})[0]
    plan = costs.Planner(tmp_path).job(job)
    assert plan.needed == [] and "cannot plan" in plan.note and "resnet56-z" in plan.note
    text = costs.describe([job], tmp_path, device="cpu")
    assert "leaves out 1 job(s)" in text and "04_1_l1_norm__configs=resnet56-z" in text
