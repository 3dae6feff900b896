"""Speed benchmark (``colorize-bench``, ``python -m colorize_core.apps.bench``).

Every claim is a ratio of two paths timed in the same run on the same machine, each the median of
repeated timings after a warm-up. Sections:

1. data: images per second delivered to a training loop by (a) the reference pipeline (per-sample
   PIL decode, torchvision transforms, scikit-image ``rgb2lab``, DataLoader batch 20) and (b) our
   decode-once Lab cache with batched augmentation (flip only, as (a), and the full set);
2. metrics: the full metric set (``metrics.METRICS``) over the faces test split, per image with
   scikit-image, scikit-learn and numpy (a, ``reference_metrics``) and batched (b), with the
   largest difference between the two for every metric;
3. train: images per second of one training step (forward, backward, AdamW, batch 16) in a plain
   eager float32 channels-first loop (a) and in our trainer's default mode (b: channels-last, bf16
   autocast where the hardware has it), with the share of (b)'s step time spent waiting for data;
4. cache: seconds to build the tensor cache for growing numbers of images (linear or not);
5. ddp: images per second of a short ``colorize-train`` run of the U-Net with (a) 1 process and 1
   thread, (b) 2 processes of 1 thread each under torchrun (gloo on CPU) and (c) 1 process with 2
   threads, and the scaling efficiency (b) / (2 x (a));
plus the peak resident memory (and GPU memory on CUDA) of each measurement. Results go to
``benchmarks/<label>.json`` and ``benchmarks/<label>.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from skimage.color import rgb2lab
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2

from colorize_core.data import atomic
from colorize_core.data.ab_bins import ab_bins, bin_prior
from colorize_core.data.augment import Augment
from colorize_core.data.cache import load_images, on_device
from colorize_core.data.color import denormalize_ab, normalize_ab, normalize_l, split_lab
from colorize_core.data.datasets import resolve_dataset
from colorize_core.data.split import iterate_batches, make_split, select
from colorize_core.evaluation import reference_metrics
from colorize_core.evaluation.baselines import make_baseline
from colorize_core.evaluation.metrics import image_metrics
from colorize_core.models import MODELS, build_model
from colorize_core.training.config import ExperimentConfig
from colorize_core.training.device import pick_device
from colorize_core.training.fit import Regression
from colorize_core.training.provenance import describe_cpu, provenance


@dataclass(frozen=True)
class Settings:
    """How much to measure: ``FULL`` for the published table, ``QUICK`` for CI (minutes)."""

    data_sizes: tuple[int, ...]
    data_images: int
    metric_images: int | None  # None: the whole faces test split
    train_models: tuple[str, ...]  # at 128 px
    scaling_sizes: tuple[int, ...]  # conv_ae training and the data path at these sizes
    cache_counts: tuple[int | None, ...]  # landscapes images; None: all
    repeats: int
    ddp: tuple[int, int]  # the data-parallel runs: image size, faces images (70% train)


FULL = Settings(
    (128, 256), 300, None, tuple(MODELS), (64, 128, 256), (100, 1000, None), 5, (128, 300)
)
QUICK = Settings((64,), 60, 20, ("conv_ae",), (32, 64), (20, 40), 3, (32, 80))
DDP_EPOCHS = 2  # the second epoch is timed: the first includes start-up and warm-up
TRAIN_BATCH = 16
REFERENCE_BATCH = 20  # the reference study's DataLoader batch size


# ---------------------------------------------------------------- measuring


def median_seconds(run: Callable[[], object], repeats: int, warmup: int = 1) -> list[float]:
    """Wall seconds of ``run()`` over ``repeats`` calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return times


class PeakMemory:
    """Peak resident memory (MB) inside a ``with`` block; on CUDA also the peak GPU memory.

    Linux resets the peak (VmHWM) when "5" is written to /proc/self/clear_refs, so each block
    reports its own peak; elsewhere the process-wide peak is reported (an upper bound).
    """

    def __enter__(self) -> PeakMemory:
        try:
            Path("/proc/self/clear_refs").write_text("5")
        except OSError:
            pass
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        return self

    def __exit__(self, *exc) -> None:
        self.rss_mb = _peak_rss_mb()
        self.gpu_mb = (
            torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None
        )


