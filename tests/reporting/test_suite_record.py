"""Papermill's record in an executed notebook names no folder of the machine that ran it."""

import nbformat

from colorize_core.reporting import suite


def test_relative_record_rewrites_papermills_paths_and_keeps_the_rest(tmp_path):
    source = suite.NOTEBOOK_DIR / "faces_cnn.ipynb"
    target = tmp_path / "reports" / "faces_cnn.ipynb"
    target.parent.mkdir()
    parameters = {"OUTPUT_DIR": "../results", "REPORT_DIR": ".", "EPOCHS": 1}
    cell = nbformat.v4.new_code_cell('OUTPUT_DIR = "../results"', execution_count=1)
    record = {"input_path": str(source), "output_path": str(target), "parameters": parameters,
              "duration": 1.5}  # fmt: skip
    notebook = nbformat.v4.new_notebook(cells=[cell], metadata={"papermill": record})
    nbformat.write(notebook, target)

    suite.relative_record(target, source)

    rewritten = nbformat.read(target, as_version=4)
    nbformat.validate(rewritten)
    assert rewritten.metadata.papermill == {
        **record, "input_path": "notebooks/faces_cnn.ipynb", "output_path": "faces_cnn.ipynb"
    }  # fmt: skip
    assert rewritten.cells == notebook.cells
    assert str(tmp_path) not in target.read_text() and str(suite.ROOT) not in target.read_text()
