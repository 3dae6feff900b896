"""The suite's notebooks and the parameters each profile gives them.

- ``smoke``: every notebook end to end in a few minutes on 2 CPU cores (tiny subsets, 32 px,
  1-2 epochs); the test suite runs it. Its numbers mean nothing.
- ``cpu``: real results in about two and a half hours on 2 CPU cores with native bf16. The faces
  notebooks keep the reference settings (30 epochs at 128 px); the others use the subsets, sizes
  and epochs below.
- ``full``: the reference studies' settings on whole datasets, for a GPU.

A notebook's own ``parameters`` cell holds the ``cpu`` values (a test checks it), so opening it in
JupyterLab and running it by hand gives the cpu experiment; the suite injects a profile's values.
What was tried and measured to choose these values is in the lab book, ``docs/experiments.md``.
"""

from __future__ import annotations

from copy import deepcopy

from colorize_core.data.ab_bins import PAPER_TEMPERATURE

NOTEBOOKS = (
    "faces_cnn",
    "faces_gan",
    "landscapes_cnn",
    "ablations",
    "baselines_cnn_vs_unet",
    "vivid_colour",
    "general_colour",
    "summary",  # last: it merges the tables all the others wrote into REPORT_DIR
)
PROFILE_NAMES = ("smoke", "cpu", "full")

# The reference study's faces settings: AdamW, ReduceLROnPlateau, 30 epochs, batch 20.
# VARIANTS: named alternatives each notebook also runs, chosen on the validation split. Faces: a
# flips-only U-Net, annealed, then L1, then mirror-averaged; why each: docs/experiments.md.
_FACES_UNET = {"model": "unet", "flip_only": True}
_FACES = {
    "DATASET": "faces", "MODEL": "conv_ae", "LOSS": "mse", "EPOCHS": 30, "BATCH_SIZE": 20,
    "IMAGE_SIZE": 128, "LIMIT": None, "LR": 5e-4, "WEIGHT_DECAY": 1e-4,
    "VARIANTS": {
        "unet_flip_only": _FACES_UNET,
        "unet_flip_only_annealed": {**_FACES_UNET, "epochs": 20, "scheduler": "cosine",
                                    "init_from": "faces_cnn-unet_flip_only"},
        "unet_annealed_l1": {**_FACES_UNET, "loss": "l1", "lr": 3e-4, "epochs": 10,
                             "scheduler": "cosine",
                             "init_from": "faces_cnn-unet_flip_only_annealed"},
        "unet_annealed_l1_mirrored": {"model": "ensemble", "model_kwargs": {
            "members": ["faces_cnn-unet_annealed_l1"], "flip": True}},
    },
}  # fmt: skip
# Adversarial pair: Adam betas (0.5, 0.999), lambda 100 (pix2pix), lr 2e-4, no weight decay.
# Variant: the annealed faces_cnn U-Net as the generator's start (regression pre-training), then
# 6 adversarial epochs with the learning rate annealed too (docs/experiments.md).
_GAN = {**_FACES, "MODEL": "gan", "LOSS": "l1", "LR": 2e-4, "WEIGHT_DECAY": 0.0,
        "GAN_LAMBDA": 100.0,
        "VARIANTS": {
            "unet_pretrained": {**_FACES_UNET, "epochs": 6, "scheduler": "cosine",
                                "init_from": "faces_cnn-unet_flip_only_annealed"},
        }}  # fmt: skip
