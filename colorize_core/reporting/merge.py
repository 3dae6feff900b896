"""The summary: every notebook's part of a group joined into one set of group tables.

Reads only what the notebooks wrote into the report folder (``report_files`` names it): their
tables, and their per-image scores for the model-against-model comparisons across notebooks
(e.g. ``faces_cnn``'s U-Net against ``faces_gan``'s generator), which no notebook makes alone.
The merged tables hold what one summary of all the runs would: the models in name order, each
notebook's rows as it wrote them, the trivial baselines and quoted rows once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from colorize_core.evaluation.evaluate import Evaluation, summarize
from colorize_core.reporting import digest, report_files
from colorize_core.reporting.comparisons import ALL_METRICS, pairwise
from colorize_core.reporting.profiles import NOTEBOOKS
from colorize_core.reporting.report_files import write_table


@dataclass
class MergedGroup:
    """One group as the summary shows it: merged tables, each notebook's figures, the chart."""

    label: str
    stem: str
    tables: digest.GroupTables
    figures: dict[str, dict[str, Path]]  # notebook -> figure kind -> file
    chart: Path  # the metric chart of every predictor of the group


def parts(report_dir: Path) -> dict[str, dict[str, dict[str, Path]]]:
    """Each group's notebook parts: ``{stem: {notebook: {kind: file}}}``, groups in the report's
    order (``report_files.group_order``), notebooks in the suite's, tables (CSV) and figures."""
    found: dict[str, dict[str, dict[str, Path]]] = {}
    for file in report_files.group_files(Path(report_dir)):
        if file.owner is not None:
            found.setdefault(file.stem, {}).setdefault(file.owner, {})[file.kind] = file.path
    return {
        stem: dict(sorted(found[stem].items(), key=_suite_order))
        for stem in sorted(found, key=report_files.group_order)
    }


def _suite_order(item: tuple[str, dict]) -> tuple[int, str]:
    name = item[0]
    return (NOTEBOOKS.index(name) if name in NOTEBOOKS else len(NOTEBOOKS), name)


def combine(
    tables: Path, stem: str, notebooks: list[str]
) -> tuple[digest.GroupTables, dict[str, str]]:
    """The tables ``notebooks`` wrote of group ``stem``, joined, and which notebook each model
    is from.

    A model two notebooks list is taken from the one that wrote its summary last. Model against
    model holds only the pairs within a notebook here (``summarize_tables`` adds the others).
    """
    written = {n: tables / f"{_part(n, stem)}_summary.csv" for n in notebooks}
    newest = sorted((n for n in notebooks if written[n].is_file()),
                    key=lambda n: (-written[n].stat().st_mtime, n))  # fmt: skip
    read = {n: digest.GroupTables.read(tables, _part(n, stem)) for n in newest}
    origin: dict[str, str] = {}
    for notebook, part in read.items():
        origin.update((m, notebook) for m in part.summary.index[part.kinds == "model"]
                      if m not in origin)  # fmt: skip
    models = sorted(origin)
    first = read[newest[0]].summary
    summary = pd.concat(
        [read[origin[m]].summary.loc[[m]] for m in models] + [first[first["kind"] != "model"]]
    )

    def joined(kind: str, columns: tuple[str, ...]) -> pd.DataFrame | None:
        frames = [
            frame[frame[list(columns)].map(origin.get).eq(notebook).all(axis=1)]
            for notebook, part in read.items()
            if (frame := getattr(part, kind)) is not None
        ]
        if not frames:
            return None
        frame = pd.concat(frames, ignore_index=True)
        return frame.iloc[frame["a"].map(models.index).argsort(kind="stable")].reset_index(
            drop=True
        )

    merged = digest.GroupTables(
        summary, joined("vs_baselines", ("a",)), joined("pairwise", ("a", "b")),
        joined("ablation", ("a",)),
    )  # fmt: skip
    return merged, origin


