"""Bootstrap confidence intervals over test images: for the mean of per-image metric values, and
for statistics of a whole split pooled over its images.

``bootstrap_ci`` and ``paired_bootstrap_ci`` take one value per test image (numpy array, list,
pandas Series or torch tensor, 1-D) and return plain floats ``(mean, low, high)``: the sample mean
and a two-sided bootstrap confidence interval for the population mean. ``bootstrap_pooled`` takes
per-image arrays (e.g. ab histograms) and a statistic of their sums over images (e.g. the
Jensen-Shannon divergence of the pooled histograms) and returns ``(value, low, high)``.

The interval is scipy's BCa (bias-corrected and accelerated) bootstrap, ``scipy.stats.bootstrap``
with ``method="BCa"``. Per-image metrics are skewed (PSNR has a long upper tail, Delta E a long
lower one), and BCa corrects the percentile interval for that skew and for bias; for symmetric
data it agrees with the percentile interval. The resampling is seeded, so a given input always
gives the same interval.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import torch
from numpy.typing import ArrayLike
from scipy import stats

# numpy arrays, lists and pandas Series are all ArrayLike
Values = ArrayLike | torch.Tensor

# scipy's default is 9999; 10 000 resamples put the Monte Carlo error of a 95% BCa bound well
# below the interval's own width for the few hundred images of a test split.
N_RESAMPLES = 10_000
# resamples evaluated at once: bounds memory at about 1000 x n floats for large n
_BATCH = 1000


def _as_values(values: Values, name: str) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D sequence, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or inf; drop or fix those images first")
    return array


def _mean_ci(
    values: np.ndarray, confidence: float, n_resamples: int, seed: int
) -> tuple[float, float, float]:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    mean = float(values.mean())
    # one image or identical values: no spread to resample (BCa would return NaN)
    if np.ptp(values) == 0:
        return mean, mean, mean
    result = stats.bootstrap(
        (values,),
        np.mean,
        n_resamples=n_resamples,
        batch=_BATCH,
        confidence_level=confidence,
        method="BCa",
        # random_state rather than rng: rng only exists from scipy 1.15, the project allows 1.11
        random_state=np.random.default_rng(seed),
    )
    interval = result.confidence_interval
    return mean, float(interval.low), float(interval.high)


def bootstrap_ci(
    values: Values, confidence: float = 0.95, n_resamples: int = N_RESAMPLES, seed: int = 0
) -> tuple[float, float, float]:
    """Mean of per-image values and its BCa bootstrap confidence interval.

    values: one finite number per image, 1-D. Returns ``(mean, low, high)`` in the units of the
    values, ``low <= mean <= high`` in practice; with one value, or all values equal, the interval
    is the value itself. Raises ValueError on NaN or inf, empty or non-1-D input.
    """
    return _mean_ci(_as_values(values, "values"), confidence, n_resamples, seed)


def paired_bootstrap_ci(
    a: Values,
    b: Values,
    confidence: float = 0.95,
    n_resamples: int = N_RESAMPLES,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Mean of the per-image differences ``a - b`` and its BCa bootstrap confidence interval.

    ``a[i]`` and ``b[i]`` must be the same metric on the same image i (e.g. a model and a
    baseline on one test split). Resampling images (pairs) keeps each image's difficulty in both
    terms, so this is the fair test of "a beats b": an interval that excludes 0 is a difference
    at that confidence. Returns ``(mean_diff, low, high)``; raises ValueError if the lengths
    differ and as ``bootstrap_ci`` does otherwise.
    """
    a_values, b_values = _as_values(a, "a"), _as_values(b, "b")
    if a_values.shape != b_values.shape:
        raise ValueError(
            f"a and b must hold one value per image of the same images, "
            f"got {a_values.size} and {b_values.size} values"
        )
    # for the mean, resampling pairs is the same as resampling their differences
    return _mean_ci(a_values - b_values, confidence, n_resamples, seed)


def _as_table(values: Values, name: str) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 0 or array.shape[0] == 0:
        raise ValueError(f"{name} must have a leading image axis of length >= 1, got {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or inf; drop or fix those images first")
    return array


def _multiplicity(indices: np.ndarray, n: int) -> np.ndarray:
    # (..., m) image indices of resamples -> (..., n) times each image is drawn
    rows = indices.reshape(-1, indices.shape[-1])
    flat = rows + n * np.arange(len(rows))[:, None]
    counts = np.bincount(flat.ravel(), minlength=len(rows) * n)
    return counts.reshape(*indices.shape[:-1], n).astype(np.float64)


def bootstrap_pooled(
    statistic: Callable[..., np.ndarray],
    *arrays: Values,
    confidence: float = 0.95,
    n_resamples: int = N_RESAMPLES,
    seed: int = 0,
) -> tuple[float, float, float]:
    """A statistic of sums over images and its bootstrap confidence interval over images.

    arrays: one or more per-image arrays of shape (N, ...), row i belonging to image i (e.g. the
    predicted and the true (N, Q) ab histograms). ``statistic(*sums)`` gets each array summed
    over images, shape (..., *array.shape[1:]), and returns shape (...): it must be vectorised
    over leading axes (``metrics.js_divergence`` is). The bootstrap resamples images with
    replacement, the same rows of every array, and takes scipy's BCa interval of the
    resampled statistics, seeded like ``bootstrap_ci``.

    Returns ``(value, low, high)``, value the statistic of the full sums; with one image the
    interval is the value itself. BCa's bias correction breaks down when fewer than
    ``(1 - confidence) / 2`` of the resamples fall on one side of the value (a divergence
    between distributions that differ only by noise: resampling adds noise, so nearly every
    resample diverges more); then the percentile interval of the same resamples is returned,
    which lies above (or below) the value. Raises ValueError on NaN or inf, arrays with
    different N, or an empty array.
    """
    if not arrays:
        raise ValueError("bootstrap_pooled needs at least one array")
    tables = [_as_table(a, f"arrays[{i}]") for i, a in enumerate(arrays)]
    n = len(tables[0])
    if any(len(t) != n for t in tables):
        raise ValueError(f"all arrays must have one row per image, got {[len(t) for t in tables]}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    flat = [t.reshape(n, -1) for t in tables]
    shapes = [t.shape[1:] for t in tables]

    def resampled(indices: np.ndarray, axis: int = -1) -> np.ndarray:
        # (..., m) image indices per resample (scipy's vectorised call) -> statistic (...)
        weights = _multiplicity(indices, n)
        batch = weights.shape[:-1]
        sums = [(weights @ f).reshape(batch + shape) for f, shape in zip(flat, shapes, strict=True)]
        return np.asarray(statistic(*sums), dtype=np.float64)

    value = float(resampled(np.arange(n)))
    if n == 1:
        return value, value, value

    def interval(method: str) -> tuple[float, float, np.ndarray]:
        with warnings.catch_warnings():
            # scipy warns where BCa is undefined; that case is handled below
            warnings.simplefilter("ignore")
            result = stats.bootstrap(
                (np.arange(n),),
                resampled,
                n_resamples=n_resamples,
                batch=_BATCH,
                vectorized=True,
                confidence_level=confidence,
                method=method,
                random_state=np.random.default_rng(seed),
            )
        bounds = result.confidence_interval
        return float(bounds.low), float(bounds.high), result.bootstrap_distribution

    low, high, resamples = interval("BCa")
    below, tail = np.mean(resamples < value), (1 - confidence) / 2
    if not (tail <= below <= 1 - tail and np.isfinite([low, high]).all()):
        low, high, _ = interval("percentile")  # the same resamples: same seed
    return value, low, high
