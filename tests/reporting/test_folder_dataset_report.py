"""A ``folder:PATH`` dataset end to end: train a tiny run, then the summary's tables and figures."""

import re
import shutil

import pandas as pd
import pytest

from colorize_core.reporting import report
from colorize_core.runs.experiment import run_experiment
from colorize_core.training.config import ExperimentConfig

SAFE = re.compile(r"[A-Za-z0-9._-]+")


@pytest.fixture()
def photos(tmp_path, face_files):
    """40 real faces copied into a folder of one's own, as a user's photos would be."""
    folder = tmp_path / "my photos" / "photos"
    folder.mkdir(parents=True)
    for path in face_files[:40]:
        shutil.copy(path, folder)
    return folder


def test_summary_of_a_folder_dataset_writes_its_tables_and_figures(photos, tmp_path):
    dataset = f"folder:{photos}"
    results, report_dir = tmp_path / "results", tmp_path / "report"
    config = ExperimentConfig.from_params(
        name="mine", dataset=dataset, image_size=32, epochs=1, batch_size=8, model="unet",
        model_kwargs={"base": 8}, output_dir=str(results),
    )  # fmt: skip
    run_experiment(config)

    (group,) = report.summarize_results(results, report_dir)
    assert SAFE.fullmatch(group.stem) and group.stem.startswith("folder-photos-")
    assert dataset in group.label  # the tables' heading still names the folder in full
    written = [*(report_dir / "tables").iterdir(), *(report_dir / "figures").iterdir()]
    assert all(SAFE.fullmatch(path.name) for path in written)
    assert {path.parent.parent for path in written} == {report_dir}
    summary = pd.read_csv(report_dir / "tables" / f"{group.stem}_summary.csv", index_col=0)
    assert summary.loc["mine", "kind"] == "model"
    assert {"gray", "mean_ab", "mean_ab_map"} <= set(summary.index)
    assert (report_dir / "tables" / f"{group.stem}_summary.md").read_text().count("| mine ") == 1
    versus = pd.read_csv(report_dir / "tables" / f"{group.stem}_vs_baselines.csv")
    assert set(versus["a"]) == {"mine"} and set(versus["b"]) == {"gray", "mean_ab", "mean_ab_map"}
    assert set(group.figures) == {"metrics", "distributions", "samples", "curves"}
    assert all(
        path.is_file() and path.parent == report_dir / "figures" for path in group.figures.values()
    )
