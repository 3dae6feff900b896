"""``samples.png`` of every run: gray input | prediction | truth for its first test images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from colorize_core.data.atomic import written_atomically
from colorize_core.data.cache import LabImages
from colorize_core.data.color import join_lab, lab_to_rgb, split_lab
from colorize_core.training.loading import predict_ab

SAMPLE_IMAGES = 6  # test images shown in samples.png: the first of the test split, always the same


def comparison_grid(
    lightness: torch.Tensor, ab_pred: torch.Tensor, ab_true: torch.Tensor, gap: int = 2
) -> np.ndarray:
    """One row per image: gray input | prediction | ground truth, as an (H, W, 3) uint8 array.

    lightness (N, 1, H, W) in [0, 100]; ab_pred and ab_true (N, 2, H, W) in Lab units.
    """
    zeros = torch.zeros_like(ab_true)
    columns = [lab_to_rgb(join_lab(lightness, ab)) for ab in (zeros, ab_pred, ab_true)]
    n, _, h, w = lightness.shape
    grid = np.full((n * (h + gap) - gap, 3 * (w + gap) - gap, 3), 255, dtype=np.uint8)
    for column, rgb in enumerate(columns):
        pixels = (rgb.clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        for row in range(n):
            top, left = row * (h + gap), column * (w + gap)
            grid[top : top + h, left : left + w] = pixels[row]
    return grid


def save_samples(model, test: LabImages, path: Path, device: torch.device | str = "cpu") -> None:
    """Write input | prediction | truth for the first ``SAMPLE_IMAGES`` test images as a PNG,
    whole or absent."""
    lightness, ab_true = split_lab(test.lab[:SAMPLE_IMAGES].float())
    ab_pred = predict_ab(model, lightness, device)
    grid = Image.fromarray(comparison_grid(lightness, ab_pred, ab_true))
    with written_atomically(path) as partial:
        grid.save(partial, format="PNG")  # the temporary name ends in .partial
