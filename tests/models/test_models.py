"""Model registry and architectures: contract shapes and range, gradients, learning, size, cost."""

from itertools import pairwise

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from colorize_core.data.color import normalize_ab, normalize_l, rgb_to_lab, split_lab
from colorize_core.models import (
    MODELS,
    build_model,
    forward_flops,
    model_table,
    parameter_count,
)
from colorize_core.models.gan import PatchDiscriminator, build_discriminator

NAMES = ["cnn8", "conv_ae", "gan", "unet"]


@pytest.fixture(scope="module")
def small_photos(synthetic_rgb) -> tuple[torch.Tensor, torch.Tensor]:
    """Four synthetic photos at 32 x 32 recoloured as photos of one kind (faces) are coloured:
    a warm tone that follows the lightness, plus a fifth of each picture's own colours.
    L / 100 of shape (4, 1, 32, 32) and ab / 128 (4, 2, 32, 32)."""
    small = np.stack(
        [
            np.asarray(Image.fromarray(photo).resize((32, 32), Image.BILINEAR))
            for photo in synthetic_rgb[:4]
        ]
    )
    rgb = torch.from_numpy(small).permute(0, 3, 1, 2).float() / 255.0
    lightness, own = split_lab(rgb_to_lab(rgb))
    tone = torch.cat((12 + 0.2 * (lightness - 50), 20 + 0.3 * (lightness - 50)), dim=1)
    ab = tone + 0.2 * own
    return normalize_l(lightness), normalize_ab(ab)


# registry


def test_registry_names():
    assert set(MODELS) == set(NAMES)


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(KeyError, match="cnn8, conv_ae, gan, unet"):
        build_model("resnet")


def test_unknown_keyword_is_named():
    with pytest.raises(TypeError, match="depth, widht"):
        build_model("unet", widht=16, depth=3)
    assert isinstance(build_model("unet", base=8), nn.Module)


# the model contract


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("size", [(32, 32), (64, 48), (128, 128)])
def test_output_shape_and_range(name, size):
    torch.manual_seed(0)
    model = build_model(name).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 1, *size))
    assert out.shape == (2, 2, *size)
    assert out.abs().max() < 1.0


@pytest.mark.parametrize("name", ["conv_ae", "gan", "unet"])
def test_size_not_a_multiple_of_8_is_refused(name):
    with pytest.raises(ValueError, match="multiples of 8"):
        build_model(name)(torch.rand(1, 1, 32, 36))


@pytest.mark.parametrize("name", NAMES)
def test_gradients_reach_every_parameter(name):
    torch.manual_seed(0)
    model = build_model(name).train()
    target = torch.rand(2, 2, 32, 32) * 2 - 1
    nn.functional.mse_loss(model(torch.rand(2, 1, 32, 32)), target).backward()
    for parameter_name, parameter in model.named_parameters():
        assert parameter.grad is not None, parameter_name
        assert torch.isfinite(parameter.grad).all(), parameter_name


@pytest.mark.parametrize("name", NAMES)
def test_train_and_eval_modes_and_channels_last(name):
    torch.manual_seed(0)
    model = build_model(name, base=8)
    lightness = torch.rand(2, 1, 32, 48)
    model.train()
    train_out = model(lightness)
    model.eval()
    with torch.no_grad():
        eval_out = model(lightness)
        channels_last_out = model(lightness.to(memory_format=torch.channels_last))
    assert train_out.shape == eval_out.shape == (2, 2, 32, 48)
    assert torch.allclose(channels_last_out, eval_out, atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_loss_falls_on_small_photos(name, small_photos):
    lightness, ab = small_photos
    torch.manual_seed(0)
    model = build_model(name).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(30):
        loss = nn.functional.mse_loss(model(lightness), ab)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0], losses
    assert losses[-1] < 0.5 * ab.square().mean().item()  # well past the gray (ab = 0) prediction


# the GAN's discriminator


@pytest.mark.parametrize(("size", "patches"), [(32, 3), (128, 15)])
def test_discriminator_gives_one_logit_per_patch(size, patches):
    # three 4x4 stride-2 convs (padding 1) halve the size each time: size / 8; the final 4x4
    # stride-1 padding-1 conv then gives size / 8 + 2 - 4 + 1 = size / 8 - 1 patches per side
    torch.manual_seed(0)
    critic = build_discriminator()
    assert isinstance(critic, PatchDiscriminator)
    lightness, ab = torch.rand(2, 1, size, size), torch.rand(2, 2, size, size) * 2 - 1
    logits = critic(lightness, ab)
    assert logits.shape == (2, 1, patches, patches)


def test_discriminator_returns_raw_logits():
    torch.manual_seed(0)
    critic = build_discriminator()
    assert not any(isinstance(m, nn.Sigmoid) for m in critic.modules())
    logits = critic(torch.rand(4, 1, 64, 64), torch.rand(4, 2, 64, 64) * 2 - 1)
    assert logits.min() < 0.0  # a probability could not be negative
    real = torch.ones_like(logits)
    nn.functional.binary_cross_entropy_with_logits(logits, real).backward()
    assert all(p.grad is not None for p in critic.parameters())


# size and cost


def test_conv_ae_parameter_count_matches_the_spec():
    def conv(c_in, c_out, k=3, batch_norm=True):
        return c_in * c_out * k * k + c_out + (2 * c_out if batch_norm else 0)

    encoder = [(1, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 512)]
    decoder = [(512, 256), (256 + 128, 128), (128 + 64, 64)]  # 4x4 transposed convs + BN
    expected = (
        sum(conv(c_in, c_out) for c_in, c_out in encoder)
        + sum(conv(c_in, c_out, k=4) for c_in, c_out in decoder)
        + conv(64 + 64, 32)
        + conv(32, 2, batch_norm=False)
    )
    assert parameter_count(build_model("conv_ae")) == expected


def test_forward_flops_match_an_analytic_count_for_cnn8():
    # FlopCounterMode counts 2 FLOPs per multiply-add, convolutions only
    widths = [1, 64, 64, 128, 128, 128, 64, 64, 2]
    expected = sum(2 * c_in * c_out * 9 * 32 * 32 for c_in, c_out in pairwise(widths))
    assert forward_flops(build_model("cnn8"), size=32) == expected


@pytest.mark.parametrize("name", NAMES)
def test_forward_flops_scale_with_area(name):
    model = build_model(name).train()
    small, large = forward_flops(model, 64), forward_flops(model, 128)
    assert 0 < small and abs(large / small - 4.0) < 0.2
    assert model.training  # the mode is restored


def test_model_table():
    table = model_table(size=32)
    assert list(table["model"]) == NAMES
    assert (table["parameters"] > 0).all() and (table["gflops"] > 0).all()
    critic = table.set_index("model")["discriminator_parameters"]
    assert critic["gan"] == parameter_count(build_discriminator())
    assert critic.drop("gan").isna().all()
