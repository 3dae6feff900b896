"""Datasets as Lab tensors in memory: decode once, cache on disk (``split`` cuts and batches them).

The reference pipeline decoded every JPEG and ran scikit-image ``rgb2lab`` per sample in every
epoch (1-3 ms per image). Here each image is decoded, resized and converted once, the Lab tensors
are cached on disk (keyed by the files' content and the image size) and training reads batches
straight from memory, so the data path costs microseconds per image and a GPU is never starved.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from colorize_core.data import images
from colorize_core.data.atomic import written_atomically
from colorize_core.data.color import SIZE_MULTIPLE, rgb_to_lab
from colorize_core.data.datasets import (
    DATASETS,
    DatasetError,
    default_data_dir,
    file_stem,
    resolve_dataset,
)
from colorize_core.data.paths import shown_path
from colorize_core.data.progress import progress

log = logging.getLogger(__name__)

# Bump when decoding, resizing or the cache layout changes: old caches are then rebuilt.
CACHE_VERSION = 2  # 2: a sha256 of the cached tensor and file lists, checked on every load
_CONVERT_BATCH = 256  # images per rgb_to_lab call while building the cache


@dataclass
class LabImages:
    """A whole dataset at one square size, held in memory.

    ``lab`` is (N, 3, S, S) float16 in Lab units (L in [0, 100]); float16 keeps L and ab within
    0.03 Lab units of the float32 conversion at half the memory. ``files`` are paths relative to
    the dataset folder, sorted, aligned with ``lab``. ``skipped`` maps a reason to the files
    dropped for it. Both hold ``images.display_name`` text: a name that is not valid UTF-8 shows
    its odd bytes as ``\\xNN``, so that tables, JSON, logs and web pages can hold it.
    """

    name: str
    size: int
    files: list[str]
    lab: torch.Tensor
    skipped: dict[str, list[str]] = field(default_factory=dict)
    content_key: str = ""

    def __len__(self) -> int:
        return len(self.files)

    def subset(self, indices: np.ndarray | list[int]) -> LabImages:
        """The images at ``indices`` (in that order), sharing nothing mutable with ``self``."""
        index = torch.as_tensor(np.asarray(indices, dtype=np.int64))
        return LabImages(
            self.name,
            self.size,
            [self.files[i] for i in index.tolist()],
            self.lab[index],
            dict(self.skipped),
            self.content_key,
        )


# ---------------------------------------------------------------- loading and caching


def default_cache_dir() -> Path:
    """``$COLORIZE_CACHE`` if set, else ``<data dir>/cache``."""
    return Path(os.environ.get("COLORIZE_CACHE") or default_data_dir() / "cache")


def _list_files(root: Path) -> list[Path]:
    shown = images.display_name(root)
    if not root.is_dir():
        raise DatasetError(f"dataset folder {shown} does not exist or is not a folder")
    files = sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))
    if not files:
        raise DatasetError(f"dataset folder {shown} is empty: put image files in it")
    return files


def _content_key(root: Path, files: list[Path], size: int, upscale: bool = False) -> str:
    """sha256 over every file's relative path (its bytes, as the file system holds the name) and
    contents, the image size and the cache version."""
    digest = hashlib.sha256(f"v{CACHE_VERSION}|{size}{'|up' if upscale else ''}".encode())
    for path in files:
        digest.update(images.name_bytes(path.relative_to(root).as_posix()) + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _decode_all(
    label: str, root: Path, files: list[Path], size: int, upscale: bool
) -> tuple[list[str], np.ndarray, dict[str, list[str]]]:
    kept, pixels, skipped = [], [], {}
    for path in progress(files, desc=f"decoding {label}", unit="img", leave=False, mininterval=2):
        relative = images.display_name(path.relative_to(root).as_posix())
        try:
            if not images.is_image_file(path):
                raise images.UnusableImage(path, images.NOT_AN_IMAGE, "not an image file suffix")
            rgb = images.read_rgb(path)
            try:
                rgb = images.fit_square(rgb, size, upscale)
            except ValueError as error:
                raise images.UnusableImage(path, images.TOO_SMALL, str(error)) from error
            if images.is_colourless(rgb):
                raise images.UnusableImage(path, images.NO_COLOUR)
        except images.UnusableImage as error:
            skipped.setdefault(error.reason, []).append(relative)
            log.debug("skip %s", error)
            continue
        kept.append(relative)
        pixels.append(rgb)
    stacked = np.stack(pixels) if pixels else np.zeros((0, size, size, 3), np.uint8)
    return kept, stacked, skipped


def _to_lab(pixels: np.ndarray) -> torch.Tensor:
    """(N, S, S, 3) uint8 sRGB -> (N, 3, S, S) float16 Lab, converted in float32 batches."""
    out = torch.empty((len(pixels), 3, *pixels.shape[1:3]), dtype=torch.float16)
    for start in range(0, len(pixels), _CONVERT_BATCH):
        chunk = torch.from_numpy(pixels[start : start + _CONVERT_BATCH]).permute(0, 3, 1, 2)
        out[start : start + len(chunk)] = rgb_to_lab(chunk.float() / 255.0).half()
    return out


def _report_skips(name: str, total: int, kept: int, skipped: dict[str, list[str]]) -> None:
    for reason, names in sorted(skipped.items()):
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        log.warning("%s: skipped %d of %d files, %s: %s", name, len(names), total, reason, shown)
    if kept == 0:
        counts = "; ".join(f"{len(v)} {k}" for k, v in sorted(skipped.items()))
        raise DatasetError(f"{name}: none of the {total} files is a usable colour image ({counts})")


def _checksum(files: list[str], skipped: dict[str, list[str]], lab: torch.Tensor) -> str:
    """sha256 over the file lists, the tensor's shape and dtype, and every byte of its data."""
    digest = hashlib.sha256(json.dumps([files, skipped, list(lab.shape), str(lab.dtype)]).encode())
    digest.update(lab.contiguous().view(torch.uint8).numpy())
    return digest.hexdigest()


