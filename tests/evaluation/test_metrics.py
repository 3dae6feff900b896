"""colorize_core.evaluation.metrics against scikit-image, scikit-learn and numpy, computed here.

Tolerances, float32 metrics against float64 references (measured maximum on 16 faces x 6 kinds of
prediction in brackets):
    mse_ab                    1e-5 relative   (1.2e-7)
    PSNR ab, PSNR RGB         1e-4 relative   (9.9e-8, 9.4e-8)
    SSIM                      1e-4 relative   (7.7e-7)
    Delta E76, Delta E2000    1e-3 absolute per image (2.3e-6, 1.3e-6); Delta E2000 per pixel
                              1e-3 in float32 (7e-5) and 1e-9 in float64 (2e-13)
    colourfulness             1e-4 relative, 1e-4 absolute near 0 (1.3e-7; 2.2e-7 absolute for
                              the gray prediction, whose M is about 0.002)
    AuC                       1e-6 absolute   (3e-8; a pixel whose float32 error falls on the
                              other side of an integer threshold would move it by 1 / (151 x 16384))
    rebalanced AuC            1e-5 absolute   (float32 sums of per-pixel weights up to 1e5 times
                              apart; nearest bins by float64 argmin, ties to the lowest index)
    JS divergence             1e-9 absolute   (float64 both, from the same integer counts)
    classification scores     1e-6 absolute   (5e-8; bins from the same float32 values)
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.spatial.distance import cdist, jensenshannon
from skimage.color import deltaE_cie76, deltaE_ciede2000
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from colorize_core.data.ab_bins import ab_bins, bin_prior
from colorize_core.data.color import join_lab, lab_to_rgb, rgb_to_lab, split_lab
from colorize_core.evaluation import metrics, reference_metrics

N_PHOTOS = 6
KEYS = [
    "mse_ab",
    "psnr_ab",
    "ssim_rgb",
    "delta_e76",
    "psnr_rgb",
    "delta_e2000",
    "colorfulness_pred",
    "colorfulness_true",
    "colorfulness_gap",
    "auc_ab",
    "auc_ab_rebalanced",
    "accuracy",
    "precision",
    "recall",
    "f1",
]


# ---------------------------------------------------------------------------------------------
# data


@pytest.fixture(scope="module")
def photo_lab(synthetic_rgb) -> torch.Tensor:
    """(N_PHOTOS, 3, 128, 128) float32 Lab of 8-bit photos (conftest's synthetic ones) / 255."""
    rgb = torch.from_numpy(synthetic_rgb[:N_PHOTOS].astype(np.float32) / 255.0)
    return rgb_to_lab(rgb.permute(0, 3, 1, 2).contiguous())


def _predictions(ab: torch.Tensor) -> dict[str, torch.Tensor]:
    """Realistic wrong ab (N, 2, H, W) for the true ab: shifted, blurred, desaturated, gray..."""
    noise = torch.randn(ab.shape, generator=torch.Generator().manual_seed(0))
    return {
        "shifted": torch.roll(ab, shifts=(3, 5), dims=(-2, -1)),
        "blurred": F.avg_pool2d(ab, 9, stride=1, padding=4, count_include_pad=False),
        "desaturated": 0.7 * ab + 4.0,
        "noisy": ab + 8.0 * noise,
        "gray": torch.zeros_like(ab),
        "constant": ab.mean(dim=(-2, -1), keepdim=True).expand_as(ab).contiguous(),
    }


PREDICTIONS = ["shifted", "blurred", "desaturated", "noisy", "gray", "constant"]


@pytest.fixture(scope="module", params=PREDICTIONS)
def photo_pair(request, photo_lab) -> tuple[torch.Tensor, torch.Tensor]:
    """(predicted Lab, true Lab), (N_PHOTOS, 3, 128, 128) float32, same L."""
    lightness, ab = split_lab(photo_lab)
    return join_lab(lightness, _predictions(ab)[request.param]), photo_lab


def _random_lab(n: int, size: tuple[int, int], seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    lightness = 100.0 * torch.rand((n, 1, *size), generator=gen)
    ab = 200.0 * torch.rand((n, 2, *size), generator=gen) - 100.0
    return torch.cat((lightness, ab), dim=1)


def _hwc(image: torch.Tensor) -> np.ndarray:
    """(C, H, W) tensor -> (H, W, C) float64 numpy, the layout scikit-image takes."""
    return image.permute(1, 2, 0).double().numpy()


# ---------------------------------------------------------------------------------------------
# shapes and errors

# (function, channels of each input)
PAIR_METRICS = [
    (metrics.mse_ab, 2),
    (metrics.psnr_ab, 2),
    (metrics.ssim_rgb, 3),
    (metrics.delta_e76, 3),
    (metrics.psnr_rgb, 3),
    (metrics.delta_e2000, 3),
    (metrics.auc_ab, 2),
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(("metric", "channels"), PAIR_METRICS)
def test_shape_and_dtype(metric, channels, dtype):
    pred = torch.rand(4, channels, 9, 11, dtype=dtype)
    true = torch.rand(4, channels, 9, 11, dtype=dtype)
    out = metric(pred, true)
    assert out.shape == (4,)
    assert out.dtype == dtype


def test_shape_and_dtype_of_the_rest():
    rgb = torch.rand(4, 3, 9, 11)
    assert metrics.colorfulness(rgb).shape == (4,)
    assert metrics.delta_e2000_map(rgb, rgb).shape == (4, 9, 11)
    scores = metrics.ab_classification(torch.rand(4, 2, 9, 11), torch.rand(4, 2, 9, 11))
    assert list(scores) == ["accuracy", "precision", "recall", "f1"]
    assert all(v.shape == (4,) and v.dtype == torch.float32 for v in scores.values())


@pytest.mark.parametrize(("metric", "channels"), PAIR_METRICS)
def test_bad_input_raises(metric, channels):
    good = torch.rand(2, channels, 8, 8)
    with pytest.raises(ValueError, match=f"shape \\(N, {channels}, H, W\\)"):
        metric(torch.rand(2, channels + 1, 8, 8), good)
    with pytest.raises(ValueError, match=f"shape \\(N, {channels}, H, W\\)"):
        metric(good[0], good[0])
    with pytest.raises(ValueError, match="same shape"):
        metric(good, torch.rand(2, channels, 8, 9))
    with pytest.raises(TypeError, match="float"):
        metric(good.to(torch.uint8), good.to(torch.uint8))
    with pytest.raises(TypeError, match="torch.Tensor"):
        metric(good.numpy(), good)


def test_other_bad_input_raises():
    with pytest.raises(ValueError, match="at least 7x7"):
        metrics.ssim_rgb(torch.rand(1, 3, 6, 20), torch.rand(1, 3, 6, 20))
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        metrics.colorfulness(torch.rand(1, 1, 8, 8))
    ab = torch.rand(1, 2, 8, 8)
    with pytest.raises(ValueError, match="grid"):
        metrics.ab_classification(ab, ab, grid=0)
    with pytest.raises(ValueError, match="finite"):
        metrics.ab_classification(torch.full_like(ab, float("nan")), ab)
    with pytest.raises(ValueError, match="does not match"):
        metrics.image_metrics(torch.rand(1, 1, 8, 9), ab, ab)


# ---------------------------------------------------------------------------------------------
# ideal values


def test_identical_inputs_give_ideal_values(photo_lab):
    lightness, ab = split_lab(photo_lab)
    rgb = lab_to_rgb(photo_lab)
    torch.testing.assert_close(metrics.mse_ab(ab, ab), torch.zeros(N_PHOTOS))
    torch.testing.assert_close(metrics.psnr_ab(ab, ab), torch.full((N_PHOTOS,), 100.0))
    torch.testing.assert_close(metrics.psnr_rgb(rgb, rgb), torch.full((N_PHOTOS,), 100.0))
    torch.testing.assert_close(metrics.ssim_rgb(rgb, rgb), torch.ones(N_PHOTOS))
    torch.testing.assert_close(metrics.delta_e76(photo_lab, photo_lab), torch.zeros(N_PHOTOS))
    torch.testing.assert_close(metrics.delta_e2000(photo_lab, photo_lab), torch.zeros(N_PHOTOS))
    torch.testing.assert_close(metrics.auc_ab(ab, ab), torch.ones(N_PHOTOS))
    prior = bin_prior(ab, ab_bins())
    torch.testing.assert_close(metrics.auc_ab_rebalanced(ab, ab, prior), torch.ones(N_PHOTOS))
    for score in metrics.ab_classification(ab, ab).values():
        torch.testing.assert_close(score, torch.ones(N_PHOTOS))


# ---------------------------------------------------------------------------------------------
# references on photo-like images


def test_mse_and_psnr_ab_match_reference(photo_pair):
    (_, ab_pred), (_, ab_true) = split_lab(photo_pair[0]), split_lab(photo_pair[1])
    mse = metrics.mse_ab(ab_pred, ab_true)
    psnr = metrics.psnr_ab(ab_pred, ab_true)
    for i in range(N_PHOTOS):
        pred, true = ab_pred[i].double().numpy() / 128, ab_true[i].double().numpy() / 128
        assert mse[i].item() == pytest.approx(np.mean((pred - true) ** 2), rel=1e-5)
        reference = peak_signal_noise_ratio(true, pred, data_range=1)
        assert psnr[i].item() == pytest.approx(reference, rel=1e-4)


def test_psnr_and_ssim_rgb_match_skimage(photo_pair):
    rgb_pred, rgb_true = lab_to_rgb(photo_pair[0]), lab_to_rgb(photo_pair[1])
    psnr = metrics.psnr_rgb(rgb_pred, rgb_true)
    ssim = metrics.ssim_rgb(rgb_pred, rgb_true)
    for i in range(N_PHOTOS):
        pred, true = _hwc(rgb_pred[i]), _hwc(rgb_true[i])
        reference = peak_signal_noise_ratio(true, pred, data_range=1)
        assert psnr[i].item() == pytest.approx(reference, rel=1e-4)
        reference = structural_similarity(pred, true, channel_axis=2, data_range=1)
        assert ssim[i].item() == pytest.approx(reference, rel=1e-4)


def test_delta_e_match_skimage(photo_pair):
    lab_pred, lab_true = photo_pair
    e76 = metrics.delta_e76(lab_pred, lab_true)
    e2000 = metrics.delta_e2000(lab_pred, lab_true)
    for i in range(N_PHOTOS):
        pred, true = _hwc(lab_pred[i]), _hwc(lab_true[i])
        assert e76[i].item() == pytest.approx(deltaE_cie76(true, pred).mean(), abs=1e-3)
        assert e2000[i].item() == pytest.approx(deltaE_ciede2000(true, pred).mean(), abs=1e-3)


def test_colorfulness_and_auc_match_numpy(photo_pair):
    lab_pred, lab_true = photo_pair
    rgb_pred = lab_to_rgb(lab_pred)
    colorfulness = metrics.colorfulness(rgb_pred)
    auc = metrics.auc_ab(lab_pred[:, 1:], lab_true[:, 1:])
    for i in range(N_PHOTOS):
        reference = reference_metrics.colorfulness(rgb_pred[i].numpy())
        assert colorfulness[i].item() == pytest.approx(reference, rel=1e-4, abs=1e-4)
        reference = reference_metrics.auc_ab(lab_pred[i, 1:].numpy(), lab_true[i, 1:].numpy())
        assert auc[i].item() == pytest.approx(reference, abs=1e-6)


def _nearest_bin(ab: np.ndarray) -> np.ndarray:
    """(2, H, W) ab -> (H W,) index of the nearest ab_bins() centre (float64; ties: lowest)."""
    return cdist(ab.reshape(2, -1).T.astype(np.float64), ab_bins().double().numpy()).argmin(1)


def _auc_rebalanced_reference(ab_pred: np.ndarray, ab_true: np.ndarray, prior: np.ndarray):
    """Per-pixel fractions of thresholds 0..150 passed, averaged with weights 1 / prior."""
    error = np.linalg.norm(ab_pred.astype(np.float64) - ab_true, axis=0).ravel()
    passed = np.mean([error <= t for t in reference_metrics.AUC_THRESHOLDS], axis=0)
    return float(np.average(passed, weights=1.0 / prior[_nearest_bin(ab_true)]))


def _split_prior(ab_true: torch.Tensor) -> np.ndarray:
    """Nearest-bin frequencies over all pixels of (N, 2, H, W) ab, by a k-d tree."""
    index = np.concatenate([_nearest_bin(image.numpy()) for image in ab_true])
    return np.bincount(index, minlength=len(ab_bins())) / index.size


def test_auc_rebalanced_matches_numpy(photo_pair):
    ab_pred, ab_true = photo_pair[0][:, 1:], photo_pair[1][:, 1:]
    prior = _split_prior(ab_true)
    auc = metrics.auc_ab_rebalanced(ab_pred, ab_true, torch.from_numpy(prior))
    assert auc.shape == (N_PHOTOS,) and auc.dtype == torch.float32
    for i in range(N_PHOTOS):
        reference = _auc_rebalanced_reference(ab_pred[i].numpy(), ab_true[i].numpy(), prior)
        assert auc[i].item() == pytest.approx(reference, abs=1e-5)


def test_auc_rebalanced_random_matches_numpy():
    # random ab, much of it out of gamut (nearest bins by the exhaustive search)
    true = _random_lab(3, (15, 17), seed=9)[:, 1:]
    pred = true + 30.0 * torch.randn(true.shape, generator=torch.Generator().manual_seed(10))
    prior = _split_prior(true)
    auc = metrics.auc_ab_rebalanced(pred.double(), true.double(), prior)
    assert auc.dtype == torch.float64
    for i in range(3):
        reference = _auc_rebalanced_reference(pred[i].numpy(), true[i].numpy(), prior)
        assert auc[i].item() == pytest.approx(reference, abs=1e-9)


def test_auc_rebalanced_by_hand():
    # pixels 1-3 in the common gray bin (prior 3/4), pixel 4 in a rare one (prior 1/4):
    # weights 4/3 x 3 and 4; the gray pixels are exact (1), the rare one is 10 off (141/151)
    ab_true = torch.zeros(1, 2, 2, 2)
    ab_true[0, :, 1, 1] = torch.tensor([40.0, 40.0])
    ab_pred = ab_true.clone()
    ab_pred[0, 0, 1, 1] = 30.0
    prior = bin_prior(ab_true, ab_bins())
    assert sorted(prior[prior > 0].tolist()) == [0.25, 0.75]
    expected = (3 * 4 / 3 + 4 * 141 / 151) / (3 * 4 / 3 + 4)
    assert metrics.auc_ab_rebalanced(ab_pred, ab_true, prior).item() == pytest.approx(expected)
    assert metrics.auc_ab(ab_pred, ab_true).item() == pytest.approx((3 + 141 / 151) / 4)


def test_auc_rebalanced_punishes_gray_more(photo_lab):
    # rare saturated colours weigh more, and gray gets exactly those wrong (on average: an
    # image's own rare colours can be pale ones)
    _, ab = split_lab(photo_lab)
    gray = torch.zeros_like(ab)
    rebalanced = metrics.auc_ab_rebalanced(gray, ab, bin_prior(ab, ab_bins()))
    assert rebalanced.mean() < metrics.auc_ab(gray, ab).mean() - 0.01


def test_auc_rebalanced_bad_input_raises():
    ab = torch.zeros(1, 2, 4, 4)
    prior = torch.zeros(len(ab_bins()), dtype=torch.float64)
    prior[0] = 1.0  # all the mass on (-90, 50): gray pixels have prior 0
    with pytest.raises(ValueError, match=r"prior 0 \(centres \[\[0.0, 0.0\]\]\)"):
        metrics.auc_ab_rebalanced(ab, ab, prior)
    with pytest.raises(ValueError, match="one value per bin"):
        metrics.auc_ab_rebalanced(ab, ab, prior[:-1])
    with pytest.raises(ValueError, match="same shape"):
        metrics.auc_ab_rebalanced(ab, ab[..., :3], prior)


def test_ab_histogram_matches_numpy(photo_pair):
    ab_pred = photo_pair[0][:, 1:]
    histogram = metrics.ab_histogram(ab_pred)
    assert histogram.shape == (N_PHOTOS, len(ab_bins())) and histogram.dtype == torch.int64
    for i in range(N_PHOTOS):
        expected = np.bincount(_nearest_bin(ab_pred[i].numpy()), minlength=len(ab_bins()))
        np.testing.assert_array_equal(histogram[i].numpy(), expected)


def test_ab_js_divergence_matches_scipy(photo_pair):
    hist_pred = metrics.ab_histogram(photo_pair[0][:, 1:])
    hist_true = metrics.ab_histogram(photo_pair[1][:, 1:])
    pooled_pred, pooled_true = hist_pred.sum(0).double().numpy(), hist_true.sum(0).double().numpy()
    reference = jensenshannon(pooled_pred, pooled_true, base=2) ** 2
    assert metrics.ab_js_divergence(hist_pred, hist_true) == pytest.approx(reference, abs=1e-9)


def test_js_divergence_rows_match_scipy():
    rng = np.random.default_rng(11)
    p = rng.poisson(2.0, size=(3, 4, 50)).astype(float)
    q = rng.poisson(2.0, size=(3, 4, 50)).astype(float)
    q[0, 0] = 0
    q[0, 0, 7] = 5  # sparse rows: 0 log 0 terms
    value = metrics.js_divergence(p, q)
    assert value.shape == (3, 4)
    expected = np.array(
        [[jensenshannon(p[i, j], q[i, j], base=2) ** 2 for j in range(4)] for i in range(3)]
    )
    np.testing.assert_allclose(value, expected, rtol=0, atol=1e-12)


def test_js_divergence_bounds_and_errors():
    counts = torch.tensor([[3, 1, 0], [0, 2, 0]])
    assert metrics.ab_js_divergence(counts, counts) == 0.0
    disjoint = torch.tensor([[0, 0, 4], [0, 0, 1]])
    assert metrics.ab_js_divergence(counts, disjoint) == pytest.approx(1.0)
    with pytest.raises(ValueError, match=r"\(N, Q\)"):
        metrics.ab_js_divergence(counts, counts[:1])
    with pytest.raises(ValueError, match="positive sum"):
        metrics.js_divergence(np.zeros(3), np.ones(3))


def test_ab_classification_matches_sklearn(photo_pair):
    ab_pred, ab_true = photo_pair[0][:, 1:], photo_pair[1][:, 1:]
    scores = metrics.ab_classification(ab_pred, ab_true)
    for i in range(N_PHOTOS):
        reference = reference_metrics.ab_classification(
            ab_pred[i].numpy(), ab_true[i].numpy(), grid=10
        )
        for name, value in reference.items():
            assert scores[name][i].item() == pytest.approx(value, abs=1e-6), name


# ---------------------------------------------------------------------------------------------
# references on random images


@pytest.mark.parametrize("size", [(7, 7), (16, 16), (13, 29)])
def test_ssim_and_psnr_random_match_skimage(size):
    gen = torch.Generator().manual_seed(1)
    true = torch.rand((3, 3, *size), generator=gen)
    # a related image, as a prediction would be, and an unrelated one
    pred = torch.cat(
        (
            (true[:2] + 0.1 * torch.randn((2, 3, *size), generator=gen)).clamp(0, 1),
            torch.rand((1, 3, *size), generator=gen),
        )
    )
    ssim, psnr = metrics.ssim_rgb(pred, true), metrics.psnr_rgb(pred, true)
    for i in range(3):
        reference = structural_similarity(
            _hwc(pred[i]), _hwc(true[i]), channel_axis=2, data_range=1
        )
        assert ssim[i].item() == pytest.approx(reference, rel=1e-4, abs=1e-6)
        reference = peak_signal_noise_ratio(_hwc(true[i]), _hwc(pred[i]), data_range=1)
        assert psnr[i].item() == pytest.approx(reference, rel=1e-4)


def _edge_case_pairs() -> tuple[torch.Tensor, torch.Tensor]:
    """(P, 3) Lab pairs where CIEDE2000 has special cases: gray, hue wrap-around, opposite hues."""
    pairs = [
        ((50, 0, 0), (50, 0, 0)),  # gray, identical
        ((20, 0, 0), (80, 0, 0)),  # gray, lightness only
        ((50, 0, 0), (60, 10, -10)),  # one chroma zero
        ((50, 10, -1), (50, 10, 1)),  # hues 354 and 6 degrees: wraps round 0
        ((50, -1, -10), (50, 1, -10)),  # near 270 degrees: rotation term
        ((50, 10, 0), (50, -10, 0)),  # hues exactly 180 degrees apart
        ((50, 10, 1), (50, -10, 0.5)),  # just under 180 apart
        ((50, 2.5, 0), (50, 0, -2.5)),  # Sharma et al. style small differences
        ((60, -30, 80), (40, 60, -90)),  # large everything
    ]
    true, pred = zip(*pairs, strict=True)
    return torch.tensor(pred, dtype=torch.float64), torch.tensor(true, dtype=torch.float64)


def test_delta_e2000_per_pixel_matches_skimage():
    # one pixel per "image", so the per-image mean is the per-pixel value
    random_pred = _random_lab(1, (40, 50), seed=2).flatten(2)[0].T  # (2000, 3)
    random_true = _random_lab(1, (40, 50), seed=3).flatten(2)[0].T
    edge_pred, edge_true = _edge_case_pairs()
    pred = torch.cat((random_pred.double(), edge_pred))
    true = torch.cat((random_true.double(), edge_true))
    reference = deltaE_ciede2000(true.numpy(), pred.numpy())
    as_images = (pred[:, :, None, None], true[:, :, None, None])
    value64 = metrics.delta_e2000(*as_images)
    np.testing.assert_allclose(value64.numpy(), reference, rtol=0, atol=1e-9)
    value32 = metrics.delta_e2000(*(x.float() for x in as_images))
    np.testing.assert_allclose(value32.numpy(), reference, rtol=0, atol=1e-3)
    assert torch.isfinite(value32).all()


def test_delta_e_random_images_match_skimage():
    pred, true = _random_lab(3, (12, 10), seed=4), _random_lab(3, (12, 10), seed=5)
    e76, e2000 = metrics.delta_e76(pred, true), metrics.delta_e2000(pred, true)
    for i in range(3):
        assert e76[i].item() == pytest.approx(
            deltaE_cie76(_hwc(true[i]), _hwc(pred[i])).mean(), abs=1e-3
        )
        assert e2000[i].item() == pytest.approx(
            deltaE_ciede2000(_hwc(true[i]), _hwc(pred[i])).mean(), abs=1e-3
        )


@pytest.mark.parametrize("grid", [10, 5, 25.0])
def test_ab_classification_random_matches_sklearn(grid):
    true = _random_lab(3, (20, 24), seed=6)[:, 1:]
    pred = true + 15.0 * torch.randn(true.shape, generator=torch.Generator().manual_seed(7))
    scores = metrics.ab_classification(pred, true, grid=grid)
    for i in range(3):
        reference = reference_metrics.ab_classification(pred[i].numpy(), true[i].numpy(), grid=grid)
        for name, value in reference.items():
            assert scores[name][i].item() == pytest.approx(value, abs=1e-6), name


def test_ab_classification_far_out_values_match_sklearn():
    # a few absurd predictions make the (image, class) table too big to count into directly
    true = _random_lab(2, (10, 10), seed=8)[:, 1:]
    pred = true.clone()
    pred[0, 0, 0, :3] = torch.tensor([1e6, -2e6, 3e5])
    pred[1, 1, 4, 4] = 9e6
    scores = metrics.ab_classification(pred, true)
    for i in range(2):
        reference = reference_metrics.ab_classification(pred[i].numpy(), true[i].numpy(), grid=10)
        for name, value in reference.items():
            assert scores[name][i].item() == pytest.approx(value, abs=1e-6), name


# ---------------------------------------------------------------------------------------------
# small cases worked out by hand


def test_colorfulness_by_hand():
    # two red and two black pixels: rg = (255, 255, 0, 0), yb = (127.5, 127.5, 0, 0)
    rgb = torch.zeros(1, 3, 2, 2)
    rgb[0, 0, 0, :] = 1.0
    # mean = std = 127.5 for rg and 63.75 for yb
    expected = 1.3 * np.hypot(127.5, 63.75)
    assert metrics.colorfulness(rgb).item() == pytest.approx(expected, rel=1e-6)
    assert metrics.colorfulness(torch.full((1, 3, 4, 4), 0.3)).item() == 0.0


def test_auc_by_hand():
    # ab errors 0, 0.5, 10 and 200 pass 151, 150 (t = 1..150), 141 (t = 10..150) and 0 thresholds
    ab_true = torch.zeros(1, 2, 2, 2)
    ab_pred = torch.zeros(1, 2, 2, 2)
    ab_pred[0, 0, 0, 1] = 0.5
    ab_pred[0, :, 1, 0] = torch.tensor([6.0, 8.0])
    ab_pred[0, 1, 1, 1] = -200.0
    expected = (151 + 150 + 141 + 0) / (4 * 151)
    assert metrics.auc_ab(ab_pred, ab_true).item() == pytest.approx(expected, rel=1e-6)


def test_ab_classification_by_hand():
    # true classes A, A, B, C and predicted A, B, B, D (grid 10):
    #   accuracy 2/4; per class (A, B, C, D) precision 1, 1/2, 0, 0; recall 1/2, 1, 0, 0;
    #   f1 2/3, 2/3, 0, 0; macro over the 4 classes present
    ab_true = torch.tensor([[[1.0, 3.0, 12.0, -5.0], [1.0, 2.0, 1.0, 1.0]]]).view(1, 2, 2, 2)
    ab_pred = torch.tensor([[[9.0, 15.0, 19.0, 35.0], [9.0, 0.0, 9.9, 1.0]]]).view(1, 2, 2, 2)
    scores = metrics.ab_classification(ab_pred, ab_true)
    expected = {"accuracy": 0.5, "precision": 1.5 / 4, "recall": 1.5 / 4, "f1": (4 / 3) / 4}
    for name, value in expected.items():
        assert scores[name].item() == pytest.approx(value, rel=1e-6), name


# ---------------------------------------------------------------------------------------------
# batching, dtype, device


def test_batch_equals_per_image(photo_lab):
    lightness, ab_true = split_lab(photo_lab)
    ab_pred = _predictions(ab_true)["desaturated"]
    prior = bin_prior(ab_true, ab_bins())  # shared, as evaluate() shares the split's prior
    batch = metrics.image_metrics(lightness, ab_pred, ab_true, prior)
    for i in range(N_PHOTOS):
        one = slice(i, i + 1)
        single = metrics.image_metrics(lightness[one], ab_pred[one], ab_true[one], prior)
        for key in KEYS:
            assert single[key].item() == pytest.approx(batch[key][i].item(), rel=1e-5, abs=1e-6)


def test_float64_agrees_with_float32(photo_lab):
    lightness, ab_true = split_lab(photo_lab)
    ab_pred = _predictions(ab_true)["blurred"]
    value32 = metrics.image_metrics(lightness, ab_pred, ab_true)
    value64 = metrics.image_metrics(lightness.double(), ab_pred.double(), ab_true.double())
    for key in KEYS:
        torch.testing.assert_close(value32[key], value64[key], rtol=1e-4, atol=1e-4, msg=key)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_agrees_with_cpu(photo_lab):
    lightness, ab_true = split_lab(photo_lab)
    ab_pred = _predictions(ab_true)["noisy"]
    on_cpu = metrics.image_metrics(lightness, ab_pred, ab_true)
    on_gpu = metrics.image_metrics(lightness.cuda(), ab_pred.cuda(), ab_true.cuda())
    for key in KEYS:
        torch.testing.assert_close(on_gpu[key], on_cpu[key], rtol=1e-4, atol=1e-5, msg=key)


# ---------------------------------------------------------------------------------------------
# image_metrics and METRICS


def test_image_metrics_on_photo_like_images(photo_pair):
    lab_pred, lab_true = photo_pair
    lightness, ab_true = split_lab(lab_true)
    ab_pred = lab_pred[:, 1:]
    values = metrics.image_metrics(lightness, ab_pred, ab_true)
    assert list(values) == KEYS
    for key, value in values.items():
        assert value.shape == (N_PHOTOS,), key
        assert value.dtype == torch.float64 and value.device.type == "cpu", key
        assert torch.isfinite(value).all(), key
    rgb_pred = lab_to_rgb(lab_pred)
    torch.testing.assert_close(
        values["ssim_rgb"], metrics.ssim_rgb(rgb_pred, lab_to_rgb(lab_true)).double()
    )
    torch.testing.assert_close(
        values["delta_e2000"], metrics.delta_e2000(lab_pred, lab_true).double()
    )
    torch.testing.assert_close(values["colorfulness_pred"], metrics.colorfulness(rgb_pred).double())
    gap = (values["colorfulness_pred"] - values["colorfulness_true"]).abs()
    torch.testing.assert_close(values["colorfulness_gap"], gap)
    # without a prior, the batch's own true ab make it
    prior = bin_prior(ab_true, ab_bins())
    expected = metrics.auc_ab_rebalanced(ab_pred, ab_true, prior).double()
    torch.testing.assert_close(values["auc_ab_rebalanced"], expected)


# the module docstring's tolerances, as pytest.approx arguments
TOLERANCE = {
    "mse_ab": {"rel": 1e-5},
    "psnr_ab": {"rel": 1e-4},
    "ssim_rgb": {"rel": 1e-4},
    "delta_e76": {"abs": 1e-3},
    "psnr_rgb": {"rel": 1e-4},
    "delta_e2000": {"abs": 1e-3},
    "colorfulness_pred": {"rel": 1e-4, "abs": 1e-4},
    "colorfulness_true": {"rel": 1e-4, "abs": 1e-4},
    "colorfulness_gap": {"rel": 1e-4, "abs": 2e-4},
    **{key: {"abs": 1e-6} for key in ("auc_ab", "accuracy", "precision", "recall", "f1")},
    "auc_ab_rebalanced": {"abs": 1e-5},
}


def test_image_metrics_equal_the_per_image_references(photo_pair):
    """All fifteen at once against reference_metrics (the per-image path the benchmark times)
    and, for the rebalanced AuC, whose prior spans the batch, against the numpy one here."""
    lab_pred, lab_true = photo_pair
    values = metrics.image_metrics(lab_true[:, :1], lab_pred[:, 1:], lab_true[:, 1:])
    assert set(TOLERANCE) == set(values)
    prior, bins = _split_prior(lab_true[:, 1:]), ab_bins().double().numpy()
    for i in range(N_PHOTOS):
        reference = reference_metrics.image_metrics(
            _hwc(lab_pred[i]), _hwc(lab_true[i]), prior, bins
        )
        assert reference["auc_ab_rebalanced"] == pytest.approx(
            _auc_rebalanced_reference(lab_pred[i, 1:].numpy(), lab_true[i, 1:].numpy(), prior),
            abs=1e-9,
        )
        for key, value in reference.items():
            assert values[key][i].item() == pytest.approx(value, **TOLERANCE[key]), key


def test_metrics_table():
    assert list(metrics.METRICS) == KEYS
    families = {key: info.family for key, info in metrics.METRICS.items()}
    assert [k for k, f in families.items() if f == "seed"] == KEYS[:4]
    assert [k for k, f in families.items() if f == "classification"] == KEYS[-4:]
    assert set(families.values()) == {"seed", "standard", "classification"}
    no_direction = [k for k, info in metrics.METRICS.items() if info.higher_is_better is None]
    assert no_direction == ["colorfulness_pred", "colorfulness_true"]
    assert metrics.METRICS["auc_ab_rebalanced"].higher_is_better is True
    assert set(metrics.SPLIT_METRICS) == {"ab_js_divergence"}
    assert not set(metrics.SPLIT_METRICS) & set(metrics.METRICS)
    assert metrics.SPLIT_METRICS["ab_js_divergence"].higher_is_better is False
    info = metrics.METRICS["psnr_ab"]
    assert info.higher_is_better is True and info.definition and info.name
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.family = "standard"
    with pytest.raises(TypeError):
        metrics.METRICS["new"] = info
