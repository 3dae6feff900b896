"""Augmentation: flips, rotations and crops that move L and ab together, per image."""

import pytest
import torch

from colorize_core.data.augment import Augment


def test_identity_and_flip():
    batch = torch.rand(3, 3, 16, 16)
    same = Augment(hflip=0.0, max_rotation=0.0, min_crop_scale=1.0)(batch)
    assert torch.allclose(same, batch, atol=1e-5)
    flipped = Augment(hflip=1.0, max_rotation=0.0, min_crop_scale=1.0)(batch)
    assert torch.equal(flipped, batch.flip(-1))
    # the general affine path (any rotation turns it on) agrees with the exact fast path
    warped = Augment(hflip=1.0, max_rotation=1e-9, min_crop_scale=1.0)(batch)
    assert torch.allclose(warped, batch.flip(-1), atol=1e-5)
    unflipped = Augment(hflip=0.0, max_rotation=1e-9, min_crop_scale=1.0)(batch)
    assert torch.allclose(unflipped, batch, atol=1e-5)


def test_flip_leaves_its_input_alone_unless_told_it_may_overwrite_it():
    batch, flip = torch.rand(8, 3, 4, 4), Augment(max_rotation=0.0, min_crop_scale=1.0)
    original = batch.clone()
    copied = flip(batch, torch.Generator().manual_seed(1))
    assert torch.equal(batch, original)
    flipped = [i for i in range(8) if not torch.equal(copied[i], original[i])]
    assert 0 < len(flipped) < 8  # per image, not per batch
    assert all(torch.equal(copied[i], original[i].flip(-1)) for i in flipped)
    in_place = flip(batch, torch.Generator().manual_seed(1), inplace=True)
    assert in_place.data_ptr() == batch.data_ptr() and torch.equal(in_place, copied)


def test_augmentation_moves_l_and_ab_together_and_varies_per_image():
    lightness = torch.rand(8, 1, 32, 32) * 100
    lab = torch.cat([lightness, 0.5 * lightness, -0.25 * lightness], dim=1)
    out = Augment(max_rotation=15, min_crop_scale=0.6)(lab, torch.Generator().manual_seed(0))
    assert out.shape == lab.shape
    assert torch.allclose(out[:, 1], 0.5 * out[:, 0], atol=1e-3)
    assert torch.allclose(out[:, 2], -0.25 * out[:, 0], atol=1e-3)
    # same input image everywhere: different outputs show per-image parameters
    same = lab[:1].expand(8, -1, -1, -1).contiguous()
    out = Augment()(same, torch.Generator().manual_seed(0))
    assert len({round(float(o.sum()), 2) for o in out}) > 4


@pytest.mark.parametrize("kwargs", [{"hflip": 2.0}, {"max_rotation": 90}, {"min_crop_scale": 0}])
def test_augment_rejects_bad_settings(kwargs):
    with pytest.raises(ValueError):
        Augment(**kwargs)
