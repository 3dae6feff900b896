"""Training: one epoch loop for every kind of training (``tasks``), with checkpoints to resume.

``fit`` reads top to bottom: set up, maybe resume, then per epoch train, validate, schedule,
checkpoint, log. What differs between regression, classification and the adversarial pair lives
in ``tasks``; what a checkpoint holds and how a run resumes, in ``checkpoint``. Progress bars,
history, the divergence guard and the callbacks (Weights & Biases) are written once, here.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from colorize_core.data import atomic
from colorize_core.data.augment import Augment
from colorize_core.data.cache import LabImages, on_device
from colorize_core.data.mixture import weighted_epochs
from colorize_core.data.progress import progress
from colorize_core.data.split import Split, iterate_batches, select
from colorize_core.training import distributed
from colorize_core.training.checkpoint import (
    CheckpointError,
    load_checkpoint,
    restore,
    resumable_state,
    save_checkpoint,
    training_state,
)
from colorize_core.training.config import ExperimentConfig, TrainConfig
from colorize_core.training.device import pick_device
from colorize_core.training.distributed import World
from colorize_core.training.loading import source_run
from colorize_core.training.tasks import Task, batches_to_model, make_task

log = logging.getLogger(__name__)


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the last good checkpoint is kept on disk."""


def _scheduler(optimizer: torch.optim.Optimizer, t: TrainConfig, steps_per_epoch: int):
    """ReduceLROnPlateau (stepped on validation loss), or inverse square root or cosine annealing
    (LambdaLR, stepped per batch)."""
    if t.scheduler == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, factor=t.plateau_factor, patience=t.plateau_patience
        )
    if t.scheduler == "inverse_sqrt":
        warmup = max(1, t.warmup_steps)
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: min(1.0, math.sqrt(warmup / max(step, 1)))
        )
    if t.scheduler == "cosine":
        total = max(1, t.epochs * steps_per_epoch)
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: 0.5 * (1.0 + math.cos(math.pi * min(step, total) / total))
        )
    return None


@dataclass
class FitResult:
    """What ``fit`` leaves behind, besides the files in ``run_dir``."""

    model: nn.Module  # the kept model (lowest validation loss, or the last), in eval mode
    history: pd.DataFrame
    best_epoch: int
    run_dir: Path


Callback = Callable[[dict, Task], None]


@torch.inference_mode()
def validation_loss(
    task: Task, data: LabImages, batch_size: int, world: World = distributed.SINGLE
) -> float:
    """Mean per-image loss of the task's model over ``data`` (eval mode); under torchrun each
    rank scores its slice of every batch and the sums are added up."""
    for module in task.modules.values():
        module.eval()
    total = seen = 0.0
    for lab in iterate_batches(data, batch_size, device=task.device):
        local = distributed.shard(lab, world)
        if len(local):
            lightness, ab = batches_to_model(local)
            total += task.loss(task.predict(lightness), ab).item() * len(local)
            seen += len(local)
    total, seen = distributed.sum_over_ranks([total, seen], world)
    return total / seen


def train_epoch(
    task: Task,
    batches: Iterable[torch.Tensor],
    schedulers: dict,
    world: World,
    where: tuple[str, int, str],
) -> dict[str, float]:
    """One epoch of optimiser steps over ``batches`` (Lab); the mean of each loss over the
    images. Under torchrun each rank steps on its slice of every batch. A non-finite loss raises
    ``TrainingDiverged`` naming ``where``: the run, the epoch and where the last good weights
    are."""
    for module in task.modules.values():
        module.train()
    sums: dict[str, float] = {}
    seen = 0
    for step, lab in enumerate(batches):
        local = distributed.shard(lab, world)
        if not len(local):  # a last batch smaller than the number of ranks: every rank skips
            continue
        weight = distributed.share(len(local), len(lab), world)
        losses = {k: v.item() for k, v in task.train_step(*batches_to_model(local), weight).items()}
        if not all(math.isfinite(v) for v in losses.values()):
            name, epoch, last_good = where
            raise TrainingDiverged(
                f"{name}: non-finite loss {losses} at epoch {epoch}, step {step + 1}; "
                f"{last_good}. Lower the learning rate or check the data."
            )
        for key, value in losses.items():
            sums[key] = sums.get(key, 0.0) + value * len(local)
        seen += len(local)
        for scheduler in schedulers.values():
            if isinstance(scheduler, torch.optim.lr_scheduler.LambdaLR):
                scheduler.step()
    *totals, seen = distributed.sum_over_ranks([*sums.values(), seen], world)
    return {key: total / seen for key, total in zip(sums, totals, strict=True)}


