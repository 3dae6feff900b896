"""Timing and peak memory for the benchmark: medians after a warm-up, peaks per measured block."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch


def median_seconds(run: Callable[[], object], repeats: int, warmup: int = 1) -> list[float]:
    """Wall seconds of ``run()`` over ``repeats`` calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return times


def summary(values: list[float]) -> dict:
    """Median, min, max and count of ``values``: how the results store a repeated measurement."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "n": len(values)}  # fmt: skip


class PeakMemory:
    """Peak resident memory (MB) inside a ``with`` block; on CUDA also the peak GPU memory.

    Linux resets the peak (VmHWM) when "5" is written to /proc/self/clear_refs, so each block
    reports its own peak; elsewhere the process-wide peak is reported (an upper bound).
    """

    def __enter__(self) -> PeakMemory:
        try:
            Path("/proc/self/clear_refs").write_text("5")
        except OSError:
            pass
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        return self

    def __exit__(self, *exc) -> None:
        self.rss_mb = _peak_rss_mb()
        self.gpu_mb = (
            torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None
        )


def _peak_rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux
