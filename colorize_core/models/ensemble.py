"""Ensembles: the mean ab of several trained runs, and of each image's mirror image.

Averaging differently trained models, and a model's predictions for an image and its horizontal
mirror (test-time augmentation), removes part of the error that depends on the training draw
rather than on the image, which the pixel metrics reward. An ensemble is a run like any other
(config.json, split, metrics, samples) with ``model="ensemble"`` and
``model_kwargs={"members": [run names], "flip": True}``; it trains nothing and keeps no weights of
its own: ``training.loading.load_ensemble`` loads the best checkpoints of its member runs, which
lie beside it, and refuses members trained on other data or another split (their training could
have seen its test images).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

ENSEMBLE = "ensemble"  # the ModelConfig.model name of an ensemble run


class Ensemble(nn.Module):
    """Mean of the members' ab / 128; with ``flip`` also over the mirrored input, mirrored back."""

    def __init__(self, members: Sequence[nn.Module], flip: bool = False) -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = nn.ModuleList(members)
        self.flip = flip

    def forward(self, lightness: torch.Tensor) -> torch.Tensor:
        total = sum(member(lightness) for member in self.members)
        if self.flip:
            mirrored = lightness.flip(-1)
            total = total + sum(member(mirrored).flip(-1) for member in self.members)
        return total / (len(self.members) * (2 if self.flip else 1))
