"""Decode any image file into 8-bit sRGB, and say exactly why a file cannot be used.

Everything that reads photos (datasets, inference, the web page's uploads) goes through
``read_rgb_alpha`` (``read_rgb`` composites its alpha) so that odd files get the same treatment
everywhere: EXIF orientation is applied; grayscale, palette, CMYK, YCbCr, LAB, alpha and 16-bit
files are converted; unreadable files raise ``UnusableImage`` with a short reason that the caller
counts and logs instead of crashing deep inside a training loop. Multi-frame files (animated GIF,
PNG or WebP, multi-page TIFF) give their first frame, and say how many they hold.

Gray levels deeper than 8 bits become 8 bits by the scale of their source, never by clipping:

- integer samples of 16 bits or fewer (16-bit PNG, PGM or TIFF; 12-bit TIFF): the depth's full
  scale is white (32768 of 65535 -> 128; signed samples: 32767);
- float (mode ``F``) and 32-bit integer (mode ``I``) samples carry no scale of their own, so the
  brightest pixel picks one: values all within [0, 1] (float only) are scaled by 255, within
  [0, 255] taken as they are, within [0, 65535] scaled as 16-bit (0.5 -> 128). Negative, NaN or
  infinite values, or values over 65535, are refused (``UNSUPPORTED``) rather than guessed at.

A PNG's transparent gray level or colour (``tRNS``) is matched on the file's own samples, all 16
bits of them, so a 16-bit gray keeps its level and gets the right alpha. Every other mode goes
through Pillow's own conversion: LAB (CIELab TIFF), YCbCr and HSV to sRGB, premultiplied alpha
(La, RGBa) un-premultiplied, CMYK by Pillow's plain formula (no colour profile). ``rgb_alpha``
converts an image already in memory; tests/data/test_decode_modes.py checks each mode.
"""

from __future__ import annotations

import logging
import math
import os
import re
import warnings
from pathlib import Path
from typing import BinaryIO, NamedTuple

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from colorize_core.data.paths import shown_path

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"})

# Reasons a file is skipped; the keys of a dataset's skip report.
NOT_AN_IMAGE = "not an image"
CORRUPT = "corrupt or truncated"
TOO_SMALL = "smaller than the requested size"
NO_COLOUR = "no colour (grayscale)"
TOO_LARGE = "too large (over Pillow's decompression-bomb limit)"
UNSUPPORTED = "pixel values of unknown scale"

HIGH_BIT_DEPTH_MODES = frozenset({"I;16", "I;16B", "I;16L", "I;16N", "I", "F"})

# An image is colourless when fewer than 1% of its pixels have a channel spread (max - min of
# R, G, B) above 12: the rule that produced cifar10's GRAYSCALE.txt and filtered landscapes. It
# catches exact grays and old black-and-white photos with JPEG chroma noise, which only teach a
# colouriser to predict gray.
_SPREAD_THRESHOLD = 12
_COLOURED_FRACTION = 0.01


def name_bytes(name: str | os.PathLike) -> bytes:
    """A file name's bytes, as the file system holds them: UTF-8, with the bytes that are not
    valid UTF-8 (which Python carries as surrogate escapes, b'\\xff' -> '\\udcff') restored.

    Equal to ``os.fsencode(name)`` on a UTF-8 file system, and to ``str(name).encode()`` for every
    valid name, so hashes of valid names are those the package always made.
    """
    return os.fspath(name).encode("utf-8", "surrogateescape")


def display_name(name: str | os.PathLike) -> str:
    """A file name as text that any table, JSON file, web page or log can hold: valid names
    unchanged, bytes that are not UTF-8 written as ``\\xNN`` (b'\\xff.png' -> '\\\\xff.png')."""
    return name_bytes(name).decode("utf-8", "backslashreplace")


class UnusableImage(ValueError):
    """A file that cannot serve as a colour photo; ``reason`` is one of the module's constants."""

    def __init__(self, path: Path, reason: str, detail: str = "") -> None:
        self.path, self.reason, self.detail = Path(path), reason, detail
        super().__init__(f"{display_name(path)}: {reason}" + (f" ({detail})" if detail else ""))