def _peak_rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux


def _summary(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "n": len(values)}  # fmt: skip


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
        row[name] = {"img_per_s": _summary([len(files) / s for s in seconds]),
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
        "reference_seconds": _summary(ref_seconds),
        "batched_seconds": _summary(ours_seconds),
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
        "reference_img_per_s": _summary(reference),
        "default_img_per_s": _summary(ours),
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


# ---------------------------------------------------------------- report


def machine() -> dict:
    origin = provenance(pick_device("auto"))
    return {
        "host": origin["host"],
        "platform": origin["platform"],
        "cpu": describe_cpu(origin),
        "threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "torch": torch.__version__,
        "commit": origin["commit"],
        "time_utc": origin["time_utc"],
    }


def _head(*columns: str) -> list[str]:
    """A Markdown table's header and rule lines."""
    return ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]


def _rate(s: dict, spec: str = ".1f") -> str:
    return f"{s['median']:{spec}} ({s['min']:{spec}}-{s['max']:{spec}})"


def markdown(results: dict) -> str:
    """The benchmark as Markdown tables (medians, with min-max ranges in brackets)."""
    m = results["machine"]
    lines = [
        f"# Benchmark: {results['label']}",
        "",
        f"{m['platform']}, {m['cpu']}, {m['threads']} threads, GPU {m['gpu'] or 'none'}, "
        f"torch {m['torch']}, commit {m['commit']}, {m['time_utc']}; "
        f"settings `{results['settings_name']}`, total {results['seconds']:.0f} s.",
        "",
        "## 1. Data path (faces, img/s, batch 20)",
        "",
        *_head(
            "size",
            "reference",
            "cache + flip",
            "ratio",
            "cache + full augmentation",
            "ratio",
            "peak RSS MB (ref / cache)",
        ),
    ]
    for r in results["data"]:
        lines.append(
            f"| {r['size']} | {_rate(r['reference']['img_per_s'])} "
            f"| {_rate(r['cache_flip']['img_per_s'])} | {r['cache_flip']['ratio']:.1f}x "
            f"| {_rate(r['cache_full_augment']['img_per_s'])} "
            f"| {r['cache_full_augment']['ratio']:.1f}x "
            f"| {r['reference']['peak_rss_mb']:.0f} / {r['cache_flip']['peak_rss_mb']:.0f} |"
        )
    t = results["metrics"]
    differences = ", ".join(f"{k} {v:.1g}" for k, v in t["max_abs_difference"].items())
    lines += [
        "",
        f"## 2. Metrics (all {len(t['max_abs_difference'])}, {t['images']} faces test images, "
        "seconds)",
        "",
        *_head("per image (scikit-image, scikit-learn, numpy)", "batched (ours)", "ratio"),
        f"| {_rate(t['reference_seconds'])} | {_rate(t['batched_seconds'], '.3f')} "
        f"| {t['ratio']:.1f}x |",
        "",
        f"Largest per-image difference between the two: {differences}.",
        "",
        f"## 3. Training step (img/s, batch {TRAIN_BATCH})",
        "",
        *_head(
            "model",
            "size",
            "eager float32 NCHW",
            "default (channels-last, bf16)",
            "speedup",
            "data wait",
            "peak RSS MB",
        ),
    ]
    for r in results["train"]:
        lines.append(
            f"| {r['model']} | {r['size']} | {_rate(r['reference_img_per_s'])} "
            f"| {_rate(r['default_img_per_s'])}{'' if r['bf16'] else ' (float32)'} "
            f"| {r['speedup']:.1f}x | {100 * r['data_wait_share']:.1f}% "
            f"| {r['peak_rss_mb']['default']:.0f} |"
        )
    lines += [
        "",
        "## 4. Scaling with image size (microseconds per pixel: flat = linear in pixels)",
        "",
        *_head("size", "data: cache + full augmentation", "train step: conv_ae default"),
    ]
    data_by_size = {
        r["size"]: r["cache_full_augment"]["img_per_s"]["median"] for r in results["data"]
    }
    train_by_size = {
        r["size"]: r["default_img_per_s"]["median"]
        for r in results["train"]
        if r["model"] == "conv_ae"
    }
    for size in sorted(set(data_by_size) & set(train_by_size)):
        per_pixel = [
            1e6 / (rate * size * size) for rate in (data_by_size[size], train_by_size[size])
        ]
        lines.append(f"| {size} | {per_pixel[0]:.4f} | {per_pixel[1]:.3f} |")
    lines += [
        "",
        "## 5. Cache build (landscapes, 128 px; flat ms per image = linear in images)",
        "",
        "| images | seconds | ms per image | peak RSS MB |",
        "|---|---|---|---|",
    ]
    for r in results["cache"]:
        lines.append(
            f"| {r['images']} | {r['seconds']:.1f} | {r['ms_per_image']:.2f} "
            f"| {r['peak_rss_mb']:.0f} |"
        )
    if "ddp" in results:
        d = results["ddp"]
        rates = d["img_per_s"]
        lines += [
            "",
            f"## 6. Data parallel (unet, {d['size']} px, {d['images']} faces; img/s of a "
            "training epoch)",
            "",
            *_head(
                "1 process, 1 thread",
                "2 processes (gloo), 1 thread each",
                "1 process, 2 threads",
                "scaling efficiency",
            ),  # fmt: skip
            f"| {rates['1x1']:.1f} | {rates['2x1']:.1f} | {rates['1x2']:.1f} "
            f"| {d['efficiency']:.0%} |",
        ]
    if "precision_check" in results:
        lines += [
            "",
            "## Float32 vs bf16 autocast: short faces runs (64 px)",
            "",
            *_head(
                "seed",
                "precision",
                "epochs",
                "best val loss",
                "test psnr_ab",
                "test delta_e2000",
                "s/epoch",
            ),
        ]
        for r in results["precision_check"]:
            lines.append(
                f"| {r['seed']} | {r['precision']} | {r['epochs']} | {r['best_val_loss']:.6f} "
                f"| {r['test_psnr_ab']:.2f} | {r['test_delta_e2000']:.3f} "
                f"| {r['seconds_per_epoch']:.1f} |"
            )
    return "\n".join(lines) + "\n"


