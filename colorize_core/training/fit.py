"""Training: one epoch loop shared by regression and adversarial training.

``fit`` reads top to bottom: set up, maybe resume, then per epoch train, validate, schedule,
checkpoint, log. What differs between plain regression and the adversarial pair lives in two small
"task" classes with the same three methods (``train_step``, ``predict``, ``state``); checkpointing,
history, progress bars, the divergence guard and Weights & Biases are written once.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from colorize_core.data import atomic
from colorize_core.data.ab_bins import (
    bin_prior,
    nearest_bins,
    rebalance_weights,
    soft_encode_sparse,
)
from colorize_core.data.augment import Augment
from colorize_core.data.cache import LabImages, on_device
from colorize_core.data.color import denormalize_ab, normalize_ab, normalize_l, split_lab
from colorize_core.data.progress import progress
from colorize_core.data.split import Split, iterate_batches, select
from colorize_core.models.gan import build_discriminator
from colorize_core.training import distributed
from colorize_core.training.checkpoint import (
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
)
from colorize_core.training.config import ExperimentConfig, TrainConfig
from colorize_core.training.device import pick_device, use_bf16
from colorize_core.training.distributed import World
from colorize_core.training.loading import build_predictor, source_run

log = logging.getLogger(__name__)

LOSS_FUNCTIONS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "mse": F.mse_loss,
    "l1": F.l1_loss,
    "smooth_l1": F.smooth_l1_loss,
}


_PRIOR_BATCH = 256  # images per step while counting the training split's ab bins


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the last good checkpoint is kept on disk."""


def _autocast(device: torch.device, bf16: bool):
    if bf16 and device.type in ("cuda", "cpu"):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _optimizer(params: Iterable[nn.Parameter], t: TrainConfig) -> torch.optim.Optimizer:
    kind = torch.optim.AdamW if t.optimizer == "adamw" else torch.optim.Adam
    return kind(params, lr=t.lr, betas=t.betas, weight_decay=t.weight_decay)


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


def _prepare(module: nn.Module, device: torch.device, channels_last: bool) -> nn.Module:
    module = module.to(device)
    return module.to(memory_format=torch.channels_last) if channels_last else module


class Regression:
    """A model trained on a pixel loss between its ab / 128 and the true ab / 128.

    ``network`` is what a training step runs: the model itself, or under torchrun the model in
    DistributedDataParallel (``distributed.wrap``), sharing its parameters.
    """

    def __init__(
        self, config: ExperimentConfig, device: torch.device, world: World = distributed.SINGLE
    ) -> None:
        t = config.train
        self.device, self.bf16 = device, use_bf16(t.precision, device)
        self.model = _prepare(build_predictor(config.model), device, t.channels_last)
        self.network = distributed.wrap(self.trained_view(), device, world)
        self.optimizers = {"model": _optimizer(self.model.parameters(), t)}
        self.modules = {"model": self.model}
        self.loss = LOSS_FUNCTIONS[t.loss]

    def trained_view(self) -> nn.Module:
        """The module whose output the loss compares with the truth: here the model (ab / 128)."""
        return self.model

    def outputs(self, lightness: torch.Tensor) -> torch.Tensor:
        """What the loss compares with the truth: here ab / 128."""
        return self.model(lightness)

    def train_step(
        self, lightness: torch.Tensor, ab: torch.Tensor, weight: float = 1.0
    ) -> dict[str, torch.Tensor]:
        """One optimiser step; ``weight`` scales the loss that is backpropagated (a rank's share
        of a global batch, ``distributed.share``), not the loss reported."""
        optimizer = self.optimizers["model"]
        with _autocast(self.device, self.bf16):
            prediction = self.network(lightness)
        loss = self.loss(prediction.float(), ab)
        optimizer.zero_grad(set_to_none=True)
        (loss * weight).backward()
        optimizer.step()
        return {"loss": loss.detach()}

    def predict(self, lightness: torch.Tensor) -> torch.Tensor:
        with _autocast(self.device, self.bf16):
            return self.outputs(lightness).float()


