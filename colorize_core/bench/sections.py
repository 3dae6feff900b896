"""The benchmark's sections, one function each; every result is a plain dict for the JSON.

Each section times a reference path and ours in the same run, on the same machine (``measure``),
so that every claim is a ratio; ``command`` says what each section compares.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from skimage.color import rgb2lab
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2

from colorize_core.bench.measure import PeakMemory, median_seconds, summary
from colorize_core.data.ab_bins import ab_bins, bin_prior
from colorize_core.data.augment import Augment
from colorize_core.data.cache import load_images, on_device
from colorize_core.data.color import denormalize_ab, normalize_ab, normalize_l, split_lab
from colorize_core.data.datasets import resolve_dataset
from colorize_core.data.split import iterate_batches, make_split, select
from colorize_core.evaluation import reference_metrics
from colorize_core.evaluation.baselines import make_baseline
from colorize_core.evaluation.metrics import image_metrics
from colorize_core.models import build_model
from colorize_core.training.config import ExperimentConfig
from colorize_core.training.device import pick_device
from colorize_core.training.tasks import Regression

DDP_EPOCHS = 2  # the second epoch is timed: the first includes start-up and warm-up
TRAIN_BATCH = 16
REFERENCE_BATCH = 20  # the reference study's DataLoader batch size


# ---------------------------------------------------------------- 1. data path


class ReferenceDataset(Dataset):
    """The reference study's data path: decode, transform and convert one image per call."""

    def __init__(self, files: list[Path], size: int) -> None:
        self.files = files
        self.transform = v2.Compose(
            [v2.Resize(size), v2.CenterCrop(size), v2.RandomHorizontalFlip()]
        )

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = self.transform(Image.open(self.files[index]).convert("RGB"))
        lab = torch.from_numpy(rgb2lab(np.asarray(image))).permute(2, 0, 1).float()
        return lab[:1] / 100.0, lab[1:] / 128.0


def _drain(batches) -> int:
    return sum(len(b[0]) if isinstance(b, list | tuple) else len(b) for b in batches)


def bench_data(size: int, images: int, repeats: int) -> dict:
    """Images per second of the reference path and the cache (flip only; full augmentation)."""
    root = resolve_dataset("faces")
    files = sorted(root.glob("*.jpg"))[:images]
    reference = DataLoader(ReferenceDataset(files, size), batch_size=REFERENCE_BATCH, shuffle=True)
    data = load_images("faces", size, upscale=True).subset(range(len(files)))
    generator = torch.Generator().manual_seed(0)

    def cached(augment: Augment):
        return lambda: _drain(
            iterate_batches(
                data, REFERENCE_BATCH, shuffle=True, generator=generator, augment=augment
            )  # fmt: skip
        )

    paths = {
        "reference": lambda: _drain(reference),
        "cache_flip": cached(Augment(max_rotation=0.0, min_crop_scale=1.0)),
        "cache_full_augment": cached(Augment()),
    }
    row = {"size": size, "images": len(files)}
    for name, run in paths.items():
        with PeakMemory() as memory:
            seconds = median_seconds(run, repeats)
        row[name] = {"img_per_s": summary([len(files) / s for s in seconds]),
                     "peak_rss_mb": memory.rss_mb}  # fmt: skip
    reference_rate = row["reference"]["img_per_s"]["median"]
    for name in ("cache_flip", "cache_full_augment"):
        row[name]["ratio"] = row[name]["img_per_s"]["median"] / reference_rate
    return row


# ---------------------------------------------------------------- 2. metrics


