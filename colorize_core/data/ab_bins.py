"""Quantised ab for classification colourisation (Zhang, Isola & Efros, ECCV 2016).

The ab plane is cut into a grid of ``grid`` Lab units and only the bins that displayable colours
need are kept; a model predicts a distribution over those Q bins per pixel. Pure functions on
tensors, everything in Lab units:

    ab       (N, 2, H, W) a, b in Lab units
    bins     (Q, 2) bin centres (a, b), from ``ab_bins``
    logits   (N, Q, H, W) unnormalised scores over the bins

``soft_encode`` makes the training target (5 nearest bins, Gaussian weights), ``bin_prior`` and
``rebalance_weights`` the class-rebalancing weights of the loss, ``decode_annealed`` turns
predicted scores back into ab (the paper's annealed mean, T = 0.38).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable

import torch

from colorize_core.data.color import rgb_to_lab

# sRGB cube faces are sampled at the 8-bit values: ab moves at most about 1.2 Lab units between
# neighbouring samples, far below the grid, and 4x finer sampling keeps the same 309 bins.
_FACE_STEPS = 256
# pixels per distance table in the brute-force nearest-bin search: 2^16 x 309 float32 is 81 MB
_CHUNK = 2**16
# largest lattice lookup table (int64 entries, 32 MB) before nearest_bins searches exhaustively
_MAX_LATTICE = 2**22
# Zhang et al.'s annealed-mean temperature: the default of the heads, the configs and decoding
PAPER_TEMPERATURE = 0.38


def _check_ab(ab: torch.Tensor, name: str = "ab") -> None:
    if not isinstance(ab, torch.Tensor) or not ab.is_floating_point():
        raise TypeError(f"{name} must be a float torch.Tensor")
    if ab.dim() != 4 or ab.shape[1] != 2:
        raise ValueError(f"{name} must have shape (N, 2, H, W), got {tuple(ab.shape)}")
    if not torch.isfinite(ab).all():
        raise ValueError(f"{name} contains NaN or inf")


def _check_bins(bins: torch.Tensor) -> None:
    if bins.dim() != 2 or bins.shape[1] != 2 or len(bins) == 0:
        raise ValueError(f"bins must have shape (Q, 2) with Q >= 1, got {tuple(bins.shape)}")


def _pixels(ab: torch.Tensor) -> torch.Tensor:
    # (N, 2, H, W) -> (N H W, 2), pixels in (image, row, column) order
    return ab.permute(0, 2, 3, 1).reshape(-1, 2)


# ---------------------------------------------------------------------------------------------
# the bins


def _srgb_surface_ab() -> torch.Tensor:
    """(6 x 256^2, 2) float64 ab of the six faces of the sRGB cube, sampled at 8-bit values.

    Every displayable ab is the ab of some colour on the cube's surface: the Lab colours sharing
    one ab form an unbounded curve in linear RGB, so a curve that enters the cube leaves it
    through a face.
    """
    values = torch.linspace(0.0, 1.0, _FACE_STEPS, dtype=torch.float64)
    u, v = torch.meshgrid(values, values, indexing="ij")
    faces = []
    for axis in range(3):
        for side in (0.0, 1.0):
            channels = [u, v]
            channels.insert(axis, torch.full_like(u, side))
            faces.append(torch.stack(channels))
    return _pixels(rgb_to_lab(torch.stack(faces))[:, 1:])


@functools.lru_cache(maxsize=8)
def _gamut_bins(grid: float) -> torch.Tensor:
    with torch.device("cpu"):  # cached: never on the meta device a model may be sized on
        return _gamut_lattice(grid)


def _gamut_lattice(grid: float) -> torch.Tensor:
    scaled = _srgb_surface_ab() / grid
    # the grid points within less than one grid step of a colour in a and b: floor and ceil of
    # each coordinate (one point where a coordinate is an exact multiple of the grid)
    lattice = torch.cat(
        [
            torch.stack((round_a(scaled[:, 0]), round_b(scaled[:, 1])), dim=1).long()
            for round_a in (torch.floor, torch.ceil)
            for round_b in (torch.floor, torch.ceil)
        ]
    )
    low = lattice.min(dim=0).values
    lattice -= low
    occupied = torch.zeros(*(lattice.max(dim=0).values + 1).tolist(), dtype=torch.bool)
    occupied[lattice[:, 0], lattice[:, 1]] = True
    # nonzero() walks the table row by row: centres sorted by a, then b
    return ((occupied.nonzero() + low) * grid).float()


def ab_bins(grid: float = 10.0) -> torch.Tensor:
    """The in-gamut ab bin centres, (Q, 2) float32 (a, b) in Lab units, sorted by a then b.

    Centres are the multiples of ``grid`` in a and b. One is kept when some sRGB colour (at any
    L in [0, 100]) has an ab within less than ``grid`` of it in both a and b: the centre is a
    corner of the grid square holding a displayable colour. So every in-gamut ab lies in a
    square whose four corners are all bins: its nearest bins surround it and an annealed mean
    of bins can reach it. ``grid = 10`` gives Q = 309, all among Zhang et al.'s 313 (their other
    4 lie about 11-13 Lab units from any sRGB ab). Keeping only the bins that in-gamut colours
    round to would give 261; only centres that are themselves in gamut, 229.

    Computed from the 8-bit samples of the sRGB cube's faces (about 1 s on two CPU cores) and
    cached per ``grid``; each call returns a fresh copy. ``grid`` in Lab units, 2 or more (the
    samples' ab lie at most about 1.2 apart).
    """
    if not grid > 0:
        raise ValueError(f"grid must be positive, got {grid}")
    return _gamut_bins(float(grid)).clone()


# ---------------------------------------------------------------------------------------------
# encoding


def _lattice_table(bins: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
    """(origin (2,), step (2,), table of bin indices, -1 where none) if the bins lie on a
    rectangular lattice (``ab_bins`` do), else None."""
    steps = []
    for axis in range(2):
        gaps = bins[:, axis].unique().diff()
        steps.append(gaps.min() if len(gaps) else bins.new_tensor(1.0))
    origin, step = bins.min(dim=0).values, torch.stack(steps)
    position = (bins - origin) / step
    cell = position.round()
    if not torch.allclose(position, cell, rtol=0.0, atol=1e-4):
        return None
    shape = (cell.max(dim=0).values + 1).long().tolist()
    if shape[0] * shape[1] > _MAX_LATTICE:
        return None
    cell = cell.long()
    table = torch.full(shape, -1, dtype=torch.long, device=bins.device)
    table[cell[:, 0], cell[:, 1]] = torch.arange(len(bins), device=bins.device)
    return origin, step, table


def _brute_force_nearest(points: torch.Tensor, bins: torch.Tensor) -> torch.Tensor:
    # exact differences, not the matrix-product shortcut, so that equal distances tie exactly
    # and argmin takes the first (lowest-index) bin
    return torch.cat(
        [
            torch.cdist(chunk, bins, compute_mode="donot_use_mm_for_euclid_dist").argmin(dim=1)
            for chunk in points.split(_CHUNK)
        ]
    )


def nearest_bins(ab: torch.Tensor, bins: torch.Tensor) -> torch.Tensor:
    """Index of the nearest bin centre (Euclidean in ab) of every pixel, (N, H, W) int64.

    ab (N, 2, H, W) in Lab units, finite; bins (Q, 2). On a lattice (``ab_bins``) the nearest
    lattice point is found by rounding, and is the answer whenever it is a bin (every in-gamut
    ab); the other pixels, and all pixels for scattered bins, are searched exhaustively. A pixel
    equally far from several centres (common for float16 data, e.g. a = 5.0) gets the lowest
    index, as ``argmin`` over exact distances would give.
    """
    _check_ab(ab)
    _check_bins(bins)
    bins = bins.to(ab.device, ab.dtype)
    index = torch.full((ab.shape[0], *ab.shape[2:]), -1, dtype=torch.long, device=ab.device)
    lattice = _lattice_table(bins)
    if lattice is not None:
        origin, step, table = lattice
        inside, flat = True, 0
        for axis, size in enumerate(table.shape):
            # per channel on (N, H, W) views: no (pixels, 2) copy; clamped before the int cast
            # rounding half down: a tie goes to the lower a (then b), i.e. the lower index
            cell = ((ab[:, axis] - origin[axis]) / step[axis] - 0.5).ceil_().clamp_(-1, size).long()
            inside = inside & (cell >= 0) & (cell < size)
            flat = flat * size + cell
        found = table.flatten()[flat.clamp_(0, table.numel() - 1)]
        index = torch.where(inside, found, index)
    missing = index < 0
    if missing.any():
        index[missing] = _brute_force_nearest(_pixels(ab)[missing.flatten()], bins)
    return index


def soft_encode_sparse(
    ab: torch.Tensor, bins: torch.Tensor, k: int = 5, sigma: float = 5.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """The soft target's k non-zero entries per pixel: bin indices (N, k, H, W) int64, nearest
    first, and their weights (N, k, H, W), which sum to 1 per pixel.

    Weights ``exp(-d^2 / (2 sigma^2))`` of the distance d to each of the k nearest centres,
    normalised; Zhang et al. use k = 5, sigma = 5 Lab units. ab (N, 2, H, W) in Lab units,
    finite; bins (Q, 2); weights in the dtype and on the device of ``ab``. The largest
    intermediate is the (N H W, Q) distance table. A loss needs only these k entries, not the
    dense (N, Q, H, W) target of ``soft_encode``.
    """
    _check_ab(ab)
    _check_bins(bins)
    if not 1 <= k <= len(bins):
        raise ValueError(f"k must be in [1, Q = {len(bins)}], got {k}")
    if not sigma > 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    n, _, height, width = ab.shape
    bins = bins.to(ab.device, ab.dtype)
    points = _pixels(ab)  # (P, 2)
    index = torch.cdist(points, bins).topk(k, dim=1, largest=False).indices  # (P, k)
    # exact squared distances to the k chosen centres; softmax normalises without underflow
    squared = ((points.unsqueeze(1) - bins[index]) ** 2).sum(dim=-1)
    weights = torch.softmax(-squared / (2 * sigma**2), dim=1)

    def to_image(values: torch.Tensor) -> torch.Tensor:  # (P, k) -> (N, k, H, W)
        return values.view(n, height, width, k).permute(0, 3, 1, 2)

    return to_image(index), to_image(weights)


def soft_encode(
    ab: torch.Tensor, bins: torch.Tensor, k: int = 5, sigma: float = 5.0
) -> torch.Tensor:
    """Soft one-hot target: each pixel's ab spread over its k nearest bins, (N, Q, H, W).

    ``soft_encode_sparse`` scattered into all Q bins: the other Q - k entries are 0. Output in
    the dtype and on the device of ``ab``.
    """
    index, weights = soft_encode_sparse(ab, bins, k, sigma)
    n, _, height, width = ab.shape
    return ab.new_zeros(n, len(bins), height, width).scatter_(1, index, weights)


# ---------------------------------------------------------------------------------------------
# class rebalancing


def bin_prior(ab: torch.Tensor | Iterable[torch.Tensor], bins: torch.Tensor) -> torch.Tensor:
    """Empirical distribution of the nearest bin over all pixels, (Q,) float64 on the CPU.

    ab: one (N, 2, H, W) batch in Lab units or an iterable of them (e.g. a whole split, batch by
    batch). Sums to 1; bins no pixel falls in get 0.
    """
    batches = [ab] if isinstance(ab, torch.Tensor) else ab
    counts = torch.zeros(len(bins), dtype=torch.float64)
    for batch in batches:
        index = nearest_bins(batch, bins).flatten()
        counts += torch.bincount(index, minlength=len(bins)).cpu().double()
    if counts.sum() == 0:
        raise ValueError("bin_prior needs at least one pixel")
    return counts / counts.sum()


def rebalance_weights(
    prior: torch.Tensor, bins: torch.Tensor, sigma: float = 5.0, lam: float = 0.5
) -> torch.Tensor:
    """Zhang et al.'s class-rebalancing weight of each bin, (Q,) float64.

    The prior is smoothed over the ab plane, ``p~_q proportional to sum_r p_r exp(-|c_q - c_r|^2
    / (2 sigma^2))`` (a Gaussian kernel density of the prior at the centres c, renormalised over
    the bins), mixed with the uniform distribution and inverted:
    ``w_q proportional to 1 / ((1 - lam) p~_q + lam / Q)``, scaled so that the expected weight
    ``sum_q p~_q w_q`` is 1. Rare colours get weights above 1, common ones below; ``lam = 1``
    gives all ones. prior (Q,) non-negative with a positive sum (``bin_prior``); sigma in Lab
    units (paper: 5); lam in [0, 1] (paper: 0.5; 0 needs a smoothed prior that is positive in
    every bin, else ValueError, since an unseen colour's weight would be infinite).
    """
    _check_bins(bins)
    prior = torch.as_tensor(prior, dtype=torch.float64).cpu()
    if prior.shape != (len(bins),) or not (prior >= 0).all() or not prior.sum() > 0:
        raise ValueError(f"prior must be ({len(bins)},) non-negative with a positive sum")
    if not sigma > 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    if not 0 <= lam <= 1:
        raise ValueError(f"lam must be in [0, 1], got {lam}")
    centres = bins.detach().cpu().double()
    kernel = torch.exp(-(torch.cdist(centres, centres) ** 2) / (2 * sigma**2))
    smooth = kernel @ prior
    smooth = smooth / smooth.sum()
    mixed = (1 - lam) * smooth + lam / len(prior)
    if not (mixed > 0).all():
        raise ValueError("the smoothed prior is 0 in some bins: use lam > 0 or a larger sigma")
    weights = 1.0 / mixed
    return weights / (smooth * weights).sum()


# ---------------------------------------------------------------------------------------------
# decoding


def decode_mode(logits: torch.Tensor, bins: torch.Tensor) -> torch.Tensor:
    """The centre of the highest-scoring bin per pixel, (N, 2, H, W) in Lab units."""
    _check_logits(logits, bins)
    return bins.to(logits.device, logits.dtype)[logits.argmax(dim=1)].permute(0, 3, 1, 2)


def decode_annealed(
    logits: torch.Tensor, bins: torch.Tensor, temperature: float = PAPER_TEMPERATURE
) -> torch.Tensor:
    """Annealed mean of the predicted distribution, (N, 2, H, W) in Lab units.

    ``sum_q softmax(logits / T)_q c_q`` over the centres c: T = 1 is the mean of the predicted
    distribution (desaturated where it is multimodal), T -> 0 tends to the mode (vivid but
    patchy); the paper's T = 0.38 sits between. ``temperature = 0`` returns ``decode_mode``.
    logits (N, Q, H, W); bins (Q, 2). Being a convex combination of centres, the output stays
    within the bins' range in a and in b.
    """
    _check_logits(logits, bins)
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if temperature == 0:
        return decode_mode(logits, bins)
    probabilities = torch.softmax(logits / temperature, dim=1)
    return torch.einsum("nqhw,qc->nchw", probabilities, bins.to(logits.device, logits.dtype))


def decode_unsure(
    logits: torch.Tensor, bins: torch.Tensor, temperature: float, unsure_entropy: float
) -> torch.Tensor:
    """The annealed mean with a temperature per pixel, (N, 2, H, W) in Lab units: vivid where
    the predicted distribution is sure, restrained where it is spread over several colours.

    A pixel's normalised entropy e (that of ``softmax(logits)``, in [0, 1]; 0 is one bin, 1 all
    bins alike) sets its temperature ``temperature + (1 - temperature) * min(e / unsure_entropy,
    1)``: ``temperature`` for a certain pixel, rising linearly to 1 (the mean) from
    ``unsure_entropy`` up. Where the colour is ambiguous (a car, a shirt), the mean is a muted
    compromise of the likely hues, which a pixel metric and the eye forgive more than a bold
    wrong hue; where it is not (sky, grass, skin), the colour stays vivid.
    """
    _check_logits(logits, bins)
    if not 0 < temperature <= 1 or not 0 < unsure_entropy <= 1:
        raise ValueError(
            "temperature and unsure_entropy must lie in (0, 1], got "
            f"{temperature} and {unsure_entropy}"
        )
    log_p = torch.log_softmax(logits, dim=1)
    entropy = -(log_p.exp() * log_p).sum(dim=1, keepdim=True) / math.log(len(bins))
    per_pixel = temperature + (1 - temperature) * (entropy / unsure_entropy).clamp(max=1)
    probabilities = torch.softmax(logits / per_pixel, dim=1)
    return torch.einsum("nqhw,qc->nchw", probabilities, bins.to(logits.device, logits.dtype))


def _check_logits(logits: torch.Tensor, bins: torch.Tensor) -> None:
    _check_bins(bins)
    if logits.dim() != 4 or logits.shape[1] != len(bins):
        raise ValueError(
            f"logits must have shape (N, Q = {len(bins)}, H, W), got {tuple(logits.shape)}"
        )
