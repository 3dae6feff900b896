"""The speed benchmark runs in its quick form and writes its JSON and Markdown (no timing is
asserted: CI machines vary); its tables are remade from a saved run's JSON."""

import json

from conftest import REPO  # pytest puts tests/ on sys.path

from colorize_core.bench import command
from colorize_core.evaluation.metrics import METRICS
from colorize_core.reporting.bench_tables import markdown

BENCHMARKS = REPO / "benchmarks"


def test_quick_benchmark_writes_json_and_markdown(tmp_path):
    assert command.main(["--quick", "--label", "ci", "--out-dir", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "ci-quick.json").read_text())
    assert {"machine", "data", "metrics", "train", "cache", "ddp"} <= set(results)
    assert set(results["ddp"]["img_per_s"]) == {"1x1", "2x1", "1x2"}
    assert all(rate > 0 for rate in results["ddp"]["img_per_s"].values())
    assert results["machine"]["threads"] >= 1 and results["settings_name"] == "quick"
    assert all(row["cache_flip"]["ratio"] > 0 for row in results["data"])
    assert {row["model"] for row in results["train"]} == {"conv_ae"}
    # every metric is timed and compared, and the batched values agree with the references
    difference = results["metrics"]["max_abs_difference"]
    assert set(difference) == set(METRICS)
    assert max(difference.values()) < 1e-3, difference
    table = (tmp_path / "ci-quick.md").read_text()
    assert table == markdown(results)
    for heading in ("Data path", "Metrics", "Training step", "Scaling", "Cache build", "Data par"):
        assert heading in table


def test_published_table_is_remade_from_its_json():
    """``benchmarks/vm.md`` is what ``markdown`` makes of ``benchmarks/vm.json``, precision check
    included: the renderer needs nothing but the saved results."""
    results = json.loads((BENCHMARKS / "vm.json").read_text())
    assert markdown(results) == (BENCHMARKS / "vm.md").read_text()
