"""Colourise your own photos at full resolution
(``colorize``, ``python -m colorize_core.apps.infer``).

One photo goes through these steps (the approach of Zhang et al. 2016, "Colorful Image
Colorization"):

1. Decode with ``images.read_rgb_alpha``: EXIF orientation applied; grayscale, palette, CMYK and
   16-bit files converted to 8-bit sRGB (16-bit inputs are written back as 8-bit, and the log says
   so); alpha kept apart. A photo that is already in colour (not ``images.is_colourless``) is used
   only for its lightness, and the log says so. Of a multi-frame file (animated GIF, PNG or WebP,
   multi-page TIFF) only the first frame is colourised, with a warning.
2. The model runs on a resized copy. Its shorter side is ``size``: by default the training size
   from the checkpoint's config, else 128. The longer side is scaled by the same factor and
   rounded to a multiple of 8, because the models halve the resolution up to three times. The
   models are fully convolutional, so they take any such shape. Keeping the aspect ratio keeps
   objects at the proportions the model was trained on. Squashing to a square would stretch
   faces and horizons, and the model would colour shapes it has never seen. The model input is
   capped at ``MODEL_PIXEL_CAP`` pixels (only extreme panoramas reach it; they are scaled down
   further, aspect kept).
3. The predicted ab is upsampled bilinearly to the full resolution and joined with the photo's
   own L, computed at full resolution. Every detail of the input survives; only the chroma is
   coarse, which the eye hardly sees. Where the predicted colour does not exist in sRGB at that
   lightness, its chroma is reduced (hue kept) until it does, rather than clipping RGB, which
   would change L. The output's L therefore equals the input's up to 8-bit rounding.
4. Memory: step 3 (Lab conversion, ab upsampling, RGB rebuild) runs in horizontal strips of about
   ``STRIP_PIXELS`` pixels. The float working set (about 100 MB) therefore does not grow with the
   photo's size. Only the uint8 input and output grow, at 3 bytes per pixel each. The only
   images refused are those that Pillow's decompression-bomb check refuses: more than
   2 x ``PIL.Image.MAX_IMAGE_PIXELS`` pixels, about 179 megapixels by default. Raise that
   attribute to allow more.
5. Output: the input's pixel size, upright (EXIF applied, so no orientation tag is needed). The
   format comes from the extension (``suffix``). By default it is the input's own extension. GIF
   and formats Pillow cannot write become PNG: a 256-colour palette would band the colours.
   Alpha is re-attached for PNG, WebP and TIFF. Other formats (JPEG, BMP) get it composited on
   white, and the log says so. JPEG and WebP are written at quality 95.

Photos differ in size, so each one is a separate forward pass; a folder is processed file by file
behind a progress bar, on the CPU or a GPU. Every output path is decided before anything is
written (``plan_outputs``): an output never replaces an input of the run, nor, unless asked
(``overwrite``), a file that existed before it, and no two inputs share an output.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
import textwrap
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from colorize_core.apps.tiles import predict_ab_tiled
from colorize_core.data import atomic, images
from colorize_core.data.color import join_lab, lab_to_rgb, rgb_to_lab
from colorize_core.data.datasets import DATASETS
from colorize_core.data.progress import progress
from colorize_core.training.checkpoint import CheckpointError
from colorize_core.training.config import ExperimentConfig
from colorize_core.training.device import pick_device
from colorize_core.training.loading import load_model
from colorize_core.training.model_file import SUFFIX as MODEL_FILE_SUFFIX
from colorize_core.training.model_file import read_model_file
from colorize_core.training.shipped import DEFAULT_MODEL, SHIPPED, SHIPPED_NAMES, load_shipped

log = logging.getLogger(__name__)

DEFAULT_SIZE = 128  # model input (shorter side) when a checkpoint's config does not say
SIZE_MULTIPLE = 8  # three stride-2 stages in conv_ae, gan and unet
MODEL_PIXEL_CAP = 2048 * 2048  # largest model input; bounds the activations for panoramas
STRIP_PIXELS = 1 << 20  # pixels per strip of the full-resolution rebuild (~100 MB of floats)
COLOURNESS_SAMPLE = 1 << 22  # at most this many pixels are looked at to decide "already colour"
COMPARE_MAX_HEIGHT = 1024  # panels of comparison images and figures are shrunk to this height
COMPARE_GAP = 4  # white pixels between panels of a comparison image
GAMUT_TOLERANCE = 0.01  # Lab units; float32 round trips of in-gamut colours stay below 1e-4
GAMUT_STEPS = 8  # bisection steps of the chroma scale: within 1/256 of the sRGB boundary
QUALITY = 95  # JPEG / WebP: compression must not blur the L we kept so carefully
ALPHA_FORMATS = frozenset({"PNG", "WEBP", "TIFF"})
REWRITE_AS_PNG = frozenset({"GIF"})  # writable, but a 256-colour palette bands the colours

CLASHES_LISTED = 10  # clashing outputs named in the error; a rerun can clash on every file
MESSAGE_WIDTH = 240  # characters of a one-line error; load_state_dict's run to a hundred lines

OK, FAILED, SKIPPED = "ok", "failed", "skipped"
ALREADY_COLOUR = "already in colour: using only its lightness"

# What a damaged or doctored checkpoint raises on its way through ``loading.load_model``:
# OSError (an unreadable config.json), ValueError (bad JSON, impossible config values),
# TypeError (wrong types, unknown model arguments), LookupError (missing keys, unknown model),
# AttributeError (a config that is not a dict), RuntimeError (weights that do not fit the model).
UNUSABLE_CHECKPOINT = (OSError, ValueError, TypeError, LookupError, AttributeError, RuntimeError)

# What to do about each kind of output clash, in the order the error gives the advice.
CLASH_ADVICE = {
    "input": "choose an output folder apart from the photos (-o); an input is never replaced",
    "exists": "pass --overwrite to replace the files of an earlier run, or choose another -o",
    "shared": "each photo needs an output of its own: give a photo once, and colourise photos "
    "whose names differ only in their extension in separate runs",
}


class OutputClash(ValueError):
    """Outputs that would replace an input, an existing file or each other; nothing was written."""


@dataclass
class PhotoResult:
    """What happened to one input file.

    ``status`` is OK, FAILED (counts towards a non-zero exit) or SKIPPED (a non-image file found
    in a folder); ``reason`` says why it failed or was skipped; ``notes`` are the conversions
    applied (already colour, 16-bit, alpha composited); ``seconds`` is the wall time for the file;
    ``frames`` is how many frames the file holds, of which only the first was colourised;
    ``disk_full``: its output could not be written for lack of space, so the run stops.
    """

    input: Path
    output: Path | None = None
    status: str = OK
    reason: str = ""
    was_colour: bool = False
    seconds: float = 0.0
    notes: tuple[str, ...] = ()
    compare: Path | None = None
    frames: int = 1
    disk_full: bool = False

    @property
    def ok(self) -> bool:
        return self.status == OK


Entry = tuple[Path, Path, PhotoResult | None]  # file, output name, problem (None: process it)


# ---------------------------------------------------------------- sizes and formats


def training_size(config: ExperimentConfig) -> int:
    """The square size a run was trained at: data.image_size, else its dataset's, else 128.

    Raises ValueError when that is not a positive multiple of 8 (a doctored config).
    """
    size = config.data.image_size
    if size is None:
        spec = DATASETS.get(config.data.dataset)
        size = spec.image_size if spec else DEFAULT_SIZE
    return check_size(size, "training image_size")


def check_size(size: int, what: str = "size") -> int:
    """``size`` itself; ValueError unless it is a positive multiple of 8."""
    if size < SIZE_MULTIPLE or size % SIZE_MULTIPLE:
        raise ValueError(f"{what} must be a positive multiple of {SIZE_MULTIPLE}, got {size}")
    return size


def model_shape(height: int, width: int, size: int) -> tuple[int, int]:
    """(h, w) the model runs at: shorter side ``size``, aspect kept, both multiples of 8."""
    scale = size / min(height, width)
    h, w = (
        max(SIZE_MULTIPLE, round(s * scale / SIZE_MULTIPLE) * SIZE_MULTIPLE)
        for s in (height, width)
    )
    if h * w > MODEL_PIXEL_CAP:
        shrink = math.sqrt(MODEL_PIXEL_CAP / (h * w))
        h, w = (
            max(SIZE_MULTIPLE, int(s * shrink) // SIZE_MULTIPLE * SIZE_MULTIPLE) for s in (h, w)
        )
    return h, w


def output_format(suffix: str) -> str | None:
    """Pillow's format for an extension (".jpg" or "jpg"); None if Pillow cannot write it."""
    Image.init()
    suffix = suffix.lower() if suffix.startswith(".") else f".{suffix.lower()}"
    fmt = Image.registered_extensions().get(suffix)
    return fmt if fmt in Image.SAVE else None


