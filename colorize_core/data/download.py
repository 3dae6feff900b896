"""Downloading a data set's archive(s) and checking its files against the manifest.

The registry (``datasets``) turns a name into a spec and a folder; here each archive is fetched in
turn, only the manifest's members in it are extracted (through the spec's ``Processing``, if any;
a row's ``archive`` names its archive when a spec has several), and every file's sha256 is
checked, so a data set on disk either matches the one the results were made with or is rejected
with an error naming the first few files at fault.

Every file written here (the download, extracted and processed files, ``SHA256SUMS``) is whole or
absent (``atomic``), and the data set is assembled in a hidden folder renamed into place last.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import sys
import tempfile
import urllib.request
import zipfile
from collections.abc import Mapping
from pathlib import Path

import PIL
from PIL import features
from tqdm import tqdm

from colorize_core.data.atomic import write_bytes, write_text, written_atomically
from colorize_core.data.manifest import (
    FINGERPRINT_TOLERANCE,
    ManifestEntry,
    read_manifest,
    same_picture,
)
from colorize_core.data.paths import shown_path
from colorize_core.data.spec import DatasetError, DatasetSpec, Processing, archive_urls

log = logging.getLogger(__name__)

_CHUNK = 1 << 20  # bytes per read while downloading and hashing
_SHOW_FIRST = 5  # offending files named in an error; the rest are only counted


def fetch_dataset(spec: DatasetSpec, dest: Path, url: str | Mapping[str, str]) -> Path:
    """Download ``url`` (the archive of ``spec``, or its archives by name), extract its manifest's
    files to ``dest`` (which must not exist yet) and verify them; ``datasets.download_dataset``
    says more."""
    if dest.exists():
        raise DatasetError(f"{dest} already exists; remove it to download {spec.name!r} again")
    entries = read_manifest(spec)
    urls = archive_urls(url)
    if unknown := sorted({str(entry.archive) for entry in entries if entry.archive not in urls}):
        raise DatasetError(
            f"the {spec.name!r} manifest and the URLs given disagree: no URL for archive(s) "
            f"{', '.join(unknown)} (None: rows that name no archive)"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}-partial-", dir=dest.parent))
    refused: dict[str, str] = {}
    shown = " and ".join(urls.values())
    try:
        for name, address in urls.items():
            shown = address  # the archive a failure is about
            mine = [entry for entry in entries if entry.archive == name]
            refused |= _fetch_archive(spec, address, mine, staging)
        shown = " and ".join(urls.values())
        noun, verb = ("archives", "do") if len(urls) > 1 else ("archive", "does")
        what = f"the {noun} {shown} {verb} not match the {spec.name!r} manifest"
        _check(staging, entries, what, spec.processing, refused)
        sums = "".join(f"{entry.sha256}  {entry.file}\n" for entry in entries)
        write_text(staging / "SHA256SUMS", sums)
        staging.rename(dest)
    except (OSError, zipfile.BadZipFile) as err:
        raise DatasetError(f"downloading {spec.name!r} from {shown} failed: {err}") from err
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("data set %r: %d files verified in %s", spec.name, len(entries), shown_path(dest))
    return dest


def _fetch_archive(
    spec: DatasetSpec, url: str, entries: list[ManifestEntry], staging: Path
) -> dict[str, str]:
    """Download one archive into ``staging``, extract ``entries`` from it and delete it; returns
    ``_extract``'s refusals."""
    archive = staging / "archive.zip"
    log.info("data set %r: downloading %s", spec.name, url)
    _fetch(url, archive, f"download {spec.name}")
    with zipfile.ZipFile(archive) as packed:
        refused = _extract(packed, entries, staging, spec.processing)
    archive.unlink()
    return refused


def check_dataset(root: Path, spec: DatasetSpec) -> None:
    """Raise DatasetError unless every file of ``spec``'s manifest is under ``root`` with its
    sha256 (extra files are allowed)."""
    what = f"{root} is not the {spec.name!r} data set"
    _check(root, read_manifest(spec), what, spec.processing)


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


# --- verification: which files are missing or altered, and how --------------------------------


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
            looks_same = same_picture(root / entry.file, entry.fingerprint)
            (same if looks_same else other).append(entry.file)
    made_with = processing.made_with if processing else "the manifest's image libraries"
    note = ""
    if same:
        note += (
            f". Only the JPEG encoding differs for {_listing(same)}: they show the manifest's "
            f"picture (mean colours within {FINGERPRINT_TOLERANCE} levels) in other bytes, as "
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


def _image_libraries() -> str:
    """The Pillow and JPEG library versions here, as an error message names them."""
    jpeg = features.version("libjpeg_turbo")
    library = f"libjpeg-turbo {jpeg}" if jpeg else f"libjpeg {features.version('jpg')}"
    return f"Pillow {PIL.__version__} with {library}"
