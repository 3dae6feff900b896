"""Photos smaller than the training size get their own decoding (``small_photo_below``): in
PyTorch and in the ONNX export alike, and through ``decode_at``, checkpoints and model files."""

import pytest
import torch
from models.test_heads import tiny_classifier  # pytest puts tests/ on sys.path

from colorize_core.apps import export
from colorize_core.models import build_model
from colorize_core.models.heads import with_head
from colorize_core.runs.experiment import decode_at, run_experiment
from colorize_core.training.loading import load_model
from colorize_core.training.model_file import read_model_file, write_model_file


def _trained():
    """A small classifier with class weights, as training leaves one."""
    torch.manual_seed(0)
    model = with_head(build_model("unet", base=8), "classification", temperature=0.5)
    model.rebalance_log_weights.copy_(torch.linspace(-1.5, 2.0, len(model.bins)))
    return model.eval()


@pytest.mark.parametrize("shape", [(16, 16), (24, 40), (40, 24), (32, 32), (48, 32)])
def test_a_photo_below_the_size_is_decoded_with_its_own_correction(shape, tmp_path):
    trained = _trained()
    model = trained.at_temperature(0.5, None, 0.2, 32, 0.8)
    small = min(shape) < 32
    same = trained.at_temperature(0.5, None, 0.8 if small else 0.2)
    other = trained.at_temperature(0.5, None, 0.2 if small else 0.8)
    lightness = torch.rand(2, 1, *shape)
    with torch.no_grad():
        torch.testing.assert_close(model(lightness), same(lightness))
        assert (model(lightness) - other(lightness)).abs().max() > 1e-3
    path = export.export_onnx(model, tmp_path / "m.onnx", example_size=32, source="tiny")
    assert export.onnx_parity(model, path, lightness * 100) < 1e-3  # both decodings exported


def test_a_small_photo_correction_needs_the_class_weights():
    untrained = with_head(build_model("unet", base=8), "classification")
    untrained.at_temperature(0.5, None, 0.0, 32, 0.0)  # nothing taken back: fine
    with pytest.raises(ValueError, match="trained before class weights were kept"):
        untrained.at_temperature(0.5, None, 0.0, 32, 0.5)


def test_the_small_photo_decoding_travels_with_the_run_and_its_model_file(tmp_path):
    result = run_experiment(tiny_classifier(tmp_path, epochs=1, device="cpu"))
    decoded = decode_at(
        result, 0.38, None, 0.1, small_photo_below=32, small_photo_prior_correction=0.6
    )
    m = decoded.config.model
    assert (m.small_photo_below, m.small_photo_prior_correction) == (32, 0.6)
    loaded, config = load_model(tmp_path / "cls")
    assert config.model == m
    assert (loaded.small_photo_below, loaded.small_photo_prior_correction) == (32, 0.6)
    write_model_file(loaded, config, tmp_path / "m.safetensors")
    shipped, shipped_config = read_model_file(tmp_path / "m.safetensors")
    assert (shipped.small_photo_below, shipped.small_photo_prior_correction) == (32, 0.6)
    thumbnail = torch.rand(1, 1, 24, 24)
    with torch.no_grad():
        expected = loaded.at_temperature(0.38, None, 0.6)(thumbnail)
        torch.testing.assert_close(loaded(thumbnail), expected)
