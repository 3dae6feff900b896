"""Where a result came from: commit, machine, packages. Saved next to every run's numbers."""

from __future__ import annotations

import functools
import platform
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import torch

from colorize_core.training.device import cpu_has_bf16

_PACKAGES = ("torch", "torchvision", "numpy", "scikit-image", "pandas", "pillow")


def git_commit() -> str | None:
    """The checkout's commit, with ``-dirty`` when a tracked file outside ``reports/`` differs
    from it (the suite writes its reports there while it runs), or None outside git."""
    checkout = Path(__file__).resolve().parents[2]

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=checkout, capture_output=True, text=True, timeout=10, check=True
        )
        return done.stdout.strip()

    try:
        commit = git("rev-parse", "--short=12", "HEAD")
        changed = git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!reports")
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{commit}-dirty" if changed else commit or None


@functools.cache
def code_commit() -> str | None:
    """The commit of the code this process runs (``git_commit``), looked up once: by the first
    run or suite that starts, so a long notebook names the code it loaded even when the checkout
    moves on. Not at import: every command that imports this module (``colorize serve``) would
    start git in the checkout, which writes ``.git/index.lock``."""
    return git_commit()


def __getattr__(name: str) -> str | None:
    """``COMMIT_AT_IMPORT``, the old name of ``code_commit()``, looked up on first use."""
    if name == "COMMIT_AT_IMPORT":
        return code_commit()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def cpu_name() -> str:
    """The processor's model name (Linux: /proc/cpuinfo), else what ``platform`` knows. CPU
    timings only compare between machines that share it (and its native bf16, or lack of it)."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        lines = []
    names = [line.partition(":")[2].strip() for line in lines if line.startswith("model name")]
    return names[0] if names else platform.processor() or platform.machine()


def describe_cpu(origin: dict) -> str | None:
    """``AMD EPYC, AVX2, no native bf16`` from a provenance dict, or None where it predates
    these fields: what decides whether CPU timings compare between two machines."""
    if "cpu" not in origin:
        return None
    bf16 = "native bf16" if origin["cpu_bf16"] else "no native bf16"
    return f"{origin['cpu']}, {origin['cpu_capability']}, {bf16}"


def provenance(device: str | torch.device = "cpu") -> dict:
    """Commit (``code_commit()``), time, host, CPU (model, vector extension, native bf16),
    GPU, thread count and package versions, as a JSON-ready dict."""
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    device = torch.device(device)
    return {
        "commit": code_commit(),
        "time_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "host": platform.node(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "device": str(device),
        "cpu": cpu_name(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_bf16": cpu_has_bf16(),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "cpu_threads": torch.get_num_threads(),
        "packages": versions,
    }
