"""photos_wild's processing: any photo -> its centre square at 128x128 JPEG, as its SOURCE.md says.

The registry names ``process_centre_square`` as photos_wild's ``Processing``; a download applies
it to each archive member before the manifest's hash check, so these constants are part of that
contract. The manifest's hashes were made with Pillow 13.0.0 (libjpeg-turbo 3.2.0).
"""

from __future__ import annotations

import io

from PIL import Image

SQUARE_SIZE = 128
SQUARE_QUALITY = 90  # JPEG quality; Pillow's other defaults (4:2:0, baseline, no optimize)


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
    try:
        with Image.open(io.BytesIO(member)) as image:
            picture = centre_square(image)
    except Image.UnidentifiedImageError as err:
        raise ValueError("not an image Pillow can read") from err
    except (OSError, Image.DecompressionBombError) as err:
        raise ValueError(f"a damaged image: {err}") from err
    encoded = io.BytesIO()
    picture.save(encoded, format="JPEG", quality=SQUARE_QUALITY)
    return encoded.getvalue()
