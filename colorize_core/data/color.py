"""sRGB <-> CIELAB (D65, 2 degree observer) on batched tensors, and the one model normalisation.

Shapes are ``(*, 3, H, W)``; any leading batch dimensions, any device, float32 (float64 works too).
sRGB is in [0, 1]; L is in [0, 100] and a, b roughly in [-128, 127].

The maths and constants are those of scikit-image's ``rgb2lab``/``lab2rgb`` (sRGB companding with
the 0.04045 threshold, the sRGB/D65 matrix, CIE 1976 L*a*b* with epsilon = (6/29)^3), so our numbers
agree with the reference the tests use. Hand-written rather than kornia's ``rgb_to_lab`` because the
cube root and the companding power have infinite slope at 0; we clamp their inputs so that gradients
stay finite at black, which the models need (a loss on RGB rebuilt from predicted ab must not NaN).

Model normalisation (the reference study's, used everywhere in this project):
    model input   L / 100        in [0, 1], height and width multiples of ``SIZE_MULTIPLE``
    model output  ab / 128       in (-1, 1), matching a tanh head
The seed-style metrics (``mse_ab``, ``psnr_ab``) are defined on the same ab / 128.

For whole photos: ``lab_to_rgb_keeping_l`` rebuilds sRGB without changing L, and ``gray``,
``uint8_to_lab`` and ``rgb_to_uint8`` work on (H, W, 3) uint8 images as Pillow gives them.
"""

from __future__ import annotations

import numpy as np
import torch

L_SCALE = 100.0
AB_SCALE = 128.0
SIZE_MULTIPLE = 8  # model input sides: the three stride-2 stages of conv_ae, gan and unet
GAMUT_TOLERANCE = 0.01  # Lab units; float32 round trips of in-gamut colours stay below 1e-4
GAMUT_STEPS = 8  # bisection steps of the chroma scale: within 1/256 of the sRGB boundary

# sRGB (linear) -> XYZ, D65; the same matrix as ``skimage.color.colorconv.xyz_from_rgb``.
_XYZ_FROM_RGB = (
    (0.412453, 0.357580, 0.180423),
    (0.212671, 0.715160, 0.072169),
    (0.019334, 0.119193, 0.950227),
)
_WHITE_D65 = (0.95047, 1.0, 1.08883)
# The CIE constants as scikit-image writes them (rounded), for exact agreement with the reference:
_EPS = 0.008856  # (6/29)^3: below it the Lab curve is linear
_KAPPA = 7.787  # 1 / (3 (6/29)^2): slope of the linear part
_F_EPS = 0.2068966  # 6/29: the same threshold on the f side, for the inverse
_TINY = 1e-8  # floor under pow() inputs so gradients stay finite


def _matrix(rows: tuple, like: torch.Tensor) -> torch.Tensor:
    return torch.tensor(rows, dtype=like.dtype, device=like.device)


def _check(image: torch.Tensor, name: str) -> None:
    if not isinstance(image, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(image).__name__}")
    if image.dim() < 3 or image.shape[-3] != 3:
        raise ValueError(f"{name} must have shape (*, 3, H, W), got {tuple(image.shape)}")
    if not image.is_floating_point():
        raise TypeError(f"{name} must be a float tensor, got {image.dtype}")


