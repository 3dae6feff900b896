"""Trivial predictors that every table shows next to the models, so a reader sees what a number
is worth: on aligned faces a single constant colour already scores PSNR_ab near 27.

They follow the model contract, ``forward(L / 100) -> ab / 128`` on (N, 1, H, W) -> (N, 2, H, W),
so ``evaluate`` treats them exactly like trained models. Statistics come from the training split.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from colorize_core.data.color import normalize_ab, split_lab

BASELINES: dict[str, Callable[[torch.Tensor], nn.Module]] = {}


def register(name: str):
    """Class decorator: make a baseline available to ``make_baseline`` under ``name``."""

    def add(cls):
        BASELINES[name] = cls
        return cls

    return add


@register("gray")
class Gray(nn.Module):
    """ab = 0 everywhere: the input photo left gray."""

    def __init__(self, train_lab: torch.Tensor | None = None) -> None:
        super().__init__()

    def forward(self, lightness: torch.Tensor) -> torch.Tensor:
        n, _, h, w = lightness.shape
        return lightness.new_zeros((n, 2, h, w))


@register("mean_ab")
class MeanAb(nn.Module):
    """One constant colour: the training split's mean a and mean b over all pixels."""

    def __init__(self, train_lab: torch.Tensor) -> None:
        super().__init__()
        _, ab = split_lab(train_lab)
        mean = ab.mean(dim=(0, 2, 3), dtype=torch.float32)  # float32 sums, no float32 copy
        self.register_buffer("ab", normalize_ab(mean).view(1, 2, 1, 1))

    def forward(self, lightness: torch.Tensor) -> torch.Tensor:
        n, _, h, w = lightness.shape
        return self.ab.to(lightness.dtype).expand(n, 2, h, w)


@register("mean_ab_map")
class MeanAbMap(nn.Module):
    """The training split's per-pixel mean ab image, resized (bilinear) to the input's size.

    Strong on aligned data such as centred faces, where skin sits in the same place in every photo.
    """

    def __init__(self, train_lab: torch.Tensor) -> None:
        super().__init__()
        _, ab = split_lab(train_lab)
        self.register_buffer("ab", normalize_ab(ab.mean(dim=0, keepdim=True, dtype=torch.float32)))

    def forward(self, lightness: torch.Tensor) -> torch.Tensor:
        n, _, h, w = lightness.shape
        ab = self.ab.to(lightness.dtype)
        if ab.shape[-2:] != (h, w):
            ab = F.interpolate(ab, size=(h, w), mode="bilinear", align_corners=False)
        return ab.expand(n, 2, h, w)


def make_baseline(name: str, train_lab: torch.Tensor) -> nn.Module:
    """Build a baseline by name from the training split's Lab tensor, shape (N, 3, H, W)."""
    if name not in BASELINES:
        raise KeyError(f"unknown baseline {name!r}; choose one of {', '.join(BASELINES)}")
    if train_lab.dim() != 4 or train_lab.shape[1] != 3 or len(train_lab) == 0:
        raise ValueError(
            f"train_lab must be a non-empty (N, 3, H, W) tensor, got {tuple(train_lab.shape)}"
        )
    return BASELINES[name](train_lab).eval()


def fit_baselines(train_lab: torch.Tensor) -> dict[str, nn.Module]:
    """Every baseline, by name, fitted on the training split's Lab tensor."""
    return {name: make_baseline(name, train_lab) for name in BASELINES}
