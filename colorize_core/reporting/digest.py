"""What each group of a report opens with: a headline written from its numbers, and a compact
table of the key metrics; the full tables follow in collapsible sections.

Everything here reads a group's tables as the notebooks write them (``<stem>_summary.csv``,
``_vs_baselines.csv``, ``_pairwise.csv``, ``_ablation.csv``, merged by the summary: ``merge``), so
the report index, rebuilt from committed tables, says what the notebook said. The summary notebook
and ``index_page`` both use it.
"""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import pandas as pd

from colorize_core.data.datasets import DATASETS
from colorize_core.reporting.comparisons import ALL_METRICS
from colorize_core.reporting.report_files import PER_SOURCE, STEM, group_label

# The key metrics, in this order, where a group has them: pixel accuracy of the colour (PSNR ab,
# the reference studies' ΔE76, the perceptual ΔE2000), structure (SSIM), vividness
# (colourfulness against the truth's), and rare colours and the colour distribution.
KEY_METRICS = (
    "psnr_ab", "delta_e76", "delta_e2000", "ssim_rgb", "colorfulness_pred", "auc_ab",
    "auc_ab_rebalanced", "ab_js_divergence",
)  # fmt: skip
RANKED_BY = ("delta_e2000", "delta_e76", "psnr_ab")  # the first present orders models, best first
SECTIONS = {
    "model": "",
    "baseline": "trivial baselines, on the same test images",
    "quoted": "quoted from the reference studies: their own test images and code, not re-run",
}
_CELL = re.compile(r"^\s*(\S+)(?:\s*\[\s*([^,\]]+)\s*,\s*([^\]]+)\])?\s*$")

# Styles of the key table and the collapsible sections; the index page and the summary notebook
# both include them, so the table looks the same in the browser and in JupyterLab.
CSS = """
table.key{border-collapse:collapse;font-size:13px;margin:.5em 0 1em}
table.key th,table.key td{padding:3px 9px;border-bottom:1px solid #e3e3e3;text-align:right;
 vertical-align:top;white-space:nowrap}
table.key th:first-child,table.key td:first-child{text-align:left}
table.key thead th{border-bottom:2px solid #999;font-weight:600;white-space:normal;min-width:5em}
table.key .ci{display:block;font-size:11px;color:#777}
table.key td.best{background:#e3f4e6;font-weight:700}
table.key tr.section th{text-align:left;font-weight:400;font-style:italic;color:#555;
 background:#f6f6f6;border-bottom:1px solid #ccc;padding-top:6px}
table.key tbody.baseline td{color:#444}
table.key tbody.quoted td{color:#777;font-style:italic}
p.headline{font-size:15px;max-width:60em;line-height:1.45}
details{margin:.4em 0}details summary{cursor:pointer;color:#2a5db0}
div.wide{overflow-x:auto}
"""


def parse_cell(text: object) -> tuple[float, float, float]:
    """``"29.5 [29.04, 29.94]"`` -> (29.5, 29.04, 29.94); ``"31.2"`` (quoted, no CI) ->
    (31.2, nan, nan); an empty cell -> three nans. The summary tables' format (``report._cell``)."""
    if not isinstance(text, str) or not text.strip():
        return math.nan, math.nan, math.nan
    match = _CELL.match(text)
    if match is None:
        raise ValueError(f"not a summary cell ('mean [low, high]'): {text!r}")
    mean, low, high = match.groups()
    return float(mean), float(low or "nan"), float(high or "nan")


