"""Prediction heads: the classification head on registered backbones, its loss and its runs."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from colorize_core.data.ab_bins import PAPER_TEMPERATURE, ab_bins, decode_unsure
from colorize_core.data.cache import load_images
from colorize_core.data.color import AB_SCALE, normalize_ab, split_lab
from colorize_core.data.split import make_split, select
from colorize_core.models import build_model
from colorize_core.models.heads import BinClassifier, classification_backbone, with_head
from colorize_core.runs import experiment
from colorize_core.runs.experiment import decode_at, run_experiment
from colorize_core.runs.samples import SAMPLE_IMAGES, comparison_grid
from colorize_core.training.checkpoint import load_checkpoint
from colorize_core.training.config import ExperimentConfig
from colorize_core.training.loading import build_predictor, load_model, predict_ab
from colorize_core.training.tasks import Classification


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


def test_decoding_at_another_temperature_is_evaluation_not_training(tmp_path, monkeypatch):
    result = run_experiment(tiny_classifier(tmp_path, epochs=2, device="cpu"))
    run_dir = tmp_path / "cls"
    # nothing is trained, and the data set the result holds is not read again
    monkeypatch.setattr(experiment, "fit", _forbidden("fit"))
    monkeypatch.setattr(experiment, "load_data", _forbidden("load_data"))
    mean = decode_at(result, 1.0)
    assert mean.fit.model.temperature == 1.0 and len(mean.fit.history) == 2
    assert result.fit.model.temperature == 0.38 == result.config.model.temperature  # kept
    for key, value in result.fit.model.state_dict().items():
        assert torch.equal(value, mean.fit.model.state_dict()[key]), key
    assert mean.data is result.data and mean.split == result.split
    assert ExperimentConfig.load(run_dir / "config.json") == mean.config
    assert mean.config == result.config.with_params(temperature=1.0)
    before = result.evaluation.summary.loc["colorfulness_pred", "mean"]
    assert mean.evaluation.summary.loc["colorfulness_pred", "mean"] != before  # decoded anew
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["metrics"] == mean.evaluation.summary.to_dict(orient="index")
    assert metrics["best_epoch"] == result.fit.best_epoch and metrics["epochs"] == 2
    per_image = pd.read_csv(run_dir / "metrics_per_image.csv", index_col="file")
    pd.testing.assert_frame_equal(per_image, mean.evaluation.per_image, check_exact=False)
    histograms = pd.read_csv(run_dir / "ab_histograms.csv", index_col="file")
    assert histograms.equals(mean.evaluation.histograms.to_frame())
    grid = np.asarray(Image.open(run_dir / "samples.png").convert("RGB"))
    test = select(result.data, result.split, "test").lab[:SAMPLE_IMAGES].float()
    lightness, ab_true = split_lab(test)
    expected = comparison_grid(lightness, predict_ab(mean.fit.model, lightness), ab_true)
    np.testing.assert_array_equal(grid, expected)  # the samples are decoded at 1.0 too
    # the checkpoints say what config.json says: one source of truth for load_model
    for name in ("best.pt", "last.pt"):
        assert load_checkpoint(run_dir / "checkpoints" / name)["config"] == mean.config.to_dict()
    model, config = load_model(run_dir)  # colorize decodes at the run's temperature
    assert model.temperature == config.model.temperature == 1.0
    assert config == mean.config


def test_decoding_unsure_pixels_at_the_mean_is_stored_like_a_temperature(tmp_path):
    result = run_experiment(tiny_classifier(tmp_path, epochs=1, device="cpu"))
    unsure = decode_at(result, 0.25, unsure_entropy=0.5)
    run_dir = tmp_path / "cls"
    assert ExperimentConfig.load(run_dir / "config.json").model.unsure_entropy == 0.5
    for name in ("best.pt", "last.pt"):
        assert load_checkpoint(run_dir / "checkpoints" / name)["config"] == unsure.config.to_dict()
    model, config = load_model(run_dir)
    assert (model.temperature, model.unsure_entropy) == (0.25, 0.5) == (
        config.model.temperature, config.model.unsure_entropy,
    )  # fmt: skip
    lightness = result.data.lab[:2, :1].float() / 100
    with torch.no_grad():
        expected = decode_unsure(model.logits(lightness), model.bins, 0.25, 0.5) / AB_SCALE
        torch.testing.assert_close(model(lightness), expected)
    back = decode_at(unsure, 0.25)  # None again: every pixel at 0.25
    assert load_model(run_dir)[
        0
    ].unsure_entropy is None and back.config == result.config.with_params(temperature=0.25)
    with pytest.raises(ValueError, match="unsure_entropy must lie in"):
        decode_at(result, 0.0, unsure_entropy=0.5)


def _forbidden(name: str):
    def raising(*args, **kwargs):
        raise AssertionError(f"{name} was called")

    return raising


def test_at_temperature_shares_the_weights_and_leaves_the_original_as_it_was():
    torch.manual_seed(0)
    model = with_head(build_model("unet", base=8), "classification").eval()
    assert model.temperature == PAPER_TEMPERATURE
    mode = model.at_temperature(0.0)
    assert mode.backbone is model.backbone and not mode.training
    assert model.temperature == PAPER_TEMPERATURE and mode.temperature == 0.0
    lightness = torch.rand(1, 1, 16, 16)
    with torch.no_grad():
        logits = model.logits(lightness)
        expected = ab_bins()[logits.argmax(1)].permute(0, 3, 1, 2) / AB_SCALE
        torch.testing.assert_close(mode(lightness), expected)


def test_only_a_classification_run_can_be_decoded_at_a_temperature(tmp_path):
    result = run_experiment(tiny_classifier(tmp_path, head="regression", epochs=1))
    with pytest.raises(ValueError, match="has no classification head"):
        decode_at(result, 0.2)
