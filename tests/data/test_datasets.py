"""Data sets: the registry and its shipped manifests, resolution order, offline downloads and
their verification, faces_wild's LFW processing; on synthetic files (tests/integration checks the
manifests against the real copies in ../shared)."""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import io
import os
import re
import shutil
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import PIL
import pytest
from conftest import synthetic_photos  # pytest puts tests/ on sys.path
from dataset_files import make_root, sha256sums
from PIL import Image

from colorize_core.data import datasets
from colorize_core.data.datasets import (
    DATASETS,
    default_data_dir,
    download_dataset,
    file_stem,
    resolve_dataset,
    verify_dataset,
)
from colorize_core.data.lfw import crop_resize_lfw, process_lfw
from colorize_core.data.manifest import (
    ManifestEntry,
    picture_fingerprint,
    read_manifest,
    write_manifest,
)
from colorize_core.data.spec import DatasetError, DatasetSpec, Processing

TOP = "SomeRepo-abc123"  # the top-level folder a GitHub archive wraps everything in


def fake_faces(root: Path, count: int) -> Path:
    """A data set root laid out as faces' is: ``count`` synthetic JPEGs images/image00000.jpg, ...
    and their SHA256SUMS as ``sha256sum`` writes it. Returns ``root``."""
    images = make_root(root)
    lines = []
    for i, rgb in enumerate(synthetic_photos(count, size=64)):
        path = images / f"image{i:05}.jpg"
        Image.fromarray(rgb).save(path, quality=90)
        lines.append(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  images/{path.name}\n")
    (root / "SHA256SUMS").write_text("".join(lines), encoding="utf-8")
    return root


def tiny_spec(tmp_path: Path, count: int = 3) -> tuple[DatasetSpec, list[ManifestEntry]]:
    """A spec for ``count`` stand-in faces (made in tmp_path/originals), with its own manifest,
    and an archive of them."""
    originals = fake_faces(tmp_path / "originals", count)
    sums = sha256sums(originals)
    entries = [ManifestEntry(file, sums[file], f"face_images/{Path(file).name}") for file in sums]
    write_manifest(tmp_path / "tiny.csv.gz", entries)
    archive = make_archive(tmp_path / "tiny.zip", {e.origin: originals / e.file for e in entries})
    spec = DatasetSpec(
        name="tiny",
        url=archive.as_uri(),
        description="three faces",
        citation="test only",
        image_size=128,
        manifest=tmp_path / "tiny.csv.gz",
    )
    return spec, entries


def make_archive(path: Path, members: dict[str, Path | bytes]) -> Path:
    """A GitHub-style zip: ``members`` (origin -> file or bytes) under one top-level folder."""
    with zipfile.ZipFile(path, "w") as packed:
        packed.writestr(f"{TOP}/", b"")
        packed.writestr(f"{TOP}/README.md", b"not in the manifest")
        for origin, content in members.items():
            data = content if isinstance(content, bytes) else content.read_bytes()
            packed.writestr(f"{TOP}/{origin}", data)
    return path


def leftovers(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir()) if folder.exists() else []


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No COLORIZE_DATA, and a COLORIZE_HOME in tmp_path, so the user's data/ is never seen."""
    monkeypatch.delenv("COLORIZE_DATA", raising=False)
    monkeypatch.setenv("COLORIZE_HOME", str(tmp_path / "home"))
    return tmp_path / "home" / "data"


# --- the shipped manifests --------------------------------------------------------------------


def test_faces_origins() -> None:
    for entry in read_manifest(DATASETS["faces"]):
        assert entry.origin == "face_images/" + entry.file.removeprefix("images/")
        assert entry.label is None


def test_cifar10_origins_and_labels_follow_the_class_folders() -> None:
    entries = read_manifest(DATASETS["cifar10"])
    for entry in entries:
        _, label, filename = entry.file.split("/")
        assert entry.origin == f"test/{label}/{filename}"
        assert entry.label == label
    assert len({entry.label for entry in entries}) == 10


def test_verify_names_missing_and_altered_files(tmp_path: Path) -> None:
    spec, _ = tiny_spec(tmp_path, count=3)
    root = tmp_path / "copy"
    (root / "images").mkdir(parents=True)
    (root / "images" / "image00000.jpg").write_bytes(
        (tmp_path / "originals" / "images" / "image00000.jpg").read_bytes()
    )
    (root / "images" / "image00001.jpg").write_bytes(b"not a face")
    with pytest.raises(DatasetError, match=r"missing: 1 \(images/image00002.jpg\)") as info:
        verify_dataset(root, spec)
    assert "wrong sha256: 1 (images/image00001.jpg)" in str(info.value)


# --- resolve_dataset --------------------------------------------------------------------------


def test_default_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert default_data_dir() == tmp_path / "home" / "data"
    monkeypatch.delenv("COLORIZE_HOME")
    # The tests run from a source checkout, so its data/ is the default.
    assert default_data_dir() == Path(datasets.__file__).resolve().parents[2] / "data"


def test_resolve_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, isolated: Path) -> None:
    explicit = make_root(tmp_path / "explicit")
    from_env = make_root(tmp_path / "env" / "faces")
    local = make_root(isolated / "faces")
    monkeypatch.setenv("COLORIZE_DATA", str(tmp_path / "env"))
    assert resolve_dataset("faces", tmp_path / "explicit", download=False) == explicit
    assert resolve_dataset("faces", str(explicit), download=False) == explicit  # a folder of images
    assert resolve_dataset("faces", download=False) == from_env
    monkeypatch.delenv("COLORIZE_DATA")
    assert resolve_dataset("faces", download=False) == local


