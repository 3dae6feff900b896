"""colorize-train and colorize export given bad input, a full disk or a hung rank: one line on
stderr (no traceback), exit status 2 for a usage error and 1 for a failed run, and no file lost
or half written. The disk cases mount small tmpfs folders (root only; skipped elsewhere)."""

import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest
import torch

from colorize_core.apps import cli
from colorize_core.runs import launch, train_command
from colorize_core.training import distributed
from colorize_core.training.checkpoint import load_checkpoint, save_checkpoint
from colorize_core.training.config import MAX_CONFIG_BYTES, ExperimentConfig

# conv_ae at an eighth of its width on 40 faces at 32 px: a real run in a few seconds, with a
# checkpoint of about 1.1 MB (FULL_DISK below depends on it)
TINY = ["--name", "tiny", "--dataset", "faces", "--image-size", "32", "--limit", "40",
        "--batch-size", "8", "--lr", "1e-3", "--model-kwargs", '{"base": 8}']  # fmt: skip
# Room for epoch 1's best.pt and last.pt (2 x 1.1 MB) but not for epoch 2's next one beside them
FULL_DISK = "size=2800k"
HANG_TIMEOUT_S = 5  # COLORIZE_DDP_TIMEOUT for the hung-rank test (60 s by default)


def run(command: Callable[[list[str]], int], argv: list[str], capsys) -> tuple[int, str]:
    """A command's ``main`` in this process: its exit status and what it wrote to stderr."""
    try:
        status = command(argv)
    except SystemExit as done:
        status = done.code
    return status, capsys.readouterr().err


def train(argv: list[str], capsys) -> tuple[int, str]:
    return run(train_command.main, argv, capsys)


def export(argv: list[str], capsys) -> tuple[int, str]:
    return run(cli.main, ["export", *argv], capsys)


def the_error(err: str, prog: str = "colorize-train") -> str:
    """The one error line in ``err`` (which may hold log warnings before it); no traceback."""
    assert "Traceback" not in err, err
    errors = [line for line in err.splitlines() if line.startswith(f"{prog}: error")]
    assert len(errors) == 1 and err.rstrip().endswith(errors[0]), err
    return errors[0]


