"""Groups' names, and the report folder's group files: who wrote each, for which group, of which
kind.

A group of runs (same data set, size, subset, seed: the same test images) has a key, a readable
``group_label`` and a file name stem, ``group_stem``, e.g. ``faces_128px_all_seed0``. Each
experiment notebook writes its
own runs' part of a group as ``tables/<notebook>__<stem>_<kind>.csv`` (and ``.md``),
``figures/<notebook>__<stem>_<kind>.png`` (``.jpg`` for the photo grid) and
``scores/<notebook>__<stem>.npz`` (per-image scores, for model-against-model comparisons across
notebooks); the summary merges the parts into ``tables/<stem>_<kind>.csv`` and
``figures/<stem>_metrics.png``. Every writer removes only files of its own name, so re-running
one notebook never deletes or needs another's.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from colorize_core.data.atomic import write_bytes, write_text, written_atomically
from colorize_core.data.datasets import DATASETS, file_stem
from colorize_core.data.mixture import is_mixture, sources
from colorize_core.evaluation.evaluate import AbHistograms

OWNER = "__"  # between the writing notebook's name and the group stem
TABLE_KINDS = ("summary", "vs_baselines", "pairwise", "ablation")
FIGURE_KINDS = ("samples", "metrics", "distributions", "curves")
SUFFIXES = {".csv": TABLE_KINDS, ".md": TABLE_KINDS, ".png": FIGURE_KINDS, ".jpg": FIGURE_KINDS}
# group_stem's grammar; images: all, N, or N<source> per limited source of a mixture
STEM = re.compile(
    r"^(?P<dataset>.+)_(?P<size>\d+|default)px_"
    r"(?P<images>all|\d+|\d+[a-z][a-z0-9_]*(?:-\d+[a-z][a-z0-9_]*)*)_seed(?P<seed>\d+)$"
)
PER_SOURCE = re.compile(r"(\d+)([a-z][a-z0-9_]*)")  # one "N<source>" of a stem's images
OWNER_NAME = re.compile(r"[a-z0-9]+(?:_[a-z0-9]+)*")  # a notebook's name: no "__", no "-"


def limit_key(dataset: str, limit: int | Mapping | None) -> int | tuple | None:
    """``limit`` as part of a group key: hashable, one form per subset. A mixture's
    ``{source: N}`` becomes ``((source, N), ...)`` in the mixture's order; ``{}`` is None."""
    if not isinstance(limit, Mapping):
        return limit
    order = sources(dataset)
    return tuple(sorted(limit.items(), key=lambda item: order.index(item[0]))) or None


def group_label(group: tuple) -> str:
    """``faces, 128 px, all images, seed 0``; a mixture limited per source: ``..., first 1500
    landscapes images, ...``."""
    dataset, size, limit, seed = group
    if limit is None:
        images = "all images"
    elif isinstance(limit, tuple):
        counts = [f"{n} {source}" for source, n in limit]
        listed = ", ".join(counts[:-1]) + " and " if len(counts) > 1 else ""
        images = f"first {listed}{counts[-1]} images"
    else:
        images = f"first {limit} images" + (" of each source" if is_mixture(dataset) else "")
    return f"{dataset}, {size or 'default'} px, {images}, seed {seed}"


def group_stem(group: tuple) -> str:
    """The group's tables' and figures' file name stem (``group_label`` is its readable name):
    ``faces_128px_all_seed0``; per-source limits as ``1500landscapes`` (``STEM``)."""
    dataset, size, limit, seed = group
    if limit is None:
        images = "all"
    elif isinstance(limit, tuple):
        images = "-".join(f"{n}{file_stem(source)}" for source, n in limit)
    else:
        images = str(limit)
    return f"{file_stem(dataset)}_{size or 'default'}px_{images}_seed{seed}"


@dataclass(frozen=True)
class GroupFile:
    """A table or figure of one group: ``owner`` the notebook that wrote it, None if merged."""

    path: Path
    owner: str | None
    stem: str
    kind: str


def figure_suffix(kind: str) -> str:
    return ".jpg" if kind == "samples" else ".png"


def part_name(owner: str | None, stem: str) -> str:
    """``<owner>__<stem>``, or the stem alone for the summary's merged files."""
    return f"{owner}{OWNER}{stem}" if owner else stem


