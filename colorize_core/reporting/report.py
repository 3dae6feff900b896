"""Gather runs from ``results/`` into comparison tables: the summary notebook's logic.

Everything here reads the files runs wrote (config.json, metrics.json, metrics_per_image.csv,
ab_histograms.csv, history.csv), never notebook outputs. Tables are per *group*: runs on the same
dataset, image size, subset and seed share one test split, so their numbers (and the trivial
baselines computed on that split) are comparable; runs on different groups are not and never share
a table.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd
import torch

from colorize_core.data.atomic import write_text, written_atomically
from colorize_core.data.cache import LabImages
from colorize_core.data.color import split_lab
from colorize_core.data.datasets import DATASETS, file_stem
from colorize_core.data.split import Split, select
from colorize_core.evaluation.baselines import fit_baselines
from colorize_core.evaluation.evaluate import (
    AbHistograms,
    Evaluation,
    evaluate_baselines,
    long_summary,
    paired_difference,
    summarize,
)
from colorize_core.evaluation.metrics import METRICS, SPLIT_METRICS, js_divergence
from colorize_core.evaluation.stats import bootstrap_pooled
from colorize_core.models.ensemble import ENSEMBLE
from colorize_core.runs.experiment import load_data
from colorize_core.training.config import ExperimentConfig
from colorize_core.training.loading import load_model, predict_ab

# Every metric a report shows: the per-image means, then the whole-split statistics.
ALL_METRICS = MappingProxyType({**METRICS, **SPLIT_METRICS})
KEY_METRICS = ("psnr_ab", "ssim_rgb", "delta_e76", "delta_e2000", "colorfulness_pred", "auc_ab")

# The reference studies' published numbers, quoted as printed, NOT re-run here. They were computed
# loosely: PSNR on ab/128 with peak 1 on only the first image of each batch (6 test images),
# SSIM on RGB rebuilt with the true L. Our seed-style metrics follow the same formulas over every
# test image. The second study's RGB autoencoder numbers are on RGB in [0, 1].
QUOTED = (
    {"dataset": "faces", "predictor": "conv_ae (reference study, quoted)", "psnr_ab": 31.18,
     "ssim_rgb": 0.98, "delta_e76": 4.16, "mse_ab": 0.0013},
    {"dataset": "faces", "predictor": "gan (reference study, quoted)", "psnr_ab": 29.37,
     "ssim_rgb": 0.98, "delta_e76": 5.53, "mse_ab": 0.0016},
    {"dataset": "landscapes", "predictor": "conv_ae (reference study on the Kaggle set, quoted)",
     "psnr_ab": 22.90, "ssim_rgb": 0.94, "delta_e76": 12.00, "mse_ab": 0.0070},
    {"dataset": "landscapes", "predictor": "RGB autoencoder (second study, quoted)",
     "psnr_rgb": 20.41, "accuracy": 0.58, "precision": 0.44, "recall": 0.16, "f1": 0.16},
)  # fmt: skip
QUOTED_NOTE = (
    "quoted from the study, not re-run: its own metric code on a few test images "
    "(faces: 6); landscapes rows are on the Kaggle set, ours on the Intel-scene stand-in"
)


@dataclass
class Run:
    """One finished run folder."""

    run_dir: Path
    config: ExperimentConfig
    metrics: dict
    per_image: pd.DataFrame
    history: pd.DataFrame
    histograms: AbHistograms | None = None  # None for runs saved before ab_histograms.csv

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def group(self) -> tuple:
        """Runs with equal groups were evaluated on the same test images (the registered size
        stands in for ``image_size=None``, which loads at that size)."""
        d = self.config.data
        spec = DATASETS.get(d.dataset)
        size = d.image_size or (spec.image_size if spec else None)
        return (d.dataset, size, d.limit, self.config.seed)

    def evaluation(self) -> Evaluation:
        """The test split's scores; with histograms, the summary ends with ab_js_divergence."""
        summary = summarize(self.per_image, histograms=self.histograms)
        return Evaluation(self.name, self.config.data.dataset, "test", self.per_image, summary,
                          self.histograms)  # fmt: skip


