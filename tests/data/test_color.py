"""Lab conversion, kornia-style: shapes, errors, reference (scikit-image), round trip, gradients."""

import numpy as np
import pytest
import torch
from skimage.color import lab2rgb, rgb2lab

from colorize_core.data import color


def to_nchw(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array)).permute(0, 3, 1, 2)


def to_nhwc(tensor: torch.Tensor) -> np.ndarray:
    return tensor.permute(0, 2, 3, 1).detach().cpu().numpy()


@pytest.mark.parametrize("shape", [(3, 4, 5), (2, 3, 8, 8), (2, 2, 3, 4, 4)])
def test_shapes_and_dtype_are_kept(shape):
    rgb = torch.rand(shape)
    lab = color.rgb_to_lab(rgb)
    assert lab.shape == rgb.shape and lab.dtype == torch.float32
    assert color.lab_to_rgb(lab).shape == rgb.shape


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        (torch.rand(2, 4, 8, 8), ValueError),
        (torch.rand(8, 8), ValueError),
        ((torch.rand(1, 3, 4, 4) * 255).to(torch.uint8), TypeError),
        (np.zeros((1, 3, 4, 4)), TypeError),
    ],
)
def test_bad_input_raises(bad, error):
    with pytest.raises(error):
        color.rgb_to_lab(bad)
    with pytest.raises(error):
        color.lab_to_rgb(bad)


