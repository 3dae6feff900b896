"""Score a model or baseline on a dataset split: one row per image, and a summary with 95% CIs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from colorize_core.data.ab_bins import ab_bins, bin_prior
from colorize_core.data.cache import LabImages
from colorize_core.data.color import split_lab
from colorize_core.data.split import Split, iterate_batches, select
from colorize_core.evaluation.baselines import fit_baselines
from colorize_core.evaluation.metrics import METRICS, ab_histogram, image_metrics, js_divergence
from colorize_core.evaluation.stats import bootstrap_ci, bootstrap_pooled, paired_bootstrap_ci
from colorize_core.models.lab import LabPredictor

_SOURCES = ("pred", "true")


def _histogram_columns() -> list[str]:
    """``pred_<a>_<b>`` for every bin of ``ab_bins()``, then ``true_<a>_<b>``."""
    names = [f"{a:g}_{b:g}" for a, b in ab_bins().tolist()]
    return [f"{source}_{name}" for source in _SOURCES for name in names]


@dataclass(frozen=True, eq=False)  # no ==: it would compare numpy arrays elementwise
class AbHistograms:
    """Per-image counts of pixels by nearest ab bin (``metrics.ab_histogram`` on ``ab_bins()``).

    files: the images, in row order. pred, true: (N, Q) int64 counts of the predicted and the
    true ab; each row sums to the image's pixel count. Kept so that split-level statistics of
    the pooled distributions (``metrics.SPLIT_METRICS``) can be recomputed from a run folder.
    """

    files: tuple[str, ...]
    pred: np.ndarray
    true: np.ndarray

    def js_divergence(self, confidence: float = 0.95) -> tuple[float, float, float]:
        """Pooled JS divergence (bits) of predicted vs true ab, bootstrap CI over images."""
        return bootstrap_pooled(js_divergence, self.pred, self.true, confidence=confidence)

    def to_frame(self) -> pd.DataFrame:
        """One row per file; columns ``pred_<a>_<b>`` then ``true_<a>_<b>`` (bin centres)."""
        frame = pd.DataFrame(np.hstack((self.pred, self.true)), columns=_histogram_columns())
        return frame.set_axis(pd.Index(self.files, name="file"))

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> AbHistograms:
        """The inverse of ``to_frame``; ValueError if its columns are not ``ab_bins()``'s."""
        if list(frame.columns) != _histogram_columns():
            raise ValueError("histogram columns do not match ab_bins(); re-score the run")
        counts = frame.to_numpy(dtype=np.int64)
        n_bins = counts.shape[1] // len(_SOURCES)
        return cls(tuple(frame.index), counts[:, :n_bins], counts[:, n_bins:])


@dataclass
class Evaluation:
    """Per-image metrics of one predictor on one split, and their summary.

    per_image:  index ``file``, one column per metric (``metrics.METRICS`` order).
    summary:    index ``metric``, columns ``mean``, ``ci_low``, ``ci_high`` (bootstrap 95% CI of
                the mean over images) and ``n`` (images); with histograms, a last row per
                ``metrics.SPLIT_METRICS`` entry whose ``mean`` is the statistic of the whole
                split (not a mean) and whose CI comes from resampling images.
    histograms: the per-image ab histograms behind those rows, or None.
    """

    predictor: str
    dataset: str
    split: str
    per_image: pd.DataFrame
    summary: pd.DataFrame
    histograms: AbHistograms | None = None

    def table(self) -> pd.DataFrame:
        """Per-image rows followed by ``mean``, ``ci_low`` and ``ci_high`` rows, for display."""
        return pd.concat([self.per_image, self.summary[["mean", "ci_low", "ci_high"]].T])


