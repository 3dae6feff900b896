"""The seeded train/val/test split and the batches drawn from it, on synthetic images named as
the 750 faces are (no files read)."""

import pytest
import torch
from conftest import synthetic_photos  # pytest puts tests/ on sys.path

from colorize_core.data.augment import Augment
from colorize_core.data.cache import LabImages
from colorize_core.data.color import rgb_to_lab
from colorize_core.data.datasets import DatasetError
from colorize_core.data.split import Split, iterate_batches, make_split, select


@pytest.fixture(scope="module")
def faces() -> LabImages:
    """750 synthetic 16 x 16 photos as the cache holds them (float16 Lab), named as the faces."""
    rgb = torch.from_numpy(synthetic_photos(750, size=16)).permute(0, 3, 1, 2) / 255.0
    files = [f"image{i:05}.jpg" for i in range(750)]
    return LabImages("synthetic", 16, files, rgb_to_lab(rgb.contiguous()).half())


def test_split_is_seeded_disjoint_and_complete(faces):
    split = make_split(faces.files, seed=0)
    assert (len(split.train), len(split.val), len(split.test)) == (525, 112, 113)
    assert set(split.train) | set(split.val) | set(split.test) == set(faces.files)
    assert not set(split.train) & set(split.test) and not set(split.val) & set(split.test)
    assert make_split(faces.files, seed=0) == split
    assert make_split(faces.files, seed=1).test != split.test


def test_split_saves_and_loads(faces, tmp_path):
    split = make_split(faces.files, seed=3)
    split.save(tmp_path / "split.json")
    assert Split.load(tmp_path / "split.json") == split
    test = select(faces, split, "test")
    assert test.files == split.test
    with pytest.raises(ValueError, match="unknown split"):
        select(faces, split, "holdout")


def test_split_of_other_data_is_refused(faces):
    split = make_split([f"other{i}.jpg" for i in range(20)], seed=0)
    with pytest.raises(DatasetError, match="different data"):
        select(faces, split, "test")
    with pytest.raises(DatasetError, match="too few"):
        make_split(["a.jpg", "b.jpg"], seed=0)


def test_batches_without_augmentation_are_the_cached_tensors(faces):
    test = faces.subset(range(10))
    batches = list(iterate_batches(test, 4))
    assert [len(b) for b in batches] == [4, 4, 2]
    assert torch.equal(torch.cat(batches), test.lab.float())
    assert [len(b) for b in iterate_batches(test, 4, drop_last=True)] == [4, 4]


def test_shuffle_and_augmentation_follow_the_generator(faces):
    train = faces.subset(range(12))
    augment = Augment()

    def run(seed):
        generator = torch.Generator().manual_seed(seed)
        return torch.cat(
            list(iterate_batches(train, 5, shuffle=True, generator=generator, augment=augment))
        )

    assert torch.equal(run(0), run(0))
    assert not torch.equal(run(0), run(1))
