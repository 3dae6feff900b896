"""Per-image colourisation metrics on batched torch tensors.

Every metric is a pure function that returns one value per image, shape (N,), in the dtype and on
the device of its inputs (float32 is the intended dtype; nothing here is CUDA-only). Inputs:

    lightness  L in Lab units [0, 100], shape (N, 1, H, W)
    ab         a, b in Lab units (roughly [-128, 127]), shape (N, 2, H, W)
    lab        L, a, b in Lab units, shape (N, 3, H, W)
    rgb        sRGB in [0, 1], shape (N, 3, H, W)

Three families (see ``METRICS``): "seed" metrics are computed as the reference study computed them
(ab / 128 for MSE and PSNR, scikit-image's default SSIM on RGB, CIE76 on Lab); "standard" ones are
the usual colourisation metrics (RGB PSNR, CIEDE2000, colourfulness, Zhang et al.'s AuC);
"classification" ones are the second reference study's pixel scores on a quantised ab grid.
``image_metrics`` computes all of them for a batch of (true L, predicted ab) images.

Two ab-distribution measures work on the bins of ``ab_bins.ab_bins()`` (Zhang et al.'s quantised
gamut): ``auc_ab_rebalanced`` weights each pixel by the rarity of its true colour, and
``ab_js_divergence`` compares the pooled predicted and true ab histograms of a whole split
(``SPLIT_METRICS``: one number per split, not per image).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import torch
from numpy.typing import ArrayLike

from colorize_core.data.ab_bins import ab_bins, bin_prior, nearest_bins
from colorize_core.data.color import AB_SCALE, join_lab, lab_to_rgb

# PSNR of identical images is +inf; a floor under the MSE caps it at 100 dB so that means and
# bootstrap CIs over a test set stay finite.
_MSE_FLOOR = 1e-10
# scikit-image structural_similarity defaults (uniform window, sample covariance).
_SSIM_WIN = 7
_SSIM_K1 = 0.01
_SSIM_K2 = 0.03
# Zhang et al. 2016 sweep the ab error threshold over 0, 1, ..., 150.
_AUC_MAX_THRESHOLD = 150
# ab_classification counts pixels into one slot per (image, ab class): 2^23 int64 slots is 64 MiB,
# ample for real ab (a batch of 113 needs about 113 x 27^2 = 82k); beyond that it renumbers.
_MAX_CLASS_SLOTS = 2**23
# ab_classification rejects |ab| / grid above this, which keeps its int64 class ids from overflow.
_MAX_BIN = 2**20
# CIEDE2000 constant: 25^7 in the chroma compensation G and the rotation term R_C.
_POW25_7 = 25.0**7


def _check_images(image: torch.Tensor, channels: int, name: str) -> None:
    if not isinstance(image, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(image).__name__}")
    if not image.is_floating_point():
        raise TypeError(f"{name} must be a float tensor, got {image.dtype}")
    if image.dim() != 4 or image.shape[1] != channels:
        raise ValueError(f"{name} must have shape (N, {channels}, H, W), got {tuple(image.shape)}")


def _check_pair(pred: torch.Tensor, true: torch.Tensor, channels: int, names: str) -> None:
    pred_name, true_name = names.split(", ")
    _check_images(pred, channels, pred_name)
    _check_images(true, channels, true_name)
    if pred.shape != true.shape:
        raise ValueError(
            f"{pred_name} and {true_name} must have the same shape, "
            f"got {tuple(pred.shape)} and {tuple(true.shape)}"
        )


def _channel_norm(x: torch.Tensor) -> torch.Tensor:
    # (N, C, H, W) -> (N, H, W) Euclidean norm over channels; several times faster on the CPU
    # than linalg.vector_norm(dim=1), which reduces over a strided axis
    return torch.sqrt((x * x).sum(dim=1))


def _per_image_mean(x: torch.Tensor) -> torch.Tensor:
    # (N, ...) -> (N,)
    return x.flatten(1).mean(dim=1)


# ---------------------------------------------------------------------------------------------
# seed metrics: as the reference study computed them


def mse_ab(ab_pred: torch.Tensor, ab_true: torch.Tensor) -> torch.Tensor:
    """Mean squared ab error on the model scale ab / 128, per image.

    ``mean over (2, H, W) of ((ab_pred - ab_true) / 128) ** 2`` (128 is ``color.AB_SCALE``), the
    reference study's "MSE". Inputs (N, 2, H, W) in Lab units; output (N,), 0 = perfect.
    """
    _check_pair(ab_pred, ab_true, 2, "ab_pred, ab_true")
    return _per_image_mean(((ab_pred - ab_true) / AB_SCALE) ** 2)


def psnr_ab(ab_pred: torch.Tensor, ab_true: torch.Tensor) -> torch.Tensor:
    """PSNR in dB of ab / 128 with peak 1, per image: ``10 log10(1 / max(mse_ab, 1e-10))``.

    The reference study's PSNR, but per image. The MSE floor of 1e-10 caps identical images at
    100 dB instead of +inf. Inputs (N, 2, H, W) in Lab units; output (N,), higher is better.
    """
    return -10.0 * torch.log10(mse_ab(ab_pred, ab_true).clamp(min=_MSE_FLOOR))


def ssim_rgb(rgb_pred: torch.Tensor, rgb_true: torch.Tensor) -> torch.Tensor:
    """Mean SSIM on sRGB, per image: scikit-image's ``structural_similarity`` with its defaults.

    Equal to ``structural_similarity(pred, true, channel_axis=2, data_range=1)`` on each (H, W, 3)
    image: 7x7 uniform window, K1 = 0.01, K2 = 0.03, C1 = K1^2, C2 = K2^2 (data range 1), local
    (co)variances scaled by 49/48 (sample covariance), the SSIM map kept only where the window fits
    inside the image (scikit-image filters the whole image, then crops 3 pixels from each border,
    which is the same region), averaged over pixels and then over the 3 channels.

    Not torchmetrics' SSIM: its uniform-window variant uses population (co)variances and
    reflect-pads the image, averaging the map over the padded border too, so it does not reproduce
    the scikit-image default that the reference study used.

    Inputs (N, 3, H, W) in [0, 1] (not clipped here), H and W >= 7; output (N,) in [-1, 1],
    1 = identical.
    """
    _check_pair(rgb_pred, rgb_true, 3, "rgb_pred, rgb_true")
    height, width = rgb_pred.shape[-2:]
    if height < _SSIM_WIN or width < _SSIM_WIN:
        raise ValueError(f"ssim_rgb needs images of at least 7x7 pixels, got {height}x{width}")

    def box(x: torch.Tensor) -> torch.Tensor:
        # 'valid' 7x7 mean, separable; unfold is several times faster than avg_pool2d on the CPU
        x = x.unfold(-1, _SSIM_WIN, 1).mean(dim=-1)
        return x.unfold(-2, _SSIM_WIN, 1).mean(dim=-1)

    x, y = rgb_pred, rgb_true
    mean_x, mean_y = box(x), box(y)
    cov_norm = _SSIM_WIN**2 / (_SSIM_WIN**2 - 1)
    var_x = cov_norm * (box(x * x) - mean_x * mean_x)
    var_y = cov_norm * (box(y * y) - mean_y * mean_y)
    cov_xy = cov_norm * (box(x * y) - mean_x * mean_y)
    c1, c2 = _SSIM_K1**2, _SSIM_K2**2
    ssim_map = ((2 * mean_x * mean_y + c1) * (2 * cov_xy + c2)) / (
        (mean_x**2 + mean_y**2 + c1) * (var_x + var_y + c2)
    )
    # every channel has the same number of pixels, so the mean over (C, H, W) is the channel mean
    return _per_image_mean(ssim_map)


def delta_e76(lab_pred: torch.Tensor, lab_true: torch.Tensor) -> torch.Tensor:
    """Mean CIE76 colour difference, per image: mean over pixels of ``||lab_pred - lab_true||_2``.

    Inputs (N, 3, H, W) in Lab units; output (N,) in Lab units, 0 = identical. With the true L in
    both images it is the mean Euclidean ab error.
    """
    _check_pair(lab_pred, lab_true, 3, "lab_pred, lab_true")
    return _per_image_mean(_channel_norm(lab_pred - lab_true))


# ---------------------------------------------------------------------------------------------
# standard colourisation metrics


def psnr_rgb(rgb_pred: torch.Tensor, rgb_true: torch.Tensor) -> torch.Tensor:
    """PSNR in dB on sRGB with data range 1, per image: ``10 log10(1 / max(mse, 1e-10))``.

    mse is the mean over (3, H, W) of the squared difference, as in scikit-image's
    ``peak_signal_noise_ratio(true, pred, data_range=1)``, except that identical images give
    100 dB (the MSE floor) instead of +inf. Inputs (N, 3, H, W) in [0, 1]; output (N,).
    """
    _check_pair(rgb_pred, rgb_true, 3, "rgb_pred, rgb_true")
    mse = _per_image_mean((rgb_pred - rgb_true) ** 2)
    return -10.0 * torch.log10(mse.clamp(min=_MSE_FLOOR))


def _hue_angle(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    # atan2 mapped to [0, 2 pi), the convention of scikit-image's _cart2polar_2pi
    hue = torch.atan2(b, a)
    return torch.where(hue < 0, hue + 2 * math.pi, hue)


def delta_e2000_map(lab_pred: torch.Tensor, lab_true: torch.Tensor) -> torch.Tensor:
    """CIEDE2000 colour difference per pixel (kL = kC = kH = 1), shape (N, H, W), Lab units.

    A port of scikit-image's ``deltaE_ciede2000(lab_true, lab_pred)`` (Sharma, Wu & Dalal 2005),
    including its conventions where a chroma is 0 (hue difference 0, mean hue = sum of hues) and
    for hues more than 180 degrees apart. Finite for gray (a = b = 0) inputs.
    """
    _check_pair(lab_pred, lab_true, 3, "lab_pred, lab_true")
    l1, a1, b1 = lab_true.unbind(dim=1)
    l2, a2, b2 = lab_pred.unbind(dim=1)

    # stretch a by the mean chroma, then work in the "prime" polar coordinates
    chroma7 = (0.5 * (torch.hypot(a1, b1) + torch.hypot(a2, b2))) ** 7
    scale = 1 + 0.5 * (1 - torch.sqrt(chroma7 / (chroma7 + _POW25_7)))
    c1, h1 = torch.hypot(a1 * scale, b1), _hue_angle(a1 * scale, b1)
    c2, h2 = torch.hypot(a2 * scale, b2), _hue_angle(a2 * scale, b2)

    # lightness and chroma terms
    lbar_sq = (0.5 * (l1 + l2) - 50) ** 2
    l_term = (l2 - l1) / (1 + 0.015 * lbar_sq / torch.sqrt(20 + lbar_sq))
    cbar = 0.5 * (c1 + c2)
    c_term = (c2 - c1) / (1 + 0.045 * cbar)

    # hue difference and mean hue, the shorter way round the circle; undefined hue counts as 0
    h_diff, h_sum, cc = h2 - h1, h1 + h2, c1 * c2
    no_hue = cc == 0
    d_hue = torch.where(h_diff > math.pi, h_diff - 2 * math.pi, h_diff)
    d_hue = torch.where(h_diff < -math.pi, h_diff + 2 * math.pi, d_hue)
    d_hue = torch.where(no_hue, torch.zeros_like(d_hue), d_hue)
    wrap = ~no_hue & (h_diff.abs() > math.pi)
    h_sum_wrapped = torch.where(h_sum < 2 * math.pi, h_sum + 2 * math.pi, h_sum - 2 * math.pi)
    hbar = torch.where(wrap, h_sum_wrapped, h_sum)
    hbar = torch.where(no_hue, hbar, 0.5 * hbar)
    t = (
        1
        - 0.17 * torch.cos(hbar - math.radians(30))
        + 0.24 * torch.cos(2 * hbar)
        + 0.32 * torch.cos(3 * hbar + math.radians(6))
        - 0.20 * torch.cos(4 * hbar - math.radians(63))
    )
    h_term = 2 * torch.sqrt(cc) * torch.sin(d_hue / 2) / (1 + 0.015 * cbar * t)

    # hue rotation term (blue region)
    cbar7 = cbar**7
    rc = 2 * torch.sqrt(cbar7 / (cbar7 + _POW25_7))
    d_theta = math.radians(30) * torch.exp(-(((torch.rad2deg(hbar) - 275) / 25) ** 2))
    r_term = -torch.sin(2 * d_theta) * rc * c_term * h_term

    de_sq = l_term**2 + c_term**2 + h_term**2 + r_term
    return torch.sqrt(de_sq.clamp(min=0))


def delta_e2000(lab_pred: torch.Tensor, lab_true: torch.Tensor) -> torch.Tensor:
    """Mean CIEDE2000 colour difference, per image: mean over pixels of ``delta_e2000_map``.

    Inputs (N, 3, H, W) in Lab units; output (N,) in Lab units, 0 = identical.
    """
    return _per_image_mean(delta_e2000_map(lab_pred, lab_true))


def colorfulness(rgb: torch.Tensor) -> torch.Tensor:
    """Hasler & Suesstrunk (2003) colourfulness M, per image, on sRGB scaled to 0..255.

    ``rg = R - G``, ``yb = (R + G) / 2 - B``,
    ``M = sqrt(std(rg)^2 + std(yb)^2) + 0.3 sqrt(mean(rg)^2 + mean(yb)^2)``, with population
    standard deviations and means over the H x W pixels. Input (N, 3, H, W) in [0, 1]; output
    (N,), 0 for a gray image. Compare a prediction's value with the true image's.
    """
    _check_images(rgb, 3, "rgb")
    red, green, blue = (255.0 * rgb).flatten(2).unbind(dim=1)
    rg = red - green
    yb = 0.5 * (red + green) - blue
    spread = torch.sqrt(rg.var(dim=1, correction=0) + yb.var(dim=1, correction=0))
    return spread + 0.3 * torch.sqrt(rg.mean(dim=1) ** 2 + yb.mean(dim=1) ** 2)


def auc_ab(ab_pred: torch.Tensor, ab_true: torch.Tensor) -> torch.Tensor:
    """Area under the cumulative ab error curve (Zhang, Isola & Efros 2016), per image.

    Per pixel e = ``||ab_pred - ab_true||_2`` in Lab units; for each threshold t = 0, 1, ..., 150
    the fraction of pixels with e <= t; the AuC is the mean of those 151 fractions. Computed as
    the mean over pixels of (number of thresholds t >= e) / 151 = ``clamp(151 - ceil(e), 0, 151)
    / 151``, which is the same sum without a (151, pixels) comparison table. Inputs
    (N, 2, H, W) in Lab units; output (N,) in [0, 1], 1 = perfect.
    """
    _check_pair(ab_pred, ab_true, 2, "ab_pred, ab_true")
    return _per_image_mean(_auc_fraction(ab_pred, ab_true))


def _auc_fraction(ab_pred: torch.Tensor, ab_true: torch.Tensor) -> torch.Tensor:
    # (N, H, W): fraction of the thresholds 0..150 that each pixel's ab error is within
    n_thresholds = _AUC_MAX_THRESHOLD + 1
    error = _channel_norm(ab_pred - ab_true)
    return (n_thresholds - torch.ceil(error)).clamp(0, n_thresholds) / n_thresholds


def auc_ab_rebalanced(
    ab_pred: torch.Tensor,
    ab_true: torch.Tensor,
    prior: torch.Tensor,
    bins: torch.Tensor | None = None,
) -> torch.Tensor:
    """Class-rebalanced AuC of the ab error (Zhang, Isola & Efros 2016), per image.

    As ``auc_ab``, but each pixel i is weighted by ``w_i = 1 / prior[q_i]``, q_i the bin nearest
    to its true ab: ``sum_i w_i f_i / sum_i w_i``, f_i the fraction of thresholds 0..150 that
    pixel's error is within. Rare (saturated) true colours then count as much as common ones,
    so predicting gray everywhere no longer scores well. prior (Q,) over ``bins`` (default
    ``ab_bins()``), e.g. ``ab_bins.bin_prior`` of the true ab of the images being scored, and
    positive in every bin a true pixel falls in (else ValueError). Inputs (N, 2, H, W) in Lab
    units; output (N,) in [0, 1], 1 = perfect.
    """
    _check_pair(ab_pred, ab_true, 2, "ab_pred, ab_true")
    bins = ab_bins() if bins is None else bins
    prior = torch.as_tensor(prior).detach().cpu()
    if prior.shape != (len(bins),):
        raise ValueError(f"prior must have shape ({len(bins)},), one value per bin")
    bin_true = nearest_bins(ab_true, bins)
    used = torch.bincount(bin_true.flatten(), minlength=len(bins)).cpu() > 0
    if not (prior[used] > 0).all():
        empty = bins[used & (prior <= 0)].tolist()
        raise ValueError(
            f"true ab falls in bins with prior 0 (centres {empty[:5]}); compute the prior from "
            "the true ab of (at least) the images being scored"
        )
    weight = 1.0 / prior.to(ab_true.device, ab_true.dtype)[bin_true]
    weighted = (weight * _auc_fraction(ab_pred, ab_true)).flatten(1).sum(dim=1)
    return weighted / weight.flatten(1).sum(dim=1)


def ab_histogram(ab: torch.Tensor, bins: torch.Tensor | None = None) -> torch.Tensor:
    """Per-image counts of pixels by nearest bin, (N, Q) int64 on the device of ``ab``.

    ab (N, 2, H, W) in Lab units; bins (Q, 2), default ``ab_bins()``. Each row sums to H x W.
    """
    _check_images(ab, 2, "ab")
    bins = ab_bins() if bins is None else bins
    n_images, n_bins = len(ab), len(bins)
    image = torch.arange(n_images, device=ab.device).view(-1, 1, 1)
    index = nearest_bins(ab, bins) + n_bins * image
    return torch.bincount(index.flatten(), minlength=n_images * n_bins).view(n_images, n_bins)


def js_divergence(p: ArrayLike, q: ArrayLike) -> np.ndarray:
    """Jensen-Shannon divergence in bits between distributions along the last axis.

    ``JS = KL(p || m) / 2 + KL(q || m) / 2`` with ``m = (p + q) / 2`` and log base 2, so it lies
    in [0, 1]: 0 for equal distributions, 1 for disjoint ones; equal to
    ``scipy.spatial.distance.jensenshannon(p, q, base=2) ** 2``. p and q: non-negative counts or
    probabilities (each normalised here), same shape (..., Q), every row with a positive sum;
    numpy arrays or CPU tensors. Returns float64 of shape (...); vectorised over the leading
    axes for the bootstrap (``stats.bootstrap_pooled``).
    """
    p, q = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
    if p.shape != q.shape or p.ndim == 0:
        raise ValueError(f"p and q must have the same shape (..., Q), got {p.shape}, {q.shape}")
    if (p < 0).any() or (q < 0).any() or not ((p.sum(-1) > 0).all() and (q.sum(-1) > 0).all()):
        raise ValueError("p and q must be non-negative with a positive sum in every row")
    p, q = p / p.sum(-1, keepdims=True), q / q.sum(-1, keepdims=True)
    middle = 0.5 * (p + q)

    def kl_to_middle(x: np.ndarray) -> np.ndarray:
        # 0 log 0 = 0; where x > 0 the middle is > 0 too
        ratio = np.divide(x, middle, out=np.ones_like(x), where=x > 0)
        return (x * np.log2(ratio)).sum(-1)

    return np.clip(0.5 * (kl_to_middle(p) + kl_to_middle(q)), 0.0, 1.0)


def ab_js_divergence(hist_pred: torch.Tensor, hist_true: torch.Tensor) -> float:
    """Jensen-Shannon divergence (bits, [0, 1]) of the pooled predicted and true ab histograms.

    hist_pred, hist_true: (N, Q) per-image ``ab_histogram`` counts of the same N images. Both are
    summed over images (a split's whole colour distribution: do the predictions use the colours
    the true photos use, as often?) and compared with ``js_divergence``; 0 = same distribution.
    ``stats.bootstrap_pooled(js_divergence, hist_pred, hist_true)`` gives its CI over images.
    """
    hist_pred, hist_true = torch.as_tensor(hist_pred), torch.as_tensor(hist_true)
    if hist_pred.dim() != 2 or hist_pred.shape != hist_true.shape:
        raise ValueError(
            f"hist_pred and hist_true must both be (N, Q), got {tuple(hist_pred.shape)} "
            f"and {tuple(hist_true.shape)}"
        )
    return float(js_divergence(hist_pred.sum(dim=0).cpu(), hist_true.sum(dim=0).cpu()))


# ---------------------------------------------------------------------------------------------
# classification metrics: the second reference study's quantised-ab pixel scores


def ab_classification(
    ab_pred: torch.Tensor, ab_true: torch.Tensor, grid: float = 10.0
) -> dict[str, torch.Tensor]:
    """Pixel classification scores on an ab grid, per image.

    A pixel's class is ``(floor(a / grid), floor(b / grid))`` (bins of ``grid`` Lab units). Per
    image: ``accuracy`` is the fraction of pixels whose predicted class equals the true one;
    ``precision``, ``recall`` and ``f1`` are macro averages over the classes that occur in that
    image's true or predicted pixels, an undefined ratio counting as 0, i.e. exactly scikit-learn's
    ``precision_recall_fscore_support(true, pred, average="macro", zero_division=0)`` on the
    image's flattened pixel labels.

    Inputs (N, 2, H, W) in Lab units, finite, with ``|ab| / grid <= 2^20``; ``grid`` in Lab units.
    Returns a dict of four (N,) tensors in [0, 1] in the dtype of ``ab_pred``: accuracy,
    precision, recall, f1.
    """
    _check_pair(ab_pred, ab_true, 2, "ab_pred, ab_true")
    if grid <= 0:
        raise ValueError(f"grid must be positive, got {grid}")
    scaled_pred, scaled_true = ab_pred / grid, ab_true / grid
    # written so that NaN and inf fail too
    if not ((scaled_pred.abs() <= _MAX_BIN).all() and (scaled_true.abs() <= _MAX_BIN).all()):
        raise ValueError(f"ab_classification needs finite ab with |ab| / grid <= {_MAX_BIN}")
    n_images = ab_pred.shape[0]
    dtype = ab_pred.dtype
    bins_pred = torch.floor(scaled_pred).long().flatten(2)  # (N, 2, P)
    bins_true = torch.floor(scaled_true).long().flatten(2)
    low = torch.minimum(bins_pred.amin(dim=(0, 2)), bins_true.amin(dim=(0, 2)))  # (2,)
    high = torch.maximum(bins_pred.amax(dim=(0, 2)), bins_true.amax(dim=(0, 2)))
    n_b = high[1] - low[1] + 1
    n_classes = (high[0] - low[0] + 1) * n_b

    def labels(bins: torch.Tensor) -> torch.Tensor:
        # (N, 2, P) bins -> (N, P) class ids, made unique across the batch by an image offset
        offset = bins - low.view(1, 2, 1)
        image = torch.arange(n_images, device=bins.device).view(-1, 1)
        return image * n_classes + offset[:, 0] * n_b + offset[:, 1]

    label_pred, label_true = labels(bins_pred), labels(bins_true)
    correct = label_pred == label_true
    n_slots = int(n_images * n_classes)
    if n_slots <= _MAX_CLASS_SLOTS:
        # count straight into (image, class) slots; slots of absent classes stay empty
        slots = torch.arange(n_slots, device=ab_pred.device)
        slot_true, slot_pred = label_true, label_pred
    else:
        # absurd ab values: renumber only the (image, class) pairs that occur (a sort, slower)
        slots, dense = torch.unique(torch.cat((label_true, label_pred)), return_inverse=True)
        slot_true, slot_pred = dense.chunk(2)
    true_count = torch.bincount(slot_true.flatten(), minlength=slots.numel()).to(dtype)
    pred_count = torch.bincount(slot_pred.flatten(), minlength=slots.numel()).to(dtype)
    hits = torch.bincount(slot_true[correct], minlength=slots.numel()).to(dtype)

    def ratio(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
        return torch.where(den > 0, num / den.clamp(min=1), torch.zeros_like(num))

    # f1 = 2 tp / (2 tp + fp + fn) = 2 tp / (true + pred), which is 0 where tp = 0 as in sklearn
    per_class = {
        "precision": ratio(hits, pred_count),
        "recall": ratio(hits, true_count),
        "f1": ratio(2 * hits, true_count + pred_count),
    }
    # macro average over the classes present in the image (absent ones add 0 to every sum)
    slot_image = slots // n_classes
    present = (true_count + pred_count > 0).to(dtype)
    n_present = torch.bincount(slot_image, weights=present, minlength=n_images)
    scores = {"accuracy": correct.to(dtype).mean(dim=1)}
    for name, value in per_class.items():
        total = torch.bincount(slot_image, weights=value, minlength=n_images)
        scores[name] = (total / n_present).to(dtype)
    return scores


# ---------------------------------------------------------------------------------------------
# everything for a batch


@dataclass(frozen=True)
class MetricInfo:
    """What a metric column means, for report tables.

    ``higher_is_better`` is None where neither direction is better (colourfulness: the closer to
    the true images' value, the better).
    """

    name: str
    family: str  # "seed", "standard" or "classification"
    higher_is_better: bool | None
    definition: str


METRICS = MappingProxyType(
    {
        "mse_ab": MetricInfo(
            "MSE ab",
            "seed",
            False,
            "mean of ((ab_pred - ab_true) / 128)^2 over a, b and pixels, per image",
        ),
        "psnr_ab": MetricInfo(
            "PSNR ab [dB]", "seed", True, "10 log10(1/mse_ab), ab/128, peak 1, per image then mean"
        ),
        "ssim_rgb": MetricInfo(
            "SSIM RGB",
            "seed",
            True,
            "skimage SSIM on sRGB, 7x7 uniform window, data range 1, channel mean",
        ),
        "delta_e76": MetricInfo(
            "ΔE76", "seed", False, "mean over pixels of the Lab Euclidean distance (CIE76)"
        ),
        "psnr_rgb": MetricInfo(
            "PSNR RGB [dB]", "standard", True, "10 log10(1/mse) on sRGB in [0, 1], per image"
        ),
        "delta_e2000": MetricInfo(
            "ΔE2000", "standard", False, "mean over pixels of CIEDE2000 (kL = kC = kH = 1)"
        ),
        "colorfulness_pred": MetricInfo(
            "Colourfulness (pred)",
            "standard",
            None,
            "Hasler-Suesstrunk M on predicted sRGB 0..255; closer to the true value is better",
        ),
        "colorfulness_true": MetricInfo(
            "Colourfulness (true)",
            "standard",
            None,
            "Hasler-Suesstrunk M on true sRGB 0..255; the target for colorfulness_pred",
        ),
        "colorfulness_gap": MetricInfo(
            "Colourfulness gap",
            "standard",
            False,
            "|colorfulness_pred - colorfulness_true| per image: washed-out or garish colour",
        ),
        "auc_ab": MetricInfo(
            "AuC ab",
            "standard",
            True,
            "mean over t = 0..150 of the fraction of pixels with ab error <= t (Zhang 2016)",
        ),
        "auc_ab_rebalanced": MetricInfo(
            "AuC ab (rebalanced)",
            "standard",
            True,
            "auc_ab with each pixel weighted by 1 / prior of its true ab bin, the prior from the "
            "split's true ab (Zhang 2016)",
        ),
        "accuracy": MetricInfo(
            "Accuracy", "classification", True, "fraction of pixels in their true 10-unit ab bin"
        ),
        "precision": MetricInfo(
            "Precision", "classification", True, "macro precision over 10-unit ab bins, per image"
        ),
        "recall": MetricInfo(
            "Recall", "classification", True, "macro recall over 10-unit ab bins, per image"
        ),
        "f1": MetricInfo("F1", "classification", True, "macro F1 over 10-unit ab bins, per image"),
    }
)

# Statistics of a whole split rather than means of per-image values: summary rows only.
SPLIT_METRICS = MappingProxyType(
    {
        "ab_js_divergence": MetricInfo(
            "JS divergence ab",
            "standard",
            False,
            "Jensen-Shannon divergence (bits) of the pooled nearest-bin histograms of predicted "
            "and true ab over the split; CI by resampling images",
        ),
    }
)


def image_metrics(
    lightness: torch.Tensor,
    ab_pred: torch.Tensor,
    ab_true: torch.Tensor,
    prior: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """Every metric in ``METRICS`` for a batch, in that order, as (N,) float64 tensors on the CPU.

    The predicted image is (true L, predicted ab), the true image is (true L, true ab). Delta E is
    computed on these Lab values; PSNR RGB, SSIM and colourfulness on their sRGB from
    ``color.lab_to_rgb`` (clipped to [0, 1]); the classification scores use a 10-unit ab grid.
    lightness (N, 1, H, W), ab_pred and ab_true (N, 2, H, W), all in Lab units; the computation
    runs in their dtype on their device.

    ``prior`` (Q,) over ``ab_bins()`` weights ``auc_ab_rebalanced``; pass the prior of the whole
    split being scored (``evaluate`` does) so that every image and every predictor share the
    weights. Without it the prior is this batch's own true ab (``ab_bins.bin_prior``), so that
    column then depends on which images share the batch.
    """
    _check_images(lightness, 1, "lightness")
    _check_pair(ab_pred, ab_true, 2, "ab_pred, ab_true")
    if lightness.shape[-2:] != ab_true.shape[-2:] or len(lightness) != len(ab_true):
        raise ValueError(
            f"lightness {tuple(lightness.shape)} does not match ab {tuple(ab_true.shape)}"
        )
    lab_pred, lab_true = join_lab(lightness, ab_pred), join_lab(lightness, ab_true)
    rgb_pred, rgb_true = lab_to_rgb(lab_pred), lab_to_rgb(lab_true)
    colorfulness_pred, colorfulness_true = colorfulness(rgb_pred), colorfulness(rgb_true)
    bins = ab_bins()
    prior = bin_prior(ab_true, bins) if prior is None else prior
    values = {
        "mse_ab": mse_ab(ab_pred, ab_true),
        "psnr_ab": psnr_ab(ab_pred, ab_true),
        "ssim_rgb": ssim_rgb(rgb_pred, rgb_true),
        "delta_e76": delta_e76(lab_pred, lab_true),
        "psnr_rgb": psnr_rgb(rgb_pred, rgb_true),
        "delta_e2000": delta_e2000(lab_pred, lab_true),
        "colorfulness_pred": colorfulness_pred,
        "colorfulness_true": colorfulness_true,
        "colorfulness_gap": (colorfulness_pred - colorfulness_true).abs(),
        "auc_ab": auc_ab(ab_pred, ab_true),
        "auc_ab_rebalanced": auc_ab_rebalanced(ab_pred, ab_true, prior, bins),
        **ab_classification(ab_pred, ab_true),
    }
    return {key: values[key].detach().to("cpu", torch.float64) for key in METRICS}
