"""Checkpoints: plain tensors and numbers only, so they load with ``torch.load(weights_only=True)``.

A checkpoint holds everything a run needs to continue exactly where it stopped: module and
optimiser states, scheduler, epoch, RNG states, history, and the full resolved config (so a
checkpoint alone says what it is). Files that are not ours get a clear ``CheckpointError``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from colorize_core.data.atomic import written_atomically

FORMAT = "colorize-checkpoint"
VERSION = 1


class CheckpointError(RuntimeError):
    """A file that cannot be used as a colorize checkpoint; the message says why."""


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Write ``state`` (tensors, numbers, strings, lists, dicts) atomically to ``path``."""
    with written_atomically(Path(path)) as partial:
        torch.save({"format": FORMAT, "version": VERSION, **state}, partial)


def best_checkpoint(source: str | os.PathLike) -> Path:
    """A run folder's best checkpoint (``checkpoints/best.pt``), or ``source`` itself."""
    source = Path(source)
    return source / "checkpoints" / "best.pt" if source.is_dir() else source


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load a checkpoint on the CPU with ``weights_only=True`` and check that it is one of ours."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch.load raises many types on foreign bytes; all mean the same
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CheckpointError(
            f"{path} is not a readable checkpoint: corrupt, truncated, not a PyTorch file, or "
            f"holding objects that weights_only loading refuses ({reason})"
        ) from e
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is a PyTorch file but not a colorize checkpoint (no '{FORMAT}' marker); "
            "pass a file written by colorize_core training, or a run folder"
        )
    if state.get("version") != VERSION:
        raise CheckpointError(
            f"{path} is checkpoint format version {state.get('version')}; this code reads {VERSION}"
        )
    return state
