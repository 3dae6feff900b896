"""Seconds per megapixel of the shipped models on this machine, PyTorch against onnxruntime.

    python tools/time_inference.py [--megapixels 1.0] [--repeats 3]

Two numbers per model and engine (median of ``--repeats`` after a warm-up):
- ``model``: one forward pass with the whole photo as the model input (L at full resolution);
- ``colorize``: the whole ``colorize`` path (PyTorch only): model at the training size, ab
  upsampled and joined with the photo's own L, RGB rebuilt.
It also prints the ONNX parity (max |ab difference|, Lab units) on that photo.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from colorize_core.apps import export, photo
from colorize_core.data.color import rgb_to_lab
from colorize_core.data.datasets import resolve_dataset
from colorize_core.training import shipped


def median_seconds(work, repeats: int) -> float:
    work()  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def time_model(name: str, rgb: np.ndarray, lightness: torch.Tensor, repeats: int) -> str:
    """One line: shipped model ``name`` timed on one photo (``rgb`` and its L)."""
    import onnxruntime

    megapixels = rgb.shape[0] * rgb.shape[1] / 1e6
    model, config = shipped.load_shipped(name)
    wrapped = export.LabColorizer(model)
    with tempfile.TemporaryDirectory() as folder:
        path = export.export_onnx(model, Path(folder) / "m.onnx", source=name)
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        with torch.inference_mode():
            torch_model = median_seconds(functools.partial(wrapped, lightness), repeats)
        feed = {"L": lightness.numpy()}
        onnx_model = median_seconds(functools.partial(session.run, None, feed), repeats)
        parity = export.onnx_parity(model, path, lightness)
    size = photo.training_size(config)
    whole = median_seconds(functools.partial(photo.colorize_rgb, model, rgb, size), repeats)
    return (
        f"{name}: model at full resolution {torch_model / megapixels:.2f} s/MP (PyTorch), "
        f"{onnx_model / megapixels:.2f} s/MP (onnxruntime); colorize path at {size} px "
        f"{whole / megapixels:.2f} s/MP (PyTorch); ONNX max |Δab| {parity:.2e}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megapixels", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    side = int(round((args.megapixels * 1e6) ** 0.5))
    photo = min(resolve_dataset("landscapes").glob("*.jpg"))
    rgb = np.asarray(Image.open(photo).convert("RGB").resize((side, side), Image.BICUBIC))
    lightness = rgb_to_lab(torch.from_numpy(rgb.copy()).permute(2, 0, 1).float() / 255)[None, :1]
    megapixels = side * side / 1e6
    print(f"{side}x{side} photo ({megapixels:.2f} MP), {torch.get_num_threads()} threads")
    for name in shipped.SHIPPED_NAMES:
        print(time_model(name, rgb, lightness, args.repeats))


if __name__ == "__main__":
    main()
