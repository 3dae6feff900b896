"""Scoring on every kind of photo (``evaluation/domains.py``) and choosing a general model's
decoding on validation (``temperature.decoding_sweep``/``choose_decoding``, and for photos smaller
than the training size ``small_photo_sweep``/``choose_small_photo_correction``), on synthetic
photos standing in for the registered ``faces`` and ``landscapes``."""

import math

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import synthetic_photos  # pytest puts tests/ on sys.path
from PIL import Image

from colorize_core.data.split import make_split
from colorize_core.evaluation import domains as dom
from colorize_core.evaluation.baselines import make_baseline
from colorize_core.evaluation.domains import (
    Domain,
    domain_data,
    domain_grid,
    domain_table,
    score_domains,
)
from colorize_core.evaluation.evaluate import evaluate
from colorize_core.evaluation.stats import paired_bootstrap_ci
from colorize_core.evaluation.temperature import (
    Decoding,
    choose_decoding,
    choose_small_photo_correction,
    decoding_sweep,
    small_photo_sweep,
)
from colorize_core.models import build_model
from colorize_core.models.heads import with_head

DOMAINS = (Domain("faces"), Domain("landscapes", 30))


@pytest.fixture
def shared(tmp_path, monkeypatch):
    for seed, (name, count) in enumerate((("faces", 40), ("landscapes", 36))):
        folder = tmp_path / name / "images"
        folder.mkdir(parents=True)
        for i, rgb in enumerate(synthetic_photos(count, size=32, seed=seed)):
            Image.fromarray(rgb).save(folder / f"{i:03}.png")
    monkeypatch.setenv("COLORIZE_DATA", str(tmp_path))
    monkeypatch.setenv("COLORIZE_CACHE", str(tmp_path / "cache"))


def _classifier(seed: int = 0):
    torch.manual_seed(seed)
    return with_head(build_model("unet", base=4), "classification").eval()


def test_each_domain_is_scored_on_its_own_split_beside_gray(shared):
    model = _classifier()
    scored = score_domains({"general": model}, 32, DOMAINS, baselines=False)
    assert list(scored) == ["faces", "landscapes"]
    data, split = domain_data(Domain("landscapes", 30), 32)
    assert len(data) == 30 and split == make_split(data.files, 0)
    general, gray = scored["landscapes"]
    assert (general.predictor, gray.predictor) == ("general", "gray")
    assert list(general.per_image.index) == split.test
    expected = evaluate(model, data, split, "test")
    pd.testing.assert_frame_equal(general.per_image, expected.per_image)

    table = domain_table(scored)
    assert list(table["predictor"]) == ["general", "gray"] * 2
    row = table[(table.domain == "landscapes") & (table.predictor == "general")].iloc[0]
    diff, low, high = paired_bootstrap_ci(
        general.per_image["delta_e2000"].to_numpy(), gray.per_image["delta_e2000"].to_numpy()
    )
    assert (row.vs_gray, row.vs_gray_ci_low, row.vs_gray_ci_high) == (diff, low, high)
    assert row.beats_gray == (high < 0) and row.harms == (low > 0)
    assert row.colorfulness_ratio == pytest.approx(
        general.summary.loc["colorfulness_pred", "mean"]
        / general.summary.loc["colorfulness_true", "mean"]
    )
    gray_row = table[(table.domain == "faces") & (table.predictor == "gray")].iloc[0]
    assert gray_row.vs_gray == 0 and not gray_row.beats_gray and not gray_row.harms
    grid = domain_grid(table)
    assert list(grid.index) == ["general", "gray"] and list(grid.columns) == ["faces", "landscapes"]
    assert grid.loc["general", "faces"].startswith(f"{table.delta_e2000[0]:.2f} [")


def test_the_baselines_stand_beside_the_models(shared):
    scored = score_domains({}, 32, DOMAINS[:1])
    assert {"gray"} < {e.predictor for e in scored["faces"]}


