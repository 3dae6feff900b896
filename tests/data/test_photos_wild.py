"""photos_wild: its registration and shipped manifest, its centre-square processing, and a download
from two archives; on synthetic files (tests/integration checks the manifest against the real
copy in ../shared)."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import synthetic_photos  # pytest puts tests/ on sys.path
from dataset_files import sha256sums
from PIL import Image

from colorize_core.data.centre_square import centre_square, process_centre_square
from colorize_core.data.datasets import DATASETS, download_dataset, verify_dataset
from colorize_core.data.manifest import (
    ManifestEntry,
    picture_fingerprint,
    read_manifest,
    same_picture,
    write_manifest,
)
from colorize_core.data.spec import DatasetError, DatasetSpec, archive_urls

IMAGENETTE = "https://github.com/thunderInfy/imagenette/archive/"
CALTECH = "https://github.com/MachineLearning2020/Homework2-Caltech101/archive/"


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No COLORIZE_DATA, and a COLORIZE_HOME in tmp_path, so the user's data/ is never seen."""
    monkeypatch.delenv("COLORIZE_DATA", raising=False)
    monkeypatch.setenv("COLORIZE_HOME", str(tmp_path / "home"))
    return tmp_path / "home" / "data"


def encoded(rgb: np.ndarray, fmt: str = "PNG", **settings: object) -> bytes:
    """``rgb`` (H, W, 3) uint8 as an image file's bytes."""
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, fmt, **settings)
    return out.getvalue()


def noise(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Random pixels: any shift of a crop changes the result."""
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def reference(rgb: np.ndarray, left: int, top: int, side: int) -> bytes:
    """photos_wild's file for ``rgb``, made independently: a numpy cut, LANCZOS, JPEG quality 90."""
    cut = Image.fromarray(rgb[top : top + side, left : left + side])
    return encoded(np.asarray(cut.resize((128, 128), Image.Resampling.LANCZOS)), "JPEG", quality=90)


# --- the registry entry and its shipped manifest -----------------------------------------------


def test_photos_wild_is_registered_with_both_archives_and_licences() -> None:
    spec = DATASETS["photos_wild"]
    assert (spec.name, spec.image_size, spec.manifest) == ("photos_wild", 128, "photos_wild.csv.gz")
    urls = archive_urls(spec.url)
    assert list(urls) == ["imagenette", "caltech101"]
    assert urls["imagenette"] == IMAGENETTE + "b850f030ff0701c36a4adc8b928ea9483a46915b.zip"
    assert urls["caltech101"] == CALTECH + "836044dd000296b2bb74d0aa4b4e462e459b01d7.zip"
    assert spec.shown_url == f"{urls['imagenette']} and {urls['caltech101']}"
    for licence in ("ImageNet terms of access", "CC BY 4.0", "doi 10.22002/D1.20086"):
        assert licence in spec.citation
    assert spec.processing is not None
    assert spec.processing.apply is process_centre_square
    assert spec.processing.made_with == "Pillow 13.0.0"


def test_single_archive_specs_keep_one_unnamed_url() -> None:
    for name in ("faces", "landscapes", "cifar10", "faces_wild"):
        spec = DATASETS[name]
        assert isinstance(spec.url, str) and archive_urls(spec.url) == {None: spec.url}
        assert spec.shown_url == spec.url
        assert all(entry.archive is None for entry in read_manifest(spec))


def test_photos_wild_manifest_names_each_files_archive_origin_and_class() -> None:
    entries = read_manifest(DATASETS["photos_wild"])
    assert len(entries) == len({entry.file for entry in entries}) == 11021
    assert sum(entry.archive == "imagenette" for entry in entries) == 7085
    assert sum(entry.archive == "caltech101" for entry in entries) == 3936
    for entry in entries:
        assert re.fullmatch(r"[0-9a-f]{64}", entry.sha256), entry
        assert re.fullmatch(r"[0-9a-f]{96}", entry.fingerprint or ""), entry
        if entry.archive == "imagenette":  # {train,val}/<wnid>/<stem>.JPEG
            pattern = rf"(train|val)/{entry.label}/(?P<stem>[\w.-]+)\.JPEG"
        else:  # 101_ObjectCategories/<class>/<stem>.jpg
            pattern = rf"101_ObjectCategories/{entry.label}/(?P<stem>image_\d{{4}})\.jpg"
        found = re.fullmatch(pattern, entry.origin or "")
        assert found, entry
        assert entry.file == f"images/{entry.archive}_{entry.label}_{found['stem']}.jpg"
    assert len({(entry.archive, entry.label) for entry in entries}) == 100


def test_archive_is_a_column_only_when_some_row_names_one(tmp_path: Path) -> None:
    plain = [ManifestEntry("images/a.jpg", "0" * 64, "a.jpg")]
    named = [plain[0]._replace(archive="first"), ManifestEntry("images/b.jpg", "1" * 64, "b.jpg")]
    for name, entries, header in (
        ("plain", plain, "file,sha256,origin"),
        ("named", named, "file,sha256,origin,archive"),
    ):
        path = tmp_path / f"{name}.csv.gz"
        write_manifest(path, entries)
        assert gzip.decompress(path.read_bytes()).decode().splitlines()[0] == header
        spec = DatasetSpec(name, "u", "description", "citation", 128, path)
        assert read_manifest(spec) == entries


# --- the processing: centre square, 128 px LANCZOS, JPEG quality 90 ---------------------------


@pytest.mark.parametrize(
    ("height", "width", "left", "top"),
    [(200, 301, 50, 0), (261, 171, 0, 45), (224, 224, 0, 0)],  # landscape, portrait, imagenette
)
def test_processing_takes_the_centre_square(height: int, width: int, left: int, top: int) -> None:
    """Offsets (w - s) // 2 and (h - s) // 2, rounded down: a crop one pixel off, or a resize
    without the crop, makes other bytes."""
    rgb = noise(height, width)
    side = min(height, width)
    made = process_centre_square(encoded(rgb))
    assert made == reference(rgb, left, top, side)
    with Image.open(io.BytesIO(made)) as image:
        assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (128, 128))
    if height != width:
        shifted = (left + 1, top) if width > height else (left, top + 1)
        assert made != reference(rgb, *shifted, side)