def sig3(value: float) -> str:
    """Three significant figures, trailing zeros kept (``10.0``, ``0.970``); empty for nan."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return format(value, "#.3g").rstrip(".").replace("-", "−")


def stem_label(stem: str) -> str:
    """``faces_128px_all_seed0`` -> ``faces, 128 px, all images, seed 0``: the
    ``group_label`` of the group that ``group_stem`` named (a mixture's
    ``a-b`` as ``a+b``); other stems unchanged."""
    match = STEM.match(stem)
    if match is None:
        return stem
    dataset, images = match["dataset"], match["images"]
    if all(name in DATASETS for name in dataset.split("-")):
        dataset = dataset.replace("-", "+")
    size = None if match["size"] == "default" else int(match["size"])
    if images == "all":
        limit = None
    elif images.isdigit():
        limit = int(images)
    else:
        limit = tuple((source, int(n)) for n, source in PER_SOURCE.findall(images))
    return group_label((dataset, size, limit, int(match["seed"])))


def folded(title: str, body: str) -> str:
    """``body`` in a collapsible section headed ``title``."""
    return f"<details><summary>{html.escape(title)}</summary>{body}</details>"


def wide_table(frame: pd.DataFrame) -> str:
    """A full table as HTML that scrolls sideways inside its own box, not the page."""
    return f'<div class="wide">{frame.to_html(border=0, classes="full")}</div>'


@dataclass
class GroupTables:
    """One group's tables as the summary wrote them; any but ``summary`` may be missing."""

    summary: pd.DataFrame  # index predictor; kind, one "mean [CI]" column per metric, source
    vs_baselines: pd.DataFrame | None = None
    pairwise: pd.DataFrame | None = None
    ablation: pd.DataFrame | None = None

    @classmethod
    def read(cls, tables: Path, stem: str) -> GroupTables:
        def table(kind: str, **kwargs) -> pd.DataFrame | None:
            path = tables / f"{stem}_{kind}.csv"
            return pd.read_csv(path, **kwargs) if path.is_file() else None

        return cls(
            table("summary", index_col=0, dtype=str, keep_default_na=False),
            table("vs_baselines", index_col=0),
            table("pairwise", index_col=0),
            table("ablation", index_col=0),
        )

    @cached_property
    def numbers(self) -> dict[str, pd.DataFrame]:
        """``mean``, ``low``, ``high``: predictors x metrics, floats (nan where empty); parsed
        once, from ``summary``."""
        metrics = [m for m in self.summary.columns if m in ALL_METRICS]
        parsed = {m: self.summary[m].map(parse_cell) for m in metrics}
        return {
            part: pd.DataFrame({m: parsed[m].map(lambda t, i=i: t[i]) for m in metrics})
            for i, part in enumerate(("mean", "low", "high"))
        }

    @property
    def kinds(self) -> pd.Series:
        """model, baseline or quoted, per predictor."""
        return self.summary["kind"]

    @property
    def true_colourfulness(self) -> float | None:
        """The true images' mean colourfulness, the target of ``colorfulness_pred``."""
        truth = self.numbers["mean"].get("colorfulness_true", pd.Series(dtype=float)).dropna()
        return float(truth.iloc[0]) if len(truth) else None


def key_metrics(tables: GroupTables) -> list[str]:
    """The ``KEY_METRICS`` some model or baseline of the group has a value for."""
    mean = tables.numbers["mean"]
    compared = mean[tables.kinds != "quoted"]
    return [m for m in KEY_METRICS if m in compared and compared[m].notna().any()]


def _closeness(tables: GroupTables, metric: str) -> pd.Series:
    """Higher is better: the metric's value, its negation, or (colourfulness) minus the distance
    to the true images' colourfulness."""
    values = tables.numbers["mean"][metric]
    better = ALL_METRICS[metric].higher_is_better
    if better is None:
        truth = tables.true_colourfulness
        return -(values - truth).abs() if truth is not None else values * math.nan
    return values if better else -values


def best_per_metric(tables: GroupTables, metrics: list[str]) -> dict[str, str]:
    """The predictor with the best value of each metric among those run here (models and
    baselines; quoted rows were measured on other images, so they are not ranked)."""
    best = {}
    for metric in metrics:
        score = _closeness(tables, metric)[tables.kinds != "quoted"].dropna()
        if len(score):
            best[metric] = str(score.idxmax())
    return best


def ordered(tables: GroupTables) -> dict[str, list[str]]:
    """Predictors by kind (model, baseline, quoted); models best first on ``RANKED_BY``."""
    kinds = tables.kinds
    groups = {kind: [p for p in tables.summary.index if kinds[p] == kind] for kind in SECTIONS}
    mean = tables.numbers["mean"]
    metric = next((m for m in RANKED_BY if m in mean and mean[m].notna().any()), None)
    if metric is not None:
        score = _closeness(tables, metric)
        groups["model"].sort(key=lambda p: -score[p] if pd.notna(score[p]) else math.inf)
    return groups


