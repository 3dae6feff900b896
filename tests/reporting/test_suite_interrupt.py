"""The suite stops cleanly on Ctrl-C: it kills the running kernels at once (not after their cell),
records what ended in ``run.json`` and ``index.html``, leaves valid notebooks and no kernel behind,
prints one line and exits with 130."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import nbformat
import pytest

from colorize_core.data.atomic import PARTIAL_SUFFIX
from colorize_core.reporting import suite
from colorize_core.reporting.kernels import LIVE, LiveKernels


def _notebook(path: Path, *cells: str) -> None:
    """A notebook with a ``parameters`` cell, then ``cells``."""
    parameters = nbformat.v4.new_code_cell('OUTPUT_DIR = ""', metadata={"tags": ["parameters"]})
    code = [nbformat.v4.new_code_cell(textwrap.dedent(c)) for c in cells]
    kernel = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook = nbformat.v4.new_notebook(cells=[parameters, *code], metadata={"kernelspec": kernel})
    nbformat.write(notebook, path)


def _default_ctrl_c() -> None:
    """In a child before exec: SIGINT does what it does in a terminal."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _running(pid: int) -> bool:
    """Is process ``pid`` alive (a zombie is not: it runs nothing)?"""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _working_in(folder: Path) -> list[int]:
    """The live processes whose working folder is ``folder`` (a kernel and what it started)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and Path(os.readlink(entry / "cwd")) == folder:
                found.append(int(entry.name))
        except OSError:
            continue
    return [pid for pid in found if _running(pid)]


DRIVER = """
import sys
from pathlib import Path
from colorize_core.reporting import suite

folder = Path(sys.argv[1])
suite.NOTEBOOK_DIR = folder / "notebooks"  # three tiny notebooks stand in for the profile's
suite.NOTEBOOKS = ("quick", "slow", "later")
suite.notebook_parameters = lambda profile, name: {}
sys.exit(suite.main(["--profile", "smoke", "--out", str(folder / "reports"),
                     "--results", str(folder / "results")]))