def test_processing_keeps_the_picture_within_the_fingerprint_tolerance(tmp_path: Path) -> None:
    """The JPEG's fingerprint is the centre square's within ``FINGERPRINT_TOLERANCE``, as the
    manifest's fingerprints assume: a re-encoding is then told from another picture."""
    rgb = synthetic_photos(2, size=300, seed=3)
    for i, photo in enumerate(rgb):
        tall = photo[:, 40:250]  # 300 x 210: the square is rows 45..254
        made = process_centre_square(encoded(tall, "JPEG", quality=95))
        square = Image.fromarray(tall[45:255]).resize((128, 128), Image.Resampling.LANCZOS)
        lossless = picture_fingerprint(encoded(np.asarray(square)))
        (tmp_path / f"{i}.jpg").write_bytes(made)
        assert same_picture(tmp_path / f"{i}.jpg", lossless)
        other = process_centre_square(encoded(rgb[1 - i][:, 40:250], "JPEG", quality=95))
        assert not same_picture(tmp_path / f"{i}.jpg", picture_fingerprint(other))


def test_processing_makes_rgb_and_ignores_exif_rotation() -> None:
    gray = centre_square(Image.new("L", (300, 200), 77))
    assert (gray.mode, gray.size, gray.getpixel((0, 0))) == ("RGB", (128, 128), (77, 77, 77))
    rgb = noise(200, 300, seed=1)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees": SOURCE.md's processing does not apply it
    plain = encoded(rgb, "JPEG", quality=95)
    rotated = encoded(rgb, "JPEG", quality=95, exif=exif.tobytes())
    assert plain != rotated and process_centre_square(plain) == process_centre_square(rotated)


@pytest.mark.parametrize("member", [b"not an image", b""])
def test_processing_refuses_what_is_not_an_image(member: bytes) -> None:
    with pytest.raises(ValueError, match="not an image Pillow can read"):
        process_centre_square(member)


