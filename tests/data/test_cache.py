"""The decode-once tensor cache: skip accounting, reuse and invalidation, damaged or half-written
caches, full disks, and file names that are not UTF-8."""

import hashlib
import json
import logging
import os
import shutil
import struct
import subprocess
import zipfile

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from colorize_core.data import cache as cache_module
from colorize_core.data import images
from colorize_core.data.atomic import NoSpaceLeft
from colorize_core.data.cache import load_images
from colorize_core.data.datasets import DatasetError
from colorize_core.data.split import Split, make_split


def pattern(size: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


@pytest.fixture()
def mixed_folder(tmp_path):
    """Three usable colour images in odd modes plus one file of every bad kind."""
    root = tmp_path / "mixed"
    (root / "sub").mkdir(parents=True)
    Image.fromarray(pattern(40, 0)).save(root / "good.png")
    Image.fromarray(pattern(32, 1)).convert("CMYK").save(root / "sub" / "cmyk.jpg")
    Image.fromarray(pattern(32, 2)).convert("RGBA").save(root / "rgba.png")
    Image.fromarray(pattern(32, 3)).convert("P").save(root / "palette.png")
    Image.fromarray(pattern(32, 4)).convert("L").save(root / "gray.png")
    Image.fromarray((np.arange(32 * 32).reshape(32, 32) * 60).astype(np.uint16)).save(
        root / "gray16.png"
    )
    Image.fromarray(pattern(16, 5)).save(root / "tiny.png")
    Image.fromarray(pattern(64, 6)).save(root / "whole.jpg")
    full = (root / "whole.jpg").read_bytes()
    (root / "whole.jpg").unlink()
    (root / "cut.jpg").write_bytes(full[: len(full) // 3])
    (root / "notes.txt").write_text("hello")
    (root / "fake.png").write_text("not a png")
    return root


def test_mixed_folder_counts_and_logs_every_skip(mixed_folder, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="colorize_core.data"):
        data = load_images(f"folder:{mixed_folder}", 32, cache_dir=tmp_path / "cache")
    assert sorted(data.files) == ["good.png", "palette.png", "rgba.png", "sub/cmyk.jpg"]
    assert data.lab.shape == (4, 3, 32, 32) and data.lab.dtype == torch.float16
    assert data.skipped == {
        images.NO_COLOUR: ["gray.png", "gray16.png"],
        images.TOO_SMALL: ["tiny.png"],
        images.CORRUPT: ["cut.jpg"],
        images.NOT_AN_IMAGE: ["fake.png", "notes.txt"],
    }
    logged = caplog.text
    for name in ("gray.png", "tiny.png", "cut.jpg", "notes.txt", "fake.png"):
        assert name in logged


def test_folder_of_only_bad_files_is_an_error(tmp_path):
    root = tmp_path / "bad"
    root.mkdir()
    (root / "a.txt").write_text("x")
    Image.fromarray(pattern(32, 0)).convert("L").save(root / "gray.png")
    with pytest.raises(DatasetError, match="none of the 2 files") as info:
        load_images(f"folder:{root}", 32, cache_dir=tmp_path / "cache")
    assert "no colour" in str(info.value) and "not an image" in str(info.value)


def test_empty_and_missing_folders_are_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="empty"):
        load_images(f"folder:{tmp_path / 'empty'}", 32, cache_dir=tmp_path / "cache")
    with pytest.raises(DatasetError):
        load_images(f"folder:{tmp_path / 'missing'}", 32, cache_dir=tmp_path / "cache")


def test_size_must_suit_the_models(mixed_folder, tmp_path):
    with pytest.raises(ValueError, match="multiple of 8"):
        load_images(f"folder:{mixed_folder}", 30, cache_dir=tmp_path / "cache")


def test_cache_is_reused_and_invalidated_by_content(mixed_folder, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    first = load_images(f"folder:{mixed_folder}", 32, cache_dir=cache)
    assert len(list(cache.glob("*.pt"))) == 1

    def no_decoding(path):
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(images, "read_rgb", no_decoding)
    again = load_images(f"folder:{mixed_folder}", 32, cache_dir=cache)
    assert torch.equal(again.lab, first.lab) and again.skipped == first.skipped
    monkeypatch.undo()

    Image.fromarray(pattern(40, 9)).save(mixed_folder / "good.png")  # same name, new pixels
    changed = load_images(f"folder:{mixed_folder}", 32, cache_dir=cache)
    assert changed.content_key != first.content_key
    assert not torch.equal(changed.lab, first.lab)
    assert len(list(cache.glob("*.pt"))) == 2


def test_damaged_cache_is_rebuilt(mixed_folder, tmp_path, caplog):
    cache = tmp_path / "cache"
    first = load_images(f"folder:{mixed_folder}", 32, cache_dir=cache)
    (cache_file,) = cache.glob("*.pt")
    cache_file.write_bytes(b"garbage")
    with caplog.at_level(logging.WARNING):
        rebuilt = load_images(f"folder:{mixed_folder}", 32, cache_dir=cache)
    assert "unreadable cache" in caplog.text
    assert torch.equal(rebuilt.lab, first.lab)


def flip_tensor_bytes(cache_file, count: int) -> None:
    """XOR ``count`` bytes in the middle of the stored tensor's data, in place: the zip's index
    stays intact and readable, only the numbers change (as a bad disk sector would)."""
    with zipfile.ZipFile(cache_file) as packed:
        (member,) = [info for info in packed.infolist() if info.filename.endswith("/data/0")]
    with open(cache_file, "r+b") as file:
        file.seek(member.header_offset + 26)  # local file header: name and extra field lengths
        name_length, extra_length = struct.unpack("<HH", file.read(4))
        middle = member.header_offset + 30 + name_length + extra_length + member.file_size // 2
        file.seek(middle)
        damaged = bytes(b ^ 0xFF for b in file.read(count))
        file.seek(middle)
        file.write(damaged)


@pytest.mark.parametrize("count", [1, 4096])
def test_cache_with_damaged_tensor_bytes_is_rebuilt(mixed_folder, tmp_path, caplog, count):
    cache = tmp_path / "cache"
    fresh = load_images(f"folder:{mixed_folder}", 32, cache_dir=tmp_path / "fresh")
    load_images(f"folder:{mixed_folder}", 32, cache_dir=cache)
    (cache_file,) = cache.glob("*.pt")
    flip_tensor_bytes(cache_file, count)
    with zipfile.ZipFile(cache_file) as packed:
        assert packed.testzip() is not None  # readable, only the data's CRC is off
    with caplog.at_level(logging.WARNING, logger="colorize_core.data"):
        rebuilt = load_images(f"folder:{mixed_folder}", 32, cache_dir=cache)
    assert "damaged cache" in caplog.text
    assert torch.equal(rebuilt.lab, fresh.lab) and rebuilt.files == fresh.files
    assert rebuilt.skipped == fresh.skipped
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="colorize_core.data"):
        again = load_images(f"folder:{mixed_folder}", 32, cache_dir=cache)  # the rebuilt file
    assert "cache" not in caplog.text and torch.equal(again.lab, fresh.lab)


def test_concurrent_builders_of_one_cold_cache_both_succeed(mixed_folder, tmp_path, monkeypatch):
    """Another process (a --parallel suite on a cold cache) builds and renames the same cache
    while this one is still writing its own copy: neither may lose its temporary file."""
    cache, save = tmp_path / "cache", torch.save
    other = []

    def save_while_another_process_finishes(obj, file):
        save(obj, file)
        if not other:  # the first writer only; the other one's own save runs undisturbed
            other.append(None)
            other[0] = load_images(f"folder:{mixed_folder}", 32, cache_dir=cache)

    monkeypatch.setattr(torch, "save", save_while_another_process_finishes)
    mine = load_images(f"folder:{mixed_folder}", 32, cache_dir=cache)
    monkeypatch.undo()
    assert torch.equal(mine.lab, other[0].lab) and mine.files == other[0].files
    assert [p.suffix for p in cache.iterdir()] == [".pt"]  # no temporary file left behind
    assert torch.equal(load_images(f"folder:{mixed_folder}", 32, cache_dir=cache).lab, mine.lab)


def test_a_failed_cache_write_leaves_no_temporary_file(mixed_folder, tmp_path, monkeypatch):
    cache = tmp_path / "cache"

    def disk_full(obj, file):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(NoSpaceLeft, match="no space left on"):
        load_images(f"folder:{mixed_folder}", 32, cache_dir=cache)
    assert list(cache.iterdir()) == []


@pytest.fixture()
def tiny_disk(tmp_path):
    """A 64 KiB tmpfs (root only; skipped where mounting is not allowed)."""
    folder = tmp_path / "tiny"
    folder.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)]
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a tmpfs needs root")
    if subprocess.run(mount, capture_output=True).returncode != 0:
        pytest.skip("this machine does not allow mounting a tmpfs")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_a_full_disk_names_the_cache_folder_and_leaves_no_file(tmp_path, tiny_disk):
    """A real full disk: 24 images at 32 px make a ~150 KB cache, which 64 KiB cannot hold."""
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(24):
        Image.fromarray(pattern(32, i)).save(photos / f"{i:02}.png")
    with pytest.raises(NoSpaceLeft) as info:
        load_images(f"folder:{photos}", 32, cache_dir=tiny_disk / "cache")
    assert str(info.value) == f"no space left on {tiny_disk / 'cache'}"
    assert list((tiny_disk / "cache").iterdir()) == []  # no cache, no temporary file
    roomy = load_images(f"folder:{photos}", 32, cache_dir=tmp_path / "cache")
    assert len(roomy) == 24


