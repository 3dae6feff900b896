"""Odd and broken image files: each decodes correctly or is refused with a clear reason."""

import io
import logging
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from colorize_core.data import images
from colorize_core.data.cache import load_images


def colour_pattern(size: int = 32) -> np.ndarray:
    y, x = np.mgrid[0:size, 0:size]
    return np.stack([x * 255 // size, y * 255 // size, 255 - x * 255 // size], -1).astype(np.uint8)


def write_png16_rgb(path: Path, rgb16: np.ndarray) -> None:
    """A 48-bit RGB PNG written by hand (Pillow cannot write one)."""
    h, w, _ = rgb16.shape
    raw = b"".join(b"\0" + rgb16[row].astype(">u2").tobytes() for row in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def test_rgb_jpeg_and_png_read_as_uint8(tmp_path):
    rgb = colour_pattern()
    Image.fromarray(rgb).save(tmp_path / "a.png")
    out = images.read_rgb(tmp_path / "a.png")
    assert out.dtype == np.uint8 and out.shape == (32, 32, 3) and np.array_equal(out, rgb)


@pytest.mark.parametrize("mode", ["L", "1", "P", "RGBA", "LA", "CMYK", "I;16"])
def test_every_mode_becomes_rgb(tmp_path, mode):
    source = Image.fromarray(colour_pattern())
    if mode == "I;16":
        source = Image.fromarray(np.asarray(source.convert("L"), np.uint16) * 257)
    else:
        source = source.convert(mode)
    suffix = ".jpg" if mode == "CMYK" else ".png" if mode != "LA" else ".png"
    source.save(tmp_path / f"x{suffix}")
    out = images.read_rgb(tmp_path / f"x{suffix}")
    assert out.shape == (32, 32, 3) and out.dtype == np.uint8


def test_sixteen_bit_gray_is_scaled_not_clipped(tmp_path):
    gray16 = np.linspace(0, 65535, 64 * 64).reshape(64, 64).astype(np.uint16)
    Image.fromarray(gray16).save(tmp_path / "g.png")
    out = images.read_rgb(tmp_path / "g.png")
    assert abs(int(out.max()) - 255) <= 1 and out.min() == 0
    assert np.abs(out[..., 0].astype(int) - gray16 / 257).max() <= 1
    assert images.is_colourless(out)


def test_sixteen_bit_rgb_png_keeps_its_colours(tmp_path):
    rgb = colour_pattern()
    write_png16_rgb(tmp_path / "c.png", rgb.astype(np.uint16) * 257)
    out = images.read_rgb(tmp_path / "c.png")
    assert np.abs(out.astype(int) - rgb).max() <= 1


def test_alpha_is_composited_on_white(tmp_path):
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 0] = 255  # red, but fully transparent on the left half
    rgba[:, 4:, 3] = 255
    Image.fromarray(rgba, "RGBA").save(tmp_path / "t.png")
    out = images.read_rgb(tmp_path / "t.png")
    assert (out[:, :4] == 255).all() and (out[:, 4:] == [255, 0, 0]).all()


def test_exif_orientation_is_applied(tmp_path):
    image = Image.fromarray(colour_pattern()[:, :16])  # 16 wide, 32 tall
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    image.save(tmp_path / "r.jpg", exif=exif)
    assert images.read_rgb(tmp_path / "r.jpg").shape == (16, 32, 3)


def test_truncated_file_is_corrupt(tmp_path):
    Image.fromarray(colour_pattern(64)).save(tmp_path / "full.jpg", quality=95)
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(images.UnusableImage) as info:
        images.read_rgb(tmp_path / "cut.jpg")
    assert info.value.reason == images.CORRUPT and "cut.jpg" in str(info.value)


def test_garbage_and_text_files_are_not_images(tmp_path):
    (tmp_path / "noise.jpg").write_bytes(np.random.default_rng(0).bytes(500))
    (tmp_path / "notes.png").write_text("not a picture")
    for name in ("noise.jpg", "notes.png"):
        with pytest.raises(images.UnusableImage) as info:
            images.read_rgb(tmp_path / name)
        assert info.value.reason in (images.NOT_AN_IMAGE, images.CORRUPT)
    assert not images.is_image_file(tmp_path / "notes.txt")
    assert not images.is_image_file(tmp_path / ".hidden.jpg")
    assert images.is_image_file(tmp_path / "Photo.JPEG")


def test_a_file_object_with_limits_on_formats_and_pixels(tmp_path):
    """Bytes in memory (an upload) decode like the file; a format outside ``formats`` is not an
    image, and a size over ``max_pixels`` is refused from the header alone."""
    Image.fromarray(colour_pattern()).save(tmp_path / "p.png")
    data = (tmp_path / "p.png").read_bytes()
    decoded = images.read_rgb_alpha(io.BytesIO(data), formats=("PNG",), max_pixels=32 * 32)
    assert np.array_equal(decoded.rgb, images.read_rgb_alpha(tmp_path / "p.png").rgb)
    with pytest.raises(images.UnusableImage) as info:
        images.read_rgb_alpha(io.BytesIO(data), formats=("JPEG",))
    assert info.value.reason == images.NOT_AN_IMAGE and str(info.value).startswith("<image>")
    cut = data[: data.index(b"IDAT") + 8]  # four bytes of pixels: decoding would fail
    with pytest.raises(images.UnusableImage) as info:
        images.read_rgb_alpha(io.BytesIO(cut), max_pixels=1000)
    assert info.value.reason == images.TOO_LARGE and info.value.__cause__ is None
    assert info.value.detail == "32 x 32 = 0.00102 megapixels; the limit is 0.001 megapixels"
    with pytest.raises(images.UnusableImage) as info:
        images.read_rgb_alpha(io.BytesIO(cut), max_pixels=32 * 32)
    assert info.value.reason == images.CORRUPT


@pytest.mark.parametrize("suffix", [".gif", ".png", ".webp", ".tif"])
def test_multi_frame_files_give_their_first_frame_and_say_so(tmp_path, caplog, suffix):
    """Animated GIF, PNG and WebP, multi-page TIFF: frame 1 as before, and the count is known."""
    frames = [Image.fromarray(np.roll(colour_pattern(), 8 * i, axis=1)) for i in range(3)]
    path = tmp_path / f"moving{suffix}"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    with Image.open(path) as first:
        expected = np.asarray(first.convert("RGB"))
    decoded = images.read_rgb_alpha(path)
    assert decoded.frames == 3 and np.array_equal(decoded.rgb, expected)
    with caplog.at_level(logging.WARNING, logger=images.__name__):
        assert np.array_equal(images.read_rgb(path), expected)
    (message,) = [record.getMessage() for record in caplog.records]
    assert path.name in message and "3 frames" in message and "only the first is used" in message


def test_still_images_and_camera_mpo_jpegs_are_one_frame(tmp_path, caplog):
    rgb = colour_pattern()
    Image.fromarray(rgb).save(tmp_path / "still.png")
    preview = Image.fromarray(rgb[::2, ::2])  # a camera JPEG with an embedded second picture
    Image.fromarray(rgb).save(
        tmp_path / "camera.jpg", format="MPO", save_all=True, append_images=[preview]
    )
    assert Image.open(tmp_path / "camera.jpg").n_frames == 2
    with caplog.at_level(logging.WARNING, logger=images.__name__):
        for name in ("still.png", "camera.jpg"):
            assert images.read_rgb_alpha(tmp_path / name).frames == 1
            assert images.read_rgb(tmp_path / name).shape == (32, 32, 3)
    assert not caplog.records
    assert np.array_equal(images.read_rgb(tmp_path / "still.png"), rgb)


def test_a_dataset_logs_its_multi_frame_training_images(tmp_path, caplog):
    folder = tmp_path / "photos"
    folder.mkdir()
    frames = [Image.fromarray(np.roll(colour_pattern(), 8 * i, axis=0)) for i in range(2)]
    frames[0].save(folder / "moving.gif", save_all=True, append_images=frames[1:])
    Image.fromarray(colour_pattern()).save(folder / "still.png")
    with caplog.at_level(logging.WARNING, logger=images.__name__):
        loaded = load_images(f"folder:{folder}", 32, cache_dir=tmp_path / "cache")
    assert len(loaded) == 2  # still used: its first frame
    warned = [r.getMessage() for r in caplog.records if r.name == images.__name__]
    assert len(warned) == 1 and "moving.gif" in warned[0] and "2 frames" in warned[0]


def test_colourless_detection():
    rgb = colour_pattern()
    assert not images.is_colourless(rgb)
    gray = np.repeat(rgb[..., :1], 3, axis=-1)
    assert images.is_colourless(gray)
    noisy = gray.astype(int) + np.random.default_rng(0).integers(-3, 4, gray.shape)
    assert images.is_colourless(np.clip(noisy, 0, 255).astype(np.uint8))


def test_fit_square_resizes_crops_and_refuses_small():
    rgb = np.zeros((150, 200, 3), np.uint8)
    assert images.fit_square(rgb, 128).shape == (128, 128, 3)
    same = colour_pattern(64)
    assert images.fit_square(same, 64) is same
    with pytest.raises(ValueError, match="smaller"):
        images.fit_square(colour_pattern(16), 32)
    assert images.fit_square(colour_pattern(16), 32, upscale=True).shape == (32, 32, 3)
