"""The experiment suite's command line (``colorize-suite``, ``python -m colorize_core.suite``).

Until the experiment notebooks land this runs the part every report starts from: the trivial
baselines (gray, mean_ab, mean_ab_map) on a dataset's seeded test split, printed as a table with
95% CIs and written to ``reports/baselines/`` (tables) and ``results/`` (per-image metrics).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

import pandas as pd

from colorize_core.baselines import BASELINES, make_baseline
from colorize_core.data import load_images, make_split, select
from colorize_core.evaluate import Evaluation, evaluate, long_summary
from colorize_core.metrics import METRICS
from colorize_core.provenance import provenance


def metric_table(evaluations: list[Evaluation]) -> pd.DataFrame:
    """Rows = metrics, columns = predictors (``mean [95% CI]``), last column = the definition."""
    table = pd.DataFrame(index=pd.Index(list(METRICS), name="metric"))
    for e in evaluations:
        s = e.summary
        table[e.predictor] = [
            f"{s.at[m, 'mean']:.4g} [{s.at[m, 'ci_low']:.4g}, {s.at[m, 'ci_high']:.4g}]"
            for m in METRICS
        ]
    table["how it is computed"] = [
        f"({info.family}) {info.definition}" for info in METRICS.values()
    ]
    return table


def run_baselines(
    dataset: str = "faces",
    *,
    size: int | None = None,
    seed: int = 0,
    out: Path = Path("reports/baselines"),
    results: Path = Path("results"),
) -> pd.DataFrame:
    """Evaluate every baseline on ``dataset``'s test split; write tables and per-image metrics."""
    started = time.time()
    data = load_images(dataset, size)
    split = make_split(data.files, seed)
    train = select(data, split, "train")
    evaluations = [
        evaluate(make_baseline(name, train.lab), data, split, "test", name=name)
        for name in BASELINES
    ]
    table = metric_table(evaluations)

    label = "folder" if dataset.startswith("folder:") else dataset
    run_dir = results / f"baselines-{label}-{data.size}px-seed{seed}"
    run_dir.mkdir(parents=True, exist_ok=True)
    split.save(run_dir / "split.json")
    for e in evaluations:
        e.per_image.to_csv(run_dir / f"{e.predictor}_per_image.csv")
    long_summary(evaluations).to_csv(run_dir / "summary.csv", index=False)
    config = {
        "dataset": dataset,
        "size": data.size,
        "seed": seed,
        "images": len(data),
        "skipped": {reason: len(files) for reason, files in data.skipped.items()},
        "seconds": round(time.time() - started, 2),
        "provenance": provenance(),
    }
    (run_dir / "config.json").write_text(json.dumps(config, indent=1))
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / f"{run_dir.name}.csv")
    (out / f"{run_dir.name}.md").write_text(table.to_markdown() + "\n")
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="colorize-suite", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dataset", default="faces", help="faces, landscapes, cifar10 or folder:PATH"
    )
    parser.add_argument("--data-dir", help="folder holding the datasets (sets COLORIZE_DATA)")
    parser.add_argument("--size", type=int, help="square image size (default: the dataset's own)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the train/val/test split")
    parser.add_argument("--out", type=Path, default=Path("reports/baselines"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.data_dir:
        os.environ["COLORIZE_DATA"] = str(Path(args.data_dir).resolve())

    table = run_baselines(args.dataset, size=args.size, seed=args.seed, out=args.out)
    print(
        f"\nTrivial baselines on the {args.dataset} test split (seed {args.seed}), "
        "mean over images [bootstrap 95% CI]:\n"
    )
    print(table.to_markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