def test_colorize_data_without_the_name_falls_through(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, isolated: Path
) -> None:
    make_root(tmp_path / "env" / "cifar10")
    local = make_root(isolated / "faces")
    monkeypatch.setenv("COLORIZE_DATA", str(tmp_path / "env"))
    assert resolve_dataset("faces", download=False) == local


def test_folder_syntax(tmp_path: Path) -> None:
    photos = make_root(tmp_path / "faces")
    assert resolve_dataset(f"folder:{photos}") == photos
    with pytest.raises(DatasetError, match="not a folder"):
        resolve_dataset(f"folder:{tmp_path / 'nowhere'}")
    (tmp_path / "file.jpg").write_bytes(b"")
    with pytest.raises(DatasetError, match="not a folder"):
        resolve_dataset(f"folder:{tmp_path / 'file.jpg'}")


def test_relative_locations_are_taken_from_the_callers_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    explicit = make_root(tmp_path / "mine" / "faces")
    make_root(tmp_path / "shared" / "faces")
    monkeypatch.chdir(tmp_path)
    assert resolve_dataset("faces", "mine/faces", download=False).resolve() == explicit.resolve()
    assert resolve_dataset("folder:mine/faces/images").resolve() == explicit.resolve()
    monkeypatch.setenv("COLORIZE_DATA", "shared")
    found = resolve_dataset("faces", download=False)
    assert found.resolve() == (tmp_path / "shared" / "faces" / "images").resolve()


