"""colorize_core.evaluation.stats against scipy.stats.bootstrap, a numpy bootstrap loop and the
normal approximation, computed here."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats as scipy_stats
from scipy.spatial.distance import jensenshannon

from colorize_core.evaluation.stats import (
    N_RESAMPLES,
    bootstrap_ci,
    bootstrap_pooled,
    paired_bootstrap_ci,
)


def _skewed(n: int, seed: int) -> np.ndarray:
    """Per-image-like values: positive, long upper tail (as PSNR or Delta E are)."""
    return 20.0 + 5.0 * np.random.default_rng(seed).gamma(2.0, size=n)


def test_matches_scipy_bca():
    values = _skewed(113, seed=0)
    mean, low, high = bootstrap_ci(values, confidence=0.9, seed=3)
    reference = scipy_stats.bootstrap(
        (values,),
        np.mean,
        n_resamples=N_RESAMPLES,
        confidence_level=0.9,
        method="BCa",
        random_state=np.random.default_rng(3),
    ).confidence_interval
    assert mean == pytest.approx(values.mean(), rel=1e-12)
    assert low == pytest.approx(reference.low, rel=1e-9)
    assert high == pytest.approx(reference.high, rel=1e-9)


def test_interval_is_close_to_the_normal_approximation():
    # for a large sample of a mildly skewed variable, mean +- z s / sqrt(n) is a good yardstick
    values = _skewed(2000, seed=1)
    mean, low, high = bootstrap_ci(values)
    half_width = scipy_stats.norm.ppf(0.975) * values.std(ddof=1) / np.sqrt(values.size)
    assert low < mean < high
    assert high - low == pytest.approx(2 * half_width, rel=0.1)
    assert (mean - low) == pytest.approx(half_width, rel=0.15)


def test_deterministic_and_seeded():
    values = _skewed(50, seed=2)
    assert bootstrap_ci(values, seed=5) == bootstrap_ci(values, seed=5)
    assert bootstrap_ci(values, seed=5) != bootstrap_ci(values, seed=6)


def test_higher_confidence_is_wider():
    values = _skewed(80, seed=3)
    _, low90, high90 = bootstrap_ci(values, confidence=0.9)
    _, low99, high99 = bootstrap_ci(values, confidence=0.99)
    assert low99 < low90 and high90 < high99


@pytest.mark.parametrize(
    "convert",
    [
        list,
        pd.Series,
        torch.from_numpy,
        lambda x: torch.tensor(x, dtype=torch.float32, requires_grad=True),
    ],
    ids=["list", "series", "tensor", "float32-tensor-with-grad"],
)
def test_accepts_lists_series_and_tensors(convert):
    values = _skewed(40, seed=4)
    expected = bootstrap_ci(values)
    np.testing.assert_allclose(bootstrap_ci(convert(values)), expected, rtol=1e-6)
    np.testing.assert_allclose(
        paired_bootstrap_ci(convert(values), convert(values[::-1].copy())),
        paired_bootstrap_ci(values, values[::-1]),
        rtol=1e-5,
        atol=1e-5,
    )


@pytest.mark.parametrize("values", [[3.5], [2.0, 2.0, 2.0], np.full(100, -1.25)])
def test_degenerate_input_gives_the_value(values):
    value = float(np.asarray(values)[0])
    assert bootstrap_ci(values) == (value, value, value)
    assert paired_bootstrap_ci(values, np.zeros(len(values))) == (value, value, value)
    assert paired_bootstrap_ci(values, values) == (0.0, 0.0, 0.0)


def test_two_values_give_a_finite_interval():
    mean, low, high = bootstrap_ci([1.0, 2.0])
    assert mean == 1.5
    assert 1.0 <= low <= mean <= high <= 2.0


def test_paired_is_the_bootstrap_of_differences():
    a, b = _skewed(113, seed=5), _skewed(113, seed=6)
    assert paired_bootstrap_ci(a, b, seed=7) == bootstrap_ci(a - b, seed=7)


def test_paired_sees_a_small_consistent_gain_that_unpaired_misses():
    # the model beats the baseline by 0.3 on every image, while images vary by far more
    baseline = _skewed(113, seed=8)
    model = baseline + 0.3 + 0.05 * np.random.default_rng(9).standard_normal(113)
    mean, low, high = paired_bootstrap_ci(model, baseline)
    assert mean == pytest.approx(np.mean(model - baseline))
    assert 0.0 < low < mean < high
    # the separate intervals overlap, so comparing them would not show the gain
    _, model_low, _ = bootstrap_ci(model)
    _, _, baseline_high = bootstrap_ci(baseline)
    assert model_low < baseline_high


@pytest.mark.parametrize("bad", [[1.0, float("nan"), 2.0], [1.0, float("inf")]])
def test_nan_or_inf_raises(bad):
    with pytest.raises(ValueError, match="NaN or inf"):
        bootstrap_ci(bad)
    with pytest.raises(ValueError, match="NaN or inf"):
        paired_bootstrap_ci([1.0, 2.0], bad[:2])


def test_bad_shapes_and_arguments_raise():
    with pytest.raises(ValueError, match="same images"):
        paired_bootstrap_ci([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="non-empty 1-D"):
        bootstrap_ci([])
    with pytest.raises(ValueError, match="non-empty 1-D"):
        bootstrap_ci(np.ones((3, 2)))
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_ci([1.0, 2.0, 3.0], confidence=95)


# ---------------------------------------------------------------------------------------------
# statistics pooled over images


def _js_bits(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Vectorised JS divergence in bits over the last axis, via scipy, row by row."""
    rows = zip(p.reshape(-1, p.shape[-1]), q.reshape(-1, q.shape[-1]), strict=True)
    values = [jensenshannon(a, b, base=2) ** 2 for a, b in rows]
    return np.reshape(values, p.shape[:-1])


