"""One typed, frozen configuration per experiment, built from flat notebook parameters or the CLI.

``ExperimentConfig.from_params(model="unet", epochs=5, ...)`` takes the flat names a papermill
``parameters`` cell uses, routes each to its part (data, model, train) and rejects unknown names
and wrong types, so a typo in a notebook fails at once instead of silently running the default.
The resolved config is saved with every run and inside every checkpoint (``to_dict``/``from_dict``).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import stat
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from colorize_core.data.ab_bins import PAPER_TEMPERATURE
from colorize_core.data.atomic import write_text
from colorize_core.data.color import SIZE_MULTIPLE
from colorize_core.data.mixture import check_mixture, is_mixture
from colorize_core.models.heads import HEADS

LOSSES = ("mse", "l1", "smooth_l1")
OPTIMIZERS = ("adamw", "adam")
SCHEDULERS = ("plateau", "inverse_sqrt", "cosine", "none")
WANDB_MODES = ("off", "offline", "online")
PRECISIONS = ("auto", "float32", "bfloat16")
KEEPS = ("best", "last")
MAX_SEED = 2**32 - 1  # numpy's and torch's seeds both take any integer in [0, 2**32 - 1]
# A run's name is its folder under output_dir: one path component that can't escape it
# ("..", "/", absolute) or be output_dir itself ("", ".").
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
# auto, or a device kind training runs on (torch.device would take "meta", "xla", ...)
DEVICE_PATTERN = re.compile(r"auto|cpu|(cuda|mps)(:\d+)?")
# A run's config.json is a few kB: a bigger file is a mistake (``--config /dev/zero``).
MAX_CONFIG_BYTES = 1 << 20


@dataclass(frozen=True)
class DataConfig:
    """Which images, at what size, and how the training split is augmented."""

    # faces, landscapes, cifar10, faces_wild, photos_wild or folder:PATH; or a mixture of
    # registered sets, "photos_wild+faces_wild+landscapes", each split on its own (data/mixture.py)
    dataset: str = "faces"
    image_size: int | None = None  # None: the dataset's registered size
    # use only the first N usable images (small profiles); a mixture: of each source, or
    # {source: N} for some of them
    limit: int | dict | None = None
    # a mixture's share of each source in the training batches: "size" (in proportion to its
    # training images), "equal", or {source: weight} for every source
    weights: str | dict = "size"
    augment: bool = True  # flip, rotation, resized crop; training split only
    flip_only: bool = False  # augment with horizontal flips only: for aligned images (faces)
    data_path: str | None = None  # explicit dataset folder; else COLORIZE_DATA, data/, download


@dataclass(frozen=True)
class ModelConfig:
    """Which registered architecture (``models.MODELS``) and its keyword arguments."""

    model: str = "conv_ae"
    model_kwargs: dict = field(default_factory=dict)
    # regression: ab / 128 through tanh; classification: logits over the in-gamut ab bins, trained
    # with rebalanced cross-entropy and decoded by the annealed mean (Zhang et al. 2016)
    head: str = "regression"
    # classification: the annealed-mean temperature used when predicting (1 = the mean, 0 = the
    # mode; Zhang's). A decoding setting, not a weight: a resumed run may change it, and a
    # trained run may be re-scored at another.
    temperature: float = PAPER_TEMPERATURE
    # classification: decode each pixel at its own temperature, from ``temperature`` where the
    # predicted distribution is sure up to 1 (the mean) where its normalised entropy reaches this
    # value (``ab_bins.decode_unsure``); None: every pixel at ``temperature``. Also a decoding
    # setting, chosen on the validation split.
    unsure_entropy: float | None = None
    # classification: how much of the class rebalancing's tilt towards rare colours decoding
    # takes back, in [0, 1] (``heads.BinClassifier``): 0 decodes as trained (Zhang's), 1 the
    # model's estimate of the true distribution. A decoding setting, chosen on validation.
    prior_correction: float = 0.0
    # classification: photos whose shorter side is below ``small_photo_below`` (the training size)
    # are decoded with ``small_photo_prior_correction`` instead: the model never saw one so small
    # (a photo is never enlarged for it, ``apps.photo.model_shape``), so it knows its colours
    # less well. None: every photo decoded alike. Decoding settings, chosen on validation.
    small_photo_below: int | None = None
    small_photo_prior_correction: float = 0.0


# The ModelConfig fields that say how a classification model decodes, not what it learnt: a
# resumed run may change them and a trained run may be re-scored with others (``decode_at``).
DECODING_SETTINGS = (
    "temperature",
    "unsure_entropy",
    "prior_correction",
    "small_photo_below",
    "small_photo_prior_correction",
)


def decoding(model: ModelConfig) -> dict[str, Any]:
    """``model``'s decoding settings by name (``DECODING_SETTINGS``)."""
    return {name: getattr(model, name) for name in DECODING_SETTINGS}


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation. Defaults are the reference study's faces settings."""

    loss: str = "mse"  # regression loss on ab/128: mse, l1, smooth_l1
    epochs: int = 30
    batch_size: int = 20
    lr: float = 5e-4
    weight_decay: float = 1e-4
    optimizer: str = "adamw"
    betas: tuple[float, float] = (0.9, 0.999)
    # plateau: ReduceLROnPlateau on validation loss (reference); inverse_sqrt: warm-up then
    # 1/sqrt decay; cosine: from lr down to 0 over the run's epochs (per batch)
    scheduler: str = "plateau"
    # which epoch's weights the run keeps: best (lowest validation loss) or last. An adversarial
    # run keeps the last, as pix2pix does: its validation L1 rewards the least adversarial epoch.
    keep: str = "best"
    plateau_patience: int = 3
    plateau_factor: float = 0.5
    warmup_steps: int = 100  # inverse_sqrt: constant for this many steps, then 1/sqrt decay
    adversarial: bool = False  # train the model as generator against the PatchGAN discriminator
    gan_lambda: float = 100.0  # weight of the L1 term in the generator loss
    # Start from the best weights of another run on the same data and split (a run name under
    # output_dir, or a checkpoint file): L1/MSE pre-training before adversarial fine-tuning.
    init_from: str | None = None
    device: str = "auto"  # auto: cuda, then mps, then cpu
    precision: str = "auto"  # auto: bfloat16 autocast where the hardware has it, else float32
    channels_last: bool = True  # NHWC memory layout: faster convolutions on CPU and CUDA
    wandb: str = "off"  # off, offline (a local run folder for `wandb sync`), online
    # classification head: weight of the uniform distribution mixed into the smoothed bin prior
    # before inverting it into per-class weights (Zhang's lambda; 1 = no rebalancing)
    rebalance: float = 0.5


