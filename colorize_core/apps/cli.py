"""The ``colorize`` command (also ``python -m colorize_core.apps.cli``): ``colorize PHOTOS``,
``colorize serve`` and ``colorize export``.

This is the edge of the package. The arguments are parsed here, and what the user typed (a size,
a format, an output path, a device) is checked here, once, before any work starts; a mistake
ends with one line and exit status 2. The library modules called from here (``batch``,
``serve``, ``export``) never import this module.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import torch
import uvicorn
from tqdm.contrib.logging import logging_redirect_tqdm

from colorize_core.apps import batch, export, serve
from colorize_core.apps.photo import check_size
from colorize_core.apps.sources import load_colorizer, model_choices
from colorize_core.data import atomic
from colorize_core.training.checkpoint import CheckpointError
from colorize_core.training.device import device_argument
from colorize_core.training.model_file import SUFFIX
from colorize_core.training.shipped import DEFAULT_MODEL, SHIPPED, SHIPPED_NAMES

SUBCOMMANDS = ("export", "serve")  # `colorize export ...`, `colorize serve ...`
EXPORT = "colorize export"
LOCAL_HOSTS = (serve.DEFAULT_HOST, "localhost", "::1")  # no warning when serving on these


def main(argv: list[str] | None = None) -> int:
    """``colorize export ...`` and ``colorize serve ...`` go to those commands (a photo named
    ``export`` or ``serve`` is given as ``./export``); anything else is ``colorize PHOTOS``."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in SUBCOMMANDS:
        return {"export": export_command, "serve": serve_command}[argv[0]](argv[1:])
    return colorize_command(argv)


def _device(parser: argparse.ArgumentParser, name: str) -> torch.device:
    """``--device NAME`` as a torch device, or a usage error (exit 2) that says why."""
    try:
        return device_argument(name)
    except ValueError as error:
        parser.error(f"--device {name}: {error}")


# ---------------------------------------------------------------- colorize PHOTOS


def colorize_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="colorize",
        description="Colourise photos at full resolution with a shipped or trained model: the "
        "model predicts colour (ab) at --size, which is upsampled and joined with the photo's "
        "own full-resolution lightness. Colour photos are used only for their lightness. "
        "Also: `colorize export RUN` writes a run as a model file (or ONNX), and "
        "`colorize serve` starts the web page; each has its own --help.",
    )
    add = parser.add_argument
    add("inputs", nargs="+", help="image files and/or folders (searched recursively)")
    add("-o", "--output", default="colorized", help="output folder (default: %(default)s)")
    which = parser.add_mutually_exclusive_group()
    shipped = "; ".join(f"{m.name}: {m.summary}" for m in SHIPPED.values())
    which.add_argument(
        "--model",
        choices=SHIPPED_NAMES,
        help=f"a model shipped with the package (default: {DEFAULT_MODEL}). {shipped}",
    )
    which.add_argument(
        "--checkpoint", help="your own model: a run folder, a .pt checkpoint or a .safetensors file"
    )
    add(
        "--size",
        type=int,
        help="model input, shorter side in px, a multiple of 8 (default: the training size); "
        "a smaller photo is not enlarged",
    )
    add("--device", default="auto", help="auto (cuda, then mps, then cpu), cpu, cuda, mps")
    add("--format", help="output extension: png, jpg, webp, tif... (default: the input's)")
    add(
        "--compare",
        action="store_true",
        help="also write <name>_compare.png: gray input | colourised | original (if it was colour)",
    )
    add(
        "--overwrite",
        action="store_true",
        help="replace output files that exist already, e.g. from an earlier run (an input of "
        "the run is never replaced)",
    )
    return parser


def colorize_command(argv: list[str]) -> int:
    """Exit status: 0 all colourised, 1 some file failed, 2 usage error or unusable checkpoint."""
    parser = colorize_parser()
    args = parser.parse_args(argv)
    if args.size is not None:
        try:
            check_size(args.size, "--size")
        except ValueError as error:
            parser.error(str(error))
    if args.format and batch.output_format(args.format) is None:
        parser.error(f"--format {args.format}: Pillow cannot write that; try png, jpg, webp, tif")
    if problem := atomic.unwritable(Path(args.output)):
        parser.error(f"-o {args.output}: {problem}; choose another output folder")
    device = _device(parser, args.device)

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        with logging_redirect_tqdm():
            results = batch.colorize(
                args.inputs, args.output, args.checkpoint, model=args.model, size=args.size,
                device=str(device),
                suffix=args.format, compare=args.compare, overwrite=args.overwrite,
            )  # fmt: skip
    except (CheckpointError, batch.OutputClash) as error:
        print(f"colorize: error: {error}", file=sys.stderr)
        return 2
    print(batch.summary(results, args.output))
    return 1 if any(r.status == batch.FAILED for r in results) else 0


