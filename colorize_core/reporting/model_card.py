"""Model cards for shipped models: what a user needs before trusting a model's colours.

A card says what the model was trained on and how (data and its licence, the command and the
commit), how big it is, how it scores on held-out test splits beside the gray baseline (mean
and bootstrap 95% CI), and where it fails. ``tools/ship_model.py`` writes one beside each
shipped weights file from the run's own files, so a card never holds a number typed by hand.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from colorize_core.data.datasets import DATASETS
from colorize_core.data.mixture import Source
from colorize_core.evaluation.evaluate import Evaluation
from colorize_core.reporting.report import pairwise
from colorize_core.training.config import ExperimentConfig

CARD_METRICS = ("delta_e2000", "psnr_ab", "colorfulness_pred", "colorfulness_true")
LABELS = {
    "delta_e2000": "ΔE2000 (lower is better)",
    "psnr_ab": "PSNR ab [dB]",
    "colorfulness_pred": "colourfulness",
    "colorfulness_true": "true colourfulness",
}


@dataclass(frozen=True)
class TestSplit:
    """One held-out split the model was scored on, with the gray baseline on the same images."""

    label: str  # e.g. "faces_wild test split, 64 px (750 images)"
    model: Evaluation
    gray: Evaluation


def _cell(summary: pd.DataFrame, metric: str) -> str:
    row = summary.loc[metric]
    return f"{row['mean']:.3g} [{row['ci_low']:.3g}, {row['ci_high']:.3g}]"


def metrics_table(splits: list[TestSplit]) -> str:
    """Markdown: one row per split and predictor (model, gray), mean [95% CI] per metric, and
    the model's paired ΔE2000 difference from gray."""
    lines = [
        "| test split | predictor | " + " | ".join(LABELS[m] for m in CARD_METRICS) + " |",
        "|---|---|" + "---|" * len(CARD_METRICS),
    ]
    for split in splits:
        for name, evaluation in (("this model", split.model), ("gray baseline", split.gray)):
            cells = " | ".join(_cell(evaluation.summary, m) for m in CARD_METRICS)
            lines.append(f"| {split.label} | {name} | {cells} |")
    verdicts = []
    for split in splits:
        row = pairwise([split.model, split.gray], ["delta_e2000"]).iloc[0]
        better = "better than gray beyond the CI" if row["a_better_beyond_ci"] else "not beyond"
        verdicts.append(
            f"- {split.label}: ΔE2000 minus gray's {row['difference']:.3g} "
            f"[{row['ci_low']:.3g}, {row['ci_high']:.3g}] (paired bootstrap 95% CI; {better})"
        )
    return "\n".join(lines) + "\n\n" + "\n".join(verdicts)


def _data_lines(config: ExperimentConfig, sources: Sequence[Source]) -> str:
    """One bullet per data set trained on: what it is, how much of it, its source and licence;
    a mixture's also give each source's share of the training draws."""
    data, lines = config.data, []
    for source in sources or [None]:
        name = source.name if source else data.dataset
        spec = DATASETS.get(name)
        limit = data.limit.get(name) if isinstance(data.limit, dict) else data.limit
        subset = f"the first {limit} usable images" if limit else "every usable image"
        lines.append(
            f"- `{name}`: {spec.description.rstrip('.') if spec else name}; {subset} at "
            f"{data.image_size} px, split 70/15/15 by seed {config.seed}"
            + (
                f" ({source.train:,} training, {source.val:,} validation, {source.test:,} test "
                f"images; {source.weight:.0%} of each epoch's draws)"
                if source
                else ""
            )
            + ".\n  Source and licence: "
            + (spec.citation if spec else "a folder of the user's images")
        )
    return "\n".join(lines)


def render_card(
    *,
    name: str,
    summary: str,
    config: ExperimentConfig,
    parameters: int,
    file_bytes: int,
    sha256: str,
    command: str,
    commit: str,
    machine: str,
    train_seconds: float,
    epochs: str,
    splits: list[TestSplit],
    limits: list[str],
    sources: Sequence[Source] = (),
    sections: Mapping[str, str] | None = None,
) -> str:
    """The card's Markdown. A mixture's card lists its ``sources``; ``sections`` (title ->
    Markdown) follow the test metrics, e.g. the table of every domain and the decoding's choice."""
    data = config.data
    model = config.model
    head, t = f"{model.head} head", config.train
    loss = f"`{t.loss}`"
    if model.head == "classification":
        head += f", decoded at T = {model.temperature:g}"
        if model.unsure_entropy is not None:
            head += (
                f" where sure, rising to the mean (T = 1) where the predicted distribution's "
                f"normalised entropy reaches {model.unsure_entropy:g}"
            )
        if model.prior_correction:
            head += (
                f", with {model.prior_correction:g} of the class rebalancing taken back "
                "(its logits less that share of the log class weights)"
            )
        if model.small_photo_below is not None:
            head += (
                f"; photos smaller than {model.small_photo_below} px (shorter side) with "
                f"{model.small_photo_prior_correction:g} taken back"
            )
        loss = f"class-rebalanced cross-entropy over the ab bins (rebalance {t.rebalance:g})"
    if t.adversarial:
        loss += f" and the PatchGAN critic (lambda {t.gan_lambda:g})"
    augmentation = "none"
    if data.augment:
        augmentation = "horizontal flips only" if data.flip_only else "flips, rotations and crops"
    extra = "".join(f"## {title}\n{text.strip()}\n\n" for title, text in (sections or {}).items())
    return (
        f"""# Shipped model `{name}`

{summary}. Use it with `colorize photo.jpg --model {name}`, in `colorize serve`, or in the photo
notebook.

## Model
- Architecture: `{model.model}` ({parameters:,} parameters), {head}.
- File: `{name}.safetensors`, float16, {file_bytes / 1e6:.2f} MB, SHA-256 `{sha256}` (checked at
  every load).
- Input: the photo's L at {data.image_size} px on the shorter side; the predicted ab is upsampled
  to the photo's full resolution and joined with its own L.

## Data
{_data_lines(config, sources)}
- Training augmentation: {augmentation}.

## Training
- Command: `{command}`
- Commit `{commit}`, on {machine}; {epochs}; training took {train_seconds / 60:.0f} min.
- Loss {loss}, optimiser `{t.optimizer}`, lr {t.lr:g}, schedule `{t.scheduler}`, batch
  {t.batch_size}.

## Test metrics
Mean over the test images [bootstrap 95% CI], the predicted photo being the true L with the
predicted ab (metric definitions: README, Metrics).

{metrics_table(splits)}

{extra}## Limits
"""
        + "\n".join(f"- {line}" for line in limits)
        + "\n"
    )
