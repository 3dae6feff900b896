"""Checkpoints: plain tensors and numbers only, so they load with ``torch.load(weights_only=True)``.

A checkpoint holds everything a run needs to continue exactly where it stopped: module and
optimiser states, scheduler, epoch, RNG states, history, and the full resolved config (so a
checkpoint alone says what it is). Files that are not ours get a clear ``CheckpointError``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import torch

from colorize_core.data import atomic
from colorize_core.data.atomic import written_atomically
from colorize_core.training.config import DECODING_SETTINGS, ExperimentConfig

FORMAT = "colorize-checkpoint"
VERSION = 1

log = logging.getLogger(__name__)


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


# ---------------------------------------------------------------- a training run's state


def training_state(
    config: ExperimentConfig,
    epoch: int,
    task: Any,
    schedulers: dict[str, Any],
    generator: torch.Generator,
    history: list[dict],
    best: tuple[float, int],
) -> dict[str, Any]:
    """What a checkpoint of a run after ``epoch`` holds: ``task``'s modules and optimisers, the
    schedulers, the RNG states, the history and the best (validation loss, epoch) so far."""
    return {
        "config": config.to_dict(),
        "epoch": epoch,
        "modules": {k: m.state_dict() for k, m in task.modules.items()},
        "optimizers": {k: o.state_dict() for k, o in task.optimizers.items()},
        "schedulers": {k: s.state_dict() for k, s in schedulers.items() if s is not None},
        "rng": rng_state(generator),
        "history": history,
        "best_loss": best[0],
        "best_epoch": best[1],
    }


def restore(
    state: dict[str, Any], task: Any, schedulers: dict[str, Any], generator: torch.Generator
) -> None:
    """Put ``training_state``'s modules, optimisers, schedulers and RNG states back in place."""
    for name, module in task.modules.items():
        module.load_state_dict(state["modules"][name])
    for name, optimizer in task.optimizers.items():
        optimizer.load_state_dict(state["optimizers"][name])
        if schedulers[name] is not None:
            schedulers[name].load_state_dict(state["schedulers"][name])
    set_rng_state(state["rng"], generator)


def resumable_state(config: ExperimentConfig, writer: bool) -> dict[str, Any] | None:
    """The ``last.pt`` of ``config``'s run folder to resume from, or None when there is none.

    Refused (``CheckpointError``) when it was trained with other settings. The ``writer`` (rank
    0) also removes the temporary files a kill left and makes ``best.pt`` fit it (``check_best``).
    """
    checkpoints = config.run_dir / "checkpoints"
    if writer:
        remove_partials(config.run_dir)
    if not (checkpoints / "last.pt").is_file():
        return None
    state = load_checkpoint(checkpoints / "last.pt")
    changed = config_changes(ExperimentConfig.from_dict(state["config"]), config)
    if changed:
        raise CheckpointError(
            f"{config.name}: cannot resume, the run in {config.run_dir} was trained with other "
            f"settings ({'; '.join(changed)}); give this config a new name, or move that "
            "folder away to train it afresh"
        )
    if writer:
        check_best(checkpoints, state)
    return state


def rng_state(generator: torch.Generator) -> dict:
    state = {"torch": torch.get_rng_state(), "batches": generator.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict, generator: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    generator.set_state(state["batches"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def check_best(checkpoints: Path, last: dict) -> None:
    """Make sure ``best.pt`` fits the ``last.pt`` a run resumes from, or refuse to resume.

    A kill between the two writes of an epoch that improved leaves ``best.pt`` one epoch ahead
    of ``last.pt``: the run resumes from last.pt and redoes that epoch, which (deterministically)
    improves again and rewrites the same best.pt. Runs written before best.pt was saved first
    could be killed between the writes the other way round: last.pt then names its own epoch
    as the best while best.pt is older or missing, and last.pt itself is that best state, so it
    is copied to best.pt. Any other disagreement cannot be repaired.
    """
    best_file = checkpoints / "best.pt"
    best_epoch = last["best_epoch"]
    best = load_checkpoint(best_file) if best_file.is_file() else None
    if best is not None and best["epoch"] == best_epoch:
        return
    if last["epoch"] == best_epoch:
        log.warning(
            "%s is missing or stale; restoring it from last.pt (epoch %d)", best_file, best_epoch
        )
        save_checkpoint(best_file, last)
        return
    if best is not None and _one_epoch_ahead(best, last):
        log.info(
            "%s holds epoch %d, one ahead of last.pt: the run stopped between the two writes; "
            "epoch %d is trained again",
            best_file, best["epoch"], best["epoch"],
        )  # fmt: skip
        return
    raise CheckpointError(
        f"{best_file} does not hold the best epoch ({best_epoch}) that last.pt records, and it "
        f"cannot be rebuilt; move {checkpoints.parent} away and train it afresh"
    )


def _one_epoch_ahead(best: dict, last: dict) -> bool:
    """True when ``best`` is the epoch right after ``last`` of the same run: same config, and the
    history of ``last`` followed by one more epoch."""
    return (
        best["epoch"] == last["epoch"] + 1
        and best["config"] == last["config"]
        and best["history"][:-1] == last["history"]
    )


def remove_partials(run_dir: Path) -> None:
    """Delete the temporary files a killed writer left in the run folder and its checkpoints."""
    for folder in (run_dir, run_dir / "checkpoints"):
        for stale in sorted(folder.glob(f".*{atomic.PARTIAL_SUFFIX}")):
            log.info("removing %s, left by a write that was stopped", stale)
            stale.unlink(missing_ok=True)


# Settings that may differ when a run resumes: where things are, how they are logged, and how
# predictions are decoded.
RESUMABLE_CHANGES = {
    "output_dir",
    "data.data_path",
    "train.device",
    "train.wandb",
    *(f"model.{name}" for name in DECODING_SETTINGS),
}


def config_changes(saved: ExperimentConfig, config: ExperimentConfig) -> list[str]:
    """``"train.epochs 15 -> 10"`` for each setting a resumed run would silently change."""
    before, after = _flat(saved.to_dict()), _flat(config.to_dict())
    return [
        f"{key} {before.get(key)!r} -> {after.get(key)!r}"
        for key in sorted(set(before) | set(after))
        if key not in RESUMABLE_CHANGES and before.get(key) != after.get(key)
    ]


def _flat(values: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in values.items():
        if isinstance(value, dict) and key in ("data", "model", "train"):
            flat.update(_flat(value, f"{key}."))
        else:
            flat[prefix + key] = value
    return flat
