"""Regenerate the manifests ``colorize_core/data/registry/<name>.csv.gz`` from the shared data sets.

Usage: ``python tools/make_registry.py [DATASETS_DIR]`` (default ``../shared/datasets`` beside the
repository). Each manifest lists the files and hashes of ``<name>/SHA256SUMS``, in its order, with
each file's path inside the GitHub archive (its top-level folder stripped), for data sets with
classes its label, for data sets made by processing the archive's members (faces_wild,
photos_wild) each file's picture fingerprint, and for data sets made from several archives
(photos_wild) the archive each file comes from. The output is byte-for-byte reproducible.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from colorize_core.data.datasets import DATASETS
from colorize_core.data.manifest import ManifestEntry, picture_fingerprint, write_manifest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "datasets"
OUT = REPO / "colorize_core" / "data" / "registry"


class Origin(NamedTuple):
    """Where a file comes from: its path in an archive, its label, which archive if several."""

    path: str
    label: str | None = None
    archive: str | None = None


OriginOf = Callable[[str], Origin]  # file -> its origin


def _faces(root: Path) -> OriginOf:
    # images/image00000.jpg came from face_images/image00000.jpg
    return lambda file: Origin("face_images/" + Path(file).name)


def _cifar10(root: Path) -> OriginOf:
    # images/<class>/<file>.png came from test/<class>/<file>.png; the folder is the class
    return lambda file: Origin("test/" + file.removeprefix("images/"), Path(file).parent.name)


def _landscapes(root: Path) -> OriginOf:
    # The files were renamed when sampled; MANIFEST.csv records each one's origin and class.
    with open(root / "MANIFEST.csv", newline="", encoding="utf-8") as file:
        rows = {
            row["file"]: Origin(row["origin_path"], row["class"]) for row in csv.DictReader(file)
        }
    return rows.__getitem__


def _faces_wild(root: Path) -> OriginOf:
    # MANIFEST.csv records each file's path in the archive (with its top-level folder) and the
    # person it shows, kept as the label (no code treats labels as classes to predict).
    with open(root / "MANIFEST.csv", newline="", encoding="utf-8") as file:
        rows = {
            row["file"]: Origin(row["original_path_in_archive"].split("/", 1)[1], row["identity"])
            for row in csv.DictReader(file)
        }
    return rows.__getitem__


def _photos_wild(root: Path) -> OriginOf:
    # MANIFEST.csv records each file's source (imagenette or caltech101: the spec's archive
    # names), its path in that archive (with its top-level folder) and its class, the label.
    with open(root / "MANIFEST.csv", newline="", encoding="utf-8") as file:
        rows = {
            row["file"]: Origin(
                row["original_path_in_archive"].split("/", 1)[1], row["class"], row["source"]
            )
            for row in csv.DictReader(file)
        }
    return rows.__getitem__


# How each data set's files map to the archive, given the data set's root.
ORIGINS: dict[str, Callable[[Path], OriginOf]] = {
    "faces": _faces,
    "landscapes": _landscapes,
    "cifar10": _cifar10,
    "faces_wild": _faces_wild,
    "photos_wild": _photos_wild,
}


def make_manifest(root: Path, name: str) -> list[ManifestEntry]:
    """The manifest entries of the shared copy of data set ``name`` at ``root``."""
    origin_of = ORIGINS[name](root)
    processed = DATASETS[name].processing is not None
    entries = []
    for line in (root / "SHA256SUMS").read_text(encoding="utf-8").splitlines():
        sha256, file = line.split(maxsplit=1)
        fingerprint = picture_fingerprint((root / file).read_bytes()) if processed else None
        origin = origin_of(file)
        entries.append(
            ManifestEntry(file, sha256, origin.path, origin.label, fingerprint, origin.archive)
        )
    return entries


def main(shared: Path = SHARED) -> None:
    if set(ORIGINS) != set(DATASETS):
        raise SystemExit(f"ORIGINS covers {sorted(ORIGINS)}, the registry {sorted(DATASETS)}")
    OUT.mkdir(exist_ok=True)
    for name, spec in DATASETS.items():
        target = OUT / spec.manifest
        write_manifest(target, make_manifest(shared / name, name))
        print(f"{target.relative_to(REPO)}: {target.stat().st_size} bytes")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else SHARED)
