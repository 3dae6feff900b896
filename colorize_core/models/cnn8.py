"""``cnn8``: the second reference study's baseline, eight 3x3 convs at full resolution.

No downsampling and no skips, so it works at any H and W, but its receptive field is only 17 x 17
pixels: it colours from local texture and brightness, not from what the object is. That is the
point of the baseline. Widths 1 -> 64 -> 64 -> 128 -> 128 -> 128 -> 64 -> 64 -> 2 (our choice; the
study gives only the depth): wider in the middle, where the features are most abstract, and kept
to 128 so that the full-resolution layers stay affordable on a CPU. Each conv but the last is
followed by BatchNorm + ReLU; the last gives 2 channels through tanh.

Convolutions followed by BatchNorm have no bias (BatchNorm's shift makes it redundant).
"""

from __future__ import annotations

import torch
from torch import nn

from colorize_core.models import register

WIDTHS = (1, 1, 2, 2, 2, 1, 1)  # multiples of ``base`` for the seven hidden layers


class CNN8(nn.Module):
    """Eight-layer plain CNN: L / 100 (N, 1, H, W) -> ab / 128 (N, 2, H, W) in (-1, 1).

    ``base`` scales the hidden widths (64 gives 64-64-128-128-128-64-64).
    """

    def __init__(self, base: int = 64) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_channels = 1
        for multiple in WIDTHS:
            out_channels = multiple * base
            layers += [
                nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
                nn.BatchNorm2d(out_channels),
                nn.ReLU(inplace=True),
            ]
            in_channels = out_channels
        layers += [nn.Conv2d(in_channels, 2, 3, padding=1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, lightness: torch.Tensor) -> torch.Tensor:
        return self.net(lightness)  # (N, 1, H, W) -> (N, 2, H, W), every layer at H x W


@register("cnn8")
def cnn8(base: int = 64) -> CNN8:
    """The second study's eight-layer baseline (``base=64``)."""
    return CNN8(base=base)
