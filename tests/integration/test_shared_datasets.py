"""The data stage against the real data sets in ../shared/datasets: the shipped manifests list
exactly the shared files, the copies verify, names resolve to them and load; what the unit tests in
tests/data check on synthetic files, checked once on the real ones."""

from __future__ import annotations

import csv
import dataclasses
import io
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED_DATASETS  # pytest puts tests/ on sys.path
from dataset_files import make_root, sha256sums
from PIL import Image
from skimage.color import rgb2lab

from colorize_core.data import datasets, images
from colorize_core.data.cache import load_images
from colorize_core.data.datasets import DATASETS, resolve_dataset, verify_dataset
from colorize_core.data.lfw import process_lfw
from colorize_core.data.manifest import picture_fingerprint, read_manifest, write_manifest
from colorize_core.data.spec import DatasetError, archive_urls
from colorize_core.runs import experiment
from colorize_core.training.config import ExperimentConfig

SHARED = SHARED_DATASETS
FACES = SHARED / "faces" / "images"
FACES_WILD = SHARED / "faces_wild"


def lfw_photo(seed: int) -> bytes:
    """A 250x250 JPEG standing in for an LFW photo: smooth colours of its own, lightly textured."""
    rng = np.random.default_rng(seed)
    y, x = (grid[..., np.newaxis] / 250 for grid in np.mgrid[0:250, 0:250])  # (250, 250, 1)
    slopes, base = rng.uniform(-90, 90, (2, 3)), rng.uniform(60, 190, 3)
    rgb = base + x * slopes[0] + y * slopes[1] + rng.normal(0, 4, (250, 250, 3))
    encoded = io.BytesIO()
    Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).save(encoded, "JPEG", quality=95)
    return encoded.getvalue()


def reencode(data: bytes, **settings: object) -> bytes:
    """``data``'s picture as a JPEG written with ``settings`` (quality 92 unless they say)."""
    with Image.open(io.BytesIO(data)) as image:
        encoded = io.BytesIO()
        image.save(encoded, "JPEG", **{"quality": 92, **settings})
    return encoded.getvalue()


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No COLORIZE_DATA, and a COLORIZE_HOME in tmp_path, so the user's data/ is never seen."""
    monkeypatch.delenv("COLORIZE_DATA", raising=False)
    monkeypatch.setenv("COLORIZE_HOME", str(tmp_path / "home"))
    return tmp_path / "home" / "data"


# --- the registry and its manifests against the shared copies ----------------------------------


@pytest.mark.parametrize("name", ["faces", "landscapes", "cifar10", "faces_wild", "photos_wild"])
def test_manifest_lists_exactly_the_shared_files_and_hashes(name: str) -> None:
    entries = read_manifest(DATASETS[name])
    expected = sha256sums(SHARED / name)
    assert [entry.file for entry in entries] == list(expected)
    assert {entry.file: entry.sha256 for entry in entries} == expected


def test_spec_urls_are_those_of_source_md() -> None:
    assert list(DATASETS) == ["faces", "landscapes", "cifar10", "faces_wild", "photos_wild"]
    for name, spec in DATASETS.items():
        assert spec.name == name
        for url in archive_urls(spec.url).values():
            assert url in (SHARED / name / "SOURCE.md").read_text(encoding="utf-8")
    assert {name: spec.image_size for name, spec in DATASETS.items()} == {
        "faces": 128,
        "landscapes": 128,
        "cifar10": 32,
        "faces_wild": 128,
        "photos_wild": 128,
    }


def test_landscapes_origins_and_labels_match_manifest_csv() -> None:
    with open(SHARED / "landscapes" / "MANIFEST.csv", newline="", encoding="utf-8") as file:
        rows = {row["file"]: row for row in csv.DictReader(file)}
    entries = read_manifest(DATASETS["landscapes"])
    assert len(entries) == len(rows) == 6000
    for entry in entries:
        assert (entry.origin, entry.label) == (
            rows[entry.file]["origin_path"],
            rows[entry.file]["class"],
        )


@pytest.mark.parametrize("name", ["faces", "landscapes", "cifar10", "faces_wild", "photos_wild"])
def test_shared_copies_verify(name: str) -> None:
    verify_dataset(SHARED / name, name)


