"""A trained model from a run folder or a checkpoint, and its predictions.

Training (``init_from``, ensembles) and the apps (``colorize``, the web page, exports) load models
through here; nothing here depends on the training loop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from torch import nn

from colorize_core.models import build_model
from colorize_core.models.ensemble import ENSEMBLE, Ensemble
from colorize_core.models.heads import with_head
from colorize_core.models.lab import LabPredictor
from colorize_core.training.checkpoint import CheckpointError, best_checkpoint, load_checkpoint
from colorize_core.training.config import ExperimentConfig, ModelConfig, decoding


def build_predictor(model: ModelConfig) -> nn.Module:
    """The registered architecture ``model`` names, with its prediction head, in training mode."""
    backbone = build_model(model.model, **model.model_kwargs)
    return with_head(backbone, model.head, **decoding(model))


# Entries a model gained after weights had been saved without them: an older file may lack them
# (``heads.BinClassifier`` then keeps its own), but one that has them must give the right shape.
KEPT_SINCE = {"rebalance_log_weights"}


def build_for_weights(model: ModelConfig, shapes: Mapping[str, Sequence[int]], source) -> nn.Module:
    """``build_predictor(model)`` once its weights' ``shapes`` (name -> shape, as stored in
    ``source``) are known to fit it: the check builds the model on the meta device, which
    allocates nothing, so a doctored config (a huge width) is refused before it costs memory."""
    with torch.device("meta"):
        skeleton = build_predictor(model)
    given = {name: tuple(shape) for name, shape in shapes.items()}
    expected = {
        name: tuple(t.shape)
        for name, t in skeleton.state_dict().items()
        if name in given or name not in KEPT_SINCE
    }
    if given != expected:
        differ = sorted(set(given) ^ set(expected)) or sorted(
            name for name in given if given[name] != expected[name]
        )
        raise CheckpointError(
            f"{source}: its weights do not fit its config {model.model} {model.model_kwargs} "
            f"(e.g. {differ[0]}: {given.get(differ[0])} stored, {expected.get(differ[0])} "
            "expected); the file is damaged or doctored"
        )
    return build_predictor(model)


def _shapes(state: Mapping[str, torch.Tensor]) -> dict[str, tuple[int, ...]]:
    return {name: tuple(tensor.shape) for name, tensor in state.items()}


def source_run(
    config: ExperimentConfig,
    name: str,
    runs_dir: str | Path,
    role: str,
    same_model: bool = False,
) -> tuple[dict, ExperimentConfig]:
    """The best checkpoint, and its config, of a run that ``config`` builds on (``role``:
    init_from, ensemble member): a checkpoint file, a run folder or a run under ``runs_dir``.

    Refused with a ``CheckpointError`` when there is none, or when it was trained on other data or
    another split (or, with ``same_model``, is another model): its training could have seen
    ``config``'s test images.
    """
    given = Path(name)
    source = best_checkpoint(given if given.exists() else Path(runs_dir) / given)
    if not source.is_file():
        raise CheckpointError(
            f"{config.name}: {role} {name!r} has no checkpoint at {source} (give a checkpoint "
            f"file, a run folder or a run under {runs_dir}); train that run first"
        )
    state = load_checkpoint(source)
    other = _trained_config(state, source)
    d, o = config.data, other.data  # not data_path: where the same dataset lies may differ
    checks = [
        ("model", _architecture(config.model), _architecture(other.model)) if same_model else None,
        ("data", (d.dataset, d.image_size, d.limit), (o.dataset, o.image_size, o.limit)),
        ("seed", config.seed, other.seed),
    ]
    mismatches = [f"{what} {a!r} vs {b!r}" for what, a, b in filter(None, checks) if a != b]
    if mismatches:
        raise CheckpointError(
            f"{config.name}: cannot use {source} as {role}: it differs in {'; '.join(mismatches)}"
        )
    return state, other


def _trained_config(state: dict, source: Path) -> ExperimentConfig:
    """The config of a checkpoint that holds trained model weights; a ``CheckpointError`` for one
    without them or with an unusable config (a doctored or foreign file with our marker)."""
    modules = state.get("modules")
    if not isinstance(modules, dict) or not isinstance(modules.get("model"), dict):
        raise CheckpointError(
            f"{source} holds no model weights (no 'modules' with a 'model'); give the "
            "checkpoint of a trained run, e.g. its checkpoints/best.pt"
        )
    config = state.get("config")
    try:
        if not isinstance(config, dict):
            raise TypeError("no 'config' object")
        return ExperimentConfig.from_dict(config)
    except (TypeError, ValueError) as error:
        raise CheckpointError(
            f"{source} holds no usable config ({error}); give the checkpoint of a trained run"
        ) from error


def _decoding(config: ExperimentConfig) -> str:
    """How a classification model's predictions are decoded, as messages name it."""
    m = config.model
    unsure = f", unsure_entropy {m.unsure_entropy:g}" if m.unsure_entropy is not None else ""
    prior = f", prior_correction {m.prior_correction:g}" if m.prior_correction else ""
    small = (
        f", {m.small_photo_prior_correction:g} below {m.small_photo_below} px"
        if m.small_photo_below is not None
        else ""
    )
    return f"temperature {m.temperature:g}{unsure}{prior}{small}"


