"""Print README's Results tables from a report folder's summary CSVs, so they match it exactly.

Usage: ``python tools/readme_results.py [REPORT_DIR] [GROUP_STEM...]`` (default ``reports/cpu``
and every ``*_summary.csv`` there). Each table keeps the key metrics, as ``mean [95% CI]`` cells,
and the kind of row (model, baseline, quoted; quoted rows without any of these metrics are left
out), and is headed by the run facts of ``run.json``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

from colorize_core.evaluation.metrics import METRICS

COLUMNS = (
    "psnr_ab", "delta_e76", "delta_e2000", "ssim_rgb", "colorfulness_pred", "colorfulness_gap"
)  # fmt: skip


def facts(report: Path) -> str:
    info = json.loads((report / "run.json").read_text())
    origin = info["provenance"]
    runs = "; ".join(
        f"commit `{r['commit']}`, {r['wall_seconds'] / 60:.0f} min: {', '.join(r['notebooks'])}"
        for r in info["invocations"]
    )
    return (
        f"Profile `{info['profile']}`, seed {info['seed'] or 0}, device {info['device']} "
        f"({origin['cpu_threads']} CPU threads, torch {origin['packages']['torch']}); runs: {runs}."
    )


def table(path: Path) -> str:
    frame = pd.read_csv(path, index_col="predictor").fillna("")
    true = frame.loc[frame["kind"] == "model", "colorfulness_true"]
    shown = frame.loc[(frame[list(COLUMNS)] != "").any(axis=1), ["kind", *COLUMNS]]
    shown = shown.rename(columns={c: METRICS[c].name for c in COLUMNS})
    note = f"\n\nTrue images' colourfulness: {true.iloc[0]}." if len(true) else ""
    return shown.to_markdown() + note


def main(argv: list[str]) -> int:
    report = Path(argv[0]) if argv else Path("reports/cpu")
    stems = argv[1:] or sorted(
        p.name[: -len("_summary.csv")]
        for p in report.glob("tables/*_summary.csv")
        if "__" not in p.name  # a notebook's own part of a group; the merged table has all
    )
    print(facts(report), end="\n\n")
    for stem in stems:
        print(f"### {stem}\n\n{table(report / 'tables' / f'{stem}_summary.csv')}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
