"""``colorize-train``: train one run from the flat parameters a notebook uses, into the same
run folder a notebook writes.

    colorize-train --name faces_unet --dataset faces --model unet --epochs 30 --image-size 128
    colorize-train --config results/cpu/faces_cnn/config.json --name again --epochs 40
    torchrun --nproc_per_node 2 --no-python colorize-train --config run.json   # data parallel
    torchrun --nproc_per_node 2 -m colorize_core.train_command --config run.json

Every field of ``ExperimentConfig`` is an option (``--image-size``, ``--flip-only`` /
``--no-flip-only``, ``--model-kwargs '{"base": 32}'``); ``--config`` starts from a JSON file
(a run's ``config.json``, or flat parameters as a notebook passes them) and options override it.
Under torchrun each process takes its share of every batch (``distributed.py``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from colorize_core.training import distributed
from colorize_core.training.checkpoint import CheckpointError
from colorize_core.training.config import DataConfig, ExperimentConfig, ModelConfig, TrainConfig
from colorize_core.training.device import pick_device
from colorize_core.training.fit import TrainingDiverged

_PARTS = (DataConfig, ModelConfig, TrainConfig)


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
        prog="colorize-train",
        description="Train one run into OUTPUT_DIR/NAME (the folder a notebook writes). Under "
        "torchrun, data-parallel over the processes it starts.",
    )
    parser.add_argument("--config", help="JSON: a run's config.json or flat parameters")
    parser.add_argument("--resume", action="store_true", help="continue from last.pt")
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
    given = {k: v for k, v in vars(args).items() if k not in ("config", "resume")}
    if not args.config:
        return given
    path = Path(args.config)
    values = json.loads(path.read_text())
    if any(isinstance(values.get(part), dict) for part in ("data", "model", "train")):
        values = dataclasses.asdict(ExperimentConfig.from_dict(values))
        values = {**{k: v for k, v in values.items() if not isinstance(v, dict)},
                  **values["data"], **values["model"], **values["train"]}  # fmt: skip
        if path.parent.name == values["name"]:
            # a run folder's own config.json lies at <output_dir>/<name>/: that is where the run
            # is, whatever folder its (perhaps relative) output_dir was taken from when it ran
            values["output_dir"] = str(path.parent.parent)
    return {**values, **given}


def main(argv: list[str] | None = None) -> int:
    """Exit status 0 when the run is trained and evaluated, 2 for a usage error."""
    from colorize_core.runs.experiment import run_experiment  # after argument errors, not before

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = ExperimentConfig.from_params(**parameters(args))
    except (OSError, ValueError, TypeError) as error:
        parser.error(str(error))
    device = pick_device(config.train.device)
    with distributed.session(device) as world:
        try:
            result = run_experiment(config, resume=args.resume)
        except (CheckpointError, TrainingDiverged) as error:
            print(f"colorize-train: error (rank {world.rank}): {error}", file=sys.stderr)
            return 1
    if world.is_main:
        mean = result.evaluation.summary["mean"]
        print(
            f"colorize-train: {config.run_dir} ({world.size} process{'es' * (world.size > 1)}): "
            f"best epoch {result.fit.best_epoch}, test ΔE2000 {mean['delta_e2000']:.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
