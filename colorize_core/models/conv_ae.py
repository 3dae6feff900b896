"""``conv_ae``: the reference study's encoder-decoder CNN with U-Net-like skip concatenations.

Encoder: 3x3 convs (padding 1) + BatchNorm + ReLU, halving the resolution three times with stride-2
convs (H -> H/2 -> H/4 -> H/8), then a 512-channel bottleneck. Decoder: three 4x4 stride-2
transposed convs (padding 1, so each exactly doubles H and W), each followed by BatchNorm + ReLU,
concatenating the encoder features of the matching scale after each; then a 3x3 conv to 32
channels (BN + ReLU) and a 3x3 conv to 2 channels through tanh. H and W must be multiples of 8.

Convolutions keep PyTorch's default bias even before BatchNorm, where it is redundant: the reference
names no bias choice and the framework default includes one, so the parameter count follows it.
"""

from __future__ import annotations

import torch
from torch import nn

from colorize_core.data.color import SIZE_MULTIPLE
from colorize_core.models import register


def _conv(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    """3x3 conv (padding 1) + BatchNorm + ReLU; stride 2 halves H and W."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


def _up(in_channels: int, out_channels: int) -> nn.Sequential:
    """4x4 stride-2 transposed conv (padding 1: output exactly 2H x 2W) + BatchNorm + ReLU."""
    return nn.Sequential(
        nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


def _check_size(lightness: torch.Tensor) -> None:
    """Three halvings need H and W divisible by 8, or the skip concatenations misalign."""
    h, w = lightness.shape[-2:]
    if h % SIZE_MULTIPLE or w % SIZE_MULTIPLE:
        raise ValueError(f"height and width must be multiples of {SIZE_MULTIPLE}, got {h} x {w}")


class ConvAE(nn.Module):
    """Encoder-decoder CNN: L / 100 (N, 1, H, W) -> ab / 128 (N, 2, H, W) in (-1, 1).

    ``base`` is the first layer's width (64 in the reference); deeper layers use 2x, 4x and 8x it,
    and the head uses half of it.
    """

    def __init__(self, base: int = 64) -> None:
        super().__init__()
        self.enc_full = _conv(1, base)
        self.enc_half = _conv(base, base, stride=2)
        self.enc_quarter = nn.Sequential(_conv(base, 2 * base), _conv(2 * base, 2 * base, stride=2))
        self.enc_eighth = nn.Sequential(
            _conv(2 * base, 4 * base), _conv(4 * base, 4 * base, stride=2)
        )
        self.bottleneck = _conv(4 * base, 8 * base)
        self.up_quarter = _up(8 * base, 4 * base)
        self.up_half = _up(4 * base + 2 * base, 2 * base)
        self.up_full = _up(2 * base + base, base)
        self.head = nn.Sequential(
            _conv(base + base, base // 2),
            nn.Conv2d(base // 2, 2, 3, padding=1),
            nn.Tanh(),
        )

    def forward(self, lightness: torch.Tensor) -> torch.Tensor:
        _check_size(lightness)
        # channel counts in the comments are for the default base=64
        full = self.enc_full(lightness)  # (N, 64, H, W)
        half = self.enc_half(full)  # (N, 64, H/2, W/2)
        quarter = self.enc_quarter(half)  # (N, 128, H/4, W/4)
        x = self.bottleneck(self.enc_eighth(quarter))  # (N, 512, H/8, W/8)
        x = torch.cat((self.up_quarter(x), quarter), dim=1)  # (N, 256 + 128, H/4, W/4)
        x = torch.cat((self.up_half(x), half), dim=1)  # (N, 128 + 64, H/2, W/2)
        x = torch.cat((self.up_full(x), full), dim=1)  # (N, 64 + 64, H, W)
        return self.head(x)  # (N, 2, H, W)


@register("conv_ae")
def conv_ae(base: int = 64) -> ConvAE:
    """The reference encoder-decoder (``base=64``: 64-128-256-512 channels)."""
    return ConvAE(base=base)
