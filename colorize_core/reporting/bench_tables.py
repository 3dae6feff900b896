"""The speed benchmark's results as Markdown tables (``benchmarks/<label>.md``).

``markdown`` reads the plain dict that ``colorize-bench`` writes as ``benchmarks/<label>.json``,
so a table can be remade from any saved run; the benchmark comes after reporting in the stages, so
nothing here imports it.
"""

from __future__ import annotations


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
    batch = ", ".join(sorted({str(r["batch"]) for r in results["train"]}))
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
        f"## 3. Training step (img/s, batch {batch})",
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
