"""Figures: each function returns a Figure with the expected panels and titles, headless."""

from __future__ import annotations

import io

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.figure import Figure
from PIL import Image, JpegImagePlugin

from colorize_core.data.cache import LabImages
from colorize_core.data.color import rgb_to_lab
from colorize_core.evaluation.evaluate import Evaluation, long_summary
from colorize_core.reporting import plots

N, SIZE = 4, 16


@pytest.fixture(autouse=True)
def _no_pyplot_figures():
    """The functions build bare Figures: none may be left registered with pyplot."""
    yield
    leaked = plt.get_fignums()
    plt.close("all")
    assert leaked == [], "a plot function opened a pyplot figure"


def random_lab(n: int = N, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """L (n, 1, S, S) in [0, 100] and ab (n, 2, S, S) in [-40, 40]."""
    generator = torch.Generator().manual_seed(seed)
    lightness = 100 * torch.rand(n, 1, SIZE, SIZE, generator=generator)
    ab = 80 * torch.rand(n, 2, SIZE, SIZE, generator=generator) - 40
    return lightness, ab


def visible_axes(fig: Figure) -> list:
    # colour bars are axes too; they have no title
    return [ax for ax in fig.axes if ax.get_visible()]


def history(epochs: int, adversarial: bool = False) -> pd.DataFrame:
    epoch = np.arange(1, epochs + 1)
    frame = pd.DataFrame(
        {"epoch": epoch, "loss": 1.0 / epoch, "val_loss": 1.2 / epoch, "lr": np.full(epochs, 1e-3)}
    )
    if adversarial:
        frame = frame.assign(loss_g=5.0 / epoch, loss_d=np.full(epochs, 0.7))
    return frame


def per_image_table(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "psnr_ab": rng.normal(25, 2, 20),
            "ssim_rgb": rng.uniform(0.8, 1.0, 20),
            "delta_e2000": rng.normal(8, 1, 20),
            "colorfulness_pred": rng.normal(20, 3, 20),
            "colorfulness_true": rng.normal(30, 3, 20),
        },
        index=pd.Index([f"img{i}.jpg" for i in range(20)], name="file"),
    )


def quick_summary(table: pd.DataFrame) -> pd.DataFrame:
    # a cheap stand-in for evaluate.summarize (no bootstrap): mean +- 1 standard error
    mean, error = table.mean(), table.sem()
    summary = pd.DataFrame({"mean": mean, "ci_low": mean - error, "ci_high": mean + error})
    summary["n"] = len(table)
    summary.index.name = "metric"
    return summary


def summary_rows(predictor: str, kind: str, means: dict[str, float], ci: bool = True):
    return [
        {
            "predictor": predictor,
            "metric": metric,
            "mean": mean,
            "ci_low": mean - 1 if ci else np.nan,
            "ci_high": mean + 1 if ci else np.nan,
            "kind": kind,
        }
        for metric, mean in means.items()
    ]


# ---------------------------------------------------------------- data and training


def test_plot_samples_colour_over_lightness_with_file_names():
    lightness, ab = random_lab(6)
    files = [f"folder/img_{i}.jpg" for i in range(6)]
    data = LabImages("synthetic", SIZE, files, torch.cat((lightness, ab), dim=1).half())
    fig = plots.plot_samples(data, n=3, seed=1)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 6  # 3 colour on top, 3 lightness below
    titles = [ax.get_title() for ax in fig.axes[:3]]
    assert all(t.startswith("img_") for t in titles)
    assert titles == [ax.get_title() for ax in plots.plot_samples(data, n=3, seed=1).axes[:3]]
    assert len(plots.plot_samples(data, n=50).axes) == 12  # capped at the dataset size


def test_plot_history_one_run_has_loss_and_lr_panels():
    fig = plots.plot_history(history(30))
    loss_ax, lr_ax = fig.axes
    assert loss_ax.get_title() == "Loss per epoch" and lr_ax.get_title() == "Learning rate"
    assert len(loss_ax.get_lines()) == 2  # train and val
    assert loss_ax.get_yscale() == "log"  # 1/epoch spans 30x
    assert [t.get_text() for t in loss_ax.get_legend().get_texts()] == ["train", "validation"]
    assert loss_ax.get_xlabel() == "epoch" and lr_ax.get_ylabel() == "learning rate"