def test_a_relative_colorize_data_found_nowhere_names_each_place_tried(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    root = Path(datasets.__file__).resolve().parents[2]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLORIZE_DATA", "no/such/data")
    with pytest.raises(DatasetError) as info:
        resolve_dataset("faces", download=False)
    message = str(info.value)
    assert message.startswith("COLORIZE_DATA=no/such/data is not a folder: tried ")
    assert f"{tmp_path / 'no/such/data'} (from the current folder)" in message
    assert f"{root / 'no/such/data'} (from the repository root)" in message


def test_file_stems_are_safe_readable_and_tell_folders_apart() -> None:
    assert [file_stem(name) for name in DATASETS] == list(DATASETS)
    first, second = file_stem("folder:/home/me/photos"), file_stem("folder:/mnt/old/photos")
    assert first.startswith("folder-photos-") and second.startswith("folder-photos-")
    assert first != second and file_stem("folder:/home/me/photos") == first
    assert file_stem("folder:~/Mes photos/été 1998/").startswith("folder-ete-1998-")
    for name in ("folder:.", "folder:/", "folder:..", "folder:C:\\scans", "folder:a/../b"):
        assert re.fullmatch(r"folder-[A-Za-z0-9._-]+", file_stem(name)), name
        assert ".." not in file_stem(name)


def test_file_stems_of_folders_named_in_any_bytes() -> None:
    """A folder whose name is not UTF-8 gets a stem from its bytes; valid names keep theirs (the
    cache files already on disk are named after them)."""
    odd = "folder:" + os.fsdecode(b"/home/me/\xffphotos")
    assert re.fullmatch(r"folder-photos-[0-9a-f]{8}", file_stem(odd))
    assert file_stem(odd) == file_stem(odd) != file_stem("folder:/home/me/photos")
    assert file_stem("folder:/home/me/photos") == "folder-photos-46033733"
    digest = hashlib.sha256("/home/me/été".encode()).hexdigest()[:8]
    assert file_stem("folder:/home/me/été") == f"folder-ete-{digest}"


def test_unknown_name_lists_the_valid_ones() -> None:
    with pytest.raises(
        DatasetError, match="faces, landscapes, cifar10, faces_wild, photos_wild, or 'folder:PATH'"
    ):
        resolve_dataset("imagenet")


def test_explicit_locations_that_do_not_exist_are_errors(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, isolated: Path
) -> None:
    make_root(isolated / "faces")  # would be found if the bad locations were skipped
    with pytest.raises(DatasetError, match="the path given, .*nowhere, is not a folder"):
        resolve_dataset("faces", tmp_path / "nowhere")
    monkeypatch.setenv("COLORIZE_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(DatasetError, match="COLORIZE_DATA=.*nowhere is not a folder"):
        resolve_dataset("faces")


def test_nothing_found_says_what_was_tried_and_how_to_fix_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, isolated: Path
) -> None:
    (tmp_path / "env").mkdir()
    monkeypatch.setenv("COLORIZE_DATA", str(tmp_path / "env"))
    with pytest.raises(DatasetError) as info:
        resolve_dataset("landscapes", download=False)
    message = str(info.value)
    assert "Tried, in order:" in message
    assert f"1. $COLORIZE_DATA/landscapes: {tmp_path / 'env' / 'landscapes'}" in message
    assert f"2. default data folder: {isolated / 'landscapes'}" in message
    assert "3. download: not allowed" in message
    for fix in (
        "path=",
        "set COLORIZE_DATA",
        "connect to the internet",
        DATASETS["landscapes"].url,
    ):
        assert fix in message
    assert not (isolated / "landscapes").exists()


# --- download_dataset, offline, from a file:// archive -----------------------------------------


def test_manifest_round_trip(tmp_path: Path) -> None:
    spec, entries = tiny_spec(tmp_path)
    assert read_manifest(spec) == entries
    labelled = [entry._replace(label="face") for entry in entries]
    write_manifest(tmp_path / "labelled.csv.gz", labelled)
    assert (
        read_manifest(dataclasses.replace(spec, manifest=tmp_path / "labelled.csv.gz")) == labelled
    )


def test_download_extracts_and_verifies(tmp_path: Path) -> None:
    spec, entries = tiny_spec(tmp_path)
    dest = download_dataset(spec, tmp_path / "data" / "tiny")
    assert dest == tmp_path / "data" / "tiny"
    files = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())
    assert files == ["SHA256SUMS", *(entry.file for entry in entries)]  # nothing else extracted
    verify_dataset(dest, spec)
    assert sha256sums(dest) == {entry.file: entry.sha256 for entry in entries}
    expected_sums = (tmp_path / "originals" / "SHA256SUMS").read_text().splitlines(keepends=True)
    assert (dest / "SHA256SUMS").read_text() == "".join(expected_sums)
    assert leftovers(tmp_path / "data") == ["tiny"]  # no staging folder left behind
    with pytest.raises(DatasetError, match="already exists"):
        download_dataset(spec, dest)


