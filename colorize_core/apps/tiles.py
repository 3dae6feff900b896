"""Run a model on an input of any shape in bounded memory: tile by tile when it is too big.

A model's activations grow with its input: the classification head alone holds 309 logits per
pixel, about 150 times the ab it returns, so a long panorama or a large ``--size`` could ask for
tens of GB. ``predict_ab_tiled`` measures what one model pixel costs (``activation_bytes``), and
when the whole input would need more than ``budget`` bytes it runs overlapping tiles that each
fit, and blends their ab with linear ramps across the overlaps. The models are fully
convolutional, and predicted colour is smooth, so seams do not show; an input that fits runs in
one piece, exactly as before.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Iterator

import torch
from torch import nn

from colorize_core.data.color import SIZE_MULTIPLE
from colorize_core.training.loading import predict_ab

MODEL_MEMORY = 512 << 20  # bytes of activations one forward pass may use
OVERLAP = 32  # model pixels each tile shares with its neighbour, blended linearly
_PROBE = 32  # side of the square input whose activations are measured
_SAFETY = 2  # activations outside module outputs (concatenations, softmax) and allocator slack


_MEASURED: weakref.WeakKeyDictionary[nn.Module, int] = weakref.WeakKeyDictionary()


def activation_bytes(model: nn.Module) -> int:
    """An upper bound on the bytes of activations per input pixel of ``model`` (float32): the
    outputs of all its leaf modules on a ``_PROBE``-square input, per pixel, times ``_SAFETY``.
    Measured once per model object."""
    if model not in _MEASURED:
        _MEASURED[model] = _measure(model)
    return _MEASURED[model]


@torch.inference_mode()
def _measure(model: nn.Module) -> int:
    total = 0

    def count(module: nn.Module, inputs: tuple, output: object) -> None:
        nonlocal total
        outputs = output if isinstance(output, (tuple, list)) else (output,)
        total += sum(t.numel() * 4 for t in outputs if isinstance(t, torch.Tensor))

    leaves = [m for m in model.modules() if not any(m.children())] or [model]
    hooks = [leaf.register_forward_hook(count) for leaf in leaves]
    try:
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
        count(model, (), model.eval()(torch.zeros(1, 1, _PROBE, _PROBE, device=device)))
    finally:
        for hook in hooks:
            hook.remove()
    return math.ceil(total / _PROBE**2) * _SAFETY


def tile_pixels(model: nn.Module, budget: int = MODEL_MEMORY) -> int:
    """The most model pixels one forward pass of ``model`` may take within ``budget`` bytes."""
    return max(budget // activation_bytes(model), (2 * OVERLAP + SIZE_MULTIPLE) ** 2)


def _spans(length: int, tile: int) -> list[tuple[int, int]]:
    """(start, stop) of tiles of at most ``tile`` covering ``length``, each overlapping the next
    by at least 2 x ``OVERLAP``, starts on multiples of 8."""
    if length <= tile:
        return [(0, length)]
    step = tile - 2 * OVERLAP
    count = math.ceil((length - tile) / step) + 1
    starts = [
        min(round(i * (length - tile) / (count - 1) / SIZE_MULTIPLE) * SIZE_MULTIPLE, length - tile)
        for i in range(count)
    ]
    return [(start, start + tile) for start in starts]


def _ramp(start: int, stop: int, length: int) -> torch.Tensor:
    """Blending weights along one side of a tile: rising over ``OVERLAP`` pixels from each edge
    that is inside the image, 1 elsewhere."""
    position = torch.arange(stop - start, dtype=torch.float32)
    weight = torch.ones(stop - start)
    if start > 0:
        weight = torch.minimum(weight, (position + 1) / (OVERLAP + 1))
    if stop < length:
        weight = torch.minimum(weight, (stop - start - position) / (OVERLAP + 1))
    return weight


def tiles(height: int, width: int, max_pixels: int) -> Iterator[tuple[slice, slice]]:
    """Row and column slices of overlapping tiles, each at most ``max_pixels``, that cover a
    ``height`` x ``width`` input (both multiples of 8)."""
    side = max(2 * OVERLAP + SIZE_MULTIPLE, math.isqrt(max_pixels)) // SIZE_MULTIPLE * SIZE_MULTIPLE
    tile_h, tile_w = min(height, side), min(width, side)
    if tile_h < side:  # a wide strip: spend the pixels on longer tiles
        tile_w = min(width, max_pixels // tile_h // SIZE_MULTIPLE * SIZE_MULTIPLE)
    elif tile_w < side:  # a tall strip
        tile_h = min(height, max_pixels // tile_w // SIZE_MULTIPLE * SIZE_MULTIPLE)
    smallest = 2 * OVERLAP + SIZE_MULTIPLE  # a split side must be wider than its two overlaps
    tile_h, tile_w = max(tile_h, min(height, smallest)), max(tile_w, min(width, smallest))
    for top, bottom in _spans(height, tile_h):
        for left, right in _spans(width, tile_w):
            yield slice(top, bottom), slice(left, right)


def predict_ab_tiled(
    model: nn.Module, lightness: torch.Tensor, device="cpu", max_pixels: int | None = None
) -> torch.Tensor:
    """``predict_ab`` (L in Lab units (1, 1, H, W) -> ab (1, 2, H, W) on the CPU) in tiles of at
    most ``max_pixels`` (default ``tile_pixels(model)``); in one pass when the input fits."""
    height, width = lightness.shape[-2:]
    # no tile of a big photo may look like a small photo to a model that decodes those its own
    # way (``heads.BinClassifier.small_photo_below``)
    below = getattr(model, "small_photo_below", None) or 0
    max_pixels = max(max_pixels or tile_pixels(model.to(device)), below * below)
    if height * width <= max_pixels:
        return predict_ab(model, lightness, device)
    total = torch.zeros(1, 2, height, width)
    weights = torch.zeros(1, 1, height, width)
    for rows, columns in tiles(height, width, max_pixels):
        ab = predict_ab(model, lightness[..., rows, columns], device)
        weight = _ramp(rows.start, rows.stop, height)[:, None] * _ramp(
            columns.start, columns.stop, width
        )
        total[..., rows, columns] += ab * weight
        weights[..., rows, columns] += weight
    return total / weights