def bench_metrics(images: int | None, repeats: int) -> dict:
    """Seconds for all metrics over the faces test split: per image (references) vs batched."""
    data = load_images("faces", 128)
    split = make_split(data.files, seed=0)
    test = select(data, split, "test")
    test = test.subset(range(min(images or len(test), len(test))))
    lightness, ab_true = split_lab(test.lab.float())
    baseline = make_baseline("mean_ab_map", select(data, split, "train").lab)
    ab_pred = denormalize_ab(baseline(normalize_l(lightness)))
    lab_pred = torch.cat([lightness, ab_pred], 1).permute(0, 2, 3, 1).double().numpy()
    lab_true = test.lab.float().permute(0, 2, 3, 1).double().numpy()

    bins = ab_bins()
    prior = bin_prior(ab_true, bins)  # the split's own colours weigh auc_ab_rebalanced

    def per_image():
        return [
            reference_metrics.image_metrics(p, t, prior.numpy(), bins.double().numpy())
            for p, t in zip(lab_pred, lab_true, strict=True)
        ]

    def batched():
        return image_metrics(lightness, ab_pred, ab_true, prior=prior)

    with PeakMemory() as memory_ref:
        ref_seconds = median_seconds(per_image, repeats)
    with PeakMemory() as memory_ours:
        ours_seconds = median_seconds(batched, repeats)
    reference, ours = per_image(), batched()
    difference = {
        key: float(np.max(np.abs(np.array([r[key] for r in reference]) - ours[key].numpy())))
        for key in reference[0]
    }
    return {
        "images": len(test),
        "reference_seconds": summary(ref_seconds),
        "batched_seconds": summary(ours_seconds),
        "ratio": statistics.median(ref_seconds) / statistics.median(ours_seconds),
        "max_abs_difference": difference,
        "peak_rss_mb": {"reference": memory_ref.rss_mb, "batched": memory_ours.rss_mb},
    }


# ---------------------------------------------------------------- 3. training


def _reference_step_rate(model_name: str, lab: torch.Tensor, repeats: int) -> list[float]:
    """Plain eager float32, channels-first loop on a fixed batch: the speed baseline."""
    torch.manual_seed(0)
    model = build_model(model_name).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-4, weight_decay=1e-4)
    lightness, ab = split_lab(lab)
    lightness, ab = normalize_l(lightness), normalize_ab(ab)

    def step():
        loss = torch.nn.functional.mse_loss(model(lightness), ab)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return [len(lab) / s for s in median_seconds(step, repeats, warmup=2)]


def bench_train(model_name: str, size: int, repeats: int) -> dict:
    """Reference loop vs our trainer's default step (with real batches, augmentation and the
    share of time spent waiting for the next batch)."""
    data = load_images("faces", size, upscale=True)
    with PeakMemory() as memory_ref:
        reference = _reference_step_rate(model_name, data.lab[:TRAIN_BATCH].float(), repeats)

    config = ExperimentConfig.from_params(model=model_name, image_size=size)
    device = pick_device(config.train.device)
    torch.manual_seed(0)
    task = Regression(config, device)
    task.model.train()
    if device.type == "cuda":  # as training does: the Lab tensors live on the GPU
        data = on_device(data, device)
    generator = torch.Generator().manual_seed(0)
    batches = iterate_batches(
        data, TRAIN_BATCH, shuffle=True, augment=Augment(), device=device, generator=generator,
        drop_last=True,
    )  # fmt: skip
    waits, steps = [], []
    with PeakMemory() as memory_ours:
        for index in range(repeats + 2):
            start = time.perf_counter()
            lab = next(batches)
            ready = time.perf_counter()
            lightness, ab = split_lab(lab)
            task.train_step(normalize_l(lightness), normalize_ab(ab))["loss"].item()  # sync
            if index >= 2:  # warm-up
                waits.append(ready - start)
                steps.append(time.perf_counter() - start)
    ours = [TRAIN_BATCH / s for s in steps]
    return {
        "model": model_name,
        "size": size,
        "batch": TRAIN_BATCH,
        "device": str(device),
        "bf16": task.bf16,
        "reference_img_per_s": summary(reference),
        "default_img_per_s": summary(ours),
        "speedup": statistics.median(ours) / statistics.median(reference),
        "data_wait_share": sum(waits) / sum(steps),
        "peak_rss_mb": {"reference": memory_ref.rss_mb, "default": memory_ours.rss_mb},
        "peak_gpu_mb": memory_ours.gpu_mb,
    }