def test_rgb_to_lab_matches_skimage_on_random_images():
    rgb = torch.rand(6, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    rgb[0] = 0.0  # black and white corners of the gamut
    rgb[1] = 1.0
    expected = np.stack([rgb2lab(im) for im in to_nhwc(rgb).astype(np.float64)])
    assert np.abs(to_nhwc(color.rgb_to_lab(rgb)) - expected).max() < 1e-3
    # float64 follows the same formulas to rounding error
    assert np.abs(to_nhwc(color.rgb_to_lab(rgb.double())) - expected).max() < 1e-9


def test_rgb_to_lab_matches_skimage_on_synthetic_photos(synthetic_rgb):
    rgb = to_nchw(synthetic_rgb).float() / 255.0
    expected = np.stack([rgb2lab(im) for im in synthetic_rgb])
    assert np.abs(to_nhwc(color.rgb_to_lab(rgb)) - expected).max() < 1e-3


def test_lab_to_rgb_matches_skimage_in_gamut(synthetic_rgb):
    lab = np.stack([rgb2lab(im) for im in synthetic_rgb])
    expected = np.stack([lab2rgb(im) for im in lab])
    got = to_nhwc(color.lab_to_rgb(to_nchw(lab).float()))
    assert np.abs(got - expected).max() < 1e-4


def test_round_trip_is_identity():
    rgb = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(color.lab_to_rgb(color.rgb_to_lab(rgb)), rgb, atol=1e-4)


def test_out_of_gamut_ab_is_clipped_to_displayable_rgb():
    lightness = torch.linspace(0, 100, 11).view(1, 1, 11, 1).expand(1, 1, 11, 11)
    ab = torch.linspace(-200, 200, 11)
    lab = torch.cat(
        [
            lightness,
            ab.view(1, 1, 1, 11).expand(1, 1, 11, 11),
            ab.view(1, 1, 11, 1).expand(1, 1, 11, 11),
        ],
        dim=1,
    )
    rgb = color.lab_to_rgb(lab)
    assert torch.isfinite(rgb).all() and rgb.min() >= 0 and rgb.max() <= 1
    # the same clipping as scikit-image, so metrics on wild predictions equal its reference
    expected = lab2rgb(to_nhwc(lab.double())[0])
    assert np.abs(to_nhwc(rgb)[0] - expected).max() < 1e-4
    # L = 0 stays black and L = 100 with a = b = 0 is white, whatever the gamut
    gray = color.lab_to_rgb(torch.tensor([0.0, 0.0, 0.0, 100.0, 0.0, 0.0]).view(2, 3, 1, 1))
    assert torch.allclose(gray[0], torch.zeros(3, 1, 1), atol=1e-6)
    assert torch.allclose(gray[1], torch.ones(3, 1, 1), atol=1e-4)


def test_gradients_are_finite_including_black_and_gray():
    rgb = torch.rand(2, 3, 4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    rgb[0, :, 0, 0] = 0.0
    rgb = rgb.clamp(0.05, 0.95).requires_grad_(True)  # away from the clip, so gradcheck applies
    assert torch.autograd.gradcheck(color.rgb_to_lab, (rgb,), eps=1e-6, atol=1e-4)
    lab = torch.tensor([[50.0, 10.0, -10.0], [60.0, 0.0, 0.0]], dtype=torch.float64)
    lab = lab.view(2, 3, 1, 1).requires_grad_(True)
    assert torch.autograd.gradcheck(color.lab_to_rgb, (lab,), eps=1e-6, atol=1e-4)
    black = torch.zeros(1, 3, 2, 2, requires_grad=True)
    color.rgb_to_lab(black).sum().backward()
    assert torch.isfinite(black.grad).all()


def test_normalisation_round_trip_and_rebuild():
    lightness = torch.full((1, 1, 2, 2), 50.0)
    ab = torch.tensor([20.0, -30.0]).view(1, 2, 1, 1).expand(1, 2, 2, 2)
    assert torch.equal(color.normalize_l(lightness), lightness / 100)
    assert torch.allclose(color.denormalize_ab(color.normalize_ab(ab)), ab)
    rebuilt = color.rgb_from_prediction(lightness, color.normalize_ab(ab))
    assert torch.allclose(rebuilt, color.lab_to_rgb(color.join_lab(lightness, ab)))
    assert torch.equal(
        color.join_lab(*color.split_lab(color.join_lab(lightness, ab))),
        color.join_lab(lightness, ab),
    )


def test_keeping_l_reduces_chroma_not_lightness_outside_srgb():
    lightness = torch.linspace(0, 100, 21).view(1, 21, 1).expand(1, 21, 21)
    ab = torch.linspace(-120, 120, 21)
    lab = torch.cat([lightness, ab.view(1, 1, 21).expand(1, 21, 21), 0.5 * lightness - 25])
    rgb = color.lab_to_rgb_keeping_l(lab)
    assert rgb.shape == lab.shape and rgb.min() >= 0 and rgb.max() <= 1
    back = color.rgb_to_lab(rgb)
    assert (back[0] - lab[0]).abs().max() < 0.05  # L kept; clipping RGB moves it by tens
    assert (color.rgb_to_lab(color.lab_to_rgb(lab))[0] - lab[0]).abs().max() > 5
    inside = ~color._outside_gamut(lab)
    assert inside.any() and torch.equal(rgb[:, inside], color.lab_to_rgb(lab)[:, inside])
    chroma, kept = lab[1:].norm(dim=0), back[1:].norm(dim=0)
    assert (kept <= chroma + 0.05).all()  # chroma only shrinks, towards gray
    hue = torch.atan2(lab[2], lab[1]) - torch.atan2(back[2], back[1])
    vivid = kept > 5  # hue is defined only where some chroma is left
    assert (torch.remainder(hue + torch.pi, 2 * torch.pi) - torch.pi)[vivid].abs().max() < 0.05


def test_uint8_images_gray_and_back(synthetic_rgb):
    rgb = synthetic_rgb[0]
    lab = color.uint8_to_lab(rgb)
    assert lab.shape == (3, *rgb.shape[:2]) and lab.dtype == torch.float32
    assert np.abs(to_nhwc(lab[None])[0] - rgb2lab(rgb)).max() < 1e-3
    assert np.array_equal(color.rgb_to_uint8(color.lab_to_rgb(lab)), rgb)  # exact after rounding
    gray = color.gray(rgb)
    assert gray.shape == rgb.shape and gray.dtype == np.uint8
    assert np.abs(gray.astype(int).max(-1) - gray.min(-1)).max() <= 1  # neutral
    assert np.abs(rgb2lab(gray)[..., 0] - rgb2lab(rgb)[..., 0]).max() < 0.5  # the same L


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_matches_cpu():
    rgb = torch.rand(2, 3, 8, 8)
    assert torch.allclose(color.rgb_to_lab(rgb.cuda()).cpu(), color.rgb_to_lab(rgb), atol=1e-3)