def fit(
    config: ExperimentConfig,
    data: LabImages,
    split: Split,
    *,
    resume: bool = False,
    callbacks: Iterable[Callback] = (),
) -> FitResult:
    """Train ``config`` on the train split, validate each epoch, checkpoint into its run folder.

    Writes ``checkpoints/last.pt`` after every epoch, ``checkpoints/best.pt`` whenever the
    validation loss improves (every epoch with ``keep="last"``), and ``history.csv``/``.json``.
    With ``resume=True`` and a ``last.pt`` present, training continues from it and ends exactly
    where an uninterrupted run would (same batches, augmentation and dropout draws). A NaN or
    infinite loss raises ``TrainingDiverged`` and leaves the last good checkpoint in place.

    Under torchrun (``distributed.session``) every rank takes its slice of each global batch and
    only rank 0 writes files and calls ``callbacks``. On CUDA the training split is moved to the
    GPU once, so batches and augmentation never wait for the host.
    """
    t = config.train
    world = distributed.current()
    run_dir, device = config.run_dir, distributed.device_for(pick_device(t.device), world)
    checkpoints = run_dir / "checkpoints"
    torch.manual_seed(config.seed)  # initialisation (and dropout) draw from the global RNG
    train_data, val_data = select(data, split, "train"), select(data, split, "val")
    if device.type == "cuda":
        train_data, val_data = on_device(train_data, device), on_device(val_data, device)
    task = make_task(config, device, train_data, world)
    batches = torch.Generator().manual_seed(config.seed)  # batch order and augmentation
    steps = math.ceil(len(train_data) / t.batch_size)
    schedulers = {k: _scheduler(o, t, steps) for k, o in task.optimizers.items()}
    augment = _augmentation(config)
    weighted = weighted_epochs(config.data.dataset, train_data.files, config.data.weights)
    history: list[dict] = []
    best_loss, best_epoch, start = math.inf, 0, 0

    # resume
    state = resumable_state(config, world.is_main) if resume else None
    if state is not None:
        restore(state, task, schedulers, batches)
        history, best_loss, best_epoch = state["history"], state["best_loss"], state["best_epoch"]
        start = state["epoch"]
        if world.is_main:
            write_history(history, run_dir)  # a kill may have come between last.pt and these
        log.info("resuming %s after epoch %d of %d", config.name, start, t.epochs)
    elif t.init_from is not None:
        task.model.load_state_dict(initial_weights(config))

    for epoch in range(start, t.epochs):
        started = time.perf_counter()

        # train one epoch, validate, schedule
        order = weighted(batches) if weighted is not None else None
        epoch_batches = iterate_batches(
            train_data, t.batch_size, shuffle=True, generator=batches,
            augment=augment, device=device, order=order,
        )  # fmt: skip
        if world.is_main:
            epoch_batches = progress(
                epoch_batches, total=steps, desc=f"epoch {epoch + 1}/{t.epochs}", leave=False
            )
        last_good = _last_good(checkpoints, epoch if state is not None or epoch else None)
        losses = train_epoch(
            task, epoch_batches, schedulers, world, (config.name, epoch + 1, last_good)
        )
        val_loss = validation_loss(task, val_data, t.batch_size, world)
        if not math.isfinite(val_loss):
            raise TrainingDiverged(
                f"{config.name}: validation loss is {val_loss} after epoch {epoch + 1}; {last_good}"
            )
        for scheduler in schedulers.values():
            if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                scheduler.step(val_loss)
        row = {"epoch": epoch + 1, **losses, "val_loss": val_loss}
        row["lr"] = task.optimizers["model"].param_groups[0]["lr"]
        row["seconds"] = time.perf_counter() - started
        history.append(row)
        improved = val_loss < best_loss or t.keep == "last"
        if improved:
            best_loss, best_epoch = val_loss, epoch + 1
        if not world.is_main:  # rank 0 alone writes; every rank holds the same weights
            continue

        # checkpoint, log
        state = training_state(
            config, epoch + 1, task, schedulers, batches, history, (best_loss, best_epoch)
        )
        # best.pt before last.pt: a kill between the two leaves last.pt one epoch behind, and a
        # resume redoes that epoch (deterministically) instead of trusting a stale best.pt
        if improved:
            save_checkpoint(checkpoints / "best.pt", state)
        save_checkpoint(checkpoints / "last.pt", state)
        write_history(history, run_dir)
        summary = ", ".join(f"{k} {v:.4g}" for k, v in row.items() if k != "epoch")
        log.info("%s epoch %d/%d: %s", config.name, epoch + 1, t.epochs, summary)
        for callback in callbacks:
            callback(row, task)

    distributed.barrier(world)  # rank 0 has written best.pt
    best = load_checkpoint(checkpoints / "best.pt")
    if best["epoch"] != best_epoch:  # cannot happen with the write order above; never trust it
        raise CheckpointError(
            f"{checkpoints / 'best.pt'} holds epoch {best['epoch']}, but the run's best epoch is "
            f"{best_epoch}; move {run_dir} away and train it afresh"
        )
    task.model.load_state_dict(best["modules"]["model"])
    return FitResult(task.model.eval(), pd.DataFrame(history), best_epoch, run_dir)


def _last_good(checkpoints: Path, saved_epoch: int | None) -> str:
    """Where the last good weights are, for a divergence message: only a file this run wrote."""
    if saved_epoch is None:
        return "it diverged before its first epoch ended, so no checkpoint was written"
    return f"the last good checkpoint is {checkpoints / 'last.pt'} (epoch {saved_epoch})"


def _augmentation(config: ExperimentConfig) -> Augment | None:
    """Training-split augmentation: flip, rotation and crop; flips only with ``flip_only``."""
    if not config.data.augment:
        return None
    return Augment(max_rotation=0.0, min_crop_scale=1.0) if config.data.flip_only else Augment()


def initial_weights(config: ExperimentConfig) -> dict[str, torch.Tensor]:
    """The model weights ``config.train.init_from`` names (``source_run``), checked also to be
    the same model."""
    state, _ = source_run(config, config.train.init_from, config.output_dir, "init_from", True)
    return state["modules"]["model"]


def write_history(history: list[dict], run_dir: Path, columns: list[str] | None = None) -> None:
    """``history.csv`` and ``history.json`` in ``run_dir``: one row per epoch."""
    table = pd.DataFrame(history, columns=columns).to_csv(index=False)
    atomic.write_text(run_dir / "history.csv", table)
    atomic.write_text(run_dir / "history.json", json.dumps(history, indent=1))