def parse(path: Path) -> GroupFile | None:
    """The group file ``path`` names, or None for any other file (``vivid_targets_...``)."""
    kinds = SUFFIXES.get(path.suffix)
    kind = next((k for k in kinds or () if path.stem.endswith(f"_{k}")), None)
    if kind is None:
        return None
    owner, stem = split_owner(path.stem.removesuffix(f"_{kind}"))
    return GroupFile(path, owner, stem, kind) if stem else None


def split_owner(name: str) -> tuple[str | None, str | None]:
    """``faces_cnn__faces_32px_60_seed0`` -> (faces_cnn, its stem); a bare stem -> (None, it);
    anything else -> (None, None)."""
    owner, separator, stem = name.partition(OWNER)
    if separator and OWNER_NAME.fullmatch(owner) and STEM.match(stem):
        return owner, stem
    return None, name if STEM.match(name) else None


def group_order(stem: str) -> tuple[int, str]:
    """Groups in the data set registry's order (faces, landscapes, cifar10, ...; then any other),
    by stem within a data set; faces_wild_... belongs to faces_wild, not to faces."""
    names = [name for name in DATASETS if stem.startswith(f"{name}_")]
    return (list(DATASETS).index(max(names, key=len)) if names else len(DATASETS), stem)


def group_files(report_dir: Path) -> list[GroupFile]:
    """Every group table (CSV) and figure under ``report_dir``, sorted by name."""
    paths = [*(report_dir / "tables").glob("*.csv"), *(report_dir / "figures").glob("*")]
    return [f for f in map(parse, sorted(paths, key=lambda p: p.name)) if f is not None]


def remove_unwritten(report_dir: Path, owner: str | None, written: set[Path]) -> None:
    """Delete ``owner``'s group files (the merged ones for None) that are not in ``written``:
    groups whose runs are gone, and tables a group no longer has (no ablation)."""
    folders = ("tables", "figures", "scores") if owner else ("tables", "figures")
    for path in (p for folder in folders for p in sorted((report_dir / folder).glob("*"))):
        found = parse(path) if path.suffix != ".npz" else _parse_scores(path)
        if found is not None and found.owner == owner and path not in written:
            path.unlink()


def _parse_scores(path: Path) -> GroupFile | None:
    owner, stem = split_owner(path.stem)
    return GroupFile(path, owner, stem, "scores") if owner else None


def save_scores(path: Path, scores: dict[str, tuple[pd.DataFrame, AbHistograms | None]]) -> Path:
    """Write each predictor's per-image metrics and ab histograms (``{name: (per_image,
    histograms)}``, all on the same images) as one compressed ``.npz``, whole or absent."""
    arrays: dict[str, np.ndarray] = {"names": np.array(list(scores), dtype=str)}
    for i, (per_image, histograms) in enumerate(scores.values()):
        arrays[f"files{i}"] = np.array(list(per_image.index), dtype=str)
        arrays[f"metrics{i}"] = np.array(list(per_image.columns), dtype=str)
        arrays[f"values{i}"] = per_image.to_numpy(dtype=np.float64)
        if histograms is not None:  # pixel counts: int32 holds any image the package reads
            arrays[f"pred{i}"] = histograms.pred.astype(np.int32)
            arrays[f"true{i}"] = histograms.true.astype(np.int32)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    write_bytes(path, buffer.getvalue())
    return path


def load_scores(path: Path) -> dict[str, tuple[pd.DataFrame, AbHistograms | None]]:
    """What ``save_scores`` wrote, exactly (float64 metrics, int64 counts)."""
    with np.load(path, allow_pickle=False) as arrays:
        scores = {}
        for i, name in enumerate(arrays["names"].tolist()):
            files = arrays[f"files{i}"].tolist()
            per_image = pd.DataFrame(
                arrays[f"values{i}"],
                index=pd.Index(files, name="file"),
                columns=arrays[f"metrics{i}"].tolist(),
            )
            histograms = None
            if f"pred{i}" in arrays:
                pred, true = (arrays[f"{s}{i}"].astype(np.int64) for s in ("pred", "true"))
                histograms = AbHistograms(tuple(files), pred, true)
            scores[name] = (per_image, histograms)
    return scores


def write_table(table: pd.DataFrame, folder: str | Path, stem: str) -> None:
    """``<folder>/<stem>.csv`` and ``.md``, each whole or absent."""
    folder = Path(folder)
    with written_atomically(folder / f"{stem}.csv") as partial:
        table.to_csv(partial)
    write_text(folder / f"{stem}.md", table.to_markdown() + "\n")
