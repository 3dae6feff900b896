"""Full-resolution inference on your own photos: sizes, orientation, lightness, odd modes, bad
files, foreign and doctored checkpoints, folders, output clashes, multi-frame files, strips,
comparison images, the notebook."""

import json
import logging
import subprocess
import sys
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import REPO  # pytest puts tests/ on sys.path
from PIL import Image, ImageOps

from colorize_core.apps import batch, cli, photo, photo_notebook, sources
from colorize_core.data import images
from colorize_core.data.color import rgb_to_lab
from colorize_core.runs.experiment import run_experiment
from colorize_core.training.checkpoint import (
    CheckpointError,
    best_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from colorize_core.training.config import ExperimentConfig
from colorize_core.training.loading import load_model

NOTEBOOK = REPO / "notebooks" / "colorize_your_photos.ipynb"
# Output L against input L: only the 8-bit rounding of the rebuilt RGB, since colours outside sRGB
# lose chroma, not lightness. Measured: at most 0.23 in these tests, and also for a model that
# predicts saturated colour everywhere (plain RGB clipping: 1.9 for the tiny model, 42 for that).
MAX_DL = 0.5


def tiny_run(root: Path, model: str, base: int) -> Path:
    """One epoch on 40 faces at 32 px: weights that predict some colour, in a few seconds."""
    config = ExperimentConfig.from_params(
        name="tiny", output_dir=str(root / "custom"), epochs=1, dataset="faces", image_size=32,
        limit=40, batch_size=8, lr=1e-3, model=model, model_kwargs={"base": base},
    )  # fmt: skip
    run_experiment(config)
    return config.run_dir


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    # conv_ae: stride-2 stages, so the multiple-of-8 model shapes are exercised
    return tiny_run(tmp_path_factory.mktemp("results"), "conv_ae", 8)


@pytest.fixture(scope="module")
def model(run_dir) -> torch.nn.Module:
    return load_model(run_dir)[0]


def make_photo(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A colourful (H, W, 3) uint8 test photo: smooth hues, a few edges, a little noise."""
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    rgb = np.stack([np.sin(7 * x) * 0.5 + 0.5, np.cos(5 * y) * 0.5 + 0.5, (x + y) / 2], -1)
    rgb[height // 3 : height // 2, width // 4 : width // 2] = (0.9, 0.2, 0.1)
    noise = np.random.default_rng(seed).normal(0, 0.02, rgb.shape)
    return (np.clip(rgb + noise, 0, 1) * 255 + 0.5).astype(np.uint8)


def lightness(rgb: np.ndarray) -> np.ndarray:
    return rgb_to_lab(torch.from_numpy(rgb.copy()).permute(2, 0, 1).float() / 255)[0].numpy()


def read(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def colorize_one(path: Path, run_dir: Path, out: Path, **kwargs) -> batch.PhotoResult:
    (result,) = batch.colorize([path], out, run_dir, device="cpu", **kwargs)
    return result


# ---------------------------------------------------------------- shapes and lightness


def test_model_shape_keeps_aspect_in_multiples_of_8():
    assert photo.model_shape(427, 641, 128) == (128, 192)  # 641 * 128 / 427 = 192.1
    assert photo.model_shape(641, 427, 32) == (48, 32)
    assert photo.model_shape(100, 100, 128) == (96, 96)  # never enlarged; 12.5 rounds to 12
    assert photo.model_shape(32, 48, 64) == (32, 48)  # a thumbnail runs at its own size
    h, w = photo.model_shape(200, 200_000, 128)  # a panorama hits the pixel cap, aspect kept
    assert h * w <= photo.MODEL_PIXEL_CAP and h % 8 == w % 8 == 0 and 900 < w / h < 1100
    with pytest.raises(ValueError, match="multiple of 8"):
        photo.check_size(30)
    with pytest.raises(ValueError, match="size must be a positive multiple of 8, got 0"):
        photo.model_shape(100, 100, 0)  # the library's one check, on every path to the model


def test_ab_strips_are_exactly_bilinear_interpolation():
    ab = torch.randn(2, 13, 17)
    whole = F.interpolate(ab[None], size=(101, 17), mode="bilinear", align_corners=False)[0]
    strips = torch.cat([photo._ab_rows(ab, 101, s, min(s + 10, 101)) for s in range(0, 101, 10)], 1)
    torch.testing.assert_close(strips, whole, atol=1e-5, rtol=0)


def test_odd_size_keeps_size_and_the_input_lightness(run_dir, tmp_path):
    rgb = make_photo(427, 641)
    Image.fromarray(rgb).save(tmp_path / "odd.jpg", quality=95)
    result = colorize_one(tmp_path / "odd.jpg", run_dir, tmp_path / "out", suffix="png")
    assert result.ok and result.output == tmp_path / "out" / "odd.png"
    assert result.was_colour and photo.ALREADY_COLOUR in result.notes and result.seconds > 0
    out = read(result.output)
    assert out.shape == (427, 641, 3)
    d_l = np.abs(lightness(out) - lightness(images.read_rgb(tmp_path / "odd.jpg")))
    assert d_l.max() < MAX_DL, d_l.max()
    assert np.abs(out[..., 0].astype(int) - out[..., 2]).mean() > 1  # it did add colour
    default = colorize_one(tmp_path / "odd.jpg", run_dir, tmp_path / "jpg")  # keeps the format
    assert default.output.suffix == ".jpg" and Image.open(default.output).size == (641, 427)


def test_portrait_exif_gives_the_displayed_size_upright(run_dir, tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, displayed rotated 90 degrees clockwise
    Image.fromarray(make_photo(61, 93)).save(tmp_path / "portrait.jpg", exif=exif, quality=95)
    upright = np.asarray(ImageOps.exif_transpose(Image.open(tmp_path / "portrait.jpg")))
    assert upright.shape[:2] == (93, 61)
    result = colorize_one(tmp_path / "portrait.jpg", run_dir, tmp_path / "out", suffix=".png")
    out = read(result.output)
    assert out.shape == upright.shape
    assert np.abs(lightness(out) - lightness(upright)).max() < MAX_DL


def _mode_image(mode: str, rgb: np.ndarray) -> Image.Image:
    if mode == "I;16":  # 16-bit grayscale with values across the whole 16-bit range
        return Image.fromarray((rgb[..., 1].astype(np.uint16) * 257).astype(np.uint16))
    if mode == "RGBA":
        alpha = np.tile(np.linspace(0, 255, rgb.shape[1]).astype(np.uint8), (rgb.shape[0], 1))
        return Image.fromarray(np.dstack([rgb, alpha]))
    if mode == "P":
        return Image.fromarray(rgb).quantize(64)
    return Image.fromarray(rgb).convert(mode)


@pytest.mark.parametrize(
    ("mode", "suffix"),
    [("L", ".png"), ("P", ".png"), ("RGBA", ".png"), ("CMYK", ".jpg"), ("I;16", ".png")],
)
def test_every_odd_input_mode(run_dir, tmp_path, mode, suffix):
    source = _mode_image(mode, make_photo(45, 67))
    source.save(tmp_path / f"in{suffix}")
    assert Image.open(tmp_path / f"in{suffix}").mode == mode
    result = colorize_one(tmp_path / f"in{suffix}", run_dir, tmp_path / "out", suffix=".png")
    assert result.ok, result.reason
    saved = Image.open(result.output)
    assert saved.size == (67, 45)
    decoded = images.read_rgb_alpha(tmp_path / f"in{suffix}")
    d_l = np.abs(lightness(np.asarray(saved.convert("RGB"))) - lightness(decoded.rgb))
    assert d_l.max() < MAX_DL, d_l.max()
    assert result.was_colour == (mode not in ("L", "I;16"))
    if mode == "RGBA":  # alpha kept exactly
        assert saved.mode == "RGBA"
        np.testing.assert_array_equal(np.asarray(saved)[..., 3], np.asarray(source)[..., 3])
    if mode == "I;16":
        assert any("8-bit" in note for note in result.notes)


def test_alpha_is_composited_on_white_for_jpeg_and_said(run_dir, tmp_path):
    _mode_image("RGBA", make_photo(40, 48)).save(tmp_path / "alpha.png")
    result = colorize_one(tmp_path / "alpha.png", run_dir, tmp_path / "out", suffix="jpg")
    assert result.ok and any("composited on white" in note for note in result.notes)
    out = read(result.output)
    assert out[:, 0].min() > 240  # fully transparent column: white


class Saturated(torch.nn.Module):
    """Loud colour everywhere, most of it outside sRGB at the given lightness."""

    def forward(self, lightness: torch.Tensor) -> torch.Tensor:
        return torch.tanh(
            torch.cat([3 * torch.sin(20 * lightness), 3 * torch.cos(20 * lightness)], 1)
        )


def test_colours_outside_srgb_lose_chroma_not_lightness():
    ramp = np.tile(np.linspace(0, 255, 256).astype(np.uint8), (16, 1))  # black to white
    rgb = np.dstack([ramp] * 3)
    out = photo.colorize_rgb(Saturated(), rgb, 16)
    assert np.abs(lightness(out) - lightness(rgb)).max() < MAX_DL
    spread = out.max(-1).astype(int) - out.min(-1)
    assert spread[:, 100:150].mean() > 50 and spread[:, 0].max() <= 1 and spread[:, -1].max() <= 1


def test_colorize_image_takes_arrays_and_paths(model, tmp_path):
    gray = make_photo(33, 50)[..., 0]
    rgb, alpha = photo.colorize_image(model, gray, size=32)
    assert rgb.shape == (33, 50, 3) and rgb.dtype == np.uint8 and alpha is None
    Image.fromarray(gray).save(tmp_path / "g.png")
    np.testing.assert_array_equal(photo.colorize_image(model, tmp_path / "g.png", size=32)[0], rgb)


# ---------------------------------------------------------------- huge images


def test_strips_equal_the_whole_image(model, monkeypatch):
    rgb = make_photo(101, 67)
    whole = photo.colorize_rgb(model, rgb, 32)
    monkeypatch.setattr(photo, "STRIP_PIXELS", 67 * 7)  # 7-row strips, the last one shorter
    stripped = photo.colorize_rgb(model, rgb, 32)
    assert np.abs(whole.astype(int) - stripped).max() <= 1


def test_decompression_bombs_are_refused_clearly(run_dir, tmp_path, monkeypatch):
    Image.fromarray(make_photo(60, 60)).save(tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 3600 pixels > 2 x 1000: refused
    result = colorize_one(tmp_path / "big.png", run_dir, tmp_path / "out")
    assert result.status == batch.FAILED and result.reason.startswith(images.TOO_LARGE)


# ---------------------------------------------------------------- bad files, checkpoints


def test_truncated_jpeg_is_skipped_with_its_reason(run_dir, tmp_path, capsys):
    Image.fromarray(make_photo(80, 120)).save(tmp_path / "whole.jpg")
    data = (tmp_path / "whole.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    result = colorize_one(tmp_path / "cut.jpg", run_dir, tmp_path / "out")
    assert result.status == batch.FAILED and result.output is None
    assert result.reason.startswith(images.CORRUPT) and "truncated" in result.reason
    arguments = [str(tmp_path / "cut.jpg"), "-o", str(tmp_path / "o"), "--checkpoint", str(run_dir)]
    status = cli.main(arguments)
    assert status == 1 and "0 colourised" in capsys.readouterr().out


def test_foreign_checkpoint_is_a_clear_error(tmp_path):
    torch.save({"weights": torch.zeros(3)}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not a colorize checkpoint"):
        batch.colorize([tmp_path], tmp_path / "out", tmp_path / "foreign.pt")
    (tmp_path / "notes.txt").write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="notes.txt"):
        sources.load_colorizer(tmp_path / "notes.txt")
    Image.fromarray(make_photo(20, 20)).save(tmp_path / "a.png")
    command = [sys.executable, "-m", "colorize_core.apps.cli", str(tmp_path / "a.png")]
    command += ["--checkpoint", str(tmp_path / "foreign.pt"), "-o", str(tmp_path / "out")]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 2
    assert "not a colorize checkpoint" in done.stderr and "Traceback" not in done.stderr


def test_usage_errors_exit_2(run_dir, tmp_path):
    for bad in (["--size", "30"], ["--format", "xyz"], ["--device", "nonsense"]):
        with pytest.raises(SystemExit) as exit_info:
            cli.main([str(tmp_path), "--checkpoint", str(run_dir), *bad])
        assert exit_info.value.code == 2


def doctored(run_dir: Path, path: Path, change) -> Path:
    """The tiny run's real checkpoint, ``change(state)`` applied, saved as ours at ``path``."""
    state = load_checkpoint(best_checkpoint(run_dir))
    change(state)
    save_checkpoint(path, state)
    return path


def refused_checkpoint(checkpoint: Path, tmp_path: Path, capsys, naming: str = "") -> str:
    """Run the command line on one photo with ``checkpoint``; assert it is refused as unusable,
    exit 2, in one line naming ``naming`` (default: the checkpoint), with nothing written;
    return that line."""
    Image.fromarray(make_photo(20, 20)).save(tmp_path / "a.png")
    out = tmp_path / "out"
    status = cli.main([str(tmp_path / "a.png"), "-o", str(out), "--checkpoint", str(checkpoint)])
    error = capsys.readouterr().err
    assert status == 2 and error.count("\n") == 1 and (naming or str(checkpoint)) in error, error
    assert "Traceback" not in error and not out.exists()
    return error


@pytest.mark.parametrize("config_checks", [True, False], ids=["config-checks", "no-checks"])
@pytest.mark.parametrize("image_size", [0, 7, -8, 12])
def test_impossible_training_size_is_an_unusable_checkpoint(
    run_dir, tmp_path, capsys, monkeypatch, image_size, config_checks
):
    def change(state):
        state["config"]["data"]["image_size"] = image_size

    checkpoint = doctored(run_dir, tmp_path / "bad.pt", change)
    if not config_checks:  # refused by the loader itself where the config class lets it through
        monkeypatch.setattr(ExperimentConfig, "__post_init__", lambda self: None)
    error = refused_checkpoint(checkpoint, tmp_path, capsys)
    assert "image_size must be" in error and f"got {image_size}" in error


UNUSABLE = {
    "unknown model": lambda s: s["config"]["model"].update(model="no_such_model"),
    "weights of another width": lambda s: s["config"]["model"].update(model_kwargs={"base": 16}),
    "unknown model argument": lambda s: s["config"]["model"].update(model_kwargs={"width": 8}),
    "bad config value": lambda s: s["config"]["train"].update(loss="no_such_loss"),
    "config not a dict": lambda s: s.update(config=[1, 2]),
    "no config": lambda s: s.pop("config"),
    "no modules": lambda s: s.pop("modules"),
    "no model weights": lambda s: s["modules"].pop("model"),
    "weights not a dict": lambda s: s["modules"].update(model=torch.zeros(3)),
}


@pytest.mark.parametrize("change", UNUSABLE.values(), ids=UNUSABLE.keys())
def test_every_unusable_checkpoint_is_one_line_exit_2(run_dir, tmp_path, capsys, change):
    refused_checkpoint(doctored(run_dir, tmp_path / "bad.pt", change), tmp_path, capsys)


def test_unusable_run_folders_are_one_line_exit_2(tmp_path, capsys):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    refused_checkpoint(broken, tmp_path, capsys)
    ensemble = ExperimentConfig.from_params(
        name="ens", output_dir=str(tmp_path), model="ensemble", model_kwargs={"members": ["gone"]}
    )
    ensemble.run_dir.mkdir()
    ensemble.save(ensemble.run_dir / "config.json")
    refused_checkpoint(ensemble.run_dir, tmp_path, capsys, naming="ens: member 'gone'")


# ---------------------------------------------------------------- folders and comparisons


def test_folder_with_good_and_bad_files(run_dir, tmp_path, capsys, caplog):
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    Image.fromarray(make_photo(40, 56)).save(folder / "b.jpg")
    Image.fromarray(make_photo(48, 40)[..., 0]).save(folder / "sub" / "a.png")
    (folder / "broken.jpg").write_bytes((folder / "b.jpg").read_bytes()[:400])
    (folder / "notes.txt").write_text("shopping list")
    out = tmp_path / "out"
    status = cli.main([str(folder), "-o", str(out), "--checkpoint", str(run_dir), "--compare"])
    assert status == 1
    summary = capsys.readouterr().out
    assert "2 colourised" in summary and "first frame" not in summary
    assert "broken.jpg" in caplog.text and images.CORRUPT in caplog.text
    assert "notes.txt" in caplog.text
    assert Image.open(out / "b.jpg").size == (56, 40)
    assert Image.open(out / "sub" / "a.png").size == (40, 48)  # subfolders mirrored
    # comparison: gray | colourised (| original for a colour input), 4 px apart
    assert Image.open(out / "b_compare.png").size == (3 * 56 + 2 * photo.COMPARE_GAP, 40)
    assert Image.open(out / "sub" / "a_compare.png").size == (2 * 40 + photo.COMPARE_GAP, 48)

    results = batch.colorize([folder], folder / "colour", run_dir, device="cpu")  # output inside
    assert [(r.input.name, r.status) for r in results] == [
        ("b.jpg", "ok"), ("broken.jpg", "failed"), ("notes.txt", "skipped"), ("a.png", "ok")
    ]  # fmt: skip
    again = batch.colorize([folder], folder / "colour", run_dir, device="cpu", overwrite=True)
    assert len(again) == len(results)  # its own outputs are never inputs
    same = batch.colorize([folder / "b.jpg"], folder, run_dir, device="cpu")
    assert same[0].output == folder / "b_colorized.jpg"  # never overwrites the input


def test_missing_input_and_empty_folder_fail(run_dir, tmp_path):
    (tmp_path / "empty").mkdir()
    results = batch.colorize([tmp_path / "nope.jpg", tmp_path / "empty"], tmp_path / "o", run_dir)
    assert [r.status for r in results] == [batch.FAILED, batch.FAILED]


def test_multi_frame_files_say_only_the_first_frame_is_colourised(
    run_dir, tmp_path, capsys, caplog
):
    frames = [Image.fromarray(make_photo(40, 56, seed)) for seed in range(3)]
    frames[0].save(tmp_path / "moving.gif", save_all=True, append_images=frames[1:])
    frames[0].save(tmp_path / "pages.tif", save_all=True, append_images=frames[1:2])
    frames[0].save(tmp_path / "still.png")
    inputs = [str(tmp_path / name) for name in ("moving.gif", "pages.tif", "still.png")]
    out = tmp_path / "out"
    assert cli.main([*inputs, "-o", str(out), "--checkpoint", str(run_dir)]) == 0
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("moving.gif" in m and "only the first of 3 frames" in m for m in warned), warned
    assert any("pages.tif" in m and "only the first of 2 frames" in m for m in warned), warned
    assert not any("still.png" in m for m in warned)
    summary = capsys.readouterr().out
    assert "3 colourised" in summary and "(2 of them: first frame only)" in summary
    for name in ("moving.png", "pages.tif", "still.png"):  # all colourised, full size
        assert Image.open(out / name).size == (56, 40)
    assert Image.open(out / "moving.png").n_frames == 1


# ---------------------------------------------------------------- output paths


def snapshot(folder: Path) -> dict[Path, bytes]:
    """Every file under ``folder`` and its bytes: what a refused run must leave as it was."""
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_an_output_never_replaces_an_input(run_dir, tmp_path, capsys):
    # a.jpg as PNG would be written over the input a.png, which would then be read as a photo
    Image.fromarray(make_photo(40, 56)).save(tmp_path / "a.jpg")
    Image.fromarray(make_photo(40, 56, seed=1)[..., 0]).save(tmp_path / "a.png")
    before = snapshot(tmp_path)
    inputs = [str(tmp_path / "a.jpg"), str(tmp_path / "a.png")]
    for overwrite in ([], ["--overwrite"]):  # not even when asked to overwrite
        arguments = [*inputs, "-o", str(tmp_path), "--format", "png", *overwrite]
        assert cli.main([*arguments, "--checkpoint", str(run_dir)]) == 2
        error = capsys.readouterr().err
        assert "nothing was written" in error
        assert f"{tmp_path / 'a.png'}: an input, which the output of {inputs[0]}" in error
        assert snapshot(tmp_path) == before  # nothing replaced, nothing added


def test_two_photos_with_one_output_name_clash(run_dir, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(make_photo(40, 56)).save(folder / "a.jpg")
    Image.fromarray(make_photo(40, 56, seed=1)).save(folder / "a.png")
    out = tmp_path / "out"
    with pytest.raises(batch.OutputClash, match="a.png: the output of both") as info:
        batch.colorize([folder], out, run_dir, suffix="png")
    assert str(folder / "a.jpg") in str(info.value) and str(folder / "a.png") in str(info.value)
    with pytest.raises(batch.OutputClash, match="a_compare.png: the output of both"):
        batch.colorize([folder], out, run_dir, compare=True)  # a.jpg, a.png: one comparison
    assert not out.exists()


def test_a_rerun_replaces_earlier_outputs_only_with_overwrite(run_dir, tmp_path, capsys):
    photos, out = tmp_path / "photos", tmp_path / "out"
    photos.mkdir()
    Image.fromarray(make_photo(40, 56)).save(photos / "b.jpg")
    arguments = [str(photos), "-o", str(out), "--checkpoint", str(run_dir), "--compare"]
    assert cli.main(arguments) == 0
    (out / "b.jpg").write_bytes(b"an earlier result")
    earlier = snapshot(out)
    capsys.readouterr()
    assert cli.main(arguments) == 2
    error = capsys.readouterr().err
    assert f"{out / 'b.jpg'}: exists already" in error and "b_compare.png" in error
    assert "--overwrite" in error and snapshot(out) == earlier
    assert cli.main([*arguments, "--overwrite"]) == 0
    assert Image.open(out / "b.jpg").size == (56, 40)  # replaced by the new result


def test_output_folder_that_is_the_input_folder_is_a_usage_error(run_dir, tmp_path, capsys):
    Image.fromarray(make_photo(40, 56)).save(tmp_path / "b.jpg")
    before = snapshot(tmp_path)
    assert cli.main([str(tmp_path), "-o", str(tmp_path), "--checkpoint", str(run_dir)]) == 2
    error = capsys.readouterr().err
    assert "is the input folder" in error and "no images" not in error
    assert snapshot(tmp_path) == before


def test_output_folder_around_or_inside_the_input_folder(run_dir, tmp_path):
    photos = tmp_path / "out" / "photos"  # output folder around the input folder: works
    photos.mkdir(parents=True)
    Image.fromarray(make_photo(40, 56)).save(photos / "b.jpg")
    (result,) = batch.colorize([photos], tmp_path / "out", run_dir, device="cpu")
    assert result.ok and result.output == tmp_path / "out" / "b.jpg"
    # a folder whose only images are in the output folder inside it: said as such
    earlier = tmp_path / "earlier"
    (earlier / "colour").mkdir(parents=True)
    Image.fromarray(make_photo(40, 56)).save(earlier / "colour" / "b.jpg")
    (result,) = batch.colorize([earlier], earlier / "colour", run_dir)
    assert result.status == batch.FAILED and "no images outside the output folder" in result.reason
    assert "the 1 there are taken for outputs of an earlier run" in result.reason


# ---------------------------------------------------------------- notebook


def test_notebook_helpers(run_dir, tmp_path):
    assert photo_notebook.find_runs(run_dir.parent.parent) == [run_dir]
    with pytest.raises(FileNotFoundError, match="no run"):
        photo_notebook.find_runs(tmp_path)
    models = photo_notebook.load_runs([run_dir])
    assert list(models) == ["custom/tiny"]
    faces = photo_notebook.notebook_images(None, None)  # no path, no upload: test faces
    assert len(faces) == 3 and all(f.is_file() for f in faces)
    fig = photo_notebook.plot_colorized(models, faces[0], device="cpu")
    assert len(fig.axes) == 3  # gray input, the model, the original (faces are colour)
    page = photo_notebook.web_page(models, "cpu")  # the notebook's inline colorize serve
    try:
        assert '<option value="custom/tiny">' in urllib.request.urlopen(page.url).read().decode()
        assert page.url in page._repr_html_()
    finally:
        page.stop()


def test_notebook_committed_without_outputs_and_one_parameters_cell():
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    assert all(c["outputs"] == [] and c["execution_count"] is None for c in code)
    tagged = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1
    assert all(len("".join(c["source"]).splitlines()) <= 8 for c in code)
    assert not any("def " in "".join(c["source"]) for c in code)


@pytest.mark.notebook
def test_notebook_runs_headless(tmp_path):
    import papermill

    from colorize_core.reporting import suite

    run = tiny_run(tmp_path / "results", "cnn8", 8)
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(make_photo(40, 56)).save(photos / "colour.jpg")
    Image.fromarray(make_photo(48, 40)[..., 1]).save(photos / "gray.png")
    out = tmp_path / "executed.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOK), str(out), kernel_name=suite.ensure_kernel(), cwd=str(NOTEBOOK.parent),
        parameters={"RESULTS_DIR": str(tmp_path / "results"), "IMAGES": str(photos)},
        progress_bar=False,
    )  # fmt: skip
    outputs = [o for c in json.loads(out.read_text())["cells"] for o in c.get("outputs", [])]
    figures = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(figures) == 2, outputs  # one row per photo
    assert str(run.name) in out.read_text()


def test_a_full_disk_leaves_whole_outputs_or_none_and_stops(run_dir, tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(make_photo(24, 24)).save(photos / "a.png")
    noise = np.random.default_rng(0).integers(0, 256, (400, 400, 3), dtype=np.uint8)
    Image.fromarray(noise).save(photos / "noise.png")  # about 480 kB of PNG: it cannot fit
    Image.fromarray(make_photo(24, 24)).save(photos / "z.png")
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)], check=True)
    try:
        status = cli.main([str(photos), "-o", str(disk), "--checkpoint", str(run_dir)])
        written = sorted(p.name for p in disk.iterdir())
        a = read(disk / "a.png")
    finally:
        subprocess.run(["umount", "--lazy", str(disk)], check=True)
    captured = capsys.readouterr()
    assert status == 1 and written == ["a.png"] and a.shape == (24, 24, 3)  # whole, or absent
    assert f"noise.png: no space left on {disk}" in captured.err
    assert f"z.png: not tried: no space left on {disk}" in captured.err
    assert "1 colourised" in captured.out and "2 failed" in captured.out