def _output_suffix(path: Path, suffix: str | None) -> str:
    if suffix:
        return suffix.lower() if suffix.startswith(".") else f".{suffix.lower()}"
    fmt = output_format(path.suffix) if path.suffix else None
    return path.suffix.lower() if fmt and fmt not in REWRITE_AS_PNG else ".png"


# ---------------------------------------------------------------- one photo


def _ab_rows(ab: torch.Tensor, out_rows: int, start: int, stop: int) -> torch.Tensor:
    """Rows start:stop of ``ab`` (C, h, W) resized to ``out_rows`` rows, bilinearly.

    The same numbers as ``F.interpolate(mode="bilinear", align_corners=False)`` on the whole
    image, for one strip only: source row (y + 0.5) * h / out_rows - 0.5, clamped at the edges.
    """
    in_rows = ab.shape[1]
    y = (torch.arange(start, stop, device=ab.device) + 0.5) * (in_rows / out_rows) - 0.5
    y = y.clamp(min=0)
    top = y.floor().long().clamp(max=in_rows - 1)
    bottom = (top + 1).clamp(max=in_rows - 1)
    weight = (y - top).to(ab.dtype).view(1, -1, 1)
    return ab[:, top] * (1 - weight) + ab[:, bottom] * weight


def _outside_gamut(lab: torch.Tensor, rgb: torch.Tensor | None = None) -> torch.Tensor:
    """(3, *, N) Lab -> (*, N) bool: colours that sRGB cannot show, which ``lab_to_rgb`` clips
    (so they do not survive a round trip); ``rgb``: ``lab_to_rgb(lab)`` if already computed."""
    rgb = lab_to_rgb(lab) if rgb is None else rgb
    return (rgb_to_lab(rgb) - lab).abs().amax(dim=0) > GAMUT_TOLERANCE


