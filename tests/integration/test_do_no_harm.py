"""Do no harm: the shipped default colouriser beats the gray photo on every kind of photo.

A default meets whatever people bring. ``do_no_harm_sample.json`` names the first 100 test images of
each domain's own seeded split, and all of the small photos' (``evaluation.domains.EVERY_DOMAIN``;
written by ``tools/ship_model.py general``, so no shipped model trained on them). The default
colourises them at its training size, and the small photos (CIFAR-10) at their own 32 px, as
``colorize`` does. On every domain, without exception, its mean ΔE2000 must not be above the gray
photo's beyond the paired bootstrap 95% CI (the floor), and below it beyond the CI (the goal; a
domain where the default is known to miss it is a strict expected failure), with its colourfulness
at least the floor's share of the truth's (not on small photos, decoded restrained on purpose: there
beating gray beyond the CI is what shows colour). A future default that paints faces blue turns CI
red.
"""

import json
from pathlib import Path

import pytest
from conftest import SHARED_DATASETS  # pytest puts tests/ on sys.path

from colorize_core.data.cache import load_images
from colorize_core.evaluation.baselines import make_baseline
from colorize_core.evaluation.domains import EVERY_DOMAIN, FLOOR_COLOUR, SMALL_PHOTOS
from colorize_core.evaluation.evaluate import evaluate
from colorize_core.evaluation.stats import paired_bootstrap_ci
from colorize_core.training.shipped import DEFAULT_MODEL, load_shipped

SAMPLE = json.loads(Path(__file__).with_name("do_no_harm_sample.json").read_text())
# A domain where the shipped default is known to miss the target. Strict: once the default beats
# gray there too, this test fails until the entry is removed, so the gap never hides.
KNOWN_HARM = {
    "photos_wild": "issue 27 open: the general model is level with gray on photos_wild (test "
    "split: +0.08 [-0.12, +0.29] ΔE2000 at 67% of the true colourfulness), not better beyond "
    "the CI (docs/experiments.md)",
}


@pytest.fixture(scope="module")
def default():
    return load_shipped(DEFAULT_MODEL)


def test_the_sample_covers_every_domain_with_files_that_exist():
    assert list(SAMPLE) == [d.label for d in EVERY_DOMAIN]
    for domain, files in SAMPLE.items():
        assert len(files) == len(set(files)), domain
        assert len(files) > 1000 if domain == SMALL_PHOTOS.label else len(files) == 100, domain
        assert all((SHARED_DATASETS / domain / "images" / f).is_file() for f in files), domain


@pytest.fixture(scope="module")
def against_gray(default, tmp_path_factory):
    """``_against_gray`` of a domain, computed once for both tests."""
    scores = {}

    def score(domain: str) -> tuple[float, float, float, float]:
        if domain not in scores:
            folder = tmp_path_factory.mktemp(domain) / domain
            scores[domain] = _against_gray(domain, default, folder)
        return scores[domain]

    return score


def _against_gray(domain: str, default, folder: Path) -> tuple[float, float, float, float]:
    """The default's ΔE2000 minus gray's on ``domain``'s sample, its paired CI, and the
    default's colourfulness as a share of the truth's."""
    model, config = default
    folder.mkdir()
    for file in SAMPLE[domain]:  # CIFAR-10's files lie in a folder per class
        (folder / file).parent.mkdir(parents=True, exist_ok=True)
        (folder / file).symlink_to(SHARED_DATASETS / domain / "images" / file)
    size = next(d.size for d in EVERY_DOMAIN if d.label == domain) or config.data.image_size
    data = load_images(f"folder:{folder}", size)
    assert len(data) == len(SAMPLE[domain])  # every image usable: none skipped
    mine = evaluate(model, data, name=DEFAULT_MODEL)
    gray = evaluate(make_baseline("gray", data.lab), data, name="gray")
    difference, low, high = paired_bootstrap_ci(
        mine.per_image["delta_e2000"].to_numpy(), gray.per_image["delta_e2000"].to_numpy()
    )
    colour = mine.summary["mean"]
    return difference, low, high, colour["colorfulness_pred"] / colour["colorfulness_true"]


@pytest.mark.parametrize("domain", list(SAMPLE))
def test_the_default_is_never_worse_than_gray(domain, against_gray):
    """The floor, on every domain with no exception: not worse than gray beyond the CI."""
    difference, low, high, ratio = against_gray(domain)
    assert low < 0, f"{domain}: ΔE2000 minus gray's {difference:.2f} [{low:.2f}, {high:.2f}]"
    if domain != SMALL_PHOTOS.label:
        assert ratio >= FLOOR_COLOUR, f"{domain}: {ratio:.0%} of the true colourfulness"


@pytest.mark.parametrize(
    "domain",
    [
        pytest.param(d, marks=pytest.mark.xfail(strict=True, reason=KNOWN_HARM[d]))
        if d in KNOWN_HARM
        else d
        for d in SAMPLE
    ],
)
def test_the_default_beats_gray(domain, against_gray):
    """The goal: better than gray beyond the CI."""
    difference, low, high, ratio = against_gray(domain)
    assert high < 0, f"{domain}: ΔE2000 minus gray's {difference:.2f} [{low:.2f}, {high:.2f}]"
    if domain != SMALL_PHOTOS.label:
        assert ratio >= FLOOR_COLOUR, f"{domain}: {ratio:.0%} of the true colourfulness"
