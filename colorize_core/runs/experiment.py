"""What a notebook calls: ``run_experiment(config)`` trains, evaluates, fills ``results/<run>/``.

A run folder holds ``config.json``, ``split.json``, ``history.csv``/``.json``,
``metrics_per_image.csv`` (test split), ``ab_histograms.csv`` (each test image's predicted and true
nearest-bin ab counts, from which the split's ab distribution distance is recomputed),
``metrics.json`` (test summary with CIs, the validation
split's means for choosing between variants without looking at the test split, provenance, timing),
``samples.png`` (input | prediction | truth for fixed test images) and ``checkpoints/``. An
ensemble run (``models/ensemble.py``) has no checkpoints and an empty history: it trains nothing.
``decode_at`` re-scores a trained classification run at another temperature: evaluation only.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from colorize_core.data.atomic import write_text, written_atomically
from colorize_core.data.cache import LabImages, load_images
from colorize_core.data.mixture import describe_sources, is_mixture, load_mixture, source_split
from colorize_core.data.split import Split, make_split, select
from colorize_core.evaluation.evaluate import Evaluation, evaluate
from colorize_core.models.ensemble import ENSEMBLE
from colorize_core.runs.samples import save_samples
from colorize_core.training import distributed
from colorize_core.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from colorize_core.training.config import ExperimentConfig, ModelConfig, decoding
from colorize_core.training.device import pick_device
from colorize_core.training.fit import FitResult, fit, write_history
from colorize_core.training.loading import load_ensemble
from colorize_core.training.provenance import code_commit, provenance
from colorize_core.training.tracking import WandbLogger


@dataclass
class RunResult:
    config: ExperimentConfig
    data: LabImages
    split: Split
    fit: FitResult
    evaluation: Evaluation  # test split: what tables report
    validation: Evaluation  # validation split: what variants are chosen on
    # a mixture's sources: each one's (test, validation) evaluation, on its own split
    by_source: dict[str, tuple[Evaluation, Evaluation]] = field(default_factory=dict)

    @property
    def run_dir(self) -> Path:
        return self.config.run_dir


def load_data(config: ExperimentConfig) -> tuple[LabImages, Split]:
    """The dataset of ``config`` (first ``limit`` images if set) and its seeded split; for a
    mixture, the sources pooled and each one's own split joined (``data.mixture``)."""
    d = config.data
    if is_mixture(d.dataset):
        return load_mixture(d.dataset, d.image_size, config.seed, limit=d.limit)
    data = load_images(d.dataset, d.image_size, path=d.data_path)
    if d.limit is not None and d.limit < len(data):
        data = data.subset(range(d.limit))
    return data, make_split(data.files, config.seed)


def assemble(config: ExperimentConfig) -> FitResult:
    """An ensemble run's stand-in for training: load its members and write an empty history."""
    model = load_ensemble(config, config.run_dir.parent)
    columns = ["epoch", "loss", "val_loss", "lr", "seconds"]
    write_history([], config.run_dir, columns=columns)
    return FitResult(model, pd.DataFrame(columns=columns), 0, config.run_dir)


def run_experiment(config: ExperimentConfig, *, resume: bool = False, callbacks=()) -> RunResult:
    """Train and evaluate ``config``; with ``resume`` continue an interrupted run in place.

    Under torchrun (``distributed.session``) every rank trains its share and evaluates the kept
    model, and rank 0 alone writes the run folder and logs to Weights & Biases."""
    started = time.time()
    code_commit()  # the commit of the code this run starts with (looked up once, then kept)
    world = distributed.current()
    run_dir = config.run_dir
    data, split = load_data(config)
    if (
        resume
        and (run_dir / "split.json").is_file()
        and Split.load(run_dir / "split.json") != split
    ):
        raise CheckpointError(
            f"{run_dir}: its saved split differs from this config's; not resuming (give this "
            "config a new name to train it afresh)"
        )
    if world.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        config.save(run_dir / "config.json")
        split.save(run_dir / "split.json")

    wandb = WandbLogger(config, enabled=world.is_main)
    try:
        if config.model.model == ENSEMBLE:
            result = assemble(config)  # trains nothing: loads its member runs
        else:
            result = fit(config, data, split, resume=resume, callbacks=[*callbacks, wandb])
        device = _device(config)
        evaluation, validation = _score(config, result.model, data, split, device)
        by_source = _score_sources(config, result.model, data, split, device)
        wandb.log_summary({f"test/{k}": v for k, v in evaluation.summary["mean"].items()})
    finally:
        wandb.close()
    run = RunResult(config, data, split, result, evaluation, validation, by_source)
    if world.is_main:
        if resume and config.model.model != ENSEMBLE:  # a resumed run may decode at another T
            store_decoding(config, result.model)
        write_results(run, device, started)
    return run