def is_image_file(path: Path) -> bool:
    """True when the file name has an image suffix (the content is checked by ``read_rgb``)."""
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def read_rgb(path: str | Path) -> np.ndarray:
    """Read an image file as an (H, W, 3) uint8 sRGB array, upright per its EXIF orientation.

    Transparency is composited on white (transparent areas carry no colour). A multi-frame file
    gives its first frame, with a logged warning. Raises ``UnusableImage`` (NOT_AN_IMAGE, CORRUPT,
    TOO_LARGE or UNSUPPORTED) for files Pillow cannot decode completely, or whose pixel values
    have no known scale; truncated files are errors, not silently padded with gray.
    """
    rgb, alpha, _, frames = read_rgb_alpha(path)
    if frames > 1:
        log.warning(
            "%s: %d frames (animation or pages); only the first is used", shown_path(path), frames
        )
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


def read_rgb_alpha(
    source: str | os.PathLike | BinaryIO,
    *,
    formats: tuple[str, ...] | None = None,
    max_pixels: int | None = None,
) -> Decoded:
    """Decode a photo, a path or an open binary file (an upload's bytes), upright per its EXIF
    orientation, with its alpha channel kept apart: the one decoder of files and uploads.

    Files with transparency (RGBA, LA, PA, palette or L/RGB with a transparent colour) give their
    un-composited colour and their alpha; the rest give alpha None. ``read_rgb`` composites the
    alpha on white; inference re-attaches it to its output. A multi-frame file gives its first
    frame and its ``frames`` count, without logging: the caller says what that means for it.
    ``formats`` limits the formats Pillow tries; ``max_pixels`` refuses a larger image from its
    header, before its pixels are decoded.

    Raises ``UnusableImage``: NOT_AN_IMAGE (not one of ``formats`` either), CORRUPT, UNSUPPORTED
    (see the module docstring), or TOO_LARGE: over ``max_pixels`` (detail ``"W x H = N
    megapixels; the limit is M megapixels"``), or refused by Pillow as a decompression bomb (more
    than twice ``Image.MAX_IMAGE_PIXELS``, about 179 megapixels by default). A refusal that
    Pillow's error caused is raised from it.
    """
    where = Path(source) if isinstance(source, (str, os.PathLike)) else Path("<image>")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the "large image" warning; the hard limit still holds
            return _decode(source, where, formats, max_pixels)
    except (UnusableImage, MemoryError):
        raise
    except Image.DecompressionBombError as error:
        raise UnusableImage(where, TOO_LARGE, str(error)) from error
    except UnidentifiedImageError as error:
        raise UnusableImage(where, NOT_AN_IMAGE, "unrecognised format") from error
    except Exception as error:  # hostile bytes raise many types in Pillow's plugins
        raise UnusableImage(where, CORRUPT, str(error)) from error


def _decode(
    source: str | os.PathLike | BinaryIO,
    where: Path,
    formats: tuple[str, ...] | None,
    max_pixels: int | None,
) -> Decoded:
    """The steps of ``read_rgb_alpha``; Pillow's errors pass through for it to word."""
    with Image.open(source, formats=formats) as image:
        width, height = image.size
        if max_pixels is not None and width * height > max_pixels:
            raise UnusableImage(
                where,
                TOO_LARGE,
                f"{width} x {height} = {width * height / 1e6:.3g} megapixels; the limit is "
                f"{max_pixels / 1e6:.3g} megapixels",
            )
        # load() drops the tiles that say how deep the samples are; counting frames seeks
        samples, mode, frames = Samples.of(image), image.mode, frame_count(image)
        image.load()
        low = _low_bytes(source, formats) if _is_keyed_rgb16(image, samples) else None
        upright = ImageOps.exif_transpose(image)
        if low is not None:
            return Decoded(*_keyed_rgb16(upright, low), mode, frames)
        return Decoded(*rgb_alpha(upright, samples, where), mode, frames)


class Samples(NamedTuple):
    """How a file stored its samples, which the loaded mode may not say: ``bits`` per sample
    (None where the file's tiles do not tell) and whether they are ``signed``."""

    bits: int | None = None
    signed: bool = False

    @classmethod
    def of(cls, image: Image.Image) -> Samples:
        """Read from the first tile's rawmode (``"I;16B"``, ``"I;12"``, ``"L;2"``, ``"I;16S"``)
        of an image not yet loaded."""
        args = image.tile[0][3] if image.tile else None
        rawmode = args[0] if isinstance(args, tuple) and args else args
        rawmode = rawmode if isinstance(rawmode, str) else ""
        found = re.search(r";(\d+)", rawmode)
        bits = int(found.group(1)) if found else None
        if image.format == "PPM" and image.mode == "I":
            bits = 16  # Pillow stretches any PGM depth over 8 bits to 0..65535
        return cls(bits, rawmode.endswith("S"))