def load_runs(results_dir: str | Path) -> list[Run]:
    """Every finished run (a folder with metrics.json) under ``results_dir``, sorted by path.

    Runs scored before a metric was added lack its column, and runs scored on other ab bins
    have histograms that no longer fit; they are skipped with a warning that names them
    (``colorize-suite --resume`` re-scores them from their checkpoints), so one stale folder does
    not stop a summary of the rest. A run saved before ``ab_histograms.csv`` existed loads
    without histograms: its ``ab_js_divergence`` is missing (NaN in the tables).
    """
    runs, stale = [], []
    for metrics_file in sorted(Path(results_dir).rglob("metrics.json")):
        folder = metrics_file.parent
        try:
            per_image, histograms = _scores(folder)
        except ValueError:
            stale.append(folder.name)
            continue
        runs.append(
            Run(
                folder,
                ExperimentConfig.load(folder / "config.json"),
                json.loads(metrics_file.read_text()),
                per_image,
                pd.read_csv(folder / "history.csv"),
                histograms,
            )
        )
    if stale:
        warnings.warn(
            f"skipped {len(stale)} run(s) scored with an older metric set: {', '.join(stale)}; "
            "re-score them with `colorize-suite --resume` (or run_experiment(config, resume=True))",
            stacklevel=2,
        )
    return runs


def _scores(folder: Path) -> tuple[pd.DataFrame, AbHistograms | None]:
    """A run folder's per-image metrics and its ab histograms (None if it has none); ValueError
    if they are stale: a metric column missing, other ab bins, or other images."""
    per_image = pd.read_csv(folder / "metrics_per_image.csv", index_col="file")
    missing = sorted(set(METRICS) - set(per_image.columns))
    if missing:
        raise ValueError(f"{folder.name}: no column {missing}")
    path = folder / "ab_histograms.csv"
    if not path.is_file():
        return per_image, None
    histograms = AbHistograms.from_frame(pd.read_csv(path, index_col="file"))
    if list(histograms.files) != list(per_image.index):
        raise ValueError(f"{folder.name}: histograms and per-image metrics list other images")
    return per_image, histograms


def group_label(group: tuple) -> str:
    dataset, size, limit, seed = group
    images = "all images" if limit is None else f"first {limit} images"
    return f"{dataset}, {size or 'default'} px, {images}, seed {seed}"


def group_runs(runs: Iterable[Run]) -> dict[tuple, list[Run]]:
    groups: dict[tuple, list[Run]] = {}
    for run in runs:
        groups.setdefault(run.group, []).append(run)
    return groups


def metric_table(
    evaluations: list[Evaluation], metrics: Iterable[str] = ALL_METRICS
) -> pd.DataFrame:
    """Rows = metrics, columns = predictors (``mean [95% CI]``, empty where an evaluation lacks
    the metric, e.g. ab_js_divergence without histograms), last column = the definition."""
    metrics = list(metrics)
    table = pd.DataFrame(index=pd.Index(metrics, name="metric"))
    for e in evaluations:
        table[e.predictor] = [_cell(row) for _, row in e.summary.reindex(metrics).iterrows()]
    table["how it is computed"] = [
        f"({ALL_METRICS[m].family}) {ALL_METRICS[m].definition}" for m in metrics
    ]
    return table


def _cell(row: pd.Series) -> str:
    """``mean [ci_low, ci_high]``; the mean alone without a CI (quoted); empty without a mean."""
    if pd.isna(row["mean"]):
        return ""
    if pd.isna(row["ci_low"]):
        return f"{row['mean']:.4g}"
    return f"{row['mean']:.4g} [{row['ci_low']:.4g}, {row['ci_high']:.4g}]"