def test_an_output_folder_under_a_file_is_a_usage_error_before_any_photo_is_read(
    run_dir, tmp_path, capsys, monkeypatch
):
    Image.fromarray(make_photo(24, 24)).save(tmp_path / "a.png")
    (tmp_path / "notes.txt").write_text("a file")
    read_any = []
    monkeypatch.setattr(images, "read_rgb_alpha", lambda *a: read_any.append(a))
    for output in (tmp_path / "notes.txt", tmp_path / "notes.txt" / "out"):
        with pytest.raises(SystemExit) as exit_info:
            cli.main([str(tmp_path / "a.png"), "-o", str(output), "--checkpoint", str(run_dir)])
        error = capsys.readouterr().err
        assert exit_info.value.code == 2 and "is a file, not a folder" in error
        assert error.strip().splitlines()[-1].startswith("colorize: error: -o ")
    assert read_any == [] and (tmp_path / "notes.txt").read_text() == "a file"


def test_overwrite_replaces_a_link_never_its_target(run_dir, tmp_path):
    Image.fromarray(make_photo(24, 24)).save(tmp_path / "a.png")
    Image.fromarray(make_photo(24, 24, seed=1)).save(tmp_path / "b.png")
    victim, elsewhere = tmp_path / "victim.txt", tmp_path / "elsewhere" / "b.png"
    victim.write_text("precious")
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.png").symlink_to(victim)
    (out / "b.png").symlink_to(elsewhere)  # dangling
    inputs = [str(tmp_path / "a.png"), str(tmp_path / "b.png")]
    assert cli.main([*inputs, "-o", str(out), "--checkpoint", str(run_dir), "--overwrite"]) == 0
    assert victim.read_text() == "precious" and not elsewhere.parent.exists()
    for name in ("a.png", "b.png"):
        assert not (out / name).is_symlink() and read(out / name).shape == (24, 24, 3)
