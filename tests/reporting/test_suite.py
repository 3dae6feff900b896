"""The papermill suite: the smoke profile end to end, and a failing notebook that does not stop
the others. These execute notebooks in a real kernel of this environment (marker: notebook)."""

import json
import os
import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from colorize_core.evaluation.metrics import METRICS, SPLIT_METRICS
from colorize_core.reporting import index_page, report_files, suite

pytestmark = pytest.mark.notebook

# the notebooks whose runs fall in each data set's group of the smoke profile
WRITERS = {
    "faces": ("faces_cnn", "faces_gan", "ablations"),
    "landscapes": ("landscapes_cnn", "baselines_cnn_vs_unet", "vivid_colour"),
    "cifar10": ("baselines_cnn_vs_unet", "vivid_colour"),
}


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    root = tmp_path_factory.mktemp("smoke")
    runs = suite.run_suite("smoke", out=root / "reports", results=root / "results")
    return root, runs


def test_smoke_profile_runs_every_notebook(smoke):
    root, runs = smoke
    assert [r.name for r in runs] == list(suite.NOTEBOOKS)
    assert all(r.ok for r in runs), [(r.name, r.error) for r in runs if not r.ok]
    reports = root / "reports"
    for name in suite.NOTEBOOKS:
        assert (reports / f"{name}.ipynb").is_file() and (reports / f"{name}.html").is_file()
    info = json.loads((reports / "run.json").read_text())
    assert info["profile"] == "smoke" and info["provenance"]["commit"]
    index = (reports / "index.html").read_text()
    for name in suite.NOTEBOOKS:
        assert f'href="{name}.html"' in index
    assert "<table" in index and 'src="figures/' in index
    executed = json.loads((reports / "faces_cnn.ipynb").read_text())
    pictures = [
        o
        for c in executed["cells"]
        for o in c.get("outputs", [])
        if {"image/png", "image/jpeg"} & set(o.get("data", {}))
    ]
    assert len(pictures) >= 5, "figures must render as images in the executed notebooks"


def test_summary_has_a_row_per_model_and_dataset_with_finite_metrics(smoke):
    root, _ = smoke
    tables = root / "reports" / "tables"
    expected = {
        "faces": {"faces_cnn", "faces_cnn-unet_flip_only", "faces_cnn-unet_flip_only_annealed",
                  "faces_cnn-unet_annealed_l1", "faces_cnn-unet_annealed_l1_mirrored",
                  "faces_gan", "faces_gan-unet_pretrained",
                  "ablation-reference", "ablation-smooth_l1", "ablation-weight_decay_1e-3",
                  "ablation-lr_1e-3", "ablation-flip_only"},
        "landscapes": {"landscapes_cnn", "landscapes_cnn-unet", "cnn_vs_unet-landscapes-cnn8",
                       "cnn_vs_unet-landscapes-unet", "vivid-landscapes-regression",
                       "vivid-landscapes-classification", "vivid-landscapes-adversarial"},
        "cifar10": {"cnn_vs_unet-cifar10-cnn8", "cnn_vs_unet-cifar10-unet",
                    "vivid-cifar10-regression", "vivid-cifar10-classification",
                    "vivid-cifar10-adversarial"},
    }  # fmt: skip
    groups = index_page.report_groups(root / "reports")
    for dataset, models in expected.items():
        (stem,) = [stem for stem in groups if stem.startswith(f"{dataset}_")]
        table = pd.read_csv(tables / f"{stem}_summary.csv", index_col="predictor")  # merged
        assert models | {"gray", "mean_ab", "mean_ab_map"} <= set(table.index)
        assert set(table.loc[table["kind"] == "model"].index) == models
        quoted = table["kind"] == "quoted"
        assert quoted.any() == (dataset != "cifar10")
        figures = {(f.owner, f.kind) for f in groups[stem] if f.kind in report_files.FIGURE_KINDS}
        parts = {(n, k) for n in WRITERS[dataset] for k in report_files.FIGURE_KINDS}
        assert figures == {(None, "metrics")} | parts  # each notebook's, the merged chart
    for path in (root / "results" / "smoke").glob("*/metrics.json"):
        metrics = json.loads(path.read_text())["metrics"]
        assert set(metrics) == set(METRICS) | set(SPLIT_METRICS)
        assert all(np.isfinite(m["mean"]) for m in metrics.values()), path.parent.name


