"""Simulated user hints: a few square colour points taken from the true image (Zhang et al. 2017,
"Real-Time User-Guided Image Colorization with Learned Deep Priors").

A hint-conditioned model is trained on images whose hints are sampled as the paper's released code
samples them (``add_color_patches_rand_gt`` in richzhang/colorization-pytorch):

- the number of points is geometric: a point is added while a uniform draw is below 1 - p, with
  p = 1/8, so an image has no hint one time in eight and 7 on average (``count`` fixes it instead,
  for the hints curve);
- each point is a square patch whose side is drawn uniformly from 1 to 9 pixels at 256 px, scaled
  to the image: ``max(1, round(side * size / 256))`` with ``size`` the shorter side, so at 64 px
  sides 1-5 become 1 pixel and 6-9 become 2;
- its top-left corner is normal about the centre of the places a patch fits, (H - P + 1) / 2, with
  a standard deviation of a quarter of that span, clipped so that the patch lies in the image;
- its value is the mean true ab over the patch, and the mask is 1 there.

Hand-written, not taken from that repository: its sampler draws from numpy's global state, and
here every draw comes from an explicit ``torch.Generator``, so one seed fixes the hints.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

STOP_PROBABILITY = 1 / 8  # p: the chance that no further point is added
PAPER_SIDES = range(1, 10)  # patch sides, in pixels at PAPER_SIZE
PAPER_SIZE = 256


class Point(NamedTuple):
    """One hint patch: rows top:top+side, columns left:left+side."""

    top: int
    left: int
    side: int


def patch_side(paper_side: int, size: int) -> int:
    """A side drawn at ``PAPER_SIZE`` px, scaled to an image whose shorter side is ``size``."""
    return max(1, round(paper_side * size / PAPER_SIZE))


def _uniform(generator: torch.Generator) -> float:
    return float(torch.rand((), generator=generator))


def _corner(span: int, generator: torch.Generator) -> int:
    """A top (or left) coordinate among ``span`` places, normal about their centre."""
    drawn = torch.normal(torch.tensor(span / 2), torch.tensor(span / 4), generator=generator)
    return int(drawn.clamp(0, span - 1))


def _another(drawn: int, count: int | None, generator: torch.Generator) -> bool:
    """Whether to add one more point: until ``count``, else while a uniform draw is below 1 - p."""
    if count is not None:
        return drawn < count
    return _uniform(generator) < 1 - STOP_PROBABILITY


def sample_points(
    height: int, width: int, generator: torch.Generator, count: int | None = None
) -> list[Point]:
    """The hint points of one ``height`` x ``width`` image: geometric in number, or ``count``."""
    if count is not None and count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    points: list[Point] = []
    size = min(height, width)
    while _another(len(points), count, generator):
        paper_side = PAPER_SIDES[int(torch.randint(len(PAPER_SIDES), (), generator=generator))]
        side = patch_side(paper_side, size)
        top = _corner(height - side + 1, generator)
        left = _corner(width - side + 1, generator)
        points.append(Point(top, left, side))
    return points


def hints_at(ab: torch.Tensor, points: list[list[Point]]) -> tuple[torch.Tensor, torch.Tensor]:
    """The hint ab (N, 2, H, W) and mask (N, 1, H, W) of a batch ``ab`` (N, 2, H, W) with each
    image's ``points``: each patch holds the mean true ab over it; zero outside every patch. A
    later patch overwrites an earlier one where they overlap, as in the paper's code."""
    if len(points) != len(ab):
        raise ValueError(f"{len(points)} lists of points for {len(ab)} images")
    hint = torch.zeros_like(ab)
    mask = torch.zeros_like(ab[:, :1])
    for image, image_points in enumerate(points):
        for top, left, side in image_points:
            rows, columns = slice(top, top + side), slice(left, left + side)
            mean = ab[image, :, rows, columns].mean((1, 2))
            hint[image, :, rows, columns] = mean[:, None, None]
            mask[image, :, rows, columns] = 1
    return hint, mask


def sample_hints(
    ab: torch.Tensor, generator: torch.Generator, count: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Simulated hints for a batch of true ``ab`` (N, 2, H, W): ``hints_at`` of points drawn for
    each image in turn (``sample_points``)."""
    height, width = ab.shape[-2:]
    points = [sample_points(height, width, generator, count) for _ in range(len(ab))]
    return hints_at(ab, points)
