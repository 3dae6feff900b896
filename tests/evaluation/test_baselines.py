"""The trivial baselines follow the model contract and use only training statistics."""

import pytest
import torch

from colorize_core.data.color import normalize_ab
from colorize_core.evaluation.baselines import BASELINES, make_baseline


@pytest.fixture()
def train_lab():
    generator = torch.Generator().manual_seed(0)
    lab = torch.rand(6, 3, 16, 16, generator=generator) * torch.tensor([100.0, 60, 60]).view(
        3, 1, 1
    )
    return (lab - torch.tensor([0.0, 30, 30]).view(3, 1, 1)).half()


def test_registry_names():
    assert list(BASELINES) == ["gray", "mean_ab", "mean_ab_map"]
    with pytest.raises(KeyError, match="gray, mean_ab, mean_ab_map"):
        make_baseline("median", torch.zeros(1, 3, 8, 8))


@pytest.mark.parametrize("name", ["gray", "mean_ab", "mean_ab_map"])
def test_contract_shape_dtype_and_input_independence(name, train_lab):
    baseline = make_baseline(name, train_lab)
    lightness = torch.rand(4, 1, 16, 16)
    out = baseline(lightness)
    assert out.shape == (4, 2, 16, 16) and out.dtype == torch.float32
    assert torch.equal(out, baseline(torch.rand(4, 1, 16, 16)))  # ignores L by construction
    assert out.abs().max() <= 1.0  # ab / 128 range


def test_values_are_the_training_statistics(train_lab):
    lab = train_lab.float()
    assert torch.equal(
        make_baseline("gray", train_lab)(torch.zeros(1, 1, 4, 4)), torch.zeros(1, 2, 4, 4)
    )
    mean = make_baseline("mean_ab", train_lab)(torch.zeros(1, 1, 16, 16))
    expected = normalize_ab(lab[:, 1:].mean(dim=(0, 2, 3))).view(1, 2, 1, 1).expand(1, 2, 16, 16)
    assert torch.allclose(mean, expected, atol=1e-6)
    mean_map = make_baseline("mean_ab_map", train_lab)(torch.zeros(1, 1, 16, 16))
    assert torch.allclose(mean_map, normalize_ab(lab[:, 1:].mean(0, keepdim=True)), atol=1e-6)


def test_mean_map_resizes_to_the_input(train_lab):
    out = make_baseline("mean_ab_map", train_lab)(torch.zeros(2, 1, 32, 24))
    assert out.shape == (2, 2, 32, 24)


def test_bad_training_tensor_is_refused():
    with pytest.raises(ValueError, match="non-empty"):
        make_baseline("mean_ab", torch.zeros(0, 3, 8, 8))
    with pytest.raises(ValueError):
        make_baseline("mean_ab", torch.zeros(2, 2, 8, 8))