def test_executed_notebooks_name_no_folder_of_the_machine(smoke):
    """Sources, text outputs (log lines on stderr included) and metadata (papermill's record of
    the notebook it ran, the copy it wrote and the parameters) hold no path of this checkout or
    of the temporary folders the suite ran in; pictures are not searched. The injected
    parameters give the folders relative to the report folder, where the notebook ran."""
    root, _ = smoke
    folders = (str(suite.ROOT), str(root), "/tmp/")
    for path in (root / "reports").glob("*.ipynb"):
        notebook = json.loads(path.read_text())
        record = notebook["metadata"]["papermill"]
        assert (record["input_path"], record["output_path"]) == (
            f"notebooks/{path.name}",
            path.name,
        )
        metadata = json.dumps([notebook["metadata"], *(c["metadata"] for c in notebook["cells"])])
        for folder in folders:
            assert folder not in metadata, f"{path.name}: {folder} in its metadata"
        (injected,) = [
            "".join(c["source"])
            for c in notebook["cells"]
            if "injected-parameters" in c["metadata"].get("tags", [])
        ]
        assert 'REPORT_DIR = "."' in injected and record["parameters"]["REPORT_DIR"] == "."
        if path.stem != "summary":  # the summary reads only the report folder
            assert 'OUTPUT_DIR = "../results"' in injected
            assert record["parameters"]["OUTPUT_DIR"] == "../results"
        for cell in notebook["cells"]:
            texts = ["".join(cell["source"])]
            for output in cell.get("outputs", []):
                texts += [output.get("text", ""), *output.get("traceback", [])]
                texts += [v for k, v in output.get("data", {}).items() if k.startswith("text/")]
            text = "\n".join("".join(t) if isinstance(t, list) else t for t in texts)
            for folder in folders:
                assert folder not in text, f"{path.name}: {folder} in {text[:2000]}"