_UNET = {"unet": {"model": "unet"}}
_ABLATION_VARIANTS = {
    "reference": {},
    "smooth_l1": {"loss": "smooth_l1"},
    "weight_decay_1e-3": {"weight_decay": 1e-3},
    "lr_1e-3": {"lr": 1e-3},
    # faces are aligned, so rotation and crop may blur the position prior a face model can use
    "flip_only": {"flip_only": True},
}
# Regression, classification and adversarial U-Nets on the CNN-vs-U-Net subsets and sizes, all
# with flips only. Classification: rebalance 0.75 (validation, lab book). Adversarial: from the
# regression one (pix2pix's settings, annealed), keeping its last epoch as pix2pix does.
_VIVID_KINDS = {
    "regression": {},
    "classification": {"head": "classification", "rebalance": 0.75},
    "adversarial": {"adversarial": True, "init_from": "regression", "epochs": 6, "loss": "l1",
                    "lr": 2e-4, "weight_decay": 0.0, "optimizer": "adam", "betas": [0.5, 0.999],
                    "scheduler": "cosine", "keep": "last"},
}  # fmt: skip
_VIVID = {
    "RUN_PREFIX": "vivid",
    "DATASETS": {
        "landscapes": {"image_size": 64, "limit": 1500, "batch_size": 20},
        "cifar10": {"image_size": 32, "limit": 2000, "batch_size": 64},
    },
    "EPOCHS": 15, "LR": 5e-4, "WEIGHT_DECAY": 1e-4, "FLIP_ONLY": True, "KINDS": _VIVID_KINDS,
    "TEMPERATURES": None,  # the sweep of evaluation.temperature.TEMPERATURES
}  # fmt: skip
# One colouriser for everyone's photos: the vivid classification U-Net on photos_wild, faces_wild
# and the scenes specialist's 1,500 landscapes, drawn in equal shares; its main run is
# tools/ship_model.py general's recipe. A regression U-Net beside it; variants chosen on
# validation. About 60 min per classification run at 64 px on 2 CPU cores with bf16.
_GENERAL_LIMITS = {"photos_wild": None, "faces_wild": None, "faces": None, "landscapes": 1500}
_GENERAL = {
    "RUN_PREFIX": "general", "DATASET": "photos_wild+faces_wild+landscapes",
    "LIMITS": _GENERAL_LIMITS, "WEIGHTS": "equal", "IMAGE_SIZE": 64, "EPOCHS": 8,
    "BATCH_SIZE": 32, "LR": 5e-4, "WEIGHT_DECAY": 1e-4, "SCHEDULER": "cosine", "FLIP_ONLY": True,
    "KINDS": {"classification": {"head": "classification", "rebalance": 0.75},
              "regression": {"loss": "l1"}},
    "VARIANTS": {"weights_by_size": {"weights": "size"},
                 "width_16": {"model_kwargs": {"base": 16}}},
    "DECODINGS": None,  # the sweep of evaluation.temperature.DECODINGS
    "SMALL_PHOTOS": {"dataset": "cifar10", "size": 32, "limit": None},  # evaluation.domains
    "SPECIALISTS": {"faces_wild": "faces", "landscapes": "scenes"},
}  # fmt: skip
_CNN_VS_UNET = {"MODELS": ["cnn8", "unet"], "LOSS": "mse", "LR": 1e-3, "WEIGHT_DECAY": 1e-4,
                "SCHEDULER": "inverse_sqrt"}  # fmt: skip

CPU = {
    "faces_cnn": {"RUN_NAME": "faces_cnn", **_FACES},
    "faces_gan": {"RUN_NAME": "faces_gan", **_GAN},
    # landscapes: 1,500 of the 6,000 scenes at 64 px, 15 epochs (the reference: all, 150 px);
    # 35 U-Net epochs: a 45-epoch run's best epoch was 32 (variants: docs/experiments.md).
    "landscapes_cnn": {
        "RUN_NAME": "landscapes_cnn",
        **_FACES,
        "DATASET": "landscapes",
        "IMAGE_SIZE": 64,
        "LIMIT": 1500,
        "EPOCHS": 15,
        "VARIANTS": {
            "unet_35_epochs": {"model": "unet", "epochs": 35},
            "unet_35_epochs_l1": {
                "model": "unet",
                "loss": "l1",
                "lr": 1e-4,
                "epochs": 10,
                "init_from": "landscapes_cnn-unet_35_epochs",
            },
            "unet_ensemble": {
                "model": "ensemble",
                "model_kwargs": {
                    "members": [
                        "landscapes_cnn-unet_35_epochs",
                        "landscapes_cnn-unet_35_epochs_l1",
                    ],
                    "flip": True,
                },
            },
        },
    },  # fmt: skip
    # ablations: five faces runs at 64 px and 8 epochs each, so all five fit beside the rest.
    "ablations": {
        "RUN_PREFIX": "ablation",
        **_FACES,
        "IMAGE_SIZE": 64,
        "EPOCHS": 8,
        "VARIANTS": _ABLATION_VARIANTS,
    },  # fmt: skip
    "baselines_cnn_vs_unet": {
        "RUN_PREFIX": "cnn_vs_unet",
        **_CNN_VS_UNET,
        "DATASETS": {
            # 10 epochs: at 6 the U-Net lost to cnn8 (docs/experiments.md)
            "landscapes": {"image_size": 64, "limit": 1500, "epochs": 10, "batch_size": 32},
            "cifar10": {"image_size": 32, "limit": 2000, "epochs": 8, "batch_size": 64},
        },
    },
    "vivid_colour": _VIVID,
    "general_colour": _GENERAL,
    "summary": {},
}