@dataclass(frozen=True)
class ExperimentConfig:
    """Everything that defines one run; its ``name`` is the folder under ``output_dir``."""

    name: str = "run"
    seed: int = 0  # fixes the split, the initialisation, the batch order and the augmentation
    profile: str = "custom"
    output_dir: str = "results"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        _check_types(self)
        t = self.train
        for value, allowed, what in (
            (t.loss, LOSSES, "loss"),
            (t.optimizer, OPTIMIZERS, "optimizer"),
            (t.scheduler, SCHEDULERS, "scheduler"),
            (t.wandb, WANDB_MODES, "wandb"),
            (t.precision, PRECISIONS, "precision"),
            (t.keep, KEEPS, "keep"),
        ):
            if value not in allowed:
                raise ValueError(f"{what} must be one of {', '.join(allowed)}; got {value!r}")
        _check_name(self.name)
        if not 0 <= self.seed <= MAX_SEED:
            raise ValueError(f"seed must be an integer in [0, {MAX_SEED}], got {self.seed}")
        d = self.data
        if d.image_size is not None and (
            d.image_size < SIZE_MULTIPLE or d.image_size % SIZE_MULTIPLE
        ):
            raise ValueError(
                "image_size must be None (the dataset's size) or a positive multiple of "
                f"{SIZE_MULTIPLE} (the models halve it three times), got {d.image_size}"
            )
        check_mixture(d.dataset, d.weights, d.limit)
        if is_mixture(d.dataset) and d.data_path is not None:
            raise ValueError("data_path names one data set's folder; a mixture finds each source")
        # ``not value > 0`` rather than ``value <= 0``, so that NaN fails too
        positive = {
            "epochs": t.epochs,
            "batch_size": t.batch_size,
            "lr": t.lr,
            "limit": d.limit if not isinstance(d.limit, dict) else None,
        }
        for key, value in positive.items():
            if value is not None and not (value > 0 and math.isfinite(value)):
                raise ValueError(f"{key} must be a positive finite number, got {value}")
        not_negative = {
            "weight_decay": t.weight_decay,
            "gan_lambda": t.gan_lambda,
            "plateau_patience": t.plateau_patience,
            "warmup_steps": t.warmup_steps,
        }
        for key, value in not_negative.items():
            if not (value >= 0 and math.isfinite(value)):
                raise ValueError(f"{key} must be a finite number >= 0, got {value}")
        if not 0 < t.plateau_factor < 1:  # ReduceLROnPlateau multiplies the lr by it
            raise ValueError(f"plateau_factor must lie in (0, 1), got {t.plateau_factor}")
        if not DEVICE_PATTERN.fullmatch(t.device):
            raise ValueError(f"device must be auto, cpu, cuda, cuda:N or mps; got {t.device!r}")
        m = self.model
        if m.head not in HEADS:
            raise ValueError(f"head must be one of {', '.join(HEADS)}; got {m.head!r}")
        if not (m.temperature >= 0 and math.isfinite(m.temperature)):
            raise ValueError(f"temperature must be a finite number >= 0, got {m.temperature}")
        if m.unsure_entropy is not None and not (
            0 < m.unsure_entropy <= 1 and 0 < m.temperature <= 1
        ):
            raise ValueError(
                "unsure_entropy must lie in (0, 1], with a temperature in (0, 1]; got "
                f"{m.unsure_entropy} at temperature {m.temperature}"
            )
        if not 0 <= m.prior_correction <= 1:
            raise ValueError(f"prior_correction must lie in [0, 1], got {m.prior_correction}")
        if m.small_photo_below is not None and (
            m.small_photo_below < SIZE_MULTIPLE or m.small_photo_below % SIZE_MULTIPLE
        ):
            raise ValueError(
                f"small_photo_below must be a positive multiple of {SIZE_MULTIPLE} or None, got "
                f"{m.small_photo_below}"
            )
        if not 0 <= m.small_photo_prior_correction <= 1:
            raise ValueError(
                "small_photo_prior_correction must lie in [0, 1], got "
                f"{m.small_photo_prior_correction}"
            )
        if not 0 <= t.rebalance <= 1:
            raise ValueError(f"rebalance must lie in [0, 1], got {t.rebalance}")
        if t.adversarial and m.head != "regression":
            raise ValueError("adversarial training needs the regression head (the critic sees ab)")
        if not all(0 <= beta < 1 for beta in t.betas):
            raise ValueError(f"betas must both lie in [0, 1), got {t.betas}")

    @property
    def run_dir(self) -> Path:
        return Path(self.output_dir) / self.name

    @classmethod
    def from_params(cls, **params: Any) -> ExperimentConfig:
        """Build from flat names (``epochs=3``, ``model="unet"``); unknown names are errors."""
        parts = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig}
        owner = {f.name: part for part, kind in parts.items() for f in dataclasses.fields(kind)}
        top = {f.name for f in dataclasses.fields(cls)} - set(parts)
        unknown = sorted(set(params) - set(owner) - top)
        if unknown:
            valid = ", ".join(sorted(set(owner) | top))
            raise TypeError(f"unknown parameter(s) {', '.join(unknown)}; valid: {valid}")
        grouped: dict[str, dict] = {part: {} for part in parts}
        for key, value in params.items():
            if key in owner:
                grouped[owner[key]][key] = value
        if isinstance(grouped["train"].get("betas"), list):
            grouped["train"]["betas"] = tuple(grouped["train"]["betas"])
        return cls(
            **{k: v for k, v in params.items() if k in top},
            **{part: kind(**grouped[part]) for part, kind in parts.items()},
        )

    def with_params(self, **changes: Any) -> ExperimentConfig:
        """This config with some flat parameters changed (``temperature=0.2``), checked anew."""
        return ExperimentConfig.from_dict(_merge(self.to_dict(), changes))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> ExperimentConfig:
        flat = {k: v for k, v in values.items() if k not in ("data", "model", "train")}
        for part in ("data", "model", "train"):
            if not isinstance(values.get(part, {}), dict):
                raise TypeError(
                    f"{part} must be an object of {part} parameters, got {values[part]!r}"
                )
            flat.update(values.get(part, {}))
        return cls.from_params(**flat)

    def save(self, path: str | Path) -> None:
        """Write the config as JSON, whole or absent (``data.atomic``)."""
        write_text(path, json.dumps(self.to_dict(), indent=1))

    @classmethod
    def load(cls, path: str | Path) -> ExperimentConfig:
        return cls.from_dict(read_json_object(path))