def _header(tables: GroupTables, metric: str) -> str:
    info = ALL_METRICS[metric]
    arrow = {True: " ↑", False: " ↓", None: ""}[info.higher_is_better]
    name = info.name
    if metric == "colorfulness_pred":
        truth = tables.true_colourfulness
        name = f"Colourfulness (true {sig3(truth)})" if truth is not None else "Colourfulness"
        arrow = " ≈"
    return f'<th title="{html.escape(info.definition)}">{html.escape(name)}{arrow}</th>'


def key_table_html(tables: GroupTables) -> str:
    """The key metrics of every predictor: mean over the test images with its 95% CI below, in
    3 significant figures; the best value per column (among runs here) highlighted; models
    best first, then the trivial baselines, then the quoted rows, each set apart."""
    metrics = key_metrics(tables)
    numbers, best = tables.numbers, best_per_metric(tables, metrics)
    groups = ordered(tables)
    header = "<th>predictor</th>" + "".join(_header(tables, m) for m in metrics)
    bodies = []
    for kind, predictors in groups.items():
        if not predictors:
            continue
        rows = []
        if SECTIONS[kind]:
            rows.append(
                f'<tr class="section"><th colspan="{len(metrics) + 1}">{SECTIONS[kind]}</th></tr>'
            )
        for predictor in predictors:
            cells = []
            for metric in metrics:
                mean, low, high = (numbers[part].at[predictor, metric] for part in numbers)
                ci = f'<span class="ci">{sig3(low)}–{sig3(high)}</span>' if pd.notna(low) else ""
                mark = (
                    ' class="best" title="best in this column"'
                    if best.get(metric) == predictor
                    else ""
                )
                cells.append(f"<td{mark}>{sig3(mean)}{ci}</td>")
            source = (
                html.escape(str(tables.summary.at[predictor, "source"]))
                if "source" in tables.summary
                else ""
            )
            rows.append(
                f'<tr><td title="{source}">{html.escape(predictor)}</td>{"".join(cells)}</tr>'
            )
        bodies.append(f'<tbody class="{kind}">{"".join(rows)}</tbody>')
    return f'<table class="key"><thead><tr>{header}</tr></thead>{"".join(bodies)}</table>'


def _paired(
    frame: pd.DataFrame | None, a: str, b: str, metric: str
) -> tuple[float, float, float] | None:
    """How much better ``a`` is than ``b`` on ``metric`` (positive: better), with the paired
    CI, from a vs_baselines or pairwise table holding the pair in either order; None if absent."""
    if frame is None or not len(frame):
        return None
    for first, second, sign in ((a, b, 1), (b, a, -1)):
        row = frame[(frame["a"] == first) & (frame["b"] == second) & (frame["metric"] == metric)]
        if len(row):
            difference, low, high = (
                float(row.iloc[0][c]) for c in ("difference", "ci_low", "ci_high")
            )
            if not ALL_METRICS[metric].higher_is_better:
                sign = -sign
            bounds = sorted((sign * low, sign * high))
            return sign * difference, bounds[0], bounds[1]
    return None


def _gap_phrase(gain: tuple[float, float, float] | None, metric: str) -> str:
    """``0.05 lower (paired 95% CI [0.03, 0.07], beyond the noise)`` for a gain of ``_paired``."""
    if gain is None:
        return ""
    difference, low, high = gain
    if difference < 0:  # a loss: say how much worse, with the CI of that
        difference, low, high = -difference, -high, -low
        lower = ALL_METRICS[metric].higher_is_better is not False
    else:
        lower = ALL_METRICS[metric].higher_is_better is False
    noise = "beyond the noise" if low > 0 or high < 0 else "within the noise"
    return (
        f"{sig3(difference)} {'lower' if lower else 'higher'} "
        f"(paired 95% CI [{sig3(low)}, {sig3(high)}], {noise})"
    )


