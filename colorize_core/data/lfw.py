"""faces_wild's processing: an LFW deep-funneled photo -> a 128x128 JPEG, as its SOURCE.md says.

The registry names ``process_lfw`` as faces_wild's ``Processing``; a download applies it to each
archive member before the manifest's hash check, so these constants are part of that contract.
"""

from __future__ import annotations

from PIL import Image

from colorize_core.data.reencode import reencode_jpeg

LFW_SIDE = 250  # every LFW deep-funneled image is 250x250
LFW_CROP = (45, 45, 205, 205)  # centre 160 px = round(0.64 x 250): drops most alignment wedges
LFW_SIZE = 128
LFW_QUALITY = 92  # JPEG quality; reencode_jpeg keeps Pillow's other defaults


def crop_resize_lfw(image: Image.Image) -> Image.Image:
    """A 250x250 LFW image -> its 128x128 RGB faces_wild picture.

    The centre 160 px square (pixels 45..204 on both axes) is cut out first, then resized with
    LANCZOS; resizing the whole image with a ``box`` would blend in pixels outside the crop.
    """
    if image.size != (LFW_SIDE, LFW_SIDE):
        raise ValueError(f"expected a {LFW_SIDE}x{LFW_SIDE} LFW image, got {image.size}")
    square = image.convert("RGB").crop(LFW_CROP)
    return square.resize((LFW_SIZE, LFW_SIZE), Image.Resampling.LANCZOS)


def process_lfw(member: bytes) -> bytes:
    """An LFW JPEG's bytes -> the faces_wild JPEG's bytes (cropped, resized, quality 92)."""
    return reencode_jpeg(member, crop_resize_lfw, LFW_QUALITY)