def comparison_long(runs: list[Run], baselines: list[Evaluation]) -> pd.DataFrame:
    """Numeric long form (predictor, metric, mean, ci_low, ci_high, n, kind) of one group, with
    the quoted reference rows of its dataset (NaN CIs, kind "quoted"). ab_js_divergence rows come
    from the evaluations' histograms; quoted rows and runs saved without histograms have none."""
    models = long_summary([r.evaluation() for r in runs]).assign(kind="model")
    models["source"] = models["predictor"].map({r.name: run_source(r) for r in runs})
    base = long_summary(baselines).assign(kind="baseline", source="trivial baseline, run here")
    dataset = runs[0].config.data.dataset
    quoted = [
        {
            "predictor": q["predictor"],
            "metric": m,
            "mean": q[m],
            "kind": "quoted",
            "source": QUOTED_NOTE,
        }  # fmt: skip
        for q in QUOTED
        if q["dataset"] == dataset
        for m in METRICS
        if m in q
    ]
    frames = [models, base] + ([pd.DataFrame(quoted)] if quoted else [])
    columns = ["predictor", "metric", "mean", "ci_low", "ci_high", "n", "kind", "source"]
    return pd.concat(frames, ignore_index=True).reindex(columns=columns)


def run_source(run: Run) -> str:
    """Where a run's numbers come from: profile, device, epochs, commit."""
    origin = run.metrics.get("provenance", {})
    return (
        f"run here: profile {run.config.profile}, {origin.get('device', '?')}, "
        f"{_training(run.config, len(run.history))}, commit {origin.get('commit', '?')}"
    )


def _training(config: ExperimentConfig, epochs: int) -> str:
    if config.model.model != ENSEMBLE:
        return f"{epochs} epochs"
    kwargs = config.model.model_kwargs
    flips = " and mirror images" if kwargs.get("flip") else ""
    return f"mean of {' + '.join(kwargs['members'])}{flips}"


def summary_table(long: pd.DataFrame, metrics: Iterable[str] = ALL_METRICS) -> pd.DataFrame:
    """One row per predictor, one ``mean [CI]`` cell per metric (empty where it has none),
    plus ``kind`` and ``source``."""
    metrics = list(metrics)
    rows = {}
    for (predictor, kind, source), part in long.groupby(
        ["predictor", "kind", "source"], sort=False
    ):
        cells = {m: _cell(row) for m, row in part.set_index("metric").reindex(metrics).iterrows()}
        rows[predictor] = {"kind": kind, **cells, "source": source}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "predictor"
    return table


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


def validation_table(validations: list[Evaluation]) -> pd.DataFrame:
    """Validation-split means of the key metrics per run, and which run they choose.

    Variants are chosen here, never on the test split: the chosen run has the lowest mean
    validation ΔE2000 (the standard perceptual colour difference).
    """
    table = pd.DataFrame(
        {
            e.predictor: e.summary["mean"][list(KEY_METRICS) + ["colorfulness_true"]]
            for e in validations
        }
    ).T
    table.index.name = "run (validation split)"
    table["chosen"] = table.index == table["delta_e2000"].idxmin()
    return table


def config_table(config: ExperimentConfig) -> pd.DataFrame:
    """The resolved config as one ``parameter -> value`` column, for a notebook to show."""
    flat = {}
    for key, value in config.to_dict().items():
        if isinstance(value, dict) and key in ("data", "model", "train"):
            flat.update({f"{key}.{k}": v for k, v in value.items()})
        else:
            flat[key] = value
    return pd.DataFrame({"value": [str(v) for v in flat.values()]}, index=list(flat))


def sample_predictions(
    models: dict[str, torch.nn.Module], data: LabImages, split: Split, n: int = 6
) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
    """The first ``n`` test images: L, each model's predicted ab, the true ab (Lab units)."""
    lightness, ab_true = split_lab(select(data, split, "test").lab[:n].float())
    return lightness, {name: predict_ab(m, lightness) for name, m in models.items()}, ab_true


