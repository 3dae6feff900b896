"""Run an experiment in this process, or data-parallel in several, from a notebook.

A notebook kernel cannot become several torchrun processes (and Accelerate's
``notebook_launcher`` is fragile under papermill), so with ``nproc > 1`` the run is handed to
``torchrun ... -m colorize_core.train_command`` in a subprocess, whose output is echoed here,
and the finished run folder is then read back with ``run_experiment(resume=True)``, which
trains nothing more and evaluates the kept model: the notebook gets the same ``RunResult``.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from colorize_core.runs.experiment import RunResult, run_experiment
from colorize_core.training.config import ExperimentConfig


def torchrun_command(config_file: Path, nproc: int, resume: bool = False) -> list[str]:
    """The torchrun command line that trains the run described in ``config_file`` on ``nproc``
    processes of this machine: continued with ``resume``, else trained afresh even where its
    folder holds a run already (``--overwrite``), as ``run_experiment`` does."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc_per_node", str(nproc), "-m", "colorize_core.runs.train_command"]
    return command + ["--config", str(config_file), "--resume" if resume else "--overwrite"]


def run(config: ExperimentConfig, *, resume: bool = False, nproc: int = 1) -> RunResult:
    """``run_experiment(config)`` with ``nproc`` data-parallel processes (1: in this one)."""
    if nproc < 1:
        raise ValueError(f"nproc must be at least 1, got {nproc}")
    if nproc == 1:
        return run_experiment(config, resume=resume)
    with tempfile.TemporaryDirectory(prefix="colorize-launch-") as folder:
        config_file = Path(folder) / "config.json"
        config.save(config_file)
        command = torchrun_command(config_file, nproc, resume)
        with subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        ) as process:
            for line in process.stdout:
                print(line, end="", flush=True)
        if process.returncode:
            raise RuntimeError(
                f"{config.name}: torchrun with {nproc} processes failed (exit status "
                f"{process.returncode}); its output is above"
            )
    return run_experiment(config, resume=True)
