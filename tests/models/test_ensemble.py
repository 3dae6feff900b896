"""Ensembles: averaging arithmetic, a run folder like any other, and refused members."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
from tiny_runs import tiny_config  # pytest puts tests/ on sys.path
from torch import nn

from colorize_core.evaluation.evaluate import evaluate
from colorize_core.models.ensemble import Ensemble
from colorize_core.reporting import report
from colorize_core.runs.experiment import run_experiment
from colorize_core.training.checkpoint import CheckpointError
from colorize_core.training.loading import load_model


class Ramp(nn.Module):
    """ab / 128 = scale x column index / width: a prediction that depends on left and right."""

    def __init__(self, scale: float) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, lightness: torch.Tensor) -> torch.Tensor:
        n, _, h, w = lightness.shape
        ramp = torch.arange(w, dtype=torch.float32) / w
        return (self.scale * ramp).expand(n, 2, h, w) + 0 * lightness


def test_ensemble_averages_members_and_mirror_images():
    lightness = torch.rand(3, 1, 4, 8)
    a, b = Ramp(0.2), Ramp(0.6)
    assert torch.allclose(Ensemble([a, b])(lightness), Ramp(0.4)(lightness))
    mirrored = Ensemble([a], flip=True)(lightness)
    expected = 0.5 * (a(lightness) + a(lightness.flip(-1)).flip(-1))
    assert torch.allclose(mirrored, expected)
    assert torch.allclose(mirrored, mirrored.flip(-1))  # symmetric once mirrored back
    with pytest.raises(ValueError, match="at least one member"):
        Ensemble([])


def test_ensemble_run_scores_its_members_mean_and_reloads_from_its_folder(tmp_path):
    members = ["a", "b"]
    for lr, name in zip((1e-3, 3e-3), members, strict=True):
        run_experiment(tiny_config(tmp_path, name=name, epochs=1, lr=lr))
    config = tiny_config(
        tmp_path, name="both", model="ensemble", model_kwargs={"members": members, "flip": True}
    )
    result = run_experiment(config)

    folder = tmp_path / "both"
    assert not (folder / "checkpoints").exists()  # no weights of its own
    assert pd.read_csv(folder / "history.csv").empty
    model, saved = load_model(folder)
    assert saved == config and isinstance(model, Ensemble) and model.flip
    by_hand = Ensemble([load_model(tmp_path / m)[0] for m in members], flip=True)
    expected = evaluate(by_hand, result.data, result.split, "test", name="both")
    pd.testing.assert_frame_equal(result.evaluation.per_image, expected.per_image)
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["epochs"] == 0 and metrics["images"] == len(result.split.test)

    run = next(r for r in report.load_runs(tmp_path) if r.name == "both")
    assert "mean of a + b and mirror images" in report.run_source(run)


@pytest.mark.parametrize(
    ("members", "message"),
    [
        (["missing"], "member 'missing' has no checkpoint"),
        (["other_seed"], r"differs in seed 0 vs 1"),  # trained on another split
        ([], "non-empty list of run names"),
    ],
)
def test_ensemble_refuses_missing_foreign_and_empty_members(tmp_path, members, message):
    run_experiment(tiny_config(tmp_path, name="other_seed", epochs=1, seed=1))
    config = tiny_config(tmp_path, name="ens", model="ensemble", model_kwargs={"members": members})
    with pytest.raises((CheckpointError, TypeError), match=message):
        run_experiment(config)