def test_processing_refuses_a_truncated_image() -> None:
    whole = encoded(noise(200, 300), "JPEG", quality=95)
    with pytest.raises(ValueError, match="a damaged image"):
        process_centre_square(whole[: len(whole) // 2])


# --- a download from two archives, offline --------------------------------------------------------


def make_zip(path: Path, top: str, members: dict[str, bytes]) -> Path:
    """A GitHub-style zip: ``members`` (origin -> bytes) under the top-level folder ``top``."""
    with zipfile.ZipFile(path, "w") as packed:
        packed.writestr(f"{top}/", b"")
        packed.writestr(f"{top}/README.md", b"not in the manifest")
        for origin, data in members.items():
            packed.writestr(f"{top}/{origin}", data)
    return path


def two_archives(tmp_path: Path) -> tuple[DatasetSpec, list[ManifestEntry], dict]:
    """photos_wild's spec over two fake archives of synthetic photos, with a manifest of what
    ``process_centre_square`` makes of them, and the archives' members (archive -> origin ->
    bytes). Both archives hold a member at the same origin, with different photos, so only the
    ``archive`` column tells which is meant."""
    photos = [
        encoded(noise(180 + 7 * i, 240 - 11 * i, seed=i), "JPEG", quality=95) for i in range(4)
    ]
    members = {
        "imagenette": {"train/n01/n01_1.JPEG": photos[0], "same/origin.jpg": photos[1]},
        "caltech101": {"101_ObjectCategories/ant/image_0001.jpg": photos[2],
                       "same/origin.jpg": photos[3]},
    }  # fmt: skip
    entries = []
    for archive, files in members.items():
        for origin, member in files.items():
            made = process_centre_square(member)
            file = f"images/{archive}_{Path(origin).stem}.jpg"
            digest = hashlib.sha256(made).hexdigest()
            label = Path(origin).parent.name
            entries.append(
                ManifestEntry(file, digest, origin, label, picture_fingerprint(made), archive)
            )
    write_manifest(tmp_path / "photos.csv.gz", entries)
    urls = {
        archive: make_zip(tmp_path / f"{archive}.zip", f"{archive}-c0ffee", files).as_uri()
        for archive, files in members.items()
    }
    spec = dataclasses.replace(
        DATASETS["photos_wild"], url=urls, manifest=tmp_path / "photos.csv.gz"
    )
    return spec, entries, members


def leftovers(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir()) if folder.exists() else []


def test_two_archive_download_takes_each_file_from_its_archive(tmp_path: Path) -> None:
    spec, entries, members = two_archives(tmp_path)
    dest = download_dataset(spec, tmp_path / "data" / "photos_wild")
    files = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())
    assert files == sorted(["SHA256SUMS", *(entry.file for entry in entries)])
    for entry in entries:
        assert entry.archive is not None
        made = process_centre_square(members[entry.archive][entry.origin])
        assert (dest / entry.file).read_bytes() == made
    verify_dataset(dest, spec)
    assert sha256sums(dest) == {entry.file: entry.sha256 for entry in entries}
    assert leftovers(tmp_path / "data") == ["photos_wild"]


def test_two_archive_download_rejects_a_wrong_hash(tmp_path: Path) -> None:
    spec, entries, members = two_archives(tmp_path)
    caltech = members["caltech101"]
    caltech["same/origin.jpg"] = members["imagenette"]["same/origin.jpg"]  # the other archive's
    caltech["101_ObjectCategories/ant/image_0001.jpg"] = b"tampered"
    make_zip(tmp_path / "caltech101.zip", "caltech101-c0ffee", caltech)
    with pytest.raises(DatasetError) as info:
        download_dataset(spec, tmp_path / "data" / "photos_wild")
    message = str(info.value)
    assert f"the archives {spec.shown_url} do not match the 'photos_wild' manifest" in message
    assert "4 files expected" in message
    bad = "images/caltech101_image_0001.jpg: not an image Pillow can read"
    assert f"could not be processed: 1 ({bad})" in message
    assert "wrong sha256: 1 (images/caltech101_origin.jpg)" in message
    assert "A different picture for 1 (images/caltech101_origin.jpg)" in message
    assert leftovers(tmp_path / "data") == []


def test_a_missing_archive_is_named_and_leaves_nothing(tmp_path: Path) -> None:
    spec, _, _ = two_archives(tmp_path)
    (tmp_path / "caltech101.zip").unlink()
    with pytest.raises(DatasetError, match=r"downloading 'photos_wild' from file://\S*caltech101"):
        download_dataset(spec, tmp_path / "data" / "photos_wild")
    assert leftovers(tmp_path / "data") == []


def test_urls_that_do_not_cover_the_manifests_archives_are_refused(tmp_path: Path) -> None:
    spec, _, _ = two_archives(tmp_path)
    one = archive_urls(spec.url)["imagenette"]
    for url in (one, {"imagenette": one}):
        with pytest.raises(DatasetError, match=r"no URL for archive\(s\) caltech101"):
            download_dataset(spec, tmp_path / "data" / "photos_wild", url=url)
    assert leftovers(tmp_path / "data") == []