def _read_cache(cache_file: Path, key: str) -> dict | None:
    """The cache's contents if ``cache_file`` exists, loads, was built for ``key`` and matches
    its checksum; else None, with a warning if the file is there but unusable."""
    if not cache_file.is_file():
        return None
    try:  # a damaged cache is rebuilt, never trusted
        cached = torch.load(cache_file, weights_only=True)
        intact = cached["key"] == key and cached["checksum"] == _checksum(
            cached["files"], cached["skipped"], cached["lab"]
        )
    except Exception as error:
        log.warning("ignoring unreadable cache %s (%s)", shown_path(cache_file), error)
        return None
    if not intact:
        log.warning(
            "ignoring damaged cache %s (checksum mismatch); rebuilding it", shown_path(cache_file)
        )
        return None
    return cached


def _write_cache(cache_file: Path, contents: dict) -> None:
    """Save ``contents`` whole or not at all (``atomic.written_atomically``): a reader never sees
    half a file, writers building the same cache at once (a ``--parallel`` suite on a cold cache)
    never share a file, and a failed write leaves nothing behind. Raises ``atomic.NoSpaceLeft``
    ("no space left on <folder>") when the disk fills up."""
    with written_atomically(cache_file) as partial, open(partial, "wb") as file:
        torch.save(contents, file)  # a file of ours: closed, so freed, however the save ends


def load_images(
    name: str,
    size: int | None = None,
    *,
    path: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    download: bool = True,
    upscale: bool = False,
) -> LabImages:
    """Load a data set by name (a registered one, e.g. ``faces_wild``, or ``folder:PATH``).

    ``size`` defaults to the dataset's registered size (128 for folders). Unusable files are
    skipped, counted and logged by reason; a folder with no usable image is a ``DatasetError``.
    The result is cached under ``cache_dir`` (default ``default_cache_dir()``) and reused while
    the files are byte-for-byte the same and the cache matches its own sha256 (a damaged cache
    is rebuilt, with a warning); a full disk while writing it raises ``atomic.NoSpaceLeft`` and
    leaves no cache file. ``upscale`` enlarges images smaller than ``size`` instead of skipping
    them (for speed benchmarks only: enlarged targets are blurry).
    """
    spec = DATASETS.get(name)
    size = int(size or (spec.image_size if spec else 128))
    if size < SIZE_MULTIPLE or size % SIZE_MULTIPLE:
        raise ValueError(
            f"image size must be a positive multiple of {SIZE_MULTIPLE} (the models need it), "
            f"got {size}"
        )
    root = resolve_dataset(name, path, download=download)
    label = images.display_name(name)  # folder:PATH in logs and errors, whatever its bytes
    files = _list_files(root)
    key = _content_key(root, files, size, upscale)
    stem = f"{file_stem(name)}-{size}px-{key[:16]}"
    cache_file = Path(cache_dir or default_cache_dir()) / f"{stem}.pt"
    if (cached := _read_cache(cache_file, key)) is not None:
        log.info("%s: %d images from cache %s", label, len(cached["files"]), shown_path(cache_file))
        return LabImages(name, size, cached["files"], cached["lab"], cached["skipped"], key)

    kept, pixels, skipped = _decode_all(label, root, files, size, upscale)
    _report_skips(label, len(files), len(kept), skipped)
    lab = _to_lab(pixels)
    checksum = _checksum(kept, skipped, lab)
    contents = {"key": key, "files": kept, "lab": lab, "skipped": skipped, "checksum": checksum}
    _write_cache(cache_file, contents)
    log.info(
        "%s: decoded %d images at %dpx, cached in %s",
        label,
        len(kept),
        size,
        shown_path(cache_file),
    )
    return LabImages(name, size, kept, lab, skipped, key)


def on_device(data: LabImages, device: str | torch.device) -> LabImages:
    """``data`` with its Lab tensor (float16) moved to ``device``: on a GPU, batches are then
    indexed and augmented there, with no copy from the host per step."""
    return dataclasses.replace(data, lab=data.lab.to(device))
