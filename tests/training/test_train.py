"""Training: run folder, determinism, resume, divergence guard, adversarial loop, checkpoints."""

import json
import math
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from tiny_runs import TINY, tiny_config  # pytest puts tests/ on sys.path

from colorize_core.data.cache import load_images
from colorize_core.data.split import make_split
from colorize_core.reporting import report
from colorize_core.runs.experiment import run_experiment
from colorize_core.training import device as device_module
from colorize_core.training import fit as train_module
from colorize_core.training import tasks as tasks_module
from colorize_core.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from colorize_core.training.config import ExperimentConfig
from colorize_core.training.device import pick_device
from colorize_core.training.fit import TrainingDiverged, fit, write_history
from colorize_core.training.loading import load_model


@pytest.fixture(scope="module")
def tiny_faces():
    data = load_images("faces", 32).subset(range(40))
    return data, make_split(data.files, seed=0)


def weights(model: torch.nn.Module) -> dict:
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_run_fills_its_folder_and_loss_falls(tmp_path):
    result = run_experiment(tiny_config(tmp_path, epochs=4))
    run_dir = tmp_path / "tiny"
    for name in (
        "config.json",
        "split.json",
        "history.csv",
        "history.json",
        "metrics_per_image.csv",
        "metrics.json",
        "samples.png",
        "checkpoints/last.pt",
        "checkpoints/best.pt",
    ):
        assert (run_dir / name).is_file(), name
    history = pd.read_csv(run_dir / "history.csv")
    assert list(history["epoch"]) == [1, 2, 3, 4]
    assert history["loss"].iloc[-1] < 0.8 * history["loss"].iloc[0]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["images"] == len(result.split.test) == 6
    assert np.isfinite(metrics["metrics"]["psnr_ab"]["mean"])
    assert metrics["provenance"]["device"] == "cpu"
    assert Image.open(run_dir / "samples.png").size == (3 * 32 + 4, 6 * 32 + 10)
    assert ExperimentConfig.load(run_dir / "config.json") == result.config


def test_same_seed_same_losses_and_weights(tmp_path, tiny_faces):
    data, split = tiny_faces
    first = fit(tiny_config(tmp_path / "a", epochs=2), data, split)
    second = fit(tiny_config(tmp_path / "b", epochs=2), data, split)
    columns = ["loss", "val_loss"]
    pd.testing.assert_frame_equal(first.history[columns], second.history[columns], rtol=0, atol=0)
    for key, value in weights(first.model).items():
        assert torch.equal(value, second.model.state_dict()[key]), key
    other = fit(tiny_config(tmp_path / "c", epochs=2, seed=1), data, split)
    assert not first.history["loss"].equals(other.history["loss"])


def test_resume_after_interruption_matches_an_uninterrupted_run(tmp_path, tiny_faces):
    data, split = tiny_faces
    whole = fit(tiny_config(tmp_path / "whole"), data, split)

    def stop_after_first_epoch(row, task):
        if row["epoch"] == 1:
            raise KeyboardInterrupt

    config = tiny_config(tmp_path / "cut")
    with pytest.raises(KeyboardInterrupt):
        fit(config, data, split, callbacks=[stop_after_first_epoch])
    assert load_checkpoint(config.run_dir / "checkpoints" / "last.pt")["epoch"] == 1
    longer = tiny_config(tmp_path / "cut", epochs=5)  # silently different from the saved run
    with pytest.raises(CheckpointError, match=r"cannot resume.*train.epochs 3 -> 5"):
        fit(longer, data, split, resume=True)
    resumed = fit(config, data, split, resume=True)
    columns = ["epoch", "loss", "val_loss", "lr"]
    pd.testing.assert_frame_equal(whole.history[columns], resumed.history[columns], atol=0, rtol=0)
    for key, value in weights(whole.model).items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key


def _kill_before_write(number: int):
    """A ``save_checkpoint`` that is killed (KeyboardInterrupt) just before its ``number``-th
    write, counting from 0; the writes before it go through."""
    calls = {"n": 0}

    def save(path, state):
        if calls["n"] == number:
            raise KeyboardInterrupt(f"killed before writing {path.name} of epoch {state['epoch']}")
        calls["n"] += 1
        save_checkpoint(path, state)

    return save


