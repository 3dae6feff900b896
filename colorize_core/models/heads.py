"""Prediction heads: what a backbone's last layer predicts, and how that becomes ab / 128.

Every backbone that supports heads ends in ``head``, an ``nn.Sequential`` whose last two modules
are a convolution to 2 channels and a tanh: the *regression* head, ab / 128 directly.

The *classification* head (Zhang, Isola & Efros, ECCV 2016) swaps that convolution for one to Q
logits over the in-gamut ab bins (``ab_bins.ab_bins``) and drops the tanh. ``BinClassifier``
wraps such a backbone and decodes its logits to ab / 128 with the annealed mean, so it keeps the
model contract (``forward(L / 100) -> ab / 128``) and metrics, baselines, reports, ``colorize``
and the photo notebook use it unchanged. Its ``temperature`` is a decoding setting, not a
weight: set it to score one trained model at several temperatures without retraining.

Training rebalances the classes (rare, saturated colours weigh more), so the logits estimate the
true colour distribution tilted by those weights w. ``prior_correction`` alpha takes alpha of
that tilt back when decoding, ``logits - alpha log w`` (logit adjustment; Menon et al., ICLR
2021): 0 decodes as trained (Zhang's), 1 the model's estimate of the untilted distribution,
duller but closer to the truth where the colour is ambiguous. The weights travel with the model
(``rebalance_log_weights``) so that a model file can be decoded either way.
"""

from __future__ import annotations

import torch
from torch import nn

from colorize_core.data.ab_bins import PAPER_TEMPERATURE, ab_bins, decode_annealed, decode_unsure
from colorize_core.data.color import AB_SCALE

HEADS = ("regression", "classification")


class BinClassifier(nn.Module):
    """A backbone predicting logits over ab bins; ``forward`` decodes them to ab / 128.

    ``bins`` (Q, 2) are the bin centres in Lab units, kept in the state dict so that a checkpoint
    says what its classes mean. ``temperature``: 1 is the mean of the predicted distribution,
    lower values sharpen it (more vivid), 0 takes the most probable bin (the mode).
    ``rebalance_log_weights`` (Q,) are the log class weights training used, set by the training
    task; NaN in a model trained before they were kept, which then decodes only with
    ``prior_correction`` 0.
    """

    def __init__(
        self,
        backbone: nn.Module,
        bins: torch.Tensor,
        temperature: float = PAPER_TEMPERATURE,
        unsure_entropy: float | None = None,
        prior_correction: float = 0.0,
        small_photo_below: int | None = None,
        small_photo_prior_correction: float = 0.0,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.register_buffer("bins", bins.detach().clone().float())
        self.register_buffer("rebalance_log_weights", torch.full((len(bins),), torch.nan))
        self.temperature = temperature
        self.unsure_entropy = unsure_entropy
        self.prior_correction = prior_correction
        self.small_photo_below = small_photo_below
        self.small_photo_prior_correction = small_photo_prior_correction

    def logits(self, lightness: torch.Tensor) -> torch.Tensor:
        """L / 100 (N, 1, H, W) -> logits (N, Q, H, W)."""
        return self.backbone(lightness)

    def forward(self, lightness: torch.Tensor) -> torch.Tensor:
        """L / 100 (N, 1, H, W) -> ab / 128 (N, 2, H, W): the annealed mean at ``temperature``,
        or with ``unsure_entropy`` at a temperature per pixel (``ab_bins.decode_unsure``), after
        taking back the prior correction for the input's size."""
        logits = self.logits(lightness).float()
        if self._corrects():
            correction = self._prior_correction_for(lightness)
            logits = logits - correction * self.rebalance_log_weights.view(1, -1, 1, 1)
        if self.unsure_entropy is None:
            return decode_annealed(logits, self.bins, self.temperature) / AB_SCALE
        ab = decode_unsure(logits, self.bins, self.temperature, self.unsure_entropy)
        return ab / AB_SCALE

    def _corrects(self) -> bool:
        """Whether any input is decoded with some of the rebalancing taken back."""
        return bool(
            self.prior_correction
            or (self.small_photo_below is not None and self.small_photo_prior_correction)
        )

    def _prior_correction_for(self, lightness: torch.Tensor) -> float | torch.Tensor:
        """``small_photo_prior_correction`` for an input whose shorter side is below
        ``small_photo_below``, else ``prior_correction``. Tensor arithmetic on the shape, not a
        Python branch, so that an ONNX export with dynamic sizes keeps both."""
        if self.small_photo_below is None:
            return self.prior_correction
        height, width = (
            lightness.new_full((), side, dtype=torch.float32) for side in lightness.shape[-2:]
        )
        small = torch.minimum(height, width) < self.small_photo_below
        return torch.where(small, self.small_photo_prior_correction, self.prior_correction)

    def _check_weights(self) -> None:
        """Refuse a decoding that takes the rebalancing back from a model without class weights:
        checked where a decoding meets trained weights, not in ``forward``, which export traces."""
        if self._corrects() and not torch.isfinite(self.rebalance_log_weights).all():
            raise ValueError(
                "this model was trained before class weights were kept with it, so it cannot "
                "take the rebalancing back: decode it with prior_correction 0, or decode its run "
                "anew with this version (decode_at), so that its checkpoints keep them"
            )

    def at_temperature(
        self,
        temperature: float,
        unsure_entropy: float | None = None,
        prior_correction: float = 0.0,
        small_photo_below: int | None = None,
        small_photo_prior_correction: float = 0.0,
    ) -> BinClassifier:
        """This model decoded at ``temperature`` (per pixel, given ``unsure_entropy``), with
        ``prior_correction`` of its rebalancing taken back (``small_photo_prior_correction`` for
        inputs whose shorter side is below ``small_photo_below``): its backbone and class weights
        are shared, not copied, and this one keeps its own decoding, so re-scoring another way
        leaves the original as it was."""
        decoded = BinClassifier(
            self.backbone,
            self.bins,
            temperature,
            unsure_entropy,
            prior_correction,
            small_photo_below,
            small_photo_prior_correction,
        )
        decoded.rebalance_log_weights = self.rebalance_log_weights
        decoded._check_weights()
        return decoded.train(self.training)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, *args) -> None:
        # a checkpoint from before the class weights were kept has none: keep this model's own
        # (NaN, or those a resumed training task has just counted) rather than fail to load
        key = prefix + "rebalance_log_weights"
        if key not in state_dict:
            state_dict[key] = self.rebalance_log_weights.detach().clone()
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, *args)
        self._check_weights()


