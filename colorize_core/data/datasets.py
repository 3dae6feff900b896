"""The data set registry: where each data set comes from, and how to find or fetch it.

Each registered data set is a public GitHub archive (a zip of one commit) plus a manifest shipped
with the package (``registry/<name>.csv.gz``, columns ``file, sha256, origin[, label]
[, fingerprint]``) that lists exactly the files we use, their hashes and their paths inside the
archive. The manifest is the contract: a download extracts only its members and checks every hash,
so a data set on disk either matches the one the results were made with or is rejected.

A data set whose files are derived from the archive's (``faces_wild``: cropped, resized and
re-encoded LFW photos) names its ``Processing``; a download applies it to each member before the
same hash check. Its manifest adds a ``fingerprint`` column, so that the error can tell a file
that differs only in its JPEG encoding (another Pillow or libjpeg) from a different picture.

``resolve_dataset`` finds a data set without surprises: an explicit path, then ``$COLORIZE_DATA``,
then ``data/<name>`` under ``default_data_dir()``, then (if allowed) a download, and it logs which
one it used. ``folder:PATH`` names any folder of images instead of a registered data set.

Every file written here (downloads, extracted and processed files, ``SHA256SUMS``, manifests) is
whole or absent (``atomic``); a download assembles its data set in a hidden folder besides.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import logging
import os
import re
import shutil
import sys
import tempfile
import unicodedata
import urllib.request
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import NamedTuple

import PIL
from PIL import Image, features
from tqdm import tqdm

from colorize_core.data.atomic import write_bytes, write_text, written_atomically
from colorize_core.data.images import display_name, name_bytes

log = logging.getLogger(__name__)

FOLDER_PREFIX = "folder:"
_CHUNK = 1 << 20  # bytes per read while downloading and hashing
_SHOW_FIRST = 5  # offending files named in an error; the rest are only counted


class DatasetError(RuntimeError):
    """A data set could not be found, downloaded or verified; the message says how to fix it."""


@dataclass(frozen=True)
class Processing:
    """How a data set's files are made from its archive's members, when they are not copied as is.

    ``apply`` maps a member's bytes to the file's bytes and raises ValueError for a member it cannot
    process. ``made_with`` names the libraries that made the manifest's hashes, since another
    version of them may write other bytes for the same picture.
    """

    apply: Callable[[bytes], bytes]
    made_with: str


@dataclass(frozen=True)
class DatasetSpec:
    """One registered data set.

    ``manifest`` is a resource name under ``colorize_core/data/registry/``, or a ``Path`` to a
    manifest file on disk (for a test's or a user's own archive).
    """

    name: str
    url: str  # GitHub archive of one commit; its single top-level folder is stripped
    description: str
    citation: str  # where it comes from, its licence, and what to cite
    image_size: int  # default side length, in pixels, that experiments resize to
    manifest: str | Path
    processing: Processing | None = None  # None: the archive's members are the files, unchanged


class ManifestEntry(NamedTuple):
    """One manifest row: a file of the data set, its hash and where it comes from."""

    file: str  # path relative to the data set root, e.g. images/image00000.jpg
    sha256: str
    origin: str  # path inside the archive, after stripping its top-level folder
    label: str | None = None  # class name, for data sets that have classes; faces_wild: the person
    fingerprint: str | None = None  # picture_fingerprint of the file, for processed data sets


# --- faces_wild: LFW deep-funneled photos, processed as its SOURCE.md says ----------------------

LFW_SIDE = 250  # every LFW deep-funneled image is 250x250
LFW_CROP = (45, 45, 205, 205)  # centre 160 px = round(0.64 x 250): drops most alignment wedges
LFW_SIZE = 128
LFW_QUALITY = 92  # JPEG quality; Pillow's other defaults (4:2:0, baseline, no optimize)


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
    try:
        with Image.open(io.BytesIO(member)) as image:
            picture = crop_resize_lfw(image)
    except Image.UnidentifiedImageError as err:
        raise ValueError("not an image Pillow can read") from err
    except (OSError, Image.DecompressionBombError) as err:
        raise ValueError(f"a damaged image: {err}") from err
    encoded = io.BytesIO()
    picture.save(encoded, format="JPEG", quality=LFW_QUALITY)
    return encoded.getvalue()


# --- picture fingerprints: the same picture in other bytes, or another picture ------------------

_FINGERPRINT_GRID = 4  # mean colour of each cell of a 4x4 grid: 48 bytes, 96 hex digits
# Re-encoding a faces_wild file (quality 85..97, 4:4:4) moves a cell's mean by at most 1 level;
# a one-pixel shift moves some cell by 3..8, and any two of the 5000 faces differ by 22 or more.
_FINGERPRINT_TOLERANCE = 2


def picture_fingerprint(data: bytes) -> str:
    """An image file's mean RGB in each cell of a 4x4 grid (box filter), as 96 hex digits.

    Two faithful encodings of one picture differ by a level or so per cell, where their sha256s
    differ completely: this tells "another JPEG encoder" apart from "another picture".
    """
    with Image.open(io.BytesIO(data)) as image:
        grid = (_FINGERPRINT_GRID, _FINGERPRINT_GRID)
        return image.convert("RGB").resize(grid, Image.Resampling.BOX).tobytes().hex()


def _same_picture(path: Path, fingerprint: str) -> bool:
    """Whether the image at ``path`` has ``fingerprint`` within the tolerance of a re-encoding."""
    try:
        found = bytes.fromhex(picture_fingerprint(path.read_bytes()))
    except (OSError, ValueError, Image.DecompressionBombError):
        return False  # not an image at all
    expected = bytes.fromhex(fingerprint)
    return len(found) == len(expected) and all(
        abs(a - b) <= _FINGERPRINT_TOLERANCE for a, b in zip(found, expected, strict=True)
    )


def _image_libraries() -> str:
    """The Pillow and JPEG library versions here, as an error message names them."""
    jpeg = features.version("libjpeg_turbo")
    library = f"libjpeg-turbo {jpeg}" if jpeg else f"libjpeg {features.version('jpg')}"
    return f"Pillow {PIL.__version__} with {library}"


DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            name="faces",
            url="https://github.com/2014mchidamb/DeepColorization/archive/"
            "cc2638e12b34a9c5f41fd84d97d05dc21289d597.zip",
            description="750 RGB face photos, 128x128 JPEG (the reference study's face set).",
            citation="2014mchidamb/DeepColorization face_images/, MIT License, "
            "(c) 2016 Muthu Chidambaram.",
            image_size=128,
            manifest="faces.csv.gz",
        ),
        DatasetSpec(
            name="landscapes",
            url="https://github.com/afroozsheikh/Intel-Image-Classifier/archive/"
            "5b571f44a7fdd66301f05b6921c07ee71b9e324c.zip",
            description="6000 outdoor scenes, 150x150 JPEG, 1000 in each of 6 classes "
            "(Intel Image Classification).",
            citation="Intel Image Classification (Analytics Vidhya; Kaggle "
            "puneet6060/intel-image-classification) via afroozsheikh/Intel-Image-Classifier; "
            "no licence file, research use only.",
            image_size=128,  # the files are 150x150; experiments resize
            manifest="landscapes.csv.gz",
        ),
        DatasetSpec(
            name="cifar10",
            url="https://github.com/cyizhuo/CIFAR-10-dataset/archive/"
            "a828d74fc38cd82a82ecfdeca6522873baf96efa.zip",
            description="CIFAR-10 test set: 10000 RGB images, 32x32 PNG, 1000 in each of 10 "
            "classes.",
            citation="A. Krizhevsky, 'Learning Multiple Layers of Features from Tiny Images', "
            "2009; via cyizhuo/CIFAR-10-dataset; no formal licence, free for research.",
            image_size=32,
            manifest="cifar10.csv.gz",
        ),
        DatasetSpec(
            name="faces_wild",
            url="https://github.com/braun-steven/dfi-tensorflow/archive/"
            "0a86d9a0c4e0c208f03766075a0fbaead1374e3e.zip",
            description="5000 in-the-wild face photos of 3969 public figures (at most 2 each), "
            "128x128 JPEG: the centre 160 px of Labeled Faces in the Wild (deep-funneled) photos, "
            "resized; grayscale, warped-border and near-duplicate photos dropped.",
            citation="Labeled Faces in the Wild, deep-funneled (G. B. Huang et al., University of "
            "Massachusetts, Amherst) via braun-steven/dfi-tensorflow data/lfw-deepfunneled/; no "
            "formal licence, research use only; news photos of real public figures, owned by "
            "their authors.",
            image_size=128,
            manifest="faces_wild.csv.gz",
            processing=Processing(apply=process_lfw, made_with="Pillow 13.0.0"),
        ),
    )
}


def get_spec(name: str | DatasetSpec) -> DatasetSpec:
    """The registered spec called ``name`` (a spec passes through unchanged)."""
    if isinstance(name, DatasetSpec):
        return name
    if name not in DATASETS:
        raise DatasetError(
            f"unknown data set {name!r}; valid names: {', '.join(DATASETS)}, "
            f"or '{FOLDER_PREFIX}PATH' for any folder of images"
        )
    return DATASETS[name]


def read_manifest(spec: DatasetSpec) -> list[ManifestEntry]:
    """The manifest's entries, in its order (that of the data set's ``SHA256SUMS``)."""
    if isinstance(spec.manifest, Path):
        source = spec.manifest
    else:
        source = resources.files("colorize_core.data") / "registry" / spec.manifest
    with source.open("rb") as raw, gzip.open(raw, "rt", newline="") as text:
        return [
            ManifestEntry(
                row["file"],
                row["sha256"],
                row["origin"],
                row.get("label") or None,
                row.get("fingerprint") or None,
            )
            for row in csv.DictReader(text)
        ]


def write_manifest(path: Path, entries: Iterable[ManifestEntry]) -> None:
    """Write a manifest, byte-for-byte reproducibly (gzip mtime 0).

    ``label`` and ``fingerprint`` are columns only if some entry has one.
    """
    entries = list(entries)
    optional = ("label", "fingerprint")
    columns = [
        name
        for name in ManifestEntry._fields
        if name not in optional or any(getattr(entry, name) is not None for entry in entries)
    ]
    with (
        written_atomically(path) as partial,
        open(partial, "wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as packed,
        io.TextIOWrapper(packed, encoding="utf-8", newline="") as text,
    ):
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([getattr(entry, name) for name in columns] for entry in entries)


def file_stem(name: str) -> str:
    """A data set name as part of a file name: only ``[A-Za-z0-9._-]``, no path separators.

    Registered names pass through. ``folder:PATH`` becomes ``folder-<base name>-<8 hex digits of
    sha256(PATH)>``: readable, and two folders with the same base name never share a file.

    >>> file_stem("folder:/home/me/photos")
    'folder-photos-46033733'
    """
    if not name.startswith(FOLDER_PREFIX):
        return _slug(name)
    path = name.removeprefix(FOLDER_PREFIX)
    digest = hashlib.sha256(name_bytes(path)).hexdigest()[:8]  # a name's bytes, valid or not
    return "-".join(part for part in ("folder", _slug(Path(path).name), digest) if part)


def _slug(text: str) -> str:
    """``text`` in ``[A-Za-z0-9._-]``: accents dropped (é -> e), any other run of characters -."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9._-]+", "-", ascii_text).strip("-.")


