"""Prediction heads: the classification head on registered backbones, its loss and its runs."""

import pytest
import torch
import torch.nn.functional as F

from colorize_core.data.ab_bins import ab_bins
from colorize_core.data.cache import load_images
from colorize_core.data.color import AB_SCALE, normalize_ab
from colorize_core.data.split import make_split
from colorize_core.models import build_model
from colorize_core.models.heads import BinClassifier, classification_backbone, with_head
from colorize_core.runs.experiment import decode_at, run_experiment
from colorize_core.training.config import ExperimentConfig
from colorize_core.training.fit import Classification
from colorize_core.training.loading import build_predictor, load_model


@pytest.mark.parametrize(("name", "kwargs"), [("unet", {"base": 8}), ("conv_ae", {"base": 8})])
def test_classification_head_gives_logits_and_keeps_the_other_layers(name, kwargs):
    torch.manual_seed(0)
    regression = build_model(name, **kwargs)
    classifier = with_head(build_model(name, **kwargs), "classification", temperature=0.38)
    assert isinstance(classifier, BinClassifier)
    n_bins = len(ab_bins())
    lightness = torch.rand(2, 1, 16, 24)
    assert classifier.logits(lightness).shape == (2, n_bins, 16, 24)
    ab = classifier(lightness)
    assert ab.shape == (2, 2, 16, 24)
    assert ab.abs().max() * AB_SCALE <= ab_bins().abs().max() + 1e-4
    # every layer but the last convolution keeps its name and shape: regression weights fit it
    regression_shapes = {k: v.shape for k, v in regression.state_dict().items()}
    classifier_shapes = {
        k.removeprefix("backbone."): v.shape
        for k, v in classifier.state_dict().items()
        if k != "bins"
    }
    changed = {k for k in regression_shapes if classifier_shapes.get(k) != regression_shapes[k]}
    output = max(k for k in regression_shapes if k.startswith("head.")).rsplit(".", 1)[0]
    assert changed == {f"{output}.weight", f"{output}.bias"}, changed  # the last convolution
    assert "bins" in classifier.state_dict()  # a checkpoint says what its classes mean


def test_a_backbone_without_a_replaceable_head_is_refused_by_name():
    with pytest.raises(ValueError, match="CNN8 has no replaceable head"):
        classification_backbone(build_model("cnn8", base=8), 313)
    with pytest.raises(KeyError, match="unknown head 'softmax'; choose one of regression"):
        with_head(build_model("unet", base=8), "softmax")


def test_temperature_is_a_decoding_setting_not_a_weight():
    torch.manual_seed(0)
    config = ExperimentConfig.from_params(
        model="unet", model_kwargs={"base": 8}, head="classification", temperature=1.0
    )
    model = build_predictor(config.model).eval()
    lightness = torch.rand(1, 1, 16, 16)
    with torch.no_grad():
        logits = model.logits(lightness)
        mean = model(lightness)
        model.temperature = 0.0
        mode = model(lightness)
    bins = ab_bins()
    expected_mean = torch.einsum("nqhw,qc->nchw", logits.softmax(1), bins) / AB_SCALE
    torch.testing.assert_close(mean, expected_mean, atol=1e-5, rtol=0)
    expected_mode = bins[logits.argmax(1)].permute(0, 3, 1, 2) / AB_SCALE
    torch.testing.assert_close(mode, expected_mode)


@pytest.fixture(scope="module")
def tiny_landscapes():
    data = load_images("landscapes", 32).subset(range(40))
    return data, make_split(data.files, seed=0)


def tiny_classifier(tmp_path, **overrides) -> ExperimentConfig:
    params = {
        "name": "cls",
        "output_dir": str(tmp_path),
        "dataset": "landscapes",
        "image_size": 32,
        "limit": 40,
        "epochs": 3,
        "batch_size": 8,
        "lr": 1e-3,
        "model": "unet",
        "model_kwargs": {"base": 8},
        "head": "classification",
        **overrides,
    }
    return ExperimentConfig.from_params(**params)


def test_rebalanced_cross_entropy_equals_an_independent_dense_computation(
    tmp_path, tiny_landscapes
):
    data, split = tiny_landscapes
    task = Classification(tiny_classifier(tmp_path), torch.device("cpu"), data.subset(range(28)))
    bins = ab_bins().double()
    ab = data.lab[:3, 1:].float()
    logits = torch.randn(3, len(bins), 32, 32)
    loss = task.cross_entropy(logits, normalize_ab(ab))
    # independent: the 5 nearest bins by sorting all distances, Gaussian sigma 5, dense targets
    pixels = ab.double().permute(0, 2, 3, 1).reshape(-1, 2)
    distances = ((pixels[:, None, :] - bins[None]) ** 2).sum(-1)
    order = distances.argsort(dim=1)[:, :5]
    weights = torch.exp(-distances.gather(1, order) / (2 * 5.0**2))
    targets = torch.zeros_like(distances).scatter_(1, order, weights / weights.sum(1, keepdim=True))
    log_probs = F.log_softmax(logits.double().permute(0, 2, 3, 1).reshape(-1, len(bins)), dim=1)
    pixel_weights = task.class_weights.double()[order[:, 0]]
    expected = (pixel_weights * -(targets * log_probs).sum(1)).mean()
    torch.testing.assert_close(loss.double(), expected, rtol=1e-4, atol=1e-6)


def test_a_classification_run_trains_scores_and_loads_like_any_other(tmp_path):
    result = run_experiment(tiny_classifier(tmp_path))
    history = result.fit.history
    assert history["loss"].iloc[-1] < history["loss"].iloc[0]
    assert {"psnr_ab", "delta_e2000", "colorfulness_pred"} <= set(result.evaluation.per_image)
    model, config = load_model(tmp_path / "cls")
    assert isinstance(model, BinClassifier)
    assert config.model.head == "classification" and model.temperature == 0.38
    lightness = result.data.lab[:2, :1].float() / 100
    with torch.no_grad():
        torch.testing.assert_close(model(lightness), result.fit.model(lightness))
    # one trained model, decoded at another temperature: nothing is trained again
    mean = decode_at(result, 1.0)
    assert mean.fit.model.temperature == 1.0 and len(mean.fit.history) == 3
    for key, value in result.fit.model.state_dict().items():
        assert torch.equal(value, mean.fit.model.state_dict()[key]), key
    assert ExperimentConfig.load(tmp_path / "cls" / "config.json").model.temperature == 1.0
    before = result.evaluation.summary.loc["colorfulness_pred", "mean"]
    assert mean.evaluation.summary.loc["colorfulness_pred", "mean"] != before  # decoded anew
    model, config = load_model(tmp_path / "cls")  # colorize decodes at the run's temperature
    assert model.temperature == config.model.temperature == 1.0


def test_only_a_classification_run_can_be_decoded_at_a_temperature(tmp_path):
    result = run_experiment(tiny_classifier(tmp_path, head="regression", epochs=1))
    with pytest.raises(ValueError, match="has no classification head"):
        decode_at(result, 0.2)
