"""What a notebook calls: ``run_experiment(config)`` trains, evaluates, fills ``results/<run>/``.

A run folder holds ``config.json``, ``split.json``, ``history.csv``/``.json``,
``metrics_per_image.csv`` (test split), ``ab_histograms.csv`` (each test image's predicted and true
nearest-bin ab counts, from which the split's ab distribution distance is recomputed),
``metrics.json`` (test summary with CIs, the validation
split's means for choosing between variants without looking at the test split, provenance, timing),
``samples.png`` (input | prediction | truth for fixed test images) and ``checkpoints/``. An
ensemble run (``ensemble.py``) has no checkpoints and an empty history: it trains nothing.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from colorize_core import distributed
from colorize_core.checkpoint import best_checkpoint, load_checkpoint
from colorize_core.color import denormalize_ab, normalize_l, split_lab
from colorize_core.config import ExperimentConfig
from colorize_core.data import LabImages, Split, load_images, make_split, select
from colorize_core.ensemble import ENSEMBLE, assemble, load_ensemble
from colorize_core.evaluate import Evaluation, evaluate
from colorize_core.plots import comparison_grid
from colorize_core.provenance import provenance
from colorize_core.tracking import WandbLogger
from colorize_core.train import FitResult, build_predictor, fit, pick_device

SAMPLE_IMAGES = 6  # test images shown in samples.png: the first of the test split, always the same


@dataclass
class RunResult:
    config: ExperimentConfig
    data: LabImages
    split: Split
    fit: FitResult
    evaluation: Evaluation  # test split: what tables report
    validation: Evaluation  # validation split: what variants are chosen on

    @property
    def run_dir(self) -> Path:
        return self.config.run_dir


def load_data(config: ExperimentConfig) -> tuple[LabImages, Split]:
    """The dataset of ``config`` (first ``limit`` images if set) and its seeded split."""
    d = config.data
    data = load_images(d.dataset, d.image_size, path=d.data_path)
    if d.limit is not None and d.limit < len(data):
        data = data.subset(range(d.limit))
    return data, make_split(data.files, config.seed)


def run_experiment(config: ExperimentConfig, *, resume: bool = False, callbacks=()) -> RunResult:
    """Train and evaluate ``config``; with ``resume`` continue an interrupted run in place.

    Under torchrun (``distributed.session``) every rank trains its share and evaluates the kept
    model, and rank 0 alone writes the run folder and logs to Weights & Biases."""
    started = time.time()
    world = distributed.current()
    run_dir = config.run_dir
    data, split = load_data(config)
    if (
        resume
        and (run_dir / "split.json").is_file()
        and Split.load(run_dir / "split.json") != split
    ):
        raise RuntimeError(f"{run_dir}: saved split differs from this config's; not resuming")
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
        device = distributed.device_for(pick_device(config.train.device), world)
        evaluation = evaluate(result.model, data, split, "test", name=config.name, device=device)
        validation = evaluate(result.model, data, split, "val", name=config.name, device=device)
        wandb.log_summary({f"test/{k}": v for k, v in evaluation.summary["mean"].items()})
    finally:
        wandb.close()
    if not world.is_main:
        return RunResult(config, data, split, result, evaluation, validation)

    evaluation.per_image.to_csv(run_dir / "metrics_per_image.csv")
    evaluation.histograms.to_frame().to_csv(run_dir / "ab_histograms.csv")  # ab_js_divergence
    summary = {
        "run": config.name,
        "dataset": data.name,
        "split": "test",
        "images": len(split.test),
        "best_epoch": result.best_epoch,
        "epochs": len(result.history),
        "train_seconds": round(float(result.history["seconds"].sum()), 1),
        "metrics": evaluation.summary.to_dict(orient="index"),
        "validation": {"images": len(split.val), "mean": validation.summary["mean"].to_dict()},
        "seconds": round(time.time() - started, 1),  # this call (short when it resumed a run)
        "provenance": provenance(device),
    }
    (run_dir / "metrics.json").write_text(json.dumps(summary, indent=1))
    save_samples(result.model, select(data, split, "test"), run_dir / "samples.png", device)
    return RunResult(config, data, split, result, evaluation, validation)


@torch.inference_mode()
def predict_ab(model: torch.nn.Module, lightness: torch.Tensor, device="cpu") -> torch.Tensor:
    """ab in Lab units (N, 2, H, W) on the CPU, for L in Lab units (N, 1, H, W)."""
    model = model.to(device).eval()
    return denormalize_ab(model(normalize_l(lightness.to(device))).float()).cpu()


def save_samples(model, test: LabImages, path: Path, device: torch.device | str = "cpu") -> None:
    """Write input | prediction | truth for the first ``SAMPLE_IMAGES`` test images as a PNG."""
    lightness, ab_true = split_lab(test.lab[:SAMPLE_IMAGES].float())
    ab_pred = predict_ab(model, lightness, device)
    Image.fromarray(comparison_grid(lightness, ab_pred, ab_true)).save(path)


def load_model(source: str | Path) -> tuple[torch.nn.Module, ExperimentConfig]:
    """The best model of a run folder, or the model in a checkpoint file, with its config.

    An ensemble run's folder holds no weights; its members are loaded from the runs beside it.
    """
    source = Path(source)
    run_config = None
    if source.is_dir() and (source / "config.json").is_file():
        run_config = ExperimentConfig.load(source / "config.json")
        if run_config.model.model == ENSEMBLE:
            return load_ensemble(run_config, source.parent), run_config
    state = load_checkpoint(best_checkpoint(source))
    config = ExperimentConfig.from_dict(state["config"])
    if run_config is not None:  # the run's decoding temperature may have been chosen later
        config = config.with_params(temperature=run_config.model.temperature)
    model = build_predictor(config.model)
    model.load_state_dict(state["modules"]["model"])
    return model.eval(), config


def decode_at(result: RunResult, temperature: float) -> RunResult:
    """A trained classification run re-scored with its predictions decoded at ``temperature``
    (chosen on the validation split): its config, metrics and samples are rewritten; nothing
    is trained. ``load_model`` and ``colorize`` then use that temperature too."""
    if result.config.model.head != "classification":
        raise ValueError(f"{result.config.name} has no classification head to decode")
    return run_experiment(result.config.with_params(temperature=temperature), resume=True)