def snapshot(folder: Path) -> dict[str, tuple[str, int]]:
    """Every file under ``folder``: its SHA-256 and modification time."""
    return {
        str(path.relative_to(folder)): (
            hashlib.sha256(path.read_bytes()).hexdigest(),
            path.stat().st_mtime_ns,
        )
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def _mount(*args: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["mount", *args], capture_output=True, text=True)
    except FileNotFoundError:
        pytest.skip("no mount command here")


@contextlib.contextmanager
def tmpfs(folder: Path, options: str) -> Iterator[Path]:
    """A tmpfs mounted at ``folder`` with ``options`` (``ro``, ``size=300k``); skips the test
    where mounting is not allowed."""
    folder.mkdir(parents=True, exist_ok=True)
    done = _mount("-t", "tmpfs", "-o", options, "tmpfs", str(folder))
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here (root only): {done.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


@pytest.fixture()
def read_only(tmp_path) -> Iterator[Path]:
    """An empty read-only folder (a read-only tmpfs: root ignores chmod)."""
    with tmpfs(tmp_path / "read_only", "ro,size=1m") as folder:
        yield folder


@pytest.fixture(scope="module")
def good_run(tmp_path_factory) -> Path:
    """A finished one-epoch run folder, ``results/good``."""
    results = tmp_path_factory.mktemp("results")
    argv = [*TINY, "--name", "good", "--epochs", "1", "--output-dir", str(results)]
    assert train_command.main(argv) == 0
    return results / "good"


# ---------------------------------------------------------------- colorize-train usage errors


def _write(folder: Path, name: str, text: str) -> str:
    (folder / name).write_text(text)
    return str(folder / name)


def _fifo(folder: Path) -> str:
    os.mkfifo(folder / "pipe.json")  # reading it would wait for a writer forever
    return str(folder / "pipe.json")


def _checkpoint_without_weights(folder: Path) -> str:
    config = ExperimentConfig.from_params(dataset="faces", image_size=32, limit=40)
    save_checkpoint(folder / "no_weights.pt", {"config": config.to_dict(), "epoch": 1})
    return str(folder / "no_weights.pt")


# the options that go wrong (after TINY and --output-dir results), and what the error says
USAGE_ERRORS: dict[str, tuple[Callable[[Path], list[str]], str]] = {
    "cuda without a GPU": (
        lambda tmp: ["--device", "cuda"],
        "device 'cuda': no CUDA GPU is available here; pass --device cpu",
    ),
    "unknown device": (
        lambda tmp: ["--device", "bogus"],
        "device must be auto, cpu, cuda, cuda:N or mps; got 'bogus'",
    ),
    "unknown data set": (lambda tmp: ["--dataset", "nope"], "unknown data set 'nope'; valid"),
    "missing folder data set": (
        lambda tmp: ["--dataset", "folder:/nonexistent"],
        "/nonexistent does not exist or is not a folder",
    ),
    "config holding a list": (
        lambda tmp: ["--config", _write(tmp, "c.json", "[1, 2]")],
        "c.json holds a list, not a JSON object of parameters",
    ),
    "config holding null": (
        lambda tmp: ["--config", _write(tmp, "c.json", "null")],
        "c.json holds null, not a JSON object",
    ),
    "config holding a string": (
        lambda tmp: ["--config", _write(tmp, "c.json", '"faces"')],
        "c.json holds a string, not a JSON object",
    ),
    "config that is not JSON": (
        lambda tmp: ["--config", _write(tmp, "c.json", "{epochs: 3")],
        "c.json is not a JSON file (Expecting",
    ),
    "config /dev/zero": (
        lambda tmp: ["--config", "/dev/zero"],
        "/dev/zero is not a regular file; give a JSON file",
    ),
    "config a FIFO": (lambda tmp: ["--config", _fifo(tmp)], "pipe.json is not a regular file"),
    "config a folder": (lambda tmp: ["--config", str(tmp)], "Is a directory"),
    "config too large": (
        lambda tmp: ["--config", _write(tmp, "c.json", " " * MAX_CONFIG_BYTES + "{}")],
        f"c.json is larger than {MAX_CONFIG_BYTES} bytes",
    ),
    "output dir a file": (
        lambda tmp: ["--output-dir", _write(tmp, "notes.txt", "keep")],
        "--output-dir: {tmp}/notes.txt is a file, not a folder; choose another --output-dir",
    ),
    "output dir under a file": (
        lambda tmp: ["--output-dir", _write(tmp, "notes.txt", "keep") + "/results"],
        "--output-dir: {tmp}/notes.txt is a file, not a folder",
    ),
    "output dir /proc": (
        lambda tmp: ["--output-dir", "/proc"],
        "--output-dir: cannot write in /proc (",
    ),
    "init_from without weights": (
        lambda tmp: ["--init-from", _checkpoint_without_weights(tmp)],
        "no_weights.pt holds no model weights (no 'modules' with a 'model')",
    ),
    "plateau_factor above 1": (
        lambda tmp: ["--plateau-factor", "2"],
        "plateau_factor must lie in (0, 1), got 2.0",
    ),
}


@pytest.mark.parametrize("case", USAGE_ERRORS)
def test_usage_errors_are_one_line_with_status_2_and_write_nothing(case, tmp_path, capsys):
    if case == "cuda without a GPU" and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    make_options, message = USAGE_ERRORS[case]
    options = make_options(tmp_path)
    before = snapshot(tmp_path)
    status, err = train([*TINY, "--output-dir", str(tmp_path / "results"), *options], capsys)
    assert status == 2, err
    assert err == the_error(err) + "\n"  # the line alone: no usage text, no traceback
    assert message.format(tmp=tmp_path) in err
    assert snapshot(tmp_path) == before and not (tmp_path / "results").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no probe left


def test_a_read_only_output_folder_is_a_usage_error(read_only, capsys):
    status, err = train([*TINY, "--output-dir", str(read_only / "results")], capsys)
    assert status == 2
    assert the_error(err) == (
        f"colorize-train: error: --output-dir: cannot write in {read_only} (Read-only file "
        "system); choose another --output-dir"
    )
    assert list(read_only.iterdir()) == []


# ---------------------------------------------------------------- runs a user did not name


def test_an_existing_run_is_kept_unless_resume_or_overwrite_is_given(good_run, tmp_path, capsys):
    run_dir = tmp_path / "results" / "good"
    shutil.copytree(good_run, run_dir)
    before = snapshot(run_dir)
    again = ["--config", str(run_dir / "config.json"), "--epochs", "2"]  # no --name: same run
    status, err = train(again, capsys)
    assert status == 2
    assert the_error(err) == (
        f"colorize-train: error: {run_dir} already holds a run (config.json); pass --resume to "
        "continue it, --overwrite to train afresh in it, or another --name"
    )
    assert snapshot(run_dir) == before
    status, err = train([*again, "--overwrite"], capsys)
    assert status == 0, err
    assert pd.read_csv(run_dir / "history.csv")["epoch"].tolist() == [1, 2]
    assert ExperimentConfig.load(run_dir / "config.json").train.epochs == 2
    assert load_checkpoint(run_dir / "checkpoints" / "last.pt")["epoch"] == 2


def test_notebooks_under_torchrun_train_afresh_or_resume_never_refused():
    # launch.run keeps run_experiment's meaning: a run folder is retrained in place unless resumed
    command = launch.torchrun_command(Path("run.json"), 2)
    assert command[-3:] == ["--config", "run.json", "--overwrite"]
    assert launch.torchrun_command(Path("run.json"), 2, resume=True)[-1] == "--resume"
    args = train_command.build_parser().parse_args(command[command.index("--config") :])
    assert args.overwrite and not args.resume


def test_importing_the_commands_starts_no_git():
    # git status in the checkout writes .git/index.lock: `colorize serve` must not run it at import
    code = textwrap.dedent("""
        import sys
        started = []
        sys.addaudithook(
            lambda event, args: started.append(args[1]) if event == "subprocess.Popen" else None
        )
        import colorize_core.apps.export, colorize_core.apps.serve, colorize_core.runs.train_command
        print(started)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "git" not in done.stdout, done.stdout  # (ctypes may run ldconfig -p: not ours)


# ---------------------------------------------------------------- full disks


def test_a_full_output_disk_is_one_line_and_the_run_resumes_once_there_is_room(tmp_path, capsys):
    with tmpfs(tmp_path / "disk", FULL_DISK) as disk:
        argv = [*TINY, "--epochs", "3", "--output-dir", str(disk)]
        status, err = train(argv, capsys)
        assert status == 1
        line = the_error(err)
        assert line.startswith(f"colorize-train: error: no space left on {disk / 'tiny'}"), line
        assert "--resume" in line
        last = disk / "tiny" / "checkpoints" / "last.pt"
        assert load_checkpoint(last)["epoch"] == 1  # whole: the last epoch that fitted
        assert list(disk.rglob("*.partial")) == []
        assert _mount("-o", "remount,size=64m", str(disk)).returncode == 0  # space freed
        status, err = train([*argv, "--resume"], capsys)
        assert status == 0, err
        assert load_checkpoint(last)["epoch"] == 3
        assert pd.read_csv(disk / "tiny" / "history.csv")["epoch"].tolist() == [1, 2, 3]


def test_a_full_cache_disk_is_one_line(tmp_path, capsys, monkeypatch):
    with tmpfs(tmp_path / "cache", "size=2m") as cache:  # the 750 faces at 32 px take 4.6 MB
        monkeypatch.setenv("COLORIZE_CACHE", str(cache))
        status, err = train([*TINY, "--output-dir", str(tmp_path / "results")], capsys)
        assert status == 1
        assert the_error(err).startswith(f"colorize-train: error: no space left on {cache}")
        assert list(cache.iterdir()) == []
    assert not (tmp_path / "results").exists()


# ---------------------------------------------------------------- a rank that stops answering

HANG_WORKER = """
import os, sys, time
from colorize_core.runs import train_command
from colorize_core.training import fit

def hang(*args, **kwargs):
    time.sleep(600)  # rank 1 stops answering in its first validation; rank 0 waits for it

if __name__ == "__main__":
    if os.environ.get("RANK") == "1":
        fit.validation_loss = hang
    sys.exit(train_command.main(sys.argv[1:]))
"""


def test_a_hung_rank_is_named_in_one_line(tmp_path):
    worker = tmp_path / "hang_rank1.py"
    worker.write_text(HANG_WORKER)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
               "2", str(worker), *TINY, "--output-dir", str(tmp_path / "results")]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLORIZE_PROGRESS": "0",
           distributed.TIMEOUT_ENV: str(HANG_TIMEOUT_S)}  # fmt: skip
    started = time.monotonic()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert time.monotonic() - started < 60, output
    assert (
        f"colorize-train: error: rank 0: rank 1 stopped answering (no reply within "
        f"{HANG_TIMEOUT_S} s); the job is ended"
    ) in output, output
    assert "[rank0]: Traceback" not in output and "gloo" not in output, output


@pytest.mark.parametrize(
    ("rank", "size", "text", "expected"),
    [
        (0, 2, "[gloo/unbound_buffer.cc:78] Timed out waiting 5000ms for recv operation",
         "rank 1 stopped answering (no reply within 60 s)"),
        (1, 2, "[gloo/pair.cc:534] Connection closed by peer [127.0.0.1]:29500",
         "rank 0 stopped answering (its connection closed)"),
        (0, 4, "Watchdog caught collective operation timeout: rank 3 ran for 60000 milliseconds "
         "before timing out", "rank 3 stopped answering (no reply within 60 s)"),
        (2, 4, "Timed out waiting 60000ms for recv operation to complete",
         "another rank stopped answering (no reply within 60 s)"),
    ],
)  # fmt: skip
def test_the_rank_that_stopped_answering_is_read_from_the_error(
    rank, size, text, expected, monkeypatch
):
    monkeypatch.delenv(distributed.TIMEOUT_ENV, raising=False)
    error = RuntimeError(text)
    assert distributed.is_lost_rank(error)
    assert distributed.lost_rank(error, distributed.World(rank, size, rank)) == expected
    assert not distributed.is_lost_rank(RuntimeError("CUDA out of memory"))


# ---------------------------------------------------------------- colorize export


def _export_place(tmp: Path, case: str, suffix: str, read_only: Path | None) -> Path:
    """Where ``-o`` points for each refused case."""
    if case.startswith("a folder"):
        (tmp / f"m{suffix}").mkdir()
        (tmp / f"m{suffix}" / "keep.txt").write_text("keep")
        return tmp / f"m{suffix}"
    if case == "under a file":
        (tmp / "notes.txt").write_text("keep")
        return tmp / "notes.txt" / f"m{suffix}"
    return read_only / f"m{suffix}"


EXPORT_ERRORS = {
    "a folder": "{out} is a folder; give a file name ending in {suffix}",
    "a folder, --overwrite": "{out} is a folder; give a file name ending in {suffix}",
    "under a file": "cannot write {out}: {tmp}/notes.txt is a file, not a folder",
    "read-only": "cannot write {out}: cannot write in {tmp}/read_only (Read-only file system)",
}


@pytest.mark.parametrize("onnx", [False, True], ids=["safetensors", "onnx"])
@pytest.mark.parametrize("case", EXPORT_ERRORS)
def test_export_to_a_place_it_cannot_write_is_one_line_with_status_2(
    case, onnx, good_run, tmp_path, capsys, request
):
    suffix = ".onnx" if onnx else ".safetensors"
    read_only = request.getfixturevalue("read_only") if case == "read-only" else None
    out = _export_place(tmp_path, case, suffix, read_only)
    before = snapshot(tmp_path)
    options = ["--onnx"] * onnx + ["--overwrite"] * case.endswith("--overwrite")
    status, err = export([str(good_run), "-o", str(out), *options], capsys)
    assert status == 2
    line = the_error(err, "colorize export")
    assert err == line + "\n"
    assert line == "colorize export: error: " + EXPORT_ERRORS[case].format(
        out=out, suffix=suffix, tmp=tmp_path
    )
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("onnx", [False, True], ids=["safetensors", "onnx"])
def test_export_on_a_full_disk_keeps_the_old_file_whole(onnx, good_run, tmp_path, capsys):
    suffix = ".onnx" if onnx else ".safetensors"
    with tmpfs(tmp_path / "disk", "size=64k") as disk:  # the files are 180 kB and 410 kB
        out = disk / f"m{suffix}"
        out.write_bytes(b"an older export")
        options = ["--onnx"] * onnx + ["--overwrite"]
        status, err = export([str(good_run), "-o", str(out), *options], capsys)
        assert status == 1
        line = the_error(err, "colorize export")
        assert line.startswith(f"colorize export: error: no space left on {disk}"), line
        assert [p.name for p in disk.iterdir()] == [out.name]
        assert out.read_bytes() == b"an older export"
