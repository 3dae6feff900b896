"""Taking the class rebalancing back when decoding (``prior_correction``): the arithmetic, the
weights training keeps with the model, and their way through checkpoints and model files."""

import numpy as np
import pytest
import torch
from models.test_heads import tiny_classifier  # pytest puts tests/ on sys.path

from colorize_core.data.ab_bins import ab_bins
from colorize_core.data.color import AB_SCALE
from colorize_core.data.split import select
from colorize_core.models import build_model
from colorize_core.models.heads import with_head
from colorize_core.runs.experiment import decode_at, run_experiment
from colorize_core.training.checkpoint import load_checkpoint, save_checkpoint
from colorize_core.training.loading import load_model
from colorize_core.training.model_file import read_model_file, write_model_file
from colorize_core.training.tasks import Classification


def _classifier(prior_correction: float = 0.0):
    torch.manual_seed(0)
    model = with_head(build_model("unet", base=8), "classification", temperature=0.5)
    return model.at_temperature(0.5, None, prior_correction).eval()


def test_prior_correction_decodes_the_reweighted_distribution():
    weights = torch.linspace(-1.5, 2.0, len(ab_bins()))
    trained = _classifier()
    trained.rebalance_log_weights.copy_(weights)
    model = trained.at_temperature(0.5, None, 0.4)
    lightness = torch.rand(1, 1, 8, 8)
    with torch.no_grad():
        logits = model.logits(lightness).double().numpy()[0]  # (Q, H, W)
        ab = model(lightness).double().numpy()[0] * AB_SCALE
    # reference, pixel by pixel: p_q proportional to (softmax(z)_q / w_q^0.4)^(1 / T)
    p = np.exp(logits - logits.max(0)) / np.exp(logits - logits.max(0)).sum(0)
    tilted = (p / np.exp(weights.double().numpy())[:, None, None] ** 0.4) ** (1 / 0.5)
    tilted /= tilted.sum(0)
    expected = np.einsum("qhw,qc->chw", tilted, ab_bins().double().numpy())
    np.testing.assert_allclose(ab, expected, atol=1e-3)
    assert not np.allclose(ab, np.einsum("qhw,qc->chw", p**2 / (p**2).sum(0), ab_bins()))


def test_a_model_without_class_weights_decodes_only_as_trained():
    lightness = torch.rand(1, 1, 8, 8)
    model = _classifier(0.0)
    assert torch.isnan(model.rebalance_log_weights).all()  # none were kept
    assert torch.isfinite(model(lightness)).all()
    with pytest.raises(ValueError, match="trained before class weights were kept"):
        _classifier(0.3)  # refused where the decoding meets the weights, not when predicting


def test_training_keeps_the_class_weights_and_a_decoding_takes_them_back(tmp_path):
    result = run_experiment(tiny_classifier(tmp_path, epochs=1, device="cpu"))
    model = result.fit.model
    train = select(result.data, result.split, "train")
    task = Classification(result.config, torch.device("cpu"), train)
    torch.testing.assert_close(model.rebalance_log_weights, task.class_weights.log())
    corrected = decode_at(result, 0.38, None, 0.5)
    assert corrected.config.model.prior_correction == 0.5
    assert (
        corrected.evaluation.summary.loc["colorfulness_pred", "mean"]
        < (result.evaluation.summary.loc["colorfulness_pred", "mean"])
    )  # rare, saturated colours lose their extra weight
    loaded, config = load_model(tmp_path / "cls")
    assert loaded.prior_correction == config.model.prior_correction == 0.5
    lightness = result.data.lab[:2, :1].float() / 100
    with torch.no_grad():
        torch.testing.assert_close(loaded(lightness), corrected.fit.model(lightness))
    # a model file keeps the weights (in float16) and the decoding
    write_model_file(loaded, config, tmp_path / "m.safetensors")
    shipped, _ = read_model_file(tmp_path / "m.safetensors")
    assert shipped.prior_correction == 0.5
    torch.testing.assert_close(
        shipped.rebalance_log_weights, loaded.rebalance_log_weights, atol=2e-3, rtol=1e-3
    )


def test_an_older_checkpoint_gains_the_class_weights_when_its_run_is_decoded_anew(tmp_path):
    result = run_experiment(tiny_classifier(tmp_path, epochs=1, device="cpu"))
    best = tmp_path / "cls" / "checkpoints" / "best.pt"
    state = load_checkpoint(best)
    older = {k: v for k, v in state["modules"]["model"].items() if k != "rebalance_log_weights"}
    save_checkpoint(best, {**state, "modules": {**state["modules"], "model": older}})
    model, _ = load_model(tmp_path / "cls")  # loads, without weights to take back
    assert torch.isnan(model.rebalance_log_weights).all()
    decode_at(result, 0.38, None, 0.2)  # the run's model counted them: its checkpoints keep them
    stored = load_checkpoint(best)["modules"]["model"]["rebalance_log_weights"]
    torch.testing.assert_close(stored, result.fit.model.rebalance_log_weights)
    assert load_model(tmp_path / "cls")[0].prior_correction == 0.2