def test_download_defaults_to_the_data_dir(tmp_path: Path, isolated: Path) -> None:
    spec, _ = tiny_spec(tmp_path)
    assert (
        download_dataset(dataclasses.replace(spec, url="nowhere"), url=spec.url)
        == isolated / "tiny"
    )


def test_tampered_member_is_named(tmp_path: Path) -> None:
    spec, entries = tiny_spec(tmp_path)
    members: dict[str, Path | bytes] = {e.origin: tmp_path / "originals" / e.file for e in entries}
    members[entries[1].origin] = b"tampered"
    make_archive(tmp_path / "tiny.zip", members)
    with pytest.raises(DatasetError, match=r"wrong sha256: 1 \(images/image00001.jpg\)"):
        download_dataset(spec, tmp_path / "data" / "tiny")
    assert leftovers(tmp_path / "data") == []


def test_missing_member_is_named(tmp_path: Path) -> None:
    spec, entries = tiny_spec(tmp_path)
    originals = tmp_path / "originals"
    make_archive(tmp_path / "tiny.zip", {e.origin: originals / e.file for e in entries[:1]})
    with pytest.raises(
        DatasetError, match=r"missing: 2 \(images/image00001.jpg, images/image00002"
    ):
        download_dataset(spec, tmp_path / "data" / "tiny")
    assert leftovers(tmp_path / "data") == []


def test_error_lists_only_the_first_few(tmp_path: Path) -> None:
    spec, entries = tiny_spec(tmp_path, count=8)
    make_archive(tmp_path / "tiny.zip", {})
    with pytest.raises(
        DatasetError, match=r"8 files expected, missing: 8 \(.*image00004.jpg, \.\.\.\)"
    ):
        download_dataset(spec, tmp_path / "data" / "tiny")


@pytest.mark.parametrize("damage", ["truncated", "not found"])
def test_failed_download_leaves_nothing(tmp_path: Path, damage: str) -> None:
    spec, _ = tiny_spec(tmp_path)
    archive = tmp_path / "tiny.zip"
    if damage == "truncated":
        archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    else:
        archive.unlink()
    with pytest.raises(DatasetError, match="downloading 'tiny' from file://.* failed"):
        download_dataset(spec, tmp_path / "data" / "tiny")
    assert leftovers(tmp_path / "data") == []


def test_a_full_disk_during_a_download_says_so_and_leaves_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    spec, _ = tiny_spec(tmp_path)

    def disk_full(source: object, target: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(shutil, "copyfileobj", disk_full)
    with pytest.raises(DatasetError, match="failed: no space left on .*images"):
        download_dataset(spec, tmp_path / "data" / "tiny")
    assert leftovers(tmp_path / "data") == []


def test_interrupted_download_leaves_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    spec, _ = tiny_spec(tmp_path)
    real_urlopen = urllib.request.urlopen

    class Interrupted:
        """A response that delivers one chunk, then the user presses Ctrl-C."""

        def __init__(self, *args: object, **kwargs: object) -> None:
            self.response = real_urlopen(*args, **kwargs)
            self.headers = self.response.headers
            self.reads = 0

        def __enter__(self) -> Interrupted:
            return self

        def __exit__(self, *exc: object) -> None:
            self.response.close()

        def read(self, size: int) -> bytes:
            self.reads += 1
            if self.reads > 1:
                raise KeyboardInterrupt
            return self.response.read(100)

    monkeypatch.setattr(urllib.request, "urlopen", Interrupted)
    with pytest.raises(KeyboardInterrupt):
        download_dataset(spec, tmp_path / "data" / "tiny")
    assert leftovers(tmp_path / "data") == []


def test_resolve_falls_through_to_download(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, isolated: Path
) -> None:
    spec, entries = tiny_spec(tmp_path)
    monkeypatch.setitem(
        DATASETS,
        "faces",
        dataclasses.replace(DATASETS["faces"], url=spec.url, manifest=spec.manifest),
    )
    folder = resolve_dataset("faces")
    assert folder == isolated / "faces" / "images"
    assert sorted(path.name for path in folder.iterdir()) == [Path(e.file).name for e in entries]
    # Once downloaded, the local copy is found without downloading again.
    (tmp_path / "tiny.zip").unlink()
    assert resolve_dataset("faces", download=False) == folder


def test_resolve_reports_a_failed_download(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, isolated: Path
) -> None:
    missing = (tmp_path / "gone.zip").as_uri()
    monkeypatch.setitem(DATASETS, "faces", dataclasses.replace(DATASETS["faces"], url=missing))
    with pytest.raises(
        DatasetError, match=r"(?s)Tried, in order:.*3\. download: downloading"
    ) as info:
        resolve_dataset("faces")
    assert "connect to the internet" in str(info.value)
    assert leftovers(isolated) == []


# --- faces_wild: LFW photos, processed after extraction -----------------------------------------

LFW = "data/lfw-deepfunneled"  # the LFW folder inside the dfi-tensorflow archive


def lfw_photo(seed: int) -> bytes:
    """A 250x250 JPEG standing in for an LFW photo: smooth colours of its own, lightly textured."""
    rng = np.random.default_rng(seed)
    y, x = (grid[..., np.newaxis] / 250 for grid in np.mgrid[0:250, 0:250])  # (250, 250, 1)
    slopes, base = rng.uniform(-90, 90, (2, 3)), rng.uniform(60, 190, 3)
    rgb = base + x * slopes[0] + y * slopes[1] + rng.normal(0, 4, (250, 250, 3))
    encoded = io.BytesIO()
    Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).save(encoded, "JPEG", quality=95)
    return encoded.getvalue()