def run(settings: Settings, name: str) -> dict:
    started = time.perf_counter()
    results = {"settings_name": name, "settings": asdict(settings), "machine": machine()}
    sizes = sorted(set(settings.data_sizes) | set(settings.scaling_sizes))
    results["data"] = [bench_data(s, settings.data_images, settings.repeats) for s in sizes]
    print("data path done", flush=True)
    results["metrics"] = bench_metrics(settings.metric_images, settings.repeats)
    print("metrics done", flush=True)
    main_size = 128 if name == "full" else settings.scaling_sizes[-1]
    cases = [(m, main_size) for m in settings.train_models]
    cases += [("conv_ae", s) for s in settings.scaling_sizes if ("conv_ae", s) not in cases]
    results["train"] = [bench_train(m, s, settings.repeats) for m, s in cases]
    print("training steps done", flush=True)
    results["cache"] = [bench_cache(c) for c in settings.cache_counts]
    results["ddp"] = bench_ddp(*settings.ddp)
    print("data parallel done", flush=True)
    results["seconds"] = time.perf_counter() - started
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="colorize-bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small settings for CI (minutes)")
    parser.add_argument("--label", default=platform.node() or "machine", help="output file name")
    parser.add_argument("--out-dir", type=Path, default=Path("benchmarks"))
    parser.add_argument(
        "--precision-check", type=int, metavar="EPOCHS", default=0,
        help="also train faces (64 px, seeds 0 and 1) this many epochs in float32 and bf16",
    )  # fmt: skip
    args = parser.parse_args(argv)
    name = "quick" if args.quick else "full"
    results = {"label": args.label, **run(QUICK if args.quick else FULL, name)}
    if args.precision_check:
        with tempfile.TemporaryDirectory() as runs:
            results["precision_check"] = precision_check(
                args.precision_check, 64, [0, 1], Path(runs)
            )
    stem = f"{args.label}{'-quick' if args.quick else ''}"
    atomic.write_text(args.out_dir / f"{stem}.json", json.dumps(results, indent=1))
    table = markdown(results)
    atomic.write_text(args.out_dir / f"{stem}.md", table)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
