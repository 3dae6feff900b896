"""``reports/<profile>/index.html``: what a reader opens the report for, first.

Per group of comparable runs: a headline written from the numbers, the key metrics (``digest``),
each notebook's photo grid and the metric chart; the full tables and the other figures folded
below. Then the vivid-colour targets, any other table a notebook wrote, the notebooks and the runs
into the folder. Built only from the folder's ``tables/``, ``figures/`` and ``run.json``, so a
committed report can be rebuilt without training:
``python -m colorize_core.reporting.index_page reports/cpu``.
"""

from __future__ import annotations

import argparse
import html
import json
from pathlib import Path

import pandas as pd

from colorize_core.data.atomic import write_text
from colorize_core.reporting import digest, merge, report_files
from colorize_core.reporting.profiles import NOTEBOOKS
from colorize_core.reporting.report_files import GroupFile
from colorize_core.training.provenance import describe_cpu

# A group's files in the order a reader wants them: the summary table with its bar chart and photo
# grid first, the detailed comparisons after. The photo grids and the chart are shown open under
# the key table; the FOLDED figures below it.
READING_ORDER = (
    "summary", "metrics", "samples", "vs_baselines", "ablation", "pairwise", "distributions",
    "curves",
)  # fmt: skip
FOLDED = ("distributions", "curves")
CAPTIONS = {
    "samples": "The first test images: the gray input, each model's colours, the truth.",
    "metrics": "Means over the test images with 95% CIs, every predictor.",
    "distributions": "Per-image distributions of each metric.",
    "curves": "Training and validation loss per epoch.",
}
VIVID_PREFIX = "vivid_"  # the vivid_colour notebook's target tables and trade-off figures
PAGE_CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1320px;padding:0 1.5em;
 color:#222}
