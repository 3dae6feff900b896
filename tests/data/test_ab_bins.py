"""colorize_core.data.ab_bins against scikit-image, SciPy and numpy, computed here.

The bin set is checked against the rule recomputed independently (scikit-image's rgb2lab of the
sRGB cube's faces, SciPy's Chebyshev k-d tree); nearest bins against a float64 k-d tree, with
distances compared rather than indices so that float32 near-ties cannot fail the test.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial import cKDTree
from scipy.spatial.distance import cdist
from scipy.special import softmax
from skimage.color import rgb2lab

from colorize_core.data.ab_bins import (
    ab_bins,
    bin_prior,
    decode_annealed,
    decode_mode,
    decode_unsure,
    nearest_bins,
    rebalance_weights,
    soft_encode,
    soft_encode_sparse,
)
from colorize_core.data.color import rgb_to_lab

GRID = 10.0


@pytest.fixture(scope="module")
def bins() -> torch.Tensor:
    return ab_bins()


@pytest.fixture(scope="module")
def photo_ab(synthetic_rgb) -> torch.Tensor:
    """(4, 2, 128, 128) float32 ab of synthetic photos (8-bit sRGB, so all in gamut)."""
    rgb = torch.from_numpy(synthetic_rgb[:4].astype(np.float32) / 255.0).permute(0, 3, 1, 2)
    return rgb_to_lab(rgb.contiguous())[:, 1:].contiguous()


def _random_ab(shape: tuple[int, ...], scale: float, seed: int) -> torch.Tensor:
    return scale * (2 * torch.rand(shape, generator=torch.Generator().manual_seed(seed)) - 1)


def _rows(ab: torch.Tensor) -> np.ndarray:
    """(N, 2, H, W) -> (N H W, 2) float64 numpy, pixels in (image, row, column) order."""
    return ab.permute(0, 2, 3, 1).reshape(-1, 2).double().numpy()


def _skimage_surface_ab() -> np.ndarray:
    """ab (float64) of the 8-bit colours on the six faces of the sRGB cube, by scikit-image."""
    values = np.arange(256) / 255.0
    u, v = np.meshgrid(values, values, indexing="ij")
    faces = [
        np.stack([u, v][:axis] + [np.full_like(u, side)] + [u, v][axis:], axis=-1)
        for axis in range(3)
        for side in (0.0, 1.0)
    ]
    return rgb2lab(np.concatenate(faces))[..., 1:].reshape(-1, 2)


# ---------------------------------------------------------------------------------------------
# the bins


def test_bins_are_sorted_multiples_of_the_grid(bins):
    assert bins.dtype == torch.float32 and bins.shape == (309, 2)
    cells = (bins / GRID).round()
    torch.testing.assert_close(cells * GRID, bins, rtol=0, atol=0)
    keys = [tuple(c) for c in cells.long().tolist()]
    assert keys == sorted(set(keys))  # sorted by a then b, no repeats
    # the displayable range: green to magenta in a, blue to yellow in b
    assert bins[:, 0].min() == -90 and bins[:, 0].max() == 100
    assert bins[:, 1].min() == -110 and bins[:, 1].max() == 100


@pytest.mark.parametrize(
    ("centre", "kept"),
    [
        ((0, 0), True),  # gray
        ((20, 20), True),  # skin
        ((-80, 80), True),  # green
        ((90, -60), True),  # magenta
        ((100, -110), False),
        ((-100, 0), False),
        ((0, -120), False),
        ((110, 0), False),
        ((-90, -50), False),  # no saturated cyan-blue that far
    ],
)
def test_known_centres_in_and_out(bins, centre, kept):
    assert (tuple(float(c) for c in centre) in {tuple(b) for b in bins.tolist()}) == kept


def test_bins_equal_the_rule_recomputed_with_scikit_image(bins):
    """Kept = the lattice points within less than one grid step (in a and in b) of an sRGB ab."""
    tree = cKDTree(_skimage_surface_ab())
    axis = np.arange(-150, 151, GRID)
    lattice = np.stack(np.meshgrid(axis, axis, indexing="ij"), axis=-1).reshape(-1, 2)
    distance, _ = tree.query(lattice, p=np.inf)
    expected = {tuple(p) for p in lattice[distance < GRID].tolist()}
    assert {tuple(b) for b in bins.double().tolist()} == expected


def test_every_8bit_colour_lies_in_a_square_of_four_bins(bins):
    # interior colours too, not only the faces the bins were computed from
    rgb = np.random.default_rng(0).integers(0, 256, size=(200_000, 3)) / 255.0
    ab = rgb2lab(rgb)[:, 1:] / GRID
    kept = {tuple(b) for b in (bins / GRID).long().tolist()}
    for round_a in (np.floor, np.ceil):
        for round_b in (np.floor, np.ceil):
            corners = np.stack((round_a(ab[:, 0]), round_b(ab[:, 1])), axis=1).astype(int)
            assert {tuple(c) for c in corners.tolist()} <= kept


def test_other_grids_and_caching():
    coarse = ab_bins(20)
    assert 0 < len(coarse) < 309 and (coarse % 20 == 0).all()
    assert len(ab_bins(5.0)) > 309
    first = ab_bins()
    first[0] = 1e6  # a copy: the cached set is untouched
    assert ab_bins()[0, 0] == -90
    with pytest.raises(ValueError, match="grid"):
        ab_bins(0)


# ---------------------------------------------------------------------------------------------
# nearest bins and the soft encoding


def _assert_nearest(index: torch.Tensor, ab: torch.Tensor, bins: torch.Tensor) -> None:
    points, centres = _rows(ab), bins.double().numpy()
    best, _ = cKDTree(centres).query(points)
    chosen = np.linalg.norm(points - centres[index.flatten().numpy()], axis=1)
    np.testing.assert_allclose(chosen, best, rtol=0, atol=1e-3)


@pytest.mark.parametrize("scale", [None, 60.0, 400.0])
def test_nearest_bins_match_a_kdtree(bins, photo_ab, scale):
    # 8-bit photos (all in gamut: the lattice lookup), then random ab partly or mostly out of
    # gamut (the exhaustive search for the rest)
    ab = photo_ab if scale is None else _random_ab((3, 2, 17, 23), scale, seed=1)
    index = nearest_bins(ab, bins)
    assert index.shape == (len(ab), *ab.shape[2:]) and index.dtype == torch.int64
    _assert_nearest(index, ab, bins)


def test_nearest_bins_of_scattered_bins_and_float64():
    scattered = _random_ab((40, 2), 100.0, seed=2)
    ab = _random_ab((2, 2, 9, 11), 120.0, seed=3)
    _assert_nearest(nearest_bins(ab, scattered), ab, scattered)
    _assert_nearest(nearest_bins(ab.double(), scattered), ab, scattered)


def test_nearest_bins_of_centres_are_themselves(bins):
    centres = bins.T.reshape(1, 2, 1, -1)
    assert (nearest_bins(centres, bins).flatten() == torch.arange(len(bins))).all()


def test_ties_go_to_the_lowest_index(bins, synthetic_rgb):
    # float16 Lab (the data cache's dtype) puts many pixels exactly between two centres
    lab16 = rgb_to_lab(torch.from_numpy(synthetic_rgb[:2] / 255.0).permute(0, 3, 1, 2)).half()
    ab = lab16[:, 1:].float()
    expected = cdist(_rows(ab), bins.double().numpy()).argmin(axis=1)  # first of equals
    np.testing.assert_array_equal(nearest_bins(ab, bins).flatten().numpy(), expected)
    position = {tuple(b): i for i, b in enumerate(bins.tolist())}
    ties = torch.tensor([[5.0, 0.0], [5.0, 5.0], [-15.0, 25.0]]).T.reshape(1, 2, 1, 3)
    lowest = [position[(0.0, 0.0)], position[(0.0, 0.0)], position[(-20.0, 20.0)]]
    assert nearest_bins(ties, bins).flatten().tolist() == lowest
    # the exhaustive search (scattered bins: shuffled, plus one off the lattice) breaks ties
    # the same way
    order = torch.randperm(len(bins), generator=torch.Generator().manual_seed(0))
    scattered = torch.cat((bins[order], torch.tensor([[1000.5, 3.0]])))
    first = cdist(_rows(ties), scattered.double().numpy()).argmin(axis=1)
    np.testing.assert_array_equal(nearest_bins(ties, scattered).flatten().numpy(), first)
    assert scattered[first].tolist() != bins[lowest].tolist()  # the order did matter


def _soft_encode_reference(ab: torch.Tensor, bins: torch.Tensor, k: int, sigma: float):
    """(P, Q) float64: per pixel, Gaussian weights on the k nearest centres, normalised."""
    distance = cdist(_rows(ab), bins.double().numpy())
    nearest = np.argsort(distance, axis=1)[:, :k]
    weights = np.exp(-(np.take_along_axis(distance, nearest, 1) ** 2) / (2 * sigma**2))
    encoded = np.zeros_like(distance)
    np.put_along_axis(encoded, nearest, weights / weights.sum(1, keepdims=True), axis=1)
    return encoded


@pytest.mark.parametrize(("k", "sigma"), [(5, 5.0), (1, 5.0), (3, 12.0)])
def test_soft_encode_matches_numpy(bins, photo_ab, k, sigma):
    ab = torch.cat((photo_ab[:1, :, :6, :7], _random_ab((1, 2, 6, 7), 110.0, seed=4)))
    encoded = soft_encode(ab, bins, k=k, sigma=sigma)
    assert encoded.shape == (2, len(bins), 6, 7) and encoded.dtype == torch.float32
    as_rows = encoded.permute(0, 2, 3, 1).reshape(-1, len(bins)).double().numpy()
    np.testing.assert_allclose(as_rows, _soft_encode_reference(ab, bins, k, sigma), atol=1e-5)
    torch.testing.assert_close(encoded.sum(dim=1), torch.ones(2, 6, 7))
    assert ((encoded > 0).sum(dim=1) == k).all()


def test_soft_encode_of_far_off_colours_stays_a_distribution(bins):
    ab = torch.tensor([500.0, -800.0]).view(1, 2, 1, 1)
    encoded = soft_encode(ab, bins)
    assert torch.isfinite(encoded).all()
    assert encoded.sum().item() == pytest.approx(1.0)


def test_bad_input_raises(bins):
    with pytest.raises(ValueError, match=r"\(N, 2, H, W\)"):
        nearest_bins(torch.zeros(1, 3, 2, 2), bins)
    with pytest.raises(ValueError, match="NaN"):
        nearest_bins(torch.full((1, 2, 2, 2), float("nan")), bins)
    with pytest.raises(TypeError, match="float"):
        soft_encode(torch.zeros(1, 2, 2, 2, dtype=torch.long), bins)
    with pytest.raises(ValueError, match=r"\(Q, 2\)"):
        nearest_bins(torch.zeros(1, 2, 2, 2), bins.T)
    with pytest.raises(ValueError, match="k must"):
        soft_encode(torch.zeros(1, 2, 2, 2), bins, k=0)
    with pytest.raises(ValueError, match="sigma"):
        soft_encode(torch.zeros(1, 2, 2, 2), bins, sigma=0)


# ---------------------------------------------------------------------------------------------
# prior and rebalancing


def test_bin_prior_matches_numpy_and_accepts_batches(bins, photo_ab):
    prior = bin_prior(photo_ab, bins)
    assert prior.dtype == torch.float64 and prior.shape == (len(bins),)
    index = cdist(_rows(photo_ab), bins.double().numpy()).argmin(axis=1)
    expected = np.bincount(index, minlength=len(bins)) / index.size
    np.testing.assert_allclose(prior.numpy(), expected, rtol=0, atol=1e-9)
    torch.testing.assert_close(bin_prior(iter(photo_ab.split(1)), bins), prior)
    with pytest.raises(ValueError, match="at least one pixel"):
        bin_prior([], bins)


def _smoothed(prior: np.ndarray, centres: np.ndarray, sigma: float) -> np.ndarray:
    kernel = np.exp(-cdist(centres, centres, "sqeuclidean") / (2 * sigma**2))
    smooth = kernel @ prior
    return smooth / smooth.sum()


@pytest.mark.parametrize(("sigma", "lam"), [(5.0, 0.5), (10.0, 0.2)])
def test_rebalance_weights_match_numpy(bins, photo_ab, sigma, lam):
    prior = bin_prior(photo_ab, bins).numpy()
    weights = rebalance_weights(torch.from_numpy(prior), bins, sigma=sigma, lam=lam).numpy()
    smooth = _smoothed(prior, bins.double().numpy(), sigma)
    expected = 1 / ((1 - lam) * smooth + lam / len(bins))
    np.testing.assert_allclose(weights, expected / (smooth @ expected), rtol=1e-10)
    # expected weight 1 under the smoothed prior; the rarer the bin, the larger its weight
    assert smooth @ weights == pytest.approx(1.0)
    assert (np.diff(weights[np.argsort(smooth)]) <= 1e-12).all()
    assert weights[smooth.argmax()] < 1 < weights[smooth.argmin()]


def test_rebalance_weights_without_rebalancing_are_ones(bins, photo_ab):
    weights = rebalance_weights(bin_prior(photo_ab, bins), bins, lam=1.0)
    torch.testing.assert_close(weights, torch.ones(len(bins), dtype=torch.float64))
    with pytest.raises(ValueError, match="lam"):
        rebalance_weights(bin_prior(photo_ab, bins), bins, lam=1.5)
    # no uniform mix: fine while the smoothed prior covers every bin, an error where it cannot
    smooth = _smoothed(bin_prior(photo_ab, bins).numpy(), bins.double().numpy(), 5.0)
    weights = rebalance_weights(bin_prior(photo_ab, bins), bins, lam=0.0).numpy()
    np.testing.assert_allclose(weights, 1 / smooth / (smooth @ (1 / smooth)), rtol=1e-10)
    one_bin = torch.zeros(len(bins), dtype=torch.float64)
    one_bin[0] = 1.0  # (-90, 50): exp(-d^2 / 50) underflows for the far side of the gamut
    with pytest.raises(ValueError, match="smoothed prior is 0"):
        rebalance_weights(one_bin, bins, lam=0.0)
    with pytest.raises(ValueError, match="non-negative"):
        rebalance_weights(-torch.ones(len(bins)), bins)


# ---------------------------------------------------------------------------------------------
# decoding


def _logits(bins: torch.Tensor, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return 3.0 * torch.randn((2, len(bins), 4, 5), generator=gen)


def _weighted_centres(probabilities: np.ndarray, bins: torch.Tensor) -> np.ndarray:
    return np.einsum("nqhw,qc->nchw", probabilities, bins.double().numpy())


def test_temperature_one_is_the_mean(bins):
    logits = _logits(bins, seed=5)
    expected = _weighted_centres(softmax(logits.double().numpy(), axis=1), bins)
    decoded = decode_annealed(logits, bins, temperature=1.0)
    assert decoded.shape == (2, 2, 4, 5) and decoded.dtype == torch.float32
    np.testing.assert_allclose(decoded.numpy(), expected, atol=1e-4)


def test_annealed_mean_matches_numpy_and_tends_to_the_mode(bins):
    logits = _logits(bins, seed=6)
    tempered = softmax(logits.double().numpy() / 0.38, axis=1)
    np.testing.assert_allclose(
        decode_annealed(logits, bins).numpy(), _weighted_centres(tempered, bins), atol=1e-4
    )
    mode = bins.numpy()[logits.argmax(dim=1).numpy()].transpose(0, 3, 1, 2)
    np.testing.assert_array_equal(decode_mode(logits, bins).numpy(), mode)
    np.testing.assert_array_equal(decode_annealed(logits, bins, temperature=0).numpy(), mode)
    # a clear winner by 1 logit: at T = 0.01 the others weigh e^-100
    peaked = logits.clone()
    peaked.scatter_(1, logits.argmax(dim=1, keepdim=True), logits.amax(dim=1, keepdim=True) + 1)
    np.testing.assert_allclose(decode_annealed(peaked, bins, 0.01).numpy(), mode, atol=1e-3)


@pytest.mark.parametrize("temperature", [0.0, 0.05, 0.38, 1.0, 10.0])
def test_decoded_ab_stays_within_the_bins(bins, temperature):
    decoded = decode_annealed(_logits(bins, seed=7), bins, temperature)
    for channel in range(2):
        values = decoded[:, channel]
        assert values.min() >= bins[:, channel].min() - 1e-4
        assert values.max() <= bins[:, channel].max() + 1e-4


def test_decode_bad_input_raises(bins):
    with pytest.raises(ValueError, match="temperature"):
        decode_annealed(_logits(bins, seed=8), bins, temperature=-1)
    with pytest.raises(ValueError, match=r"\(N, Q = 309, H, W\)"):
        decode_annealed(torch.zeros(1, 313, 2, 2), bins)


def test_unsure_decoding_matches_a_pixel_by_pixel_reference(bins):
    """Each pixel at its own temperature: T + (1 - T) min(e / e_unsure, 1), e the normalised
    entropy of softmax(logits), recomputed one pixel at a time with scipy."""
    logits = _logits(bins, seed=9) * torch.linspace(0.2, 3, 5)  # sure and unsure pixels
    decoded = decode_unsure(logits, bins, temperature=0.3, unsure_entropy=0.6)
    raw = logits.double().numpy()
    expected = np.empty(decoded.shape)
    temperatures = []
    for n, y, x in np.ndindex(raw.shape[0], *raw.shape[2:]):
        p = softmax(raw[n, :, y, x])
        entropy = -(p * np.log(p)).sum() / np.log(len(p))
        t = 0.3 + 0.7 * min(entropy / 0.6, 1.0)
        temperatures.append(t)
        expected[n, :, y, x] = softmax(raw[n, :, y, x] / t) @ bins.double().numpy()
    assert min(temperatures) < 0.9 and max(temperatures) == 1.0  # both regimes are exercised
    np.testing.assert_allclose(decoded.numpy(), expected, atol=1e-4)


def test_unsure_decoding_spans_the_annealed_mean_and_the_mean(bins):
    logits = _logits(bins, seed=10)
    # every pixel is "unsure" past an entropy of 1e-6: all at T = 1, the mean
    mean = decode_unsure(logits, bins, temperature=0.2, unsure_entropy=1e-6)
    np.testing.assert_allclose(mean.numpy(), decode_annealed(logits, bins, 1.0).numpy(), atol=1e-4)
    # at T = 1 the entropy changes nothing
    same = decode_unsure(logits, bins, temperature=1.0, unsure_entropy=0.5)
    np.testing.assert_allclose(same.numpy(), mean.numpy(), atol=1e-4)
    for temperature, unsure in ((0.0, 0.5), (0.3, 0.0), (0.3, 1.5)):
        with pytest.raises(ValueError, match="unsure_entropy must lie in"):
            decode_unsure(logits, bins, temperature, unsure)


def test_sparse_soft_encoding_is_the_dense_one_nearest_first():
    ab = 60.0 * torch.randn(2, 2, 5, 7, generator=torch.Generator().manual_seed(3))
    bins = ab_bins()
    index, weights = soft_encode_sparse(ab, bins, k=5, sigma=5.0)
    assert index.shape == weights.shape == (2, 5, 5, 7)
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(2, 5, 7))
    dense = torch.zeros(2, len(bins), 5, 7).scatter_(1, index, weights)
    torch.testing.assert_close(dense, soft_encode(ab, bins, k=5, sigma=5.0))
    distance = (ab.unsqueeze(1) - bins[index].permute(0, 1, 4, 2, 3)).norm(dim=2)  # (N, k, H, W)
    assert (distance.diff(dim=1) >= -1e-4).all()  # nearest first
