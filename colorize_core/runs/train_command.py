"""``colorize-train``: train one run from the flat parameters a notebook uses, into the same
run folder a notebook writes.

    colorize-train --name faces_unet --dataset faces --model unet --epochs 30 --image-size 128
    colorize-train --config results/cpu/faces_cnn/config.json --name again --epochs 40
    torchrun --nproc_per_node 2 --no-python colorize-train --config run.json   # data parallel
    torchrun --nproc_per_node 2 -m colorize_core.runs.train_command --config run.json

Every field of ``ExperimentConfig`` is an option (``--image-size``, ``--flip-only`` /
``--no-flip-only``, ``--model-kwargs '{"base": 32}'``); ``--config`` starts from a JSON file
(a run's ``config.json``, or flat parameters as a notebook passes them) and options override it.
Under torchrun each process takes its share of every batch (``distributed.py``).

A folder that already holds a run (``config.json`` or ``checkpoints/``) is refused unless
``--resume`` continues it or ``--overwrite`` trains afresh in it: nothing is moved or deleted
first, and each of its files is replaced when the new run writes it (the checkpoints after the
first epoch, the metrics at the end). A mistake in the options, the ``--config`` file, the
device, the data set, ``init_from`` or the output folder ends the command with one line and exit
status 2 before anything is written. A full disk (run folder or data cache), a rank that stops
answering (``distributed.timeout()``), a diverged or unusable run end it with one line and status
1; the checkpoints written so far are whole, and ``--resume`` continues from the last of them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any, NoReturn

from colorize_core.data import atomic
from colorize_core.data.atomic import NoSpaceLeft, is_disk_full
from colorize_core.data.cache import default_cache_dir
from colorize_core.data.datasets import FOLDER_PREFIX, DatasetError, get_spec, resolve_dataset
from colorize_core.data.errors import one_line
from colorize_core.training import distributed
from colorize_core.training.checkpoint import CheckpointError
from colorize_core.training.config import (
    DataConfig,
    ExperimentConfig,
    ModelConfig,
    TrainConfig,
    read_json_object,
)
from colorize_core.training.device import device_argument, pick_device
from colorize_core.training.fit import TrainingDiverged
from colorize_core.training.loading import source_run

PROG = "colorize-train"
_PARTS = (DataConfig, ModelConfig, TrainConfig)
_OWN_OPTIONS = ("config", "resume", "overwrite")  # the command's, not the config's


class UsageError(ValueError):
    """A mistake in what the command was given (exit status 2); the message says what to do."""


def flat_defaults() -> dict[str, Any]:
    """Every flat parameter name with its default, in the config's own order."""
    top = {
        f.name: getattr(ExperimentConfig(), f.name)
        for f in dataclasses.fields(ExperimentConfig)
        if f.name not in ("data", "model", "train")
    }
    for part in _PARTS:
        top.update({f.name: getattr(part(), f.name) for f in dataclasses.fields(part)})
    return top


def _json_or_text(value: str) -> Any:
    """A JSON value (numbers, null, lists, objects), else the text itself."""
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Train one run into OUTPUT_DIR/NAME (the folder a notebook writes). Under "
        "torchrun, data-parallel over the processes it starts.",
    )
    parser.add_argument("--config", help="JSON: a run's config.json or flat parameters")
    again = parser.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true", help="continue from last.pt")
    again.add_argument(
        "--overwrite",
        action="store_true",
        help="train afresh in a folder that already holds a run, replacing its files as the "
        "new run writes them (nothing is moved or deleted first)",
    )
    for name, default in flat_defaults().items():
        flag = "--" + name.replace("_", "-")
        if isinstance(default, bool):
            parser.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction,
                                default=argparse.SUPPRESS, help=f"default: {default}")  # fmt: skip
            continue
        kind = type(default) if isinstance(default, (int, float, str)) else _json_or_text
        parser.add_argument(flag, dest=name, type=kind, default=argparse.SUPPRESS,
                            help=f"default: {json.dumps(default)}")  # fmt: skip
    return parser


def parameters(args: argparse.Namespace) -> dict[str, Any]:
    """The flat parameters: the ``--config`` file's, then the options given on the line."""
    given = {k: v for k, v in vars(args).items() if k not in _OWN_OPTIONS}
    if not args.config:
        return given
    path = Path(args.config)
    values = read_json_object(path)  # capped in size, a JSON object, or a one-line ValueError
    if any(isinstance(values.get(part), dict) for part in ("data", "model", "train")):
        values = dataclasses.asdict(ExperimentConfig.from_dict(values))
        values = {**{k: v for k, v in values.items() if not isinstance(v, dict)},
                  **values["data"], **values["model"], **values["train"]}  # fmt: skip
        if path.parent.name == values["name"]:
            # a run folder's own config.json lies at <output_dir>/<name>/: that is where the run
            # is, whatever folder its (perhaps relative) output_dir was taken from when it ran
            values["output_dir"] = str(path.parent.parent)
    return {**values, **given}