def default_data_dir() -> Path:
    """``$COLORIZE_HOME/data``; else the source checkout's ``data/``; else ``./data``."""
    if home := os.environ.get("COLORIZE_HOME"):
        return Path(home).expanduser() / "data"
    return (_checkout() or Path.cwd()) / "data"


def _checkout() -> Path | None:
    """The source checkout's root (the folder holding pyproject.toml above the package, for an
    editable install), or None for an installed package."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").is_file() else None


def colorize_data() -> Path | None:
    """``$COLORIZE_DATA`` as a folder, None when it is unset.

    A relative value is looked up from the current folder, then from the source checkout's root:
    a notebook runs in ``notebooks/`` (JupyterLab, ``papermill --cwd notebooks``) while the
    README's example, ``../shared/datasets``, is relative to the root. A value that is a folder
    in neither place is a ``DatasetError`` naming each place tried.
    """
    if not (value := os.environ.get("COLORIZE_DATA")):
        return None
    given = Path(value).expanduser()
    places = {"": given} if given.is_absolute() else {"the current folder": Path.cwd()}
    if not given.is_absolute() and (root := _checkout()) is not None:
        places["the repository root"] = root
    tried = {label: Path(os.path.abspath(base / given)) for label, base in places.items()}
    for folder in tried.values():
        if folder.is_dir():
            return folder
    where = " and ".join(f"{folder} (from {label})" for label, folder in tried.items() if label)
    raise DatasetError(
        f"COLORIZE_DATA={value} is not a folder"
        + (f": tried {where}" if where else "")
        + "; fix or unset it"
    )


def _images(root: Path, name: str, source: str) -> Path:
    """The image folder of a data set root (``root/images`` if there is one), logged."""
    folder = root / "images" if (root / "images").is_dir() else root
    log.info("data set %r: using %s (%s)", name, display_name(folder), source)
    return folder


def resolve_dataset(
    name: str, path: str | os.PathLike | None = None, *, download: bool = True
) -> Path:
    """The folder whose image files (searched recursively) make up data set ``name``.

    ``folder:PATH`` returns PATH. A registered name is looked for, in order: at ``path`` (a data set
    root holding ``images/``, or a folder of images); at ``$COLORIZE_DATA/<name>``; at
    ``default_data_dir()/<name>``; and last, if ``download``, fetched there. A location the user
    named explicitly (``path``, or ``COLORIZE_DATA`` itself) that does not exist is an error rather
    than skipped, since falling through would hide a typo. ``COLORIZE_DATA`` lacking ``<name>/``
    falls through, so one folder can hold some data sets while others come from elsewhere. A
    relative ``COLORIZE_DATA`` is looked up as ``colorize_data`` says.
    """
    if name.startswith(FOLDER_PREFIX):
        folder = Path(name.removeprefix(FOLDER_PREFIX)).expanduser()
        if not folder.is_dir():
            shown = display_name(folder)
            raise DatasetError(f"{name!r}: {shown} does not exist or is not a folder")
        log.info("data set %r: using %s", name, display_name(folder))
        return folder
    spec = get_spec(name)
    if path is not None:
        if not Path(path).expanduser().is_dir():
            raise DatasetError(
                f"data set {name!r}: the path given, {path}, is not a folder; pass a data set "
                "root holding images/, or a folder of images"
            )
        return _images(Path(path).expanduser(), name, "explicit path")

    tried = []
    if (shared := colorize_data()) is not None:
        if (root := shared / name).is_dir():
            return _images(root, name, "COLORIZE_DATA")
        tried.append(f"$COLORIZE_DATA/{name}: {root} does not exist")
    else:
        tried.append("$COLORIZE_DATA: not set")
    if (local := default_data_dir() / name).is_dir():
        return _images(local, name, "default data folder")
    tried.append(f"default data folder: {local} does not exist")

    if not download:
        tried.append("download: not allowed (download=False)")
    else:
        try:
            return _images(download_dataset(spec, local), name, f"downloaded from {spec.url}")
        except DatasetError as err:
            tried.append(f"download: {err}")
    steps = "".join(f"\n  {i}. {step}" for i, step in enumerate(tried, 1))
    raise DatasetError(
        f"data set {name!r} not found. Tried, in order:{steps}\nFix: pass path=<folder holding "
        f"{name}>, set COLORIZE_DATA to a folder that holds {name}/, or connect to the internet "
        f"and allow the download from {spec.url}"
    )


def _fetch(url: str, target: Path, label: str) -> None:
    """Stream ``url`` (http(s) or file://) to ``target`` with a progress bar."""
    # A bar is noise in logs, in notebooks run by papermill, and in CI.
    quiet = bool(os.environ.get("CI")) or not sys.stderr.isatty()
    with (
        urllib.request.urlopen(url, timeout=60) as response,
        written_atomically(target) as partial,
        open(partial, "wb") as out,
    ):
        total = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(total=total, unit="B", unit_scale=True, desc=label, disable=quiet) as bar:
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                bar.update(len(chunk))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _listing(files: list[str]) -> str:
    """``3 (a, b, c)``: the count, naming only the first few files."""
    more = ", ..." if len(files) > _SHOW_FIRST else ""
    return f"{len(files)} ({', '.join(files[:_SHOW_FIRST])}{more})"


def _check(
    root: Path,
    entries: list[ManifestEntry],
    what: str,
    processing: Processing | None = None,
    refused: dict[str, str] | None = None,
) -> None:
    """Raise DatasetError naming the first few files under ``root`` missing or altered, and those
    whose archive member ``processing`` refused (``refused``: file -> why, from a download)."""
    refused = refused or {}
    missing, altered = [], []
    for entry in entries:
        if entry.file in refused:
            continue
        if not (root / entry.file).is_file():
            missing.append(entry.file)
        elif _sha256(root / entry.file) != entry.sha256:
            altered.append(entry)
    problems = [
        f"{kind}: {_listing(files)}"
        for kind, files in (
            ("missing", missing),
            ("could not be processed", [f"{file}: {why}" for file, why in refused.items()]),
            ("wrong sha256", [entry.file for entry in altered]),
        )
        if files
    ]
    if problems:
        raise DatasetError(
            f"{what}: {len(entries)} files expected, {'; '.join(problems)}"
            + _encoding_note(root, altered, processing)
        )


def _encoding_note(root: Path, altered: list[ManifestEntry], processing: Processing | None) -> str:
    """What the fingerprints say of files with a wrong sha256: the manifest's picture in other
    bytes (another JPEG encoder), or another picture. Empty if the manifest has no fingerprints.

    Either way the data set is refused, not accepted with a warning: a re-encoded copy would carry
    the manifest's SHA256SUMS yet fail ``verify_dataset``, and its other pixels would give other
    results (and another cache) than the copy everyone else verifies. The note says why it failed
    and how to get a copy that verifies.
    """
    same, other = [], []
    for entry in altered:
        if entry.fingerprint:
            looks_same = _same_picture(root / entry.file, entry.fingerprint)
            (same if looks_same else other).append(entry.file)
    made_with = processing.made_with if processing else "the manifest's image libraries"
    note = ""
    if same:
        note += (
            f". Only the JPEG encoding differs for {_listing(same)}: they show the manifest's "
            f"picture (mean colours within {_FINGERPRINT_TOLERANCE} levels) in other bytes, as "
            f"another Pillow or libjpeg writes them; the manifest was made with {made_with}, this "
            f"is {_image_libraries()}. Use a copy that verifies (COLORIZE_DATA or path=), or "
            f"download with {made_with}"
        )
    if other:
        note += (
            f". A different picture for {_listing(other)}: damaged, or not the files the "
            "manifest was made from"
        )
    return note


def _extract(
    packed: zipfile.ZipFile,
    entries: list[ManifestEntry],
    staging: Path,
    processing: Processing | None,
) -> dict[str, str]:
    """Write each entry's archive member to ``staging / entry.file``, through ``processing`` if
    given. Returns file -> why for the members ``processing`` refused. A member not in the archive
    is skipped: ``_check`` reports it as missing, with the others."""
    # GitHub archives hold one top-level folder, <repo>-<commit>/, which origins omit.
    members = {n.split("/", 1)[-1]: n for n in packed.namelist() if not n.endswith("/")}
    refused = {}
    for entry in entries:
        if entry.origin not in members:
            continue
        # The target comes from our manifest, never the archive, so it cannot escape.
        target = staging / entry.file
        target.parent.mkdir(parents=True, exist_ok=True)
        with packed.open(members[entry.origin]) as src:
            if processing is None:
                with written_atomically(target) as partial, open(partial, "wb") as out:
                    shutil.copyfileobj(src, out)
                continue
            try:
                write_bytes(target, processing.apply(src.read()))
            except ValueError as err:
                refused[entry.file] = str(err)
    return refused


def download_dataset(
    name: str | DatasetSpec, dest: Path | None = None, *, url: str | None = None
) -> Path:
    """Download a data set's archive, extract its manifest's files to ``dest`` and verify them.

    ``dest`` defaults to ``default_data_dir()/<name>`` and must not exist yet; ``url`` overrides the
    spec's. A spec's ``processing`` makes each file from its member before the hash check. The work
    happens in a hidden sibling folder renamed to ``dest`` only once every file is present and
    hashed, so an interrupted download never looks like a data set. Returns ``dest``, which also
    gets a ``SHA256SUMS`` in ``sha256sum`` format, like the shared copies.
    """
    spec = get_spec(name)
    url = url or spec.url
    dest = Path(dest) if dest is not None else default_data_dir() / spec.name
    if dest.exists():
        raise DatasetError(f"{dest} already exists; remove it to download {spec.name!r} again")
    entries = read_manifest(spec)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}-partial-", dir=dest.parent))
    try:
        archive = staging / "archive.zip"
        log.info("data set %r: downloading %s", spec.name, url)
        _fetch(url, archive, f"download {spec.name}")
        with zipfile.ZipFile(archive) as packed:
            refused = _extract(packed, entries, staging, spec.processing)
        archive.unlink()
        what = f"the archive {url} does not match the {spec.name!r} manifest"
        _check(staging, entries, what, spec.processing, refused)
        sums = "".join(f"{entry.sha256}  {entry.file}\n" for entry in entries)
        write_text(staging / "SHA256SUMS", sums)
        staging.rename(dest)
    except (OSError, zipfile.BadZipFile) as err:
        raise DatasetError(f"downloading {spec.name!r} from {url} failed: {err}") from err
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("data set %r: %d files verified in %s", spec.name, len(entries), dest)
    return dest


def verify_dataset(root: Path, name: str | DatasetSpec) -> None:
    """Check that every file in the manifest is under ``root`` (a data set root) with its sha256.

    Raises DatasetError naming the first few missing or altered files. Extra files are allowed.
    """
    spec = get_spec(name)
    what = f"{root} is not the {spec.name!r} data set"
    _check(Path(root), read_manifest(spec), what, spec.processing)