"""


@pytest.mark.notebook
def test_ctrl_c_stops_the_running_kernel_at_once_and_records_what_ran(tmp_path):
    folder = tmp_path.resolve()
    (folder / "notebooks").mkdir()
    _notebook(folder / "notebooks" / "quick.ipynb", "print('quick done')")
    _notebook(
        folder / "notebooks" / "slow.ipynb",
        """
        import os, subprocess, time
        from pathlib import Path
        child = subprocess.Popen(["sleep", "600"])  # in the kernel's process group
        print("started")
        Path("slow.pids").write_text(f"{os.getpid()} {child.pid}")
        time.sleep(600)
        """,
    )
    _notebook(folder / "notebooks" / "later.ipynb", "print('never starts')")
    reports = folder / "reports"
    # an earlier run into the same folder: its entry for 'later' must survive
    earlier = {"name": "later", "ok": True, "seconds": 3.0, "notebook": "later.ipynb",
               "html": None, "error": None, "cell": None}  # fmt: skip
    origin = {"time_utc": "t0", "commit": "aaa", "platform": "p", "cpu_threads": 2,
              "packages": {"torch": "2"}}  # fmt: skip
    reports.mkdir()
    (reports / "run.json").write_text(json.dumps({
        "profile": "smoke", "device": "auto", "wall_seconds": 3.0, "notebooks": [earlier],
        "provenance": origin,
    }))  # fmt: skip

    # the suite leads its own process group, as a command does in a terminal: Ctrl-C signals it.
    # It gets Ctrl-C's default meaning even where the tests run with SIGINT ignored (a shell
    # script's background job ignores it, and an ignored signal is inherited across exec).
    started = subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(folder)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        env={**os.environ, "COLORIZE_PROGRESS": "0"}, preexec_fn=_default_ctrl_c,
    )  # fmt: skip
    try:
        pids = reports / "slow.pids"
        deadline = time.monotonic() + 240
        while not pids.is_file() and started.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert pids.is_file(), started.communicate(timeout=60)
        kernel, child = map(int, pids.read_text().split())
        time.sleep(1.0)  # well into time.sleep(600)
        pressed = time.monotonic()
        os.killpg(started.pid, signal.SIGINT)
        out, err = started.communicate(timeout=60)
        took = time.monotonic() - pressed
    finally:
        if started.poll() is None:
            os.killpg(started.pid, signal.SIGKILL)

    assert started.returncode == 130, out + err
    assert took < 20, f"Ctrl-C took {took:.1f} s: it waited for the cell"
    lines = [line for line in (out + err).splitlines() if "interrupted" in line]
    assert lines == [
        f"interrupted: 1 of 3 notebooks ran; report so far: {reports / 'index.html'}"
    ], out + err
    assert "Traceback" not in out + err
    # the record: the notebook that finished, the interrupted one, the earlier entry kept
    info = json.loads((reports / "run.json").read_text())
    status = {n["name"]: (n["ok"], n["error"]) for n in info["notebooks"]}
    assert status == {
        "quick": (True, None),
        "slow": (False, suite.INTERRUPTED),
        "later": (True, None),
    }
    assert [run["notebooks"] for run in info["invocations"]] == [["later"], ["quick", "slow"]]
    assert "interrupted (Ctrl-C)" in (reports / "index.html").read_text()
    # valid notebooks: the interrupted one keeps what its cells did so far
    for name in ("quick", "slow"):
        nbformat.validate(nbformat.read(reports / f"{name}.ipynb", as_version=4))
    slow = nbformat.read(reports / "slow.ipynb", as_version=4)
    assert any("started" in o.get("text", "") for c in slow.cells for o in c.get("outputs", []))
    assert (reports / "slow.html").is_file()
    assert not (reports / "later.ipynb").exists()
    # no kernel left: neither it, nor what it started, nor anything working in the report folder
    assert not _running(kernel) and not _running(child)
    assert _working_in(reports) == []
    assert not list(reports.glob(f"*{PARTIAL_SUFFIX}"))


def test_ctrl_c_between_notebooks_records_what_ended_and_starts_nothing(
    tmp_path, monkeypatch, capsys, request
):
    """In-process, papermill stood in for: Ctrl-C while the second notebook runs."""
    ran = []

    def fake(name, parameters, out, log=None):
        ran.append(name)
        if name == "landscapes_cnn":  # Ctrl-C now, then wait for the kernel to be killed
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
            deadline = time.monotonic() + 10
            while not LIVE.stopped and time.monotonic() < deadline:
                time.sleep(0.01)
            return suite.NotebookRun(name, False, 1.0, f"{name}.ipynb", None, "DeadKernelError")
        return suite.NotebookRun(name, True, 1.0, f"{name}.ipynb", f"{name}.html")

    monkeypatch.setattr(suite, "run_notebook", fake)
    monkeypatch.setenv("COLORIZE_PROGRESS", "0")
    # Ctrl-C raises KeyboardInterrupt, as in a terminal, even where the tests run with SIGINT
    # ignored (a shell script's background job)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    request.addfinalizer(lambda: signal.signal(signal.SIGINT, previous))
    out = tmp_path.resolve() / "reports"
    code = suite.main([
        "--profile", "smoke", "--only", "faces_cnn", "landscapes_cnn", "ablations", "summary",
        "--out", str(out), "--results", str(tmp_path / "results"),
    ])  # fmt: skip
    assert code == 130
    assert ran == ["faces_cnn", "landscapes_cnn"]  # neither ablations nor the summary started
    last = capsys.readouterr().out.splitlines()[-1]
    assert last == f"interrupted: 1 of 4 notebooks ran; report so far: {out / 'index.html'}"
    info = json.loads((out / "run.json").read_text())
    assert [(n["name"], n["ok"], n["error"]) for n in info["notebooks"]] == [
        ("faces_cnn", True, None),
        ("landscapes_cnn", False, suite.INTERRUPTED),
    ]
    assert (out / "index.html").is_file()
    assert "interrupted (" in (out / "suite.log").read_text()


def test_a_kernel_that_starts_after_ctrl_c_is_killed_at_once():
    kernels = LiveKernels()
    first = subprocess.Popen(["sleep", "600"], start_new_session=True)
    kernels.add("first", first.pid)
    assert kernels.stop_all() == [first.pid]
    assert first.wait(timeout=10) == -signal.SIGKILL
    late = subprocess.Popen(["sleep", "600"], start_new_session=True)
    kernels.add("late", late.pid)  # launched while the batch was being stopped
    assert late.wait(timeout=10) == -signal.SIGKILL
    kernels.reopen()
    again = subprocess.Popen(["sleep", "600"], start_new_session=True)
    try:
        kernels.add("again", again.pid)
        assert again.poll() is None
    finally:
        again.kill()
        again.wait()
