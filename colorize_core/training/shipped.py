"""The models that ship inside the package, so that colourising needs no training first.

Each is a float16 safetensors model file (``model_file.py``) in ``shipped/`` beside this module,
with a model card beside it (``<name>.md``: data, size, training command and commit, test
metrics, limits, the data's licence). Its SHA-256 is recorded here and checked before the file
is read: a damaged or replaced file is refused rather than silently giving other colours.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from torch import nn

from colorize_core.training.config import ExperimentConfig
from colorize_core.training.model_file import read_model_file


@dataclass(frozen=True)
class ShippedModel:
    """One shipped model: its file in ``training/shipped/`` and the file's SHA-256."""

    name: str
    file: str
    sha256: str
    summary: str  # one line for --help and the web page


SHIPPED: dict[str, ShippedModel] = {  # the first is the default, and the web page's first choice
    model.name: model
    for model in (
        ShippedModel(
            name="general",
            file="general.safetensors",
            sha256="c3a3c5829f84de6de1be7a18572bc7a3a659250102123ec244351711a0629e5e",
            summary="any photo: people, animals, objects, rooms, streets and landscapes",
        ),
        ShippedModel(
            name="scenes",
            file="scenes.safetensors",
            sha256="e8facbbe88d42033b8f500a2c795884d6957e7e20bdbf66607a136628bd0f15d",
            summary="outdoor scenes (landscapes: sky, water, grass, mountains, streets)",
        ),
        ShippedModel(
            name="faces",
            file="faces.safetensors",
            sha256="8592e56cd3700d0835f8fa5391a4fffd7ffa3c376f1018b2eb6e05201fbae53b",
            summary="portraits and faces in everyday photos",
        ),
    )
}
SHIPPED_NAMES = tuple(SHIPPED)
# general beats the gray photo on every kind of photo in ../shared (tests/integration/
# test_do_no_harm.py); the specialists are one flag away
DEFAULT_MODEL = "general"


def shipped_path(name: str) -> Path:
    """The installed file of shipped model ``name``."""
    if name not in SHIPPED:
        raise KeyError(f"no shipped model {name!r}; choose one of {', '.join(SHIPPED_NAMES)}")
    return Path(str(resources.files("colorize_core.training") / "shipped" / SHIPPED[name].file))


def model_card(name: str) -> str:
    """The Markdown model card of shipped model ``name``."""
    return shipped_path(name).with_suffix(".md").read_text()


def load_shipped(name: str) -> tuple[nn.Module, ExperimentConfig]:
    """Shipped model ``name`` in eval mode, after checking its SHA-256, and its config."""
    return read_model_file(shipped_path(name), SHIPPED[name].sha256)
