"""``gan``: the reference study's adversarial pair, a generator and a PatchGAN discriminator.

``build_model("gan")`` returns the ``Generator``, which follows the model contract (L / 100 ->
ab / 128) and is all that inference needs; the training loop builds the critic with
``build_discriminator()``.

Generator, as the reference describes it: a plain conv encoder (3x3 convs + ReLU, no BatchNorm,
stride 2 three times: H -> H/8) to 512 channels, a 3x3 conv to 256 + ReLU, then "three times
(upsample x2, conv, ReLU, dropout 0.3) down to 2 channels and tanh". We read that literally: the
three upsampling convs go 256 -> 128 -> 64 -> 2, and in the third block tanh takes the place of
ReLU + dropout (a ReLU there would forbid negative a and b, and dropout on the output would only
add noise to the prediction). Upsampling is nearest-neighbour (the
framework default, e.g. Keras' ``UpSampling2D``; the reference names no mode), and the 3x3 conv
after it smooths the blocky result.

Discriminator: PatchGAN (pix2pix) on the concatenation (L / 100, ab / 128), 3 channels. 4x4
stride-2 convs 3 -> 64 -> 128 -> 256 (BatchNorm on the last two, LeakyReLU 0.2 after each), then a
4x4 stride-1 padding-1 conv to one logit per patch: a 128 x 128 input gives 15 x 15 logits, each
seeing a 46 x 46 pixel patch (pix2pix's 70 x 70 has one more conv). No sigmoid: training uses
``BCEWithLogitsLoss``, which is numerically stable where sigmoid + BCE saturates.

Convolutions keep PyTorch's default bias, also before BatchNorm: the reference names no bias choice,
and the framework default includes one.
"""

from __future__ import annotations

import torch
from torch import nn

from colorize_core.data.color import SIZE_MULTIPLE
from colorize_core.models import register

DROPOUT = 0.3  # the reference's decoder dropout
LEAKY_SLOPE = 0.2  # PatchGAN's LeakyReLU slope (pix2pix)


def _conv_relu(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    """3x3 conv (padding 1) + ReLU, no normalisation; stride 2 halves H and W."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1),
        nn.ReLU(inplace=True),
    )


def _up_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """Nearest x2 upsample, 3x3 conv, ReLU, dropout 0.3."""
    return nn.Sequential(
        nn.Upsample(scale_factor=2, mode="nearest"),
        nn.Conv2d(in_channels, out_channels, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.Dropout(DROPOUT),
    )


class Generator(nn.Module):
    """Encoder-decoder without skips: L / 100 (N, 1, H, W) -> ab / 128 (N, 2, H, W) in (-1, 1).

    ``base`` is the first layer's width (64 in the reference); the encoder widens to 8x it.
    H and W must be multiples of 8.
    """

    def __init__(self, base: int = 64) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            _conv_relu(1, base),  # (N, 64, H, W)
            _conv_relu(base, base, stride=2),  # (N, 64, H/2, W/2)
            _conv_relu(base, 2 * base),  # (N, 128, H/2, W/2)
            _conv_relu(2 * base, 2 * base, stride=2),  # (N, 128, H/4, W/4)
            _conv_relu(2 * base, 4 * base),  # (N, 256, H/4, W/4)
            _conv_relu(4 * base, 4 * base, stride=2),  # (N, 256, H/8, W/8)
            _conv_relu(4 * base, 8 * base),  # (N, 512, H/8, W/8)
        )
        self.decoder = nn.Sequential(
            _conv_relu(8 * base, 4 * base),  # (N, 256, H/8, W/8)
            _up_block(4 * base, 2 * base),  # (N, 128, H/4, W/4)
            _up_block(2 * base, base),  # (N, 64, H/2, W/2)
            nn.Upsample(scale_factor=2, mode="nearest"),  # (N, 64, H, W)
            nn.Conv2d(base, 2, 3, padding=1),  # (N, 2, H, W)
            nn.Tanh(),
        )

    def forward(self, lightness: torch.Tensor) -> torch.Tensor:
        h, w = lightness.shape[-2:]
        if h % SIZE_MULTIPLE or w % SIZE_MULTIPLE:
            raise ValueError(
                f"height and width must be multiples of {SIZE_MULTIPLE}, got {h} x {w}"
            )
        return self.decoder(self.encoder(lightness))  # (N, 2, H, W)


class PatchDiscriminator(nn.Module):
    """PatchGAN critic: (L / 100, ab / 128) -> real/fake logits, one per overlapping patch.

    Input shapes (N, 1, H, W) and (N, 2, H, W); output (N, 1, H/8 - 1, W/8 - 1) raw logits (no
    sigmoid), e.g. 15 x 15 for 128 x 128. ``base`` is the first layer's width (64 in pix2pix).
    """

    def __init__(self, base: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, base, 4, stride=2, padding=1),  # (N, 64, H/2, W/2)
            nn.LeakyReLU(LEAKY_SLOPE, inplace=True),
            nn.Conv2d(base, 2 * base, 4, stride=2, padding=1),  # (N, 128, H/4, W/4)
            nn.BatchNorm2d(2 * base),
            nn.LeakyReLU(LEAKY_SLOPE, inplace=True),
            nn.Conv2d(2 * base, 4 * base, 4, stride=2, padding=1),  # (N, 256, H/8, W/8)
            nn.BatchNorm2d(4 * base),
            nn.LeakyReLU(LEAKY_SLOPE, inplace=True),
            nn.Conv2d(4 * base, 1, 4, stride=1, padding=1),  # (N, 1, H/8 - 1, W/8 - 1)
        )

    def forward(self, lightness: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat((lightness, ab), dim=1))  # (N, 1, h, w) logits


@register("gan")
def generator(base: int = 64) -> Generator:
    """The reference GAN's generator (``base=64``); the discriminator is ``build_discriminator``."""
    return Generator(base=base)


def build_discriminator(base: int = 64) -> PatchDiscriminator:
    """The reference PatchGAN discriminator (``base=64``: 64-128-256 channels, 46 x 46 patches)."""
    return PatchDiscriminator(base=base)
