"""Photos in, files out: ``colorize`` colourises files and folders into an output folder, file by
file behind a progress bar, on the CPU or a GPU (each photo is its own forward pass, as sizes
differ).

- Inputs (``collect_inputs``): a file named explicitly is always tried; a folder gives its image
  files, recursively, and its subfolders are mirrored in the output folder.
- Decoding (``images.read_rgb_alpha``): EXIF orientation applied; grayscale, palette, CMYK and
  16-bit files converted to 8-bit sRGB (16-bit inputs are written back as 8-bit, and the log says
  so); alpha kept apart. Of a multi-frame file (animated GIF, PNG or WebP, multi-page TIFF) only
  the first frame is colourised, with a warning. The only images refused for their size are
  those that Pillow's decompression-bomb check refuses: more than 2 x
  ``PIL.Image.MAX_IMAGE_PIXELS`` pixels, about 179 megapixels by default. Raise that attribute
  to allow more.
- Outputs (``plan_outputs``): every output path is decided before anything is written. An output
  never replaces an input of the run, nor, unless asked (``overwrite``), a file that existed
  before it, and no two inputs share an output.
- Saving (``save_image``): the input's pixel size, upright (EXIF applied, so no orientation tag
  is needed). The format comes from the extension (``suffix``). By default it is the input's own
  extension. GIF and formats Pillow cannot write become PNG: a 256-colour palette would band the
  colours. Alpha is re-attached for PNG, WebP and TIFF. Other formats (JPEG, BMP) get it
  composited on white, and the log says so. JPEG and WebP are written at quality 95. Each file is
  written whole or not at all; a full disk stops the run.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from colorize_core.apps.photo import (
    ALREADY_COLOUR,
    colorize_image,
    compare_image,
    is_colour,
    training_size,
)
from colorize_core.apps.sources import pick_colorizer
from colorize_core.data import atomic, images
from colorize_core.data.progress import progress
from colorize_core.training.device import pick_device

log = logging.getLogger(__name__)

QUALITY = 95  # JPEG / WebP: compression must not blur the L we kept so carefully
ALPHA_FORMATS = frozenset({"PNG", "WEBP", "TIFF"})
REWRITE_AS_PNG = frozenset({"GIF"})  # writable, but a 256-colour palette bands the colours
CLASHES_LISTED = 10  # clashing outputs named in the error; a rerun can clash on every file

OK, FAILED, SKIPPED = "ok", "failed", "skipped"

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


# ---------------------------------------------------------------- formats and saving


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


# ---------------------------------------------------------------- inputs


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


# ---------------------------------------------------------------- outputs


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

    ``suffix``: the output extension (".png" or "png"), default each input's own; ValueError if
    Pillow cannot write it. Raises ``OutputClash``, naming the files, when an output would replace
    an input of this run (even with ``overwrite``), a file that exists already (unless
    ``overwrite``), or another output of this run (a photo given twice, or two whose names differ
    only in their extension).
    """
    if suffix and output_format(suffix) is None:
        raise ValueError(f"Pillow cannot write {suffix!r} files; choose e.g. png, jpg, webp, tif")
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


# ---------------------------------------------------------------- colourising


def colorize_file(
    model: torch.nn.Module,
    path: Path,
    target: Path,
    size: int,
    device: torch.device | str,
    compare: Path | None = None,
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
    shorter side, a multiple of 8 (default the training size). ``suffix``: output extension
    (".png"); default the input's own (PNG for GIF or unwritable formats). ``compare``: also
    write ``<name>_compare.png``. ``overwrite``: replace files that exist already, though never
    an input. Outputs that clash raise ``OutputClash`` before anything is written
    (``plan_outputs``). One result per file, in order; failures, skips and multi-frame files
    (only the first frame colourised) are logged with the file, never raised.
    """
    output_dir = Path(output_dir)
    inputs = [inputs] if isinstance(inputs, (str, Path)) else list(inputs)
    entries = collect_inputs(inputs, exclude=output_dir)
    plan = plan_outputs(entries, output_dir, suffix, compare, overwrite)
    network, config = pick_colorizer(checkpoint, model)
    size = size or training_size(config)
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


def summary(results: list[PhotoResult], output_dir: str | Path) -> str:
    """The closing line: how many files were colourised (first frame only), failed, skipped."""
    counts = {s: sum(r.status == s for r in results) for s in (OK, FAILED, SKIPPED)}
    first_only = sum(r.ok and r.frames > 1 for r in results)
    frames = f" ({first_only} of them: first frame only)" if first_only else ""
    return (
        f"colorize: {counts[OK]} colourised into {output_dir}{frames}, {counts[FAILED]} failed, "
        f"{counts[SKIPPED]} skipped (not images)"
    )