def summarize(
    per_image: pd.DataFrame, confidence: float = 0.95, histograms: AbHistograms | None = None
) -> pd.DataFrame:
    """Mean of each metric column with its bootstrap CI (``stats.bootstrap_ci``), then, given
    the histograms of the same images, the ``ab_js_divergence`` row (``AbHistograms``)."""
    rows = {}
    for metric in per_image.columns:
        mean, low, high = bootstrap_ci(per_image[metric].to_numpy(), confidence=confidence)
        rows[metric] = {"mean": mean, "ci_low": low, "ci_high": high, "n": len(per_image)}
    if histograms is not None:
        if list(histograms.files) != list(per_image.index):
            raise ValueError("histograms and per_image must list the same images in order")
        value, low, high = histograms.js_divergence(confidence)
        rows["ab_js_divergence"] = {
            "mean": value,
            "ci_low": low,
            "ci_high": high,
            "n": len(per_image),
        }
    summary = pd.DataFrame.from_dict(rows, orient="index")
    summary.index.name = "metric"
    return summary


@torch.inference_mode()
def evaluate(
    predictor: nn.Module,
    data: LabImages,
    split: Split | None = None,
    which: str = "test",
    *,
    name: str | None = None,
    batch_size: int = 64,
    device: str | torch.device = "cpu",
) -> Evaluation:
    """Run ``predictor`` (``forward(L / 100) -> ab / 128``, as ``models.lab.LabPredictor``
    wraps it) on one split and score every image.

    The predicted photo is the true L with the predicted ab; see ``metrics.METRICS`` for how each
    number is computed. ``auc_ab_rebalanced`` weights pixels by the nearest-bin frequencies of
    the true ab of all the images scored (one pass over them first), as Zhang et al. did on
    their test images: every predictor on the same split shares the weights. The summary ends
    with the split's ``ab_js_divergence``. With ``split=None`` every image of ``data`` is scored.
    """
    images = select(data, split, which) if split is not None else data
    predict = LabPredictor(predictor).to(device).eval()  # L -> ab, both in Lab units
    bins = ab_bins()
    prior = bin_prior((split_lab(lab)[1] for lab in iterate_batches(images, batch_size)), bins)
    columns: dict[str, list[torch.Tensor]] = {key: [] for key in METRICS}
    counts: dict[str, list[torch.Tensor]] = {source: [] for source in _SOURCES}
    for lab in iterate_batches(images, batch_size, device=device):
        lightness, ab_true = split_lab(lab)
        ab_pred = predict(lightness)
        for key, values in image_metrics(lightness, ab_pred, ab_true, prior).items():
            columns[key].append(values)
        counts["pred"].append(ab_histogram(ab_pred, bins).cpu())
        counts["true"].append(ab_histogram(ab_true, bins).cpu())
    per_image = pd.DataFrame(
        {key: torch.cat(values).numpy() for key, values in columns.items()},
        index=pd.Index(images.files, name="file"),
    )
    histograms = AbHistograms(
        tuple(images.files), *(torch.cat(counts[source]).numpy() for source in _SOURCES)
    )
    label = name or type(predictor).__name__
    split_name = which if split is not None else "all"
    return Evaluation(
        label,
        data.name,
        split_name,
        per_image,
        summarize(per_image, histograms=histograms),
        histograms,
    )


def evaluate_baselines(data: LabImages, split: Split, which: str = "test") -> list[Evaluation]:
    """Every trivial baseline, fitted on the training split, scored on ``which``."""
    baselines = fit_baselines(select(data, split, "train").lab)
    return [evaluate(model, data, split, which, name=name) for name, model in baselines.items()]


def long_summary(evaluations: list[Evaluation]) -> pd.DataFrame:
    """All summaries stacked, numeric, one row per (predictor, metric)."""
    frames = [
        e.summary.reset_index().assign(predictor=e.predictor, dataset=e.dataset, split=e.split)
        for e in evaluations
    ]
    columns = ["dataset", "split", "predictor", "metric", "mean", "ci_low", "ci_high", "n"]
    return pd.concat(frames, ignore_index=True)[columns]


def paired_difference(a: Evaluation, b: Evaluation, metric: str) -> tuple[float, float, float]:
    """Mean per-image difference ``a - b`` of one metric with its paired bootstrap 95% CI.

    The fair test of "a beats b": both scored on the same images; the CI excluding zero means the
    difference is larger than the image-to-image noise.
    """
    if not a.per_image.index.equals(b.per_image.index):
        raise ValueError("paired comparison needs both evaluations on the same images, in order")
    return paired_bootstrap_ci(a.per_image[metric].to_numpy(), b.per_image[metric].to_numpy())