# ---------------------------------------------------------------- colorize serve


def serve_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="colorize serve",
        description="A local web page to colourise photos: upload or drop one, choose the "
        "model, compare gray, colourised and original, download the full-resolution PNG.",
    )
    add = parser.add_argument
    add("--host", default=serve.DEFAULT_HOST, help="address to listen on (default: %(default)s, "
        "this machine only; the page has no authentication)")  # fmt: skip
    add(
        "--port",
        type=int,
        default=serve.DEFAULT_PORT,
        help="default: %(default)s; 0: any free port",
    )
    add("--device", default="auto", help="auto (cuda, then mps, then cpu), cpu, cuda, mps")
    add(
        "--checkpoint",
        action="append",
        default=[],
        metavar="PATH",
        help="a run folder or .pt file to offer as a model, named after it (repeatable)",
    )
    return parser


def serve_command(argv: list[str]) -> int:
    """Serve until interrupted. Exit status 0, or 2 for a usage error."""
    parser = serve_parser()
    args = parser.parse_args(argv)
    for source in args.checkpoint:
        if not Path(source).exists():
            parser.error(f"--checkpoint {source}: no such file or folder")
    device = _device(parser, args.device)
    models = model_choices(args.checkpoint)
    if args.host not in LOCAL_HOSTS:
        print(f"colorize serve: warning: anyone who can reach {args.host} can use the page")
    app = serve.create_app(models, str(device), hosts=[args.host])
    uvicorn.run(app, host=args.host, port=args.port)
    return 0


# ---------------------------------------------------------------- colorize export


def export_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=EXPORT,
        description="Write a trained run (a run folder or checkpoint) as a portable float16 "
        f"safetensors model file ({SUFFIX}), which `colorize --checkpoint` and `colorize serve` "
        f"read, or with --onnx as an ONNX model ({export.ONNX_SUFFIX}): L (N, 1, H, W) in Lab "
        "units at any size in, ab (N, 2, H, W) out.",
    )
    parser.add_argument("run", help="a run folder (its best checkpoint) or a checkpoint file")
    parser.add_argument("-o", "--output", help="output file (default: <run name> + suffix)")
    parser.add_argument("--onnx", action="store_true", help="write ONNX instead of safetensors")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace the output file if it exists"
    )
    return parser


def output_problem(output: Path, run: str, suffix: str, overwrite: bool) -> str | None:
    """What is wrong with ``output`` as the file ``colorize export`` writes, or None."""
    if output.suffix != suffix:
        return f"--output must end in {suffix}, got {output}"
    if output.is_dir():
        return f"{output} is a folder; give a file name ending in {suffix}"
    if output.exists() and not overwrite:
        return f"{output} exists; pass --overwrite to replace it"
    if output.resolve() == Path(run).resolve():
        return "the output would replace the input"
    if problem := atomic.unwritable(output.parent):
        return f"cannot write {output}: {problem}"
    return None


def export_command(argv: list[str]) -> int:
    """Exit status: 0 written, 2 usage error or unusable run, 1 a full disk; errors are one line
    on stderr, and a mistake in the output path is found before the run is loaded."""
    parser = export_parser()
    args = parser.parse_args(argv)
    suffix = export.ONNX_SUFFIX if args.onnx else SUFFIX
    output = Path(args.output or Path(args.run).resolve().with_suffix("").name + suffix)
    if problem := output_problem(output, args.run, suffix, args.overwrite):
        parser.exit(2, f"{EXPORT}: error: {problem}\n")
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    try:
        model, config = load_colorizer(args.run)
        if args.onnx:
            export.export_onnx(model, output, source=args.run)
            print(f"{EXPORT}: wrote {output} ({output.stat().st_size / 1e6:.1f} MB)")
        else:
            digest = export.export_model_file(model, config, output, args.run)
            size = output.stat().st_size / 1e6
            print(f"{EXPORT}: wrote {output} ({size:.1f} MB, sha256 {digest})")
    except CheckpointError as error:
        print(f"{EXPORT}: error: {error}", file=sys.stderr)
        return 2
    except atomic.NoSpaceLeft as error:
        print(
            f"{EXPORT}: error: {error}; free some space there or choose another -o", file=sys.stderr
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
