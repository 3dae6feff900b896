"""Pictures of data, training and results.

The ``plot_*`` functions return a ``matplotlib.figure.Figure`` built with the object-oriented API
and never touch pyplot: nothing is shown, no backend is chosen and no global figure is left open.
In a notebook, run ``%matplotlib inline`` once (it teaches IPython to draw any Figure), then make
the figure the cell's last expression or ``display(fig)`` it; ``save_figure`` writes a PNG. Photo
grids are better shown with ``as_jpeg`` and saved as ``.jpg``: a PNG of photos is several times
larger, and the executed report notebooks carry every picture they show.
"""

from __future__ import annotations

import io
import math
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from colorize_core.data.atomic import written_atomically
from colorize_core.data.color import join_lab, lab_to_rgb
from colorize_core.evaluation.metrics import METRICS, SPLIT_METRICS

if TYPE_CHECKING:
    from IPython.display import Image as IPythonImage

    from colorize_core.data.cache import LabImages

# The metrics a results figure shows unless asked otherwise (those present are used, in order;
# ab_js_divergence is a summary row, so only the bar chart has it).
DEFAULT_METRICS = (
    "psnr_ab", "ssim_rgb", "delta_e76", "delta_e2000", "colorfulness_pred", "auc_ab",
    "auc_ab_rebalanced", "ab_js_divergence",
)  # fmt: skip
# a* runs from green (-) to red/magenta (+), b* from blue (-) to yellow (+). Both maps are white at
# 0, so a washed-out (near-gray) prediction shows up as a pale image next to a saturated truth.
A_CMAP = "PiYG_r"
B_CMAP = LinearSegmentedColormap.from_list("b_blue_yellow", ["#2166ac", "#f7f7f7", "#d8a500"])
AB_LIMIT = 60.0  # colour scale of plot_ab_channels, Lab units; most natural-image ab lies inside
KIND_COLOURS = {"model": "C0", "baseline": "C7", "quoted": "C1"}  # plot_metric_bars bar colours
_CELL = 1.7  # inches per image in image grids: 8 rows x 6 columns stays about 10 x 14 inches
_PANEL_COLUMNS = 3  # metric panels per figure row


# ---------------------------------------------------------------- shared helpers


def _figure(width: float, height: float) -> Figure:
    # a bare Figure: not registered with pyplot, so it is neither auto-shown nor leaked
    return Figure(figsize=(width, height), layout="constrained")


def _rgb(lightness: torch.Tensor, ab: torch.Tensor) -> np.ndarray:
    """L (N, 1, H, W) and ab (N, 2, H, W), Lab units -> (N, H, W, 3) float sRGB in [0, 1]."""
    lab = join_lab(lightness.detach().cpu().float(), ab.detach().cpu().float())
    return lab_to_rgb(lab).permute(0, 2, 3, 1).numpy()


def _no_ticks(ax) -> None:
    # ticks off but the axis kept, so a row label (ylabel) still shows
    ax.set_xticks([])
    ax.set_yticks([])


def _check_images(
    lightness: torch.Tensor, ab_true: torch.Tensor, predictions: dict[str, torch.Tensor]
) -> None:
    if lightness.dim() != 4 or lightness.shape[1] != 1:
        raise ValueError(f"lightness must be (N, 1, H, W), got {tuple(lightness.shape)}")
    expected = (lightness.shape[0], 2, *lightness.shape[2:])
    for name, ab in {"ab_true": ab_true, **predictions}.items():
        if tuple(ab.shape) != expected:
            raise ValueError(f"{name} must be {expected} to match lightness, got {tuple(ab.shape)}")


def _require_columns(frame: pd.DataFrame, columns: tuple[str, ...], name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} lacks columns {missing}; it has {list(frame.columns)}")


