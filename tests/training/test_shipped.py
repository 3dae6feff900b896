"""The models shipped inside the package: present, small, pinned by hash, documented, usable with
no training (command line, notebook) and exportable to ONNX with the same colours."""

import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from colorize_core.apps import export, photo_notebook
from colorize_core.data.color import rgb_to_lab
from colorize_core.data.datasets import resolve_dataset
from colorize_core.training import shipped
from colorize_core.training.model_file import file_sha256

MAX_BYTES = 5_000_000  # the cap per shipped file
ONNX_AB = 0.5  # the bound on |ab difference| between ONNX and PyTorch, Lab units


@pytest.mark.parametrize("name", shipped.SHIPPED_NAMES)
def test_each_shipped_model_is_small_pinned_and_has_a_card(name):
    path = shipped.shipped_path(name)
    assert path.stat().st_size < MAX_BYTES
    assert file_sha256(path) == shipped.SHIPPED[name].sha256
    model, config = shipped.load_shipped(name)
    assert not model.training
    card = shipped.model_card(name)
    for section in ("## Data", "## Training", "## Test metrics", "## Limits"):
        assert section in card
    assert shipped.SHIPPED[name].sha256 in card and "gray baseline" in card


def real_photos() -> list[np.ndarray]:
    """A few real photos at their own sizes: scenes (150 px) and in-the-wild faces (128 px)."""
    files = sorted(resolve_dataset("landscapes").glob("*.jpg"))[:3]
    files += sorted(resolve_dataset("faces_wild").glob("*.jpg"))[:3]
    return [np.asarray(Image.open(f).convert("RGB")) for f in files]


@pytest.mark.parametrize("name", shipped.SHIPPED_NAMES)
def test_onnx_export_of_each_shipped_model_matches_pytorch_on_real_photos(name, tmp_path):
    model, _ = shipped.load_shipped(name)
    path = export.export_onnx(model, tmp_path / f"{name}.onnx", source=name)
    for rgb in real_photos():
        lab = rgb_to_lab(torch.from_numpy(rgb.copy()).permute(2, 0, 1).float() / 255)
        assert export.onnx_parity(model, path, lab[None, :1]) < ONNX_AB


def test_colorize_works_out_of_the_box_with_the_default_and_each_model(tmp_path):
    rgb = real_photos()[0]
    Image.fromarray(rgb).save(tmp_path / "photo.png")
    command = [sys.executable, "-m", "colorize_core.apps.cli", str(tmp_path / "photo.png")]
    for extra, folder in (([], "default"), *((["--model", n], n) for n in shipped.SHIPPED_NAMES)):
        done = subprocess.run([*command, "-o", str(tmp_path / folder), *extra], capture_output=True)
        assert done.returncode == 0, done.stderr
        out = np.asarray(Image.open(tmp_path / folder / "photo.png").convert("RGB"))
        assert out.shape == rgb.shape and not np.array_equal(out[..., 0], out[..., 1])
    default, general = (Image.open(tmp_path / f / "photo.png") for f in ("default", "general"))
    assert shipped.DEFAULT_MODEL == "general" and np.array_equal(default, general)


def test_photo_notebook_falls_back_to_the_shipped_models(tmp_path):
    models = photo_notebook.notebook_models(None, tmp_path)  # an empty results folder
    assert list(models) == [f"shipped/{name}" for name in shipped.SHIPPED_NAMES]
