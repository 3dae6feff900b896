"""Output files that are whole or absent: every file the package writes goes through here.

A writer fills a temporary file of its own beside the target and renames it into place when it
is done (``os.replace``, atomic on one file system). A crash, a kill or a full disk mid-write
leaves the old file or none, never a truncated one, and the temporary file is removed on any
failure. The rename replaces a symbolic link at the target, never the file it points to. The
new file gets the mode a plain ``open(path, "w")`` would (0666 less the umask), not mkstemp's
0600. A full disk becomes ``NoSpaceLeft``, whose message names the folder.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PARTIAL_SUFFIX = ".partial"  # temporary files are ".<name>.<random>.partial" beside the target
_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


class NoSpaceLeft(OSError):
    """A write failed because the disk (or the quota) is full; the message names the folder."""

    def __init__(self, folder: Path) -> None:
        super().__init__(errno.ENOSPC, f"no space left on {folder}")
        self.folder = folder

    def __str__(self) -> str:
        return self.strerror


def umask() -> int:
    """The process's umask, read without changing it where /proc says (``os.umask`` sets it, which
    is not safe while other threads create files)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    current = os.umask(0o022)
    os.umask(current)
    return current


def is_disk_full(error: BaseException, folder: Path | None = None) -> bool:
    """True when ``error`` (or one it was raised from) says the disk is full. Some writers report
    it without an errno (torch.save: "unexpected pos"); those count when ``folder`` has less than
    a megabyte free."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in _FULL:
            return True
        seen = seen.__cause__ or seen.__context__
    if folder is not None and isinstance(error, (OSError, RuntimeError)):
        try:
            stat = os.statvfs(folder)
            return stat.f_bavail * stat.f_frsize < 1 << 20
        except OSError:
            return False
    return False


@contextmanager
def written_atomically(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary file of this writer's own beside ``path`` to write; it replaces ``path`` when
    the block ends, and is removed if the block fails: a crash mid-write never leaves a truncated
    file behind, and two writers never rename each other's file. Raises ``NoSpaceLeft`` when the
    disk fills up."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=PARTIAL_SUFFIX, dir=path.parent
    )
    os.close(handle)
    try:
        yield Path(partial)
        # the mode a plain open() gives; after the block, as some writers (safetensors) replace
        # the file they were given with one of their own
        os.chmod(partial, 0o666 & ~umask())
        os.replace(partial, path)
    except BaseException as error:
        full = not isinstance(error, NoSpaceLeft) and is_disk_full(error, path.parent)
        Path(partial).unlink(missing_ok=True)  # after the check: removing it frees space
        if full:
            raise NoSpaceLeft(path.parent) from error
        raise


def write_text(path: str | os.PathLike, text: str) -> None:
    """``Path.write_text`` (UTF-8), whole or absent."""
    with written_atomically(path) as partial:
        partial.write_text(text, encoding="utf-8")


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """``Path.write_bytes``, whole or absent."""
    with written_atomically(path) as partial:
        partial.write_bytes(data)


def unwritable(folder: Path) -> str | None:
    """Why no file can be written in ``folder`` (created when missing), or None: the nearest of
    it and its parents that exists is a file, or refuses a new file (read-only, no permission).
    Creates and removes one empty probe file there; creates no folder."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is a file, not a folder"
    try:
        handle, probe = tempfile.mkstemp(prefix=".colorize-probe-", dir=existing)
    except OSError as error:
        return f"cannot write in {existing} ({error.strerror})"
    os.close(handle)
    os.unlink(probe)
    return None


def remove_stale_partials(folder: str | os.PathLike, name: str) -> list[Path]:
    """Delete temporary files that a killed writer of ``folder/name`` left behind; returns them.

    Call it only where no other writer of that file can be running (a resuming run)."""
    stale = sorted(Path(folder).glob(f".{name}.*{PARTIAL_SUFFIX}"))
    for path in stale:
        path.unlink(missing_ok=True)
    return stale
