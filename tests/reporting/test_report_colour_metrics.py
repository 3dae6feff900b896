"""auc_ab_rebalanced and ab_js_divergence in reports: run folders, tables, paired JS, summary."""

import re
import shutil
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import jensenshannon

from colorize_core.evaluation.evaluate import AbHistograms, Evaluation
from colorize_core.reporting import report
from colorize_core.runs.experiment import run_experiment
from colorize_core.training.config import ExperimentConfig

NEW = ["auc_ab_rebalanced", "ab_js_divergence"]
CELL = re.compile(r"(\S+) \[(\S+), (\S+)\]")  # report._cell: "mean [ci_low, ci_high]"


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Two tiny runs on the same test split: faces at 32 px, 40 images, one epoch."""
    folder = tmp_path_factory.mktemp("results")
    for name, model in (("ae", "conv_ae"), ("unet", "unet")):
        config = ExperimentConfig.from_params(
            name=name, model=model, dataset="faces", image_size=32, limit=40, batch_size=8,
            epochs=1, model_kwargs={"base": 8}, output_dir=str(folder),
        )  # fmt: skip
        run_experiment(config)
    return folder


def cell(text: str) -> tuple[float, float, float]:
    return tuple(float(x) for x in CELL.fullmatch(text).groups())


def test_runs_load_their_histograms_and_report_the_js_row_with_a_ci(results):
    runs = report.load_runs(results)
    assert [r.name for r in runs] == ["ae", "unet"]
    for run in runs:
        assert list(run.histograms.files) == list(run.per_image.index)
        evaluation = run.evaluation()
        assert evaluation.histograms is run.histograms
        js = evaluation.summary.loc["ab_js_divergence", ["mean", "ci_low", "ci_high"]]
        saved = run.metrics["metrics"]["ab_js_divergence"]  # what the run itself computed
        assert js.tolist() == pytest.approx([saved["mean"], saved["ci_low"], saved["ci_high"]])
        # after one epoch a model's colours may share no bin with the truth: JS 1, CI [1, 1]
        assert np.isfinite(js).all() and 0 <= js["ci_low"] <= js["ci_high"] <= 1
    table = report.metric_table([r.evaluation() for r in runs])
    assert all(CELL.fullmatch(table.at[m, name]) for m in NEW for name in ("ae", "unet"))
    assert "Jensen-Shannon" in table.at["ab_js_divergence", "how it is computed"]


def test_a_run_without_histograms_still_loads_with_an_empty_js_cell(results, tmp_path):
    shutil.copytree(results / "ae", tmp_path / "ae")
    (tmp_path / "ae" / "ab_histograms.csv").unlink()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not stale: nothing is skipped
        (run,) = report.load_runs(tmp_path)
    assert run.histograms is None
    old = run.evaluation()
    assert "ab_js_divergence" not in old.summary.index
    (current,) = [r.evaluation() for r in report.load_runs(results) if r.name == "unet"]

    table = report.summary_table(report.comparison_long([run], [current]))
    assert table.at["ae", "ab_js_divergence"] == "" and CELL.fullmatch(
        table.at["unet", "ab_js_divergence"]
    )
    assert CELL.fullmatch(table.at["ae", "auc_ab_rebalanced"])
    assert report.metric_table([old]).at["ab_js_divergence", "ae"] == ""
    versus = report.paired_against_baselines([old], [current])
    assert list(versus["metric"]) == ["psnr_ab", "delta_e2000", "auc_ab_rebalanced"]


def test_histograms_on_other_ab_bins_make_the_run_stale(results, tmp_path):
    shutil.copytree(results / "ae", tmp_path / "ae")
    path = tmp_path / "ae" / "ab_histograms.csv"
    pd.read_csv(path, index_col="file").iloc[:, :-1].to_csv(path)  # one bin fewer
    with pytest.warns(UserWarning, match=r"skipped 1 run\(s\) .*: ae; re-score"):
        assert report.load_runs(tmp_path) == []


def synthetic(pred: np.ndarray, true: np.ndarray, name: str) -> Evaluation:
    files = tuple(f"img{i}.jpg" for i in range(len(true)))
    return Evaluation(name, "synthetic", "test", pd.DataFrame(), pd.DataFrame(),
                      AbHistograms(files, pred, true))  # fmt: skip


def test_paired_js_difference_matches_an_independent_percentile_bootstrap():
    # 30 images of 1024 pixels over 30 bins, palettes varying around a common one (as faces do);
    # "close" mixes in 10% of a flat distribution, "washed" 40%
    rng = np.random.default_rng(0)
    n, bins, pixels = 30, 30, 1024
    palettes = rng.dirichlet(100 * rng.dirichlet(np.ones(bins)), n)
    flat = np.full(bins, 1 / bins)
    true = np.stack([rng.multinomial(pixels, p) for p in palettes])
    close = np.stack([rng.multinomial(pixels, 0.9 * p + 0.1 * flat) for p in palettes])
    washed = np.stack([rng.multinomial(pixels, 0.6 * p + 0.4 * flat) for p in palettes])
    a, b = synthetic(close, true, "close"), synthetic(washed, true, "washed")

    diff, low, high = report.paired_js_difference(a, b)

    def js(pred: np.ndarray, truth: np.ndarray) -> float:
        return jensenshannon(pred.sum(0), truth.sum(0), base=2) ** 2

    assert diff == pytest.approx(js(close, true) - js(washed, true), abs=1e-12)
    assert low <= diff <= high < 0  # closer to the true colours, beyond the CI
    resamples = np.random.default_rng(1).integers(0, n, (2000, n))
    boot = [js(close[i], true[i]) - js(washed[i], true[i]) for i in resamples]
    expected = np.percentile(boot, [2.5, 97.5])
    # BCa shifts the percentile interval by its bias correction (here about a sixth of its width)
    assert [low, high] == pytest.approx(expected, abs=0.3 * (expected[1] - expected[0]))
    assert report.paired_js_difference(a, b) == (diff, low, high)  # seeded
    assert report.paired_js_difference(b, a) == pytest.approx((-diff, -high, -low), rel=1e-9)


def test_paired_js_difference_needs_histograms_of_the_same_images():
    rng = np.random.default_rng(0)
    true, pred = rng.integers(1, 50, (2, 5, 8))
    a = synthetic(pred, true, "a")
    with pytest.raises(ValueError, match="histograms"):
        report.paired_js_difference(
            a, Evaluation("b", "synthetic", "test", pd.DataFrame(), pd.DataFrame())
        )
    with pytest.raises(ValueError, match="same images"):
        report.paired_js_difference(a, synthetic(pred, true + 1, "b"))


def test_summary_tables_show_both_colour_metrics_with_cis(results, tmp_path):
    (group,) = report.summarize_results(results, tmp_path)
    tables = tmp_path / "tables"
    summary = pd.read_csv(tables / f"{group.stem}_summary.csv", index_col="predictor")
    measured = summary[summary["kind"] != "quoted"]
    assert set(measured.index) == {"ae", "unet", "gray", "mean_ab", "mean_ab_map"}
    for text in measured[NEW].to_numpy().ravel():
        mean, low, high = cell(text)
        assert np.isfinite([mean, low, high]).all() and low <= high
    baselines = summary.loc[summary["kind"] == "baseline", "ab_js_divergence"]
    assert all(cell(text)[1] < cell(text)[2] for text in baselines)  # a CI of some width
    quoted = summary[summary["kind"] == "quoted"]
    assert len(quoted) and quoted[NEW].isna().all().all()

    versus = pd.read_csv(tables / f"{group.stem}_vs_baselines.csv")
    js = versus[versus["metric"] == "ab_js_divergence"]
    assert len(js) == 2 * 3 and (js["ci_low"] <= js["ci_high"]).all()
    assert js["verdict"].str.contains("pooled over the split").all()
    pairs = pd.read_csv(tables / f"{group.stem}_pairwise.csv")
    assert set(NEW) <= set(pairs["metric"])
    assert group.figures["metrics"].is_file()
