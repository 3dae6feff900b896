"""Each notebook writes its own part of a group; the summary merges the parts from the report
folder alone. Tiny runs: faces at 32 px, 40 images, one epoch, two notebooks in one group."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from colorize_core.evaluation.evaluate import evaluate_baselines
from colorize_core.reporting import index_page, merge, report, report_files
from colorize_core.runs.experiment import load_data, run_experiment
from colorize_core.training.config import ExperimentConfig

# notebook -> its runs: "one" has an ablation (a reference and a variant), "two" a single run
NOTEBOOKS = {"one": {"abl-reference": {}, "abl-lr": {"lr": 3e-3}}, "two": {"solo": {}}}
STEM = "faces_32px_40_seed0"


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    folder = tmp_path_factory.mktemp("results")
    for runs in NOTEBOOKS.values():
        for name, changes in runs.items():
            config = ExperimentConfig.from_params(
                name=name, model="conv_ae", dataset="faces", image_size=32, limit=40,
                batch_size=8, epochs=1, model_kwargs={"base": 8}, output_dir=str(folder),
                **changes,
            )  # fmt: skip
            run_experiment(config)
    return folder


def write(notebook: str, results, report_dir, names=None):
    folders = [results / n for n in names or NOTEBOOKS[notebook]]
    return report.write_group_reports(folders, report_dir, notebook=notebook)


@pytest.fixture(scope="module")
def report_dir(results, tmp_path_factory):
    """Both notebooks' parts, then the summary of them, with the run folders moved away."""
    folder = tmp_path_factory.mktemp("report")
    for notebook in NOTEBOOKS:
        write(notebook, results, folder)
    hidden = results.with_name("hidden")
    results.rename(hidden)
    try:
        merge.summarize_tables(folder)  # reads nothing but the report folder
    finally:
        hidden.rename(results)
    return folder


def pairs_of(frame: pd.DataFrame) -> set[tuple[str, str]]:
    return set(zip(frame["a"], frame["b"], strict=True))


def one_summary_of_all(results) -> dict[str, pd.DataFrame]:
    """What summarize_results built from every run folder before the tables were split by
    notebook: one group's tables of all its runs at once."""
    runs = report.load_runs(results)
    data, split = load_data(runs[0].config)
    baselines = evaluate_baselines(data, split)
    evaluations = [r.evaluation() for r in runs]
    return {
        "summary": report.summary_table(report.comparison_long(runs, baselines)),
        "vs_baselines": report.paired_against_baselines(evaluations, baselines),
        "pairwise": report.pairwise(evaluations),
        "ablation": report._ablation(evaluations),
    }


def test_the_merged_tables_equal_one_summary_of_all_the_runs(results, report_dir, tmp_path):
    for kind, frame in one_summary_of_all(results).items():
        report.write_table(frame, tmp_path, kind)
        for suffix in (".csv", ".md"):  # the same text: every number, row and column alike
            merged = (report_dir / "tables" / f"{STEM}_{kind}{suffix}").read_text()
            assert merged == (tmp_path / f"{kind}{suffix}").read_text(), kind
    pairs = pd.read_csv(report_dir / "tables" / f"{STEM}_pairwise.csv")
    assert {("abl-lr", "solo"), ("abl-reference", "solo")} <= set(
        zip(pairs["a"], pairs["b"], strict=True)
    )
    assert (report_dir / "figures" / f"{STEM}_metrics.png").is_file()


def test_each_notebook_writes_its_own_part(report_dir):
    owners = {f.owner for f in report_files.group_files(report_dir) if f.stem == STEM}
    assert owners == {None, "one", "two"}
    tables = {p.name for p in (report_dir / "tables").glob("*.csv")}
    assert "one__faces_32px_40_seed0_ablation.csv" in tables
    assert "two__faces_32px_40_seed0_pairwise.csv" not in tables  # one run: no pairs
    for notebook in NOTEBOOKS:
        for kind in report_files.FIGURE_KINDS:
            suffix = report_files.figure_suffix(kind)
            assert (report_dir / "figures" / f"{notebook}__{STEM}_{kind}{suffix}").is_file()
        assert (report_dir / "scores" / f"{notebook}__{STEM}.npz").is_file()


