"""Speed measurements (``python -m colorize_core.bench``): each claim a ratio of two paths timed in
the same run, median of repeated timings after a warm-up.

Measured so far:
1. images per second that the data path delivers to a training loop, (a) the reference pipeline:
   per-sample PIL decode, torchvision transforms and scikit-image ``rgb2lab`` behind a DataLoader
   (batch 20), against (b) ours: the decode-once Lab tensor cache served from memory;
2. images per second of one training step (forward, backward, AdamW) of each model, batch 16.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from skimage.color import rgb2lab
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2

from colorize_core.augment import Augment
from colorize_core.color import normalize_ab, normalize_l, split_lab
from colorize_core.data import iterate_batches, load_images
from colorize_core.datasets import resolve_dataset
from colorize_core.models import MODELS, build_model


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


def _images_per_second(make_batches: Callable[[], Iterable], repeats: int) -> list[float]:
    """Time full passes over ``make_batches()``; the first pass is a warm-up and is dropped."""
    rates = []
    for _ in range(repeats + 1):
        count, start = 0, time.perf_counter()
        for batch in make_batches():
            count += len(batch[0]) if isinstance(batch, list | tuple) else len(batch)
        rates.append(count / (time.perf_counter() - start))
    return rates[1:]


def data_path(dataset: str, size: int, limit: int, repeats: int) -> dict:
    """Images per second of the reference per-sample path and of the cached tensor path."""
    root = resolve_dataset(dataset)
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in (".jpg", ".png"))[:limit]
    reference = DataLoader(ReferenceDataset(files, size), batch_size=20, shuffle=True)
    data = load_images(dataset, size)
    data = data.subset(range(min(limit, len(data))))
    generator = torch.Generator().manual_seed(0)
    flip_only = Augment(max_rotation=0.0, min_crop_scale=1.0)  # what the reference path does

    def cached(augment: Augment):
        return lambda: iterate_batches(data, 20, shuffle=True, generator=generator, augment=augment)

    ref = _images_per_second(lambda: reference, repeats)
    flip = _images_per_second(cached(flip_only), repeats)
    full = _images_per_second(cached(Augment()), repeats)
    return {
        "dataset": dataset,
        "size": size,
        "images": len(files),
        "reference_flip_img_per_s": ref,
        "cached_flip_img_per_s": flip,
        "cached_full_augment_img_per_s": full,
        "ratio_flip_median": statistics.median(flip) / statistics.median(ref),
        "ratio_full_augment_median": statistics.median(full) / statistics.median(ref),
    }


def train_step(model_name: str, size: int, batch: int = 16, repeats: int = 5) -> dict:
    """Images per second of forward + MSE backward + AdamW step on real faces, eager float32."""
    data = load_images("faces", size)
    lightness, ab = split_lab(data.lab[:batch].float())
    lightness, ab = normalize_l(lightness), normalize_ab(ab)
    torch.manual_seed(0)
    model = build_model(model_name).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-4, weight_decay=1e-4)
    rates = []
    for step in range(repeats + 2):  # two warm-up steps
        start = time.perf_counter()
        loss = torch.nn.functional.mse_loss(model(lightness), ab)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step >= 2:
            rates.append(batch / (time.perf_counter() - start))
    return {"model": model_name, "size": size, "batch": batch, "img_per_s": rates}


def precision_check(epochs: int, size: int, seeds: list[int], out_dir: Path) -> list[dict]:
    """Short faces training runs in float32 and in bfloat16 autocast (both channels-last), same
    seeds: the faster mode is only a fair default if its validation loss matches within noise."""
    from colorize_core.config import ExperimentConfig
    from colorize_core.experiment import run_experiment

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
            print(rows[-1], flush=True)
    return rows


def machine() -> dict:
    return {
        "host": platform.node(),
        "cpu": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="colorize-bench", description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="faces")
    parser.add_argument("--sizes", type=int, nargs="+", default=[128])
    parser.add_argument("--limit", type=int, default=300, help="images per timed pass")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--models", nargs="*", default=list(MODELS), help="training-step models")
    parser.add_argument(
        "--precision-check", type=int, metavar="EPOCHS", default=0,
        help="also train faces (64 px) this many epochs in float32 and bf16",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args(argv)
    results = {"machine": machine(), "data_path": [], "train_step": []}
    for size in args.sizes:
        row = data_path(args.dataset, size, args.limit, args.repeats)
        results["data_path"].append(row)
        med = {k: statistics.median(v) for k, v in row.items() if k.endswith("_per_s")}
        print(
            f"{args.dataset} {size}px, img/s (median of {args.repeats}): reference + flip"
            f" {med['reference_flip_img_per_s']:.0f};"
            f" cache + flip {med['cached_flip_img_per_s']:.0f}"
            f" ({row['ratio_flip_median']:.1f}x); cache + flip, rotation, crop"
            f" {med['cached_full_augment_img_per_s']:.0f} ({row['ratio_full_augment_median']:.1f}x)"
        )
    for name in args.models:
        row = train_step(name, 128, repeats=args.repeats)
        results["train_step"].append(row)
        rates = row["img_per_s"]
        print(
            f"train step {name} 128px batch 16: {statistics.median(rates):.1f} img/s"
            f" (median of {len(rates)}, range {min(rates):.1f}-{max(rates):.1f})"
        )
    if args.precision_check:
        results["precision_check"] = precision_check(
            args.precision_check, 64, [0, 1], Path("/tmp") / "colorize-precision-check"
        )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
