"""Which device a run uses (or a user asked for), and whether it trains in bfloat16 there."""

from __future__ import annotations

import torch


def pick_device(name: str = "auto") -> torch.device:
    """``auto``: CUDA, then Apple MPS, then CPU. Anything else is passed to ``torch.device``."""
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def device_argument(name: str) -> torch.device:
    """A device the user named (``--device``), as ``pick_device`` gives it, checked to exist
    here: the one device check of the commands. ValueError saying why it cannot be used (a
    command reports it as a usage error, naming the device)."""
    try:
        device = pick_device(name)
    except RuntimeError as error:  # torch.device's message lists the valid device types
        raise ValueError(str(error)) from error
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError("no CUDA GPU is available here; pass --device cpu")
        if count <= (device.index or 0):
            raise ValueError(f"this machine has {count} CUDA GPU(s)")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError("Apple MPS is not available here; pass --device cpu")
    return device


def cpu_has_bf16() -> bool:
    """True on CPUs with native bfloat16 arithmetic (AVX512-BF16 or AMX), where oneDNN runs
    bf16 convolutions 2-3x faster than float32; elsewhere bf16 would be emulated, and slower."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def use_bf16(precision: str, device: torch.device) -> bool:
    """``auto``: bfloat16 autocast on CUDA and on CPUs with native bf16; float32 elsewhere
    (MPS support for bf16 varies). Weights, optimiser state and losses stay float32."""
    if precision == "auto":
        return device.type == "cuda" or (device.type == "cpu" and cpu_has_bf16())
    return precision == "bfloat16"
