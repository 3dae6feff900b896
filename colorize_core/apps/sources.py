"""Which model colourises, and from where: a run folder, a checkpoint file or a model file of
your own (``load_colorizer``), else a model shipped with the package (``pick_colorizer``); for the
web page, the models it offers by name, each loaded on first use (``model_choices``).

Whatever is wrong with a source of your own, the user gets one line naming it (a
``CheckpointError``), never a traceback.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import torch

from colorize_core.apps.photo import training_size
from colorize_core.data.errors import one_line
from colorize_core.training.checkpoint import CheckpointError
from colorize_core.training.config import ExperimentConfig
from colorize_core.training.loading import load_model
from colorize_core.training.model_file import SUFFIX as MODEL_FILE_SUFFIX
from colorize_core.training.model_file import read_model_file
from colorize_core.training.shipped import DEFAULT_MODEL, SHIPPED_NAMES, load_shipped

Loader = Callable[[], tuple[torch.nn.Module, ExperimentConfig]]  # a model and its config

MESSAGE_WIDTH = 240  # characters of a one-line error; load_state_dict's run to a hundred lines

# What a damaged or doctored checkpoint raises on its way through ``loading.load_model``:
# OSError (an unreadable config.json), ValueError (bad JSON, impossible config values),
# TypeError (wrong types, unknown model arguments), LookupError (missing keys, unknown model),
# AttributeError (a config that is not a dict), RuntimeError (weights that do not fit the model).
UNUSABLE_CHECKPOINT = (OSError, ValueError, TypeError, LookupError, AttributeError, RuntimeError)


def load_colorizer(source: str | Path) -> tuple[torch.nn.Module, ExperimentConfig]:
    """``loading.load_model`` (a run folder or a checkpoint file) or ``model_file`` (a
    ``.safetensors`` model file), and a check of the training size in its config, where every
    failure is a one-line ``CheckpointError`` naming ``source``.

    A damaged or doctored checkpoint of ours can lack keys, hold impossible config values, name
    an unknown model or carry weights that do not fit it (``UNUSABLE_CHECKPOINT``); whichever
    the user needs "not a usable checkpoint", not a traceback.
    """
    try:
        if Path(source).suffix == MODEL_FILE_SUFFIX:
            model, config = read_model_file(source)
        else:
            model, config = load_model(source)
        training_size(config)
    except CheckpointError:
        raise
    except UNUSABLE_CHECKPOINT as error:
        raise CheckpointError(
            f"{source} is not a usable colorize checkpoint ({one_line(error, MESSAGE_WIDTH)}); "
            "pass a run folder or a file written by colorize_core training"
        ) from error
    return model, config


def pick_colorizer(
    checkpoint: str | Path | None = None, model: str | None = None
) -> tuple[torch.nn.Module, ExperimentConfig]:
    """The model of ``checkpoint`` (run folder, checkpoint or model file), else the shipped
    model ``model`` (default ``shipped.DEFAULT_MODEL``); not both."""
    if checkpoint is not None and model is not None:
        raise ValueError("give a checkpoint or a shipped model name, not both")
    if checkpoint is not None:
        return load_colorizer(checkpoint)
    return load_shipped(model or DEFAULT_MODEL)


def shipped_loaders() -> dict[str, Loader]:
    """The shipped models by name, loaded lazily."""
    return {name: functools.partial(load_shipped, name) for name in SHIPPED_NAMES}


def checkpoint_name(path: Path) -> str:
    """A run folder's name; for a checkpoint file, its run folder's name and its own."""
    path = path.resolve()
    if path.is_dir():
        return path.name
    folder = path.parent.parent if path.parent.name == "checkpoints" else path.parent
    return f"{folder.name}/{path.name}"


def model_choices(checkpoints: list[str]) -> dict[str, Loader]:
    """The checkpoints given (``load_colorizer``, lazily), then the shipped models, by name."""
    loaders: dict[str, Loader] = {}
    for source in map(Path, checkpoints):
        name = checkpoint_name(source)
        name = name if name not in loaders else str(source)
        loaders[name] = functools.partial(load_colorizer, source)
    for name, loader in shipped_loaders().items():
        loaders.setdefault(name, loader)
    return loaders