def _part(notebook: str, stem: str) -> str:
    return report_files.part_name(notebook, stem)


def summarize_tables(report_dir: str | Path) -> list[MergedGroup]:
    """Merge every group's notebook parts under ``report_dir`` into ``tables/<stem>_<kind>``
    (CSV, Markdown) and ``figures/<stem>_metrics.png``, with the pairs of models from different
    notebooks compared from their scores. Merged files of groups that no notebook has any more
    are removed; the notebooks' own files, and any other file, are left as they are."""
    from colorize_core.reporting import plots  # matplotlib only when figures are made

    report_dir = Path(report_dir)
    tables, written, groups = report_dir / "tables", set(), []
    for stem, notebooks in parts(report_dir).items():
        if not any("summary" in kinds for kinds in notebooks.values()):
            continue  # figures without tables: nothing to merge
        merged, origin = combine(tables, stem, list(notebooks))
        merged.pairwise = _all_pairs(merged.pairwise, origin, report_dir, stem)
        for kind in report_files.TABLE_KINDS:
            frame = getattr(merged, kind)
            if frame is not None and len(frame):
                write_table(frame, tables, f"{stem}_{kind}")
                written |= {tables / f"{stem}_{kind}{suffix}" for suffix in (".csv", ".md")}
        chart = plots.save_figure(
            plots.plot_metric_bars(long_form(merged.summary)),
            report_dir / "figures" / f"{stem}_metrics.png",
        )
        written.add(chart)
        figures = {
            owner: {k: p for k, p in kinds.items() if k in report_files.FIGURE_KINDS}
            for owner, kinds in notebooks.items()
        }
        groups.append(MergedGroup(digest.stem_label(stem), stem, merged, figures, chart))
    report_files.remove_unwritten(report_dir, None, written)
    return groups


def _all_pairs(
    within: pd.DataFrame | None, origin: dict[str, str], report_dir: Path, stem: str
) -> pd.DataFrame | None:
    """Every pair of the group's models in name order, as ``report.pairwise`` of all of them
    gives it: the notebooks' own rows, and the pairs across notebooks from their scores."""
    models, scored, rows = sorted(origin), {}, []
    for i, a in enumerate(models):
        for b in models[i + 1 :]:
            if origin[a] == origin[b]:
                if within is not None:
                    rows.append(within[(within["a"] == a) & (within["b"] == b)])
                continue
            for notebook in {origin[a], origin[b]} - set(scored):
                scored[notebook] = _evaluations(
                    report_dir / "scores" / f"{_part(notebook, stem)}.npz"
                )
            pair = [scored[origin[m]].get(m) for m in (a, b)]
            if None not in pair:
                rows.append(pairwise(pair))
    rows = [frame for frame in rows if len(frame)]
    return pd.concat(rows, ignore_index=True) if rows else within


def _evaluations(path: Path) -> dict[str, Evaluation]:
    """The test-split evaluations rebuilt from a notebook's scores (none if it has no file)."""
    scores = report_files.load_scores(path) if path.is_file() else {}
    return {
        name: Evaluation(name, path.stem, "test", per_image,
                         summarize(per_image, histograms=histograms), histograms)
        for name, (per_image, histograms) in scores.items()
    }  # fmt: skip


def long_form(summary: pd.DataFrame) -> pd.DataFrame:
    """A summary table's ``mean [CI]`` cells as ``plots.plot_metric_bars`` reads them (one row
    per predictor and metric it has a value for, with its kind)."""
    rows = [
        {"predictor": predictor, "metric": metric, "kind": row["kind"],
         **dict(zip(("mean", "ci_low", "ci_high"), digest.parse_cell(row[metric]), strict=True))}
        for predictor, row in summary.iterrows()
        for metric in summary.columns
        if metric in ALL_METRICS and row[metric]
    ]  # fmt: skip
    return pd.DataFrame(rows)