_SMOKE_DATA = {"IMAGE_SIZE": 32, "LIMIT": 60, "EPOCHS": 1, "BATCH_SIZE": 16}


def _one_epoch(variants: dict[str, dict]) -> dict[str, dict]:
    return {name: {**changes, "epochs": 1} for name, changes in variants.items()}


SMOKE = {
    "faces_cnn": {
        **CPU["faces_cnn"],
        **_SMOKE_DATA,
        "EPOCHS": 2,
        "VARIANTS": _one_epoch(_FACES["VARIANTS"]),
    },
    "faces_gan": {**CPU["faces_gan"], **_SMOKE_DATA, "VARIANTS": _one_epoch(_GAN["VARIANTS"])},
    "landscapes_cnn": {**CPU["landscapes_cnn"], **_SMOKE_DATA, "VARIANTS": _UNET},
    "ablations": {**CPU["ablations"], **_SMOKE_DATA},
    "baselines_cnn_vs_unet": {
        **CPU["baselines_cnn_vs_unet"],
        "DATASETS": {
            "landscapes": {"image_size": 32, "limit": 60, "epochs": 1, "batch_size": 16},
            "cifar10": {"image_size": 32, "limit": 60, "epochs": 1, "batch_size": 16},
        },
    },
    "vivid_colour": {
        **_VIVID,
        "DATASETS": {
            "landscapes": {"image_size": 32, "limit": 60, "batch_size": 16},
            "cifar10": {"image_size": 32, "limit": 60, "batch_size": 16},
        },
        "EPOCHS": 1,
        "KINDS": _one_epoch(_VIVID_KINDS),
        "TEMPERATURES": [1.0, PAPER_TEMPERATURE],  # the mean and Zhang's, two of TEMPERATURES
    },
    "general_colour": {
        **_GENERAL,
        "LIMITS": dict.fromkeys(_GENERAL_LIMITS, 60),
        "IMAGE_SIZE": 32,
        "EPOCHS": 1,
        "BATCH_SIZE": 16,
        "VARIANTS": {"weights_by_size": {"weights": "size"}},
        "SMALL_PHOTOS": {"dataset": "cifar10", "size": 16, "limit": 60},  # below IMAGE_SIZE
        # lists, not Decodings: papermill passes tuples as strings
        "DECODINGS": [[PAPER_TEMPERATURE, None, 0.0], [PAPER_TEMPERATURE, 0.5, 0.2]],
    },
    "summary": {},
}

FULL = {
    "faces_cnn": CPU["faces_cnn"],
    "faces_gan": CPU["faces_gan"],
    "landscapes_cnn": {
        **CPU["landscapes_cnn"],
        "IMAGE_SIZE": 128,
        "LIMIT": None,
        "EPOCHS": 30,
        "VARIANTS": _UNET,
    },  # fmt: skip
    "ablations": {**CPU["ablations"], "IMAGE_SIZE": 128, "EPOCHS": 30},
    "baselines_cnn_vs_unet": {
        **CPU["baselines_cnn_vs_unet"],
        "DATASETS": {
            "landscapes": {"image_size": 128, "limit": None, "epochs": 30, "batch_size": 32},
            "cifar10": {"image_size": 32, "limit": None, "epochs": 30, "batch_size": 128},
        },
    },
    "vivid_colour": {
        **_VIVID,
        "DATASETS": {
            "landscapes": {"image_size": 128, "limit": None, "batch_size": 32},
            "cifar10": {"image_size": 32, "limit": None, "batch_size": 128},
        },
        "EPOCHS": 30,
    },
    "general_colour": {
        **_GENERAL,  # landscapes stays the scenes specialist's 1,500: its test images held out
        "IMAGE_SIZE": 128,
        "EPOCHS": 30,
        "BATCH_SIZE": 64,
        "VARIANTS": {
            "weights_by_size": {"weights": "size"},
            "width_64": {"model_kwargs": {"base": 64}},
            "size_64": {"image_size": 64},
        },
    },
    "summary": {},
}

PROFILES = {"smoke": SMOKE, "cpu": CPU, "full": FULL}


def notebook_parameters(profile: str, notebook: str) -> dict:
    """The parameters ``profile`` injects into ``notebook`` (plus ``PROFILE`` itself)."""
    if profile not in PROFILES:
        raise KeyError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILE_NAMES)}")
    if notebook not in NOTEBOOKS:
        raise KeyError(f"unknown notebook {notebook!r}; choose from {', '.join(NOTEBOOKS)}")
    return {"PROFILE": profile, **deepcopy(PROFILES[profile][notebook])}