def headline(tables: GroupTables) -> str:
    """One or two sentences on what the group's table shows, from its numbers: which model is
    best on the ranking metric (``RANKED_BY``), by how much against the runner-up and the best
    trivial baseline and whether beyond the paired CI, how it does on PSNR ab, and how vivid its
    colours are. Markdown, the best model in bold."""
    numbers, groups = tables.numbers, ordered(tables)
    mean, low, high = numbers["mean"], numbers["low"], numbers["high"]
    models, baselines = groups["model"], groups["baseline"]
    metric = next((m for m in RANKED_BY if m in mean and mean.loc[models, m].notna().any()), None)
    if not models or metric is None:
        return "No trained model in this group: only the baselines' numbers."
    best = models[0]
    value = sig3(mean.at[best, metric])
    if pd.notna(low.at[best, metric]):
        value += f" [{sig3(low.at[best, metric])}, {sig3(high.at[best, metric])}]"
    clauses = []
    if len(models) > 1:
        gap = _gap_phrase(_paired(tables.pairwise, best, models[1], metric), metric)
        clauses += [f"{gap} than the runner-up, {models[1]}"] if gap else []
    if baselines:
        score = _closeness(tables, metric)
        top = max(baselines, key=lambda p: score[p] if pd.notna(score[p]) else -math.inf)
        gain = _paired(tables.vs_baselines, best, top, metric)
        if gain is not None and gain[0] < 0:
            clauses.append(f"but it is {_gap_phrase(gain, metric)} than the trivial baseline {top}")
        elif gain is not None:
            clauses.append(f"{_gap_phrase(gain, metric)} than the best trivial baseline, {top}")
    first = f"**{best}** is the best model on {ALL_METRICS[metric].name}, {value}"
    sentences = [first + (": " + "; ".join(clauses) if clauses else "") + "."]
    more = []
    if metric != "psnr_ab" and "psnr_ab" in mean and mean.loc[models, "psnr_ab"].notna().any():
        top = mean.loc[models, "psnr_ab"].idxmax()
        psnr = f"{sig3(mean.at[top, 'psnr_ab'])} dB"
        more.append(
            f"it is also best on PSNR ab, {psnr}"
            if top == best
            else f"{top} is best on PSNR ab, {psnr}"
        )
    truth = tables.true_colourfulness
    vivid = mean.at[best, "colorfulness_pred"] if "colorfulness_pred" in mean else math.nan
    if truth and pd.notna(vivid):
        more.append(
            f"its colours reach {vivid / truth:.0%} of the true colourfulness "
            f"({sig3(vivid)} of {sig3(truth)})"
        )
    if more:
        text = "; ".join(more)
        sentences.append(text[0].upper() + text[1:] + ".")
    return " ".join(sentences)


def markdown_to_html(text: str) -> str:
    """The headline's Markdown (only ``**bold**``) as escaped HTML."""
    return re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", html.escape(text))


def _comparisons_html(frame: pd.DataFrame) -> str:
    """A vs_baselines, pairwise or ablation table, compact: one row per pair and metric."""

    def metric(name: str) -> str:
        return html.escape(ALL_METRICS[name].name if name in ALL_METRICS else name)

    rows = "".join(
        f"<tr><td>{html.escape(str(r['a']))}</td><td>{html.escape(str(r['b']))}</td>"
        f"<td>{metric(r['metric'])}</td>"
        f"<td>{sig3(r['difference'])}</td><td>[{sig3(r['ci_low'])}, {sig3(r['ci_high'])}]</td>"
        f"<td>{'yes' if str(r['beyond_ci']) == 'True' else 'no'}</td></tr>"
        for _, r in frame.iterrows()
    )
    head = "".join(
        f"<th>{h}</th>" for h in ("a", "b", "metric", "a − b", "paired 95% CI", "beyond the CI")
    )
    return f'<table class="key"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'


def details_html(tables: GroupTables) -> str:
    """The full tables, each in a collapsible section: every metric with its CI and source,
    the paired comparisons against the baselines, model against model, the ablation."""
    sections = [
        (
            "All metrics: mean [95% CI] over the test images, and where each row comes from",
            wide_table(tables.summary),
        )
    ]
    for title, frame in (
        ("Each model against each trivial baseline (paired bootstrap)", tables.vs_baselines),
        ("Model against model (paired bootstrap)", tables.pairwise),
        ("Ablation: each variant against the reference run", tables.ablation),
    ):
        if frame is not None and len(frame):
            sections.append((title, f'<div class="wide">{_comparisons_html(frame)}</div>'))
    return "".join(folded(title, body) for title, body in sections)
