"""Do no harm: the shipped default colouriser beats the gray photo on every kind of photo.

A default meets whatever people bring. ``do_no_harm_sample.json`` names the first 100 test images
of each domain's own seeded split (``evaluation.domains.DOMAINS``; written by
``tools/ship_model.py general``, so no shipped model trained on them). The default colourises
them at its training size, and on every domain its mean ΔE2000 must be below the gray photo's,
beyond the paired bootstrap 95% CI, and its colourfulness at least the floor's share of the
truth's. A future default that paints faces blue turns CI red.
"""

import json
from pathlib import Path

import pytest
from conftest import SHARED_DATASETS  # pytest puts tests/ on sys.path

from colorize_core.data.cache import load_images
from colorize_core.evaluation.baselines import make_baseline
from colorize_core.evaluation.domains import DOMAINS, FLOOR_COLOUR
from colorize_core.evaluation.evaluate import evaluate
from colorize_core.evaluation.stats import paired_bootstrap_ci
from colorize_core.training.shipped import DEFAULT_MODEL, load_shipped

SAMPLE = json.loads(Path(__file__).with_name("do_no_harm_sample.json").read_text())
# A domain where the shipped default is known to miss the target. Strict: once the default beats
# gray there too, this test fails until the entry is removed, so the gap never hides.
KNOWN_HARM = {
    "photos_wild": "issue 27 open: the first general model is 0.64 ΔE2000 worse than gray on "
    "photos_wild's validation split at every decoding tried (docs/experiments.md)",
}


@pytest.fixture(scope="module")
def default():
    return load_shipped(DEFAULT_MODEL)


def test_the_sample_covers_every_domain_with_files_that_exist():
    assert list(SAMPLE) == [d.label for d in DOMAINS]
    for domain, files in SAMPLE.items():
        assert len(files) == len(set(files)) == 100, domain
        assert all((SHARED_DATASETS / domain / "images" / f).is_file() for f in files), domain


@pytest.mark.parametrize(
    "domain",
    [
        pytest.param(d, marks=pytest.mark.xfail(strict=True, reason=KNOWN_HARM[d]))
        if d in KNOWN_HARM
        else d
        for d in SAMPLE
    ],
)
def test_the_default_beats_gray(domain, default, tmp_path):
    model, config = default
    folder = tmp_path / domain
    folder.mkdir()
    for file in SAMPLE[domain]:
        (folder / file).symlink_to(SHARED_DATASETS / domain / "images" / file)
    data = load_images(f"folder:{folder}", config.data.image_size)
    assert len(data) == 100  # every image usable: none skipped
    mine = evaluate(model, data, name=DEFAULT_MODEL)
    gray = evaluate(make_baseline("gray", data.lab), data, name="gray")
    difference, low, high = paired_bootstrap_ci(
        mine.per_image["delta_e2000"].to_numpy(), gray.per_image["delta_e2000"].to_numpy()
    )
    assert high < 0, f"{domain}: ΔE2000 minus gray's {difference:.2f} [{low:.2f}, {high:.2f}]"
    colour = mine.summary["mean"]
    ratio = colour["colorfulness_pred"] / colour["colorfulness_true"]
    assert ratio >= FLOOR_COLOUR, f"{domain}: {ratio:.0%} of the true colourfulness"
