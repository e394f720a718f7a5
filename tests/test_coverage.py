"""The coverage map (rk.coverage, notebooks/99_overview): its table/figure -> notebook data against
the notebooks and rk.paper, the store's rows rebuilt against the pipeline's own, the recorded
verdicts, and the notebook itself on a store with runs."""
import json
from pathlib import Path

import pandas as pd
import pytest
import torch

import rethinkkit as rk
from rethinkkit import coverage, paper, pipeline

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = {p.stem: p for p in (ROOT / "notebooks").glob("*.ipynb")}
NOT_A_TABLE = {"00_quickstart", "03_methodology", "07_discussion", "99_overview"}  # a tour, the methodology, the costs, this map


# --- the map against reality ------------------------------------------------------------------


def test_every_notebook_the_map_names_exists():
    named = {nb for i in coverage.ITEMS for nb in i.notebooks}
    assert named <= set(NOTEBOOKS), sorted(named - set(NOTEBOOKS))


def test_every_notebook_regenerates_some_table_or_figure():
    regenerating = {nb for i in coverage.ITEMS if coverage.status(i) == "covered" for nb in i.notebooks}
    assert set(NOTEBOOKS) - NOT_A_TABLE <= regenerating, sorted(set(NOTEBOOKS) - NOT_A_TABLE - regenerating)


def test_every_table_and_figure_of_the_paper_and_every_table_in_rk_paper_appears():
    names = [i.name for i in coverage.ITEMS]
    assert len(names) == len(set(names))
    assert {f"Table {n}" for n in range(1, 22)} | {f"Figure {n}" for n in range(1, 9)} <= set(names)
    assert set(paper._TABLES) == {t for i in coverage.ITEMS for t in i.tables}
    assert set(paper.READINGS) == {i.reading for i in coverage.ITEMS if i.reading}
    assert coverage.status(coverage.item("Table 12")) == "covered"  # B_detection_transfer (Appendix B)


def test_each_claim_is_the_one_its_notebook_compares():
    for i in coverage.ITEMS:
        if i.claim:
            source = "".join("".join(c["source"]) for c in json.loads(NOTEBOOKS[i.notebooks[0]].read_text())["cells"])
            assert f'claim=("{i.claim[0]}", "{i.claim[1]}")' in source, i.name


def test_methods_are_registered_and_an_unknown_item_is_refused():
    assert {m for i in coverage.ITEMS for m in i.methods} <= set(rk.pruning.methods())
    with pytest.raises(ValueError, match="no table or figure 'Table 99' in the coverage map; it has: Figure 1"):
        coverage.item("Table 99")


@pytest.mark.parametrize("heading, items", [
    ("Table 1 (L1-norm filter pruning) on fashion-mnist", ["Table 1"]),
    ("Tables 2 and 3 (ThiNet, regression pruning) on fashion-mnist", ["Table 2", "Table 3"]),
    ("Table 9 / Figure 7b (one-shot lottery tickets, vgg16_bn)", ["Table 9", "Figure 7"]),
    ("Appendix G: Tables 18–21", ["Table 18", "Table 19", "Table 20", "Table 21"]),
    ("Tables 13, 14 and 15", ["Table 13", "Table 14", "Table 15"]),
    ("The slides' fine-tune-restart row (Scratch-B vs fine-tune-restart)", ["Slides: fine-tune-restart"]),
    ("Scratch-E vs fine-tuned", []),
    ("Table 99", []),
])
def test_headings_name_their_items(heading, items):
    assert coverage.named(heading) == items


# --- the store's rows, rebuilt from lineage, are the pipeline's -------------------------------

L1 = pipeline.uniform("resnet20", 0.5)
TICKET = pipeline.one_shot("resnet20", [0.5])[0]  # magnitude pruning of the same large model
ROUNDS = pipeline.iterative("resnet20", 2)  # round 2 prunes round 1's ticket; both name the large run


@pytest.fixture(scope="module")
def studied(mini, tmp_path_factory):
    """Two protocol calls on one store, as 04_1_l1_norm + D_extended_finetuning and 06_lottery_ticket
    would make them: every strategy that is a stored run, the lottery's on the same large model."""
    store = rk.runs.Store(tmp_path_factory.mktemp("store"))
    protocol = pipeline.Protocol("fashion-mnist-mini", epochs=2, finetune_epochs=1, train_subset=64, test_subset=100)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        l1 = pipeline.run(protocol, [L1], seeds=[0, 1], data=mini, store=store, progress=False,
                          strategies=["fine-tune", "scratch-e", "scratch-b", "fine-tune-restart", "fine-tune-80"])
        lottery = pipeline.run(protocol, [TICKET, *ROUNDS], seeds=[0], data=mini, store=store, progress=False,
                               strategies=["winning-ticket", "random-init"])
    finally:
        torch.set_num_threads(threads)
    return store, l1, lottery