def test_resolve_real_data_via_colorize_data(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("COLORIZE_DATA", str(SHARED))
    with caplog.at_level(logging.INFO, logger="colorize_core.data.datasets"):
        assert resolve_dataset("cifar10", download=False) == SHARED / "cifar10" / "images"
    assert "COLORIZE_DATA" in caplog.text


def test_relative_colorize_data_is_found_from_the_repository_root_too(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The README's ``COLORIZE_DATA=../shared/datasets`` from notebooks/ (a JupyterLab kernel,
    ``papermill --cwd notebooks``): not a folder there, so it is taken from the checkout's root."""
    root = Path(datasets.__file__).resolve().parents[2]
    monkeypatch.chdir(tmp_path)  # any other folder, as notebooks/ is
    monkeypatch.setenv("COLORIZE_DATA", os.path.relpath(SHARED, root))
    with caplog.at_level(logging.INFO, logger="colorize_core.data.datasets"):
        found = resolve_dataset("faces", download=False)
    assert found.resolve() == FACES.resolve() and str(found) in caplog.text


def test_faces_wild_origins_and_identities_match_manifest_csv() -> None:
    commit = DATASETS["faces_wild"].url.removesuffix(".zip").rsplit("/", 1)[1]
    with open(FACES_WILD / "MANIFEST.csv", newline="", encoding="utf-8") as file:
        rows = {row["file"]: row for row in csv.DictReader(file)}
    entries = read_manifest(DATASETS["faces_wild"])
    assert len(entries) == len(rows)
    for entry in entries:
        top, origin = rows[entry.file]["original_path_in_archive"].split("/", 1)
        assert (top, origin, entry.label) == (
            f"dfi-tensorflow-{commit}",
            entry.origin,
            rows[entry.file]["identity"],
        )


def test_faces_wild_fingerprints_are_those_of_the_shared_files() -> None:
    for entry in read_manifest(DATASETS["faces_wild"])[::100]:
        assert picture_fingerprint((FACES_WILD / entry.file).read_bytes()) == entry.fingerprint


def test_process_lfw_writes_jpegs_as_the_shared_files_were_written() -> None:
    made = process_lfw(lfw_photo(0))
    with Image.open(io.BytesIO(made)) as image:
        assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (128, 128))
    # Quality 92 tables, 4:2:0, baseline, the same JFIF header: all bytes before the scan agree.
    shipped = (FACES_WILD / "images" / "AJ_Lamas_0001.jpg").read_bytes()
    assert made[: made.index(b"\xff\xda")] == shipped[: shipped.index(b"\xff\xda")]
    with pytest.raises(ValueError, match="not an image Pillow can read"):
        process_lfw(b"not a photo")
    with pytest.raises(ValueError, match="a damaged image: image file is truncated"):
        process_lfw(lfw_photo(0)[:2000])


def test_verify_tells_a_reencoded_shared_copy_from_another_face(tmp_path: Path) -> None:
    entries = read_manifest(DATASETS["faces_wild"])[:4]
    write_manifest(tmp_path / "three.csv.gz", entries[:3])
    spec = dataclasses.replace(DATASETS["faces_wild"], manifest=tmp_path / "three.csv.gz")
    copy = make_root(tmp_path / "copy")
    first, second, third, fourth = (FACES_WILD / entry.file for entry in entries)
    (copy / first.name).write_bytes(reencode(first.read_bytes(), optimize=True))
    (copy / second.name).write_bytes(reencode(second.read_bytes(), quality=85))
    shutil.copy(fourth, copy / third.name)  # another face under this one's name
    with pytest.raises(DatasetError) as info:
        verify_dataset(tmp_path / "copy", spec)
    message = str(info.value)
    assert f"wrong sha256: 3 ({', '.join(entry.file for entry in entries[:3])})" in message
    assert f"differs for 2 ({entries[0].file}, {entries[1].file}): they show" in message
    assert f"A different picture for 1 ({entries[2].file})" in message


def test_faces_wild_resolves_from_colorize_data_and_loads_by_name(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("COLORIZE_DATA", str(SHARED))
    assert resolve_dataset("faces_wild", download=False) == FACES_WILD / "images"
    # Loaded by name through an experiment, from a few of its files: all 5000 take ~20 s.
    few = make_root(tmp_path / "few")
    for entry in read_manifest(DATASETS["faces_wild"])[:12]:
        shutil.copy(FACES_WILD / entry.file, few)
    config = ExperimentConfig.from_params(
        dataset="faces_wild", data_path=str(tmp_path / "few"), limit=10, image_size=64
    )
    data, split = experiment.load_data(config)
    assert (data.name, len(data), tuple(data.lab.shape)) == ("faces_wild", 10, (10, 3, 64, 64))
    assert sorted(split.train + split.val + split.test) == sorted(data.files)


# --- loading the real files --------------------------------------------------------------------


def test_faces_load_whole_and_match_skimage(face_rgb, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLORIZE_DATA", str(SHARED))
    faces = load_images("faces")
    assert len(faces) == 750 and faces.skipped == {} and faces.size == 128
    assert faces.files[0] == "image00000.jpg"
    expected = np.stack([rgb2lab(im) for im in face_rgb])
    got = faces.lab[:8].float().permute(0, 2, 3, 1).numpy()
    assert np.abs(got - expected).max() < 0.07  # float16 storage: within 0.03 + conversion error


def test_cifar10_colourless_rule_matches_its_grayscale_list():
    """Our colourless rule reproduces the dataset's own GRAYSCALE.txt exactly, on real files."""
    root = SHARED / "cifar10"
    listed = {
        line.split("\t")[0]
        for line in (root / "GRAYSCALE.txt").read_text().splitlines()
        if line.strip()
    }
    assert len(listed) == 147
    sample = sorted(listed)[::7] + sorted((root / "images" / "cat").glob("*.png"))[:60]
    for item in sample:
        path = root / item if isinstance(item, str) else item
        relative = path.relative_to(root).as_posix()
        assert images.is_colourless(images.read_rgb(path)) == (relative in listed), relative
