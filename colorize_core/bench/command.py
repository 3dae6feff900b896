"""Speed benchmark (``colorize-bench``, ``python -m colorize_core.bench.command``).

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
import platform
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from colorize_core.bench.sections import (
    bench_cache,
    bench_data,
    bench_ddp,
    bench_metrics,
    bench_train,
    precision_check,
)
from colorize_core.data import atomic
from colorize_core.models import MODELS
from colorize_core.reporting.bench_tables import markdown
from colorize_core.training.device import pick_device
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


def machine() -> dict:
    """The machine and code the numbers come from, for the table's first line."""
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


def run(settings: Settings, name: str) -> dict:
    """Every section at ``settings``; ``name`` ("full" or "quick") is recorded, and "full" trains
    at 128 px, "quick" at its largest scaling size."""
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