def test_a_kill_before_any_checkpoint_write_resumes_to_the_uninterrupted_end(
    tmp_path, tiny_faces, monkeypatch
):
    data, split = tiny_faces
    whole = fit(tiny_config(tmp_path / "whole"), data, split)
    writes = []

    def save(path, state):
        writes.append(path.name)
        save_checkpoint(path, state)

    monkeypatch.setattr(train_module, "save_checkpoint", save)
    fit(tiny_config(tmp_path / "count"), data, split)
    assert writes[:2] == ["best.pt", "last.pt"]  # best first: last.pt never runs ahead of it
    columns = ["epoch", "loss", "val_loss", "lr"]
    for number in range(len(writes)):
        config = tiny_config(tmp_path / f"kill{number}")
        monkeypatch.setattr(train_module, "save_checkpoint", _kill_before_write(number))
        with pytest.raises(KeyboardInterrupt):
            fit(config, data, split)
        monkeypatch.setattr(train_module, "save_checkpoint", save_checkpoint)
        resumed = fit(config, data, split, resume=True)
        assert resumed.best_epoch == whole.best_epoch, number
        pd.testing.assert_frame_equal(whole.history[columns], resumed.history[columns], atol=0)
        for key, value in weights(whole.model).items():
            assert torch.equal(value, resumed.model.state_dict()[key]), (number, key)
        best = load_checkpoint(config.run_dir / "checkpoints" / "best.pt")
        assert best["epoch"] == whole.best_epoch, number


def _cut_after(config, data, split, epoch: int, resume: bool = False) -> None:
    """Train ``config`` and kill it once epoch ``epoch`` is checkpointed and logged."""

    def stop(row, task):
        if row["epoch"] == epoch:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(config, data, split, resume=resume, callbacks=[stop])


def test_resume_repairs_a_best_checkpoint_left_stale_or_missing_by_an_older_write_order(
    tmp_path, tiny_faces
):
    data, split = tiny_faces
    whole = fit(tiny_config(tmp_path / "whole"), data, split)
    # Older code wrote last.pt (already naming its epoch as the best), then best.pt. A kill
    # between the two left best.pt at an earlier epoch, or none at all after the first epoch.
    stale = tiny_config(tmp_path / "stale")
    checkpoints = stale.run_dir / "checkpoints"
    _cut_after(stale, data, split, 1)
    epoch_one = (checkpoints / "best.pt").read_bytes()
    _cut_after(stale, data, split, 2, resume=True)
    assert load_checkpoint(checkpoints / "last.pt")["best_epoch"] == 2  # epoch 2 improved
    (checkpoints / "best.pt").write_bytes(epoch_one)
    missing = tiny_config(tmp_path / "missing")
    _cut_after(missing, data, split, 1)
    (missing.run_dir / "checkpoints" / "best.pt").unlink()

    columns = ["epoch", "loss", "val_loss", "lr"]
    for config in (stale, missing):
        resumed = fit(config, data, split, resume=True)
        pd.testing.assert_frame_equal(whole.history[columns], resumed.history[columns], atol=0)
        assert resumed.best_epoch == whole.best_epoch
        for key, value in weights(whole.model).items():
            assert torch.equal(value, resumed.model.state_dict()[key]), key


def test_resume_refuses_a_best_checkpoint_that_cannot_be_rebuilt(tmp_path, tiny_faces):
    data, split = tiny_faces
    config = tiny_config(tmp_path)
    _cut_after(config, data, split, 2)
    checkpoints = config.run_dir / "checkpoints"
    state = load_checkpoint(checkpoints / "last.pt")
    save_checkpoint(checkpoints / "last.pt", {**state, "best_epoch": 1})
    save_checkpoint(checkpoints / "best.pt", {**state, "best_epoch": 1})  # epoch 2, not 1
    with pytest.raises(CheckpointError, match=r"best epoch \(1\).*cannot be rebuilt"):
        fit(config, data, split, resume=True)


# Validation losses by epoch: epoch 2 is the best for a while, epoch 6 a new best.
SCRIPTED_VAL_LOSS = (5.0, 1.0, 3.0, 2.0, 4.0, 0.5)