h1{margin-bottom:.2em}h2{margin-top:2.2em;border-bottom:1px solid #ddd;padding-bottom:.2em}
p.facts,p.howto{color:#555;font-size:14px;max-width:70em}nav{font-size:14px;margin:1em 0}
figure{margin:1em 0}figure img{max-width:min(100%,1000px)}figcaption{color:#666;font-size:13px}
table.plain{border-collapse:collapse;font-size:13px}
table.plain td,table.plain th{border-bottom:1px solid #ddd;padding:3px 8px;text-align:left}
table.full{border-collapse:collapse;font-size:12px}
table.full td,table.full th{border-bottom:1px solid #eee;padding:2px 6px;text-align:left}
.met{color:#1a7f37}.missed{color:#b42318}
"""


def report_groups(out: Path) -> dict[str, list[GroupFile]]:
    """The group tables (CSV) and figures under ``out`` (``report_files``), by group stem:
    groups in the dataset registry's order (faces, landscapes, cifar10; then any other), each
    group's merged files first, then each notebook's in the suite's order, each in
    ``READING_ORDER``."""
    groups: dict[str, list[GroupFile]] = {}
    for file in report_files.group_files(out):
        groups.setdefault(file.stem, []).append(file)

    def rank(file: GroupFile) -> tuple[int, str, int]:
        kind = READING_ORDER.index(file.kind)
        if file.owner is None:
            return (-1, "", kind)
        known = NOTEBOOKS.index(file.owner) if file.owner in NOTEBOOKS else len(NOTEBOOKS)
        return (known, file.owner, kind)

    return {
        stem: sorted(groups[stem], key=rank)
        for stem in sorted(groups, key=report_files.group_order)
    }


def other_files(out: Path) -> list[Path]:
    """Tables (CSV) and figures under ``out`` that belong to no group, e.g. a notebook's own
    ``general_domains.csv``: shown as they are, never removed by the summary."""
    paths = [*(out / "tables").glob("*.csv"), *(out / "figures").glob("*")]
    return sorted(
        (p for p in paths if p.suffix in (".csv", ".png", ".jpg") and not report_files.parse(p)),
        key=lambda p: (p.suffix != ".csv", p.name),
    )


def _figure(path: Path, caption: str | None = None) -> str:
    name = html.escape(path.name)
    text = html.escape(caption or path.stem)
    return (
        f'<figure><img src="figures/{name}" alt="{text}"><figcaption>{text}</figcaption></figure>'
    )


def _group_figure(file: GroupFile) -> str:
    caption = CAPTIONS[file.kind]
    return _figure(file.path, f"{file.owner}: {caption}" if file.owner else caption)


def group_tables(out: Path, stem: str, files: list[GroupFile]) -> digest.GroupTables | None:
    """The group's merged tables as the summary wrote them; before the summary ran, the
    notebooks' tables joined here (without the model pairs across notebooks); None without."""
    tables = out / "tables"
    if any(f.owner is None and f.kind == "summary" for f in files):
        return digest.GroupTables.read(tables, stem)
    notebooks = list(dict.fromkeys(f.owner for f in files if f.kind == "summary"))
    return merge.combine(tables, stem, notebooks)[0] if notebooks else None


def group_section(out: Path, stem: str, files: list[GroupFile]) -> str:
    """One group: headline, key table, photo grids and chart, then everything else folded."""
    parts = [f'<h2 id="{html.escape(stem)}">{html.escape(digest.stem_label(stem))}</h2>']
    tables = group_tables(out, stem, files)
    if tables is not None:
        parts.append(f'<p class="headline">{digest.markdown_to_html(digest.headline(tables))}</p>')
        parts.append(digest.key_table_html(tables))
    figures = [f for f in files if f.kind in report_files.FIGURE_KINDS]
    merged_chart = any(f.owner is None and f.kind == "metrics" for f in figures)
    shown = [f for f in figures if f.kind == "samples"]  # every notebook's photos, then the chart
    shown += [f for f in figures if f.kind == "metrics" and (f.owner is None or not merged_chart)]
    parts += [_group_figure(f) for f in shown]
    if tables is not None:
        parts.append(digest.details_html(tables))
    folded = [_group_figure(f) for f in figures if f.kind in FOLDED]
    if folded:
        parts.append(
            digest.folded("More figures: per-image distributions, training curves", "".join(folded))
        )
    return "".join(parts)


def targets_summary(table: pd.DataFrame) -> str:
    """``7 of 8 targets met; missed: ab_js_divergence at most half ... (0.166 against ...)``."""
    met = table["met"].astype(str) == "True"
    missed = [
        f"{row.target} ({digest.sig3(float(row.value))} against {row.against})"
        for row in table[~met].itertuples()
    ]
    line = f"{int(met.sum())} of {len(table)} targets met"
    return line + (f"; missed: {'; '.join(missed)}" if missed else "")


def vivid_section(files: list[Path]) -> str:
    """The vivid-colour study: per data set, its trade-off figure and each kind's targets."""
    tables = sorted(p for p in files if p.suffix == ".csv")
    figures = sorted(p for p in files if p.suffix != ".csv")
    parts = ['<h2 id="vivid">Vivid colour: accuracy against vividness</h2>']
    for path in tables:
        table = pd.read_csv(path, index_col=0)
        name = path.stem.removeprefix(f"{VIVID_PREFIX}targets_").replace("_", ", ", 1)
        rows = "".join(
            f"<tr><td>{html.escape(str(r.target))}</td><td>{digest.sig3(float(r.value))}</td>"
            f"<td>{html.escape(str(r.against))}</td>"
            f'<td class="{"met" if str(r.met) == "True" else "missed"}">'
            f"{'met' if str(r.met) == 'True' else 'missed'}</td></tr>"
            for r in table.itertuples()
        )
        parts.append(f'<p class="headline"><b>{html.escape(name)}</b>: '
                     f"{html.escape(targets_summary(table))}.</p>")  # fmt: skip
        parts.append(
            digest.folded(
                f"{name}: every target",
                '<table class="plain"><tr><th>target</th><th>value</th><th>against</th>'
                f"<th></th></tr>{rows}</table>",
            )
        )
    parts += [_figure(path) for path in figures]
    return "".join(parts)


def other_section(files: list[Path]) -> str:
    """Tables and figures of no group, each folded under its name."""
    parts = ['<h2 id="other">Other tables</h2>']
    for path in files:
        body = (
            digest.wide_table(pd.read_csv(path, index_col=0).fillna(""))
            if path.suffix == ".csv"
            else _figure(path)
        )
        parts.append(digest.folded(path.stem, body))
    return "".join(parts)


def _link(target: str | None, label: str) -> str:
    return f'<a href="{html.escape(target)}">{label}</a>' if target else ""


def _machine(origin: dict) -> str:
    """The platform and, where recorded (older run.json files lack it), the CPU."""
    cpu = describe_cpu(origin)
    return f"{origin['platform']}, {cpu}" if cpu else origin["platform"]


def write_index(out: Path, info: dict) -> Path:
    """``out/index.html`` (whole or absent) from ``out``'s tables and figures and the run record
    ``info``."""
    origin = info["provenance"]
    facts = (
        f"profile <b>{html.escape(info['profile'])}</b>, device {html.escape(info['device'])} "
        f"({html.escape(_machine(origin))}, {origin['cpu_threads']} threads), "
        f"torch {origin['packages']['torch']}; "
        f'{len(info["invocations"])} run(s) into this folder (<a href="#runs">listed below</a>)'
    )
    groups = report_groups(out)
    others = other_files(out)
    vivid = [p for p in others if p.name.startswith(VIVID_PREFIX)]
    others = [p for p in others if p not in vivid]
    links = [(stem, digest.stem_label(stem)) for stem in groups]
    links += [("vivid", "vivid colour")] if vivid else []
    links += [("other", "other tables")] if others else []
    contents = " · ".join(f'<a href="#{html.escape(s)}">{html.escape(t)}</a>' for s, t in links)
    sections = "".join(group_section(out, stem, files) for stem, files in groups.items())
    sections += vivid_section(vivid) if vivid else ""
    sections += other_section(others) if others else ""
    rows = "".join(
        f"<tr><td>{html.escape(r['name'])}</td><td>{'ok' if r['ok'] else 'FAILED'}</td>"
        f"<td>{r['seconds']:.0f} s</td>"
        f"<td>{_link(r['html'], 'HTML')} {_link(r['notebook'], 'notebook')}</td>"
        f"<td>{html.escape(r['error'] or '')}</td></tr>"
        for r in info["notebooks"]
    )
    runs = "".join(
        f"<li>{run['time_utc']}, commit <code>{run['commit']}</code>, "
        f"{run['wall_seconds'] / 60:.1f} min: {', '.join(run['notebooks'])}</li>"
        for run in info["invocations"]
    )
    howto = (
        "Each group holds runs on the same data set, size, subset and seed, so on the same test "
        "images. It opens with a headline and its key metrics: the mean over the test images, "
        "the 95% bootstrap CI below it, the best value per column highlighted (↑ higher is "
        "better, ↓ lower, ≈ closest to the truth). Quoted rows are the reference studies' "
        "own numbers on their own images. Full tables and more figures are folded below each group."
    )
    page = f"""<!doctype html><html><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>colorize report: {html.escape(info["profile"])}</title>
<style>{PAGE_CSS}{digest.CSS}</style></head><body>
<h1>colorize: {html.escape(info["profile"])} profile</h1><p class="facts">{facts}</p>
<nav>{contents or "No group tables or figures (no notebook wrote any)."}</nav>
<p class="howto">{howto}</p>
{sections}
<h2 id="notebooks">Notebooks</h2><table class="plain"><tr><th>notebook</th><th>status</th>
<th>time</th><th>open</th><th>error</th></tr>{rows}</table>
<h2 id="runs">Runs into this folder</h2><ol>{runs}</ol>
</body></html>"""
    target = out / "index.html"
    write_text(target, page)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Rebuild a report folder's index.html.")
    parser.add_argument("report", type=Path, help="a report folder, e.g. reports/cpu")
    folder = parser.parse_args(argv).report
    print(write_index(folder, json.loads((folder / "run.json").read_text())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
