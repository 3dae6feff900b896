"""Decode any image file into 8-bit sRGB, and say exactly why a file cannot be used.

Everything that reads photos (datasets, inference) goes through ``read_rgb`` so that odd files get
the same treatment everywhere: EXIF orientation is applied; grayscale, palette, CMYK, alpha and
16-bit files are converted; unreadable files raise ``UnusableImage`` with a short reason that the
caller counts and logs instead of crashing deep inside a training loop. Multi-frame files
(animated GIF, PNG or WebP, multi-page TIFF) give their first frame, and say how many they hold.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"})

# Reasons a file is skipped; the keys of a dataset's skip report.
NOT_AN_IMAGE = "not an image"
CORRUPT = "corrupt or truncated"
TOO_SMALL = "smaller than the requested size"
NO_COLOUR = "no colour (grayscale)"
TOO_LARGE = "too large (over Pillow's decompression-bomb limit)"

HIGH_BIT_DEPTH_MODES = frozenset({"I;16", "I;16B", "I;16L", "I", "F"})

# An image is colourless when fewer than 1% of its pixels have a channel spread (max - min of
# R, G, B) above 12: the rule that produced cifar10's GRAYSCALE.txt and filtered landscapes. It
# catches exact grays and old black-and-white photos with JPEG chroma noise, which only teach a
# colouriser to predict gray.
_SPREAD_THRESHOLD = 12
_COLOURED_FRACTION = 0.01


class UnusableImage(ValueError):
    """A file that cannot serve as a colour photo; ``reason`` is one of the module's constants."""

    def __init__(self, path: Path, reason: str, detail: str = "") -> None:
        self.path, self.reason, self.detail = Path(path), reason, detail
        super().__init__(f"{path}: {reason}" + (f" ({detail})" if detail else ""))


def is_image_file(path: Path) -> bool:
    """True when the file name has an image suffix (the content is checked by ``read_rgb``)."""
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def _to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode without transparency -> RGB (16-bit and float grayscale scaled, not
    clipped: Pillow's convert("L") clips)."""
    if image.mode in HIGH_BIT_DEPTH_MODES:
        values = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if image.mode.startswith("I;16") or values.max() > 255 else 255.0
        image = Image.fromarray(np.clip(values / peak * 255.0 + 0.5, 0, 255).astype(np.uint8))
    return image.convert("RGB")


def read_rgb(path: str | Path) -> np.ndarray:
    """Read an image file as an (H, W, 3) uint8 sRGB array, upright per its EXIF orientation.

    Transparency is composited on white (transparent areas carry no colour). A multi-frame file
    gives its first frame, with a logged warning. Raises ``UnusableImage`` (NOT_AN_IMAGE, CORRUPT
    or TOO_LARGE) for files Pillow cannot decode completely; truncated files are errors, not
    silently padded with gray.
    """
    rgb, alpha, _, frames = read_rgb_alpha(path)
    if frames > 1:
        log.warning("%s: %d frames (animation or pages); only the first is used", path, frames)
    if alpha is None:
        return rgb
    opacity = alpha[..., None].astype(np.float32) / 255.0
    return (rgb * opacity + 255.0 * (1.0 - opacity) + 0.5).astype(np.uint8)


def is_colourless(rgb: np.ndarray) -> bool:
    """True when fewer than 1% of pixels of an (H, W, 3) uint8 image carry visible colour."""
    spread = rgb.max(axis=-1).astype(np.int16) - rgb.min(axis=-1)
    return float((spread > _SPREAD_THRESHOLD).mean()) < _COLOURED_FRACTION


def fit_square(rgb: np.ndarray, size: int, upscale: bool = False) -> np.ndarray:
    """Resize the shorter side to ``size`` (bicubic, antialiased) and centre-crop to size x size.

    Images already size x size are returned unchanged (no resampling). Images whose shorter side
    is below ``size`` are refused unless ``upscale``: upsampling invents blurry targets, which is
    only acceptable where pixels do not matter (speed benchmarks at large sizes).
    """
    height, width = rgb.shape[:2]
    if min(height, width) < size and not upscale:
        raise ValueError(f"{width}x{height} is smaller than {size}x{size}")
    if height == width == size:
        return rgb
    scale = size / min(height, width)
    new_w, new_h = max(size, round(width * scale)), max(size, round(height * scale))
    resized = Image.fromarray(rgb).resize((new_w, new_h), Image.Resampling.BICUBIC)
    left, top = (new_w - size) // 2, (new_h - size) // 2
    return np.asarray(resized.crop((left, top, left + size, top + size)))


# ---------------------------------------------------------------- decoding with alpha kept


class Decoded(NamedTuple):
    """A decoded photo for inference: colour and transparency kept apart.

    ``rgb`` is (H, W, 3) uint8 sRGB, upright per EXIF, NOT composited on anything; ``alpha`` is
    (H, W) uint8 or None when the file has no transparency; ``mode`` is the file's Pillow mode
    (``"I;16"``, ``"CMYK"``, ``"P"``, ...), so the caller can say what was converted; ``frames``
    is how many frames or pages the file holds (``frame_count``), of which ``rgb`` is the first.
    """

    rgb: np.ndarray
    alpha: np.ndarray | None
    mode: str
    frames: int = 1


def frame_count(image: Image.Image) -> int:
    """Frames of an open image: an animation's frames or a TIFF's pages, 1 for a still image.

    An MPO (a camera JPEG carrying extra pictures: a preview, a depth map, a stereo view) counts
    as 1: its first picture is the photo itself, the rest are not frames a viewer shows.
    """
    return 1 if image.format == "MPO" else getattr(image, "n_frames", 1)


def read_rgb_alpha(path: str | Path) -> Decoded:
    """Decode a photo, upright per its EXIF orientation, with its alpha channel kept apart.

    Files with transparency (RGBA, LA, PA, palette or L/RGB with a transparent colour) give their
    un-composited colour and their alpha; the rest give alpha None, with 16-bit and float
    grayscale scaled to 8 bits and CMYK or palette converted to RGB. ``read_rgb`` composites the
    alpha on white; inference re-attaches it to its output. A multi-frame file gives its first
    frame and its ``frames`` count, without logging: the caller says what that means for it.
    Raises ``UnusableImage``: NOT_AN_IMAGE, CORRUPT, or TOO_LARGE for images Pillow refuses as
    decompression bombs (more than twice ``Image.MAX_IMAGE_PIXELS``, about 179 megapixels by
    default).
    """
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the "large image" warning; the hard limit still holds
            with Image.open(path) as image:
                mode, frames = image.mode, frame_count(image)  # counting seeks: before load()
                image.load()
                image = ImageOps.exif_transpose(image)
                if image.has_transparency_data:
                    rgba = np.asarray(image.convert("RGBA"), dtype=np.uint8)
                    return Decoded(rgba[..., :3].copy(), rgba[..., 3].copy(), mode, frames)
                rgb = np.asarray(_to_rgb(image), dtype=np.uint8).copy()
                return Decoded(rgb, None, mode, frames)
    except Image.DecompressionBombError as error:
        raise UnusableImage(path, TOO_LARGE, str(error)) from error
    except UnidentifiedImageError as error:
        raise UnusableImage(path, NOT_AN_IMAGE, "unrecognised format") from error
    except (OSError, SyntaxError, ValueError) as error:
        raise UnusableImage(path, CORRUPT, str(error)) from error