def _scripted_validation(monkeypatch) -> None:
    """Validation losses from ``SCRIPTED_VAL_LOSS``, by the epoch the optimiser has reached: the
    same on a resume, so which epochs improve is fixed whatever the tiny model learns."""

    def scripted(task, data, batch_size, world=None):
        optimizer = task.optimizers["model"]
        steps = int(next(iter(optimizer.state.values()))["step"])
        return SCRIPTED_VAL_LOSS[steps // 4 - 1]  # 28 training images, batches of 8: 4 steps

    monkeypatch.setattr(train_module, "validation_loss", scripted)


class Killed(BaseException):
    """A kill: nothing after it runs, and no handler takes it for an error of ours."""


def _killed_after_write(number: int | None, writes: list[str] | None = None):
    """``save_checkpoint`` and ``write_history`` stand-ins that count the writes (into
    ``writes``) and kill the run right after write ``number`` (from 0) is on disk."""
    count = {"n": 0}

    def after(name: str) -> None:
        if writes is not None:
            writes.append(name)
        if count["n"] == number:
            raise Killed(name)
        count["n"] += 1

    def save(path, state):
        save_checkpoint(path, state)
        after(f"{path.name}@{state['epoch']}")

    def history(rows, run_dir, columns=None):
        write_history(rows, run_dir, columns)
        after(f"history@{len(rows)}")

    return save, history


def test_a_kill_after_any_write_resumes_to_the_uninterrupted_end(tmp_path, tiny_faces, monkeypatch):
    data, split = tiny_faces
    _scripted_validation(monkeypatch)
    whole = fit(tiny_config(tmp_path / "whole", epochs=6), data, split)
    assert whole.best_epoch == 6 and list(whole.history["val_loss"]) == list(SCRIPTED_VAL_LOSS)
    writes: list[str] = []
    save, history = _killed_after_write(None, writes)
    monkeypatch.setattr(train_module, "save_checkpoint", save)
    monkeypatch.setattr(train_module, "write_history", history)
    fit(tiny_config(tmp_path / "count", epochs=6), data, split)
    improved = {1, 2, 6}  # best first, then last: last.pt never runs ahead of best.pt
    assert writes == [
        name
        for epoch in range(1, 7)
        for name in ([f"best.pt@{epoch}"] if epoch in improved else [])
        + [f"last.pt@{epoch}", f"history@{epoch}"]
    ]

    columns = ["epoch", "loss", "val_loss", "lr"]
    for number, write in enumerate(writes):
        config = tiny_config(tmp_path / f"kill{number}", epochs=6)
        save, history = _killed_after_write(number)
        monkeypatch.setattr(train_module, "save_checkpoint", save)
        monkeypatch.setattr(train_module, "write_history", history)
        with pytest.raises(Killed):
            fit(config, data, split)
        checkpoints = config.run_dir / "checkpoints"
        stale = checkpoints / ".best.pt.x1y2z3.partial"  # what a kill mid-write leaves
        stale.write_bytes(b"half a checkpoint")
        monkeypatch.setattr(train_module, "save_checkpoint", save_checkpoint)
        monkeypatch.setattr(train_module, "write_history", write_history)
        resumed = fit(config, data, split, resume=True)
        assert resumed.best_epoch == whole.best_epoch == 6, write
        pd.testing.assert_frame_equal(whole.history[columns], resumed.history[columns], atol=0)
        for key, value in weights(whole.model).items():
            assert torch.equal(value, resumed.model.state_dict()[key]), (write, key)
        assert load_checkpoint(checkpoints / "best.pt")["epoch"] == 6, write
        assert load_checkpoint(checkpoints / "last.pt")["epoch"] == 6, write
        assert pd.read_csv(config.run_dir / "history.csv")["epoch"].tolist() == [1, 2, 3, 4, 5, 6]
        assert not stale.exists(), write


def test_a_kill_between_a_new_best_and_last_resumes_instead_of_giving_up(
    tmp_path, tiny_faces, monkeypatch
):
    data, split = tiny_faces
    _scripted_validation(monkeypatch)
    config = tiny_config(tmp_path, epochs=6)

    def save(path, state):
        save_checkpoint(path, state)
        if path.name == "best.pt" and state["epoch"] == 6:
            raise Killed

    monkeypatch.setattr(train_module, "save_checkpoint", save)
    with pytest.raises(Killed):
        fit(config, data, split)
    checkpoints = config.run_dir / "checkpoints"
    last = load_checkpoint(checkpoints / "last.pt")
    assert (last["epoch"], last["best_epoch"]) == (5, 2)  # the state of the report
    assert load_checkpoint(checkpoints / "best.pt")["epoch"] == 6
    monkeypatch.setattr(train_module, "save_checkpoint", save_checkpoint)
    resumed = fit(config, data, split, resume=True)
    assert resumed.best_epoch == 6 and len(resumed.history) == 6


def test_divergence_in_the_first_epoch_names_no_checkpoint_that_was_never_written(
    tmp_path, tiny_faces
):
    data, split = tiny_faces
    config = tiny_config(tmp_path, lr=1e30)  # finite, but the first updates overflow the weights
    with pytest.raises(TrainingDiverged, match="no checkpoint was written") as error:
        fit(config, data, split)
    assert "last.pt" not in str(error.value)
    assert not (config.run_dir / "checkpoints" / "last.pt").exists()


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(
    tmp_path, tiny_faces, monkeypatch
):
    data, split = tiny_faces
    calls = {"n": 0}

    def poisoned(prediction, target):
        calls["n"] += 1
        loss = torch.nn.functional.mse_loss(prediction, target)
        return loss * float("nan") if calls["n"] > 5 else loss  # epoch 1 has 4 steps

    monkeypatch.setitem(tasks_module.LOSS_FUNCTIONS, "mse", poisoned)
    config = tiny_config(tmp_path)
    with pytest.raises(TrainingDiverged, match="non-finite loss.*epoch 2"):
        fit(config, data, split)
    assert load_checkpoint(config.run_dir / "checkpoints" / "last.pt")["epoch"] == 1


@pytest.mark.parametrize("generator", ["gan", "unet"])  # the reference's, and pix2pix's kind
def test_adversarial_loop_trains_both_players_on_real_and_fake_pairs(
    tmp_path, tiny_faces, generator
):
    data, split = tiny_faces
    seen = {"real": 0, "fake": 0}

    def spy(row, task):
        assert np.isfinite(row["loss_d"]) and np.isfinite(row["loss_g"])

    original = tasks_module.Adversarial.train_step

    def counting_step(self, lightness, ab, weight=1.0):
        forward = self.discriminator.forward

        def watch(light, pair_ab):
            seen["real" if torch.equal(pair_ab, ab) else "fake"] += 1
            return forward(light, pair_ab)

        self.discriminator.forward = watch
        try:
            return original(self, lightness, ab, weight)
        finally:
            del self.discriminator.forward

    tasks_module.Adversarial.train_step = counting_step
    try:
        config = tiny_config(
            tmp_path, model=generator, adversarial=True, epochs=2, betas=(0.5, 0.999), loss="l1"
        )
        result = fit(config, data, split, callbacks=[spy])
    finally:
        tasks_module.Adversarial.train_step = original
    assert {"loss", "loss_g", "loss_g_adv", "loss_d"} <= set(result.history.columns)
    assert seen["real"] == 8 and seen["fake"] == 16  # per step: one real, two fake (D and G)
    state = load_checkpoint(config.run_dir / "checkpoints" / "last.pt")
    assert set(state["modules"]) == {"model", "discriminator"}


def test_init_from_starts_adversarial_fine_tuning_from_a_pretrained_run(tmp_path, tiny_faces):
    data, split = tiny_faces
    pretrained = fit(tiny_config(tmp_path, name="pre", epochs=1), data, split)
    config = tiny_config(tmp_path, name="tuned", adversarial=True, epochs=1, init_from="pre")
    start = train_module.initial_weights(config)
    for key, value in weights(pretrained.model).items():
        assert torch.equal(start[key], value), key
    best = tmp_path / "pre" / "checkpoints" / "best.pt"
    for path in (best, best.parents[1]):  # a checkpoint file, a run folder
        same = train_module.initial_weights(tiny_config(tmp_path, init_from=str(path)))
        assert all(torch.equal(same[k], v) for k, v in start.items())

    starts = []
    original = tasks_module.Adversarial.train_step

    def first_step(self, lightness, ab, weight=1.0):
        if not starts:
            starts.append(weights(self.model))
        return original(self, lightness, ab, weight)

    tasks_module.Adversarial.train_step = first_step
    try:
        fit(config, data, split)
    finally:
        tasks_module.Adversarial.train_step = original
    for key, value in weights(pretrained.model).items():
        assert torch.equal(starts[0][key], value), key


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"init_from": "missing"}, "no checkpoint at"),
        ({"init_from": "pre/checkpoints/no_such.pt"}, "no checkpoint at"),
        ({"init_from": "pre", "limit": 30}, "differs in data"),
        ({"init_from": "pre", "seed": 1}, "differs in seed"),
        ({"init_from": "pre", "model": "unet", "model_kwargs": {}}, "differs in model"),
    ],
)
def test_init_from_refuses_missing_and_mismatched_runs(tmp_path, tiny_faces, overrides, message):
    data, split = tiny_faces
    fit(tiny_config(tmp_path, name="pre", epochs=1), data, split)
    with pytest.raises(CheckpointError, match=message):
        train_module.initial_weights(tiny_config(tmp_path, name="tuned", **overrides))


