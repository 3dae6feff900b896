"""``colorize export``: write a trained run as a portable model file, or as ONNX.

The safetensors file (``model_file.py``) is the format the shipped models use; ``colorize
--checkpoint model.safetensors`` and the web page read it like a run folder. The ONNX model
takes L in Lab units, shape (N, 1, H, W) with any N, H and W, and returns ab in Lab units,
(N, 2, H, W). It pads H and W to the multiple of 8 the backbones need (edge pixels repeated)
and crops the result back, so callers need no knowledge of the architecture. It is exported
with the ``torch.export``-based exporter, and ``onnx_parity`` checks it against PyTorch with
onnxruntime.

Both files are written whole or not at all (``data.atomic``). A mistake in the output path (a
folder, a path under a file, a place that cannot be written) ends with one line and exit status
2 before anything is loaded; a full disk with one line and status 1, leaving any old file as it
was.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from colorize_core.data import atomic
from colorize_core.data.atomic import NoSpaceLeft, written_atomically
from colorize_core.data.color import AB_SCALE, L_SCALE
from colorize_core.models.ensemble import Ensemble
from colorize_core.training.checkpoint import CheckpointError
from colorize_core.training.config import ExperimentConfig
from colorize_core.training.model_file import SUFFIX, write_model_file
from colorize_core.training.provenance import code_commit

PROG = "colorize export"

SIZE_MULTIPLE = 8  # three stride-2 stages in conv_ae, gan and unet
ONNX_SUFFIX = ".onnx"
ONNX_OPSET = 18
MAX_SIDE = 8192  # the largest height or width the ONNX model's dynamic shape allows


class LabColorizer(nn.Module):
    """A model of ours as L (Lab units, any size) -> ab (Lab units, same size)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, lightness: torch.Tensor) -> torch.Tensor:
        height, width = lightness.shape[-2:]
        pad_h = (SIZE_MULTIPLE - height % SIZE_MULTIPLE) % SIZE_MULTIPLE
        pad_w = (SIZE_MULTIPLE - width % SIZE_MULTIPLE) % SIZE_MULTIPLE
        padded = F.pad(lightness / L_SCALE, (0, pad_w, 0, pad_h), mode="replicate")
        return (self.model(padded) * AB_SCALE)[..., :height, :width]


def exportable(model: nn.Module, source: str | os.PathLike) -> nn.Module:
    """``model`` itself; an ensemble run is refused, as it holds no weights of its own."""
    if isinstance(model, Ensemble):
        raise CheckpointError(
            f"{source} is an ensemble run: it averages other runs and holds no weights of its "
            "own; export one of its members instead"
        )
    return model


def export_model_file(
    model: nn.Module, config: ExperimentConfig, output: str | os.PathLike, source: str
) -> str:
    """Write ``model`` as a float16 safetensors model file; returns its SHA-256."""
    notes = {"source": str(source), "exported_at_commit": code_commit() or "unknown"}
    return write_model_file(exportable(model, source), config, output, notes=notes)


def export_onnx(
    model: nn.Module, output: str | os.PathLike, example_size: int = 64, source: str = "model"
) -> Path:
    """Write ``model`` (float32) as ONNX with dynamic batch, height and width, whole or absent."""
    output = Path(output)
    wrapped = LabColorizer(exportable(model, source).float().eval()).eval()
    example = torch.full((1, 1, example_size, example_size), 50.0)
    dim = torch.export.Dim
    shapes = ({0: dim("batch", min=1, max=1024), 2: dim("height", min=1, max=MAX_SIDE),
               3: dim("width", min=1, max=MAX_SIDE)},)  # fmt: skip
    with written_atomically(output) as partial:
        torch.onnx.export(
            wrapped, (example,), partial, dynamo=True, dynamic_shapes=shapes,
            opset_version=ONNX_OPSET, input_names=["L"], output_names=["ab"],
            external_data=False, verbose=False,
        )  # fmt: skip
    return output


def onnx_parity(model: nn.Module, onnx_path: str | os.PathLike, lightness: torch.Tensor) -> float:
    """Largest |ab difference| (Lab units) between PyTorch and onnxruntime on ``lightness``
    (N, 1, H, W) in Lab units."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    with torch.inference_mode():
        expected = LabColorizer(model.float().eval())(lightness.float()).numpy()
    actual = session.run(None, {"L": lightness.float().numpy()})[0]
    if actual.shape != expected.shape:
        raise ValueError(f"ONNX returned shape {actual.shape}, PyTorch {expected.shape}")
    return float(np.abs(actual - expected).max())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="colorize export",
        description="Write a trained run (a run folder or checkpoint) as a portable float16 "
        f"safetensors model file ({SUFFIX}), which `colorize --checkpoint` and `colorize serve` "
        f"read, or with --onnx as an ONNX model ({ONNX_SUFFIX}): L (N, 1, H, W) in Lab units "
        "at any size in, ab (N, 2, H, W) out.",
    )
    parser.add_argument("run", help="a run folder (its best checkpoint) or a checkpoint file")
    parser.add_argument("-o", "--output", help="output file (default: <run name> + suffix)")
    parser.add_argument("--onnx", action="store_true", help="write ONNX instead of safetensors")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace the output file if it exists"
    )
    return parser


def output_problem(output: Path, run: str, suffix: str, overwrite: bool) -> str | None:
    """What is wrong with ``output`` as the file to write, or None."""
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


def main(argv: list[str] | None = None) -> int:
    """Exit status: 0 written, 2 usage error or unusable run, 1 a full disk; errors are one line
    on stderr."""
    from colorize_core.apps.infer import (
        load_colorizer,  # the CLI's loader, with its one-line errors
    )

    parser = build_parser()
    args = parser.parse_args(argv)
    suffix = ONNX_SUFFIX if args.onnx else SUFFIX
    output = Path(args.output or Path(args.run).resolve().with_suffix("").name + suffix)
    if problem := output_problem(output, args.run, suffix, args.overwrite):
        parser.exit(2, f"{PROG}: error: {problem}\n")
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    try:
        model, config = load_colorizer(args.run)
        if args.onnx:
            export_onnx(model, output, source=args.run)
            print(f"{PROG}: wrote {output} ({output.stat().st_size / 1e6:.1f} MB)")
        else:
            digest = export_model_file(model, config, output, args.run)
            size = output.stat().st_size / 1e6
            print(f"{PROG}: wrote {output} ({size:.1f} MB, sha256 {digest})")
    except CheckpointError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2
    except NoSpaceLeft as error:
        print(
            f"{PROG}: error: {error}; free some space there or choose another -o", file=sys.stderr
        )
        return 1
    return 0
