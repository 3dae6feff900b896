"""Helpers behind ``notebooks/colorize_your_photos.ipynb``: find runs, pick photos, show them.

The command-line path (``batch.colorize``) writes files; this module shows the same
colourisations side by side in a notebook, one row per photo.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterable
from pathlib import Path

import torch
from matplotlib.figure import Figure

from colorize_core.apps.batch import collect_inputs
from colorize_core.apps.photo import colorize_rgb, is_colour, shrink_for_display, training_size
from colorize_core.apps.sources import load_colorizer
from colorize_core.data import images
from colorize_core.data.color import gray
from colorize_core.data.datasets import resolve_dataset
from colorize_core.data.split import make_split
from colorize_core.training.config import ExperimentConfig
from colorize_core.training.device import pick_device
from colorize_core.training.shipped import SHIPPED_NAMES, load_shipped

log = logging.getLogger(__name__)


def find_runs(results_dir: str | Path) -> list[Path]:
    """Every run folder under ``results_dir`` (any depth) that has checkpoints/best.pt, sorted."""
    runs = sorted(p.parent.parent for p in Path(results_dir).glob("**/checkpoints/best.pt"))
    if not runs:
        raise FileNotFoundError(
            f"no run with checkpoints/best.pt under {Path(results_dir).resolve()}: "
            "train one first (make suite) or pass run folders"
        )
    return runs


def load_runs(runs: Iterable[str | Path]) -> dict[str, tuple[torch.nn.Module, ExperimentConfig]]:
    """Load each run folder or checkpoint file; keyed by "<profile folder>/<run folder>"."""
    models = {}
    for run in map(Path, runs):
        folder = run if run.is_dir() else run.parent.parent
        label = "/".join(folder.parts[-2:]) + ("" if run.is_dir() else f" ({run.name})")
        models[label] = load_colorizer(run)
    if not models:
        raise ValueError("no runs given")
    return models


def notebook_models(
    runs: Iterable[str | Path] | None, results_dir: str | Path
) -> dict[str, tuple[torch.nn.Module, ExperimentConfig]]:
    """The runs given; else every run under ``results_dir``; else, where nothing has been
    trained yet (a fresh clone), the models shipped with the package."""
    if runs is not None:
        return load_runs(runs)
    try:
        return load_runs(find_runs(results_dir))
    except FileNotFoundError:
        log.info("no trained runs under %s: using the shipped models", results_dir)
        return {f"shipped/{name}": load_shipped(name) for name in SHIPPED_NAMES}


def web_page(models: dict[str, tuple[torch.nn.Module, ExperimentConfig]], device: str = "auto"):
    """``colorize serve`` inline, offering ``models``: displays as the page; ``.stop()`` ends it."""
    from colorize_core.apps import serve  # FastAPI and uvicorn load only when the page is wanted

    loaders = {label: _loaded(pair) for label, pair in models.items()}
    return serve.show_in_notebook(loaders, device=str(pick_device(device)))


def _loaded(pair: tuple[torch.nn.Module, ExperimentConfig]):
    """A loader (as ``serve.create_app`` takes) for a model that is loaded already."""
    return lambda: pair


def upload_widget():
    """An ipywidgets ``FileUpload`` for images, or None where ipywidgets is not installed."""
    try:
        import ipywidgets
    except ImportError:
        return None
    return ipywidgets.FileUpload(accept="image/*", multiple=True, description="photos")


def sample_photos(n: int = 3, dataset: str = "faces") -> list[Path]:
    """The first ``n`` test-split photos (seed 0) of a dataset: the notebook's fallback."""
    root = resolve_dataset(dataset)
    files = sorted(
        p.relative_to(root).as_posix() for p in root.rglob("*") if images.is_image_file(p)
    )
    return [root / name for name in make_split(files, seed=0).test[:n]]


def notebook_images(path: str | Path | list | None, upload=None) -> list[Path]:
    """The photos to show: ``path`` (file, folder or list); else the upload; else sample_photos.

    Uploaded files are written to a new temporary folder, since the model reads files.
    """
    if path:
        paths = path if isinstance(path, (list, tuple)) else [path]
        found = [p for p, _, problem in collect_inputs(paths) if problem is None]
        if not found:
            raise FileNotFoundError(f"no image files at {path}")
        return found
    if upload is not None and upload.value:
        folder = Path(tempfile.mkdtemp(prefix="colorize-upload-"))
        for item in upload.value:  # ipywidgets 8: dicts with name and content
            (folder / Path(item["name"]).name).write_bytes(bytes(item["content"]))
        return sorted(folder.iterdir())
    return sample_photos()


def plot_colorized(
    models: dict[str, tuple[torch.nn.Module, ExperimentConfig]],
    photo: str | Path,
    size: int | None = None,
    device: str = "auto",
) -> Figure:
    """One row for one photo: the gray input | each model's colourisation | the original if colour.

    ``models`` as from ``load_runs``; ``size`` None means each run's training size.
    """
    decoded = images.read_rgb_alpha(photo)
    device = pick_device(device)
    panels = {"input (lightness)": gray(shrink_for_display(decoded.rgb))}
    for label, (model, config) in models.items():
        rgb = colorize_rgb(model.to(device), decoded.rgb, size or training_size(config), device)
        panels[label] = shrink_for_display(rgb)
    if is_colour(decoded.rgb, decoded.alpha):
        panels["original"] = shrink_for_display(decoded.rgb)
    height, width = decoded.rgb.shape[:2]
    cell = 3.2
    fig = Figure(
        figsize=(cell * len(panels) * max(0.5, width / height), cell + 0.5), layout="constrained"
    )
    for ax, (name, rgb) in zip(
        fig.subplots(1, len(panels), squeeze=False)[0], panels.items(), strict=True
    ):
        ax.imshow(rgb)
        ax.set_title(name, fontsize=9)
        ax.set_axis_off()
    fig.suptitle(Path(photo).name, fontsize=10)
    return fig