def _architecture(model: ModelConfig) -> tuple:
    """What decides a model's weights: not the temperature its predictions are decoded at."""
    return model.model, model.model_kwargs, model.head


def load_ensemble(config: ExperimentConfig, runs_dir: str | Path) -> Ensemble:
    """The ensemble ``config`` describes, its members' best weights loaded from ``runs_dir``
    (a member may also be given as a run folder or checkpoint path), in eval mode."""
    kwargs = dict(config.model.model_kwargs)
    members, flip = kwargs.pop("members", None), kwargs.pop("flip", False)
    if kwargs or not isinstance(members, list | tuple) or not members:
        raise TypeError(
            f"{config.name}: an ensemble takes model_kwargs members (a non-empty list of run "
            f"names) and flip; got {config.model.model_kwargs!r}"
        )
    models = []
    for member in members:
        state, other = source_run(config, member, runs_dir, "member")
        model = build_for_weights(other.model, _shapes(state["modules"]["model"]), member)
        model.load_state_dict(state["modules"]["model"])
        models.append(model)
    return Ensemble(models, flip=bool(flip)).eval()


def load_model(source: str | Path) -> tuple[torch.nn.Module, ExperimentConfig]:
    """The best model of a run folder, or the model in a checkpoint file, with its config.

    The checkpoint's config says how it decodes (a run re-scored at another temperature rewrote
    it). An ensemble run's folder holds no weights; its members are loaded from the runs beside
    it.
    """
    source = Path(source)
    run_config = None
    if source.is_dir() and (source / "config.json").is_file():
        run_config = ExperimentConfig.load(source / "config.json")
        if run_config.model.model == ENSEMBLE:
            return load_ensemble(run_config, source.parent), run_config
    state = load_checkpoint(best_checkpoint(source))
    config = ExperimentConfig.from_dict(state["config"])
    if run_config is not None and _decoding(run_config) != _decoding(config):
        raise CheckpointError(
            f"{source}: config.json decodes at {_decoding(run_config)}, its checkpoints/best.pt "
            f"at {_decoding(config)} (re-scored by an older version, or stopped while resuming); "
            "resume the run once (colorize-train --config <its config.json> --resume) and its "
            "checkpoints take config.json's decoding"
        )
    model = build_for_weights(config.model, _shapes(state["modules"]["model"]), source)
    model.load_state_dict(state["modules"]["model"])
    return model.eval(), config


@torch.inference_mode()
def predict_ab(model: torch.nn.Module, lightness: torch.Tensor, device="cpu") -> torch.Tensor:
    """ab in Lab units (N, 2, H, W) on the CPU, for L in Lab units (N, 1, H, W); ``model`` is
    moved to ``device`` and left in eval mode."""
    predictor = LabPredictor(model).to(device).eval()
    return predictor(lightness.to(device)).cpu()
