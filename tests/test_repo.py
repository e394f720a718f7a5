"""The repository keeps its promises: stripped notebooks in the house style, CI runs the
README's own commands, one list of dependencies."""
import ast
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stripped_and_in_house_style(path):
    nb = json.loads(path.read_text())
    cells = nb["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), "outputs not stripped"
    assert cells[0]["cell_type"] == "markdown", "first cell: the paper claim in markdown"
    assert "parameters" in cells[1]["metadata"].get("tags", []), "second cell: tagged parameters"
    for line in "".join(cells[1]["source"]).splitlines():
        assert re.match(r"^\w+: \w+ = .+  # .+", line), f"parameters need a type and a comment: {line!r}"
    sources = ["".join(c["source"]) for c in code]
    imports = [line for src in sources for line in src.splitlines() if re.match(r"\s*(import|from) ", line)]
    assert imports == ["import rethinkkit as rk"], imports
    for src in sources:
        tree = ast.parse(src)
        assert not [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.Lambda))], (
            "no functions in notebooks: they belong in rethinkkit with a test")


def readme_commands():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```(?:bash|sh)\n(.*?)```", readme, re.S)
    return readme, blocks


def test_ci_runs_the_readme_setup_and_test_commands():
    readme, _ = readme_commands()
    setup = re.search(r"<!-- setup -->\n```bash\n(.*?)```", readme, re.S).group(1).strip()
    test = re.search(r"<!-- test -->\n```bash\n(.*?)```", readme, re.S).group(1).strip()
    ci = (ROOT / ".ci" / "run").read_text()
    assert setup in ci and test in ci
    assert "apt-get install -y dataset-fashion-mnist" in ci
    assert "pip install -e \".[dev]\"" in setup and "pytest" in test


def test_environment_yml_defers_to_pyproject():
    env = (ROOT / "environment.yml").read_text()
    assert "conda-forge" in env and "-e .[dev]" in env
    listed = [line.strip()[2:] for line in env.splitlines() if line.strip().startswith("- ")]
    assert set(listed) <= {"conda-forge", "pip", "pip:", "-e .[dev]"} | {x for x in listed if x.startswith("python")}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_papermill_reads_every_parameter(path):
    """papermill silently skips a parameter line it cannot parse; then -p NAME fails later."""
    import papermill

    nb = json.loads(path.read_text())
    lines = "".join(nb["cells"][1]["source"]).splitlines()
    declared = {line.split(":")[0] for line in lines}
    assert set(papermill.inspect_notebook(str(path))) == declared