@dataclass
class GroupSummary:
    """The summary of one comparable group of runs, with the files written for it."""

    label: str
    stem: str
    table: pd.DataFrame
    paired: pd.DataFrame
    pairwise: pd.DataFrame
    ablation: pd.DataFrame | None
    figures: dict[str, Path]


def group_stem(group: tuple) -> str:
    """The group's tables' and figures' file name stem (``group_label`` is its readable name)."""
    dataset, size, limit, seed = group
    images = "all" if limit is None else limit
    return f"{file_stem(dataset)}_{size or 'default'}px_{images}_seed{seed}"


def _ablation(evaluations: list[Evaluation]) -> pd.DataFrame | None:
    """Variants against the run named ``<prefix>-reference``, if the group has one."""
    reference = next((e for e in evaluations if e.predictor.endswith("-reference")), None)
    if reference is None:
        return None
    prefix = reference.predictor.removesuffix("reference")
    variants = [e for e in evaluations if e.predictor.startswith(prefix) and e is not reference]
    return ablation_table(reference, variants)


def summarize_results(results_dir: str | Path, report_dir: str | Path) -> list[GroupSummary]:
    """Build every group's tables and figures from the runs under ``results_dir``; write them
    to ``report_dir/tables`` (CSV + Markdown) and ``report_dir/figures`` (PNG; the photo grid
    of sample predictions JPEG). Tables and figures an earlier summary wrote there are removed
    first: a group whose runs are gone (another subset or size) must not linger in the report
    beside the current ones."""
    from colorize_core.reporting import plots  # matplotlib only when figures are made

    tables, figures = Path(report_dir) / "tables", Path(report_dir) / "figures"
    for folder, patterns in ((tables, ("*.csv", "*.md")), (figures, ("*.png", "*.jpg"))):
        for stale in (path for pattern in patterns for path in folder.glob(pattern)):
            stale.unlink()
    summaries = []
    for group, runs in group_runs(load_runs(results_dir)).items():
        stem = group_stem(group)
        data, split = load_data(runs[0].config)
        baselines = evaluate_baselines(data, split)
        evaluations = [run.evaluation() for run in runs]
        long = comparison_long(runs, baselines)
        frames = {
            "summary": summary_table(long),
            "vs_baselines": paired_against_baselines(evaluations, baselines),
            "pairwise": pairwise(evaluations),
            "ablation": _ablation(evaluations),
        }
        for name, frame in frames.items():
            if frame is not None and len(frame):
                write_table(frame, tables, f"{stem}_{name}")

        models = {run.name: load_model(run.run_dir)[0] for run in runs}
        models["mean_ab_map"] = fit_baselines(select(data, split, "train").lab)["mean_ab_map"]
        lightness, predictions, ab_true = sample_predictions(models, data, split)
        per_image = {e.predictor: e.per_image for e in evaluations + baselines}
        made = {
            "metrics": plots.plot_metric_bars(long),
            "distributions": plots.plot_metric_distributions(per_image),
            "samples": plots.plot_predictions(lightness, predictions, ab_true),
            "curves": plots.plot_history({run.name: run.history for run in runs}),
        }
        paths = {
            k: plots.save_figure(f, figures / f"{stem}_{k}.{'jpg' if k == 'samples' else 'png'}")
            for k, f in made.items()
        }
        summaries.append(
            GroupSummary(
                group_label(group),
                stem,
                frames["summary"],
                frames["vs_baselines"],
                frames["pairwise"],
                frames["ablation"],
                paths,
            )  # fmt: skip
        )
    return summaries


def write_table(table: pd.DataFrame, folder: str | Path, stem: str) -> None:
    """``<folder>/<stem>.csv`` and ``.md``, each whole or absent."""
    folder = Path(folder)
    with written_atomically(folder / f"{stem}.csv") as partial:
        table.to_csv(partial)
    write_text(folder / f"{stem}.md", table.to_markdown() + "\n")
