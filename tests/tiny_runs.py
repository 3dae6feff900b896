"""The tiny training run that tests in several folders (training, models) build on."""

from __future__ import annotations

from colorize_core.training.config import ExperimentConfig

# conv_ae at a quarter of its width: the same code paths as the full model, a fraction of the time
TINY = {
    "dataset": "faces",
    "image_size": 32,
    "limit": 40,
    "batch_size": 8,
    "lr": 1e-3,
    "model_kwargs": {"base": 16},
}


def tiny_config(tmp_path, **overrides) -> ExperimentConfig:
    params = {"name": "tiny", "output_dir": str(tmp_path), "epochs": 3, **TINY, **overrides}
    return ExperimentConfig.from_params(**params)
