"""Any of our models as a function of plain Lab: L in Lab units in, ab in Lab units out.

Every model maps L / 100 to ab / 128 (``data.color``); whatever runs a model on photos (predicting
in ``training.loading.predict_ab``, scoring in ``evaluation.evaluate``, the ONNX export in
``apps.export``) wraps it in ``LabPredictor``, so the normalisation is written once.
"""

from __future__ import annotations

import torch
from torch import nn

from colorize_core.data.color import denormalize_ab, normalize_l


class LabPredictor(nn.Module):
    """``model`` as L (Lab units, (N, 1, H, W)) -> ab (Lab units, (N, 2, H, W), float32).

    H and W are whatever ``model`` takes (multiples of ``data.color.SIZE_MULTIPLE`` for the
    architectures with stride-2 stages).
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, lightness: torch.Tensor) -> torch.Tensor:
        return denormalize_ab(self.model(normalize_l(lightness)).float())