def test_plot_history_several_runs_overlaid_with_adversarial_panel():
    fig = plots.plot_history({"unet": history(5), "gan": history(5, adversarial=True)})
    assert len(fig.axes) == 3
    assert fig.axes[2].get_title() == "Adversarial losses"
    assert len(fig.axes[0].get_lines()) == 4  # 2 runs x (train, val)
    assert len(fig.axes[2].get_lines()) == 2  # the gan's loss_g and loss_d
    run_legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert run_legend == ["unet", "gan"]
    colours = {line.get_color() for line in fig.axes[0].get_lines()}
    assert len(colours) == 2  # one colour per run


def test_plot_history_single_epoch_shows_markers():
    fig = plots.plot_history({"short": history(1)})
    lines = fig.axes[0].get_lines()
    assert all(line.get_marker() == "o" for line in lines)
    assert list(fig.axes[0].get_xticks()) == [1]


def test_plot_history_leaves_out_runs_without_epochs():
    fig = plots.plot_history({"trained": history(4), "ensemble": history(4).iloc[:0]})
    assert len(fig.axes[0].get_lines()) == 2  # the trained run's train and val only
    assert fig._suptitle.get_text() == "Training history: trained"
    with pytest.raises(ValueError, match="no run has an epoch"):
        plots.plot_history({"ensemble": history(4).iloc[:0]})


def test_plot_history_missing_column_is_an_error():
    with pytest.raises(ValueError, match="val_loss"):
        plots.plot_history(history(3).drop(columns="val_loss"))


# ---------------------------------------------------------------- predictions


def test_plot_predictions_columns_are_input_predictors_truth():
    lightness, ab_true = random_lab()
    predictions = {"gray": torch.zeros_like(ab_true), "unet": ab_true * 0.5}
    fig = plots.plot_predictions(lightness, predictions, ab_true, titles=list("abcd"))
    assert len(fig.axes) == N * 4
    column_titles = [ax.get_title() for ax in fig.axes[:4]]
    assert column_titles == ["input (L)", "gray", "unet", "ground truth"]
    assert [fig.axes[4 * row].get_ylabel() for row in range(N)] == list("abcd")
    assert all(len(ax.get_xticks()) == 0 and len(ax.get_yticks()) == 0 for ax in fig.axes)


def test_plot_predictions_shape_mismatch_is_an_error():
    lightness, ab_true = random_lab()
    with pytest.raises(ValueError, match="unet"):
        plots.plot_predictions(lightness, {"unet": ab_true[:2]}, ab_true)


def test_plot_ab_channels_rows_columns_and_colour_bars():
    lightness, ab_true = random_lab()
    fig = plots.plot_ab_channels(lightness, ab_true * 0.3, ab_true, n=3)
    titled = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in titled] == [
        "true photo",
        "a* predicted",
        "a* true",
        "b* predicted",
        "b* true",
    ]
    assert len(fig.axes) == 3 * 5 + 2  # image panels plus one colour bar per channel
    a_image = fig.axes[1].get_images()[0]
    assert a_image.get_clim() == (-plots.AB_LIMIT, plots.AB_LIMIT)


# ---------------------------------------------------------------- metrics


def test_plot_metric_bars_from_long_summary():
    evaluations = [
        Evaluation(name, "synthetic", "test", table, quick_summary(table))
        for name, table in (("gray", per_image_table(0)), ("unet", per_image_table(1)))
    ]
    fig = plots.plot_metric_bars(long_summary(evaluations))
    titles = [ax.get_title() for ax in visible_axes(fig)]
    assert titles == [
        "psnr_ab (higher is better)",
        "ssim_rgb (higher is better)",
        "delta_e2000 (lower is better)",
        "colorfulness_pred (closer to truth is better)",
    ]
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["gray", "unet"]
    colour_ax = visible_axes(fig)[3]
    truth = [line for line in colour_ax.get_lines() if line.get_label() == "ground truth"]
    assert len(truth) == 1
    expected = np.mean([e.summary.at["colorfulness_true", "mean"] for e in evaluations])
    assert truth[0].get_xdata()[0] == pytest.approx(expected)