def _log_if_wide(ax, values) -> None:
    """Log y scale when the positive, finite ``values`` span more than a factor of 10."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if values.size and values.min() > 0 and values.max() > 10 * values.min():
        ax.set_yscale("log")


def _choose_metrics(metrics: list[str] | None, available: set[str]) -> list[str]:
    if metrics is None:
        chosen = [m for m in DEFAULT_METRICS if m in available]
        if not chosen:
            raise ValueError(f"none of the default metrics {DEFAULT_METRICS} is in the data")
        return chosen
    missing = [m for m in metrics if m not in available]
    if missing:
        raise ValueError(f"metrics {missing} are not in the data; it has {sorted(available)}")
    return list(metrics)


def _metric_title(metric: str) -> str:
    info = METRICS.get(metric) or SPLIT_METRICS.get(metric)
    if info is None:
        return metric
    if info.higher_is_better is None:
        return f"{metric} (closer to truth is better)"
    return f"{metric} ({'higher' if info.higher_is_better else 'lower'} is better)"


def _metric_label(metric: str) -> str:
    info = METRICS.get(metric) or SPLIT_METRICS.get(metric)
    return info.name if info else metric


def _metric_axes(n: int, width: float, height: float) -> tuple[Figure, list]:
    """A figure with ``n`` panels of ``width`` x ``height`` inches, 3 per row; spares hidden."""
    columns = min(n, _PANEL_COLUMNS)
    rows = math.ceil(n / columns)
    fig = _figure(width * columns, height * rows)
    axes = list(fig.subplots(rows, columns, squeeze=False).ravel())
    for spare in axes[n:]:
        spare.set_visible(False)
    return fig, axes[:n]


# ---------------------------------------------------------------- data and training


def plot_samples(data: LabImages, n: int = 8, seed: int = 0) -> Figure:
    """``n`` images drawn at random (``seed``) from ``data``: colour on top, their L below.

    ``data.lab`` is (N, 3, S, S) Lab; titles are the file names (folders dropped).
    """
    if len(data) == 0:
        raise ValueError(f"{data.name} has no images to show")
    n = min(n, len(data))
    index = np.random.default_rng(seed).choice(len(data), size=n, replace=False)
    lab = data.lab[torch.as_tensor(index)].float()
    colour = _rgb(lab[:, :1], lab[:, 1:])
    fig = _figure(_CELL * n, 2 * _CELL + 0.5)
    axes = fig.subplots(2, n, squeeze=False)
    for column, i in enumerate(index):
        name = Path(data.files[i]).name
        axes[0, column].set_title(name if len(name) <= 20 else "…" + name[-19:], fontsize=7)
        axes[0, column].imshow(colour[column])
        axes[1, column].imshow(lab[column, 0].numpy(), cmap="gray", vmin=0, vmax=100)
        _no_ticks(axes[0, column])
        _no_ticks(axes[1, column])
    axes[0, 0].set_ylabel("colour")
    axes[1, 0].set_ylabel("L (model input)")
    fig.suptitle(f"{data.name}: {n} random images of {len(data)} ({data.size} px, seed {seed})")
    return fig


_ADVERSARIAL = {  # history column -> (line style, legend label)
    "loss_d": (":", "discriminator"),
    "loss_g_adv": ("-.", "generator, adversarial part"),
    "loss_g": ("-", "generator, adversarial + λ·L1"),
}


def plot_history(histories: pd.DataFrame | dict[str, pd.DataFrame]) -> Figure:
    """Training curves of one run (a DataFrame) or several (``{run name: DataFrame}``).

    Each history has one row per epoch with columns ``epoch``, ``loss`` (train), ``val_loss`` and
    ``lr``, and for adversarial runs ``loss_d``, ``loss_g`` (and ``loss_g_adv``). Panels: train
    (solid) and validation (dashed) loss, one colour per run, log scale when the losses span more
    than 10x; learning rate; the adversarial losses if any run has them. Runs without epochs
    (ensembles, which train nothing) are left out.
    """
    runs = {"": histories} if isinstance(histories, pd.DataFrame) else dict(histories)
    for name, history in runs.items():
        _require_columns(history, ("epoch", "loss", "val_loss", "lr"), f"history {name!r}")
    runs = {name: history for name, history in runs.items() if not history.empty}
    if not runs:
        raise ValueError("no training history to plot: no run has an epoch")
    adversarial = [c for c in _ADVERSARIAL if any(c in h for h in runs.values())]
    fig = _figure(4.2 * (3 if adversarial else 2), 3.6)
    axes = fig.subplots(1, 3 if adversarial else 2, squeeze=False)[0]
    loss_ax, lr_ax = axes[0], axes[1]

    # markers on short runs, where a line alone is hard to see (one epoch: a point); val hollow
    for i, history in enumerate(runs.values()):
        style = {"color": f"C{i % 10}", "marker": "o" if len(history) <= 10 else None, "ms": 4}
        loss_ax.plot(history["epoch"], history["loss"], "-", **style)
        loss_ax.plot(history["epoch"], history["val_loss"], "--", mfc="white", **style)
        lr_ax.plot(history["epoch"], history["lr"], "-", **style)
        for column in adversarial:
            if column in history:
                axes[2].plot(history["epoch"], history[column], _ADVERSARIAL[column][0], **style)

    frames = list(runs.values())
    marker = "o" if min(len(h) for h in frames) <= 10 else None
    _log_if_wide(loss_ax, np.concatenate([np.r_[h["loss"], h["val_loss"]] for h in frames]))
    _log_if_wide(lr_ax, np.concatenate([h["lr"] for h in frames]))
    loss_ax.set(title="Loss per epoch", ylabel="loss (training objective)")
    train, val = (
        Line2D([], [], color="k", ls=ls, marker=marker, ms=4, mfc=mfc)
        for ls, mfc in (("-", "k"), ("--", "white"))
    )
    loss_ax.legend([train, val], ["train", "validation"])
    lr_ax.set(title="Learning rate", ylabel="learning rate")
    if adversarial:
        _log_if_wide(axes[2], np.concatenate([h[c] for h in frames for c in adversarial if c in h]))
        axes[2].set(title="Adversarial losses", ylabel="loss")
        styles = [Line2D([], [], color="k", ls=_ADVERSARIAL[c][0]) for c in adversarial]
        axes[2].legend(styles, [_ADVERSARIAL[c][1] for c in adversarial], fontsize=8)
    epochs = np.concatenate([h["epoch"] for h in frames])
    for ax in axes:
        ax.set_xlabel("epoch")
        if epochs.min() == epochs.max():  # one epoch: its own tick, not fractions around it
            ax.set_xticks([epochs.min()])
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)

    names = list(runs)
    if len(names) > 1:
        handles = [Line2D([], [], color=f"C{i % 10}", lw=2) for i in range(len(names))]
        fig.legend(handles, names, loc="outside lower center", ncols=min(len(names), 5))
    fig.suptitle(f"Training history{': ' + names[0] if len(names) == 1 and names[0] else ''}")
    return fig


# ---------------------------------------------------------------- predictions


def plot_predictions(
    lightness: torch.Tensor,
    predictions: dict[str, torch.Tensor],
    ab_true: torch.Tensor,
    titles: list[str] | None = None,
) -> Figure:
    """One row per image: the gray input | each predictor's colouring | the ground truth.

    lightness (N, 1, H, W) with L in [0, 100]; each prediction and ab_true (N, 2, H, W) in Lab
    units, shown as the true L with that ab. ``titles`` (N labels, e.g. file names) label the rows.
    """
    _check_images(lightness, ab_true, predictions)
    n = lightness.shape[0]
    if titles is not None and len(titles) != n:
        raise ValueError(f"titles has {len(titles)} labels for {n} images")
    columns = {
        "input (L)": torch.zeros_like(ab_true),
        **predictions,
        "ground truth": ab_true,
    }
    if len(columns) != len(predictions) + 2:
        raise ValueError("predictor names must differ from 'input (L)' and 'ground truth'")
    fig = _figure(_CELL * len(columns), _CELL * n + 0.3)
    axes = fig.subplots(n, len(columns), squeeze=False)
    for column, (name, ab) in enumerate(columns.items()):
        rgb = _rgb(lightness, ab)
        axes[0, column].set_title(textwrap.fill(name, 22), fontsize=10)
        for row in range(n):
            axes[row, column].imshow(rgb[row])
            _no_ticks(axes[row, column])
    for row, title in enumerate(titles or []):
        axes[row, 0].set_ylabel(title, fontsize=8)
    return fig


def plot_ab_channels(
    lightness: torch.Tensor,
    ab_pred: torch.Tensor,
    ab_true: torch.Tensor,
    n: int = 3,
    limit: float = AB_LIMIT,
) -> Figure:
    """Predicted against true a* and b* for the first ``n`` images, one row each.

    Columns: the true photo (for orientation), a* predicted, a* true, b* predicted, b* true.
    lightness (N, 1, H, W) in [0, 100]; ab_pred and ab_true (N, 2, H, W) in Lab units, drawn on
    the fixed scale -limit..limit: a* with ``A_CMAP`` (green - white - magenta), b* with
    ``B_CMAP`` (blue - white - yellow). White is neutral gray, so a prediction that is paler than
    the truth is washed out.
    """
    _check_images(lightness, ab_true, {"ab_pred": ab_pred})
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    n = min(n, lightness.shape[0])
    photo = _rgb(lightness[:n], ab_true[:n])
    pred, true = ab_pred[:n].detach().cpu().float(), ab_true[:n].detach().cpu().float()
    panels = [  # (title, (n, H, W) values or None for the photo, colormap)
        ("true photo", None, None),
        ("a* predicted", pred[:, 0], A_CMAP),
        ("a* true", true[:, 0], A_CMAP),
        ("b* predicted", pred[:, 1], B_CMAP),
        ("b* true", true[:, 1], B_CMAP),
    ]
    fig = _figure(_CELL * len(panels), _CELL * n + 1.2)
    axes = fig.subplots(n, len(panels), squeeze=False)
    images = {}
    for column, (title, values, cmap) in enumerate(panels):
        axes[0, column].set_title(title, fontsize=10)
        for row in range(n):
            ax = axes[row, column]
            if values is None:
                ax.imshow(photo[row])
            else:
                images[column] = ax.imshow(values[row].numpy(), cmap=cmap, vmin=-limit, vmax=limit)
            _no_ticks(ax)
    for column, label in (
        (1, "a*, Lab units (green − … + magenta)"),
        (3, "b*, Lab units (blue − … + yellow)"),
    ):
        bar = fig.colorbar(
            images[column],
            ax=axes[:, column : column + 2],
            location="bottom",
            extend="both",
            shrink=0.9,
            aspect=25,
        )
        bar.set_label(label)
    fig.suptitle("Chroma channels: white = gray; paler than the truth = washed out")
    return fig


# ---------------------------------------------------------------- metrics


def plot_metric_bars(summary: pd.DataFrame, metrics: list[str] | None = None) -> Figure:
    """Mean of each metric per predictor, with its 95% CI, one panel per metric.

    ``summary`` is in ``evaluate.long_summary`` form, one dataset and split: columns
    ``predictor``, ``metric``, ``mean``, ``ci_low``, ``ci_high``, and optionally ``kind``
    (``model``, ``baseline``, ``quoted``, ...) which colours the bars. A row without a CI (NaN,
    e.g. a number quoted from a paper) is drawn hatched without an error bar. ``metrics``
    defaults to those of ``DEFAULT_METRICS`` present (``ab_js_divergence``'s bar is the split's
    value, not a mean). The true images' mean colourfulness, if the summary has
    ``colorfulness_true`` rows, is a dashed line in the ``colorfulness_pred`` panel.
    """
    _require_columns(summary, ("predictor", "metric", "mean", "ci_low", "ci_high"), "summary")
    if summary.duplicated(["predictor", "metric"]).any():
        raise ValueError("summary repeats a (predictor, metric); select one dataset and split")
    metrics = _choose_metrics(metrics, set(summary["metric"]))
    predictors = list(dict.fromkeys(summary["predictor"]))
    rows = summary.set_index(["predictor", "metric"])
    kinds = summary.groupby("predictor", sort=False)["kind"].first() if "kind" in summary else None
    colours = {}
    if kinds is not None:
        others = [k for k in dict.fromkeys(kinds) if k not in KIND_COLOURS]
        colours = {**KIND_COLOURS, **{k: f"C{i + 2}" for i, k in enumerate(others)}}
    truth = summary.loc[summary["metric"] == "colorfulness_true", "mean"]

    fig, axes = _metric_axes(len(metrics), 3.8, 0.32 * len(predictors) + 1.3)
    hatched = False
    for i, (ax, metric) in enumerate(zip(axes, metrics, strict=True)):
        for y, predictor in enumerate(predictors):
            if (predictor, metric) not in rows.index:
                ax.text(0, y, " n/a", va="center", fontsize=8, color="0.4")
                continue
            row = rows.loc[(predictor, metric)]
            no_ci = bool(np.isnan(row["ci_low"]) or np.isnan(row["ci_high"]))
            hatched |= no_ci
            colour = colours.get(kinds[predictor], "C0") if kinds is not None else "C0"
            ax.barh(y, row["mean"], color=colour, hatch="//" if no_ci else None, ec="white")
            if not no_ci:
                error = [[row["mean"] - row["ci_low"]], [row["ci_high"] - row["mean"]]]
                ax.errorbar(row["mean"], y, xerr=error, fmt="none", ecolor="k", capsize=3)
        if metric == "colorfulness_pred" and len(truth):
            ax.axvline(truth.mean(), color="k", ls="--", label="ground truth")
        ax.set_yticks(range(len(predictors)), predictors if i % _PANEL_COLUMNS == 0 else [])
        ax.set_ylim(len(predictors) - 0.5, -0.5)  # first predictor on top
        ax.set(title=_metric_title(metric), xlabel=_metric_label(metric))
        ax.title.set_fontsize(10)
        ax.grid(axis="x", alpha=0.3)

    handles = [Patch(color=colours[k], label=k) for k in dict.fromkeys(kinds)] if colours else []
    if hatched:
        handles.append(Patch(fc="0.7", hatch="//", ec="white", label="no CI (quoted)"))
    if "colorfulness_pred" in metrics and len(truth):
        handles.append(Line2D([], [], color="k", ls="--", label="ground truth (colourfulness)"))
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 6))
    whole = [m for m in metrics if m in SPLIT_METRICS]  # not means: one value per split
    note = f" ({', '.join(whole)}: of the whole split)" if whole else ""
    fig.suptitle(f"Mean per image{note} with 95% bootstrap CI")
    return fig


def plot_tradeoff(
    sweep: pd.DataFrame,
    points: pd.DataFrame,
    true_colorfulness: float,
    title: str = "",
    chosen: float | None = None,
) -> Figure:
    """Accuracy against vividness: ΔE2000 (lower is better) over mean colourfulness.

    ``sweep`` (``temperature.temperature_sweep``: columns ``temperature``, ``delta_e2000``,
    ``colorfulness_pred``) is drawn as a line labelled with each T; ``points`` (columns
    ``predictor``, ``delta_e2000``, ``colorfulness_pred``: regression and adversarial runs,
    baselines) as labelled markers; the true images' colourfulness as a dashed vertical line.
    ``chosen``, one of the sweep's temperatures (picked on another split), is ringed.
    The best place is low (accurate) and on the line (as vivid as the truth).
    """
    _require_columns(sweep, ("temperature", "delta_e2000", "colorfulness_pred"), "sweep")
    _require_columns(points, ("predictor", "delta_e2000", "colorfulness_pred"), "points")
    fig = _figure(7.0, 4.8)
    ax = fig.add_subplot()
    ax.plot(sweep["colorfulness_pred"], sweep["delta_e2000"], "o-", color="C3",
            label="classification, T from 1 to " + f"{sweep['temperature'].min():g}")  # fmt: skip
    for _, row in _apart(sweep, pd.concat([sweep, points])).iterrows():
        ax.annotate(f"T={row['temperature']:g}", (row["colorfulness_pred"], row["delta_e2000"]),
                    textcoords="offset points", xytext=(4, 4), fontsize=7, color="C3")  # fmt: skip
    if chosen is not None:
        at = sweep[np.isclose(sweep["temperature"], chosen)]
        if at.empty:
            raise ValueError(f"chosen temperature {chosen:g} is not in the sweep")
        ax.plot(at["colorfulness_pred"], at["delta_e2000"], "o", ms=14, mfc="none", mec="C3",
                mew=1.5, label=f"T = {chosen:g}, chosen on validation")  # fmt: skip
    colours = [f"C{k}" for k in range(10) if k != 3]  # C3 is the sweep's
    for i, row in enumerate(points.itertuples()):
        ax.plot(row.colorfulness_pred, row.delta_e2000, "s", color=colours[i % len(colours)])
        ax.annotate(row.predictor, (row.colorfulness_pred, row.delta_e2000),
                    textcoords="offset points", xytext=(4, -10), fontsize=7)  # fmt: skip
    ax.axvline(true_colorfulness, color="k", ls="--", label="true images' colourfulness")
    ax.set(xlabel="Colourfulness of the prediction (Hasler-Suesstrunk, mean per image)",
           ylabel="ΔE2000 (mean per image, lower is better)", title=title)  # fmt: skip
    ax.grid(alpha=0.3)
    fig.legend(fontsize=8, loc="outside lower center", ncols=3)  # never over a point
    return fig


def _apart(sweep: pd.DataFrame, everything: pd.DataFrame, gap: float = 0.04) -> pd.DataFrame:
    """The sweep's rows whose labels would not overprint an earlier one: each at least ``gap``
    of the plotted range away from every row kept before it, on one axis or the other."""
    columns = ["colorfulness_pred", "delta_e2000"]
    scale = (everything[columns].max() - everything[columns].min()).replace(0, 1)
    kept: list[pd.Series] = []
    for _, row in sweep.iterrows():
        position = row[columns] / scale
        if all(((position - k[columns] / scale).abs() > gap).any() for k in kept):
            kept.append(row)
    return pd.DataFrame(kept)


def plot_metric_distributions(
    per_image: dict[str, pd.DataFrame], metrics: list[str] | None = None
) -> Figure:
    """Per-image values of each metric as a box per predictor, means marked, one panel per metric.

    ``per_image`` maps a predictor name to its ``Evaluation.per_image`` table (one row per image,
    one column per metric). ``metrics`` defaults to those of ``DEFAULT_METRICS`` that every table
    has. The colourfulness panel shows the true images' mean as a dashed line when it is known.
    """
    if not per_image:
        raise ValueError("no per-image tables to plot")
    names, frames = list(per_image), list(per_image.values())
    metrics = _choose_metrics(metrics, set.intersection(*(set(f.columns) for f in frames)))
    fig, axes = _metric_axes(len(metrics), 3.8, 3.4)
    for ax, metric in zip(axes, metrics, strict=True):
        values = [f[metric].dropna().to_numpy() for f in frames]
        boxes = ax.boxplot(
            values,
            showmeans=True,
            widths=0.6,
            medianprops={"color": "C1"},
            meanprops={"marker": "D", "markerfacecolor": "k", "markeredgecolor": "k", "ms": 4},
            flierprops={"marker": ".", "ms": 3, "alpha": 0.5},
        )
        if metric == "colorfulness_pred" and "colorfulness_true" in frames[0]:
            ax.axhline(frames[0]["colorfulness_true"].mean(), color="k", ls="--")
        ax.set_xticks(range(1, len(names) + 1), names, rotation=30, ha="right", fontsize=8)
        ax.set(title=_metric_title(metric), ylabel=_metric_label(metric))
        ax.title.set_fontsize(10)
        ax.grid(axis="y", alpha=0.3)
    handles = [boxes["medians"][0], boxes["means"][0]]
    labels = ["median (box: quartiles, whiskers: 1.5 IQR)", "mean"]
    if "colorfulness_pred" in metrics and "colorfulness_true" in frames[0]:
        handles.append(Line2D([], [], color="k", ls="--"))
        labels.append("ground truth mean (colourfulness)")
    fig.legend(handles, labels, loc="outside lower center", ncols=len(handles))
    fig.suptitle("Per-image metric values")
    return fig


def save_figure(fig: Figure, path: str | Path, dpi: int = 120) -> Path:
    """Write ``fig`` to ``path`` (PNG unless the suffix names another format; ``.png`` is added
    when there is none; ``.jpg`` as in ``as_jpeg``), whole or absent, creating parent folders.
    Returns the path."""
    path = Path(path)
    if not path.suffix:
        path = path.with_suffix(".png")
    kind = path.suffix.lower().removeprefix(".")  # the temporary name ends in .partial
    jpeg = kind in ("jpg", "jpeg")
    with written_atomically(path) as partial:
        fig.savefig(
            partial, format=kind, dpi=dpi, bbox_inches="tight", pil_kwargs=_JPEG if jpeg else None
        )
    return path


# quality 85 and no chroma subsampling: the default 4:2:0 halves the resolution of exactly the
# colour these figures are about (a grid of real faces: 43% of the PNG's bytes, mean difference
# 1.4 of 255 per channel)
_JPEG = {"quality": 85, "subsampling": 0}


def as_jpeg(fig: Figure, dpi: int = 100) -> IPythonImage:
    """``fig`` as a JPEG image for a notebook to display (the inline backend would embed a PNG).

    For photo grids (``plot_samples``, ``plot_predictions``, ``plot_ab_channels``): under half
    the PNG's bytes at the same pixel size and full colour resolution, which keeps the executed
    report notebooks and their HTML, kept in git, small.
    """
    from IPython.display import Image  # the notebook side only

    buffer = io.BytesIO()
    fig.savefig(buffer, format="jpeg", dpi=dpi, bbox_inches="tight", pil_kwargs=_JPEG)
    return Image(data=buffer.getvalue(), format="jpeg")
