"""Bootstrap confidence intervals for the mean of per-image metric values.

Both functions take one value per test image (numpy array, list, pandas Series or torch tensor,
1-D) and return plain floats ``(mean, low, high)``: the sample mean and a two-sided bootstrap
confidence interval for the population mean.

The interval is scipy's BCa (bias-corrected and accelerated) bootstrap, ``scipy.stats.bootstrap``
with ``method="BCa"``. Per-image metrics are skewed (PSNR has a long upper tail, Delta E a long
lower one), and BCa corrects the percentile interval for that skew and for bias; for symmetric
data it agrees with the percentile interval. The resampling is seeded, so a given input always
gives the same interval.
"""

from __future__ import annotations

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