# ---------------------------------------------------------------- 5. data parallel


def _ddp_rate(size: int, images: int, processes: int, threads: int, folder: Path) -> float:
    """Training images per second in the timed epoch of a ``colorize-train`` run (train and
    validation; on CPU under torchrun with gloo when ``processes`` > 1)."""
    name = f"p{processes}t{threads}"
    options = ["--name", name, "--output-dir", str(folder), "--dataset", "faces", "--model",
               "unet", "--image-size", str(size), "--limit", str(images), "--epochs",
               str(DDP_EPOCHS), "--batch-size", str(TRAIN_BATCH), "--device", "cpu"]  # fmt: skip
    launcher = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes)]
    command = [sys.executable, *(launcher if processes > 1 else []), "-m",
               "colorize_core.runs.train_command", *options]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "COLORIZE_PROGRESS": "0"}
    subprocess.run(command, env=env, check=True, capture_output=True)
    history = json.loads((folder / name / "history.json").read_text())
    split = json.loads((folder / name / "split.json").read_text())
    return len(split["train"]) / history[-1]["seconds"]


def bench_ddp(size: int, images: int) -> dict:
    """1 process x 1 thread, 2 processes x 1 thread, 1 process x 2 threads: the U-Net's rate."""
    with tempfile.TemporaryDirectory() as folder:
        rates = {
            f"{p}x{t}": _ddp_rate(size, images, p, t, Path(folder))
            for p, t in ((1, 1), (2, 1), (1, 2))
        }
    return {
        "model": "unet",
        "size": size,
        "images": images,
        "img_per_s": rates,
        "efficiency": rates["2x1"] / (2 * rates["1x1"]),
    }


# ---------------------------------------------------------------- 4. cache build


def bench_cache(count: int | None, size: int = 128) -> dict:
    """Seconds to decode, convert and cache ``count`` landscapes images (one cold build)."""
    root = resolve_dataset("landscapes")
    files = sorted(root.glob("*.jpg"))
    files = files[: count or len(files)]
    with tempfile.TemporaryDirectory() as folder:
        images = Path(folder) / "images"
        images.mkdir()
        for path in files:
            (images / path.name).symlink_to(path)
        with PeakMemory() as memory:
            start = time.perf_counter()
            load_images(f"folder:{images}", size, cache_dir=Path(folder) / "cache")
            seconds = time.perf_counter() - start
    return {"images": len(files), "size": size, "seconds": seconds,
            "ms_per_image": 1000 * seconds / len(files), "peak_rss_mb": memory.rss_mb}  # fmt: skip


# ---------------------------------------------------------------- faster mode, same result?


def precision_check(epochs: int, size: int, seeds: list[int], out_dir: Path) -> list[dict]:
    """Short faces training runs in float32 and in bfloat16 autocast (both channels-last), same
    seeds: the faster mode is only a fair default if its validation loss matches within noise."""
    from colorize_core.runs.experiment import run_experiment

    rows = []
    for seed in seeds:
        for precision in ("float32", "bfloat16"):
            config = ExperimentConfig.from_params(
                name=f"precision-{precision}-seed{seed}", output_dir=str(out_dir), seed=seed,
                dataset="faces", image_size=size, epochs=epochs, precision=precision,
            )  # fmt: skip
            result = run_experiment(config)
            history, summary = result.fit.history, result.evaluation.summary["mean"]
            rows.append({
                "precision": precision, "seed": seed, "epochs": epochs, "size": size,
                "best_val_loss": float(history["val_loss"].min()),
                "test_psnr_ab": float(summary["psnr_ab"]),
                "test_delta_e2000": float(summary["delta_e2000"]),
                "seconds_per_epoch": float(history["seconds"].median()),
            })  # fmt: skip
    return rows