def _histograms(n: int, seed: int, shift: float) -> tuple[np.ndarray, np.ndarray]:
    """(n, 30) per-image counts of two clearly different, image-to-image varying distributions."""
    rng = np.random.default_rng(seed)
    centre = rng.normal(15, 3, size=(n, 1))
    bins = np.arange(30)
    true = rng.poisson(200 * np.exp(-((bins - centre) ** 2) / 20))
    pred = rng.poisson(200 * np.exp(-((bins - centre - shift) ** 2) / 40))
    return pred, true


def test_pooled_mean_is_bootstrap_ci():
    # the mean is a statistic of the sum: resampling image indices draws the same resamples
    values = _skewed(113, seed=10)
    pooled = bootstrap_pooled(lambda total: total / values.size, values, seed=3)
    np.testing.assert_allclose(pooled, bootstrap_ci(values, seed=3), rtol=1e-12)


def test_pooled_ratio_is_close_to_the_delta_method():
    # a ratio of sums over images (e.g. a pixel-weighted mean), 2000 images
    rng = np.random.default_rng(12)
    weights = rng.gamma(2.0, size=2000)
    values = weights * (1.0 + 0.5 * rng.standard_normal(2000))
    ratio, low, high = bootstrap_pooled(lambda v, w: v / w, values, weights)
    assert ratio == pytest.approx(values.sum() / weights.sum(), rel=1e-12)
    residual = values - ratio * weights
    half_width = scipy_stats.norm.ppf(0.975) * residual.std(ddof=1) * np.sqrt(2000) / weights.sum()
    assert low < ratio < high
    assert high - low == pytest.approx(2 * half_width, rel=0.1)


def test_pooled_js_divergence_matches_a_numpy_bootstrap():
    pred, true = _histograms(80, seed=13, shift=2.0)
    value, low, high = bootstrap_pooled(_js_bits, pred, true, confidence=0.9)
    assert value == pytest.approx(jensenshannon(pred.sum(0), true.sum(0), base=2) ** 2)
    # an independent percentile bootstrap: for this well-separated pair BCa is close to it
    rng = np.random.default_rng(99)
    draws = rng.integers(0, 80, size=(4000, 80))
    resampled = _js_bits(pred[draws].sum(1), true[draws].sum(1))
    reference_low, reference_high = np.percentile(resampled, [5, 95])
    assert low < value < high
    assert low == pytest.approx(reference_low, rel=0.05)
    assert high == pytest.approx(reference_high, rel=0.05)


def test_pooled_is_seeded_and_takes_tensors():
    pred, true = _histograms(40, seed=14, shift=1.0)
    result = bootstrap_pooled(_js_bits, pred, true, seed=1)
    assert result == bootstrap_pooled(_js_bits, torch.from_numpy(pred), true, seed=1)
    assert result != bootstrap_pooled(_js_bits, pred, true, seed=2)


def test_pooled_degenerate_and_one_sided_cases():
    pred, true = _histograms(30, seed=15, shift=0.0)
    assert bootstrap_pooled(_js_bits, pred[:1], true[:1])[1:] == (_js_bits(pred[0], true[0]),) * 2
    assert bootstrap_pooled(_js_bits, pred, pred) == (0.0, 0.0, 0.0)
    # independent draws of one distribution: resampling only adds divergence, BCa is undefined
    # and the percentile interval lies above the value
    rng = np.random.default_rng(17)
    value, low, high = bootstrap_pooled(_js_bits, *rng.poisson(3.0, size=(2, 100, 50)))
    assert np.isfinite([low, high]).all() and value < low < high


def test_pooled_bad_input_raises():
    pred, true = _histograms(5, seed=16, shift=1.0)
    with pytest.raises(ValueError, match="one row per image"):
        bootstrap_pooled(_js_bits, pred, true[:4])
    with pytest.raises(ValueError, match="NaN or inf"):
        bootstrap_pooled(_js_bits, np.where(pred == pred.max(), np.nan, pred), true)
    with pytest.raises(ValueError, match="leading image axis"):
        bootstrap_pooled(_js_bits, np.zeros((0, 30)), np.zeros((0, 30)))
    with pytest.raises(ValueError, match="at least one array"):
        bootstrap_pooled(_js_bits)
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_pooled(_js_bits, pred, true, confidence=95)
