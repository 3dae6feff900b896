"""photos_wild's processing: any photo -> its centre square at 128x128 JPEG, as its SOURCE.md says.

The registry names ``process_centre_square`` as photos_wild's ``Processing``; a download applies
it to each archive member before the manifest's hash check, so these constants are part of that
contract. The manifest's hashes were made with Pillow 13.0.0 (libjpeg-turbo 3.2.0).
"""

from __future__ import annotations

from PIL import Image

from colorize_core.data.reencode import reencode_jpeg

SQUARE_SIZE = 128
SQUARE_QUALITY = 90  # JPEG quality; reencode_jpeg keeps Pillow's other defaults


def centre_square(image: Image.Image, size: int = SQUARE_SIZE) -> Image.Image:
    """``image`` as RGB, its centre square (side min(w, h), offsets rounded down) resized to
    ``size`` x ``size`` with LANCZOS. No EXIF rotation: the pixels are taken as stored."""
    rgb = image.convert("RGB")
    width, height = rgb.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    square = rgb.crop((left, top, left + side, top + side))
    return square.resize((size, size), Image.Resampling.LANCZOS)


def process_centre_square(member: bytes) -> bytes:
    """An image file's bytes -> the photos_wild JPEG's bytes (centre square, 128 px, quality 90)."""
    return reencode_jpeg(member, centre_square, SQUARE_QUALITY)