def _labels(table):
    return {(r.key, r.config, r.strategy) for r in table.itertuples()}


def test_the_store_gives_back_the_pipelines_rows(studied):
    store, l1, lottery = studied
    rows = coverage.store_rows(store)
    ran = pd.concat([l1, lottery[lottery.strategy != "unpruned"]], ignore_index=True)  # one large row per run
    expected = ran.assign(strategy=ran["strategy"].replace({"random-init": "scratch-e"}))  # the same runs
    assert not _labels(expected) - _labels(rows)
    for key, config, strategy in _labels(rows) - _labels(expected):  # a Scratch-E run that is Scratch-B too
        assert strategy == "scratch-b" and (key, config, "scratch-e") in _labels(rows)
        run = rows[(rows.key == key) & (rows.strategy == "scratch-e")].iloc[0]
        large = rows[rows.key == f"{run.parent}/seed{run.seed}"].iloc[0]
        assert rk.budget.scratch_b(large.macs, run.macs, rk.Recipe(epochs=2)).epochs == run.epochs == large.epochs
    assert (rows["parent"] != "").all() and rows["setting"].nunique() == 1
    mine = rows.set_index(["key", "strategy"])["final_top1"]
    for r in ran[ran.strategy != "random-init"].itertuples():
        assert mine[(r.key, r.strategy)] == r.final_top1


def test_store_verdicts_are_the_notebooks_compare(studied):
    store, ran, _ = studied
    verdicts = coverage.store_verdicts(coverage.store_rows(store))
    table1 = verdicts[verdicts["item"] == "Table 1"].iloc[0]
    theirs = rk.report.compare(ran, paper.table(1, dataset="cifar10"), claim=("scratch-b", "fine-tune")).iloc[0]
    assert table1["config"] == L1.name and table1["source"].startswith("the store")
    assert (table1["ours"], table1["verdict (ours)"]) == (theirs["scratch-b − fine-tune (ours)"], theirs["verdict (ours)"])
    assert table1["n"] == 2
    lottery = verdicts[verdicts["item"] == "Table 9"]
    assert sorted(lottery["config"]) == sorted([TICKET.name, *(t.name for t in ROUNDS)])
    assert set(lottery["claim"]) == {"winning-ticket − random-init"}
    assert set(verdicts["item"]) == {"Table 1", "Slides: fine-tune-restart", "Table 9"}  # no fine-tune-160: no Table 16


def test_runs_by_item_and_a_run_no_lineage_claims(studied, tmp_path):
    store = studied[0]
    rows = coverage.store_rows(store)
    runs = coverage.runs_by_item(rows).set_index("item")
    assert runs.loc["Table 1", "seeds"] == [0, 1] and runs.loc["Table 1", "runs"] == 2 + 2 * 5
    assert coverage.unattributed(rows).empty
    alone = rk.runs.Store(tmp_path / "alone")
    spec = rk.RunSpec("fashion-mnist-mini", "resnet20", recipe=rk.Recipe(epochs=1, milestones=()), train_subset=64, test_subset=100)
    torch.set_num_threads(1)
    alone.get_or_run(spec, 0, progress=False)
    left = coverage.unattributed(coverage.store_rows(alone))
    assert left[["model", "runs"]].values.tolist() == [["resnet20", 1]]


def test_an_empty_store_maps_every_item_with_no_runs(tmp_path):
    rows = coverage.store_rows(tmp_path / "empty")
    assert rows.empty and list(rows.columns) == list(coverage.ROW_COLUMNS)
    table = coverage.overview(rows, coverage.recorded(tmp_path), coverage.executed(tmp_path))
    assert list(table["item"]) == [i.name for i in coverage.ITEMS]
    assert (table["runs in store"] == 0).all()
    assert "'pruned' is evaluated by the notebook, never stored" in table.set_index("item").loc["Table 10", "verdicts"]
    assert coverage.summary(table).startswith(f"{len(coverage.ITEMS)} of {len(coverage.ITEMS)} tables and figures")


# --- recorded verdicts and executed copies ----------------------------------------------------


def _page(folder: Path, name: str, title: str, sections: dict) -> None:
    text = [f"# {title}", ""]
    for heading, table in sections.items():
        text += [f"## {heading}", "", rk.report.markdown(table), ""]
    (folder / name).write_text("\n".join(text))


