"""What ``colorize-suite`` prints while it runs, and the log file that keeps everything else.

The console shows one line per notebook as it starts and as it ends, a failure in full, and how
far the whole run is: on a terminal an overall bar, elsewhere (CI, a pipe) the count in each
line; both with the time left where earlier timings of the profile allow an estimate. The
kernels' own messages, papermill's log, every cell's output and the suite's warnings go to
``suite.log`` in the report folder instead.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from tqdm import tqdm

LOG_NAME = "suite.log"
_TICK_SECONDS = 1.0  # how often the bar's clock and estimate are redrawn on a terminal
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")  # colour codes in kernel tracebacks


def on_a_terminal() -> bool:
    """Draw the overall bar? ``COLORIZE_PROGRESS=0/1`` decides if set; else only when stdout is a
    terminal and not in CI (a bar redrawn every second would fill a log file)."""
    forced = os.environ.get("COLORIZE_PROGRESS")
    if forced in ("0", "1"):
        return forced == "1"
    return not os.environ.get("CI") and sys.stdout.isatty()


def earlier_seconds(*run_files: Path, profile: str) -> dict[str, float]:
    """Seconds each notebook took when it last ran well under ``profile``: from the first of
    ``run_files`` (``run.json`` of a report folder) that has it. Empty when none does."""
    seconds: dict[str, float] = {}
    for path in run_files:
        try:
            info = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if info.get("profile") != profile:
            continue
        for run in info.get("notebooks", []):
            if run.get("ok") and run.get("seconds"):
                seconds.setdefault(run["name"], float(run["seconds"]))
    return seconds


def duration(seconds: float) -> str:
    """``45 s``, ``12 min``, ``2 h 05 min``: how long, as a person reads it."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def plain(text: str) -> str:
    """``text`` without terminal colour codes (kernel tracebacks carry them)."""
    return _ANSI.sub("", text)


class Estimate:
    """Time left in a batch of notebooks, from each one's earlier duration, scaled by how fast
    the notebooks that finished in this batch ran against theirs. None while any notebook still
    to finish has no earlier duration."""

    def __init__(self, names: list[str], earlier: dict[str, float], parallel: int = 1) -> None:
        self.earlier, self.parallel = earlier, max(1, parallel)
        self.waiting = set(names)
        self.running: dict[str, float] = {}  # name -> start (time.monotonic)
        self.measured = [0.0, 0.0]  # seconds taken, seconds expected: the speed of this machine

    def start(self, name: str) -> None:
        self.waiting.discard(name)
        self.running[name] = time.monotonic()

    def finish(self, name: str, seconds: float) -> None:
        self.running.pop(name, None)
        if name in self.earlier:
            self.measured[0] += seconds
            self.measured[1] += self.earlier[name]

    def seconds_left(self) -> float | None:
        if any(name not in self.earlier for name in [*self.waiting, *self.running]):
            return None
        speed = self.measured[0] / self.measured[1] if self.measured[1] else 1.0
        now = time.monotonic()
        running = sum(
            max(0.0, self.earlier[name] * speed - (now - start))
            for name, start in self.running.items()
        )
        waiting = sum(self.earlier[name] * speed for name in self.waiting)
        return running + waiting / self.parallel


class SuiteConsole:
    """The suite's console lines, its overall bar, and its log file (``out/suite.log``).

    Use as a context manager around a batch; ``log`` is the open log file, also handed to the
    kernels as their stdout and stderr."""

    def __init__(self, out: Path, names: list[str], earlier: dict[str, float], parallel: int = 1):
        self.path = out / LOG_NAME
        self.total = len(names)
        self.estimate = Estimate(names, earlier, parallel)
        self.done = 0
        self.lock = threading.Lock()
        self.log: IO[str] | None = None
        self.bar: tqdm | None = None

    def __enter__(self) -> SuiteConsole:
        self.log = self.path.open("w", encoding="utf-8", buffering=1)
        self._stack = _logging_to(self.log)
        self._stack.__enter__()
        if on_a_terminal():
            self.bar = tqdm(
                total=self.total, file=sys.stdout, unit="notebook", dynamic_ncols=True,
                bar_format="{desc} |{bar}| {n_fmt}/{total_fmt} notebooks, {elapsed}{postfix}",
                desc="suite",
            )  # fmt: skip
            self._ticking = threading.Event()
            self._ticker = threading.Thread(target=self._tick, daemon=True)
            self._ticker.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self._ticking.set()
            self._ticker.join()
            self._redraw()
            self.bar.close()
        self._stack.__exit__(*exc)
        self.log.close()

    def say(self, message: str) -> None:
        """A line for the reader, also kept in the log."""
        with self.lock:
            if self.bar is not None:
                self.bar.write(message, file=sys.stdout)
            else:
                print(message, flush=True)
            if self.log is not None:
                self.log.write(f"{time.strftime('%H:%M:%S')} {message}\n")

    def note(self, message: str, detail: str = "") -> None:
        """A line for the log only, ``detail`` (a traceback) in full below it."""
        lines = [message, *(f"    {line}" for line in plain(detail).rstrip().splitlines())]
        with self.lock:
            if self.log is not None:
                self.log.write(f"{time.strftime('%H:%M:%S')} " + "\n".join(lines) + "\n")

    def started(self, index: int, name: str) -> None:
        with self.lock:  # the bar's ticker reads the estimate from its own thread
            self.estimate.start(name)
        self.say(f"[{index + 1}/{self.total}] {name}: started")

    def finished(self, index: int, name: str, status: str, seconds: float, detail: str = ""):
        """One line for how notebook ``name`` ended; ``detail`` (a traceback) follows in full."""
        with self.lock:
            self.estimate.finish(name, seconds)
            self.done += 1
            left = self.estimate.seconds_left()
        after = (
            f"; about {duration(left)} left" if left is not None and self.done < self.total else ""
        )
        self.say(f"[{index + 1}/{self.total}] {name}: {status} ({duration(seconds)}){after}")
        if detail:
            self.say("\n".join(f"    {line}" for line in plain(detail).rstrip().splitlines()))
        if self.bar is not None:
            with self.lock:
                self.bar.update(1)

    def _tick(self) -> None:
        while not self._ticking.wait(_TICK_SECONDS):
            self._redraw()

    def _redraw(self) -> None:
        with self.lock:
            left = self.estimate.seconds_left()
            going = left is not None and self.done < self.total
            postfix = f"about {duration(left)} left" if going else ""  # tqdm adds the ", "
            self.bar.set_postfix_str(postfix, refresh=False)
            self.bar.refresh()


@contextmanager
def _logging_to(stream: IO[str]) -> Iterator[None]:
    """Route every log record and warning of this process to ``stream`` (and not the console)
    while the suite runs: papermill's per-cell log, nbconvert's notes, library warnings."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            yield
    finally:
        logging.captureWarnings(False)
        root.removeHandler(handler)
        root.setLevel(level)