def test_rewriting_one_notebook_leaves_the_others_files(results, report_dir, tmp_path):
    folder = tmp_path / "report"
    shutil.copytree(report_dir, folder)
    foreign = {
        folder / "tables" / "vivid_targets_faces_classification.csv": "target,met\nx,True\n",
        folder / "tables" / "general_domains.csv": "domain,x\nfaces,1\n",
        folder / "figures" / "vivid_tradeoff_faces.png": "not really a png",
    }
    stale = [folder / "tables" / "one__gone_32px_4000_seed0_summary.csv",
             folder / "figures" / "one__gone_32px_4000_seed0_curves.png"]  # fmt: skip
    for path, text in [*foreign.items(), *((p, "from runs that are gone") for p in stale)]:
        path.write_text(text)
    others = {p: p.read_bytes() for p in folder.rglob("two__*")}
    assert len(others) > 8

    write("one", results, folder, names=["abl-reference"])  # its variant is gone
    assert not any(path.exists() for path in stale)
    assert not (folder / "tables" / f"one__{STEM}_ablation.csv").exists()
    assert not (folder / "tables" / f"one__{STEM}_pairwise.csv").exists()
    assert {p: p.read_bytes() for p in folder.rglob("two__*")} == others
    assert all(path.read_text() == text for path, text in foreign.items())

    (folder / "tables" / "gone_32px_4000_seed0_summary.csv").write_text("merged, runs gone\n")
    merge.summarize_tables(folder)
    summary = pd.read_csv(folder / "tables" / f"{STEM}_summary.csv", index_col=0)
    assert list(summary.index[summary["kind"] == "model"]) == ["abl-reference", "solo"]
    assert not (folder / "tables" / f"{STEM}_ablation.csv").exists()  # no notebook has one
    assert not (folder / "tables" / "gone_32px_4000_seed0_summary.csv").exists()
    assert {p: p.read_bytes() for p in folder.rglob("two__*")} == others
    assert all(path.read_text() == text for path, text in foreign.items())


def test_the_index_shows_each_notebooks_figures_and_other_tables(report_dir, tmp_path):
    folder = tmp_path / "report"
    shutil.copytree(report_dir, folder)
    (folder / "tables" / "general_domains.csv").write_text("domain,x\nfaces,1\n")
    origin = {"platform": "p", "cpu_threads": 2, "packages": {"torch": "2"}}
    info = {"profile": "smoke", "device": "cpu", "notebooks": [], "invocations": [],
            "provenance": origin}  # fmt: skip
    page = index_page.write_index(folder, info).read_text()
    group = page[page.index(f'<h2 id="{STEM}">') : page.index('<h2 id="other">')]
    assert "faces, 32 px, first 40 images, seed 0" in group and '<p class="headline">' in group
    for notebook in NOTEBOOKS:
        assert f"figures/{notebook}__{STEM}_samples.jpg" in group
    assert f"figures/{STEM}_metrics.png" in group  # the merged chart, not each notebook's
    assert f"figures/one__{STEM}_metrics.png" not in group
    assert "general_domains" in page[page.index('<h2 id="other">') :]


def test_the_index_joins_the_notebooks_tables_before_the_summary_ran(report_dir, tmp_path):
    folder = tmp_path / "report"
    shutil.copytree(report_dir, folder)
    for path in (folder / "tables").glob(f"{STEM}_*"):
        path.unlink()
    files = index_page.report_groups(folder)[STEM]
    tables = index_page.group_tables(folder, STEM, files)
    merged = pd.read_csv(report_dir / "tables" / f"{STEM}_summary.csv", index_col=0, dtype=str,
                         keep_default_na=False)  # fmt: skip
    pd.testing.assert_frame_equal(tables.summary, merged)
    assert pairs_of(tables.pairwise) == {("abl-lr", "abl-reference")}  # within a notebook only


def test_scores_round_trip_exactly(results, tmp_path):
    (run,) = [r for r in report.load_runs(results) if r.name == "solo"]
    path = report_files.save_scores(tmp_path / "x.npz", {"solo": (run.per_image, run.histograms)})
    ((name, (per_image, histograms)),) = report_files.load_scores(path).items()
    assert name == "solo"
    pd.testing.assert_frame_equal(per_image, run.per_image, check_exact=True)
    assert histograms.files == run.histograms.files
    assert (histograms.pred == run.histograms.pred).all()
    assert (histograms.true == run.histograms.true).all()
