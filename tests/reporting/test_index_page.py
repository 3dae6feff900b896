"""The report index, rebuilt from the committed cpu report's tables, figures and run.json: each
group reads headline, key table, photos, chart, then folded tables; and in a real headless
Chromium at 1400 px nothing scrolls sideways."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from browser import headless_chromium  # pytest puts tests/ on sys.path
from conftest import REPO  # pytest puts tests/ on sys.path

from colorize_core.reporting import digest, index_page

COMMITTED = REPO / "reports" / "cpu"


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    """A copy of the committed report's tables, figures and run.json, its index rebuilt."""
    folder = tmp_path_factory.mktemp("report")
    for part in ("tables", "figures"):
        shutil.copytree(COMMITTED / part, folder / part)
    shutil.copy(COMMITTED / "run.json", folder / "run.json")
    index_page.write_index(folder, json.loads((folder / "run.json").read_text()))
    return folder


def test_each_group_reads_headline_key_table_photos_chart_then_folded_tables(report):
    page = (report / "index.html").read_text()
    groups = [s for s in index_page.report_groups(report) if not s.startswith("vivid_")]
    assert groups, "the committed report has summary groups"
    starts = [page.index(f'<h2 id="{stem}">') for stem in groups]
    assert starts == sorted(starts)
    for stem, start, end in zip(
        groups, starts, [*starts[1:], page.index('id="vivid"')], strict=True
    ):
        section = page[start:end]
        summary = pd.read_csv(report / "tables" / f"{stem}_summary.csv", index_col=0)
        best = re.search(r'<p class="headline"><b>([^<]+)</b> is the best model on', section)
        assert best and summary.at[best.group(1), "kind"] == "model"
        marks = ['<p class="headline">', '<table class="key">', f"figures/{stem}_samples.jpg",
                 f"figures/{stem}_metrics.png", "<details><summary>All metrics"]  # fmt: skip
        at = [section.index(mark) for mark in marks]
        assert at == sorted(at), stem
        key = section[section.index('<table class="key">') : section.index("</table>")]
        assert not re.search(r"\d \[", key) and '<span class="ci">' in key  # CIs compact
        assert 'class="best"' in key
        for number in re.findall(r">(−?[\d.]+)<", key):  # three significant figures
            assert len(number.lstrip("−0.").replace(".", "")) <= 3 or "." not in number, number
    assert page.index('id="vivid"') < page.index('id="notebooks"') < page.index('id="runs"')


def test_the_headline_is_written_from_the_tables_numbers(report):
    tables = digest.GroupTables.read(report / "tables", "faces_128px_all_seed0")
    mean = tables.numbers["mean"]
    models = mean[tables.kinds == "model"]
    best = models["delta_e2000"].idxmin()
    text = digest.headline(tables)
    assert text.startswith(f"**{best}** is the best model on ΔE2000, ")
    assert digest.sig3(models.at[best, "delta_e2000"]) in text
    assert "than the best trivial baseline" in text and "beyond the noise" in text


def test_vivid_targets_are_summarised(report):
    table = pd.read_csv(
        report / "tables" / "vivid_targets_landscapes_classification.csv", index_col=0
    )
    met = int((table["met"].astype(str) == "True").sum())
    line = index_page.targets_summary(table)
    assert line.startswith(f"{met} of {len(table)} targets met")
    assert ("missed:" in line) == (met < len(table))


@pytest.fixture(scope="module")
def browser():
    driver = headless_chromium(1400, 900)
    try:
        yield driver
    finally:
        driver.quit()


def test_no_sideways_scrolling_at_1400_px(report, browser):
    browser.get((report / "index.html").as_uri())
    width = browser.execute_script("return window.innerWidth")
    assert 1300 <= width <= 1400
    assert browser.execute_script("return document.documentElement.scrollWidth") <= width
    rights = browser.execute_script(
        "return [...document.querySelectorAll('table.key')]"
        ".filter(t => t.offsetParent !== null)"  # visible: not inside a closed <details>
        ".map(t => t.getBoundingClientRect().right)"
    )
    assert rights and max(rights) <= width
    images = browser.execute_script(
        "return [...document.images].filter(i => i.offsetParent !== null)"
        ".map(i => [i.naturalWidth, i.getBoundingClientRect().right])"
    )
    assert images and all(natural > 0 and right <= width for natural, right in images)
