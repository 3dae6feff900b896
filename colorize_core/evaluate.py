"""Score a model or baseline on a dataset split: one row per image, and a summary with 95% CIs."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import torch
from torch import nn

from colorize_core.baselines import fit_baselines
from colorize_core.color import denormalize_ab, normalize_l, split_lab
from colorize_core.data import LabImages, Split, iterate_batches, select
from colorize_core.metrics import METRICS, image_metrics
from colorize_core.stats import bootstrap_ci, paired_bootstrap_ci


@dataclass
class Evaluation:
    """Per-image metrics of one predictor on one split, and their summary.

    per_image: index ``file``, one column per metric (``metrics.METRICS`` order).
    summary:   index ``metric``, columns ``mean``, ``ci_low``, ``ci_high`` (bootstrap 95% CI of
               the mean over images) and ``n`` (images).
    """

    predictor: str
    dataset: str
    split: str
    per_image: pd.DataFrame
    summary: pd.DataFrame

    def table(self) -> pd.DataFrame:
        """Per-image rows followed by ``mean``, ``ci_low`` and ``ci_high`` rows, for display."""
        return pd.concat([self.per_image, self.summary[["mean", "ci_low", "ci_high"]].T])


def summarize(per_image: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Mean of each metric column with its bootstrap CI (``stats.bootstrap_ci``)."""
    rows = {}
    for metric in per_image.columns:
        mean, low, high = bootstrap_ci(per_image[metric].to_numpy(), confidence=confidence)
        rows[metric] = {"mean": mean, "ci_low": low, "ci_high": high, "n": len(per_image)}
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
    """Run ``predictor`` (``forward(L / 100) -> ab / 128``) on one split and score every image.

    The predicted photo is the true L with the predicted ab; see ``metrics.METRICS`` for how each
    number is computed. With ``split=None`` every image of ``data`` is scored.
    """
    images = select(data, split, which) if split is not None else data
    predictor = predictor.to(device).eval()
    columns: dict[str, list[torch.Tensor]] = {key: [] for key in METRICS}
    for lab in iterate_batches(images, batch_size, device=device):
        lightness, ab_true = split_lab(lab)
        ab_pred = denormalize_ab(predictor(normalize_l(lightness)).float())
        for key, values in image_metrics(lightness, ab_pred, ab_true).items():
            columns[key].append(values)
    per_image = pd.DataFrame(
        {key: torch.cat(values).numpy() for key, values in columns.items()},
        index=pd.Index(images.files, name="file"),
    )
    label = name or type(predictor).__name__
    return Evaluation(
        label, data.name, which if split is not None else "all", per_image, summarize(per_image)
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
