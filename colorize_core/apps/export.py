"""A trained run as a portable model file, or as ONNX: what ``colorize export`` writes.

The safetensors file (``model_file.py``) is the format the shipped models use; ``colorize
--checkpoint model.safetensors`` and the web page read it like a run folder. The ONNX model
takes L in Lab units, shape (N, 1, H, W) with any N, H and W, and returns ab in Lab units,
(N, 2, H, W). It pads H and W to the multiple of 8 the backbones need (edge pixels repeated)
and crops the result back, so callers need no knowledge of the architecture. It is exported
with the ``torch.export``-based exporter, and ``onnx_parity`` checks it against PyTorch with
onnxruntime.

Both files are written whole or not at all (``data.atomic``): a full disk leaves any old file as
it was.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from colorize_core.data.atomic import written_atomically
from colorize_core.data.color import SIZE_MULTIPLE
from colorize_core.models.ensemble import Ensemble
from colorize_core.models.lab import LabPredictor
from colorize_core.training.checkpoint import CheckpointError
from colorize_core.training.config import ExperimentConfig
from colorize_core.training.model_file import write_model_file
from colorize_core.training.provenance import code_commit

ONNX_SUFFIX = ".onnx"
ONNX_OPSET = 18
MAX_SIDE = 8192  # the largest height or width the ONNX model's dynamic shape allows


class PaddedToMultiple(nn.Module):
    """``model`` (L / 100 -> ab / 128) on any height and width: the input padded to
    ``SIZE_MULTIPLE`` with its edge pixels repeated, the output cropped back."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, lightness: torch.Tensor) -> torch.Tensor:
        height, width = lightness.shape[-2:]
        pad_h = (SIZE_MULTIPLE - height % SIZE_MULTIPLE) % SIZE_MULTIPLE
        pad_w = (SIZE_MULTIPLE - width % SIZE_MULTIPLE) % SIZE_MULTIPLE
        padded = F.pad(lightness, (0, pad_w, 0, pad_h), mode="replicate")
        return self.model(padded)[..., :height, :width]


class LabColorizer(LabPredictor):
    """A model of ours as L (Lab units, any size) -> ab (Lab units, same size): what the ONNX
    file holds, ``LabPredictor`` around ``PaddedToMultiple``."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__(PaddedToMultiple(model))


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
