"""One photo in, one photo out, at full resolution (``colorize_rgb``, ``colorize_image``), and the
comparison images shown beside it (``compare_image``).

The approach of Zhang et al. 2016, "Colorful Image Colorization":

1. The model runs on a resized copy. Its shorter side is ``size``: by default the training size
   from the checkpoint's config (``training_size``), else ``DEFAULT_SIZE``. A smaller photo is
   not enlarged (the model would see blur it never trained on); it runs at its own size, and a
   general model decodes it with its small-photo setting. The longer side is
   scaled by the same factor and rounded to a multiple of ``SIZE_MULTIPLE``, because the models
   halve the resolution up to three times. The models are fully convolutional, so they take any
   such shape. Keeping the aspect ratio keeps objects at the proportions the model was trained
   on. Squashing to a square would stretch faces and horizons, and the model would colour shapes
   it has never seen. The model input is capped at ``MODEL_PIXEL_CAP`` pixels (only extreme
   panoramas reach it; they are scaled down further, aspect kept), and a model input too big for
   one forward pass runs in tiles (``tiles.predict_ab_tiled``).
2. The predicted ab is upsampled bilinearly to the full resolution and joined with the photo's
   own L, computed at full resolution. Every detail of the input survives; only the chroma is
   coarse, which the eye hardly sees. Where the predicted colour does not exist in sRGB at that
   lightness, its chroma is reduced (hue kept) until it does, rather than clipping RGB, which
   would change L (``color.lab_to_rgb_keeping_l``). The output's L therefore equals the input's
   up to 8-bit rounding.
3. Memory: step 2 (Lab conversion, ab upsampling, RGB rebuild) runs in horizontal strips of about
   ``STRIP_PIXELS`` pixels. The float working set (about 100 MB) therefore does not grow with the
   photo's size. Only the uint8 input and output grow, at 3 bytes per pixel each.

A photo that is already in colour (``is_colour``) is used only for its lightness.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from colorize_core.apps.tiles import predict_ab_tiled
from colorize_core.data import images
from colorize_core.data.color import (
    SIZE_MULTIPLE,
    gray,
    join_lab,
    lab_to_rgb_keeping_l,
    rgb_to_uint8,
    uint8_to_lab,
)
from colorize_core.data.datasets import DATASETS
from colorize_core.training.config import ExperimentConfig
from colorize_core.training.device import pick_device

DEFAULT_SIZE = 128  # model input (shorter side) when a checkpoint's config does not say
MODEL_PIXEL_CAP = 2048 * 2048  # largest model input; bounds the activations for panoramas
STRIP_PIXELS = 1 << 20  # pixels per strip of the full-resolution rebuild (~100 MB of floats)
COLOURNESS_SAMPLE = 1 << 22  # at most this many pixels are looked at to decide "already colour"
COMPARE_MAX_HEIGHT = 1024  # panels of comparison images and figures are shrunk to this height
COMPARE_GAP = 4  # white pixels between panels of a comparison image

ALREADY_COLOUR = "already in colour: using only its lightness"


# ---------------------------------------------------------------- sizes


def check_size(size: int, what: str = "size") -> int:
    """``size`` itself; ValueError unless it is a positive multiple of ``SIZE_MULTIPLE``."""
    if size < SIZE_MULTIPLE or size % SIZE_MULTIPLE:
        raise ValueError(f"{what} must be a positive multiple of {SIZE_MULTIPLE}, got {size}")
    return size


def training_size(config: ExperimentConfig) -> int:
    """The square size a run was trained at: data.image_size, else its dataset's, else
    ``DEFAULT_SIZE``.

    Raises ValueError when that is not a positive multiple of 8 (a doctored config).
    """
    size = config.data.image_size
    if size is None:
        spec = DATASETS.get(config.data.dataset)
        size = spec.image_size if spec else DEFAULT_SIZE
    return check_size(size, "training image_size")


def model_shape(height: int, width: int, size: int) -> tuple[int, int]:
    """(h, w) the model runs at: shorter side ``size``, or the photo's own where it is smaller
    (never enlarged), aspect kept, both multiples of 8.

    Raises ValueError unless ``size`` is a positive multiple of 8 (``check_size``): this is the
    one check of the size below the command line, on every path to the model.
    """
    # An enlarged photo is a blurred one, which the model never saw: on CIFAR-10's 32 px
    # thumbnails, enlarged to 64 px, the general model was 2.3 ΔE2000 worse than gray (0.6 at
    # their own size; lab book).
    scale = min(1.0, check_size(size) / min(height, width))
    h, w = (
        max(SIZE_MULTIPLE, round(s * scale / SIZE_MULTIPLE) * SIZE_MULTIPLE)
        for s in (height, width)
    )
    if h * w > MODEL_PIXEL_CAP:
        shrink = math.sqrt(MODEL_PIXEL_CAP / (h * w))
        h, w = (
            max(SIZE_MULTIPLE, int(s * shrink) // SIZE_MULTIPLE * SIZE_MULTIPLE) for s in (h, w)
        )
    return h, w


# ---------------------------------------------------------------- one photo


def _ab_rows(ab: torch.Tensor, out_rows: int, start: int, stop: int) -> torch.Tensor:
    """Rows start:stop of ``ab`` (C, h, W) resized to ``out_rows`` rows, bilinearly.

    The same numbers as ``F.interpolate(mode="bilinear", align_corners=False)`` on the whole
    image, for one strip only: source row (y + 0.5) * h / out_rows - 0.5, clamped at the edges.
    """
    in_rows = ab.shape[1]
    y = (torch.arange(start, stop, device=ab.device) + 0.5) * (in_rows / out_rows) - 0.5
    y = y.clamp(min=0)
    top = y.floor().long().clamp(max=in_rows - 1)
    bottom = (top + 1).clamp(max=in_rows - 1)
    weight = (y - top).to(ab.dtype).view(1, -1, 1)
    return ab[:, top] * (1 - weight) + ab[:, bottom] * weight


def _resize(rgb: np.ndarray, height: int, width: int) -> np.ndarray:
    if rgb.shape[:2] == (height, width):
        return rgb
    return np.asarray(Image.fromarray(rgb).resize((width, height), Image.Resampling.BICUBIC))


@torch.inference_mode()
def colorize_rgb(
    model: torch.nn.Module,
    rgb: np.ndarray,
    size: int = DEFAULT_SIZE,
    device: torch.device | str = "cpu",
) -> np.ndarray:
    """(H, W, 3) uint8 sRGB -> (H, W, 3) uint8: the input's own L with the model's ab.

    The model sees the photo at ``model_shape(H, W, size)``; its ab (Lab units) is upsampled
    bilinearly to H x W and joined with L computed from ``rgb`` at full resolution, strip by strip
    (``STRIP_PIXELS``), so memory stays bounded for any photo size.
    """
    device = pick_device(device)
    height, width = rgb.shape[:2]
    h, w = model_shape(height, width, size)
    lightness = uint8_to_lab(_resize(rgb, h, w))[None, :1]  # (1, 1, h, w)
    ab = predict_ab_tiled(model, lightness, device)[0].to(device)  # (2, h, w), Lab units
    ab = F.interpolate(ab[None], size=(h, width), mode="bilinear", align_corners=False)[0]

    out = np.empty_like(rgb)
    rows = max(1, STRIP_PIXELS // width)
    for start in range(0, height, rows):
        stop = min(start + rows, height)
        strip_l = uint8_to_lab(rgb[start:stop], device)[:1]  # (1, rows, W)
        strip_ab = _ab_rows(ab, height, start, stop)  # (2, rows, W)
        out[start:stop] = rgb_to_uint8(lab_to_rgb_keeping_l(join_lab(strip_l, strip_ab)))
    return out


def colorize_image(
    model: torch.nn.Module,
    image: str | Path | images.Decoded | np.ndarray,
    size: int = DEFAULT_SIZE,
    device: torch.device | str = "cpu",
) -> tuple[np.ndarray, np.ndarray | None]:
    """Colourise one photo: a file, a ``Decoded``, or a uint8 array (H, W), (H, W, 3), (H, W, 4).

    Returns ((H, W, 3) uint8 RGB, (H, W) uint8 alpha or None), H x W the displayed size.
    """
    if isinstance(image, (str, Path)):
        image = images.read_rgb_alpha(image)
    if isinstance(image, images.Decoded):
        rgb, alpha = image.rgb, image.alpha
    else:
        array = np.asarray(image)
        if array.dtype != np.uint8 or array.ndim not in (2, 3):
            raise TypeError(
                f"expected a uint8 (H, W[, 3|4]) array, got {array.dtype} {array.shape}"
            )
        array = np.repeat(array[..., None], 3, axis=-1) if array.ndim == 2 else array
        rgb, alpha = array[..., :3], (array[..., 3] if array.shape[-1] == 4 else None)
    return colorize_rgb(model, rgb, size, device), alpha


def is_colour(rgb: np.ndarray, alpha: np.ndarray | None = None) -> bool:
    """True unless ``images.is_colourless`` (judged on visible pixels, at most ~4M of them)."""
    step = max(1, math.ceil(math.sqrt(rgb.shape[0] * rgb.shape[1] / COLOURNESS_SAMPLE)))
    visible = rgb[::step, ::step]
    if alpha is not None:
        visible = visible[alpha[::step, ::step] > 0]
    return visible.size > 0 and not images.is_colourless(visible)


# ---------------------------------------------------------------- showing it


def shrink_for_display(rgb: np.ndarray, max_height: int = COMPARE_MAX_HEIGHT) -> np.ndarray:
    """(H, W, 3) uint8 shrunk to at most ``max_height`` rows, aspect kept; as is if smaller."""
    height, width = rgb.shape[:2]
    if height <= max_height:
        return rgb
    return _resize(rgb, max_height, max(1, round(width * max_height / height)))


def compare_image(original: np.ndarray, colorized: np.ndarray, was_colour: bool) -> np.ndarray:
    """gray input | colourised | original (only if it was colour), side by side, uint8.

    Panels are the photo's size, shrunk to ``COMPARE_MAX_HEIGHT`` rows if taller, with
    ``COMPARE_GAP`` white columns between them.
    """
    original, colorized = shrink_for_display(original), shrink_for_display(colorized)
    panels = [gray(original), colorized] + ([original] if was_colour else [])
    height, width = original.shape[:2]
    canvas = np.full((height, len(panels) * (width + COMPARE_GAP) - COMPARE_GAP, 3), 255, np.uint8)
    for i, panel in enumerate(panels):
        canvas[:, i * (width + COMPARE_GAP) : i * (width + COMPARE_GAP) + width] = panel
    return canvas
