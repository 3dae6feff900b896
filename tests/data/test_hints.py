"""Simulated user hints (``data/hints.py``): the paper's distribution of counts, sizes and places,
the values a patch holds, and one seed fixing them all."""

import numpy as np
import pytest
import torch

from colorize_core.data.hints import (
    PAPER_SIDES,
    STOP_PROBABILITY,
    Point,
    hints_at,
    patch_side,
    sample_hints,
    sample_points,
)


def _draws(n: int, height: int, width: int, count=None, seed: int = 0) -> list[list[Point]]:
    generator = torch.Generator().manual_seed(seed)
    return [sample_points(height, width, generator, count) for _ in range(n)]


def test_the_number_of_points_is_geometric_with_no_hint_one_time_in_eight():
    counts = np.array([len(points) for points in _draws(4000, 64, 64)])
    p = STOP_PROBABILITY
    assert abs((counts == 0).mean() - p) < 0.02  # standard error 0.005
    assert abs(counts.mean() - (1 - p) / p) < 0.5  # 7; standard error 0.12
    assert abs((counts == 1).mean() - (1 - p) * p) < 0.02


def test_patch_sides_are_uniform_from_1_to_9_at_256_px_and_scaled_below():
    sides = np.array([pt.side for points in _draws(1000, 256, 256, count=5) for pt in points])
    frequencies = np.bincount(sides, minlength=10)[1:] / len(sides)
    np.testing.assert_allclose(frequencies, 1 / 9, atol=0.02)  # standard error 0.004
    assert [patch_side(s, 64) for s in PAPER_SIDES] == [1, 1, 1, 1, 1, 2, 2, 2, 2]
    assert [patch_side(s, 512) for s in PAPER_SIDES] == [2 * s for s in PAPER_SIDES]
    wide = [pt.side for points in _draws(200, 64, 256, count=3) for pt in points]
    assert set(wide) == {1, 2}  # the shorter side decides


def test_points_lie_in_the_image_normal_about_its_centre():
    points = [pt for points in _draws(3000, 256, 192, count=1) for pt in points]
    for top, left, side in points:
        assert 0 <= top <= 256 - side and 0 <= left <= 192 - side
    for axis, length in (("top", 256), ("left", 192)):
        corners = np.array([getattr(pt, axis) for pt in points])
        spans = np.array([length - pt.side + 1 for pt in points])
        # int() of a normal about span / 2 lowers the mean by about a half
        assert abs((corners - spans / 2).mean() + 0.5) < 1.5
        # sd a quarter of the span, a little less after clipping at two sds
        ratio = (corners - spans / 2).std() / (spans / 4).mean()
        assert 0.85 < ratio < 1.0


def test_a_patch_holds_the_mean_true_ab_and_a_later_one_overwrites():
    ab = torch.randn(2, 2, 6, 7) * 30
    points = [[Point(0, 0, 2), Point(3, 4, 1)], [Point(1, 1, 3), Point(2, 3, 2)]]
    hint, mask = hints_at(ab, points)
    expected_hint, expected_mask = np.zeros((2, 2, 6, 7)), np.zeros((2, 1, 6, 7))
    for image, image_points in enumerate(points):
        for top, left, side in image_points:  # pixel by pixel, in numpy
            patch = ab[image].numpy()[:, top : top + side, left : left + side]
            for y in range(top, top + side):
                for x in range(left, left + side):
                    expected_hint[image, :, y, x] = patch.reshape(2, -1).mean(1)
                    expected_mask[image, 0, y, x] = 1
    np.testing.assert_allclose(hint.numpy(), expected_hint, atol=1e-5)
    np.testing.assert_array_equal(mask.numpy(), expected_mask)
    assert mask[0].sum() == 5 and mask[1].sum() == 9 + 4 - 2  # the overlap counted once
    with pytest.raises(ValueError, match="1 lists of points for 2 images"):
        hints_at(ab, points[:1])


def test_one_seed_fixes_the_hints_and_a_count_fixes_their_number():
    ab = torch.randn(4, 2, 32, 32)
    first = sample_hints(ab, torch.Generator().manual_seed(3))
    again = sample_hints(ab, torch.Generator().manual_seed(3))
    other = sample_hints(ab, torch.Generator().manual_seed(4))
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not torch.equal(first[1], other[1])
    assert all(len(points) == 10 for points in _draws(20, 32, 32, count=10))
    hint, mask = sample_hints(ab, torch.Generator().manual_seed(0), count=0)
    assert not hint.any() and not mask.any()  # no hints: the automatic case
    with pytest.raises(ValueError, match="count must be >= 0"):
        sample_points(32, 32, torch.Generator(), -1)
