"""The metric set computed the slow, obvious way: one image at a time with scikit-image,
scikit-learn and numpy.

This is what ``metrics.image_metrics`` is checked against (tests) and timed against (the speed
benchmark): the same numbers per image, each from an independent implementation, so a
speed ratio compares equal work and an agreement check needs no hand-written copy of a formula.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree
from skimage.color import deltaE_cie76, deltaE_ciede2000, lab2rgb
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from sklearn.metrics import accuracy_score, precision_recall_fscore_support

AUC_THRESHOLDS = np.arange(151)  # Lab units, Zhang, Isola & Efros (2016)


def colorfulness(rgb: np.ndarray) -> float:
    """Hasler & Suesstrunk colourfulness M of one (3, H, W) sRGB image in [0, 1]."""
    red, green, blue = (255.0 * rgb.astype(np.float64)).reshape(3, -1)
    rg, yb = red - green, 0.5 * (red + green) - blue
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def auc_ab(ab_pred: np.ndarray, ab_true: np.ndarray) -> float:
    """Mean over t = 0..150 of the fraction of pixels with ab error <= t; (2, H, W) Lab units."""
    error = np.linalg.norm(ab_pred.astype(np.float64) - ab_true, axis=0).ravel()
    return float(np.mean([(error <= t).mean() for t in AUC_THRESHOLDS]))


def auc_ab_rebalanced(
    ab_pred: np.ndarray, ab_true: np.ndarray, prior: np.ndarray, bins: np.ndarray
) -> float:
    """``auc_ab`` with each pixel weighted by 1 / prior of its true colour's nearest bin, the
    nearest bin found by a SciPy k-d tree. ab (2, H, W), prior (Q,), bins (Q, 2)."""
    error = np.linalg.norm(ab_pred - ab_true, axis=0).ravel()
    passed = np.mean([error <= t for t in AUC_THRESHOLDS], axis=0)
    _, nearest = cKDTree(bins).query(ab_true.reshape(2, -1).T)
    return float(np.average(passed, weights=1.0 / prior[nearest]))


def ab_classification(ab_pred: np.ndarray, ab_true: np.ndarray, grid: float = 10.0) -> dict:
    """scikit-learn's accuracy and macro precision/recall/F1 of ab bins; (2, H, W) Lab units.

    Bins come from float32 values and a float32 division, as in the torch code, so a value on a
    bin edge lands in the same bin in both.
    """
    bins = np.floor(np.stack([ab_true, ab_pred]).astype(np.float32) / np.float32(grid))
    pairs = bins.reshape(2, 2, -1).transpose(0, 2, 1).reshape(-1, 2)
    _, labels = np.unique(pairs, axis=0, return_inverse=True)
    y_true, y_pred = labels.reshape(2, -1)
    precision, recall, f1, _ = precision_recall_fscore_support(
        y_true, y_pred, average="macro", zero_division=0
    )
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
    }


def image_metrics(
    lab_pred: np.ndarray, lab_true: np.ndarray, prior: np.ndarray, bins: np.ndarray
) -> dict[str, float]:
    """All of ``metrics.METRICS`` for one image pair, (H, W, 3) Lab, as ``image_metrics`` defines
    them (the sRGB images clipped to [0, 1]); float64 except the classification bins. ``prior``
    (Q,) over ``bins`` (Q, 2) weighs ``auc_ab_rebalanced``."""
    rgb_pred, rgb_true = lab2rgb(lab_pred), lab2rgb(lab_true)
    ab_pred, ab_true = lab_pred[..., 1:].transpose(2, 0, 1), lab_true[..., 1:].transpose(2, 0, 1)
    mse = float(np.mean(((ab_pred - ab_true) / 128.0) ** 2))
    colorfulness_pred = colorfulness(rgb_pred.transpose(2, 0, 1))
    colorfulness_true = colorfulness(rgb_true.transpose(2, 0, 1))
    return {
        "mse_ab": mse,
        "psnr_ab": float(10 * np.log10(1 / max(mse, 1e-10))),
        "ssim_rgb": float(structural_similarity(rgb_pred, rgb_true, channel_axis=2, data_range=1)),
        "delta_e76": float(deltaE_cie76(lab_true, lab_pred).mean()),
        "psnr_rgb": float(peak_signal_noise_ratio(rgb_true, rgb_pred, data_range=1)),
        "delta_e2000": float(deltaE_ciede2000(lab_true, lab_pred).mean()),
        "colorfulness_pred": colorfulness_pred,
        "colorfulness_true": colorfulness_true,
        "colorfulness_gap": abs(colorfulness_pred - colorfulness_true),
        "auc_ab": auc_ab(ab_pred, ab_true),
        "auc_ab_rebalanced": auc_ab_rebalanced(ab_pred, ab_true, prior, bins),
        **ab_classification(ab_pred, ab_true),
    }
