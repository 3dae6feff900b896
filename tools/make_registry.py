"""Regenerate the manifests ``colorize_core/data/registry/<name>.csv.gz`` from the shared data sets.

Usage: ``python tools/make_registry.py [DATASETS_DIR]`` (default ``../shared/datasets`` beside the
repository). Each manifest lists the files and hashes of ``<name>/SHA256SUMS``, in its order, with
each file's path inside the GitHub archive (its top-level folder stripped), for data sets with
classes its label, and for data sets made by processing the archive's members (faces_wild) each
file's picture fingerprint. The output is byte-for-byte reproducible.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Callable
from pathlib import Path

from colorize_core.data.datasets import DATASETS
from colorize_core.data.manifest import ManifestEntry, picture_fingerprint, write_manifest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "datasets"
OUT = REPO / "colorize_core" / "data" / "registry"

OriginOf = Callable[[str], tuple[str, str | None]]  # file -> (origin in the archive, label)


def _faces(root: Path) -> OriginOf:
    # images/image00000.jpg came from face_images/image00000.jpg
    return lambda file: ("face_images/" + Path(file).name, None)


def _cifar10(root: Path) -> OriginOf:
    # images/<class>/<file>.png came from test/<class>/<file>.png; the folder is the class
    return lambda file: ("test/" + file.removeprefix("images/"), Path(file).parent.name)


def _landscapes(root: Path) -> OriginOf:
    # The files were renamed when sampled; MANIFEST.csv records each one's origin and class.
    with open(root / "MANIFEST.csv", newline="", encoding="utf-8") as file:
        rows = {row["file"]: (row["origin_path"], row["class"]) for row in csv.DictReader(file)}
    return rows.__getitem__


def _faces_wild(root: Path) -> OriginOf:
    # MANIFEST.csv records each file's path in the archive (with its top-level folder) and the
    # person it shows, kept as the label (no code treats labels as classes to predict).
    with open(root / "MANIFEST.csv", newline="", encoding="utf-8") as file:
        rows = {
            row["file"]: (row["original_path_in_archive"].split("/", 1)[1], row["identity"])
            for row in csv.DictReader(file)
        }
    return rows.__getitem__


# How each data set's files map to the archive, given the data set's root.
ORIGINS: dict[str, Callable[[Path], OriginOf]] = {
    "faces": _faces,
    "landscapes": _landscapes,
    "cifar10": _cifar10,
    "faces_wild": _faces_wild,
}


def make_manifest(root: Path, name: str) -> list[ManifestEntry]:
    """The manifest entries of the shared copy of data set ``name`` at ``root``."""
    origin_of = ORIGINS[name](root)
    processed = DATASETS[name].processing is not None
    entries = []
    for line in (root / "SHA256SUMS").read_text(encoding="utf-8").splitlines():
        sha256, file = line.split(maxsplit=1)
        fingerprint = picture_fingerprint((root / file).read_bytes()) if processed else None
        entries.append(ManifestEntry(file, sha256, *origin_of(file), fingerprint))
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
