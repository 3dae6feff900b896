"""Portable model files (safetensors + config), `colorize export` and its ONNX form, and the
shipped-model registry's hash check."""

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from colorize_core.apps import cli, export
from colorize_core.data.color import rgb_to_lab
from colorize_core.data.datasets import resolve_dataset
from colorize_core.runs.experiment import run_experiment
from colorize_core.training import shipped
from colorize_core.training.checkpoint import CheckpointError
from colorize_core.training.config import ExperimentConfig
from colorize_core.training.loading import load_model
from colorize_core.training.model_file import (
    file_sha256,
    read_metadata,
    read_model_file,
    write_model_file,
)

# float16 weights change a tiny model's ab by far less than a visible step (1 Lab unit)
FLOAT16_AB = 0.5


def tiny_run(root: Path, head: str) -> Path:
    """One epoch on 40 faces at 32 px: a real run folder in a few seconds."""
    config = ExperimentConfig.from_params(
        name=f"tiny_{head}", output_dir=str(root), epochs=1, dataset="faces", image_size=32,
        limit=40, batch_size=8, lr=1e-3, model="unet", model_kwargs={"base": 8}, head=head,
    )  # fmt: skip
    run_experiment(config)
    return config.run_dir


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("results")
    return {head: tiny_run(root, head) for head in ("regression", "classification")}


def lightness(height: int, width: int, n: int = 2) -> torch.Tensor:
    """(n, 1, H, W) L in Lab units with structure a model responds to."""
    y, x = torch.meshgrid(torch.linspace(0, 1, height), torch.linspace(0, 1, width), indexing="ij")
    return torch.stack([(50 + 40 * torch.sin(7 * x + 3 * y + i))[None] for i in range(n)])


@pytest.mark.parametrize("head", ["regression", "classification"])
def test_model_file_round_trip_keeps_config_and_predictions(runs, tmp_path, head, monkeypatch):
    model, config = load_model(runs[head])
    digest = write_model_file(model, config, tmp_path / "m.safetensors")
    assert digest == file_sha256(tmp_path / "m.safetensors")

    def refuse(*args, **kwargs):
        raise AssertionError("a model file must load without pickle")

    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    loaded, loaded_config = read_model_file(tmp_path / "m.safetensors", digest)
    assert loaded_config == config
    assert not loaded.training
    x = lightness(32, 48) / 100
    with torch.inference_mode():
        difference = (loaded(x) - model(x)).abs().max().item() * 128
    assert 0 < difference < FLOAT16_AB  # float16 rounding, nothing more


def test_model_file_is_float16_and_small(runs, tmp_path):
    model, config = load_model(runs["regression"])
    write_model_file(model, config, tmp_path / "m.safetensors")
    header = read_metadata(tmp_path / "m.safetensors")["config"]
    assert ExperimentConfig.from_dict(header) == config
    again = write_model_file(model, config, tmp_path / "again.safetensors")
    assert again == file_sha256(tmp_path / "m.safetensors")  # the same model, the same bytes
    float32_bytes = sum(t.numel() * 4 for t in model.state_dict().values() if t.is_floating_point())
    assert (tmp_path / "m.safetensors").stat().st_size < 0.6 * float32_bytes


def test_wrong_hash_foreign_and_damaged_files_are_refused(runs, tmp_path):
    model, config = load_model(runs["regression"])
    path = tmp_path / "m.safetensors"
    write_model_file(model, config, path)
    with pytest.raises(CheckpointError, match="expected 0+: the file is damaged or was replaced"):
        read_model_file(path, "0" * 64)
    save_file({"weight": torch.zeros(3)}, tmp_path / "foreign.safetensors")
    with pytest.raises(CheckpointError, match="not a colorize model"):
        read_model_file(tmp_path / "foreign.safetensors")
    (tmp_path / "cut.safetensors").write_bytes(path.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        read_model_file(tmp_path / "cut.safetensors")
    with pytest.raises(CheckpointError, match="no such model file"):
        read_model_file(tmp_path / "missing.safetensors")


def test_weights_that_do_not_fit_the_config_are_refused(runs, tmp_path):
    model, config = load_model(runs["regression"])
    other = config.with_params(model_kwargs={"base": 16})
    write_model_file(model, other, tmp_path / "m.safetensors")
    with pytest.raises(CheckpointError, match="do not fit its config"):
        read_model_file(tmp_path / "m.safetensors")


def test_export_then_colorize_with_the_file_matches_the_run(runs, tmp_path, capsys):
    out = tmp_path / "model.safetensors"
    assert cli.main(["export", str(runs["classification"]), "-o", str(out)]) == 0
    assert "sha256" in capsys.readouterr().out
    rgb = np.random.default_rng(0).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "photo.png")
    for source, folder in ((runs["classification"], "a"), (out, "b")):
        assert cli.main([str(tmp_path / "photo.png"), "--checkpoint", str(source),
                           "-o", str(tmp_path / folder)]) == 0  # fmt: skip
    a, b = (np.asarray(Image.open(tmp_path / f / "photo.png"), dtype=int) for f in "ab")
    assert a.shape == b.shape == rgb.shape
    assert np.abs(a - b).max() <= 2  # float16 weights: at most a rounding step or two


