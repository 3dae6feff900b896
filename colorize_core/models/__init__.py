"""Stage 2, models. The registry: every architecture maps L / 100 to ab / 128, (N, C, H, W).

One architecture per file (``conv_ae``, ``gan``, ``cnn8``, ``unet``); each registers a small factory
here with ``@register(name)``, and ``build_model(name, **kwargs)`` builds one by name. The factories
take keyword arguments for width only (``base``), with defaults matching the reference studies.
``parameter_count``, ``forward_flops`` and ``model_table`` describe a model's size and cost;
``lab.LabPredictor`` runs any of them on plain Lab units.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TypeVar

import pandas as pd
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

MODELS: dict[str, Callable[..., nn.Module]] = {}

Factory = TypeVar("Factory", bound=Callable[..., nn.Module])


def register(name: str) -> Callable[[Factory], Factory]:
    """Decorator: make a model factory available to ``build_model`` under ``name``."""

    def add(factory: Factory) -> Factory:
        if name in MODELS:
            raise ValueError(f"model {name!r} is already registered")
        MODELS[name] = factory
        return factory

    return add


def build_model(name: str, **kwargs) -> nn.Module:
    """Build a registered model by name, in training mode.

    Raises ``KeyError`` listing the valid names for an unknown ``name``, and ``TypeError`` naming
    any keyword argument the factory does not take (so a config typo fails loudly, not silently).
    """
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    factory = MODELS[name]
    accepted = inspect.signature(factory).parameters
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise TypeError(
            f"model {name!r} got unknown keyword arguments {', '.join(unknown)}; "
            f"it accepts {', '.join(accepted) or 'none'}"
        )
    return factory(**kwargs)


def parameter_count(model: nn.Module) -> int:
    """Number of trainable scalars (BatchNorm running statistics are buffers, not counted)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def forward_flops(model: nn.Module, size: int = 128) -> int:
    """FLOPs of one forward pass on one (1, 1, size, size) input, in eval mode, no gradients.

    Counted by ``torch.utils.flop_counter.FlopCounterMode``, which counts 2 FLOPs per
    multiply-add and only the matmul-like ops (convolutions, transposed convolutions, linear);
    BatchNorm, activations, pooling and upsampling are not counted. The model's training mode is
    restored afterwards.
    """
    was_training = model.training
    parameter = next(model.parameters())
    image = torch.zeros(1, 1, size, size, dtype=parameter.dtype, device=parameter.device)
    counter = FlopCounterMode(display=False)
    try:
        model.eval()
        with torch.no_grad(), counter:
            model(image)
    finally:
        model.train(was_training)
    return counter.get_total_flops()


def model_table(size: int = 128) -> pd.DataFrame:
    """One row per registered model (default widths): parameters and GFLOPs per size x size image.

    Columns: ``model``, ``parameters``, ``gflops`` (forward, one image, 2 FLOPs per multiply-add),
    and ``discriminator_parameters``, which is filled for ``gan`` only (its training-time critic;
    inference needs the generator alone) and missing (``<NA>``) for the others.
    """
    rows = []
    for name in MODELS:
        model = build_model(name)
        rows.append(
            {
                "model": name,
                "parameters": parameter_count(model),
                "gflops": forward_flops(model, size) / 1e9,
                "discriminator_parameters": (
                    parameter_count(gan.build_discriminator()) if name == "gan" else pd.NA
                ),
            }
        )
    table = pd.DataFrame(rows)
    return table.astype({"discriminator_parameters": "Int64"})


# The architecture modules register themselves with the decorator above, so they are imported
# last, after ``register`` exists; importing this package is then enough to fill ``MODELS``.
from colorize_core.models import cnn8, conv_ae, gan, unet  # noqa: E402, F401