def rgb_alpha(
    image: Image.Image, samples: Samples | None = None, where: str | Path = "<image>"
) -> tuple[np.ndarray, np.ndarray | None]:
    """A loaded Pillow image of any mode -> (H, W, 3) uint8 sRGB, and (H, W) uint8 alpha or None.

    ``samples`` is what the file held (``read_rgb_alpha`` reads it; an image made in memory needs
    none). Raises ``UnusableImage`` (UNSUPPORTED, naming ``where``) for pixels of unknown scale.
    """
    if image.mode in HIGH_BIT_DEPTH_MODES or (image.mode == "L" and _key(image) is not None):
        return _gray(image, samples or Samples(), Path(where))
    if image.mode == "La":  # premultiplied alpha: Pillow converts it to LA only
        image = image.convert("LA")
    if image.has_transparency_data:
        rgba = np.asarray(image.convert("RGBA"), dtype=np.uint8)
        return rgba[..., :3].copy(), rgba[..., 3].copy()
    return np.asarray(image.convert("RGB"), dtype=np.uint8).copy(), None


def _key(image: Image.Image) -> int | None:
    """The gray level a PNG marks transparent (``tRNS``), on the file's own scale, else None."""
    key = image.info.get("transparency")
    return key if isinstance(key, int) and not isinstance(key, bool) else None


def _gray(
    image: Image.Image, samples: Samples, where: Path
) -> tuple[np.ndarray, np.ndarray | None]:
    """L, I;16*, I or F -> 8-bit gray as RGB, with alpha 0 where the PNG's transparent level is."""
    values, key = np.asarray(image), _key(image)
    if image.mode == "L":
        level = values
        if key is not None:  # Pillow stretches 1-, 2- and 4-bit gray to 0..255, not the key
            key = key * (255 // (2 ** (samples.bits or 8) - 1))
    else:
        peak = _white(values, image.mode, samples, where)
        level = np.clip(values * np.float32(255 / peak) + 0.5, 0, 255).astype(np.uint8)
    alpha = None if key is None else np.where(values == key, 0, 255).astype(np.uint8)
    return np.repeat(level[..., None], 3, axis=-1), alpha


def _white(values: np.ndarray, mode: str, samples: Samples, where: Path) -> float:
    """The sample value that stands for white, by the rule in the module docstring."""
    low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    if not (math.isfinite(low) and math.isfinite(high)):
        raise UnusableImage(where, UNSUPPORTED, f"mode {mode} with NaN or infinite pixels")
    if low < 0:
        raise UnusableImage(where, UNSUPPORTED, f"mode {mode} with pixels down to {low:g}")
    bits = samples.bits or (16 if mode.startswith("I;16") else None)
    if mode != "F" and bits is not None and bits <= 16:
        return 2.0 ** (bits - samples.signed) - 1
    for peak in ((1.0,) if mode == "F" else ()) + (255.0, 65535.0):
        if high <= peak:
            return peak
    raise UnusableImage(
        where,
        UNSUPPORTED,
        f"mode {mode} with pixels up to {high:g}: only [0, 1] (float), [0, 255] and "
        "[0, 65535] have a known scale",
    )


def _is_keyed_rgb16(image: Image.Image, samples: Samples) -> bool:
    """A 16-bit RGB PNG with a transparent colour: Pillow keeps the high bytes of its samples
    only, but the colour (``tRNS``) is given in 16 bits."""
    keyed = isinstance(image.info.get("transparency"), tuple)
    return image.format == "PNG" and image.mode == "RGB" and samples.bits == 16 and keyed


def _low_bytes(source: str | os.PathLike | BinaryIO, formats: tuple[str, ...] | None) -> np.ndarray:
    """The low bytes of a 16-bit RGB PNG's samples, upright: the file decoded again with the
    little-endian rawmode, which takes the second byte of each big-endian pair."""
    if not isinstance(source, (str, os.PathLike)):
        source.seek(0)
    with Image.open(source, formats=formats) as again:
        again.tile = [tile[:3] + ("RGB;16L",) for tile in again.tile]
        again.load()
        return np.asarray(ImageOps.exif_transpose(again), dtype=np.uint8)


def _keyed_rgb16(image: Image.Image, low: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A 16-bit RGB PNG's 8-bit colour (its high bytes), and alpha 0 where all 16 bits of each
    sample equal the transparent colour's."""
    rgb = np.asarray(image, dtype=np.uint8).copy()
    samples = (rgb.astype(np.uint16) << 8) | low
    key = np.asarray(image.info["transparency"], dtype=np.uint16)
    return rgb, np.where((samples == key).all(axis=-1), 0, 255).astype(np.uint8)