def test_recorded_verdicts_name_their_page_and_section(tmp_path):
    claim = pd.DataFrame({"config": ["vgg19-p70"], "unpruned": ["79.20 ± 2.60 (n=3)"], "unpruned (paper)": ["93.53 ± 0.16 (n=5)"],
                          "scratch-b − fine-tune (ours)": ["+8.20 [+1.79, +14.61]"], "verdict (ours)": ["scratch-b better"],
                          "scratch-b − fine-tune (paper)": ["+0.21 [-0.01, +0.43]"], "verdict (paper)": ["on par"],
                          "agree": ["no"]})
    gaps = pd.DataFrame({"config": ["a", "u"], "series": ["guided", "uniform"], "gap": [1.5, float("nan")],
                         "low": [0.5, float("nan")], "high": [2.5, float("nan")], "verdict": ["guided better", ""]})
    _page(tmp_path, "table4_x.md", "Table 4 (Network Slimming) on fashion-mnist",
          {"Ours beside the paper": claim, "Figure 6 (transferred): a | b": gaps})
    written = coverage.recorded(tmp_path)
    assert list(written["item"]) == ["Table 4", "Figure 6"]
    four, six = written.iloc[0], written.iloc[1]
    assert (four["claim"], four["ours"], four["verdict (paper)"], four["agree"], four["n"]) == (
        "scratch-b − fine-tune", "+8.20 [+1.79, +14.61]", "on par", "no", 3)
    assert four["source"] == f"{tmp_path / 'table4_x.md'}, section 'Ours beside the paper'"
    assert (six["config"], six["ours"], six["verdict (ours)"]) == ("a", "1.50 [0.50, 2.50]", "guided better")
    with pytest.raises(FileNotFoundError, match="no results folder .*nowhere: pass the folder holding the results pages"):
        coverage.recorded(tmp_path / "nowhere")


def test_pages_count_the_runs_behind_them_and_those_the_store_holds(studied, tmp_path):
    store, l1, _ = studied
    (tmp_path / "README.md").write_text("# Results of real runs\n")  # an index, not a page
    _page(tmp_path, "table1_x.md", "Table 1 (L1-norm) on fashion-mnist-mini", {})
    l1.assign(key=l1["key"].where(l1["seed"] == 0, "elsewhere/seed1")).to_csv(tmp_path / "table1_x.csv", index=False)
    listed = coverage.pages(tmp_path, coverage.store_rows(store))
    assert listed[["items", "datasets", "configs", "seeds", "runs", "in this store"]].values.tolist() == [
        ["Table 1", "fashion-mnist-mini", 2, [0, 1], 1 + 5 + 1, 1 + 5]]


def test_verdicts_come_from_the_store_first_and_recorded_pages_fill_the_rest(studied, tmp_path):
    store = studied[0]
    table1 = pd.DataFrame({"config": ["vgg16-a"], "verdict (ours)": ["on par"], "verdict (paper)": ["scratch-b better"],
                           "agree": ["no"]})
    _page(tmp_path, "table1_x.md", "Table 1 (L1-norm)", {"claim": table1})
    _page(tmp_path, "table6_x.md", "Table 6 (unstructured)", {"claim": table1.assign(config="vgg19_bn-p30")})
    judged = coverage.verdicts(coverage.store_rows(store), coverage.recorded(tmp_path))
    assert set(judged.loc[judged["item"] == "Table 1", "source"].str[:9]) == {"the store"}
    assert list(judged.loc[judged["item"] == "Table 6", "config"]) == ["vgg19_bn-p30"]
    assert judged.loc[judged["item"] == "Table 6", "source"].iloc[0].startswith(str(tmp_path / "table6_x.md"))
    counts = coverage.agreement(judged).set_index("item")
    assert counts.loc["Table 6"].tolist() == ["results pages", 1, 1, 0]
    assert counts.loc["Table 1", "from"] == "the store" and counts.loc["Table 1", "verdicts"] == 1


def test_executed_copies_record_the_profile(tmp_path):
    for name in ("smoke/04_1_l1_norm.ipynb", "quick/04_1_l1_norm__seeds=0.failed.ipynb",
                 "quick/06_lottery_ticket.running.ipynb"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("{}")
    copies = coverage.executed(tmp_path)
    assert copies[["notebook", "profile", "failed"]].values.tolist() == [
        ["04_1_l1_norm", "quick", True], ["04_1_l1_norm", "smoke", False]]
    table = coverage.overview(coverage.store_rows(tmp_path / "none"), coverage.recorded(tmp_path), copies)
    assert table.set_index("item").loc["Table 1", "executed (profiles)"] == "quick (failed), smoke"


# --- the notebook -----------------------------------------------------------------------------


def test_the_overview_notebook_runs_on_a_store_with_runs(studied, tmp_path):
    import papermill

    store = studied[0]
    out = tmp_path / "99_overview.ipynb"
    papermill.execute_notebook(str(NOTEBOOKS["99_overview"]), str(out), progress_bar=False, cwd=str(tmp_path),
                               parameters={"store": str(store.root), "executed": str(tmp_path / "copies")})
    cells = json.loads(out.read_text())["cells"]
    shown = "".join(o.get("text", "") if isinstance(o.get("text"), str) else "".join(o.get("text", [])) +
                    "".join(o.get("data", {}).get("text/plain", "")) for c in cells for o in c.get("outputs", []))
    assert not [o for c in cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert f"{2 + 2 * 5 + 2 + 2 * 2} runs in the store" in shown and L1.name in shown and "the store" in shown
