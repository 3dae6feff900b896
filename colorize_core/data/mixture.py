"""Training on several data sets at once: ``dataset="photos_wild+faces_wild+landscapes"``.

A mixture is registered data sets joined by ``+``. Each source is loaded at the run's size and
split by its own seeded 70/15/15 split (``split.make_split``), exactly as a run on that source
alone would split it, so no source's validation or test image is ever trained on, and the
general model's test images of a source are the specialist's. The pooled data set names each
image ``<source>/<file>``; its split is the sources' splits joined.

Batches draw from the sources by their ``weights``:

- ``"size"``: in proportion to their training images. The epoch is a plain shuffle of the pooled
  training split, as for one data set.
- ``"equal"``: each source the same share of every epoch.
- ``{"photos_wild": 2, "faces_wild": 1, ...}``: shares in these proportions.

An epoch has as many draws as the pooled training split has images. A source gets its share by
the largest-remainder rule and draws without replacement, reshuffled whenever it runs out, so a
small source is repeated rather than drowned, and a large one is sampled.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import torch

from colorize_core.data.cache import LabImages, load_images
from colorize_core.data.datasets import DATASETS
from colorize_core.data.spec import DatasetError
from colorize_core.data.split import Split, make_split

SEPARATOR = "+"
WEIGHTINGS = ("size", "equal")

Weights = str | Mapping[str, float]
Limits = int | Mapping[str, int] | None


def sources(dataset: str) -> list[str]:
    """The data sets a ``dataset`` name draws from: ``"a+b"`` -> ``["a", "b"]``; one name -> it."""
    if dataset.startswith("folder:") or SEPARATOR not in dataset:
        return [dataset]
    return dataset.split(SEPARATOR)


def is_mixture(dataset: str) -> bool:
    return len(sources(dataset)) > 1


def check_mixture(dataset: str, weights: Weights, limit: Limits) -> None:
    """Raise ``ValueError`` (one line) for a malformed mixture, weighting or per-source limit."""
    names = sources(dataset)
    if len(names) > 1:
        unknown = [n for n in names if n not in DATASETS]
        if unknown or len(set(names)) != len(names):
            raise ValueError(
                f"dataset {dataset!r}: a mixture joins distinct registered data sets with "
                f"'{SEPARATOR}' ({', '.join(DATASETS)}); "
                + (f"unknown: {', '.join(unknown)}" if unknown else "a name is repeated")
            )
    if isinstance(weights, str):
        if weights not in WEIGHTINGS:
            raise ValueError(f"weights must be {' or '.join(WEIGHTINGS)} or {{source: weight}}")
    else:
        _check_per_source("weights", weights, names, float)
    if isinstance(limit, Mapping):
        _check_per_source("limit", limit, names, int)


def _check_per_source(what: str, values: Mapping, names: list[str], kind: type) -> None:
    if set(values) - set(names):
        extra = ", ".join(sorted(set(values) - set(names)))
        raise ValueError(f"{what} names {extra}, which the dataset {'+'.join(names)} lacks")
    for name, value in values.items():
        if not (isinstance(value, kind | int) and not isinstance(value, bool) and value > 0):
            raise ValueError(f"{what}[{name!r}] must be a positive number, got {value!r}")
    if what == "weights" and set(values) != set(names):
        missing = ", ".join(n for n in names if n not in values)
        raise ValueError(f"weights must give every source a weight; missing: {missing}")


def source_of(file: str) -> str:
    """The source of an image of a mixture (its file name's first part)."""
    return file.split("/", 1)[0]


@dataclass(frozen=True)
class Source:
    """One data set of a mixture: its share of the training draws and its split's sizes."""

    name: str
    weight: float  # share of each epoch's draws, summing to 1 over the sources
    train: int
    val: int
    test: int

    @property
    def images(self) -> int:
        return self.train + self.val + self.test


def load_mixture(
    dataset: str,
    size: int | None,
    seed: int,
    *,
    limit: Limits = None,
    download: bool = True,
) -> tuple[LabImages, Split]:
    """The pooled images of a mixture and its split (each source's own seeded split, joined).
    ``limit``: the first N usable images of every source, or ``{source: N}``."""
    parts, splits = [], []
    for name in sources(dataset):
        data = load_images(name, size, download=download)
        if (n := limit.get(name) if isinstance(limit, Mapping) else limit) and n < len(data):
            data = data.subset(range(n))
        parts.append(data)
        splits.append(make_split(data.files, seed))
    sizes = {p.size for p in parts}
    if len(sizes) > 1:
        raise DatasetError(
            f"{dataset}: the sources load at different sizes ({sorted(sizes)}); set image_size"
        )
    pooled = LabImages(
        dataset,
        parts[0].size,
        [f"{p.name}/{f}" for p in parts for f in p.files],
        torch.cat([p.lab for p in parts]),
        {f"{p.name}: {k}": v for p in parts for k, v in p.skipped.items()},
        hashlib.sha256("|".join(p.content_key for p in parts).encode()).hexdigest(),
    )
    split = Split(
        seed,
        *(
            [f"{p.name}/{f}" for p, s in zip(parts, splits, strict=True) for f in s.files(part)]
            for part in ("train", "val", "test")
        ),
    )
    return pooled, split


def describe_sources(split: Split, weights: Weights) -> list[Source]:
    """The sources of a mixture's ``split``, with their shares of the draws and split sizes."""
    counts = {part: source_groups(split.files(part)) for part in ("train", "val", "test")}
    names = list(counts["train"])
    sizes = [len(counts["train"][n]) for n in names]
    shares = source_shares(sizes, names, weights)
    return [
        Source(n, w, *(len(counts[p].get(n, [])) for p in ("train", "val", "test")))
        for n, w in zip(names, shares, strict=True)
    ]


def source_split(split: Split, name: str) -> Split:
    """The part of a mixture's ``split`` that comes from source ``name``."""
    return Split(
        split.seed,
        *(
            [f for f in split.files(part) if source_of(f) == name]
            for part in ("train", "val", "test")
        ),
    )


def source_shares(train_sizes: list[int], names: list[str], weights: Weights) -> list[float]:
    """Each source's share of the training draws, summing to 1."""
    if weights == "size":
        raw = [float(n) for n in train_sizes]
    elif weights == "equal":
        raw = [1.0] * len(names)
    else:
        raw = [float(weights[n]) for n in names]
    return [w / sum(raw) for w in raw]


def epoch_order(
    groups: list[torch.Tensor], shares: list[float], generator: torch.Generator
) -> torch.Tensor:
    """One epoch's indices: ``sum(len(g))`` draws, source ``i`` taking ``shares[i]`` of them
    (largest remainder) from ``groups[i]`` without replacement, cycling through reshuffles of it,
    then all draws shuffled together. Every draw comes from ``generator``."""
    total = sum(len(g) for g in groups)
    exact = np.asarray(shares) * total
    counts = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - counts), kind="stable")[: total - counts.sum()]:
        counts[i] += 1
    draws = []
    for group, count in zip(groups, counts, strict=True):
        cycles = -(-int(count) // len(group))  # ceil
        picks = [group[torch.randperm(len(group), generator=generator)] for _ in range(cycles)]
        draws.append(torch.cat(picks)[:count] if picks else group[:0])
    pooled = torch.cat(draws)
    return pooled[torch.randperm(len(pooled), generator=generator)]


def weighted_epochs(
    dataset: str, files: list[str], weights: Weights
) -> Callable[[torch.Generator], torch.Tensor] | None:
    """How a mixture's training split (``files``) is ordered each epoch, or None for a plain
    shuffle: one data set, or a mixture weighted by ``"size"``."""
    if not is_mixture(dataset) or weights == "size":
        return None
    groups = source_groups(files)
    shares = source_shares([len(g) for g in groups.values()], list(groups), weights)
    return lambda generator: epoch_order(list(groups.values()), shares, generator)


def source_groups(files: list[str]) -> dict[str, torch.Tensor]:
    """The indices of each source's images in a mixture's ``files``, in first-seen order."""
    groups: dict[str, list[int]] = {}
    for i, file in enumerate(files):
        groups.setdefault(source_of(file), []).append(i)
    return {name: torch.tensor(indices) for name, indices in groups.items()}
