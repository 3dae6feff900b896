"""Every report file the suite writes is whole or absent: a writer that fails mid-write, or a full
disk, leaves the old file (or none) and no temporary file."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import matplotlib.pyplot as plt
import nbformat
import numpy as np
import pandas as pd
import pytest
import torch

from colorize_core.data.atomic import PARTIAL_SUFFIX, NoSpaceLeft
from colorize_core.data.cache import LabImages
from colorize_core.reporting import index_page, plots, report, suite
from colorize_core.runs.samples import save_samples

OLD = b"the old version\n"


def _table(rows: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(rows, 3)), columns=["PSNR ab [dB]", "ΔE76", "ΔE2000"])
    return frame.rename_axis("predictor").rename(index=lambda i: f"model_{i}")


def _figure():
    fig, ax = plt.subplots()
    ax.imshow(np.random.default_rng(0).random((200, 200, 3)))  # noise: a PNG of ~100 KB
    return fig


def _samples(path: Path) -> None:
    lab = torch.zeros(6, 3, 64, 64)
    lab[:, 0] = torch.rand(6, 64, 64) * 100
    lab[:, 1:] = torch.rand(6, 2, 64, 64) * 60 - 30
    images = LabImages("noise", 64, [f"{i}.png" for i in range(6)], lab.half())
    save_samples(torch.nn.Conv2d(1, 2, 1), images, path)


def _index(folder: Path) -> None:
    origin = {"time_utc": "t", "commit": "c", "platform": "p", "cpu_threads": 2,
              "packages": {"torch": "2"}}  # fmt: skip
    notebooks = [
        {"name": f"nb{i}", "ok": True, "seconds": 1.0, "notebook": f"nb{i}.ipynb",
         "html": f"nb{i}.html", "error": None, "cell": None}
        for i in range(300)
    ]  # fmt: skip
    info = {"profile": "cpu", "device": "auto", "notebooks": notebooks, "provenance": origin,
            "invocations": [{"time_utc": "t", "commit": "c", "wall_seconds": 1.0,
                             "notebooks": ["nb0"]}]}  # fmt: skip
    index_page.write_index(folder, info)


def _html(folder: Path) -> None:
    notebook = folder / "nb.ipynb"
    if not notebook.exists():
        nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")]), notebook)
    suite.export_html(notebook)


# writer name -> (write into folder, the file it writes)
WRITERS = {
    "table csv": (lambda f: report.write_table(_table(3000), f, "t"), "t.csv"),
    "figure": (lambda f: plots.save_figure(_figure(), f / "m.png"), "m.png"),
    "photo grid": (lambda f: plots.save_figure(_figure(), f / "s.jpg", dpi=300), "s.jpg"),
    "samples.png": (lambda f: _samples(f / "samples.png"), "samples.png"),
    "index.html": (_index, "index.html"),
    "notebook html": (_html, "nb.html"),
}


@pytest.fixture()
def small_disk(tmp_path):
    """A 256 KB tmpfs (needs root; skipped elsewhere)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(disk)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def _fill(disk: Path, leave: int) -> None:
    """Fill ``disk`` but ``leave`` bytes."""
    stat = os.statvfs(disk)
    (disk / "filler").write_bytes(b"\0" * max(0, stat.f_bavail * stat.f_frsize - leave))


@pytest.mark.parametrize("writer", WRITERS)
def test_a_full_disk_leaves_the_old_file_and_no_partial(small_disk, writer):
    write, name = WRITERS[writer]
    nbformat.write(nbformat.v4.new_notebook(), small_disk / "nb.ipynb")  # what HTML exports
    (small_disk / name).write_bytes(OLD)
    _fill(small_disk, 8192)
    with pytest.raises(NoSpaceLeft):
        write(small_disk)
    assert (small_disk / name).read_bytes() == OLD
    assert not list(small_disk.glob(f"*{PARTIAL_SUFFIX}"))


@pytest.mark.parametrize("writer", WRITERS)
def test_each_writer_leaves_no_partial_when_it_succeeds(tmp_path, writer):
    write, name = WRITERS[writer]
    (tmp_path / name).write_bytes(OLD)
    write(tmp_path)
    assert (tmp_path / name).read_bytes() != OLD
    assert not list(tmp_path.glob(f".*{PARTIAL_SUFFIX}"))


def test_a_table_writer_failing_mid_write_leaves_the_old_tables(tmp_path, monkeypatch):
    for suffix in (".csv", ".md"):
        (tmp_path / f"t{suffix}").write_bytes(OLD)

    def half_then_fail(self, path, *args, **kwargs):
        Path(path).write_text("predictor,PSNR")  # a truncated table
        raise OSError("killed mid-write")

    monkeypatch.setattr(pd.DataFrame, "to_csv", half_then_fail)
    with pytest.raises(OSError, match="killed mid-write"):
        report.write_table(_table(), tmp_path, "t")
    assert all((tmp_path / f"t{s}").read_bytes() == OLD for s in (".csv", ".md"))
    assert not list(tmp_path.glob(f".*{PARTIAL_SUFFIX}"))


def test_a_figure_failing_mid_write_leaves_no_file(tmp_path, monkeypatch):
    def half_then_fail(self, path, **kwargs):
        assert kwargs["format"] == "png"  # the temporary name says nothing of the format
        Path(path).write_bytes(b"\x89PNG\r\n")
        raise RuntimeError("killed mid-write")

    monkeypatch.setattr(type(_figure()), "savefig", half_then_fail)
    with pytest.raises(RuntimeError, match="killed mid-write"):
        plots.save_figure(_figure(), tmp_path / "figures" / "m.png")
    assert list((tmp_path / "figures").iterdir()) == []


def test_tables_are_the_bytes_pandas_writes(tmp_path):
    """The atomic writer changes where the bytes go, not what they are."""
    table = _table()
    report.write_table(table, tmp_path, "t")
    table.to_csv(tmp_path / "direct.csv")
    assert (tmp_path / "t.csv").read_bytes() == (tmp_path / "direct.csv").read_bytes()
    assert (tmp_path / "t.md").read_bytes() == (table.to_markdown() + "\n").encode()
