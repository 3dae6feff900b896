"""Small helpers for tests that build or check data set folders on disk."""

from __future__ import annotations

from pathlib import Path


def sha256sums(root: Path) -> dict[str, str]:
    """file -> sha256, from a ``sha256sum``-format SHA256SUMS."""
    lines = (root / "SHA256SUMS").read_text(encoding="utf-8").splitlines()
    return {file: digest for digest, file in (line.split("  ", 1) for line in lines)}


def make_root(folder: Path) -> Path:
    """A data set root with an images/ folder; returns that images/ folder."""
    (folder / "images").mkdir(parents=True)
    return folder / "images"