def test_the_decoding_sweep_scores_every_decoding_on_every_domain(shared):
    model = _classifier()
    domains = {d.label: domain_data(d, 32) for d in DOMAINS}
    model.rebalance_log_weights.copy_(torch.linspace(-1.0, 1.0, len(model.bins)))
    sweep = decoding_sweep(model, domains, [(0.38, None), (0.25, 0.5), [0.38, None, 0.3]])
    assert len(sweep) == 6 and model.temperature == 0.38 and model.unsure_entropy is None
    assert model.prior_correction == 0.0
    taken_back = sweep[(sweep.domain == "faces") & (sweep.prior_correction == 0.3)].iloc[0]
    corrected = model.at_temperature(0.38, None, 0.3)
    expected = evaluate(corrected, *domains["faces"], "val").summary["mean"]
    assert taken_back.delta_e2000 == pytest.approx(expected["delta_e2000"])
    row = sweep[(sweep.domain == "faces") & (sweep.temperature == 0.25)].iloc[0]
    assert row.unsure_entropy == 0.5
    data, split = domains["faces"]
    expected = evaluate(model.at_temperature(0.25, 0.5), data, split, "val").summary["mean"]
    assert row.delta_e2000 == pytest.approx(expected["delta_e2000"])
    assert row.vs_gray == pytest.approx(row.delta_e2000 - row.gray_delta_e2000)
    assert math.isnan(sweep.unsure_entropy[0])


