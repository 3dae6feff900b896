"""Manifests: the files of a data set, their hashes, and where each comes from in its archive.

A manifest is a gzipped CSV shipped with the package (``registry/<name>.csv.gz``, columns
``file, sha256, origin[, label][, fingerprint][, archive]``), in the order of the data set's
``SHA256SUMS``. It is the contract a download and a verification check every file against.

A processed data set's manifest (``faces_wild``, ``photos_wild``) adds each file's picture
fingerprint, so that a file that differs only in its JPEG encoding (another Pillow or libjpeg) can
be told from a different picture. A data set made from several archives (``photos_wild``) names in
``archive`` which of its spec's archives holds each file's origin.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import NamedTuple

from PIL import Image

from colorize_core.data.atomic import written_atomically
from colorize_core.data.spec import DatasetSpec


class ManifestEntry(NamedTuple):
    """One manifest row: a file of the data set, its hash and where it comes from."""

    file: str  # path relative to the data set root, e.g. images/image00000.jpg
    sha256: str
    origin: str  # path inside the archive, after stripping its top-level folder
    label: str | None = None  # class name, for data sets that have classes; faces_wild: the person
    fingerprint: str | None = None  # picture_fingerprint of the file, for processed data sets
    archive: str | None = None  # the spec's archive holding origin, for several archives


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
                row.get("archive") or None,
            )
            for row in csv.DictReader(text)
        ]


def write_manifest(path: Path, entries: Iterable[ManifestEntry]) -> None:
    """Write a manifest, byte-for-byte reproducibly (gzip mtime 0).

    ``label``, ``fingerprint`` and ``archive`` are columns only if some entry has one.
    """
    entries = list(entries)
    optional = ("label", "fingerprint", "archive")
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


# --- picture fingerprints: the same picture in other bytes, or another picture ------------------

_FINGERPRINT_GRID = 4  # mean colour of each cell of a 4x4 grid: 48 bytes, 96 hex digits
# Re-encoding a faces_wild file (quality 85..97, 4:4:4) moves a cell's mean by at most 1 level;
# a one-pixel shift moves some cell by 3..8, and any two of the 5000 faces differ by 22 or more.
FINGERPRINT_TOLERANCE = 2


def picture_fingerprint(data: bytes) -> str:
    """An image file's mean RGB in each cell of a 4x4 grid (box filter), as 96 hex digits.

    Two faithful encodings of one picture differ by a level or so per cell, where their sha256s
    differ completely: this tells "another JPEG encoder" apart from "another picture".
    """
    with Image.open(io.BytesIO(data)) as image:
        grid = (_FINGERPRINT_GRID, _FINGERPRINT_GRID)
        return image.convert("RGB").resize(grid, Image.Resampling.BOX).tobytes().hex()


def same_picture(path: Path, fingerprint: str) -> bool:
    """Whether the image at ``path`` has ``fingerprint`` within the tolerance of a re-encoding."""
    try:
        found = bytes.fromhex(picture_fingerprint(path.read_bytes()))
    except (OSError, ValueError, Image.DecompressionBombError):
        return False  # not an image at all
    expected = bytes.fromhex(fingerprint)
    return len(found) == len(expected) and all(
        abs(a - b) <= FINGERPRINT_TOLERANCE for a, b in zip(found, expected, strict=True)
    )