def lfw_spec(tmp_path: Path, count: int = 3) -> tuple[DatasetSpec, list[ManifestEntry], dict]:
    """faces_wild's spec over a fake archive of ``count`` synthetic LFW photos, with a manifest of
    what ``process_lfw`` makes of them; and the archive's members, origin -> bytes."""
    members: dict[str, Path | bytes] = {
        f"{LFW}/Person_{i}/Person_{i}_0001.jpg": lfw_photo(i) for i in range(count)
    }
    entries = []
    for origin, member in members.items():
        made = process_lfw(member)
        digest = hashlib.sha256(made).hexdigest()
        person, name = Path(origin).parent.name, Path(origin).name
        entries.append(
            ManifestEntry(f"images/{name}", digest, origin, person, picture_fingerprint(made))
        )
    write_manifest(tmp_path / "lfw.csv.gz", entries)
    archive = make_archive(tmp_path / "lfw.zip", members)
    spec = dataclasses.replace(
        DATASETS["faces_wild"], url=archive.as_uri(), manifest=tmp_path / "lfw.csv.gz"
    )
    return spec, entries, members


def reencode(data: bytes, **settings: object) -> bytes:
    """``data``'s picture as a JPEG written with ``settings`` (quality 92 unless they say)."""
    with Image.open(io.BytesIO(data)) as image:
        encoded = io.BytesIO()
        image.save(encoded, "JPEG", **{"quality": 92, **settings})
    return encoded.getvalue()


def test_faces_wild_manifest_lists_5000_lfw_files() -> None:
    entries = read_manifest(DATASETS["faces_wild"])
    assert len(entries) == len({entry.file for entry in entries}) == 5000
    assert len({entry.origin for entry in entries}) == 5000
    for entry in entries:
        assert re.fullmatch(r"[0-9a-f]{64}", entry.sha256), entry
        assert re.fullmatch(r"[0-9a-f]{96}", entry.fingerprint or ""), entry
        # data/lfw-deepfunneled/<person>/<person>_NNNN.jpg -> images/<person>_NNNN.jpg
        person, name = entry.origin.removeprefix(f"{LFW}/").split("/")
        assert entry.origin.startswith(f"{LFW}/") and re.fullmatch(rf"{person}_\d{{4}}\.jpg", name)
        assert (entry.file, entry.label) == (f"images/{name}", person)
    assert len({entry.label for entry in entries}) == 3969


