"""``unet``: a U-Net (Ronneberger et al., 2015) with 4 resolution levels, H down to H/8.

Each level is a double 3x3 conv (padding 1) + BatchNorm + ReLU block. Going down: 2x2 max-pool;
going up: 2x2 stride-2 transposed conv halving the channels, concatenated with the encoder block
of the same scale, then a double conv. A 1x1 conv to 2 channels and tanh give ab / 128. H and W
must be multiples of 8 (three poolings).

Base width 32 (32-64-128-256), half the original's 64: about a quarter of the compute, which keeps
training practical on a 2-core CPU. Convolutions followed by BatchNorm have no bias (BatchNorm's
shift replaces it).
"""

from __future__ import annotations

import torch
from torch import nn

from colorize_core.data.color import SIZE_MULTIPLE
from colorize_core.models import register


def _double_conv(in_channels: int, out_channels: int) -> nn.Sequential:
    """Two (3x3 conv, BatchNorm, ReLU) at constant resolution."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
        nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    """U-Net: L / 100 (N, 1, H, W) -> ab / 128 (N, 2, H, W) in (-1, 1).

    ``base`` is the top level's width; each level below doubles it (32 gives 32-64-128-256).
    """

    def __init__(self, base: int = 32) -> None:
        super().__init__()
        self.down1 = _double_conv(1, base)
        self.down2 = _double_conv(base, 2 * base)
        self.down3 = _double_conv(2 * base, 4 * base)
        self.bottom = _double_conv(4 * base, 8 * base)
        self.pool = nn.MaxPool2d(2)
        self.up3 = nn.ConvTranspose2d(8 * base, 4 * base, 2, stride=2)
        self.merge3 = _double_conv(8 * base, 4 * base)
        self.up2 = nn.ConvTranspose2d(4 * base, 2 * base, 2, stride=2)
        self.merge2 = _double_conv(4 * base, 2 * base)
        self.up1 = nn.ConvTranspose2d(2 * base, base, 2, stride=2)
        self.merge1 = _double_conv(2 * base, base)
        self.head = nn.Sequential(nn.Conv2d(base, 2, 1), nn.Tanh())

    def forward(self, lightness: torch.Tensor) -> torch.Tensor:
        h, w = lightness.shape[-2:]
        if h % SIZE_MULTIPLE or w % SIZE_MULTIPLE:
            raise ValueError(
                f"height and width must be multiples of {SIZE_MULTIPLE}, got {h} x {w}"
            )
        # channel counts in the comments are for the default base=32
        s1 = self.down1(lightness)  # (N, 32, H, W)
        s2 = self.down2(self.pool(s1))  # (N, 64, H/2, W/2)
        s3 = self.down3(self.pool(s2))  # (N, 128, H/4, W/4)
        x = self.bottom(self.pool(s3))  # (N, 256, H/8, W/8)
        x = self.merge3(torch.cat((self.up3(x), s3), dim=1))  # (N, 128 + 128 -> 128, H/4, W/4)
        x = self.merge2(torch.cat((self.up2(x), s2), dim=1))  # (N, 64 + 64 -> 64, H/2, W/2)
        x = self.merge1(torch.cat((self.up1(x), s1), dim=1))  # (N, 32 + 32 -> 32, H, W)
        return self.head(x)  # (N, 2, H, W)


@register("unet")
def unet(base: int = 32) -> UNet:
    """Our 4-level U-Net (``base=32``: 32-64-128-256 channels)."""
    return UNet(base=base)
