"""What one training step does, for each kind of training: a plain regression loss, the
class-rebalanced classification of Zhang et al. 2016, or the adversarial pair of pix2pix.

Each task has the same small contract that ``fit`` drives: ``train_step`` (one optimiser step on a
batch), ``predict`` (eval outputs for the loss), ``loss``, ``modules`` and ``optimizers`` (what a
checkpoint holds), and ``model`` (the colouriser that is kept).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn

from colorize_core.data.ab_bins import (
    bin_prior,
    nearest_bins,
    rebalance_weights,
    soft_encode_sparse,
)
from colorize_core.data.cache import LabImages
from colorize_core.data.color import denormalize_ab, normalize_ab, normalize_l, split_lab
from colorize_core.models.gan import build_discriminator
from colorize_core.training import distributed
from colorize_core.training.config import ExperimentConfig, TrainConfig
from colorize_core.training.device import use_bf16
from colorize_core.training.distributed import World
from colorize_core.training.loading import build_predictor

LOSS_FUNCTIONS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "mse": F.mse_loss,
    "l1": F.l1_loss,
    "smooth_l1": F.smooth_l1_loss,
}


_PRIOR_BATCH = 256  # images per step while counting the training split's ab bins


def _autocast(device: torch.device, bf16: bool):
    if bf16 and device.type in ("cuda", "cpu"):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _optimizer(params: Iterable[nn.Parameter], t: TrainConfig) -> torch.optim.Optimizer:
    kind = torch.optim.AdamW if t.optimizer == "adamw" else torch.optim.Adam
    return kind(params, lr=t.lr, betas=t.betas, weight_decay=t.weight_decay)


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
        # kept with the model, so that decoding can take the rebalancing back (prior_correction)
        self.model.rebalance_log_weights.copy_(weights.log())
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


Task = Regression | Classification | Adversarial


def batches_to_model(lab: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    lightness, ab = split_lab(lab)
    return normalize_l(lightness), normalize_ab(ab)


def make_task(
    config: ExperimentConfig, device: torch.device, train: LabImages, world: World
) -> Task:
    """The task ``config`` trains: adversarial, classification (whose loss weights come from the
    ``train`` split's bins) or regression."""
    if config.train.adversarial:
        return Adversarial(config, device, world)
    if config.model.head == "classification":
        return Classification(config, device, train, world)
    return Regression(config, device, world)