def test_cosine_schedule_anneals_the_learning_rate_to_zero_over_the_run(tmp_path, tiny_faces):
    data, split = tiny_faces
    history = fit(tiny_config(tmp_path, scheduler="cosine"), data, split).history
    # stepped per batch over all 3 epochs' batches, so each epoch ends at cos(pi x epoch / 3)
    expected = [TINY["lr"] * 0.5 * (1 + math.cos(math.pi * e / 3)) for e in (1, 2, 3)]
    assert history["lr"].tolist() == pytest.approx(expected, abs=1e-12)


def test_keep_last_keeps_the_final_epoch_whatever_its_validation_loss(
    tmp_path, tiny_faces, monkeypatch
):
    data, split = tiny_faces
    scripted = iter([0.3, 0.1, 0.2, 0.4] * 2)  # lowest at epoch 2, for both runs
    monkeypatch.setattr(train_module, "validation_loss", lambda *args: next(scripted))
    best = fit(tiny_config(tmp_path / "best", epochs=4), data, split)
    assert best.best_epoch == 2
    last = fit(tiny_config(tmp_path / "last", epochs=4, keep="last"), data, split)
    assert last.best_epoch == 4
    final = load_checkpoint(tmp_path / "last" / "tiny" / "checkpoints" / "last.pt")
    for key, value in final["modules"]["model"].items():
        assert torch.equal(value, last.model.state_dict()[key]), key
    with pytest.raises(ValueError, match="keep must be one of best, last"):
        tiny_config(tmp_path, keep="first")


