"""The experiment config: flat parameters in, typed frozen parts out, errors for typos."""

import dataclasses

import pytest

from colorize_core.training.config import ExperimentConfig, kind_grid, with_variants


def test_flat_parameters_go_to_their_parts():
    config = ExperimentConfig.from_params(
        name="x",
        seed=3,
        dataset="landscapes",
        image_size=64,
        model="unet",
        loss="l1",
        epochs=2,
        lr=1,
        betas=[0.5, 0.999],
        wandb="offline",
    )
    assert config.data.dataset == "landscapes" and config.data.image_size == 64
    assert config.model.model == "unet" and config.train.loss == "l1"
    assert config.train.lr == 1 and config.train.betas == (0.5, 0.999) and config.seed == 3
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.seed = 4


def test_unknown_names_and_wrong_types_are_errors():
    with pytest.raises(TypeError, match="unknown parameter.*epoch.*valid"):
        ExperimentConfig.from_params(epoch=3)
    with pytest.raises(TypeError, match="epochs"):
        ExperimentConfig.from_params(epochs="3")
    with pytest.raises(TypeError, match="epochs"):
        ExperimentConfig.from_params(epochs=2.5)
    with pytest.raises(TypeError, match="augment"):
        ExperimentConfig.from_params(augment="yes")
    with pytest.raises(TypeError, match="betas"):
        ExperimentConfig.from_params(betas=(0.5,))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"loss": "huber"}, "loss must be one of"),
        ({"optimizer": "sgd"}, "optimizer must be one of"),
        ({"scheduler": "step"}, "scheduler must be one of"),
        ({"wandb": "yes"}, "wandb must be one of"),
        ({"epochs": 0}, "epochs must be a positive"),
        ({"image_size": 0}, "image_size must be None .* or a positive multiple of 8.*got 0"),
        ({"image_size": 12}, "image_size must be .* multiple of 8"),
        ({"image_size": -8}, "image_size must be"),
        ({"lr": float("nan")}, "lr must be a positive finite number, got nan"),
        ({"lr": float("inf")}, "lr must be a positive finite number, got inf"),
        ({"lr": -1e-3}, "lr must be a positive"),
        ({"limit": 0}, "limit must be a positive"),
        ({"weight_decay": float("nan")}, "weight_decay must be a finite number >= 0"),
        ({"gan_lambda": -1.0}, "gan_lambda must be a finite number >= 0"),
        ({"betas": (0.9, 1.0)}, "betas must both lie in"),
        ({"seed": -1}, r"seed must be an integer in \[0, 4294967295\], got -1"),
        ({"seed": 2**32}, "seed must be an integer in"),
        # what torch would refuse only once training starts, after the run folder is written
        ({"plateau_factor": 2.0}, r"plateau_factor must lie in \(0, 1\), got 2.0"),
        ({"plateau_factor": 1}, "plateau_factor must lie in"),
        ({"plateau_factor": 0.0}, "plateau_factor must lie in"),
        ({"plateau_factor": float("nan")}, "plateau_factor must lie in"),
        ({"plateau_patience": -1}, "plateau_patience must be a finite number >= 0"),
        ({"prior_correction": 1.5}, r"prior_correction must lie in \[0, 1\], got 1.5"),
        ({"prior_correction": -0.1}, "prior_correction must lie in"),
        ({"prior_correction": float("nan")}, "prior_correction must lie in"),
        ({"small_photo_below": 30}, "small_photo_below must be a positive multiple of 8 or None"),
        ({"small_photo_below": 0}, "small_photo_below must be a positive multiple of 8"),
        (
            {"small_photo_prior_correction": 2.0},
            r"small_photo_prior_correction must lie in \[0, 1\]",
        ),
        ({"betas": (-0.1, 0.9)}, "betas must both lie in"),
        ({"device": "bogus"}, "device must be auto, cpu, cuda, cuda:N or mps; got 'bogus'"),
        ({"device": "meta"}, "device must be"),
    ],
)
def test_bad_values_are_errors(params, message):
    with pytest.raises(ValueError, match=message):
        ExperimentConfig.from_params(**params)