def test_crop_resize_lfw_takes_the_centre_160_pixels() -> None:
    # Each pixel holds its position: R its column, G its row (0..249), B a mix of both.
    y, x = np.mgrid[0:250, 0:250]
    position = np.stack([x, y, (x + 2 * y) % 256], axis=-1).astype(np.uint8)
    out = np.asarray(crop_resize_lfw(Image.fromarray(position)))
    assert (out.shape, out.dtype) == ((128, 128, 3), np.uint8)
    # Independently: cut pixels 45..204 with numpy, then resize that with LANCZOS.
    cut = Image.fromarray(position[45:205, 45:205])
    np.testing.assert_array_equal(out, cut.resize((128, 128), Image.Resampling.LANCZOS))
    # Output pixel j is centred on input pixel 45 + (j + 0.5) * 160 / 128 - 0.5; a crop one pixel
    # off would miss every one of these by 0.6 or more.
    centres = 45 + (np.arange(128) + 0.5) * 160 / 128 - 0.5
    assert np.abs(out[..., 0] - centres[np.newaxis, :]).max() <= 0.5
    assert np.abs(out[..., 1] - centres[:, np.newaxis]).max() <= 0.5


def test_crop_resize_lfw_makes_rgb_and_refuses_other_sizes() -> None:
    gray = crop_resize_lfw(Image.new("L", (250, 250), 77))
    assert (gray.mode, gray.size, gray.getpixel((0, 0))) == ("RGB", (128, 128), (77, 77, 77))
    with pytest.raises(ValueError, match=r"expected a 250x250 LFW image, got \(160, 160\)"):
        crop_resize_lfw(Image.new("RGB", (160, 160)))


def test_faces_wild_download_processes_each_member(tmp_path: Path) -> None:
    spec, entries, members = lfw_spec(tmp_path)
    dest = download_dataset(spec, tmp_path / "data" / "faces_wild")
    files = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())
    assert files == ["SHA256SUMS", *(entry.file for entry in entries)]
    for entry in entries:
        assert (dest / entry.file).read_bytes() == process_lfw(members[entry.origin])
    verify_dataset(dest, spec)
    assert sha256sums(dest) == {entry.file: entry.sha256 for entry in entries}
    assert leftovers(tmp_path / "data") == ["faces_wild"]


def test_faces_wild_tampered_members_are_rejected(tmp_path: Path) -> None:
    spec, entries, members = lfw_spec(tmp_path)
    members[entries[1].origin] = lfw_photo(99)  # another photo
    members[entries[2].origin] = b"tampered"  # no photo at all
    make_archive(tmp_path / "lfw.zip", members)
    with pytest.raises(DatasetError) as info:
        download_dataset(spec, tmp_path / "data" / "faces_wild")
    message = str(info.value)
    assert "3 files expected" in message
    unreadable = "images/Person_2_0001.jpg: not an image Pillow can read"
    assert f"could not be processed: 1 ({unreadable})" in message
    assert "wrong sha256: 1 (images/Person_1_0001.jpg)" in message
    assert "A different picture for 1 (images/Person_1_0001.jpg): damaged, or not" in message
    assert "Only the JPEG encoding differs" not in message
    assert leftovers(tmp_path / "data") == []


@pytest.mark.parametrize("settings", [{"optimize": True}, {"quality": 90}, {"subsampling": 0}])
def test_faces_wild_download_names_another_jpeg_encoder(
    tmp_path: Path, settings: dict[str, object]
) -> None:
    """Another Pillow or libjpeg, played by other encoder settings: same pictures, other bytes."""
    spec, entries, _ = lfw_spec(tmp_path)
    other = Processing(lambda member: reencode(process_lfw(member), **settings), "Pillow 13.0.0")
    with pytest.raises(DatasetError) as info:
        download_dataset(dataclasses.replace(spec, processing=other), tmp_path / "data" / "fw")
    message = str(info.value)
    files = ", ".join(entry.file for entry in entries)
    assert f"wrong sha256: 3 ({files})" in message
    assert f"Only the JPEG encoding differs for 3 ({files}): they show the manifest's" in message
    assert f"made with Pillow 13.0.0, this is Pillow {PIL.__version__} with libjpeg" in message
    assert "A different picture" not in message
    assert leftovers(tmp_path / "data") == []