def test_a_truncated_cache_is_never_served(mixed_folder, tmp_path, caplog):
    cache = tmp_path / "cache"
    first = load_images(f"folder:{mixed_folder}", 32, cache_dir=cache)
    (cache_file,) = cache.glob("*.pt")
    cache_file.write_bytes(cache_file.read_bytes()[: cache_file.stat().st_size // 2])
    with caplog.at_level(logging.WARNING, logger="colorize_core.data"):
        again = load_images(f"folder:{mixed_folder}", 32, cache_dir=cache)
    assert "unreadable cache" in caplog.text and torch.equal(again.lab, first.lab)


# ---------------------------------------------------------------- file names that are not UTF-8


def content_key(root, size: int, encode=str.encode) -> str:
    """The cache key of a folder, its relative names made bytes by ``encode``: ``str.encode`` as
    the package did before names were hashed as bytes (it failed on names that are not UTF-8)."""
    digest = hashlib.sha256(f"v{cache_module.CACHE_VERSION}|{size}".encode())
    for path in cache_module._list_files(root):
        digest.update(encode(path.relative_to(root).as_posix()) + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def test_cache_keys_of_valid_names_are_unchanged(tmp_path):
    """Hashing names as bytes keeps every existing cache (and the shared data sets' keys)."""
    root = tmp_path / "photos"
    (root / "été").mkdir(parents=True)
    for i, name in enumerate(["a.png", "Ünïcode 写真.png", "été/b c.png"]):
        Image.fromarray(pattern(32, i)).save(root / name)
    files = cache_module._list_files(root)
    assert cache_module._content_key(root, files, 32) == content_key(root, 32)
    for path in files:
        name = path.relative_to(root).as_posix()
        assert images.name_bytes(name) == os.fsencode(name) == name.encode("utf-8")
        assert images.display_name(name) == name


@pytest.fixture()
def odd_names(tmp_path):
    """A folder holding b'\\xff.png' (a photo) and b'\\xfe notes.txt', names that are not UTF-8."""
    root = tmp_path / "odd"
    root.mkdir()
    Image.fromarray(pattern(32, 0)).save(root / "good.png")
    Image.fromarray(pattern(32, 1)).save(root / "other.png")
    Image.fromarray(pattern(32, 2)).save(os.fsdecode(os.fsencode(root) + b"/\xff.png"))
    (root / os.fsdecode(b"\xfe notes.txt")).write_text("not a photo")
    return root


def test_names_that_are_not_utf8_load_cache_and_report(odd_names, tmp_path, caplog):
    cache = tmp_path / "cache"
    with caplog.at_level(logging.WARNING, logger="colorize_core.data"):
        data = load_images(f"folder:{odd_names}", 32, cache_dir=cache)
    assert data.files == ["good.png", "other.png", "\\xff.png"]  # sorted by the names' text
    assert data.skipped == {images.NOT_AN_IMAGE: ["\\xfe notes.txt"]}
    assert "\\xfe notes.txt" in caplog.text
    again = load_images(f"folder:{odd_names}", 32, cache_dir=cache)
    assert data.content_key == content_key(odd_names, 32, os.fsencode)  # the names' bytes
    assert again.content_key == data.content_key and len(list(cache.glob("*.pt"))) == 1
    assert again.files == data.files and torch.equal(again.lab, data.lab)


def test_names_that_are_not_utf8_write_to_tables_json_and_splits(odd_names, tmp_path):
    data = load_images(f"folder:{odd_names}", 32, cache_dir=tmp_path / "cache")
    split = make_split(data.files + [f"more{i}.png" for i in range(6)], seed=0)
    split.save(tmp_path / "split.json")
    assert Split.load(tmp_path / "split.json") == split
    table = pd.DataFrame({"value": range(len(data))}, index=pd.Index(data.files, name="file"))
    table.to_csv(tmp_path / "per_image.csv")  # UTF-8, strict
    assert pd.read_csv(tmp_path / "per_image.csv", index_col="file").index.tolist() == data.files
    text = json.dumps({"files": data.files, "skipped": data.skipped}, ensure_ascii=False)
    (tmp_path / "report.json").write_bytes(text.encode("utf-8"))