def _sweep(rows):
    columns = [
        "temperature", "unsure_entropy", "prior_correction", "domain", "vs_gray",
        "colorfulness_ratio",
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def test_the_weakest_domain_decides_among_colourful_enough_decodings():
    sweep = _sweep(
        [
            # best on average, but harms landscapes
            (0.25, np.nan, 0.0, "faces", -4.0, 0.95), (0.25, np.nan, 0.0, "landscapes", 0.5, 0.9),
            # helps both: chosen
            (0.38, 0.5, 0.0, "faces", -1.0, 0.85), (0.38, 0.5, 0.0, "landscapes", -0.2, 0.82),
            # helps both more, but too gray on faces for the goal
            (1.0, np.nan, 0.0, "faces", -1.5, 0.5), (1.0, np.nan, 0.0, "landscapes", -0.4, 0.7),
            # the same T with some rebalancing taken back: helps most, too gray for the goal
            (0.25, np.nan, 0.2, "faces", -4.1, 0.78), (0.25, np.nan, 0.2, "landscapes", -0.5, 0.7),
        ]
    )  # fmt: skip
    assert choose_decoding(sweep) == Decoding(0.38, 0.5, 0.0)
    # nothing reaches 80%: the floor, 60%, decides (0.38 misses it on landscapes, as does 0.25
    # with 0.2 taken back)
    dull = sweep.assign(colorfulness_ratio=sweep.colorfulness_ratio * 0.72)
    assert choose_decoding(dull) == Decoding(0.25, None, 0.0)
    # nothing reaches 60% either: the least harm wins
    gray = sweep.assign(colorfulness_ratio=0.1)
    assert choose_decoding(gray) == Decoding(0.25, None, 0.2)


def test_targets_are_measured_per_domain_and_against_each_specialist():
    rows = [
        # domain, predictor, ΔE2000, vs gray [low, high], colour ratio
        ("faces_wild", "general", 8.0, -2.0, -2.5, -1.5, 0.85),
        ("faces_wild", "faces", 7.7, -2.3, -2.8, -1.8, 0.9),
        ("landscapes", "general", 10.5, 0.3, -0.1, 0.7, 0.65),
        ("landscapes", "scenes", 9.5, -0.7, -1.4, -0.1, 0.9),
    ]
    table = pd.DataFrame(
        [
            {"domain": d, "predictor": p, "delta_e2000": e, "vs_gray": v, "vs_gray_ci_low": lo,
             "vs_gray_ci_high": hi, "colorfulness_ratio": c, "beats_gray": hi < 0,
             "harms": lo > 0}
            for d, p, e, v, lo, hi, c in rows
        ]
    )  # fmt: skip
    targets = dom.general_targets(table, "general", {"faces_wild": "faces", "landscapes": "scenes"})
    met = targets.set_index(["domain", "target"])["met"]
    assert met.loc["faces_wild"].all()  # all five, the 0.3 gap to faces within 0.5
    assert met.loc["landscapes", "floor: not worse than gray beyond the CI"]
    assert met.loc["landscapes", "floor: colourfulness of the truth's"]
    assert not met.loc["landscapes", "goal: better than gray beyond the CI"]
    assert not met.loc["landscapes", "goal: colourfulness of the truth's"]
    gap = targets[targets.target == "within 0.3 ΔE2000 of scenes"].iloc[0]
    assert gap.value == pytest.approx(1.0) and not gap.met
    assert len(targets) == 10


def test_one_photo_of_every_domain(shared):
    model = _classifier()
    lightness, predictions, ab_true, titles = dom.domain_samples({"m": model}, 32, DOMAINS)
    assert titles == ["faces", "landscapes"] and lightness.shape == (2, 1, 32, 32)
    data, split = domain_data(DOMAINS[1], 32)
    first = data.lab[data.files.index(split.test[0])].float()
    torch.testing.assert_close(lightness[1, 0], first[0])
    torch.testing.assert_close(ab_true[1], first[1:])
    assert predictions["m"].shape == (2, 2, 32, 32)


def test_a_domain_of_small_photos_is_scored_at_its_own_size(shared):
    small = Domain("faces", size=16)
    data, split = domain_data(small, 32)
    assert data.lab.shape[-2:] == (16, 16) and split == make_split(data.files, 0)
    scored = score_domains({"general": _classifier()}, 32, (small, *DOMAINS), baselines=False)
    assert [len(e.per_image) for e in scored["faces"]] == [len(split.test)] * 2


def test_the_small_photo_sweep_decodes_small_photos_each_way_beside_gray(shared):
    model = _classifier()
    model.rebalance_log_weights.copy_(torch.linspace(-1.0, 1.0, len(model.bins)))
    small = domain_data(Domain("faces", size=16), 32)
    sweep = small_photo_sweep(model, Decoding(0.38, None, 0.1), 32, small, (0.1, 0.9))
    assert list(sweep.small_photo_prior_correction) == [0.1, 0.9]
    data, split = small
    gray = evaluate(make_baseline("gray", data.lab), data, split, "val")
    for row in sweep.itertuples():
        decoded = model.at_temperature(0.38, None, row.small_photo_prior_correction)
        mine = evaluate(decoded, data, split, "val")
        assert row.delta_e2000 == pytest.approx(mine.summary["mean"]["delta_e2000"])
        expected = paired_bootstrap_ci(
            mine.per_image["delta_e2000"].to_numpy(), gray.per_image["delta_e2000"].to_numpy()
        )
        assert (row.vs_gray, row.vs_gray_ci_low, row.vs_gray_ci_high) == pytest.approx(expected)
    with pytest.raises(ValueError, match="not smaller than 32"):
        small_photo_sweep(model, Decoding(0.38), 32, domain_data(DOMAINS[0], 32))


def test_the_most_colourful_small_photo_correction_that_helps_is_chosen():
    columns = ["small_photo_prior_correction", "vs_gray", "vs_gray_ci_low", "vs_gray_ci_high",
               "colorfulness_ratio"]  # fmt: skip
    sweep = pd.DataFrame(
        [
            (0.2, 0.6, 0.4, 0.8, 0.6),  # colourful, harms
            (0.35, 0.1, -0.1, 0.3, 0.5),  # level with gray
            (0.5, -0.2, -0.3, -0.05, 0.4),  # helps: the most colourful that does
            (1.0, -0.4, -0.5, -0.3, 0.2),  # helps most, nearly gray
        ],
        columns=columns,
    )
    assert choose_small_photo_correction(sweep) == 0.5
    harmful = sweep.assign(vs_gray_ci_high=0.1, vs_gray=[0.6, 0.1, 0.05, 0.2])
    assert choose_small_photo_correction(harmful) == 0.5  # none helps: the least harm


def test_small_photos_are_held_to_gray_but_not_to_the_colour_targets():
    table = pd.DataFrame(
        [
            {"domain": dom.SMALL_PHOTOS.label, "predictor": "general", "delta_e2000": 10.0,
             "vs_gray": -0.3, "vs_gray_ci_low": -0.4, "vs_gray_ci_high": -0.2,
             "colorfulness_ratio": 0.4, "beats_gray": True, "harms": False},
        ]
    )  # fmt: skip
    targets = dom.general_targets(table, "general", {})
    assert list(targets.target) == [
        "floor: not worse than gray beyond the CI",
        "goal: better than gray beyond the CI",
    ]
    assert targets.met.all()