def _apply_matrix(matrix: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    # (3, 3) x (*, 3, H, W) over the channel axis
    return torch.einsum("ij,...jhw->...ihw", matrix, image)


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB in [0, 1], shape (*, 3, H, W) -> CIELAB (L in [0, 100], a, b), same shape and dtype."""
    _check(rgb, "rgb")
    rgb = rgb.clamp(0.0, 1.0)
    linear = torch.where(
        rgb > 0.04045, ((rgb.clamp(min=0.04045) + 0.055) / 1.055) ** 2.4, rgb / 12.92
    )
    xyz = _apply_matrix(_matrix(_XYZ_FROM_RGB, rgb), linear)
    xyz = xyz / torch.tensor(_WHITE_D65, dtype=rgb.dtype, device=rgb.device).view(3, 1, 1)
    f = torch.where(xyz > _EPS, xyz.clamp(min=_EPS) ** (1.0 / 3.0), _KAPPA * xyz + 16.0 / 116.0)
    fx, fy, fz = f.unbind(-3)
    lightness = 116.0 * fy - 16.0
    return torch.stack((lightness, 500.0 * (fx - fy), 200.0 * (fy - fz)), dim=-3)


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """CIELAB, shape (*, 3, H, W) -> sRGB clipped to [0, 1], same shape and dtype.

    Out-of-gamut colours (any a, b is accepted) are handled exactly as scikit-image's ``lab2rgb``
    does: a negative f(Z) is set to 0 before the inverse companding, and the final sRGB is clipped
    to [0, 1], so the result is always a displayable image and the metrics on it equal the
    scikit-image reference even for wild predictions.
    """
    _check(lab, "lab")
    lightness, a, b = lab.unbind(-3)
    fy = (lightness + 16.0) / 116.0
    f = torch.stack((fy + a / 500.0, fy, (fy - b / 200.0).clamp(min=0.0)), dim=-3)
    xyz = torch.where(f > _F_EPS, f**3, (f - 16.0 / 116.0) / _KAPPA)
    xyz = xyz * torch.tensor(_WHITE_D65, dtype=lab.dtype, device=lab.device).view(3, 1, 1)
    rgb_from_xyz = torch.linalg.inv(_matrix(_XYZ_FROM_RGB, lab).double()).to(lab.dtype)
    linear = _apply_matrix(rgb_from_xyz, xyz)
    srgb = torch.where(
        linear > 0.0031308,
        1.055 * linear.clamp(min=0.0031308) ** (1.0 / 2.4) - 0.055,
        12.92 * linear,
    )
    return srgb.clamp(0.0, 1.0)


def split_lab(lab: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(*, 3, H, W) Lab -> (L of shape (*, 1, H, W), ab of shape (*, 2, H, W))."""
    return lab[..., :1, :, :], lab[..., 1:, :, :]


def join_lab(lightness: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    """L (*, 1, H, W) and ab (*, 2, H, W) -> Lab (*, 3, H, W)."""
    return torch.cat((lightness, ab), dim=-3)


def normalize_l(lightness: torch.Tensor) -> torch.Tensor:
    """L in [0, 100] -> model input L / 100 in [0, 1]."""
    return lightness / L_SCALE


def normalize_ab(ab: torch.Tensor) -> torch.Tensor:
    """ab in Lab units -> model target ab / 128."""
    return ab / AB_SCALE


def denormalize_ab(ab_norm: torch.Tensor) -> torch.Tensor:
    """Model output ab / 128 -> ab in Lab units."""
    return ab_norm * AB_SCALE


def rgb_from_prediction(lightness: torch.Tensor, ab_norm: torch.Tensor) -> torch.Tensor:
    """True L (Lab units, (*, 1, H, W)) plus a model's ab / 128 -> sRGB in [0, 1]."""
    return lab_to_rgb(join_lab(lightness, denormalize_ab(ab_norm)))


# ---------------------------------------------------------------- whole photos


def _outside_gamut(lab: torch.Tensor, rgb: torch.Tensor | None = None) -> torch.Tensor:
    """(3, *, N) Lab -> (*, N) bool: colours that sRGB cannot show, which ``lab_to_rgb`` clips
    (so they do not survive a round trip); ``rgb``: ``lab_to_rgb(lab)`` if already computed."""
    rgb = lab_to_rgb(lab) if rgb is None else rgb
    return (rgb_to_lab(rgb) - lab).abs().amax(dim=0) > GAMUT_TOLERANCE


def lab_to_rgb_keeping_l(lab: torch.Tensor) -> torch.Tensor:
    """(3, H, W) Lab -> sRGB in [0, 1] whose lightness is exactly L (within float error).

    A predicted colour may not exist at the photo's lightness (saturated colour near white or
    black). Clipping RGB, as ``lab_to_rgb`` does, would then change L as well as the hue. Here
    such pixels keep L and hue, and their chroma (ab) is scaled towards gray by bisection
    (``GAMUT_STEPS``) until the colour fits in sRGB.
    """
    rgb = lab_to_rgb(lab)
    outside = _outside_gamut(lab, rgb)
    if outside.any():
        sub = lab[:, outside][:, None]  # (3, 1, n) out-of-gamut colours
        low, high = torch.zeros_like(sub[0, 0]), torch.ones_like(sub[0, 0])  # chroma scale
        for _ in range(GAMUT_STEPS):
            mid = (low + high) / 2
            fits = ~_outside_gamut(join_lab(sub[:1], sub[1:] * mid))[0]
            low, high = torch.where(fits, mid, low), torch.where(fits, high, mid)
        rgb[:, outside] = lab_to_rgb(join_lab(sub[:1], sub[1:] * low))[:, 0]
    return rgb


def uint8_to_lab(rgb: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """(H, W, 3) uint8 sRGB -> (3, H, W) float32 Lab on ``device``."""
    # torch.tensor copies: arrays from Pillow are read-only, and a strip is a small copy
    return rgb_to_lab(torch.tensor(rgb, device=device).permute(2, 0, 1) / 255)


def rgb_to_uint8(rgb: torch.Tensor) -> np.ndarray:
    """(3, H, W) float sRGB in [0, 1] -> (H, W, 3) uint8 on the CPU, rounded."""
    return (rgb.clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(1, 2, 0).cpu().numpy()


def gray(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 -> its lightness alone (ab = 0) as (H, W, 3) uint8: what a model sees."""
    lab = uint8_to_lab(rgb)
    return rgb_to_uint8(lab_to_rgb(join_lab(lab[:1], torch.zeros_like(lab[1:]))))
