"""Shared fixtures: the real datasets beside the checkout, and a per-session cache folder."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SHARED_DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"


@pytest.fixture(scope="session", autouse=True)
def _data_env(tmp_path_factory: pytest.TempPathFactory):
    """Point dataset resolution at ../shared/datasets and the tensor cache at a temp folder."""
    saved = {k: os.environ.get(k) for k in ("COLORIZE_DATA", "COLORIZE_CACHE")}
    os.environ.setdefault("COLORIZE_DATA", str(SHARED_DATASETS))
    os.environ["COLORIZE_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def face_files() -> list[Path]:
    files = sorted((SHARED_DATASETS / "faces" / "images").glob("*.jpg"))
    assert len(files) == 750, f"expected the 750 faces in {SHARED_DATASETS}"
    return files


@pytest.fixture(scope="session")
def face_rgb(face_files) -> np.ndarray:
    """Eight real faces as (8, 128, 128, 3) uint8."""
    return np.stack([np.asarray(Image.open(f).convert("RGB")) for f in face_files[:8]])