# ---------------------------------------------------------------- checks before anything is written


def check_device(name: str) -> None:
    """Refuse a device this machine lacks (``device.device_argument``; the config checks only
    that the name is one)."""
    try:
        device_argument(name)
    except ValueError as error:
        raise UsageError(f"device {name!r}: {error}") from error


def check_dataset(data: DataConfig) -> None:
    """Refuse an unknown data set name or a folder that is not there (``DatasetError``)."""
    if data.dataset.startswith(FOLDER_PREFIX) or data.data_path is not None:
        resolve_dataset(data.dataset, data.data_path, download=False)  # a folder the user named
    else:
        get_spec(data.dataset)  # lists the valid names


def check_init_from(config: ExperimentConfig, resume: bool) -> None:
    """Refuse an ``init_from`` that is missing, not a trained run's checkpoint, or another model
    or split (``CheckpointError``), unless the run resumes from weights of its own."""
    if config.train.init_from is None:
        return
    if resume and (config.run_dir / "checkpoints" / "last.pt").is_file():
        return
    source_run(config, config.train.init_from, config.output_dir, "init_from", same_model=True)


def check_output(run_dir: Path, *, resume: bool, overwrite: bool) -> None:
    """Refuse a run folder that cannot be written, or that holds a run already when the command
    neither continues it (``--resume``) nor asked to replace it (``--overwrite``)."""
    if problem := atomic.unwritable(run_dir):
        raise UsageError(f"--output-dir: {problem}; choose another --output-dir")
    held = [name for name in ("config.json", "checkpoints") if (run_dir / name).exists()]
    if held and not (resume or overwrite):
        raise UsageError(
            f"{run_dir} already holds a run ({held[0]}); pass --resume to continue it, "
            "--overwrite to train afresh in it, or another --name"
        )


def check(config: ExperimentConfig, args: argparse.Namespace) -> None:
    """Every check on what the command was given, in the order a user would fix them."""
    check_device(config.train.device)
    check_dataset(config.data)
    check_init_from(config, args.resume)
    check_output(config.run_dir, resume=args.resume, overwrite=args.overwrite)


# ---------------------------------------------------------------- failures while training


_OURS = (CheckpointError, TrainingDiverged, DatasetError)  # errors whose message says it all


def full_disk(error: BaseException, config: ExperimentConfig) -> Path | None:
    """The folder whose disk filled up, if that is what ``error`` means (``data.atomic``): said
    by the error or an error it was raised from, or, for an error not of ours, by a run or cache
    folder left with (almost) no free space (torch.save says only "unexpected pos")."""
    if isinstance(error, NoSpaceLeft):
        return error.folder
    if is_disk_full(error):
        filename = getattr(error, "filename", None)
        return Path(filename).parent if filename else config.run_dir
    if isinstance(error, _OURS):
        return None
    return next((f for f in (config.run_dir, default_cache_dir()) if is_disk_full(error, f)), None)


def failure(error: Exception, config: ExperimentConfig, world: distributed.World) -> str | None:
    """One line for an error a run can end with (None: a bug, whose traceback is wanted)."""
    if (folder := full_disk(error, config)) is not None:
        return (
            f"no space left on {folder}; free some space there and run the same command with "
            "--resume to continue from the last saved epoch"
        )
    if isinstance(error, _OURS):
        return one_line(error, named=False)
    if world.distributed and distributed.is_lost_rank(error):
        return f"{distributed.lost_rank(error, world)}; the job is ended"
    return None


def _usage_error(parser: argparse.ArgumentParser, error: BaseException) -> NoReturn:
    """Exit with status 2 and one line (not argparse's usage text, many lines here)."""
    parser.exit(2, f"{PROG}: error: {one_line(error, named=False)}\n")


def main(argv: list[str] | None = None) -> int:
    """Exit status 0 when the run is trained and evaluated, 2 for a usage error, 1 when the run
    fails (a full disk, a lost rank, divergence): one line on stderr, no traceback."""
    from colorize_core.runs.experiment import run_experiment  # after argument errors, not before

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = ExperimentConfig.from_params(**parameters(args))
        check(config, args)
    except (OSError, ValueError, TypeError, CheckpointError, DatasetError) as error:
        _usage_error(parser, error)
    device = pick_device(config.train.device)
    world = distributed.from_environment()
    try:
        with distributed.session(device):
            result = run_experiment(config, resume=args.resume)
    except Exception as error:
        message = failure(error, config, world)
        if message is None:
            raise
        where = f"rank {world.rank}: " if world.distributed else ""
        print(f"{PROG}: error: {where}{message}", file=sys.stderr)
        return 1
    if world.is_main:
        mean = result.evaluation.summary["mean"]
        print(
            f"{PROG}: {config.run_dir} ({world.size} process{'es' * (world.size > 1)}): "
            f"best epoch {result.fit.best_epoch}, test ΔE2000 {mean['delta_e2000']:.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