class Classification(Regression):
    """The classification head trained with class-rebalanced cross-entropy against soft-encoded
    ab (Zhang et al. 2016): each true ab spreads over its nearest bins with Gaussian weights, and
    each pixel counts with the weight of its nearest bin, from the training split's smoothed
    prior mixed with ``rebalance`` x uniform and inverted, so rare saturated colours are not
    drowned by common dull ones. The loss, also on the validation split, is that cross-entropy.
    """

    def __init__(
        self,
        config: ExperimentConfig,
        device: torch.device,
        train: LabImages,
        world: World = distributed.SINGLE,
    ) -> None:
        super().__init__(config, device, world)
        self.bins = self.model.bins
        chunks = (split_lab(lab.float())[1] for lab in train.lab.split(_PRIOR_BATCH))
        prior = bin_prior(chunks, self.bins.cpu())
        weights = rebalance_weights(prior, self.bins.cpu(), lam=config.train.rebalance)
        self.class_weights = weights.float().to(device)
        self.loss = self.cross_entropy

    def trained_view(self) -> nn.Module:
        return _Logits(self.model)

    def outputs(self, lightness: torch.Tensor) -> torch.Tensor:
        """Logits (N, Q, H, W) over the ab bins."""
        return self.model.logits(lightness)

    def cross_entropy(self, logits: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
        """Mean over pixels of the rebalanced soft-target cross-entropy; ``ab`` is ab / 128.

        With targets t summing to 1 over the k nearest bins, -sum_q t_q log softmax(z)_q =
        logsumexp(z) - sum_k t_k z_k: no dense (N, Q, H, W) target or log-probabilities.
        """
        ab = denormalize_ab(ab)
        index, targets = soft_encode_sparse(ab, self.bins)  # (N, k, H, W) each
        logits = logits.float()
        per_pixel = logits.logsumexp(dim=1) - (targets * logits.gather(1, index)).sum(dim=1)
        pixel_weights = self.class_weights[nearest_bins(ab, self.bins)]  # (N, H, W)
        return (pixel_weights * per_pixel).mean()


class _Logits(nn.Module):
    """A classification model's logits as its ``forward``, the call DDP's gradient hooks see."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, lightness: torch.Tensor) -> torch.Tensor:
        return self.model.logits(lightness)


class Adversarial:
    """Generator (the reference's is model "gan"; any registered model works, e.g. "unet" as in
    pix2pix) vs PatchGAN discriminator on (L, ab) pairs.

    Discriminator: BCE-with-logits, real pairs -> 1, generated pairs -> 0 (halved, as in pix2pix).
    Generator: BCE-with-logits towards 1 on its own pairs + ``gan_lambda`` * L1 to the true ab.
    """

    def __init__(
        self, config: ExperimentConfig, device: torch.device, world: World = distributed.SINGLE
    ) -> None:
        t = config.train
        self.device, self.bf16 = device, use_bf16(t.precision, device)
        self.model = _prepare(build_predictor(config.model), device, t.channels_last)
        self.discriminator = _prepare(build_discriminator(), device, t.channels_last)
        self.network = distributed.wrap(self.model, device, world)
        self.critic = distributed.wrap(self.discriminator, device, world)
        self.optimizers = {
            "model": _optimizer(self.model.parameters(), t),
            "discriminator": _optimizer(self.discriminator.parameters(), t),
        }
        self.modules = {"model": self.model, "discriminator": self.discriminator}
        self.gan_lambda = t.gan_lambda
        self.loss = LOSS_FUNCTIONS[t.loss]

    def train_step(
        self, lightness: torch.Tensor, ab: torch.Tensor, weight: float = 1.0
    ) -> dict[str, torch.Tensor]:
        """One discriminator and one generator step; ``weight`` as in ``Regression``."""
        bce = F.binary_cross_entropy_with_logits
        with _autocast(self.device, self.bf16):
            fake = self.network(lightness)
            # discriminator step: tell real (L, ab) pairs from generated ones
            real_logits = self.critic(lightness, ab)
            fake_logits = self.critic(lightness, fake.detach())
        loss_d = 0.5 * (
            bce(real_logits.float(), torch.ones_like(real_logits, dtype=torch.float32))
            + bce(fake_logits.float(), torch.zeros_like(fake_logits, dtype=torch.float32))
        )
        self.optimizers["discriminator"].zero_grad(set_to_none=True)
        (loss_d * weight).backward()
        self.optimizers["discriminator"].step()

        # generator step: fool the updated discriminator while staying close to the truth
        with _autocast(self.device, self.bf16):
            logits = self.critic(lightness, fake)
        adversarial = bce(logits.float(), torch.ones_like(logits, dtype=torch.float32))
        l1 = F.l1_loss(fake.float(), ab)
        loss_g = adversarial + self.gan_lambda * l1
        self.optimizers["model"].zero_grad(set_to_none=True)
        (loss_g * weight).backward()
        self.optimizers["model"].step()
        return {
            "loss": self.loss(fake.detach().float(), ab),
            "loss_g": loss_g.detach(),
            "loss_g_adv": adversarial.detach(),
            "loss_d": loss_d.detach(),
        }

    def predict(self, lightness: torch.Tensor) -> torch.Tensor:
        with _autocast(self.device, self.bf16):
            return self.model(lightness).float()


@dataclass
class FitResult:
    """What ``fit`` leaves behind, besides the files in ``run_dir``."""

    model: nn.Module  # the kept model (lowest validation loss, or the last), in eval mode
    history: pd.DataFrame
    best_epoch: int
    run_dir: Path


Task = Regression | Classification | Adversarial
Callback = Callable[[dict, Task], None]


def _batches_to_model(lab: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    lightness, ab = split_lab(lab)
    return normalize_l(lightness), normalize_ab(ab)


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
            lightness, ab = _batches_to_model(local)
            total += task.loss(task.predict(lightness), ab).item() * len(local)
            seen += len(local)
    total, seen = distributed.sum_over_ranks([total, seen], world)
    return total / seen


def _rng_state(generator: torch.Generator) -> dict:
    state = {"torch": torch.get_rng_state(), "batches": generator.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict, generator: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    generator.set_state(state["batches"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


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
    if t.adversarial:
        task = Adversarial(config, device, world)
    elif config.model.head == "classification":
        task = Classification(config, device, train_data, world)
    else:
        task = Regression(config, device, world)
    batches = torch.Generator().manual_seed(config.seed)  # batch order and augmentation
    augment = _augmentation(config)
    steps = math.ceil(len(train_data) / t.batch_size)
    schedulers = {k: _scheduler(o, t, steps) for k, o in task.optimizers.items()}
    history: list[dict] = []
    best_loss, best_epoch, start = math.inf, 0, 0
    saved_epoch: int | None = None  # the epoch of the last.pt this call wrote or resumed from

    # resume
    if resume and world.is_main:
        _remove_partials(run_dir)
    if resume and (checkpoints / "last.pt").is_file():
        state = load_checkpoint(checkpoints / "last.pt")
        changed = config_changes(ExperimentConfig.from_dict(state["config"]), config)
        if changed:
            raise CheckpointError(
                f"{config.name}: cannot resume, the run in {run_dir} was trained with other "
                f"settings ({'; '.join(changed)}); give this config a new name, or move that "
                "folder away to train it afresh"
            )
        for name, module in task.modules.items():
            module.load_state_dict(state["modules"][name])
        for name, optimizer in task.optimizers.items():
            optimizer.load_state_dict(state["optimizers"][name])
            if schedulers[name] is not None:
                schedulers[name].load_state_dict(state["schedulers"][name])
        _set_rng_state(state["rng"], batches)
        history, best_loss, best_epoch = state["history"], state["best_loss"], state["best_epoch"]
        start = saved_epoch = state["epoch"]
        if world.is_main:
            _check_best(checkpoints, state)
            write_history(history, run_dir)  # a kill may have come between last.pt and these
        log.info("resuming %s after epoch %d of %d", config.name, start, t.epochs)
    elif t.init_from is not None:
        task.model.load_state_dict(initial_weights(config))

    for epoch in range(start, t.epochs):
        started = time.perf_counter()
        for module in task.modules.values():
            module.train()

        # train one epoch
        sums: dict[str, float] = {}
        seen = 0
        epoch_batches = iterate_batches(
            train_data,
            t.batch_size,
            shuffle=True,
            generator=batches,
            augment=augment,
            device=device,
        )
        if world.is_main:
            epoch_batches = progress(
                epoch_batches, total=steps, desc=f"epoch {epoch + 1}/{t.epochs}", leave=False
            )
        for step, lab in enumerate(epoch_batches):
            local = distributed.shard(lab, world)
            if not len(local):  # a last batch smaller than the number of ranks: every rank skips
                continue
            weight = distributed.share(len(local), len(lab), world)
            losses = task.train_step(*_batches_to_model(local), weight)
            losses = {k: v.item() for k, v in losses.items()}
            if not all(math.isfinite(v) for v in losses.values()):
                raise TrainingDiverged(
                    f"{config.name}: non-finite loss {losses} at epoch {epoch + 1}, step {step + 1}"
                    f"; {_last_good(checkpoints, saved_epoch)}. Lower the learning rate or check "
                    "the data."
                )
            for key, value in losses.items():
                sums[key] = sums.get(key, 0.0) + value * len(local)
            seen += len(local)
            for scheduler in schedulers.values():
                if isinstance(scheduler, torch.optim.lr_scheduler.LambdaLR):
                    scheduler.step()

        *totals, seen = distributed.sum_over_ranks([*sums.values(), seen], world)
        sums = dict(zip(sums, totals, strict=True))

        # validate, schedule
        val_loss = validation_loss(task, val_data, t.batch_size, world)
        if not math.isfinite(val_loss):
            raise TrainingDiverged(
                f"{config.name}: validation loss is {val_loss} after epoch {epoch + 1}; "
                f"{_last_good(checkpoints, saved_epoch)}"
            )
        for scheduler in schedulers.values():
            if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                scheduler.step(val_loss)
        row = {"epoch": epoch + 1, **{k: v / seen for k, v in sums.items()}, "val_loss": val_loss}
        row["lr"] = task.optimizers["model"].param_groups[0]["lr"]
        row["seconds"] = time.perf_counter() - started
        history.append(row)
        improved = val_loss < best_loss or t.keep == "last"
        if improved:
            best_loss, best_epoch = val_loss, epoch + 1

        saved_epoch = epoch + 1
        if not world.is_main:  # rank 0 alone writes; every rank holds the same weights
            continue

        # checkpoint, log
        state = {
            "config": config.to_dict(),
            "epoch": epoch + 1,
            "modules": {k: m.state_dict() for k, m in task.modules.items()},
            "optimizers": {k: o.state_dict() for k, o in task.optimizers.items()},
            "schedulers": {k: s.state_dict() for k, s in schedulers.items() if s is not None},
            "rng": _rng_state(batches),
            "history": history,
            "best_loss": best_loss,
            "best_epoch": best_epoch,
        }
        # best.pt before last.pt: a kill between the two leaves last.pt one epoch behind, and a
        # resume redoes that epoch (deterministically) instead of trusting a stale best.pt
        if improved:
            save_checkpoint(checkpoints / "best.pt", state)
        save_checkpoint(checkpoints / "last.pt", state)
        write_history(history, run_dir)
        log.info(
            "%s epoch %d/%d: %s",
            config.name,
            epoch + 1,
            t.epochs,
            ", ".join(f"{k} {v:.4g}" for k, v in row.items() if k != "epoch"),
        )
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


def _check_best(checkpoints: Path, last: dict) -> None:
    """Make sure ``best.pt`` fits the ``last.pt`` a run resumes from, or refuse to resume.

    A kill between the two writes of an epoch that improved leaves ``best.pt`` one epoch ahead
    of ``last.pt``: the run resumes from last.pt and redoes that epoch, which (deterministically)
    improves again and rewrites the same best.pt. Runs written before best.pt was saved first
    could be killed between the writes the other way round: last.pt then names its own epoch
    as the best while best.pt is older or missing, and last.pt itself is that best state, so it
    is copied to best.pt. Any other disagreement cannot be repaired.
    """
    best_file = checkpoints / "best.pt"
    best_epoch = last["best_epoch"]
    best = load_checkpoint(best_file) if best_file.is_file() else None
    if best is not None and best["epoch"] == best_epoch:
        return
    if last["epoch"] == best_epoch:
        log.warning(
            "%s is missing or stale; restoring it from last.pt (epoch %d)", best_file, best_epoch
        )
        save_checkpoint(best_file, last)
        return
    if best is not None and _one_epoch_ahead(best, last):
        log.info(
            "%s holds epoch %d, one ahead of last.pt: the run stopped between the two writes; "
            "epoch %d is trained again",
            best_file, best["epoch"], best["epoch"],
        )  # fmt: skip
        return
    raise CheckpointError(
        f"{best_file} does not hold the best epoch ({best_epoch}) that last.pt records, and it "
        f"cannot be rebuilt; move {checkpoints.parent} away and train it afresh"
    )


def _one_epoch_ahead(best: dict, last: dict) -> bool:
    """True when ``best`` is the epoch right after ``last`` of the same run: same config, and the
    history of ``last`` followed by one more epoch."""
    return (
        best["epoch"] == last["epoch"] + 1
        and best["config"] == last["config"]
        and best["history"][:-1] == last["history"]
    )


def _remove_partials(run_dir: Path) -> None:
    """Delete the temporary files a killed writer left in the run folder and its checkpoints."""
    for folder in (run_dir, run_dir / "checkpoints"):
        for stale in sorted(folder.glob(f".*{atomic.PARTIAL_SUFFIX}")):
            log.info("removing %s, left by a write that was stopped", stale)
            stale.unlink(missing_ok=True)


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


# Settings that may differ when a run resumes: where things are, how they are logged, and how
# predictions are decoded.
_RESUMABLE_CHANGES = {
    "output_dir",
    "data.data_path",
    "train.device",
    "train.wandb",
    "model.temperature",
}


def config_changes(saved: ExperimentConfig, config: ExperimentConfig) -> list[str]:
    """``"train.epochs 15 -> 10"`` for each setting a resumed run would silently change."""
    before, after = _flat(saved.to_dict()), _flat(config.to_dict())
    return [
        f"{key} {before.get(key)!r} -> {after.get(key)!r}"
        for key in sorted(set(before) | set(after))
        if key not in _RESUMABLE_CHANGES and before.get(key) != after.get(key)
    ]


def _flat(values: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in values.items():
        if isinstance(value, dict) and key in ("data", "model", "train"):
            flat.update(_flat(value, f"{key}."))
        else:
            flat[prefix + key] = value
    return flat


def write_history(history: list[dict], run_dir: Path, columns: list[str] | None = None) -> None:
    """``history.csv`` and ``history.json`` in ``run_dir``: one row per epoch."""
    table = pd.DataFrame(history, columns=columns).to_csv(index=False)
    atomic.write_text(run_dir / "history.csv", table)
    atomic.write_text(run_dir / "history.json", json.dumps(history, indent=1))
