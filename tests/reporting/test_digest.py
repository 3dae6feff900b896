"""The report's headline and key table, from summary tables built here with known numbers."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from colorize_core.reporting import digest

COLUMNS = ["kind", "psnr_ab", "delta_e2000", "colorfulness_pred", "colorfulness_true", "source"]


def summary(rows: dict[str, list[str]]) -> pd.DataFrame:
    table = pd.DataFrame.from_dict(rows, orient="index", columns=COLUMNS)
    table.index.name = "predictor"
    return table


def paired(rows: list[tuple]) -> pd.DataFrame:
    """(a, b, metric, a - b, ci_low, ci_high) rows, as report.pairwise writes them."""
    frame = pd.DataFrame(rows, columns=["a", "b", "metric", "difference", "ci_low", "ci_high"])
    frame["beyond_ci"] = (frame["ci_low"] > 0) | (frame["ci_high"] < 0)
    return frame


@pytest.fixture()
def tables() -> digest.GroupTables:
    here = "run here"
    return digest.GroupTables(
        summary(
            {
                "b": [
                    "model",
                    "30.0 [29.5, 30.5]",
                    "3.5 [3.4, 3.6]",
                    "20 [19, 21]",
                    "40 [39, 41]",
                    here,
                ],
                "a": [
                    "model",
                    "31.0 [30.5, 31.5]",
                    "3.0 [2.9, 3.1]",
                    "30 [29, 31]",
                    "40 [39, 41]",
                    here,
                ],
                "gray": [
                    "baseline",
                    "20.0 [19.9, 20.1]",
                    "9.0 [8.8, 9.2]",
                    "0 [0, 0]",
                    "40 [39, 41]",
                    here,
                ],
                "mean_ab": [
                    "baseline",
                    "25.0 [24.9, 25.1]",
                    "6.0 [5.8, 6.2]",
                    "38 [37, 39]",
                    "40 [39, 41]",
                    here,
                ],
                "paper": ["quoted", "35.0", "", "", "", "quoted"],
            }
        ),  # fmt: skip
        vs_baselines=paired([("a", "mean_ab", "delta_e2000", -3.0, -3.2, -2.8)]),
        pairwise=paired([("b", "a", "delta_e2000", 0.5, 0.4, 0.6)]),
    )


def test_cells_parse_and_format():
    assert digest.parse_cell("29.5 [29.04, 29.94]") == (29.5, 29.04, 29.94)
    mean, low, high = digest.parse_cell("31.2")
    assert mean == 31.2 and math.isnan(low) and math.isnan(high)
    assert all(math.isnan(v) for v in digest.parse_cell(""))
    with pytest.raises(ValueError, match="not a summary cell"):
        digest.parse_cell("29.5 [29.04]")
    assert [digest.sig3(v) for v in (31.534, 10.0, 0.97, 0.000835, 4.107, -0.0105, 123.4)] == [
        "31.5", "10.0", "0.970", "0.000835", "4.11", "−0.0105", "123",
    ]  # fmt: skip
    assert digest.sig3(math.nan) == ""
    assert (
        digest.stem_label("faces_wild_64px_1500_seed3")
        == "faces_wild, 64 px, first 1500 images, seed 3"
    )
    assert digest.stem_label("notes") == "notes"


def test_the_headline_names_the_best_model_and_its_margins(tables):
    assert digest.headline(tables) == (
        "**a** is the best model on ΔE2000, 3.00 [2.90, 3.10]: 0.500 lower (paired 95% CI "
        "[0.400, 0.600], beyond the noise) than the runner-up, b; 3.00 lower (paired 95% CI "
        "[2.80, 3.20], beyond the noise) than the best trivial baseline, mean_ab. It is also "
        "best on PSNR ab, 31.0 dB; its colours reach 75% of the true colourfulness (30.0 of 40.0)."
    )
    assert digest.markdown_to_html("**a<b>** x") == "<b>a&lt;b&gt;</b> x"


def test_the_headline_says_when_a_baseline_beats_every_model(tables):
    tables.vs_baselines = paired([("a", "mean_ab", "delta_e2000", 0.7, 0.5, 0.9)])
    assert (
        "but it is 0.700 higher (paired 95% CI [0.500, 0.900], beyond the noise) than the "
        "trivial baseline mean_ab." in digest.headline(tables)
    )
    tables.pairwise = paired([("a", "b", "delta_e2000", -0.1, -0.3, 0.1)])
    assert "0.100 lower (paired 95% CI [−0.100, 0.300], within the noise) than the runner-up" in (
        digest.headline(tables)
    )


def test_the_key_table_orders_sets_apart_and_marks_the_best_run_here(tables):
    page = digest.key_table_html(tables)
    assert digest.key_metrics(tables) == ["psnr_ab", "delta_e2000", "colorfulness_pred"]
    # models best first, then baselines, then quoted rows, each in its own tbody
    order = [page.index(f">{name}</td>") for name in ("a", "b", "gray", "mean_ab", "paper")]
    assert order == sorted(order)
    assert (
        page.index('<tbody class="model">')
        < page.index('<tbody class="baseline">')
        < (page.index('<tbody class="quoted">'))
    )
    # the quoted 35.0 dB is not ranked; colourfulness is best closest to the truth (mean_ab: 38)
    assert digest.best_per_metric(tables, digest.key_metrics(tables)) == {
        "psnr_ab": "a", "delta_e2000": "a", "colorfulness_pred": "mean_ab",
    }  # fmt: skip
    assert page.count('class="best"') == 3
    assert (
        '<td class="best" title="best in this column">31.0<span class="ci">30.5–31.5</span>' in page
    )
    assert "Colourfulness (true 40.0) ≈" in page and "ΔE2000 ↓" in page


def test_details_fold_every_full_table(tables):
    details = digest.details_html(tables)
    assert details.count("<details>") == 3  # all metrics, against the baselines, model vs model
    assert "paired 95% CI" in details and "[−3.20, −2.80]" in details


def test_a_group_without_models_says_so():
    gray = ["baseline", "20 [19, 21]", "9 [8, 10]", "0 [0, 0]", "40 [39, 41]", "x"]
    only = digest.GroupTables(summary({"gray": gray}))
    assert digest.headline(only) == "No trained model in this group: only the baselines' numbers."
