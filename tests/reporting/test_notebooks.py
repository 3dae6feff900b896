"""The committed notebooks: no outputs, one parameters cell, defaults equal to the cpu profile."""

import ast
import json

import pytest
from conftest import REPO  # pytest puts tests/ on sys.path

from colorize_core.reporting.profiles import NOTEBOOKS, PROFILES, notebook_parameters

NOTEBOOK_DIR = REPO / "notebooks"


def cells(name: str) -> list[dict]:
    return json.loads((NOTEBOOK_DIR / f"{name}.ipynb").read_text())["cells"]


def parameters_cell(name: str) -> dict:
    tagged = [c for c in cells(name) if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{name}: {len(tagged)} parameters cells"
    return tagged[0]


def test_every_suite_notebook_exists_and_nothing_else_is_there():
    # colorize_your_photos is not part of the suite (tests/apps/test_infer.py covers it)
    expected = sorted([*NOTEBOOKS, "colorize_your_photos"])
    assert sorted(p.stem for p in NOTEBOOK_DIR.glob("*.ipynb")) == expected


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_without_outputs(name):
    for cell in cells(name):
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, name


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_one_parameters_cell_holding_the_cpu_profile(name):
    source = "".join(parameters_cell(name)["source"])
    values = {}
    for node in ast.parse(source).body:
        assert isinstance(node, ast.Assign), f"{name}: the parameters cell holds only assignments"
        values[node.targets[0].id] = ast.literal_eval(node.value)
    expected = notebook_parameters("cpu", name)
    assert {k: values[k] for k in expected} == expected
    for profile in PROFILES:  # every profile sets only names the notebook declares
        assert set(notebook_parameters(profile, name)) <= set(values), (profile, name)
