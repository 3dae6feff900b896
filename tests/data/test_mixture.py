"""Mixtures of data sets (``data/mixture.py``): each source keeps its own split, batches draw by
the weights, and a mixture run reports every source. Synthetic photos stand in for the registered
``faces`` and ``landscapes`` (``COLORIZE_DATA`` points at a temporary folder holding them)."""

import json
from collections import Counter

import pytest
import torch
from conftest import synthetic_photos  # pytest puts tests/ on sys.path
from PIL import Image

from colorize_core.data.cache import load_images
from colorize_core.data.mixture import (
    check_mixture,
    describe_sources,
    epoch_order,
    load_mixture,
    source_of,
    source_split,
    sources,
    weighted_epochs,
)
from colorize_core.data.split import make_split
from colorize_core.runs.experiment import run_experiment
from colorize_core.training.config import ExperimentConfig

SIZES = {"faces": 60, "landscapes": 24}


@pytest.fixture
def shared(tmp_path, monkeypatch):
    """A COLORIZE_DATA folder with 60 synthetic "faces" and 24 synthetic "landscapes"."""
    for seed, (name, count) in enumerate(SIZES.items()):
        folder = tmp_path / "data" / name / "images"
        folder.mkdir(parents=True)
        for i, rgb in enumerate(synthetic_photos(count, size=32, seed=seed)):
            Image.fromarray(rgb).save(folder / f"{name[0]}{i:03}.png")
    monkeypatch.setenv("COLORIZE_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("COLORIZE_CACHE", str(tmp_path / "cache"))
    return tmp_path


def test_names_and_checks():
    three = ["photos_wild", "faces_wild", "landscapes"]
    assert sources("+".join(three)) == three
    assert sources("faces") == ["faces"] and sources("folder:/a+b") == ["folder:/a+b"]
    check_mixture("faces+landscapes", {"faces": 2, "landscapes": 1.5}, {"landscapes": 10})
    for dataset, weights, limit, message in (
        ("faces+nowhere", "size", None, "unknown: nowhere"),
        ("faces+faces", "size", None, "repeated"),
        ("faces+landscapes", "biggest", None, "weights must be"),
        ("faces+landscapes", {"faces": 1}, None, "missing: landscapes"),
        ("faces+landscapes", {"faces": 1, "landscapes": 0}, None, "positive"),
        ("faces+landscapes", "equal", {"cifar10": 5}, "lacks"),
    ):
        with pytest.raises(ValueError, match=message):
            check_mixture(dataset, weights, limit)
    with pytest.raises(ValueError, match="data_path"):
        ExperimentConfig.from_params(dataset="faces+landscapes", data_path="/somewhere")


def test_each_source_keeps_the_split_it_has_alone(shared):
    data, split = load_mixture("faces+landscapes", 32, seed=5, limit={"faces": 50})
    assert len(data) == 50 + 24 and data.files[0] == "faces/f000.png"
    for name, count in (("faces", 50), ("landscapes", 24)):
        alone = load_images(name, 32)
        own = make_split(alone.files[:count], seed=5)
        mine = source_split(split, name)
        for part in ("train", "val", "test"):
            assert mine.files(part) == [f"{name}/{f}" for f in own.files(part)]
    parts = [set(split.files(p)) for p in ("train", "val", "test")]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    assert set().union(*parts) == set(data.files)
    # the pooled images are the sources' own tensors
    position = data.files.index("landscapes/l007.png")
    assert torch.equal(data.lab[position], load_images("landscapes", 32).lab[7])


def test_sources_are_described_with_their_shares(shared):
    _, split = load_mixture("faces+landscapes", 32, seed=0)
    described = describe_sources(split, "size")
    assert [(s.name, s.train, s.val, s.test) for s in described] == [
        ("faces", 42, 9, 9),
        ("landscapes", 16, 3, 5),
    ]
    assert [round(s.weight, 4) for s in described] == [round(42 / 58, 4), round(16 / 58, 4)]
    assert [s.weight for s in describe_sources(split, "equal")] == [0.5, 0.5]
    weights = [s.weight for s in describe_sources(split, {"faces": 3, "landscapes": 1})]
    assert weights == [0.75, 0.25]


def test_an_epoch_draws_each_source_by_its_share():
    big, small = torch.arange(0, 100), torch.arange(100, 110)
    order = epoch_order([big, small], [0.5, 0.5], torch.Generator().manual_seed(0))
    counts = Counter(order.tolist())
    assert len(order) == 110  # an epoch is as long as the pooled training split
    assert sum(counts[i] for i in range(100)) == 55 and max(counts[i] for i in range(100)) == 1
    assert sorted(counts[i] for i in range(100, 110)) == [5] * 5 + [6] * 5  # cycled, not drowned
    again = epoch_order([big, small], [0.5, 0.5], torch.Generator().manual_seed(0))
    assert torch.equal(order, again)
    skewed = epoch_order([big, small], [0.9, 0.1], torch.Generator())
    assert Counter(int(i >= 100) for i in skewed) == {0: 99, 1: 11}


def test_only_a_weighted_mixture_changes_the_batch_order():
    files = ["faces/a.png", "faces/b.png", "faces/c.png", "landscapes/d.png"]
    assert weighted_epochs("faces", ["images/a.png"], "equal") is None  # one data set: a shuffle
    assert weighted_epochs("faces+landscapes", files, "size") is None
    order = weighted_epochs("faces+landscapes", files, "equal")(torch.Generator().manual_seed(1))
    assert sorted(source_of(files[i]) for i in order) == ["faces"] * 2 + ["landscapes"] * 2


def test_a_mixture_run_reports_every_source(shared):
    config = ExperimentConfig.from_params(
        name="mix", output_dir=str(shared / "results"), dataset="faces+landscapes",
        image_size=32, weights="equal", limit={"faces": 40}, model="unet",
        model_kwargs={"base": 8}, epochs=1, batch_size=8,
    )  # fmt: skip
    run = run_experiment(config)
    metrics = json.loads((config.run_dir / "metrics.json").read_text())
    assert metrics["dataset"] == "faces+landscapes" and metrics["images"] == 6 + 5
    described = {s["name"]: s for s in metrics["sources"]}
    assert list(described) == ["faces", "landscapes"]
    assert (described["faces"]["train"], described["faces"]["test"]) == (28, 6)
    assert described["landscapes"]["weight"] == 0.5
    for name, source in described.items():
        test, validation = run.by_source[name]
        assert list(test.per_image.index) == source_split(run.split, name).test
        assert source["metrics"]["delta_e2000"]["mean"] == test.summary.loc["delta_e2000", "mean"]
        assert source["validation"]["delta_e2000"] == validation.summary.loc["delta_e2000", "mean"]
    saved = json.loads((config.run_dir / "config.json").read_text())["data"]
    assert (saved["weights"], saved["limit"]) == ("equal", {"faces": 40})
