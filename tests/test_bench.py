"""The speed benchmark runs in its quick form and writes its JSON and Markdown (no timing is
asserted: CI machines vary)."""

import json

from colorize_core import bench


def test_quick_benchmark_writes_json_and_markdown(tmp_path):
    assert bench.main(["--quick", "--label", "ci", "--out-dir", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "ci-quick.json").read_text())
    assert {"machine", "data", "metrics", "train", "cache"} <= set(results)
    assert results["machine"]["threads"] >= 1 and results["settings_name"] == "quick"
    assert all(row["cache_flip"]["ratio"] > 0 for row in results["data"])
    assert {row["model"] for row in results["train"]} == {"conv_ae"}
    # the batched metrics agree with scikit-image on the same Lab images
    assert results["metrics"]["max_abs_difference"]["ssim_rgb"] < 1e-2
    assert results["metrics"]["max_abs_difference"]["delta_e2000"] < 1e-2
    table = (tmp_path / "ci-quick.md").read_text()
    for heading in ("Data path", "Metrics", "Training step", "Cache build"):
        assert heading in table
