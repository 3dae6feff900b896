"""Every mode Pillow opens decodes to the right 8-bit levels, or is refused with a reason.

Each case builds a mid gray (and a colour, where the mode has colour) in one mode, saves it in a
format that keeps the mode (or keeps it in memory, for modes no file opens as), decodes it and
checks the 8-bit RGB and alpha. Mid gray is 128 of 255: 32768 of 65535, 2048 of 4095, 0.5 of 1.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest
import tifffile
from PIL import Image
from skimage.color import rgb2lab

from colorize_core.data import images

MID = 128
COLOUR = (200, 100, 50)
H, W = 4, 4


class Case(NamedTuple):
    """A file (or an in-memory image), the RGB and alpha it must decode to, and the tolerance."""

    source: Path | Image.Image
    rgb: np.ndarray
    alpha: np.ndarray | None = None
    tolerance: int = 1


def gray(level: int = MID) -> np.ndarray:
    return np.full((H, W, 3), level, np.uint8)


def halves(colour: tuple[int, int, int] = COLOUR) -> np.ndarray:
    """Mid gray on the left half, ``colour`` on the right."""
    rgb = gray()
    rgb[:, W // 2 :] = colour
    return rgb


def corner_alpha(opaque: int = 255) -> np.ndarray:
    """Alpha 0 at the top-left pixel, ``opaque`` elsewhere."""
    alpha = np.full((H, W), opaque, np.uint8)
    alpha[0, 0] = 0
    return alpha


def wide(levels: np.ndarray) -> np.ndarray:
    """8-bit levels -> the same levels as big-endian 16-bit PNG samples (x 257)."""
    return (levels.astype(np.uint16) * 257).astype(">u2")


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def write_png(path: Path, samples: np.ndarray, depth: int, colour_type: int, *extra: bytes) -> Path:
    """A PNG written by hand (Pillow writes no 16-bit colour): ``samples`` (H, W[, C]) already
    in the file's sample type (``>u2`` for 16 bits, 8 // depth pixels a byte under 8 bits)."""
    height, width = samples.shape[0], samples.shape[1] * max(1, 8 // depth)
    header = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0)
    raw = b"".join(b"\0" + samples[row].tobytes() for row in range(height))
    body = chunk(b"IHDR", header) + b"".join(extra) + chunk(b"IDAT", zlib.compress(raw))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body + chunk(b"IEND", b""))
    return path


def write_tiff12(path: Path, values: np.ndarray) -> Path:
    """A 12-bit gray TIFF written by hand (two samples in three bytes, high bits first)."""
    height, width = values.shape
    flat = values.astype(np.uint16).reshape(-1, 2)
    packed = np.stack([flat[:, 0] >> 4, (flat[:, 0] & 15) << 4 | flat[:, 1] >> 8, flat[:, 1] & 255])
    data = packed.T.astype(np.uint8).tobytes()
    tags = [(256, width), (257, height), (258, 12), (259, 1), (262, 1), (273, 8)]
    tags += [(277, 1), (278, height), (279, len(data))]
    ifd = struct.pack("<H", len(tags)) + b"".join(
        struct.pack("<HHII", tag, 4, 1, value) for tag, value in tags
    )
    offset = 8 + len(data)
    path.write_bytes(b"II*\0" + struct.pack("<I", offset) + data + ifd + b"\0\0\0\0")
    return path


def opens_as(path: Path, mode: str) -> Path:
    """``path``, checked to open in ``mode`` (the mode its case is about)."""
    with Image.open(path) as opened:
        assert opened.mode == mode, (opened.mode, path.name)
    return path


def saved(image: Image.Image, path: Path, mode: str | None = None, **options) -> Path:
    """Save ``image`` and check the file opens in ``mode`` (default: the image's)."""
    image.save(path, **options)
    return opens_as(path, mode or image.mode)


def with_palette(indices: np.ndarray, colours: list[tuple[int, int, int]], mode: str = "P"):
    image = Image.fromarray(indices.astype(np.uint8), "L").convert("P")
    image.putpalette([value for colour in colours for value in colour])
    return image if mode == "P" else image.convert(mode)


