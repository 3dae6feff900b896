"""Shared paths and fixtures: small synthetic photos for unit tests, the real data sets beside the
checkout for integration tests, and a per-session cache folder.

Unit tests take ``synthetic_rgb`` (or ``synthetic_photos``) and never read ``../shared``; only
integration tests request ``face_files`` or ``face_rgb``. ``COLORIZE_TEST_SHARED=DIR`` stands
``DIR`` in for ``../shared`` (an empty folder shows which tests need the real data).

Test modules in any folder import the paths from here: ``from conftest import REPO`` (pytest's
default "prepend" import mode puts this folder on ``sys.path``). Keep this the only conftest.py:
pytest imports every conftest.py as the module ``conftest``, so a second one would take its place.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]  # the checkout: colorize_core/, notebooks/, reports/
SHARED = Path(os.environ.get("COLORIZE_TEST_SHARED") or REPO.parent / "shared").resolve()
SHARED_DATASETS = SHARED / "datasets"


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


# ---------------------------------------------------------------- synthetic photos (unit tests)


def synthetic_photos(count: int, size: int = 128, seed: int = 0) -> np.ndarray:
    """``count`` seeded colourful pictures, (count, size, size, 3) uint8, standing in for photos:
    a smooth colour gradient, soft blobs of other hues (saturated to near gray, dark to light)
    and a little pixel noise, so that they hold edges, flat areas and much of the sRGB gamut."""
    rng = np.random.default_rng(seed)
    y, x = (grid[..., np.newaxis] / size for grid in np.mgrid[0:size, 0:size])
    pictures = []
    for _ in range(count):
        slopes, base = rng.uniform(-120, 120, (2, 3)), rng.uniform(40, 215, 3)
        rgb = base + x * slopes[0] + y * slopes[1]
        for _ in range(rng.integers(3, 7)):
            (cy, cx), radius = rng.uniform(0, 1, 2), rng.uniform(0.06, 0.3)
            blob = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * radius**2))
            rgb = rgb * (1 - blob) + rng.uniform(0, 255, 3) * blob
        rgb += rng.normal(0, 5, rgb.shape)
        pictures.append(np.clip(rgb, 0, 255).round().astype(np.uint8))
    return np.stack(pictures)


@pytest.fixture(scope="session")
def synthetic_rgb() -> np.ndarray:
    """Eight synthetic photos as (8, 128, 128, 3) uint8: ``face_rgb``'s shape, no files read."""
    return synthetic_photos(8)


# ---------------------------------------------------------------- the real data (integration)


@pytest.fixture(scope="session")
def face_files() -> list[Path]:
    files = sorted((SHARED_DATASETS / "faces" / "images").glob("*.jpg"))
    assert len(files) == 750, f"expected the 750 faces in {SHARED_DATASETS}"
    return files


@pytest.fixture(scope="session")
def face_rgb(face_files) -> np.ndarray:
    """Eight real faces as (8, 128, 128, 3) uint8."""
    return np.stack([np.asarray(Image.open(f).convert("RGB")) for f in face_files[:8]])
