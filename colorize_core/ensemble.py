"""Ensembles: the mean ab of several trained runs, and of each image's mirror image.

Averaging differently trained models, and a model's predictions for an image and its horizontal
mirror (test-time augmentation), removes part of the error that depends on the training draw
rather than on the image, which the pixel metrics reward. An ensemble is a run like any other
(config.json, split, metrics, samples) with ``model="ensemble"`` and
``model_kwargs={"members": [run names], "flip": True}``; it trains nothing and keeps no weights of
its own: it loads the best checkpoints of its member runs, which lie beside it, and refuses
members trained on other data or another split (their training could have seen its test images).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from colorize_core.config import ExperimentConfig
from colorize_core.train import FitResult, build_predictor, source_run, write_history

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


def load_ensemble(config: ExperimentConfig, runs_dir: str | Path) -> Ensemble:
    """The ensemble ``config`` describes, its members' best weights loaded from ``runs_dir``
    (a member may also be given as a run folder or checkpoint path), in eval mode."""
    kwargs = dict(config.model.model_kwargs)
    members, flip = kwargs.pop("members", None), kwargs.pop("flip", False)
    if kwargs or not isinstance(members, list | tuple) or not members:
        raise TypeError(
            f"{config.name}: an ensemble takes model_kwargs members (a non-empty list of run "
            f"names) and flip; got {config.model.model_kwargs!r}"
        )
    models = []
    for member in members:
        state, other = source_run(config, member, runs_dir, "member")
        model = build_predictor(other.model)
        model.load_state_dict(state["modules"]["model"])
        models.append(model)
    return Ensemble(models, flip=bool(flip)).eval()


def assemble(config: ExperimentConfig) -> FitResult:
    """An ensemble run's stand-in for training: load its members and write an empty history."""
    model = load_ensemble(config, config.run_dir.parent)
    columns = ["epoch", "loss", "val_loss", "lr", "seconds"]
    write_history([], config.run_dir, columns=columns)
    return FitResult(model, pd.DataFrame(columns=columns), 0, config.run_dir)