def test_flip_only_augmentation_neither_rotates_nor_crops(tmp_path):
    assert train_module._augmentation(tiny_config(tmp_path, augment=False)) is None
    full = train_module._augmentation(tiny_config(tmp_path))
    assert full.max_rotation > 0 and full.min_crop_scale < 1
    flips = train_module._augmentation(tiny_config(tmp_path, flip_only=True))
    assert (flips.hflip, flips.max_rotation, flips.min_crop_scale) == (0.5, 0.0, 1.0)


def test_runs_scored_with_an_older_metric_set_are_skipped_with_a_warning(tmp_path):
    run_experiment(tiny_config(tmp_path, name="current", epochs=1))
    shutil.copytree(tmp_path / "current", tmp_path / "older")
    per_image = pd.read_csv(tmp_path / "older" / "metrics_per_image.csv", index_col="file")
    per_image.drop(columns="colorfulness_gap").to_csv(tmp_path / "older" / "metrics_per_image.csv")
    with pytest.warns(UserWarning, match=r"skipped 1 run\(s\) .*: older; re-score"):
        runs = report.load_runs(tmp_path)
    assert [r.name for r in runs] == ["current"]


def test_summary_replaces_the_tables_and_figures_of_an_earlier_summary(tmp_path):
    run_experiment(tiny_config(tmp_path / "results", epochs=1))
    report_dir = tmp_path / "report"
    stale = [report_dir / "tables" / "gone_32px_4000_seed0_summary.csv",
             report_dir / "figures" / "gone_32px_4000_seed0_metrics.png"]  # fmt: skip
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("from a group whose runs are gone")
    (group,) = report.summarize_results(tmp_path / "results", report_dir)
    assert not any(path.exists() for path in stale)
    assert (report_dir / "tables" / f"{group.stem}_summary.csv").is_file()
    assert all(path.is_file() for path in group.figures.values())


