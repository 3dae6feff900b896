"""The wrapper a data set's ``Processing`` shares: decode an archive member, transform its
picture, write it as a JPEG.

faces_wild (``lfw.process_lfw``) and photos_wild (``centre_square.process_centre_square``)
differ only in their crop and JPEG quality; a download applies them before the manifest's hash
check, so the decoding, the errors and the encoder settings live here once.
"""

from __future__ import annotations

import io
from collections.abc import Callable

from PIL import Image


def reencode_jpeg(
    member: bytes, transform: Callable[[Image.Image], Image.Image], quality: int
) -> bytes:
    """An image file's bytes -> ``transform`` of its picture as JPEG bytes at ``quality``, with
    Pillow's other defaults (4:2:0, baseline, no optimize).

    A file Pillow cannot read, a damaged one or one over Pillow's decompression-bomb limit
    raises ValueError, as ``transform`` does for a picture it refuses.
    """
    try:
        with Image.open(io.BytesIO(member)) as image:
            picture = transform(image)
    except Image.UnidentifiedImageError as err:
        raise ValueError("not an image Pillow can read") from err
    except (OSError, Image.DecompressionBombError) as err:
        raise ValueError(f"a damaged image: {err}") from err
    encoded = io.BytesIO()
    picture.save(encoded, format="JPEG", quality=quality)
    return encoded.getvalue()
