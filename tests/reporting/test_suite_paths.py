"""Relative paths a user gives the suite are taken from where they ran it, and reach the notebooks
relative to the report folder they run in."""

import json
import os

import pytest

from colorize_core.reporting import suite

VARIABLES = ("COLORIZE_DATA", "COLORIZE_CACHE", "COLORIZE_HOME")


@pytest.fixture()
def notebooks_started(monkeypatch):
    """Stands in for papermill: records each notebook's parameters and the environment it would
    inherit, at the moment it would start."""
    started = []

    def record(name, parameters, out, log=None):
        environment = {v: os.environ.get(v) for v in VARIABLES}
        started.append((name, parameters, environment))
        return suite.NotebookRun(name, True, 0.0, f"{name}.ipynb", None)

    monkeypatch.setattr(suite, "run_notebook", record)
    return started


def test_relative_paths_reach_the_notebooks_from_their_report_folder(
    tmp_path, monkeypatch, notebooks_started
):
    here = tmp_path.resolve()
    monkeypatch.chdir(here)
    monkeypatch.setenv("COLORIZE_DATA", "../shared/datasets")  # README's example
    monkeypatch.setenv("COLORIZE_CACHE", "cache")
    monkeypatch.setenv("COLORIZE_HOME", "home")
    failed = suite.main([
        "--profile", "smoke", "--only", "faces_cnn", "--out", "reports", "--results", "runs",
        "--set", "faces_cnn.DATASET=folder:photos",
    ])  # fmt: skip
    assert failed == 0
    ((name, parameters, environment),) = notebooks_started
    assert name == "faces_cnn"
    # the notebook runs in reports/: no folder of this machine in its parameters cell
    assert parameters["OUTPUT_DIR"] == "../runs"
    assert parameters["DATASET"] == "folder:../photos"
    assert environment == {
        "COLORIZE_DATA": str(here.parent / "shared" / "datasets"),
        "COLORIZE_CACHE": str(here / "cache"),
        "COLORIZE_HOME": str(here / "home"),
    }
    assert json.loads((here / "reports" / "run.json").read_text())["results"] == str(here / "runs")


def test_data_dir_and_absolute_paths(tmp_path, monkeypatch, notebooks_started):
    here = tmp_path.resolve()
    monkeypatch.chdir(here)
    monkeypatch.setenv("COLORIZE_CACHE", str(here / "elsewhere" / "cache"))
    monkeypatch.delenv("COLORIZE_HOME", raising=False)
    monkeypatch.setenv("COLORIZE_DATA", "ignored: --data-dir wins")
    suite.main(["--profile", "smoke", "--only", "faces_cnn", "--data-dir", "data",
                "--out", str(here / "r"), "--results", str(here / "runs")])  # fmt: skip
    ((_, parameters, environment),) = notebooks_started
    assert environment == {
        "COLORIZE_DATA": str(here / "data"),
        "COLORIZE_CACHE": str(here / "elsewhere" / "cache"),
        "COLORIZE_HOME": None,
    }
    assert parameters["DATASET"] == "faces"  # a registered name is not a path


def test_a_report_folder_that_is_the_notebooks_folder_is_refused(capsys, notebooks_started):
    before = {p.name: p.read_bytes() for p in suite.NOTEBOOK_DIR.glob("*.ipynb")}
    with pytest.raises(SystemExit) as stopped:
        suite.main(["--profile", "smoke", "--only", "faces_cnn", "--out", str(suite.NOTEBOOK_DIR)])
    assert stopped.value.code == 2 and "notebooks' own folder" in capsys.readouterr().err
    assert notebooks_started == []
    assert {p.name: p.read_bytes() for p in suite.NOTEBOOK_DIR.glob("*.ipynb")} == before