def decode_at(
    result: RunResult,
    temperature: float,
    unsure_entropy: float | None = None,
    prior_correction: float = 0.0,
    *,
    small_photo_below: int | None = None,
    small_photo_prior_correction: float = 0.0,
) -> RunResult:
    """A trained classification run re-scored with its predictions decoded at ``temperature``,
    per pixel given ``unsure_entropy``, with ``prior_correction`` of its class rebalancing taken
    back (``small_photo_prior_correction`` for photos smaller than ``small_photo_below``;
    ``heads.BinClassifier``; all chosen on the validation split). Evaluation only:
    the same weights, data and split, no training loop. ``config.json``, the checkpoints'
    configs, the metrics and the samples are rewritten, so ``load_model`` and ``colorize`` then
    decode that way too; ``result`` and its model keep their own decoding."""
    started = time.time()
    if result.config.model.head != "classification":
        raise ValueError(f"{result.config.name} has no classification head to decode")
    config = result.config.with_params(
        temperature=temperature,
        unsure_entropy=unsure_entropy,
        prior_correction=prior_correction,
        small_photo_below=small_photo_below,
        small_photo_prior_correction=small_photo_prior_correction,
    )
    m = config.model  # checked
    model = result.fit.model.at_temperature(**decoding(m))
    device = _device(config)
    evaluation, validation = _score(config, model, result.data, result.split, device)
    by_source = _score_sources(config, model, result.data, result.split, device)
    fitted = replace(result.fit, model=model)
    run = RunResult(config, result.data, result.split, fitted, evaluation, validation, by_source)
    config.save(config.run_dir / "config.json")
    store_decoding(config, model)
    write_results(run, device, started)
    return run


_MODEL_DEFAULTS = ModelConfig()


def store_decoding(config: ExperimentConfig, model: nn.Module) -> None:
    """Make the config inside the run's checkpoints decode as ``config`` does (its temperature,
    ``DECODING_SETTINGS``), as its ``config.json`` does: ``load_model`` and runs
    built on this one read a checkpoint's config. A checkpoint from before class weights were
    kept with the model gains ``model``'s, so that it can take its rebalancing back. A
    checkpoint that says so already is left untouched; the others are rewritten atomically."""
    settings = decoding(config.model)
    weights = getattr(model, "rebalance_log_weights", None)
    known = weights is not None and bool(torch.isfinite(weights).all())
    for path in (config.run_dir / "checkpoints" / n for n in ("best.pt", "last.pt")):
        if not path.is_file():
            continue
        state = load_checkpoint(path)
        stored, modules = state["config"], state["modules"]
        # a setting an older checkpoint lacks decodes as its default does
        stale = any(
            stored["model"].get(k, getattr(_MODEL_DEFAULTS, k)) != v for k, v in settings.items()
        )
        lacks_weights = known and "rebalance_log_weights" not in modules["model"]
        if stale or lacks_weights:
            if lacks_weights:
                weights_cpu = weights.detach().cpu()
                modules = {
                    **modules,
                    "model": {**modules["model"], "rebalance_log_weights": weights_cpu},
                }
            model_config = {**stored["model"], **settings}
            state = {**state, "config": {**stored, "model": model_config}, "modules": modules}
            save_checkpoint(path, state)


def _device(config: ExperimentConfig) -> torch.device:
    """The device this process evaluates ``config`` on (its own GPU under torchrun)."""
    return distributed.device_for(pick_device(config.train.device), distributed.current())


def _score(
    config: ExperimentConfig, model: nn.Module, data: LabImages, split: Split, device: torch.device
) -> tuple[Evaluation, Evaluation]:
    """``model`` evaluated on the test split (what tables report) and on the validation split
    (what variants and temperatures are chosen on)."""
    test = evaluate(model, data, split, "test", name=config.name, device=device)
    return test, evaluate(model, data, split, "val", name=config.name, device=device)


def _score_sources(
    config: ExperimentConfig, model: nn.Module, data: LabImages, split: Split, device: torch.device
) -> dict[str, tuple[Evaluation, Evaluation]]:
    """A mixture's model scored on each source's own test and validation splits (empty for one
    data set): what a model trained on that source alone would be compared on."""
    if not is_mixture(config.data.dataset):
        return {}
    names = [s.name for s in describe_sources(split, config.data.weights)]
    return {n: _score(config, model, data, source_split(split, n), device) for n in names}


def _source_summaries(run: RunResult) -> list[dict]:
    """``metrics.json``'s ``sources``: each source's weight, split sizes and metrics."""
    rows = []
    for source in describe_sources(run.split, run.config.data.weights):
        test, validation = run.by_source[source.name]
        rows.append(
            {
                **asdict(source),
                "metrics": test.summary.to_dict(orient="index"),
                "validation": validation.summary["mean"].to_dict(),
            }
        )
    return rows


def write_results(run: RunResult, device: torch.device, started: float) -> None:
    """``run``'s per-image metrics, ab histograms, ``metrics.json`` and ``samples.png``, each
    whole or absent; ``started`` (``time.time()``) times this call in ``metrics.json``."""
    run_dir, result, evaluation, split = run.run_dir, run.fit, run.evaluation, run.split
    with written_atomically(run_dir / "metrics_per_image.csv") as partial:
        evaluation.per_image.to_csv(partial)
    with written_atomically(run_dir / "ab_histograms.csv") as partial:  # ab_js_divergence
        evaluation.histograms.to_frame().to_csv(partial)
    summary = {
        "run": run.config.name,
        "dataset": run.data.name,
        "split": "test",
        "images": len(split.test),
        "best_epoch": result.best_epoch,
        "epochs": len(result.history),
        "train_seconds": round(float(result.history["seconds"].sum()), 1),
        "metrics": evaluation.summary.to_dict(orient="index"),
        "validation": {"images": len(split.val), "mean": run.validation.summary["mean"].to_dict()},
        **({"sources": _source_summaries(run)} if run.by_source else {}),
        "seconds": round(time.time() - started, 1),  # this call (short: resumed or re-scored)
        "provenance": provenance(device),
    }
    write_text(run_dir / "metrics.json", json.dumps(summary, indent=1))
    save_samples(result.model, select(run.data, split, "test"), run_dir / "samples.png", device)
