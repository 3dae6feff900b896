"""Paths as logs and notebook outputs show them, without the folders of the machine that ran them.

Executed notebooks are committed and read elsewhere: ``/work/me/shared/datasets/faces`` in a log
line says nothing there and shows how one machine is laid out. ``shown_path`` names a folder by
where it is looked up instead: ``$COLORIZE_DATA/faces``, relative to the working folder (a
notebook's), ``<checkout>/data/faces`` or ``~/photos``.
"""

from __future__ import annotations

import os
from pathlib import Path

VARIABLES = ("COLORIZE_DATA", "COLORIZE_CACHE", "COLORIZE_HOME")  # the folders users set
CHECKOUT = Path(__file__).resolve().parents[2]  # the source checkout, for an editable install


def shown_path(path: str | os.PathLike) -> str:
    """``path`` without the machine's folders, first that applies: under a ``VARIABLES`` folder
    as ``$COLORIZE_DATA/faces`` (the deepest such folder); relative to the working folder when
    the two share more than the file system's root (``../results/smoke/faces_cnn``); in the
    checkout as ``<checkout>/data``; in the home folder as ``~/photos``; else as it is. Bytes
    that are not UTF-8 are written as ``\\xNN``."""
    target = Path(path).expanduser().resolve()
    bases = {f"${v}": Path(os.environ[v]).expanduser().resolve()
             for v in VARIABLES if os.environ.get(v)}  # fmt: skip
    bases |= {"<checkout>": CHECKOUT, "~": Path.home().resolve()}
    here = Path.cwd().resolve()
    under = {name: base for name, base in bases.items() if target.is_relative_to(base)}
    deepest = max(under.items(), key=lambda item: len(item[1].parts), default=None)
    if deepest is not None and deepest[0].startswith("$"):
        return _joined(deepest[0], target.relative_to(deepest[1]))
    if len(Path(os.path.commonpath([target, here])).parts) > 1:
        return _text(Path(os.path.relpath(target, here)).as_posix())
    if deepest is not None:
        return _joined(deepest[0], target.relative_to(deepest[1]))
    return _text(target)


def _joined(name: str, relative: Path) -> str:
    return _text(name if relative == Path() else f"{name}/{relative.as_posix()}")


def _text(name: str | os.PathLike) -> str:
    """Any name as valid text, as ``images.display_name`` (which imports this module) writes it."""
    return os.fspath(name).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
