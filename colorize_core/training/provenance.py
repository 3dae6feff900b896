"""Where a result came from: commit, machine, packages. Saved next to every run's numbers."""

from __future__ import annotations

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


# The code this process runs is the code it imported: a long notebook keeps running the modules
# it loaded even when the checkout moves on, so results name the commit at import, not at the end.
COMMIT_AT_IMPORT = git_commit()


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
    """Commit (``COMMIT_AT_IMPORT``), time, host, CPU (model, vector extension, native bf16),
    GPU, thread count and package versions, as a JSON-ready dict."""
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    device = torch.device(device)
    return {
        "commit": COMMIT_AT_IMPORT,
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
