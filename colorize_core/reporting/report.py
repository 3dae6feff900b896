"""Runs into comparison tables and figures: what each experiment notebook writes of its runs.

Everything here reads the files runs wrote (config.json, metrics.json, metrics_per_image.csv,
ab_histograms.csv, history.csv), never notebook outputs. Tables are per *group*: runs on the same
dataset, image size, subset and seed share one test split, so their numbers (and the trivial
baselines computed on that split) are comparable; runs on different groups are not and never share
a table. ``write_group_reports`` writes one notebook's part of each group into the report folder
(``report_files`` names it; ``comparisons`` makes the paired tables); ``merge`` joins the parts
for the summary.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from colorize_core.data.cache import LabImages
from colorize_core.data.color import split_lab
from colorize_core.data.datasets import DATASETS
from colorize_core.data.split import Split, select
from colorize_core.evaluation.baselines import fit_baselines
from colorize_core.evaluation.evaluate import (
    AbHistograms,
    Evaluation,
    evaluate_baselines,
    long_summary,
    summarize,
)
from colorize_core.evaluation.metrics import METRICS
from colorize_core.models.ensemble import ENSEMBLE
from colorize_core.reporting import merge, report_files
from colorize_core.reporting.comparisons import (
    ALL_METRICS,
    ablation_table,
    paired_against_baselines,
    pairwise,
)
from colorize_core.reporting.comparisons import paired_js_difference as paired_js_difference
from colorize_core.reporting.report_files import group_label, group_stem, limit_key, write_table
from colorize_core.runs.experiment import RunResult, load_data
from colorize_core.training.config import ExperimentConfig
from colorize_core.training.loading import load_model, predict_ab

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
        stands in for ``image_size=None``, which loads at that size; a mixture's per-source
        limits are a tuple, ``limit_key``)."""
        d = self.config.data
        spec = DATASETS.get(d.dataset)
        size = d.image_size or (spec.image_size if spec else None)
        return (d.dataset, size, limit_key(d.dataset, d.limit), self.config.seed)

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
        try:
            runs.append(load_run(metrics_file.parent))
        except ValueError:
            stale.append(metrics_file.parent.name)
    if stale:
        warnings.warn(
            f"skipped {len(stale)} run(s) scored with an older metric set: {', '.join(stale)}; "
            "re-score them with `colorize-suite --resume` (or run_experiment(config, resume=True))",
            stacklevel=2,
        )
    return runs


def load_run(folder: str | Path) -> Run:
    """One finished run folder; ValueError if it was scored with an older metric set."""
    folder = Path(folder)
    per_image, histograms = _scores(folder)
    return Run(
        folder,
        ExperimentConfig.load(folder / "config.json"),
        json.loads((folder / "metrics.json").read_text()),
        per_image,
        pd.read_csv(folder / "history.csv"),
        histograms,
    )


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
    """One notebook's part of a comparable group of runs, with the files written for it."""

    label: str
    stem: str
    table: pd.DataFrame
    paired: pd.DataFrame
    pairwise: pd.DataFrame
    ablation: pd.DataFrame | None
    figures: dict[str, Path]
    files: list[Path]  # everything written for it: tables, figures, scores


def _ablation(evaluations: list[Evaluation]) -> pd.DataFrame | None:
    """Variants against the run named ``<prefix>-reference``, if the group has one."""
    reference = next((e for e in evaluations if e.predictor.endswith("-reference")), None)
    if reference is None:
        return None
    prefix = reference.predictor.removesuffix("reference")
    variants = [e for e in evaluations if e.predictor.startswith(prefix) and e is not reference]
    return ablation_table(reference, variants)


def as_run(run: Run | RunResult | str | Path) -> Run:
    """A ``Run``: as given, or read from a notebook's result's or a path's run folder."""
    if isinstance(run, Run):
        return run
    return load_run(run.config.run_dir if isinstance(run, RunResult) else run)


def write_group_reports(
    runs: Iterable[Run | RunResult | str | Path], report_dir: str | Path, *, notebook: str
) -> list[GroupSummary]:
    """Write ``notebook``'s part of each group its runs fall in to ``report_dir``: the tables
    (summary with the trivial baselines and quoted rows, paired against the baselines, model
    against model, ablation) as CSV and Markdown in ``tables/``, the figures (metric chart,
    distributions, sample photos as JPEG, training curves) in ``figures/``, and the per-image
    scores (``report_files.save_scores``) in ``scores/``, each named ``<notebook>__<stem>_...``.

    Files of ``notebook`` that this call does not write (a group whose runs are gone, a table
    a group no longer has) are removed; other notebooks' files are never touched, so the
    summary (``merge.summarize_tables``) can join every notebook's latest part of a group.
    Runs are read back from their folders and taken in name order, as ``load_runs`` does.
    """
    if not report_files.OWNER_NAME.fullmatch(notebook):
        raise ValueError(f"notebook {notebook!r}: use lowercase letters, digits and single _")
    report_dir = Path(report_dir)
    loaded = sorted((as_run(run) for run in runs), key=lambda run: run.name)
    summaries, written = [], set()
    for group, members in group_runs(loaded).items():
        summaries.append(_write_group(group, members, report_dir, notebook))
        written.update(summaries[-1].files)
    report_files.remove_unwritten(report_dir, notebook, written)
    return summaries


def _write_group(group: tuple, runs: list[Run], report_dir: Path, notebook: str) -> GroupSummary:
    """One group's tables, figures and scores of ``notebook``'s ``runs``."""
    from colorize_core.reporting import plots  # matplotlib only when figures are made

    part = report_files.part_name(notebook, group_stem(group))
    tables, files = report_dir / "tables", []
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
    for kind, frame in frames.items():
        if frame is not None and len(frame):
            write_table(frame, tables, f"{part}_{kind}")
            files += [tables / f"{part}_{kind}.csv", tables / f"{part}_{kind}.md"]
    scores = {e.predictor: (e.per_image, e.histograms) for e in evaluations}
    files.append(report_files.save_scores(report_dir / "scores" / f"{part}.npz", scores))

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
    figures = {
        kind: plots.save_figure(
            figure, report_dir / "figures" / f"{part}_{kind}{report_files.figure_suffix(kind)}"
        )
        for kind, figure in made.items()
    }
    return GroupSummary(
        group_label(group), group_stem(group), frames["summary"], frames["vs_baselines"],
        frames["pairwise"], frames["ablation"], figures, [*files, *figures.values()],
    )  # fmt: skip


def summarize_results(results_dir: str | Path, report_dir: str | Path) -> list[GroupSummary]:
    """Every run under ``results_dir`` written as the part of the owner ``runs``
    (``write_group_reports``), then every group of ``report_dir`` merged
    (``merge.summarize_tables``): a report folder from run folders in one call."""
    summaries = write_group_reports(load_runs(results_dir), report_dir, notebook="runs")
    merge.summarize_tables(report_dir)
    return summaries