def classification_backbone(backbone: nn.Module, n_bins: int) -> nn.Module:
    """``backbone`` with its last convolution (to 2 channels) replaced by one to ``n_bins``
    logits, same kernel and padding, and its final tanh removed. Other layers keep their names,
    so their weights load from a regression model of the same architecture."""
    head = getattr(backbone, "head", None)
    if not (
        isinstance(head, nn.Sequential)
        and len(head) >= 2
        and isinstance(head[-2], nn.Conv2d)
        and head[-2].out_channels == 2
        and isinstance(head[-1], nn.Tanh)
    ):
        raise ValueError(
            f"{type(backbone).__name__} has no replaceable head (a final nn.Sequential 'head' "
            "ending in a convolution to 2 channels and a tanh); the classification head needs one"
        )
    conv = head[-2]
    logits = nn.Conv2d(
        conv.in_channels, n_bins, conv.kernel_size, stride=conv.stride, padding=conv.padding
    )
    backbone.head = nn.Sequential(*head[:-2], logits)
    return backbone


def with_head(
    backbone: nn.Module,
    head: str = "regression",
    temperature: float = PAPER_TEMPERATURE,
    unsure_entropy: float | None = None,
    prior_correction: float = 0.0,
    small_photo_below: int | None = None,
    small_photo_prior_correction: float = 0.0,
) -> nn.Module:
    """``backbone`` as is (``regression``), or as a ``BinClassifier`` over ``ab_bins()``
    decoded as the other arguments say."""
    if head == "regression":
        return backbone
    if head == "classification":
        bins = ab_bins()
        logits = classification_backbone(backbone, len(bins))
        return BinClassifier(
            logits,
            bins,
            temperature,
            unsure_entropy,
            prior_correction,
            small_photo_below,
            small_photo_prior_correction,
        )
    raise KeyError(f"unknown head {head!r}; choose one of {', '.join(HEADS)}")
