"""The suite's console: one line per notebook, the time left, a log file with everything else."""

from __future__ import annotations

import json
import logging
import time
import warnings

from colorize_core.reporting import console


def test_durations_read_as_people_say_them():
    assert [console.duration(s) for s in (4, 89, 91, 3500, 3599, 7500)] == [
        "4 s", "89 s", "2 min", "58 min", "1 h 00 min", "2 h 05 min",
    ]  # fmt: skip
    assert console.plain("\x1b[0;31mValueError\x1b[0m: x") == "ValueError: x"


def test_earlier_timings_come_from_the_first_run_record_of_the_profile(tmp_path):
    def record(path, profile, notebooks):
        path.write_text(json.dumps({"profile": profile, "notebooks": notebooks}))
        return path

    runs = [{"name": "a", "ok": True, "seconds": 10.0}, {"name": "b", "ok": False, "seconds": 3.0}]
    here = record(tmp_path / "here.json", "smoke", runs)
    other = record(tmp_path / "other.json", "cpu", [{"name": "c", "ok": True, "seconds": 5.0}])
    committed = record(
        tmp_path / "committed.json", "smoke", [{"name": "b", "ok": True, "seconds": 7.0}]
    )
    found = console.earlier_seconds(
        tmp_path / "missing.json", other, here, committed, profile="smoke"
    )
    assert found == {"a": 10.0, "b": 7.0}  # b failed here: its time says nothing


def test_the_estimate_scales_earlier_timings_by_this_machines_speed(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    estimate = console.Estimate(["a", "b", "c"], {"a": 10.0, "b": 20.0, "c": 30.0})
    assert estimate.seconds_left() == 60.0
    estimate.start("a")
    clock[0] += 20.0
    estimate.finish("a", 20.0)  # twice as slow as last time
    assert estimate.seconds_left() == 100.0
    estimate.start("b")
    clock[0] += 15.0
    assert estimate.seconds_left() == 25.0 + 60.0
    assert console.Estimate(["a", "new"], {"a": 1.0}).seconds_left() is None


def test_lines_and_log_without_a_terminal(tmp_path, capfd, monkeypatch):
    monkeypatch.setenv("COLORIZE_PROGRESS", "0")
    handlers = list(logging.getLogger().handlers)
    with console.SuiteConsole(tmp_path, ["a", "b"], {"a": 60.0, "b": 120.0}) as shown:
        shown.started(0, "a")
        logging.getLogger("papermill").info("cell output nobody needs on the console")
        warnings.warn("a library grumbles", DeprecationWarning, stacklevel=1)
        shown.log.write("[IPKernelApp] WARNING | Kernel is running over TCP\n")
        shown.finished(0, "a", "finished", 30.0)
        shown.started(1, "b")
        shown.finished(
            1,
            "b",
            "FAILED in cell [3]: ValueError: bad",
            5.0,
            "Traceback\n\x1b[31mValueError\x1b[0m: bad",
        )
    printed = capfd.readouterr()
    assert printed.err == ""
    assert printed.out.splitlines() == [
        "[1/2] a: started",
        "[1/2] a: finished (30 s); about 60 s left",
        "[2/2] b: started",
        "[2/2] b: FAILED in cell [3]: ValueError: bad (5 s)",
        "    Traceback",
        "    ValueError: bad",
    ]
    log = (tmp_path / console.LOG_NAME).read_text()
    for detail in ("cell output nobody needs", "a library grumbles", "IPKernelApp", "a: finished"):
        assert detail in log
    assert logging.getLogger().handlers == handlers  # the log's handler is gone again


def test_a_bar_with_the_time_left_on_a_terminal(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLORIZE_PROGRESS", "1")
    with console.SuiteConsole(tmp_path, ["a", "b"], {"a": 60.0, "b": 120.0}) as shown:
        shown.started(0, "a")
        shown.finished(0, "a", "finished", 30.0)
    out = capsys.readouterr().out
    assert "[1/2] a: finished (30 s); about 60 s left" in out
    bar = out.split("a: finished")[-1]
    assert "1/2 notebooks" in bar and ", about 60 s left" in bar and ", ," not in bar


def test_no_estimate_without_earlier_timings(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLORIZE_PROGRESS", "0")
    with console.SuiteConsole(tmp_path, ["a", "b"], {}) as shown:
        shown.started(0, "a")
        shown.finished(0, "a", "finished", 3.0)
    assert capsys.readouterr().out.splitlines()[-1] == "[1/2] a: finished (3 s)"


def test_the_bar_is_drawn_only_on_a_terminal(monkeypatch):
    monkeypatch.delenv("COLORIZE_PROGRESS", raising=False)
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr("sys.stdout.isatty", lambda: False)
    assert not console.on_a_terminal()  # a pipe or a file: lines only, whatever is imported
    monkeypatch.setattr("sys.stdout.isatty", lambda: True)
    assert console.on_a_terminal()
    monkeypatch.setenv("CI", "1")
    assert not console.on_a_terminal()


def test_a_note_goes_to_the_log_only(tmp_path, capfd, monkeypatch):
    """The notebook Ctrl-C stopped: its dead-kernel traceback is for the log, not the console."""
    monkeypatch.setenv("COLORIZE_PROGRESS", "0")
    with console.SuiteConsole(tmp_path, ["a"], {}) as shown:
        shown.started(0, "a")
        shown.note("[1/1] a: interrupted (3 s)", "Traceback\n\x1b[31mDeadKernelError\x1b[0m")
    printed = capfd.readouterr()
    assert printed.out.splitlines() == ["[1/1] a: started"] and printed.err == ""
    log = (tmp_path / console.LOG_NAME).read_text()
    assert "a: interrupted (3 s)\n    Traceback\n    DeadKernelError\n" in log
