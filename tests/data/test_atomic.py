"""Whole-or-absent output files: mode, links, failures and a full disk (data/atomic.py)."""

import os
import subprocess
from contextlib import contextmanager

import pytest
import torch
from safetensors.torch import save_file

from colorize_core.data import atomic
from colorize_core.training.checkpoint import save_checkpoint


@contextmanager
def tmpfs(folder, options: str):
    """A small tmpfs at ``folder`` (root only, as in CI), unmounted afterwards."""
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "--lazy", str(folder)], check=True)  # a traceback may hold a file


def leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(atomic.PARTIAL_SUFFIX))


def write_safetensors(path) -> None:
    """safetensors replaces the partial file it is given with a 0600 file of its own."""
    with atomic.written_atomically(path) as partial:
        save_file({"w": torch.zeros(2)}, str(partial))


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
@pytest.mark.parametrize(
    "write",
    [
        lambda path: atomic.write_text(path, "text"),
        lambda path: save_checkpoint(path, {"epoch": 1}),
        lambda path: write_safetensors(path),
    ],
    ids=["text", "checkpoint", "safetensors-into-partial"],
)
def test_files_get_the_mode_a_plain_write_would(tmp_path, mask, write):
    target = tmp_path / "out"
    previous = os.umask(mask)
    try:
        write(target)
        with open(tmp_path / "plain", "w"):
            pass
    finally:
        os.umask(previous)
    assert target.stat().st_mode & 0o777 == (tmp_path / "plain").stat().st_mode & 0o777
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask


def test_a_link_at_the_target_is_replaced_never_followed(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (tmp_path / "out").mkdir()
    link, dangling = tmp_path / "out" / "a.png", tmp_path / "out" / "b.png"
    link.symlink_to(victim)
    dangling.symlink_to(tmp_path / "elsewhere.png")
    atomic.write_bytes(link, b"new")
    atomic.write_bytes(dangling, b"new")
    assert victim.read_text() == "precious" and not (tmp_path / "elsewhere.png").exists()
    assert not link.is_symlink() and link.read_bytes() == b"new"
    assert not dangling.is_symlink() and dangling.read_bytes() == b"new"


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "table.csv"
    target.write_text("old")
    with pytest.raises(ValueError, match="half way"):
        with atomic.written_atomically(target) as partial:
            partial.write_text("new, but half")
            raise ValueError("half way")
    assert target.read_text() == "old" and leftovers(tmp_path) == []


def test_a_full_disk_says_no_space_left_on_the_folder_and_leaves_nothing(tmp_path):
    with tmpfs(tmp_path / "disk", "size=64k") as disk:
        (disk / "kept.bin").write_bytes(b"old")
        for write in (
            lambda: atomic.write_bytes(disk / "big.bin", os.urandom(256 << 10)),
            lambda: atomic.write_bytes(disk / "kept.bin", os.urandom(256 << 10)),
            lambda: save_checkpoint(disk / "last.pt", {"w": torch.rand(64 << 10)}),
        ):
            with pytest.raises(atomic.NoSpaceLeft) as error:
                write()
            assert str(error.value) == f"no space left on {disk}"
        assert sorted(p.name for p in disk.iterdir()) == ["kept.bin"]
        assert (disk / "kept.bin").read_bytes() == b"old"


def test_unwritable_names_the_reason(tmp_path):
    (tmp_path / "file").write_text("x")
    assert "is a file, not a folder" in atomic.unwritable(tmp_path / "file")
    assert "is a file, not a folder" in atomic.unwritable(tmp_path / "file" / "under" / "deep")
    assert atomic.unwritable(tmp_path / "new" / "folder") is None
    assert not (tmp_path / "new").exists()  # the check creates no folder
    with tmpfs(tmp_path / "ro", "ro,size=64k") as read_only:
        assert "cannot write in" in atomic.unwritable(read_only / "out")
    assert list(tmp_path.iterdir()) == [tmp_path / "file", tmp_path / "ro"]  # no probe left