def left_right() -> np.ndarray:
    """Palette index 0 on the left half, 1 on the right."""
    return np.tile(np.arange(W) >= W // 2, (H, 1)).astype(np.uint8)


# --- one builder per mode (or per way a file reaches that mode) ----------------------------------


def mode_1(tmp: Path) -> Case:
    checks = np.indices((H, W)).sum(0) % 2 == 1
    return Case(saved(Image.fromarray(checks), tmp / "a.png"), gray(0) + 255 * checks[..., None])


def mode_l(tmp: Path) -> Case:
    return Case(saved(Image.fromarray(gray()[..., 0]), tmp / "a.png"), gray())


def mode_la(tmp: Path) -> Case:
    la = np.dstack([gray()[..., 0], np.full((H, W), 100, np.uint8)])
    return Case(saved(Image.fromarray(la, "LA"), tmp / "a.png"), gray(), np.full((H, W), 100))


def mode_la_premultiplied_tiff(tmp: Path) -> Case:
    """Gray with associated (premultiplied) alpha: Pillow opens it as La."""
    stored = np.dstack([np.full((H, W), 50, np.uint8), np.full((H, W), 100, np.uint8)])
    tifffile.imwrite(tmp / "a.tif", stored, photometric="minisblack", extrasamples=[1])
    return Case(opens_as(tmp / "a.tif", "La"), gray(), stored[..., 1])


def mode_la_in_memory(tmp: Path) -> Case:
    image = Image.merge("La", [Image.new("L", (W, H), 50), Image.new("L", (W, H), 100)])
    return Case(image, gray(), np.full((H, W), 100))


def mode_p(tmp: Path) -> Case:
    image = with_palette(left_right(), [(MID,) * 3, COLOUR])
    return Case(saved(image, tmp / "a.png"), halves(), tolerance=0)


def mode_p_transparent_index(tmp: Path) -> Case:
    image = with_palette(left_right(), [(MID,) * 3, COLOUR])
    path = saved(image, tmp / "a.png", transparency=1)
    alpha = np.where(left_right(), 0, 255)
    return Case(path, halves(), alpha, tolerance=0)


def mode_pa(tmp: Path) -> Case:
    image = with_palette(left_right(), [(MID,) * 3, COLOUR], "PA")
    image.putalpha(Image.new("L", (W, H), 100))
    return Case(saved(image, tmp / "a.tif"), halves(), np.full((H, W), 100))


def mode_rgb(tmp: Path) -> Case:
    return Case(saved(Image.fromarray(halves()), tmp / "a.png"), halves(), tolerance=0)


def mode_rgba(tmp: Path) -> Case:
    rgba = np.dstack([halves(), corner_alpha(200)])
    return Case(saved(Image.fromarray(rgba, "RGBA"), tmp / "a.png"), halves(), corner_alpha(200))


def mode_rgba_premultiplied_tiff(tmp: Path) -> Case:
    """RGB with associated alpha: Pillow opens it as RGBA, un-premultiplied."""
    stored = np.dstack([halves() // 2, np.full((H, W), 128, np.uint8)])
    tifffile.imwrite(tmp / "a.tif", stored, photometric="rgb", extrasamples=[1])
    return Case(opens_as(tmp / "a.tif", "RGBA"), halves(), stored[..., 3])


def mode_rgba_premultiplied_in_memory(tmp: Path) -> Case:
    premultiplied = np.dstack([halves() // 2, np.full((H, W), 128, np.uint8)])
    image = Image.frombytes("RGBa", (W, H), premultiplied.tobytes())
    return Case(image, halves(), premultiplied[..., 3], tolerance=2)


def mode_rgbx(tmp: Path) -> Case:
    image = Image.fromarray(halves()).convert("RGBX")
    return Case(saved(image, tmp / "a.tif", "RGB"), halves(), tolerance=0)


def mode_rgbx_in_memory(tmp: Path) -> Case:
    return Case(Image.fromarray(halves()).convert("RGBX"), halves(), tolerance=0)


def cmyk_halves() -> Image.Image:
    cmyk = np.zeros((H, W, 4), np.uint8)
    cmyk[:, : W // 2, 3] = 255 - MID
    cmyk[:, W // 2 :, :3] = 255 - np.array(COLOUR)
    return Image.frombytes("CMYK", (W, H), cmyk.tobytes())


def mode_cmyk_tiff(tmp: Path) -> Case:
    return Case(saved(cmyk_halves(), tmp / "a.tif"), halves(), tolerance=0)


def mode_cmyk_jpeg(tmp: Path) -> Case:
    return Case(saved(cmyk_halves(), tmp / "a.jpg", quality=100), halves(), tolerance=4)


def mode_ycbcr(tmp: Path) -> Case:
    image = Image.fromarray(halves()).convert("YCbCr")
    return Case(saved(image, tmp / "a.tif"), halves(), tolerance=2)


def mode_lab(tmp: Path) -> Case:
    return Case(saved(Image.fromarray(halves()).convert("LAB"), tmp / "a.tif"), halves(), None, 3)


def mode_lab_cielab_tiff(tmp: Path) -> Case:
    """A CIELab TIFF from another writer: L* 53.59 (sRGB 128), a and b signed bytes."""
    lightness = float(rgb2lab(np.full((1, 1, 3), MID / 255))[0, 0, 0])
    lab = np.zeros((H, W, 3), np.uint8)
    lab[..., 0] = round(lightness * 255 / 100)
    tifffile.imwrite(tmp / "a.tif", lab, photometric="cielab")
    return Case(opens_as(tmp / "a.tif", "LAB"), gray(), None, 2)


def mode_hsv_in_memory(tmp: Path) -> Case:
    return Case(Image.fromarray(halves()).convert("HSV"), halves(), tolerance=2)


def mode_i_16bit_range(tmp: Path) -> Case:
    image = Image.fromarray(np.full((H, W), 32768, np.int32))
    return Case(saved(image, tmp / "a.tif"), gray())


def mode_i_8bit_range(tmp: Path) -> Case:
    return Case(saved(Image.fromarray(np.full((H, W), MID, np.int32)), tmp / "a.tif"), gray())


def mode_i_signed_16bit_tiff(tmp: Path) -> Case:
    tifffile.imwrite(tmp / "a.tif", np.full((H, W), 16384, np.int16))  # of 32767
    return Case(opens_as(tmp / "a.tif", "I"), gray())


def mode_i16_png(tmp: Path) -> Case:
    image = Image.fromarray(np.full((H, W), 32768, np.uint16))
    return Case(saved(image, tmp / "a.png", "I;16"), gray())


def mode_i16_tiff(tmp: Path) -> Case:
    image = Image.fromarray(np.full((H, W), 32768, np.uint16))
    return Case(saved(image, tmp / "a.tif", "I;16"), gray())


def mode_i16b_tiff(tmp: Path) -> Case:
    image = Image.frombytes("I;16B", (W, H), np.full((H, W), 32768, ">u2").tobytes())
    return Case(saved(image, tmp / "a.tif", "I;16B"), gray())


def mode_i16l_in_memory(tmp: Path) -> Case:
    return Case(Image.frombytes("I;16L", (W, H), np.full((H, W), 32768, "<u2").tobytes()), gray())


def mode_i16n_in_memory(tmp: Path) -> Case:
    return Case(Image.frombytes("I;16N", (W, H), np.full((H, W), 32768, "=u2").tobytes()), gray())


def mode_i16_12bit_tiff(tmp: Path) -> Case:
    path = write_tiff12(tmp / "a.tif", np.full((H, W), 2048))  # of 4095
    return Case(opens_as(path, "I;16"), gray())


def mode_i_pgm_10bit(tmp: Path) -> Case:
    (tmp / "a.pgm").write_bytes(b"P5 4 4 1023\n" + np.full(H * W, 512, ">u2").tobytes())
    return Case(opens_as(tmp / "a.pgm", "I"), gray())


def mode_f_unit_range(tmp: Path) -> Case:
    return Case(saved(Image.fromarray(np.full((H, W), 0.5, np.float32)), tmp / "a.tif"), gray())


def mode_f_8bit_range(tmp: Path) -> Case:
    image = Image.fromarray(np.full((H, W), float(MID), np.float32))
    return Case(saved(image, tmp / "a.tif"), gray())


def mode_f_16bit_range(tmp: Path) -> Case:
    image = Image.fromarray(np.full((H, W), 32768.0, np.float32))
    return Case(saved(image, tmp / "a.tif"), gray())


def png16_gray_transparent_level(tmp: Path) -> Case:
    """The issue's file: 16-bit gray with a transparent level (tRNS) came out white."""
    samples = np.full((H, W), 32768, ">u2")
    samples[0, 0] = 1000
    path = write_png(tmp / "a.png", samples, 16, 0, chunk(b"tRNS", struct.pack(">H", 1000)))
    rgb = gray()
    rgb[0, 0] = 4  # 1000 / 65535 * 255
    return Case(path, rgb, corner_alpha())


def png16_rgb(tmp: Path) -> Case:
    path = write_png(tmp / "a.png", wide(halves()), 16, 2)
    return Case(path, halves(), tolerance=0)


def png16_rgb_transparent_colour(tmp: Path) -> Case:
    """The transparent colour matches on all 16 bits: (1000, 2000, 3000) is transparent, while
    (1100, 2000, 3000), the same colour in 8 bits, is not."""
    samples = wide(halves())
    samples[0, 0], samples[0, 1] = (1000, 2000, 3000), (1100, 2000, 3000)
    key = chunk(b"tRNS", struct.pack(">HHH", 1000, 2000, 3000))
    rgb = halves()
    rgb[0, :2] = (3, 7, 11), (4, 7, 11)  # the high bytes
    return Case(write_png(tmp / "a.png", samples, 16, 2, key), rgb, corner_alpha(), 0)


def png16_la(tmp: Path) -> Case:
    samples = wide(np.dstack([gray()[..., 0], np.full((H, W), 100)]))
    return Case(write_png(tmp / "a.png", samples, 16, 4), gray(), np.full((H, W), 100))


def png16_rgba(tmp: Path) -> Case:
    samples = wide(np.dstack([halves(), corner_alpha(200)]))
    path = write_png(tmp / "a.png", samples, 16, 6)
    return Case(path, halves(), corner_alpha(200), 0)


def png2_gray_transparent_level(tmp: Path) -> Case:
    """2-bit gray, levels 0..3 on each row, level 3 (white) transparent."""
    packed = np.full((H, 1), 0b00011011, np.uint8)
    key = chunk(b"tRNS", struct.pack(">H", 3))
    rgb = np.repeat(np.tile([0, 85, 170, 255], (H, 1))[..., None], 3, -1)
    alpha = np.tile([255, 255, 255, 0], (H, 1))
    return Case(write_png(tmp / "a.png", packed, 2, 0, key), rgb, alpha, 0)


def tiff48_rgb(tmp: Path) -> Case:
    tifffile.imwrite(tmp / "a.tif", halves().astype(np.uint16) * 257, photometric="rgb")
    return Case(opens_as(tmp / "a.tif", "RGB"), halves(), tolerance=0)


CASES: list[Callable[[Path], Case]] = [
    mode_1,
    mode_l,
    mode_la,
    mode_la_premultiplied_tiff,
    mode_la_in_memory,
    mode_p,
    mode_p_transparent_index,
    mode_pa,
    mode_rgb,
    mode_rgba,
    mode_rgba_premultiplied_tiff,
    mode_rgba_premultiplied_in_memory,
    mode_rgbx,
    mode_rgbx_in_memory,
    mode_cmyk_tiff,
    mode_cmyk_jpeg,
    mode_ycbcr,
    mode_lab,
    mode_lab_cielab_tiff,
    mode_hsv_in_memory,
    mode_i_16bit_range,
    mode_i_8bit_range,
    mode_i_signed_16bit_tiff,
    mode_i16_png,
    mode_i16_tiff,
    mode_i16b_tiff,
    mode_i16l_in_memory,
    mode_i16n_in_memory,
    mode_i16_12bit_tiff,
    mode_i_pgm_10bit,
    mode_f_unit_range,
    mode_f_8bit_range,
    mode_f_16bit_range,
    png16_gray_transparent_level,
    png16_rgb,
    png16_rgb_transparent_colour,
    png16_la,
    png16_rgba,
    png2_gray_transparent_level,
    tiff48_rgb,
]


def test_the_cases_cover_every_mode_pillow_has(tmp_path: Path) -> None:
    covered = set()
    for build in CASES:
        (tmp_path / build.__name__).mkdir()
        source = build(tmp_path / build.__name__).source
        if isinstance(source, Image.Image):
            covered.add(source.mode)
        else:
            with Image.open(source) as opened:
                covered.add(opened.mode)
    assert covered >= set(Image.MODES), set(Image.MODES) - covered


@pytest.mark.parametrize("build", CASES, ids=lambda build: build.__name__)
def test_each_mode_decodes_to_the_right_levels(tmp_path: Path, build) -> None:
    case = build(tmp_path)
    if isinstance(case.source, Image.Image):
        rgb, alpha = images.rgb_alpha(case.source)
    else:
        rgb, alpha, _, _ = images.read_rgb_alpha(case.source)
    assert rgb.dtype == np.uint8 and rgb.shape == (H, W, 3)
    assert np.abs(rgb.astype(int) - case.rgb).max() <= case.tolerance, rgb[..., 0]
    if case.alpha is None:
        assert alpha is None
    else:
        assert alpha is not None and np.abs(alpha.astype(int) - case.alpha).max() <= 1, alpha


@pytest.mark.parametrize(
    "values",
    [
        np.full((H, W), -0.25, np.float32),
        np.full((H, W), np.nan, np.float32),
        np.full((H, W), np.inf, np.float32),
        np.full((H, W), 70000.0, np.float32),
        np.full((H, W), -5, np.int32),
        np.full((H, W), 1 << 20, np.int32),
    ],
    ids=["float_negative", "float_nan", "float_inf", "float_over_65535", "int_neg", "int_big"],
)
def test_levels_of_unknown_scale_are_refused_with_a_reason(tmp_path: Path, values) -> None:
    path = tmp_path / "odd.tif"
    Image.fromarray(values).save(path)
    with pytest.raises(images.UnusableImage) as info:
        images.read_rgb_alpha(path)
    assert info.value.reason == images.UNSUPPORTED
    assert "odd.tif" in str(info.value) and f"mode {Image.open(path).mode}" in str(info.value)


def test_a_refused_image_is_skipped_by_reason_in_a_dataset(tmp_path: Path) -> None:
    from colorize_core.data.cache import load_images

    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 32, 3), np.uint8)).save(
        folder / "good.png"
    )
    Image.fromarray(np.full((32, 32), np.nan, np.float32)).save(folder / "nan.tif")
    data = load_images(f"folder:{folder}", 32, cache_dir=tmp_path / "cache")
    assert data.files == ["good.png"] and data.skipped == {images.UNSUPPORTED: ["nan.tif"]}


def test_upright_transparency_of_a_16_bit_rgb_png_from_bytes(tmp_path: Path) -> None:
    """``read_rgb_alpha`` on bytes (as the web page reads an upload), with an EXIF rotation: the
    colour and the alpha made from the file's low bytes turn together."""
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    case = png16_rgb_transparent_colour(tmp_path)
    data = case.source.read_bytes()
    end = data.index(b"IDAT") - 4
    rotated = data[:end] + chunk(b"eXIf", exif.tobytes()) + data[end:]
    decoded = images.read_rgb_alpha(io.BytesIO(rotated), formats=("PNG",))
    assert np.array_equal(decoded.rgb, np.rot90(case.rgb, -1))
    assert np.array_equal(decoded.alpha, np.rot90(case.alpha, -1))
    assert decoded.mode == "RGB" and decoded.frames == 1


def test_gray_16_bit_with_a_transparent_level_composites_like_any_alpha(tmp_path: Path) -> None:
    """``read_rgb`` (training) puts the transparent pixel on white and keeps the gray's level."""
    rgb = images.read_rgb(png16_gray_transparent_level(tmp_path).source)
    assert (rgb[0, 0] == 255).all() and (rgb.reshape(-1, 3)[1:] == MID).all()
