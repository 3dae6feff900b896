"""Pictures of results. ``comparison_grid`` needs no plotting library; every run writes one."""

from __future__ import annotations

import numpy as np
import torch

from colorize_core.color import join_lab, lab_to_rgb


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
