"""evaluate(): per-image metrics on a split, summaries with CIs, paired comparisons, the suite."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import cdist, jensenshannon
from skimage.color import deltaE_ciede2000, lab2rgb
from skimage.metrics import structural_similarity

from colorize_core.data.ab_bins import ab_bins
from colorize_core.data.cache import load_images
from colorize_core.data.color import denormalize_ab, normalize_l, split_lab
from colorize_core.data.split import make_split, select
from colorize_core.evaluation.baselines import make_baseline
from colorize_core.evaluation.evaluate import (
    AbHistograms,
    evaluate,
    long_summary,
    paired_difference,
    summarize,
)
from colorize_core.evaluation.metrics import METRICS, SPLIT_METRICS
from colorize_core.reporting.report import Run, metric_table, validation_table
from colorize_core.training.config import ExperimentConfig


@pytest.fixture(scope="module")
def faces():
    data = load_images("faces")
    split = make_split(data.files, seed=0)
    train = select(data, split, "train")
    return data, split, train


def test_per_image_table_covers_the_split_with_every_metric(faces):
    data, split, train = faces
    result = evaluate(make_baseline("mean_ab", train.lab), data, split, "test", name="mean_ab")
    assert list(result.per_image.index) == split.test
    assert list(result.per_image.columns) == list(METRICS)
    assert np.isfinite(result.per_image.to_numpy()).all()
    summary = result.summary
    assert list(summary.index) == list(METRICS) + list(SPLIT_METRICS)
    assert (summary["n"] == 113).all()
    assert np.allclose(summary["mean"][list(METRICS)], result.per_image.mean())
    assert (summary["ci_low"] <= summary["mean"]).all() and (
        summary["mean"] <= summary["ci_high"]
    ).all()
    table = result.table()
    assert len(table) == 113 + 3 and list(table.index[-3:]) == ["mean", "ci_low", "ci_high"]


def test_gray_baseline_matches_scikit_image_end_to_end(faces):
    """evaluate() on real faces agrees with metrics computed independently by scikit-image."""
    data, _, _ = faces
    subset = data.subset(range(5))
    result = evaluate(make_baseline("gray", subset.lab), subset, name="gray")
    lab = subset.lab.float().permute(0, 2, 3, 1).numpy().astype(np.float64)
    gray = lab.copy()
    gray[..., 1:] = 0
    for i, file in enumerate(subset.files):
        row = result.per_image.loc[file]
        ssim = structural_similarity(
            lab2rgb(gray[i]), lab2rgb(lab[i]), channel_axis=2, data_range=1
        )
        assert row["ssim_rgb"] == pytest.approx(ssim, abs=2e-3)
        assert row["delta_e2000"] == pytest.approx(
            deltaE_ciede2000(gray[i], lab[i]).mean(), abs=1e-2
        )
        mse = np.mean((lab[i][..., 1:] / 128) ** 2)
        assert row["mse_ab"] == pytest.approx(mse, rel=1e-4)
        assert row["psnr_ab"] == pytest.approx(10 * np.log10(1 / mse), rel=1e-4)
        assert row["delta_e76"] == pytest.approx(
            np.linalg.norm(lab[i][..., 1:], axis=-1).mean(), rel=1e-4
        )
        assert row["colorfulness_pred"] == pytest.approx(0.0, abs=0.5)


def test_rebalanced_auc_and_histograms_match_numpy_end_to_end(faces):
    """The prior is the bin frequencies of the true ab of all images scored, shared by all."""
    data, _, train = faces
    subset = data.subset(range(5))
    baseline = make_baseline("mean_ab_map", train.lab)
    result = evaluate(baseline, subset, name="mean_ab_map")
    centres = ab_bins().double().numpy()
    lightness, true_ab = split_lab(subset.lab.float())
    pred_ab = denormalize_ab(baseline(normalize_l(lightness))).double().numpy()
    true_ab = true_ab.double().numpy()
    true_bin = cdist(true_ab.transpose(0, 2, 3, 1).reshape(-1, 2), centres).argmin(axis=1)
    true_bin = true_bin.reshape(5, -1)
    prior = np.bincount(true_bin.ravel(), minlength=len(centres)) / true_bin.size
    for i, file in enumerate(subset.files):
        error = np.linalg.norm(pred_ab[i] - true_ab[i], axis=0).ravel()
        passed = np.mean([error <= t for t in range(151)], axis=0)
        expected = np.average(passed, weights=1 / prior[true_bin[i]])
        assert result.per_image.loc[file, "auc_ab_rebalanced"] == pytest.approx(expected, abs=1e-5)
    histograms = result.histograms
    assert histograms.files == tuple(subset.files)
    np.testing.assert_array_equal(
        histograms.true, [np.bincount(b, minlength=309) for b in true_bin]
    )
    assert (histograms.pred.sum(axis=1) == 128 * 128).all()
    js = jensenshannon(histograms.pred.sum(0), histograms.true.sum(0), base=2) ** 2
    row = result.summary.loc["ab_js_divergence"]
    assert row["mean"] == pytest.approx(js) and row["ci_low"] <= js <= row["ci_high"]


def test_histograms_round_trip_and_rebuild_the_summary(faces, tmp_path):
    data, _, train = faces
    subset = data.subset(range(8))
    result = evaluate(make_baseline("mean_ab", train.lab), subset, name="mean_ab")
    path = tmp_path / "ab_histograms.csv"
    result.histograms.to_frame().to_csv(path)
    frame = pd.read_csv(path, index_col="file")
    assert list(frame.columns[:2]) == ["pred_-90_50", "pred_-90_60"]
    loaded = AbHistograms.from_frame(frame)
    assert loaded.files == result.histograms.files
    np.testing.assert_array_equal(loaded.pred, result.histograms.pred)
    np.testing.assert_array_equal(loaded.true, result.histograms.true)
    # what a report rebuilds from metrics_per_image.csv and ab_histograms.csv
    pd.testing.assert_frame_equal(summarize(result.per_image, histograms=loaded), result.summary)
    assert "ab_js_divergence" not in summarize(result.per_image).index
    with pytest.raises(ValueError, match="do not match ab_bins"):
        AbHistograms.from_frame(frame.iloc[:, 1:])
    with pytest.raises(ValueError, match="same images"):
        summarize(result.per_image.iloc[::-1], histograms=loaded)


def test_js_divergence_ranks_the_baselines(faces):
    data, split, train = faces
    js = {
        name: evaluate(make_baseline(name, train.lab), data, split, name=name).summary.loc[
            "ab_js_divergence", "mean"
        ]
        for name in ("gray", "mean_ab_map")
    }
    # gray puts every pixel in one bin; the per-pixel mean map spreads over the common colours
    assert 0 < js["mean_ab_map"] < js["gray"] <= 1


def test_batch_size_does_not_change_results(faces):
    data, _, train = faces
    subset = data.subset(range(10))
    baseline = make_baseline("mean_ab_map", train.lab)
    small = evaluate(baseline, subset, batch_size=3).per_image
    large = evaluate(baseline, subset, batch_size=64).per_image
    pd.testing.assert_frame_equal(small, large, rtol=1e-5)


def test_paired_difference_and_tables(faces):
    data, split, train = faces
    gray = evaluate(make_baseline("gray", train.lab), data, split, name="gray")
    mean_map = evaluate(make_baseline("mean_ab_map", train.lab), data, split, name="mean_ab_map")
    diff, low, high = paired_difference(mean_map, gray, "delta_e2000")
    expected = (mean_map.per_image["delta_e2000"] - gray.per_image["delta_e2000"]).mean()
    assert diff == pytest.approx(expected) and low <= diff <= high
    table = metric_table([gray, mean_map])
    assert list(table.columns[:2]) == ["gray", "mean_ab_map"] and "[" in table.at["psnr_ab", "gray"]
    assert len(long_summary([gray, mean_map])) == 2 * (len(METRICS) + len(SPLIT_METRICS))
    other = evaluate(make_baseline("gray", train.lab), data, split, "val", name="gray")
    with pytest.raises(ValueError, match="same images"):
        paired_difference(other, gray, "delta_e2000")


def test_validation_table_chooses_the_lowest_validation_delta_e2000(faces):
    data, split, train = faces
    validations = [
        evaluate(make_baseline(name, train.lab), data, split, "val", name=name)
        for name in ("gray", "mean_ab", "mean_ab_map")
    ]
    table = validation_table(validations)
    assert list(table.index) == ["gray", "mean_ab", "mean_ab_map"]
    assert table["chosen"].sum() == 1
    assert table["delta_e2000"].idxmin() == table.index[table["chosen"]][0] == "mean_ab_map"
    assert table.loc["gray", "psnr_ab"] == pytest.approx(validations[0].per_image["psnr_ab"].mean())


def test_runs_at_the_registered_size_share_a_group_with_runs_that_name_it():
    def run(**params):
        return Run(Path("r"), ExperimentConfig.from_params(**params), {}, pd.DataFrame(), None)

    assert run(dataset="faces").group == run(dataset="faces", image_size=128).group
    assert run(dataset="faces").group != run(dataset="faces", image_size=64).group
    assert run(dataset="folder:/x").group[1] is None