@pytest.mark.parametrize("name", ["../x", "/tmp/x", "", ".", "..", "a/b", "a\\b", ".hidden", "a b"])
def test_run_names_that_are_not_one_plain_folder_are_refused(name, tmp_path):
    with pytest.raises(ValueError, match="letters, digits, '.', '_' or '-'"):
        ExperimentConfig.from_params(name=name, output_dir=str(tmp_path))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["faces_cnn-unet_annealed_l1", "run.2", "A1", "x" * 128])
def test_plain_run_names_stay_inside_the_output_folder(name, tmp_path):
    config = ExperimentConfig.from_params(name=name, output_dir=str(tmp_path))
    assert config.run_dir.parent == tmp_path


@pytest.mark.parametrize("device", ["auto", "cpu", "cuda", "cuda:1", "mps"])
def test_device_names_training_runs_on_are_accepted(device):
    assert ExperimentConfig.from_params(device=device).train.device == device


def test_save_and_load_round_trip(tmp_path):
    config = ExperimentConfig.from_params(
        name="r", model="gan", adversarial=True, limit=10, model_kwargs={"base": 16}
    )
    config.save(tmp_path / "config.json")
    assert ExperimentConfig.load(tmp_path / "config.json") == config
    assert ExperimentConfig.from_dict(config.to_dict()) == config
    assert config.run_dir.as_posix() == "results/r"


def test_with_variants_names_each_run_and_changes_only_its_settings():
    params = {"name": "faces_cnn", "model": "conv_ae", "epochs": 3, "lr": 5e-4}
    configs = with_variants(params, {"unet": {"model": "unet"}, "fast": {"lr": 1e-3}})
    assert list(configs) == [None, "unet", "fast"]
    assert [c.name for c in configs.values()] == ["faces_cnn", "faces_cnn-unet", "faces_cnn-fast"]
    assert configs["unet"].model.model == "unet" and configs["unet"].train.lr == 5e-4
    assert configs["fast"].model.model == "conv_ae" and configs["fast"].train.lr == 1e-3
    assert all(c.train.epochs == 3 for c in configs.values())
    with pytest.raises(TypeError, match="unknown parameter"):
        with_variants(params, {"typo": {"modle": "unet"}})


def test_with_params_changes_flat_names_and_checks_them_again():
    config = ExperimentConfig.from_params(name="r", model="unet", head="classification")
    hotter = config.with_params(temperature=1.0, epochs=4)
    assert hotter.model.temperature == 1.0 and hotter.train.epochs == 4
    assert hotter.model.model == "unet" and config.model.temperature == 0.38
    with pytest.raises(ValueError, match="temperature must be a finite number >= 0"):
        config.with_params(temperature=-1.0)
    with pytest.raises(TypeError, match="unknown parameter 'temprature'"):
        config.with_params(temprature=1.0)


def test_kind_grid_names_each_run_and_links_kinds_on_the_same_dataset():
    configs = kind_grid(
        {"name": "vivid", "model": "unet", "epochs": 15},
        {"landscapes": {"image_size": 64, "limit": 1500}, "cifar10": {"image_size": 32}},
        {
            "regression": {},
            "classification": {"head": "classification"},
            "adversarial": {"adversarial": True, "epochs": 6, "init_from": "regression"},
        },
    )
    assert list(configs) == [
        (d, k)
        for d in ("landscapes", "cifar10")
        for k in ("regression", "classification", "adversarial")
    ]
    adversarial = configs["cifar10", "adversarial"]
    assert adversarial.name == "vivid-cifar10-adversarial"
    assert adversarial.train.init_from == "vivid-cifar10-regression"
    assert adversarial.train.epochs == 6 and adversarial.data.image_size == 32
    assert configs["landscapes", "classification"].model.head == "classification"
    assert configs["landscapes", "regression"].data.limit == 1500
