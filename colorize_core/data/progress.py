"""Progress bars that render in notebooks and terminals but stay out of CI logs."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def progress_enabled() -> bool:
    """``COLORIZE_PROGRESS=0/1`` decides if set; else on in a notebook or a terminal, off in CI."""
    forced = os.environ.get("COLORIZE_PROGRESS")
    if forced in ("0", "1"):
        return forced == "1"
    if os.environ.get("CI"):
        return False
    return "ipykernel" in sys.modules or sys.stderr.isatty()


def progress(items: Iterable[T], **kwargs) -> Iterable[T]:
    """``tqdm`` (the notebook widget inside Jupyter) when progress is enabled, else ``items``."""
    return tqdm(items, **kwargs) if progress_enabled() else items