def read_json_object(path: str | os.PathLike) -> dict:
    """The JSON object in the config file ``path``. A ``ValueError`` (one line) for a file that
    cannot be read, is not a regular file, is larger than ``MAX_CONFIG_BYTES`` or does not hold a
    JSON object; at most ``MAX_CONFIG_BYTES + 1`` bytes are read."""
    try:  # O_NONBLOCK: opening a FIFO must not wait for a writer
        handle = os.fdopen(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb")
    except OSError as error:
        raise ValueError(f"cannot read {path}: {error.strerror}") from None
    with handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise ValueError(f"{path} is not a regular file; give a JSON file")
        data = handle.read(MAX_CONFIG_BYTES + 1)
    if len(data) > MAX_CONFIG_BYTES:
        raise ValueError(f"{path} is larger than {MAX_CONFIG_BYTES} bytes: not a config file")
    try:
        values = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        reason = str(error) if not isinstance(error, RecursionError) else "nested too deeply"
        raise ValueError(f"{path} is not a JSON file ({reason})") from None
    if not isinstance(values, dict):
        kind = {list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
            type(values), "a number"
        )
        raise ValueError(f"{path} holds {kind}, not a JSON object of parameters")
    return values


def _merge(values: dict, changes: dict[str, Any]) -> dict:
    """``to_dict`` output with flat parameter names set in whichever part owns them."""
    merged = {k: dict(v) if k in ("data", "model", "train") else v for k, v in values.items()}
    for key, value in changes.items():
        owner = next((p for p in ("data", "model", "train") if key in merged[p]), None)
        if owner is None and key not in merged:
            raise TypeError(f"unknown parameter {key!r}")
        (merged[owner] if owner else merged)[key] = value
    return merged


def _check_name(name: str) -> None:
    """A run name must be a plain folder name: letters, digits, ``.``, ``_`` and ``-``."""
    if not NAME_PATTERN.fullmatch(name):
        raise ValueError(
            f"run name {name!r} is not allowed: use 1 to 128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (it becomes a folder under output_dir)"
        )


def _matches(value: Any, annotation: Any) -> bool:
    """isinstance for the few annotation forms used above (X, X | None, tuple[...], dict)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arg) for arg in typing.get_args(annotation))
    if annotation is type(None):
        return value is None
    if origin is tuple:
        args = typing.get_args(annotation)
        return (
            isinstance(value, tuple)
            and len(value) == len(args)
            and all(_matches(v, a) for v, a in zip(value, args, strict=True))
        )
    if origin is not None:
        return isinstance(value, origin)
    if annotation is float:  # an int is a fine float (lr=1 is 1.0), a bool is not
        return isinstance(value, int | float) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, annotation)


def _check_types(config: Any) -> None:
    hints = typing.get_type_hints(type(config))
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            _check_types(value)
        elif not _matches(value, hints[f.name]):
            raise TypeError(
                f"{f.name} must be {hints[f.name]}, got {value!r} ({type(value).__name__})"
            )


def kind_grid(
    params: dict[str, Any], datasets: dict[str, dict], kinds: dict[str, dict]
) -> dict[tuple[str, str], ExperimentConfig]:
    """One run per (dataset, kind), named ``<name>-<dataset>-<kind>``: ``params``, then the
    dataset's settings (``image_size``, ``limit``, ...), then the kind's changes. A kind's
    ``init_from`` may name another kind, meaning that kind's run on the same dataset (e.g. an
    adversarial U-Net started from the regression one). Kinds run in the order given.
    """
    configs = {}
    prefix = params.get("name", "run")
    for dataset, settings in datasets.items():
        for kind, changes in kinds.items():
            changes = dict(changes)
            if changes.get("init_from") in kinds:
                changes["init_from"] = f"{prefix}-{dataset}-{changes['init_from']}"
            run = {**params, "dataset": dataset, **settings, **changes}
            configs[dataset, kind] = ExperimentConfig.from_params(
                **{**run, "name": f"{prefix}-{dataset}-{kind}"}
            )
    return configs


def with_variants(params: dict[str, Any], variants: dict[str, dict]) -> dict[str, ExperimentConfig]:
    """The run ``params`` describe (key ``None``) and one run per named variant.

    ``variants`` maps a name to the parameters it changes, e.g. ``{"unet": {"model": "unet"}}``;
    each variant runs under ``<name>-<variant>`` on the same data, split and seed, so a notebook
    can compare its reference-settings run with documented alternatives.
    """
    configs = {None: ExperimentConfig.from_params(**params)}
    for variant, changes in variants.items():
        name = f"{params.get('name', 'run')}-{variant}"
        configs[variant] = ExperimentConfig.from_params(**{**params, **changes, "name": name})
    return configs