def test_foreign_and_corrupt_checkpoints_get_clear_errors(tmp_path):
    torch.save({"weight": torch.zeros(2)}, tmp_path / "foreign.pt")
    (tmp_path / "corrupt.pt").write_bytes(b"not a checkpoint at all")
    torch.save(
        {"format": "colorize-checkpoint", "version": 1, "obj": Image.new("RGB", (1, 1))},
        tmp_path / "pickled.pt",
    )
    with pytest.raises(CheckpointError, match="not a colorize checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "corrupt.pt")
    with pytest.raises(CheckpointError, match="weights_only"):
        load_checkpoint(tmp_path / "pickled.pt")
    (tmp_path / "notes.txt").write_text("a\nb\n")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "notes.txt")
    with pytest.raises(CheckpointError, match="no such"):
        load_checkpoint(tmp_path / "missing.pt")


def test_load_model_from_a_run_folder(tmp_path, tiny_faces):
    data, split = tiny_faces
    config = tiny_config(tmp_path, epochs=1, model="cnn8", model_kwargs={"base": 8})
    result = fit(config, data, split)
    model, loaded = load_model(config.run_dir)
    assert loaded == config
    lightness = torch.rand(2, 1, 32, 32)
    # same weights; channels-last vs contiguous kernels may differ in the last float bits
    assert torch.allclose(model(lightness), result.model(lightness), atol=1e-5)


def test_a_resumed_run_decoding_at_another_temperature_rewrites_its_checkpoints(tmp_path):
    config = tiny_config(tmp_path, epochs=1, head="classification", model="unet",
                         model_kwargs={"base": 8}, device="cpu")  # fmt: skip
    run_experiment(config)
    checkpoints = config.run_dir / "checkpoints"
    best = load_checkpoint(checkpoints / "best.pt")
    hotter = config.with_params(temperature=1.0)  # a resumed run may change how it decodes
    run_experiment(hotter, resume=True)
    for name in ("best.pt", "last.pt"):  # what load_model and init_from read says it too
        assert load_checkpoint(checkpoints / name)["config"] == hotter.to_dict(), name
    rewritten = load_checkpoint(checkpoints / "best.pt")
    assert rewritten.keys() == best.keys() and rewritten["epoch"] == best["epoch"]
    for key, value in best["modules"]["model"].items():
        assert torch.equal(value, rewritten["modules"]["model"][key]), key
    model, loaded = load_model(config.run_dir)
    assert model.temperature == loaded.model.temperature == 1.0 and loaded == hotter
    # a folder re-scored by an older version: config.json alone had the new temperature
    save_checkpoint(checkpoints / "best.pt", best)
    with pytest.raises(CheckpointError, match="config.json decodes at temperature 1, its "
                       r"checkpoints/best.pt at temperature 0.38 .*--resume"):  # fmt: skip
        load_model(config.run_dir)
    run_experiment(hotter, resume=True)  # what the message says: resuming brings them together
    assert load_model(config.run_dir)[0].temperature == 1.0


def test_device_choice():
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device("auto").type == ("cuda" if torch.cuda.is_available() else pick_device().type)


@pytest.mark.parametrize("mode", ["off", "offline"])
def test_wandb_off_writes_nothing_and_offline_writes_a_syncable_run(tmp_path, mode, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    config = tiny_config(tmp_path, epochs=1, wandb=mode, model="cnn8", model_kwargs={"base": 8})
    run_experiment(config)
    runs = list((config.run_dir / "wandb").glob("offline-run-*")) if mode == "offline" else []
    if mode == "off":
        assert not (config.run_dir / "wandb").exists()
    else:
        assert len(runs) == 1 and list(runs[0].glob("run-*.wandb"))


def test_precision_choice(monkeypatch):
    cpu, cuda, mps = (torch.device(d) for d in ("cpu", "cuda", "mps"))
    assert device_module.use_bf16("float32", cuda) is False
    assert device_module.use_bf16("bfloat16", cpu) is True
    assert (
        device_module.use_bf16("auto", cuda) is True
        and device_module.use_bf16("auto", mps) is False
    )
    monkeypatch.setattr(device_module, "cpu_has_bf16", lambda: False)
    assert device_module.use_bf16("auto", cpu) is False
    monkeypatch.setattr(device_module, "cpu_has_bf16", lambda: True)
    assert device_module.use_bf16("auto", cpu) is True
    with pytest.raises(ValueError, match="precision must be one of"):
        ExperimentConfig.from_params(precision="fp8")
