"""A seeded train/val/test split of a dataset, and the batches drawn from one of its parts."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from colorize_core.data.atomic import write_text
from colorize_core.data.cache import LabImages
from colorize_core.data.datasets import DatasetError

SPLIT_RATIOS = (0.70, 0.15, 0.15)  # train / val / test, the reference study's ratio
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Split:
    """A seeded train/val/test partition of a dataset, by file name."""

    seed: int
    train: list[str]
    val: list[str]
    test: list[str]

    def files(self, split: str) -> list[str]:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
        return getattr(self, split)

    def save(self, path: str | os.PathLike) -> None:
        """Write the split as JSON (ASCII: other characters escaped), whole or not at all."""
        write_text(path, json.dumps(self.__dict__, indent=1))

    @classmethod
    def load(cls, path: str | os.PathLike) -> Split:
        return cls(**json.loads(Path(path).read_text(encoding="utf-8")))


def make_split(files: list[str], seed: int, ratios: tuple[float, ...] = SPLIT_RATIOS) -> Split:
    """Shuffle ``files`` with ``seed`` and cut 70/15/15; test takes the rounding remainder.

    For the 750 faces: 525 / 112 / 113, the reference study's split sizes.
    """
    if len(ratios) != 3 or abs(sum(ratios) - 1.0) > 1e-9 or min(ratios) <= 0:
        raise ValueError(f"split ratios must be three positive numbers summing to 1, got {ratios}")
    order = np.random.default_rng(seed).permutation(len(files))
    n_train, n_val = int(ratios[0] * len(files)), int(ratios[1] * len(files))
    if min(n_train, n_val, len(files) - n_train - n_val) < 1:
        raise DatasetError(f"{len(files)} images are too few for a train/val/test split")
    names = [files[i] for i in order]
    return Split(seed, names[:n_train], names[n_train : n_train + n_val], names[n_train + n_val :])


def select(data: LabImages, split: Split, name: str) -> LabImages:
    """The images of one split, in the split's order."""
    position = {f: i for i, f in enumerate(data.files)}
    missing = [f for f in split.files(name) if f not in position]
    if missing:
        raise DatasetError(
            f"{len(missing)} files of the {name} split are not in {data.name} "
            f"(first: {missing[0]}); the split belongs to different data"
        )
    return data.subset([position[f] for f in split.files(name)])


# ---------------------------------------------------------------- batches


def iterate_batches(
    data: LabImages,
    batch_size: int,
    *,
    shuffle: bool = False,
    generator: torch.Generator | None = None,
    augment=None,
    device: str | torch.device = "cpu",
    drop_last: bool = False,
    order: torch.Tensor | None = None,
) -> Iterator[torch.Tensor]:
    """Yield (B, 3, S, S) float32 Lab batches on ``device``.

    ``augment`` (an ``augment.Augment``) is applied to each batch on the device, with
    ``generator``; pass it for the training split only. Shuffling also draws from ``generator``,
    so one seeded generator fixes the order and the augmentation of a whole run. ``order`` (the
    indices to visit, e.g. ``mixture.epoch_order``'s weighted draws) replaces the shuffle.
    """
    if order is None:
        order = (
            torch.randperm(len(data), generator=generator) if shuffle else torch.arange(len(data))
        )
    n = len(order)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        batch = data.lab[order[start : start + batch_size]].to(device, non_blocking=True).float()
        yield augment(batch, generator, inplace=True) if augment is not None else batch