def lab_to_rgb_keeping_l(lab: torch.Tensor) -> torch.Tensor:
    """(3, H, W) Lab -> sRGB in [0, 1] whose lightness is exactly L (within float error).

    A predicted colour may not exist at the photo's lightness (saturated colour near white or
    black). Clipping RGB, as ``lab_to_rgb`` does, would then change L as well as the hue. Here
    such pixels keep L and hue, and their chroma (ab) is scaled towards gray by bisection until
    the colour fits in sRGB.
    """
    rgb = lab_to_rgb(lab)
    outside = _outside_gamut(lab, rgb)
    if outside.any():
        sub = lab[:, outside][:, None]  # (3, 1, n) out-of-gamut colours
        low, high = torch.zeros_like(sub[0, 0]), torch.ones_like(sub[0, 0])  # chroma scale
        for _ in range(GAMUT_STEPS):
            mid = (low + high) / 2
            fits = ~_outside_gamut(join_lab(sub[:1], sub[1:] * mid))[0]
            low, high = torch.where(fits, mid, low), torch.where(fits, high, mid)
        rgb[:, outside] = lab_to_rgb(join_lab(sub[:1], sub[1:] * low))[:, 0]
    return rgb


def _to_uint8(rgb: torch.Tensor) -> np.ndarray:
    """(3, H, W) float sRGB in [0, 1] -> (H, W, 3) uint8, rounded."""
    return (rgb.clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(1, 2, 0).cpu().numpy()


def _lab(rgb: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """(H, W, 3) uint8 -> (3, H, W) float32 Lab."""
    # torch.tensor copies: arrays from Pillow are read-only, and a strip is a small copy
    return rgb_to_lab(torch.tensor(rgb, device=device).permute(2, 0, 1) / 255)


def _resize(rgb: np.ndarray, height: int, width: int) -> np.ndarray:
    if rgb.shape[:2] == (height, width):
        return rgb
    return np.asarray(Image.fromarray(rgb).resize((width, height), Image.Resampling.BICUBIC))


@torch.inference_mode()
def colorize_rgb(
    model: torch.nn.Module, rgb: np.ndarray, size: int = DEFAULT_SIZE, device="cpu"
) -> np.ndarray:
    """(H, W, 3) uint8 sRGB -> (H, W, 3) uint8: the input's own L with the model's ab.

    The model sees the photo at ``model_shape(H, W, size)``; its ab (Lab units) is upsampled
    bilinearly to H x W and joined with L computed from ``rgb`` at full resolution, strip by strip
    (``STRIP_PIXELS``), so memory stays bounded for any photo size.
    """
    device = pick_device(device)
    height, width = rgb.shape[:2]
    h, w = model_shape(height, width, check_size(size))
    lightness = _lab(_resize(rgb, h, w))[None, :1]  # (1, 1, h, w)
    ab = predict_ab_tiled(model, lightness, device)[0].to(device)  # (2, h, w), Lab units
    ab = F.interpolate(ab[None], size=(h, width), mode="bilinear", align_corners=False)[0]

    out = np.empty_like(rgb)
    rows = max(1, STRIP_PIXELS // width)
    for start in range(0, height, rows):
        stop = min(start + rows, height)
        strip_l = _lab(rgb[start:stop], device)[:1]  # (1, rows, W)
        strip_ab = _ab_rows(ab, height, start, stop)  # (2, rows, W)
        out[start:stop] = _to_uint8(lab_to_rgb_keeping_l(join_lab(strip_l, strip_ab)))
    return out


def colorize_image(
    model: torch.nn.Module,
    image: str | Path | images.Decoded | np.ndarray,
    size: int = DEFAULT_SIZE,
    device="cpu",
) -> tuple[np.ndarray, np.ndarray | None]:
    """Colourise one photo: a file, a ``Decoded``, or a uint8 array (H, W), (H, W, 3), (H, W, 4).

    Returns ((H, W, 3) uint8 RGB, (H, W) uint8 alpha or None), H x W the displayed size.
    """
    if isinstance(image, (str, Path)):
        image = images.read_rgb_alpha(image)
    if isinstance(image, images.Decoded):
        rgb, alpha = image.rgb, image.alpha
    else:
        array = np.asarray(image)
        if array.dtype != np.uint8 or array.ndim not in (2, 3):
            raise TypeError(
                f"expected a uint8 (H, W[, 3|4]) array, got {array.dtype} {array.shape}"
            )
        array = np.repeat(array[..., None], 3, axis=-1) if array.ndim == 2 else array
        rgb, alpha = array[..., :3], (array[..., 3] if array.shape[-1] == 4 else None)
    return colorize_rgb(model, rgb, size, device), alpha


def is_colour(rgb: np.ndarray, alpha: np.ndarray | None = None) -> bool:
    """True unless ``images.is_colourless`` (judged on visible pixels, at most ~4M of them)."""
    step = max(1, math.ceil(math.sqrt(rgb.shape[0] * rgb.shape[1] / COLOURNESS_SAMPLE)))
    visible = rgb[::step, ::step]
    if alpha is not None:
        visible = visible[alpha[::step, ::step] > 0]
    return visible.size > 0 and not images.is_colourless(visible)


def gray(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 -> its lightness alone (ab = 0) as (H, W, 3) uint8: what the model sees."""
    lab = _lab(rgb)
    return _to_uint8(lab_to_rgb(join_lab(lab[:1], torch.zeros_like(lab[1:]))))


def shrink_for_display(rgb: np.ndarray, max_height: int = COMPARE_MAX_HEIGHT) -> np.ndarray:
    height, width = rgb.shape[:2]
    if height <= max_height:
        return rgb
    return _resize(rgb, max_height, max(1, round(width * max_height / height)))


def compare_image(original: np.ndarray, colourised: np.ndarray, was_colour: bool) -> np.ndarray:
    """gray input | colourised | original (only if it was colour), side by side, uint8.

    Panels are the photo's size, shrunk to ``COMPARE_MAX_HEIGHT`` rows if taller, with
    ``COMPARE_GAP`` white columns between them.
    """
    original, colourised = shrink_for_display(original), shrink_for_display(colourised)
    panels = [gray(original), colourised] + ([original] if was_colour else [])
    height, width = original.shape[:2]
    canvas = np.full((height, len(panels) * (width + COMPARE_GAP) - COMPARE_GAP, 3), 255, np.uint8)
    for i, panel in enumerate(panels):
        canvas[:, i * (width + COMPARE_GAP) : i * (width + COMPARE_GAP) + width] = panel
    return canvas


def save_image(path: Path, rgb: np.ndarray, alpha: np.ndarray | None) -> list[str]:
    """Write ``rgb`` (+ ``alpha``) in the format of ``path``'s extension, whole or absent (a
    failed write leaves nothing, and a symbolic link at ``path`` is replaced, never followed);
    returns notes."""
    fmt = output_format(path.suffix)
    image, notes = Image.fromarray(rgb), []
    if alpha is not None and fmt in ALPHA_FORMATS:
        image.putalpha(Image.fromarray(alpha))
    elif alpha is not None and alpha.min() < 255:
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image, mask=Image.fromarray(alpha))
        image = background
        notes.append(f"{fmt} has no alpha: transparent areas composited on white")
    options = {"quality": QUALITY} if fmt in ("JPEG", "WEBP") else {}
    with atomic.written_atomically(path) as partial:  # whole or absent; a link is replaced
        image.save(partial, format=fmt, **options)
    return notes


# ---------------------------------------------------------------- many files


def _one_line(error: BaseException) -> str:
    """``"Type: message"`` on one line of at most ``MESSAGE_WIDTH`` characters."""
    text = str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)
    return textwrap.shorten(f"{type(error).__name__}: {text}", MESSAGE_WIDTH, placeholder=" ...")


def load_colorizer(source: str | Path) -> tuple[torch.nn.Module, ExperimentConfig]:
    """``loading.load_model`` (a run folder or a checkpoint file) or ``model_file`` (a
    ``.safetensors`` model file), and a check of the training size in its config, where every
    failure is a one-line ``CheckpointError`` naming ``source``.

    A damaged or doctored checkpoint of ours can lack keys, hold impossible config values, name
    an unknown model or carry weights that do not fit it (``UNUSABLE_CHECKPOINT``); whichever
    the user needs "not a usable checkpoint", not a traceback.
    """
    try:
        if Path(source).suffix == MODEL_FILE_SUFFIX:
            model, config = read_model_file(source)
        else:
            model, config = load_model(source)
        training_size(config)
    except CheckpointError:
        raise
    except UNUSABLE_CHECKPOINT as error:
        raise CheckpointError(
            f"{source} is not a usable colorize checkpoint ({_one_line(error)}); "
            "pass a run folder or a file written by colorize_core training"
        ) from error
    return model, config


def pick_colorizer(
    checkpoint: str | Path | None = None, model: str | None = None
) -> tuple[torch.nn.Module, ExperimentConfig]:
    """The model of ``checkpoint`` (run folder, checkpoint or model file), else the shipped
    model ``model`` (default ``shipped.DEFAULT_MODEL``); not both."""
    if checkpoint is not None and model is not None:
        raise ValueError("give a checkpoint or a shipped model name, not both")
    if checkpoint is not None:
        return load_colorizer(checkpoint)
    return load_shipped(model or DEFAULT_MODEL)


def collect_inputs(inputs: Iterable[str | Path], exclude: Path | None = None) -> list[Entry]:
    """Expand files and folders into (file, output name relative to the output folder, problem).

    A file named explicitly is always tried. A folder contributes every file inside it,
    recursively, sorted, skipping hidden files and, where the output folder ``exclude`` lies
    inside it, that folder's files: a rerun never colourises its own outputs. Its subfolders are
    mirrored in the output names. Files without an image suffix (``images.IMAGE_SUFFIXES``) come
    back SKIPPED, and a folder without any image is FAILED; name other formats Pillow reads
    explicitly. ``problem`` is None for a file to process. Raises ``OutputClash`` when
    ``exclude`` is an input folder itself: its outputs would land among its photos.
    """
    exclude = exclude.resolve() if exclude else None
    entries: list[Entry] = []
    for item in map(Path, inputs):
        if item.is_file():
            entries.append((item, Path(item.name), None))
        elif item.is_dir():
            entries += _folder_entries(item, exclude)
        else:
            entries.append((item, item, PhotoResult(item, status=FAILED, reason="no such file")))
    return entries


def _folder_entries(folder: Path, output_dir: Path | None) -> list[Entry]:
    """``collect_inputs`` for one folder; ``output_dir`` resolved."""
    root = folder.resolve()
    if output_dir == root:
        raise OutputClash(
            f"the output folder {output_dir} is the input folder {folder}: the outputs would land "
            "among the photos, and a later run would take them for photos; choose another "
            f"output folder, e.g. {folder / 'colorized'}"
        )
    inside = output_dir if output_dir and output_dir.is_relative_to(root) else None
    entries: list[Entry] = []
    earlier_outputs = 0  # images in the output folder inside this one
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or any(p.startswith(".") for p in path.relative_to(folder).parts):
            continue
        if inside and path.resolve().is_relative_to(inside):
            earlier_outputs += images.is_image_file(path)
        elif images.is_image_file(path):
            entries.append((path, path.relative_to(folder), None))
        else:
            skip = PhotoResult(path, status=SKIPPED, reason=images.NOT_AN_IMAGE + " file")
            entries.append((path, path.relative_to(folder), skip))
    if all(problem is not None for _, _, problem in entries):
        reason = "no images"
        if earlier_outputs:
            reason += (
                f" outside the output folder {inside}; the {earlier_outputs} there are taken "
                "for outputs of an earlier run, never for photos"
            )
        entries.append((folder, folder, PhotoResult(folder, status=FAILED, reason=reason)))
    return entries


def _output_path(output_dir: Path, path: Path, relative: Path, suffix: str) -> Path:
    """``relative`` under ``output_dir`` with ``suffix``; ``<stem>_colorized<suffix>`` where that
    would be ``path`` itself (a photo named explicitly, colourised into its own folder)."""
    output = output_dir / relative.parent / f"{relative.stem}{suffix}"
    if output.exists() and output.samefile(path):
        output = output.with_name(f"{relative.stem}_colorized{suffix}")
    return output


def _file_id(path: Path) -> tuple[int, int]:
    """(device, inode): the same file under any name, link or letter case (``os.path.samestat``)."""
    stat = path.stat()
    return stat.st_dev, stat.st_ino


def _clash(
    output: Path,
    source: Path,
    inputs: set[tuple[int, int]],
    claimed: dict[Path, Path],
    overwrite: bool,
) -> tuple[str, str] | None:
    """(``CLASH_ADVICE`` key, line) saying why ``source``'s ``output`` may not be written, or
    None; claims ``output`` for ``source``."""
    key = output.resolve()
    if key in claimed:
        return "shared", f"{output}: the output of both {claimed[key]} and {source}"
    claimed[key] = source
    if output.exists() and _file_id(output) in inputs:
        return "input", f"{output}: an input, which the output of {source} would replace"
    if os.path.lexists(output) and not overwrite:
        return "exists", f"{output}: exists already; the output of {source} would replace it"
    return None


def plan_outputs(
    entries: list[Entry],
    output_dir: Path,
    suffix: str | None = None,
    compare: bool = False,
    overwrite: bool = False,
) -> list[tuple[Path, Path | None] | None]:
    """(output, comparison image or None) for each of ``collect_inputs``' entries, None for one
    with a problem; decided before anything is written.

    Raises ``OutputClash``, naming the files, when an output would replace an input of this run
    (even with ``overwrite``), a file that exists already (unless ``overwrite``), or another
    output of this run (a photo given twice, or two whose names differ only in their extension).
    """
    inputs = {_file_id(path) for path, _, _ in entries if path.is_file()}
    claimed: dict[Path, Path] = {}
    plan: list[tuple[Path, Path | None] | None] = []
    clashes: list[tuple[str, str]] = []
    for path, relative, problem in entries:
        if problem is not None:
            plan.append(None)
            continue
        output = _output_path(output_dir, path, relative, _output_suffix(path, suffix))
        comparison = output.with_name(f"{output.stem}_compare.png") if compare else None
        plan.append((output, comparison))
        for target in filter(None, (output, comparison)):
            clashes += filter(None, [_clash(target, path, inputs, claimed, overwrite)])
    if clashes:
        raise OutputClash(_clash_message(clashes))
    return plan


def _clash_message(clashes: list[tuple[str, str]]) -> str:
    """The clashes, the first ``CLASHES_LISTED`` named, then what to do about each kind."""
    lines = [line for _, line in clashes[:CLASHES_LISTED]]
    if len(clashes) > CLASHES_LISTED:
        lines.append(f"and {len(clashes) - CLASHES_LISTED} more")
    kinds = {kind for kind, _ in clashes}
    advice = [text for kind, text in CLASH_ADVICE.items() if kind in kinds]
    return "\n".join(
        [f"{len(clashes)} output file(s) clash, so nothing was written:"]
        + [f"  {line}" for line in lines]
        + advice
    )


def colorize_file(
    model, path: Path, target: Path, size: int, device, compare: Path | None = None
) -> PhotoResult:
    """Colourise ``path`` into ``target`` (and its comparison image into ``compare``); failures
    come back as a FAILED result, not raised."""
    started = time.perf_counter()
    try:
        decoded = images.read_rgb_alpha(path)
    except images.UnusableImage as error:
        detail = f" ({error.detail})" if error.detail else ""
        return PhotoResult(path, status=FAILED, reason=error.reason + detail)
    was_colour = is_colour(decoded.rgb, decoded.alpha)
    notes = [ALREADY_COLOUR] if was_colour else []
    if decoded.mode in images.HIGH_BIT_DEPTH_MODES:
        notes.append(f"{decoded.mode} input: written as 8-bit")
    try:
        rgb, alpha = colorize_image(model, decoded, size, device)
        notes += save_image(target, rgb, alpha)
        if compare:
            save_image(compare, compare_image(decoded.rgb, rgb, was_colour), None)
    except atomic.NoSpaceLeft as error:
        return PhotoResult(path, status=FAILED, reason=str(error), disk_full=True)
    except (RuntimeError, OSError, ValueError, MemoryError) as error:  # OOM and the like: go on
        return PhotoResult(path, status=FAILED, reason=f"{type(error).__name__}: {error}")
    seconds = time.perf_counter() - started
    return PhotoResult(
        path, target, OK, "", was_colour, seconds, tuple(notes), compare, decoded.frames
    )


def colorize(
    inputs: str | Path | Iterable[str | Path],
    output_dir: str | Path,
    checkpoint: str | Path | None = None,
    *,
    model: str | None = None,
    size: int | None = None,
    device: str = "auto",
    suffix: str | None = None,
    compare: bool = False,
    overwrite: bool = False,
) -> list[PhotoResult]:
    """Colourise files and folders into ``output_dir`` with the model of ``checkpoint``, or
    the shipped model named ``model`` (``shipped.SHIPPED_NAMES``; the default when neither).

    ``checkpoint``: a run folder (its checkpoints/best.pt), a checkpoint file or a model file
    (``.safetensors``); anything else raises ``CheckpointError``. ``size``: model input,
    shorter side (default the training size). ``suffix``: output extension (".png"); default
    the input's own (PNG for GIF or unwritable formats). ``compare``: also write
    ``<name>_compare.png``. ``overwrite``: replace files that exist already, though never an
    input. Outputs that clash raise ``OutputClash`` before anything is written
    (``plan_outputs``). One result per file, in order; failures, skips and multi-frame files
    (only the first frame colourised) are logged with the file, never raised.
    """
    if suffix and output_format(suffix) is None:
        raise ValueError(f"Pillow cannot write {suffix!r} files; choose e.g. png, jpg, webp, tif")
    output_dir = Path(output_dir)
    inputs = [inputs] if isinstance(inputs, (str, Path)) else list(inputs)
    entries = collect_inputs(inputs, exclude=output_dir)
    plan = plan_outputs(entries, output_dir, suffix, compare, overwrite)
    network, config = pick_colorizer(checkpoint, model)
    size = check_size(size or training_size(config))
    device = pick_device(device)
    network = network.to(device)
    results: list[PhotoResult] = []
    jobs = list(zip(entries, plan, strict=True))
    full: str | None = None  # the reason, once the disk is full: the files after it are not tried
    for (path, _, result), outputs in progress(jobs, desc="colourising", unit="img"):
        if outputs is not None and full:
            result = PhotoResult(path, status=FAILED, reason=f"not tried: {full}")
        elif outputs is not None:
            output, comparison = outputs
            result = colorize_file(network, path, output, size, device, comparison)
            full = result.reason if result.disk_full else None
        results.append(result)
        if result.status != OK:
            log.warning("%s %s: %s", result.status, result.input, result.reason)
        if result.frames > 1:
            log.warning(
                "%s: only the first of %d frames is colourised (animated or multi-page)",
                result.input, result.frames,
            )  # fmt: skip
        for note in result.notes:
            log.info("%s: %s", result.input, note)
    return results


# ---------------------------------------------------------------- command line


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="colorize",
        description="Colourise photos at full resolution with a shipped or trained model: the "
        "model predicts colour (ab) at --size, which is upsampled and joined with the photo's "
        "own full-resolution lightness. Colour photos are used only for their lightness. "
        "Also: `colorize export RUN` writes a run as a model file (or ONNX), and "
        "`colorize serve` starts the web page; each has its own --help.",
    )
    add = parser.add_argument
    add("inputs", nargs="+", help="image files and/or folders (searched recursively)")
    add("-o", "--output", default="colorized", help="output folder (default: %(default)s)")
    which = parser.add_mutually_exclusive_group()
    shipped = "; ".join(f"{m.name}: {m.summary}" for m in SHIPPED.values())
    which.add_argument(
        "--model",
        choices=SHIPPED_NAMES,
        help=f"a model shipped with the package (default: {DEFAULT_MODEL}). {shipped}",
    )
    which.add_argument(
        "--checkpoint", help="your own model: a run folder, a .pt checkpoint or a .safetensors file"
    )
    add(
        "--size",
        type=int,
        help="model input, shorter side in px, a multiple of 8 (default: the training size)",
    )
    add("--device", default="auto", help="auto (cuda, then mps, then cpu), cpu, cuda, mps")
    add("--format", help="output extension: png, jpg, webp, tif... (default: the input's)")
    add(
        "--compare",
        action="store_true",
        help="also write <name>_compare.png: gray input | colourised | original (if it was colour)",
    )
    add(
        "--overwrite",
        action="store_true",
        help="replace output files that exist already, e.g. from an earlier run (an input of "
        "the run is never replaced)",
    )
    return parser


def device_argument(parser: argparse.ArgumentParser, name: str) -> torch.device:
    """``--device NAME`` as a torch device, or a usage error (exit 2) that says why."""
    try:
        device = pick_device(name)
    except RuntimeError as error:
        parser.error(f"--device {name}: {error}")
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error(f"--device {name}: no CUDA GPU is available")
    return device


SUBCOMMANDS = ("export", "serve")  # `colorize export ...`, `colorize serve ...`


def main(argv: list[str] | None = None) -> int:
    """Exit status: 0 all colourised, 1 some file failed, 2 usage error or unusable checkpoint.

    ``colorize export ...`` and ``colorize serve ...`` go to those commands (a photo named
    ``export`` or ``serve`` is given as ``./export``)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in SUBCOMMANDS:
        from colorize_core.apps import export, serve

        return {"export": export.main, "serve": serve.main}[argv[0]](argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.size is not None and (args.size < SIZE_MULTIPLE or args.size % SIZE_MULTIPLE):
        parser.error(f"--size must be a positive multiple of {SIZE_MULTIPLE}, got {args.size}")
    if args.format and output_format(args.format) is None:
        parser.error(f"--format {args.format}: Pillow cannot write that; try png, jpg, webp, tif")
    if problem := atomic.unwritable(Path(args.output)):
        parser.error(f"-o {args.output}: {problem}; choose another output folder")
    device = device_argument(parser, args.device)

    from tqdm.contrib.logging import logging_redirect_tqdm

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        with logging_redirect_tqdm():
            results = colorize(
                args.inputs, args.output, args.checkpoint, model=args.model, size=args.size,
                device=str(device),
                suffix=args.format, compare=args.compare, overwrite=args.overwrite,
            )  # fmt: skip
    except (CheckpointError, OutputClash) as error:
        print(f"colorize: error: {error}", file=sys.stderr)
        return 2
    print(summary(results, args.output))
    return 1 if any(r.status == FAILED for r in results) else 0


def summary(results: list[PhotoResult], output_dir: str | Path) -> str:
    """The closing line: how many files were colourised (first frame only), failed, skipped."""
    counts = {s: sum(r.status == s for r in results) for s in (OK, FAILED, SKIPPED)}
    first_only = sum(r.ok and r.frames > 1 for r in results)
    frames = f" ({first_only} of them: first frame only)" if first_only else ""
    return (
        f"colorize: {counts[OK]} colourised into {output_dir}{frames}, {counts[FAILED]} failed, "
        f"{counts[SKIPPED]} skipped (not images)"
    )


if __name__ == "__main__":
    sys.exit(main())
