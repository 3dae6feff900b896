"""Optional Weights & Biases logging, as a training callback. Off unless the user opts in.

``off`` imports nothing; ``offline`` writes a local run folder under ``<run_dir>/wandb`` that
``wandb sync`` uploads later; ``online`` logs live and needs ``wandb login``. No account is ever
needed for off or offline.
"""

from __future__ import annotations

import os
from pathlib import Path

from colorize_core.training.config import ExperimentConfig


class WandbLogger:
    """Call with each epoch's history row; ``close()`` finishes the run."""

    def __init__(self, config: ExperimentConfig, enabled: bool = True) -> None:
        """``enabled=False`` (a rank other than 0 under torchrun) logs nothing, as ``off``."""
        self.run = None
        if config.train.wandb == "off" or not enabled:
            return
        import wandb  # only when asked for: it is slow to import

        os.environ.setdefault("WANDB_SILENT", "true")
        directory = Path(config.run_dir)
        directory.mkdir(parents=True, exist_ok=True)
        self.run = wandb.init(
            project="colorize",
            name=config.name,
            dir=str(directory),
            mode=config.train.wandb,
            config=config.to_dict(),
            reinit="finish_previous",
        )

    def __call__(self, row: dict, task=None) -> None:
        if self.run is not None:
            self.run.log({k: v for k, v in row.items() if k != "epoch"}, step=int(row["epoch"]))

    def log_summary(self, values: dict) -> None:
        if self.run is not None:
            self.run.summary.update(values)

    def close(self) -> None:
        if self.run is not None:
            self.run.finish()
            self.run = None

    @property
    def directory(self) -> Path | None:
        """The local run folder (what ``wandb sync`` takes), once a run was started."""
        return Path(self.run.dir).parent if self.run is not None else None
