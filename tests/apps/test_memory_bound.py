"""Memory of one colourisation: tiles bound the model's activations, and doctored model files
are refused before they allocate anything."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import SHARED_DATASETS  # pytest puts tests/ on sys.path
from PIL import Image
from safetensors import safe_open
from safetensors.torch import save_file

from colorize_core.apps import photo, tiles
from colorize_core.data.color import uint8_to_lab
from colorize_core.training.checkpoint import CheckpointError
from colorize_core.training.model_file import METADATA_KEY, read_model_file
from colorize_core.training.shipped import load_shipped, shipped_path

GB = 1 << 30


@pytest.mark.parametrize(
    ("height", "width", "max_pixels"),
    [(64, 65536, 62310), (65536, 64, 62310), (2048, 2048, 62310), (64, 200, 4096), (8, 8, 64)],
)
def test_tiles_cover_the_input_in_multiples_of_8_within_the_budget(height, width, max_pixels):
    covered = torch.zeros(height, width, dtype=torch.int32)
    spans = list(tiles.tiles(height, width, max_pixels))
    for rows, columns in spans:
        h, w = rows.stop - rows.start, columns.stop - columns.start
        assert h * w <= max(max_pixels, (2 * tiles.OVERLAP + 8) ** 2)
        assert rows.start % 8 == columns.start % 8 == h % 8 == w % 8 == 0
        covered[rows, columns] += 1
    assert covered.min() >= 1
    if height * width > max_pixels:
        assert len(spans) > 1 and covered.max() >= 2  # neighbours overlap, to blend seams


def test_an_input_that_fits_runs_in_one_piece_exactly_as_before():
    model, _ = load_shipped("faces")
    lightness = torch.rand(1, 1, 64, 96) * 100
    whole = tiles.predict_ab_tiled(model, lightness)
    assert torch.equal(whole, tiles.predict_ab(model, lightness))


def test_tiles_blend_into_nearly_the_whole_image_prediction():
    model, _ = load_shipped("scenes")
    photos = sorted((SHARED_DATASETS / "landscapes" / "images").rglob("*.jpg"))[:6]
    rgb = np.concatenate([np.asarray(Image.open(p).convert("RGB"))[:144] for p in photos], 1)
    lightness = uint8_to_lab(photo._resize(rgb, 256, 1536))[None, :1]  # six real scenes in a row
    whole = tiles.predict_ab(model, lightness)
    tiled = tiles.predict_ab_tiled(model, lightness, max_pixels=128 * 128)
    # colour is smooth: across the seams the blend stays within a few ab units of the whole pass
    assert (tiled - whole).abs().mean() < 1.5
    assert (tiled - whole).abs().quantile(0.99) < 8


def test_a_thin_strip_never_asks_the_model_for_more_than_the_budget(monkeypatch):
    model, config = load_shipped("scenes")
    seen = []

    def fake_predict(model, lightness, device="cpu"):
        seen.append(lightness.shape[-2] * lightness.shape[-1])
        return torch.zeros(1, 2, *lightness.shape[-2:])

    monkeypatch.setattr(tiles, "predict_ab", fake_predict)
    for shape in ((64, 65536), (65536, 64)):
        photo.colorize_rgb(model, np.full((*shape, 3), 128, np.uint8), 128)
    # the 64 x 65536 strip is as many model pixels (16 GB of activations in one pass)
    assert sum(seen) >= 2 * 64 * 65536
    assert max(seen) * tiles.activation_bytes(model) <= tiles.MODEL_MEMORY


def test_no_tile_of_a_big_photo_is_decoded_as_a_small_photo(monkeypatch):
    model, _ = load_shipped("general")
    model = model.at_temperature(0.25, None, 0.0, 80, 1.0)  # photos below 80 px: decoded apart
    seen = []

    def fake_predict(model, lightness, device="cpu"):
        seen.append(min(lightness.shape[-2:]))
        return torch.zeros(1, 2, *lightness.shape[-2:])

    monkeypatch.setattr(tiles, "predict_ab", fake_predict)
    tiles.predict_ab_tiled(model, torch.rand(1, 1, 96, 400) * 100, max_pixels=72 * 72)
    assert len(seen) > 1 and min(seen) >= 80


# VmHWM, the peak RSS of this process's own memory (ru_maxrss keeps the parent's across exec)
PEAK = """
import re, sys
from pathlib import Path
from colorize_core.apps import cli
status = cli.main(sys.argv[1:])
print(status, int(re.search(r"VmHWM:\\s+(\\d+)", Path("/proc/self/status").read_text())[1]) * 1024)
"""


def test_a_tiny_png_of_8_by_4096_pixels_colourises_in_bounded_memory(tmp_path):
    Image.fromarray(np.full((8, 4096), 128, np.uint8)).save(tmp_path / "strip.png")
    done = subprocess.run(
        [sys.executable, "-c", PEAK, str(tmp_path / "strip.png"), "-o", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=600, check=True,
    )  # fmt: skip
    status, peak = map(int, done.stdout.split()[-2:])
    assert status == 0 and Image.open(tmp_path / "out" / "strip.png").size == (4096, 8)
    # one pass would hold 64 x 32768 model pixels of scenes' activations: about 8 GB
    assert peak < 2 * GB, f"peak RSS {peak / GB:.2f} GB"


def _doctored_model_file(path, **model_changes):
    """A copy of the shipped faces model whose config says ``model_changes``."""
    source = shipped_path("faces")
    with safe_open(source, framework="pt") as handle:
        header = json.loads(handle.metadata()[METADATA_KEY])
        state = {name: handle.get_tensor(name) for name in handle.keys()}
    header["config"]["model"].update(model_changes)
    save_file(state, str(path), {METADATA_KEY: json.dumps(header)})
    return path


DOCTORED = """
import re, sys
from pathlib import Path
from colorize_core.training.model_file import read_model_file
try:
    read_model_file(sys.argv[1])
except Exception as error:
    peak = re.search(r"VmHWM:\\s+(\\d+)", Path("/proc/self/status").read_text())[1]
    print(type(error).__name__, int(peak) * 1024)
"""


def test_a_model_file_claiming_a_huge_width_is_refused_before_it_allocates(tmp_path):
    path = _doctored_model_file(tmp_path / "wide.safetensors", model_kwargs={"base": 768})
    with pytest.raises(CheckpointError, match="do not fit its config"):
        read_model_file(path)
    done = subprocess.run(
        [sys.executable, "-c", DOCTORED, str(path)], capture_output=True, text=True, check=True
    )
    name, peak = done.stdout.split()
    assert name == "CheckpointError" and int(peak) < 1.5 * GB, f"peak RSS {int(peak) / GB:.2f} GB"
