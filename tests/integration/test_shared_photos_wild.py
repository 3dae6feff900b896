"""photos_wild against the real copy in ../shared/datasets: the shipped manifest's origins, labels
and archives are those of its MANIFEST.csv, its fingerprints those of the shared files, and
``process_centre_square`` writes JPEGs as they were written (test_shared_datasets checks the
hashes and that the copy verifies)."""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import shutil
from pathlib import Path

import pytest
from conftest import SHARED_DATASETS  # pytest puts tests/ on sys.path
from dataset_files import make_root
from PIL import Image

from colorize_core.data.cache import load_images
from colorize_core.data.centre_square import process_centre_square
from colorize_core.data.datasets import DATASETS, resolve_dataset
from colorize_core.data.manifest import picture_fingerprint, read_manifest, same_picture
from colorize_core.data.spec import archive_urls

PHOTOS_WILD = SHARED_DATASETS / "photos_wild"


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No COLORIZE_DATA, and a COLORIZE_HOME in tmp_path, so the user's data/ is never seen."""
    monkeypatch.delenv("COLORIZE_DATA", raising=False)
    monkeypatch.setenv("COLORIZE_HOME", str(tmp_path / "home"))
    return tmp_path / "home" / "data"


def test_origins_labels_and_archives_match_manifest_csv() -> None:
    # <repo>-<commit>/: the top-level folder of each archive, which origins omit
    tops = {
        archive: "-".join(url.removesuffix(".zip").split("/")[-3::2])
        for archive, url in archive_urls(DATASETS["photos_wild"].url).items()
    }
    with open(PHOTOS_WILD / "MANIFEST.csv", newline="", encoding="utf-8") as file:
        rows = {row["file"]: row for row in csv.DictReader(file)}
    entries = read_manifest(DATASETS["photos_wild"])
    assert len(entries) == len(rows) == 11021
    for entry in entries:
        row = rows[entry.file]
        top, origin = row["original_path_in_archive"].split("/", 1)
        assert entry.archive == row["source"], entry
        assert (top, origin, entry.label) == (tops[row["source"]], entry.origin, row["class"])


def test_fingerprints_are_those_of_the_shared_files() -> None:
    for entry in read_manifest(DATASETS["photos_wild"])[::100]:
        assert picture_fingerprint((PHOTOS_WILD / entry.file).read_bytes()) == entry.fingerprint


def test_source_md_sample_hash_is_in_the_manifest() -> None:
    source = (PHOTOS_WILD / "SOURCE.md").read_text(encoding="utf-8")
    sample = "images/caltech101_Faces_image_0003.jpg"
    digest = {entry.file: entry.sha256 for entry in read_manifest(DATASETS["photos_wild"])}[sample]
    assert f"sha256 of {sample}: {digest}" in source
    assert hashlib.sha256((PHOTOS_WILD / sample).read_bytes()).hexdigest() == digest


def test_process_centre_square_writes_jpegs_as_the_shared_files_were_written(
    tmp_path: Path,
) -> None:
    """Without the originals (no download here): quality 90 tables, 4:2:0, baseline and the same
    JFIF header, so all bytes before the scan agree; and a shared file put through the processing
    again (its centre square is itself) keeps the manifest's picture, by its fingerprint."""
    entries = read_manifest(DATASETS["photos_wild"])
    for entry in entries[:: len(entries) // 20]:
        shipped = (PHOTOS_WILD / entry.file).read_bytes()
        made = process_centre_square(shipped)
        with Image.open(io.BytesIO(made)) as image:
            assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (128, 128))
        assert made[: made.index(b"\xff\xda")] == shipped[: shipped.index(b"\xff\xda")], entry
        (tmp_path / "again.jpg").write_bytes(made)
        assert entry.fingerprint and same_picture(tmp_path / "again.jpg", entry.fingerprint), entry


def test_resolves_from_colorize_data_and_loads_by_name(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("COLORIZE_DATA", str(SHARED_DATASETS))
    with caplog.at_level(logging.INFO, logger="colorize_core.data.datasets"):
        assert resolve_dataset("photos_wild", download=False) == PHOTOS_WILD / "images"
    assert "COLORIZE_DATA" in caplog.text
    # Loaded by name from a few of its files, one of each archive first: all 11021 take a while.
    few = make_root(tmp_path / "few")
    entries = read_manifest(DATASETS["photos_wild"])
    for entry in entries[:6] + entries[-6:]:
        shutil.copy(PHOTOS_WILD / entry.file, few)
    data = load_images("photos_wild", path=tmp_path / "few", cache_dir=tmp_path / "cache")
    assert (data.name, data.size) == ("photos_wild", 128)
    assert len(data) + sum(map(len, data.skipped.values())) == 12
    assert tuple(data.lab.shape[1:]) == (3, 128, 128)
