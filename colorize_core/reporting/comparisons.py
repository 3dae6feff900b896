"""Paired comparisons on the same test images: which predictor is better, and beyond the noise?

Each row gives the mean per-image difference of two evaluations of one metric (the pooled
difference for ``ab_js_divergence``), its paired bootstrap 95% CI and a one-line verdict. The
notebooks, the report (``report``) and the summary's merge (``merge``) all compare this way.
"""

from __future__ import annotations

from collections.abc import Iterable
from types import MappingProxyType

import numpy as np
import pandas as pd

from colorize_core.evaluation.evaluate import Evaluation, paired_difference
from colorize_core.evaluation.metrics import METRICS, SPLIT_METRICS, js_divergence
from colorize_core.evaluation.stats import bootstrap_pooled

# Every metric a report shows: the per-image means, then the whole-split statistics.
ALL_METRICS = MappingProxyType({**METRICS, **SPLIT_METRICS})


def paired_against_baselines(
    evaluations: list[Evaluation],
    baselines: list[Evaluation],
    metrics: Iterable[str] = ("psnr_ab", "delta_e2000", "auc_ab_rebalanced", "ab_js_divergence"),
) -> pd.DataFrame:
    """Per model, baseline and metric: mean per-image difference (model - baseline), its paired
    95% CI, and whether the model is better by more than the CI (the CI excludes zero). For
    ab_js_divergence the difference of the pooled values (``paired_js_difference``); a metric
    that either summary lacks (no histograms) is left out."""
    rows = []
    for evaluation in evaluations:
        for baseline in baselines:
            rows += _paired_rows(evaluation, baseline, metrics)
    return pd.DataFrame(rows)


def pairwise(
    evaluations: list[Evaluation],
    metrics: Iterable[str] = (
        "delta_e2000",
        "colorfulness_gap",
        "auc_ab_rebalanced",
        "ab_js_divergence",
    ),
) -> pd.DataFrame:
    """Every pair of models on the same images: difference, paired CI, verdict (by default on
    colour error, on how far each is from the true colourfulness, on rare colours and on the
    split's ab distribution), as ``paired_against_baselines``."""
    rows = []
    for i, a in enumerate(evaluations):
        for b in evaluations[i + 1 :]:
            rows += _paired_rows(a, b, metrics)
    return pd.DataFrame(rows)


def ablation_table(
    reference: Evaluation,
    variants: list[Evaluation],
    metrics: Iterable[str] = ("psnr_ab", "delta_e2000"),
) -> pd.DataFrame:
    """Each variant against the reference run: paired difference, CI and a one-line verdict."""
    return pd.DataFrame([row for v in variants for row in _paired_rows(v, reference, metrics)])


def paired_js_difference(
    a: Evaluation, b: Evaluation, confidence: float = 0.95
) -> tuple[float, float, float]:
    """``ab_js_divergence`` of ``a`` minus that of ``b`` (bits, -1..1) with its bootstrap CI.

    ``stats.bootstrap_pooled`` resamples the same test images for both predictors' histograms,
    so, as in ``paired_difference``, a CI excluding zero is a difference beyond image-to-image
    noise. Returns ``(difference, low, high)``; ValueError without histograms or on other images.
    """
    ha, hb = a.histograms, b.histograms
    if ha is None or hb is None:
        raise ValueError("the paired ab_js_divergence needs both evaluations' ab histograms")
    if ha.files != hb.files or not np.array_equal(ha.true, hb.true):
        raise ValueError("paired comparison needs both evaluations on the same images, in order")
    return bootstrap_pooled(_js_difference, ha.pred, hb.pred, ha.true, confidence=confidence)


def _js_difference(pred_a: np.ndarray, pred_b: np.ndarray, true: np.ndarray) -> np.ndarray:
    # (..., Q) pooled counts -> (...), vectorised for bootstrap_pooled
    return js_divergence(pred_a, true) - js_divergence(pred_b, true)


def _paired_rows(a: Evaluation, b: Evaluation, metrics: Iterable[str]) -> list[dict]:
    # a metric missing from either summary (ab_js_divergence without histograms) is left out
    return [_paired_row(a, b, m) for m in metrics if m in a.summary.index and m in b.summary.index]


def _paired_row(a: Evaluation, b: Evaluation, metric: str) -> dict:
    if metric == "ab_js_divergence":
        diff, low, high = paired_js_difference(a, b)
        pooled = f"{a.summary.at[metric, 'mean']:.3g} vs {b.summary.at[metric, 'mean']:.3g}"
        basis = f"pooled over the split {pooled}; 95% CI of the difference"
    else:
        diff, low, high = paired_difference(a, b, metric)
        basis = "95% CI of the per-image difference"
    clear = low > 0 or high < 0
    direction = "better" if (diff > 0) == bool(ALL_METRICS[metric].higher_is_better) else "worse"
    effect = (
        "larger than the CI, a real effect."
        if clear
        else "within the CI, not distinguishable from noise."
    )
    verdict = (
        f"{a.predictor} is {direction} than {b.predictor} on {metric} by {abs(diff):.3g} "
        f"({basis} [{low:.3g}, {high:.3g}]): {effect}"
    )
    return {
        "a": a.predictor, "b": b.predictor, "metric": metric, "difference": diff,
        "ci_low": low, "ci_high": high, "beyond_ci": clear,
        "a_better_beyond_ci": clear and direction == "better", "verdict": verdict,
    }  # fmt: skip
