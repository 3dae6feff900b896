"""evaluate(): per-image metrics on a split, summaries with CIs, paired comparisons, the suite."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from skimage.color import deltaE_ciede2000, lab2rgb
from skimage.metrics import structural_similarity

from colorize_core.baselines import make_baseline
from colorize_core.config import ExperimentConfig
from colorize_core.data import load_images, make_split, select
from colorize_core.evaluate import evaluate, long_summary, paired_difference
from colorize_core.metrics import METRICS
from colorize_core.report import Run, metric_table, validation_table


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
    assert list(summary.index) == list(METRICS) and (summary["n"] == 113).all()
    assert np.allclose(summary["mean"], result.per_image.mean())
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
    assert len(long_summary([gray, mean_map])) == 2 * len(METRICS)
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