def test_plot_metric_bars_kinds_and_quoted_rows_without_ci():
    summary = pd.DataFrame(
        summary_rows("unet", "model", {"psnr_ab": 25.0, "auc_ab": 0.9})
        + summary_rows("gray", "baseline", {"psnr_ab": 20.0, "auc_ab": 0.8})
        + summary_rows("paper", "quoted", {"psnr_ab": 24.0}, ci=False)
    )
    fig = plots.plot_metric_bars(summary)
    psnr_ax, auc_ax = visible_axes(fig)
    bars = psnr_ax.patches
    assert len(bars) == 3 and len(auc_ax.patches) == 2  # the paper quotes no AuC
    assert bars[2].get_hatch() == "//" and bars[0].get_hatch() is None
    assert len({tuple(bar.get_facecolor()) for bar in bars}) == 3  # coloured by kind
    assert len(psnr_ax.collections) == 2  # error bars for the two rows with a CI
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["model", "baseline", "quoted", "no CI (quoted)"]


def test_plot_metric_bars_rejects_unknown_metric_and_repeated_rows():
    summary = pd.DataFrame(summary_rows("unet", "model", {"psnr_ab": 25.0}))
    with pytest.raises(ValueError, match="delta_e76"):
        plots.plot_metric_bars(summary, metrics=["delta_e76"])
    with pytest.raises(ValueError, match="repeats"):
        plots.plot_metric_bars(pd.concat([summary, summary]))


def test_plot_metric_distributions_one_box_per_predictor_means_marked():
    per_image = {"gray": per_image_table(0), "unet": per_image_table(1), "gan": per_image_table(2)}
    fig = plots.plot_metric_distributions(per_image, metrics=["psnr_ab", "colorfulness_pred"])
    psnr_ax, colour_ax = visible_axes(fig)
    assert psnr_ax.get_title() == "psnr_ab (higher is better)"
    assert [t.get_text() for t in psnr_ax.get_xticklabels()] == ["gray", "unet", "gan"]
    means = [line for line in psnr_ax.get_lines() if line.get_marker() == "D"]
    assert [line.get_ydata()[0] for line in means] == pytest.approx(
        [table["psnr_ab"].mean() for table in per_image.values()]
    )
    assert any(line.get_linestyle() == "--" for line in colour_ax.get_lines())  # truth line


# ---------------------------------------------------------------- saving


def test_save_figure_writes_a_png(tmp_path):
    fig = plots.plot_history(history(3))
    path = plots.save_figure(fig, tmp_path / "new" / "folder" / "history")
    assert path == tmp_path / "new" / "folder" / "history.png"
    assert path.stat().st_size > 0
    with Image.open(path) as image:
        assert image.format == "PNG" and image.width > 100


def test_save_figure_writes_jpeg_for_a_jpg_suffix_at_full_chroma_resolution(tmp_path):
    lightness, ab = random_lab()
    path = plots.save_figure(plots.plot_predictions(lightness, {"m": ab}, ab), tmp_path / "p.jpg")
    with Image.open(path) as image:
        assert image.format == "JPEG" and image.width > 100
        assert JpegImagePlugin.get_sampling(image) == 0  # 4:4:4, colour not subsampled


def test_as_jpeg_is_the_same_picture_as_the_png_in_far_fewer_bytes(face_rgb):
    lab = rgb_to_lab(torch.from_numpy(face_rgb).permute(0, 3, 1, 2).float() / 255)
    lightness, ab = lab[:4, :1], lab[:4, 1:]
    fig = plots.plot_predictions(lightness, {"model": ab.flip(-1)}, ab)
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=100, bbox_inches="tight")
    shown = plots.as_jpeg(fig)
    assert shown.format == "jpeg" and shown.data[:2] == b"\xff\xd8"
    with Image.open(io.BytesIO(shown.data)) as jpeg, Image.open(png) as reference:
        assert jpeg.size == reference.size
        assert JpegImagePlugin.get_sampling(jpeg) == 0
        difference = np.abs(
            np.asarray(jpeg.convert("RGB"), dtype=float)
            - np.asarray(reference.convert("RGB"), dtype=float)
        )
    assert difference.mean() < 2.0  # of 255: the same picture
    assert len(shown.data) < len(png.getvalue()) / 2
