"""A trained model in one portable file: safetensors weights plus the run's config.

Checkpoints (``checkpoint.py``) hold everything needed to resume training and load through
``torch.load``. A model file holds only what colourising needs: the weights, in float16 by
default (half the size, and no visible change in ab), and the resolved config in the
safetensors metadata, so the file alone says which architecture, head and temperature it is.
Loading never unpickles anything (safetensors stores raw tensors and a JSON header), and a
file whose metadata lacks our format marker is refused, as foreign checkpoints are.

``sha256`` lets a caller pin the exact bytes: the shipped models (``shipped.py``) are checked
against the hash recorded beside them before they are read.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from colorize_core.data.atomic import written_atomically
from colorize_core.training.checkpoint import CheckpointError
from colorize_core.training.config import ExperimentConfig
from colorize_core.training.loading import build_for_weights

FORMAT = "colorize-model"
VERSION = "1"
METADATA_KEY = "colorize"  # the safetensors metadata entry holding our JSON header
SUFFIX = ".safetensors"
_CHUNK = 1 << 20


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def write_model_file(
    model: nn.Module,
    config: ExperimentConfig,
    path: str | os.PathLike,
    *,
    dtype: torch.dtype = torch.float16,
    notes: dict[str, str] | None = None,
) -> str:
    """Write ``model``'s weights (floating point ones cast to ``dtype``) and ``config`` to
    ``path`` atomically; ``notes`` add string metadata (e.g. the source run's commit).
    Returns the file's SHA-256."""
    path = Path(path)
    if path.suffix != SUFFIX:
        raise ValueError(f"{path}: a model file ends in {SUFFIX}")
    state = {
        name: (tensor.detach().to(dtype) if tensor.is_floating_point() else tensor.detach())
        .cpu()
        .contiguous()
        for name, tensor in model.state_dict().items()
    }
    header = {**(notes or {}), "format": FORMAT, "version": VERSION, "config": config.to_dict()}
    # one metadata key: safetensors writes several in a random order, and the same model must
    # always give the same bytes (and SHA-256)
    metadata = {METADATA_KEY: json.dumps(header, sort_keys=True)}
    with written_atomically(path) as partial:
        try:
            save_file(state, str(partial), metadata)
        except SafetensorError as error:  # a full disk comes as text only: "(os error 28)"
            if f"(os error {errno.ENOSPC})" in str(error):
                raise OSError(errno.ENOSPC, str(error)) from error
            raise
    return file_sha256(path)


def read_metadata(path: str | os.PathLike) -> dict:
    """The header of a model file of ours (format, version, config, notes);
    ``CheckpointError`` for anything else."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such model file")
    try:
        with safe_open(path, framework="pt") as handle:
            metadata = handle.metadata() or {}
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(
            f"{path} is not a readable safetensors file: corrupt, truncated or another format "
            f"({error})"
        ) from error
    try:
        header = json.loads(metadata[METADATA_KEY])
    except (KeyError, ValueError):
        header = {}
    if not isinstance(header, dict) or header.get("format") != FORMAT or "config" not in header:
        raise CheckpointError(
            f"{path} is a safetensors file but not a colorize model (no '{FORMAT}' marker); "
            "write one with `colorize export RUN -o model.safetensors`"
        )
    if header.get("version") != VERSION:
        raise CheckpointError(
            f"{path} is model file version {header.get('version')}; this code reads {VERSION}"
        )
    return header


def read_model_file(
    path: str | os.PathLike, sha256: str | None = None
) -> tuple[nn.Module, ExperimentConfig]:
    """The float32 model in eval mode and its config. With ``sha256``, the file's bytes must
    have that hash (checked first, so a replaced file is never parsed)."""
    path = Path(path)
    if sha256 is not None and path.is_file() and (actual := file_sha256(path)) != sha256:
        raise CheckpointError(
            f"{path} has SHA-256 {actual}, expected {sha256}: the file is damaged or was "
            "replaced; reinstall the package (pip install --force-reinstall) or restore it"
        )
    header = read_metadata(path)
    try:
        config = ExperimentConfig.from_dict(header["config"])
        with safe_open(path, framework="pt") as handle:
            shapes = {name: handle.get_slice(name).get_shape() for name in handle.keys()}
            model = build_for_weights(config.model, shapes, path)
            state = {name: handle.get_tensor(name) for name in handle.keys()}
        model.load_state_dict(
            {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
        )
    except (ValueError, TypeError, LookupError, RuntimeError, SafetensorError) as error:
        raise CheckpointError(f"{path}: its weights do not fit its config ({error})") from error
    return model.eval(), config