def test_export_refuses_to_overwrite_and_names_unusable_runs(runs, tmp_path, capsys):
    out = tmp_path / "model.safetensors"
    out.write_bytes(b"keep me")
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["export", str(runs["regression"]), "-o", str(out)])
    assert exit_info.value.code == 2 and out.read_bytes() == b"keep me"
    model_path = tmp_path / "m.safetensors"
    assert cli.main(["export", str(runs["regression"]), "-o", str(model_path)]) == 0
    before = model_path.read_bytes()
    with pytest.raises(SystemExit) as exit_info:  # an output never replaces its input
        cli.main(["export", str(model_path), "-o", str(model_path), "--overwrite"])
    assert exit_info.value.code == 2 and model_path.read_bytes() == before
    (tmp_path / "notes.pt").write_text("not a checkpoint")
    assert cli.main(["export", str(tmp_path / "notes.pt"), "-o", str(tmp_path / "x.onnx"),
                       "--onnx"]) == 2  # fmt: skip
    assert "notes.pt" in capsys.readouterr().err


def test_ensemble_runs_are_refused_by_export(runs, tmp_path):
    members = [runs["regression"].name]
    config = ExperimentConfig.from_params(
        name="mirrored", output_dir=str(runs["regression"].parent), dataset="faces",
        image_size=32, limit=40, model="ensemble",
        model_kwargs={"members": members, "flip": True},
    )  # fmt: skip
    run_experiment(config)
    model, config = load_model(config.run_dir)
    with pytest.raises(CheckpointError, match="ensemble run"):
        export.export_model_file(model, config, tmp_path / "e.safetensors", "mirrored")


@pytest.mark.parametrize("head", ["regression", "classification"])
def test_onnx_takes_any_size_and_matches_pytorch(runs, tmp_path, head):
    model, _ = load_model(runs[head])
    path = export.export_onnx(model, tmp_path / "m.onnx", source=head)
    # a real photo at its own odd size (150 x 150, not a multiple of 8), and a wide odd shape
    photo = min(resolve_dataset("landscapes").glob("*.jpg"))
    rgb = torch.from_numpy(np.asarray(Image.open(photo).convert("RGB")).copy())
    real = rgb_to_lab(rgb.permute(2, 0, 1).float() / 255)[None, :1]
    for batch in (real, lightness(45, 203, n=3)):
        assert export.onnx_parity(model, path, batch) < 1e-3  # Lab units; the issue asks < 0.5


def test_shipped_models_are_checked_against_their_hash(runs, tmp_path, monkeypatch):
    model, config = load_model(runs["regression"])
    digest = write_model_file(model, config, tmp_path / "tiny.safetensors")
    entry = shipped.ShippedModel("tiny", "tiny.safetensors", digest, "a test model")
    monkeypatch.setitem(shipped.SHIPPED, "tiny", entry)
    monkeypatch.setattr(shipped, "shipped_path", lambda name: tmp_path / shipped.SHIPPED[name].file)
    loaded, loaded_config = shipped.load_shipped("tiny")
    assert loaded_config == config
    write_model_file(model, config.with_params(seed=1), tmp_path / "tiny.safetensors")
    with pytest.raises(CheckpointError, match="damaged or was replaced"):
        shipped.load_shipped("tiny")
