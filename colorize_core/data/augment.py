"""Batched geometric augmentation for Lab tensors: horizontal flip, small rotation, resized crop.

Hand-written instead of torchvision.transforms.v2 because v2 draws one set of random parameters
per call, i.e. the same flip/angle/crop for a whole batch. Here every image gets its own
parameters, all three operations are fused into one affine warp (one resampling, not three), it
runs on whatever device the batch is on, and every draw comes from an explicit torch.Generator so
one seed fixes a run's augmentation. Geometry only: L and ab move together and colours are never
altered (a colour jitter would corrupt the targets).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Augment:
    """Per-image random flip, rotation and square crop, applied as ``augment(batch, generator)``.

    hflip:          probability of a horizontal flip
    max_rotation:   angle drawn uniformly from [-max_rotation, max_rotation] degrees
    min_crop_scale: crop side drawn uniformly from [min_crop_scale, 1] of the image side, placed
                    uniformly at random, then resized back to the full size
    """

    hflip: float = 0.5
    max_rotation: float = 10.0
    min_crop_scale: float = 0.8

    def __post_init__(self) -> None:
        if not 0.0 <= self.hflip <= 1.0:
            raise ValueError(f"hflip must be a probability, got {self.hflip}")
        if not 0.0 <= self.max_rotation <= 45.0:
            raise ValueError(f"max_rotation must be in [0, 45] degrees, got {self.max_rotation}")
        if not 0.0 < self.min_crop_scale <= 1.0:
            raise ValueError(f"min_crop_scale must be in (0, 1], got {self.min_crop_scale}")

    def __call__(
        self,
        batch: torch.Tensor,
        generator: torch.Generator | None = None,
        *,
        inplace: bool = False,
    ) -> torch.Tensor:
        """(B, C, H, W) float -> the same shape, each image warped with its own parameters.

        ``inplace=True`` lets the flip-only path overwrite ``batch`` (for a caller that owns a
        fresh batch, as ``split.iterate_batches`` does): it then touches only the flipped images,
        about half the memory traffic of building a flipped copy and selecting from it.
        """
        size = batch.shape[0]
        if self.max_rotation == 0.0 and self.min_crop_scale == 1.0:
            # Flip only: exact and ~20x cheaper than resampling through a grid.
            flip = (torch.rand(size, generator=generator) < self.hflip).nonzero().flatten()
            batch = batch if inplace else batch.clone()
            flip = flip.to(batch.device)
            batch[flip] = batch[flip].flip(-1)
            return batch

        def uniform(low: float, high: float) -> torch.Tensor:
            return low + (high - low) * torch.rand(size, generator=generator, dtype=torch.float64)

        flip = torch.where(uniform(0, 1) < self.hflip, -1.0, 1.0)
        angle = uniform(-self.max_rotation, self.max_rotation) * math.pi / 180.0
        scale = uniform(self.min_crop_scale, 1.0)
        # Crop centre in normalised coordinates, chosen so the (unrotated) crop stays inside.
        shift_x, shift_y = (uniform(-1, 1) * (1 - scale) for _ in range(2))

        # affine_grid maps output coordinates to input coordinates: flip, rotate, scale, shift.
        cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
        theta = torch.stack(
            (
                torch.stack((cos * flip, -sin, shift_x), dim=-1),
                torch.stack((sin * flip, cos, shift_y), dim=-1),
            ),
            dim=1,
        ).to(device=batch.device, dtype=batch.dtype)
        grid = F.affine_grid(theta, list(batch.shape), align_corners=False)
        # Reflection fills the corners a rotation uncovers with plausible image content.
        return F.grid_sample(
            batch, grid, mode="bilinear", padding_mode="reflection", align_corners=False
        )
