"""Decode any image file into 8-bit sRGB, and say exactly why a file cannot be used.

Everything that reads photos (datasets, inference) goes through ``read_rgb`` so that odd files get
the same treatment everywhere: EXIF orientation is applied; grayscale, palette, CMYK, alpha and
16-bit files are converted; unreadable files raise ``UnusableImage`` with a short reason that the
caller counts and logs instead of crashing deep inside a training loop.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"})

# Reasons a file is skipped; the keys of a dataset's skip report.
NOT_AN_IMAGE = "not an image"
CORRUPT = "corrupt or truncated"
TOO_SMALL = "smaller than the requested size"
NO_COLOUR = "no colour (grayscale)"

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
    """Any Pillow mode -> RGB. Alpha is composited on white (transparent areas have no colour)."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # High bit depth grayscale: Pillow's convert("L") clips instead of scaling, so scale here.
        values = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if image.mode.startswith("I;16") or values.max() > 255 else 255.0
        image = Image.fromarray(np.clip(values / peak * 255.0 + 0.5, 0, 255).astype(np.uint8))
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA", "PA"):
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image.convert("RGBA"))
    return image.convert("RGB")


def read_rgb(path: str | Path) -> np.ndarray:
    """Read an image file as an (H, W, 3) uint8 sRGB array, upright per its EXIF orientation.

    Raises ``UnusableImage`` (reason NOT_AN_IMAGE or CORRUPT) for files Pillow cannot decode
    completely; truncated files are errors, not silently padded with gray.
    """
    path = Path(path)
    try:
        with warnings.catch_warnings():
            # Pillow warns about huge images and odd EXIF; the caller decides what to do.
            warnings.simplefilter("ignore")
            with Image.open(path) as image:
                image.load()
                image = ImageOps.exif_transpose(image)
                return np.asarray(_to_rgb(image), dtype=np.uint8).copy()
    except UnidentifiedImageError as error:
        raise UnusableImage(path, NOT_AN_IMAGE, "unrecognised format") from error
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise UnusableImage(path, CORRUPT, str(error)) from error


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


# ---------------------------------------------------------------- inference: keep alpha

TOO_LARGE = "too large (over Pillow's decompression-bomb limit)"
HIGH_BIT_DEPTH_MODES = frozenset({"I;16", "I;16B", "I;16L", "I", "F"})


class Decoded(NamedTuple):
    """A decoded photo for inference: colour and transparency kept apart.

    ``rgb`` is (H, W, 3) uint8 sRGB, upright per EXIF, NOT composited on anything; ``alpha`` is
    (H, W) uint8 or None when the file has no transparency; ``mode`` is the file's Pillow mode
    (``"I;16"``, ``"CMYK"``, ``"P"``, ...), so the caller can say what was converted.
    """

    rgb: np.ndarray
    alpha: np.ndarray | None
    mode: str


def read_rgb_alpha(path: str | Path) -> Decoded:
    """Like ``read_rgb`` but keeps the alpha channel (inference re-attaches it to the output).

    Files with transparency (RGBA, LA, PA, palette or L/RGB with a transparent colour) give their
    un-composited colour and their alpha; everything else is converted exactly as ``read_rgb``
    does (16-bit scaled to 8-bit, CMYK and palette to RGB). Raises ``UnusableImage``: NOT_AN_IMAGE,
    CORRUPT, or TOO_LARGE for images Pillow refuses as decompression bombs (more than twice
    ``Image.MAX_IMAGE_PIXELS``, about 179 megapixels by default).
    """
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the "large image" warning; the hard limit still holds
            with Image.open(path) as image:
                mode = image.mode
                image.load()
                image = ImageOps.exif_transpose(image)
                if image.has_transparency_data:
                    rgba = np.asarray(image.convert("RGBA"), dtype=np.uint8)
                    return Decoded(rgba[..., :3].copy(), rgba[..., 3].copy(), mode)
                return Decoded(np.asarray(_to_rgb(image), dtype=np.uint8).copy(), None, mode)
    except Image.DecompressionBombError as error:
        raise UnusableImage(path, TOO_LARGE, str(error)) from error
    except UnidentifiedImageError as error:
        raise UnusableImage(path, NOT_AN_IMAGE, "unrecognised format") from error
    except (OSError, SyntaxError, ValueError) as error:
        raise UnusableImage(path, CORRUPT, str(error)) from error