def test_readme_results_tables_are_printed_from_the_report(smoke, capsys):
    root, _ = smoke
    tool = runpy.run_path(str(suite.ROOT / "tools" / "readme_results.py"))
    assert tool["main"]([str(root / "reports")]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("Profile `smoke`") and "### faces_32px_60_seed0" in printed
    assert "| faces_cnn-unet_flip_only " in printed and "| mean_ab_map " in printed
    assert "ΔE2000" in printed and "True images' colourfulness" in printed


def test_the_readmes_commands_with_a_relative_colorize_data(tmp_path):
    """README, offline: `export COLORIZE_DATA=../shared/datasets`, then `make suite ARGS=...`
    from the checkout. The notebooks run in notebooks/, where that path means something else."""
    relative_data = "../shared/datasets"  # the README's words; CI has ../shared beside the checkout
    assert (suite.ROOT / relative_data / "landscapes").is_dir(), "no ../shared beside the checkout"
    relative_cache = os.path.relpath(os.environ["COLORIZE_CACHE"], suite.ROOT)
    environment = {**os.environ, "COLORIZE_DATA": relative_data, "COLORIZE_CACHE": relative_cache}
    args = f"--profile smoke --only landscapes_cnn --out {tmp_path / 'r'} --results {tmp_path}"
    make = [
        "make", "suite", f"ARGS={args}",
        # the environment running these tests (`make test` makes it .venv), as it is: not rebuilt
        f"BIN={Path(sys.executable).parent}", "--old-file=.venv/.installed",
    ]  # fmt: skip
    done = subprocess.run(
        make, cwd=suite.ROOT, env=environment, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "1 of 1 notebooks ran" in done.stdout
    assert (tmp_path / "smoke" / "landscapes_cnn" / "metrics.json").is_file()
    assert list(Path(os.environ["COLORIZE_CACHE"]).glob("landscapes-32px-*.pt"))
    assert not (suite.NOTEBOOK_DIR / relative_cache).exists()


def test_a_failing_notebook_is_reported_and_the_rest_still_run(tmp_path, capfd, monkeypatch):
    monkeypatch.setenv("COLORIZE_PROGRESS", "0")  # lines only, as in CI
    failed = suite.main([
        "--profile", "smoke", "--only", "faces_cnn", "landscapes_cnn",
        "--out", str(tmp_path / "reports"), "--results", str(tmp_path / "results"),
        "--set", "faces_cnn.MODEL='no_such_model'",
    ])  # fmt: skip
    printed = capfd.readouterr()  # at the file descriptors: the kernels' output too
    assert failed == 1
    assert "faces_cnn: FAILED in cell" in printed.out and "no_such_model" in printed.out
    assert "Traceback" in printed.out or "Error" in printed.out.split("FAILED", 1)[1]
    assert "landscapes_cnn: finished" in printed.out
    # quiet: one line per notebook start and end, the failure's traceback, the summary; no
    # kernel warnings, no per-cell progress
    for noise in ("IPKernelApp", "Executing", "cell/s", "without encryption"):
        assert noise not in printed.out + printed.err
    log = (tmp_path / "reports" / "suite.log").read_text()
    assert "no_such_model" in log and "landscapes_cnn: finished" in log
    assert "Executing notebook with kernel" in log  # papermill's own log is kept there
    info = json.loads((tmp_path / "reports" / "run.json").read_text())
    status = {n["name"]: n["ok"] for n in info["notebooks"]}
    assert status == {"faces_cnn": False, "landscapes_cnn": True}
    assert (tmp_path / "reports" / "faces_cnn.html").is_file()  # the error is readable there


def test_a_partial_run_keeps_the_earlier_entries_and_lists_every_run(tmp_path):
    def info(names, commit, wall):
        notebooks = [
            {"name": n, "ok": True, "seconds": 1.0, "notebook": f"{n}.ipynb", "html": None,
             "error": None, "cell": None}
            for n in names
        ]  # fmt: skip
        origin = {"time_utc": f"t-{commit}", "commit": commit, "platform": "p", "cpu_threads": 2,
                  "packages": {"torch": "2"}}  # fmt: skip
        return {"profile": "cpu", "device": "auto", "wall_seconds": wall, "notebooks": notebooks,
                "provenance": origin}  # fmt: skip

    path = tmp_path / "run.json"
    first = suite.merge_with_earlier(info(suite.NOTEBOOKS, "aaa", 4800.0), path)
    path.write_text(json.dumps(first))
    second = suite.merge_with_earlier(info(["faces_gan", "summary"], "bbb", 600.0), path)
    assert [n["name"] for n in second["notebooks"]] == list(suite.NOTEBOOKS)
    assert [(r["commit"], r["wall_seconds"]) for r in second["invocations"]] == [
        ("aaa", 4800.0),
        ("bbb", 600.0),
    ]
    assert second["invocations"][1]["notebooks"] == ["faces_gan", "summary"]
    index_page.write_index(tmp_path, second)
    page = (tmp_path / "index.html").read_text()
    assert "commit <code>aaa</code>, 80.0 min" in page and "faces_cnn.ipynb" in page
    # another profile's run.json is not mixed in
    other = suite.merge_with_earlier({**info(["summary"], "ccc", 1.0), "profile": "smoke"}, path)
    assert len(other["invocations"]) == 1 and len(other["notebooks"]) == 1


def test_report_groups_in_dataset_order_each_in_reading_order(tmp_path):
    names = [
        "tables/cifar10_32px_2000_seed0_summary.csv", "tables/faces_128px_all_seed0_pairwise.csv",
        "tables/faces_128px_all_seed0_summary.csv", "tables/faces_128px_all_seed0_vs_baselines.csv",
        "figures/faces_128px_all_seed0_curves.png", "figures/faces_128px_all_seed0_metrics.png",
        "figures/faces_128px_all_seed0_samples.jpg", "tables/notes.csv",
        "figures/faces_gan__faces_128px_all_seed0_samples.jpg",
        "figures/faces_cnn__faces_128px_all_seed0_samples.jpg",
        "tables/faces_cnn__faces_128px_all_seed0_summary.csv",
        "tables/landscapes_64px_1500_seed0_summary.csv", "tables/photos_64px_all_seed0_summary.csv",
        "tables/faces_wild_64px_all_seed0_summary.csv", "figures/vivid_tradeoff_x.png",
    ]  # fmt: skip
    for name in names:
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("predictor,x\na,1\n")
    groups = index_page.report_groups(tmp_path)
    assert list(groups) == [
        "faces_128px_all_seed0", "landscapes_64px_1500_seed0", "cifar10_32px_2000_seed0",
        "faces_wild_64px_all_seed0", "photos_64px_all_seed0",
    ]  # fmt: skip
    assert [f.path.name for f in groups["faces_128px_all_seed0"]] == [
        "faces_128px_all_seed0_summary.csv", "faces_128px_all_seed0_metrics.png",
        "faces_128px_all_seed0_samples.jpg", "faces_128px_all_seed0_vs_baselines.csv",
        "faces_128px_all_seed0_pairwise.csv", "faces_128px_all_seed0_curves.png",
        "faces_cnn__faces_128px_all_seed0_summary.csv",
        "faces_cnn__faces_128px_all_seed0_samples.jpg",
        "faces_gan__faces_128px_all_seed0_samples.jpg",
    ]  # fmt: skip
    assert [p.name for p in index_page.other_files(tmp_path)] == [
        "notes.csv",
        "vivid_tradeoff_x.png",
    ]


def test_a_cpu_run_without_native_bf16_is_told_it_takes_hours_longer(monkeypatch):
    monkeypatch.setattr(suite, "cpu_has_bf16", lambda: False)
    note = suite.speed_note("cpu", "cpu")
    assert note and "float32" in note and "--profile smoke" in note
    assert suite.speed_note("smoke", "cpu") is None
    monkeypatch.setattr(suite, "cpu_has_bf16", lambda: True)
    assert suite.speed_note("cpu", "cpu") is None


def test_notebooks_wait_for_the_runs_they_start_from_and_missing_ones_fail_at_once(tmp_path):
    experiments = {
        n: suite.notebook_parameters("cpu", n) for n in suite.NOTEBOOKS if n != "summary"
    }
    order = suite.schedule(experiments, tmp_path)
    assert list(order) == list(experiments)  # the profile's order already puts makers first
    assert order["faces_gan"] == {"faces_cnn"}  # its generator starts from faces_cnn's U-Net
    assert not any(order[n] for n in experiments if n != "faces_gan")
    reordered = suite.schedule(dict(reversed(experiments.items())), tmp_path)
    assert list(reordered).index("faces_cnn") < list(reordered).index("faces_gan")
    gan_only = {"faces_gan": experiments["faces_gan"]}
    with pytest.raises(ValueError, match="faces_gan needs run 'faces_cnn-unet_flip_only_annealed'"):
        suite.schedule(gan_only, tmp_path)
    best = tmp_path / "faces_cnn-unet_flip_only_annealed" / "checkpoints" / "best.pt"
    best.parent.mkdir(parents=True)
    best.touch()  # made by an earlier invocation
    assert suite.schedule(gan_only, tmp_path) == {"faces_gan": set()}


def test_the_cli_refuses_a_selection_missing_runs_before_running_anything(tmp_path, capsys):
    with pytest.raises(SystemExit) as stopped:
        suite.main([
            "--profile", "smoke", "--only", "faces_gan",
            "--out", str(tmp_path / "reports"), "--results", str(tmp_path / "results"),
        ])  # fmt: skip
    assert stopped.value.code == 2
    assert "faces_gan needs run 'faces_cnn-unet_flip_only_annealed'" in capsys.readouterr().err
    assert not (tmp_path / "reports" / "faces_gan.ipynb").exists()
