"""Group keys, labels and file names: mixtures limited per source, and who owns which file."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from colorize_core.data.paths import shown_path
from colorize_core.reporting import digest, report, report_files
from colorize_core.reporting.report import Run
from colorize_core.training.config import ExperimentConfig

MIXTURE = "photos_wild+faces_wild+landscapes"


def run(**params) -> Run:
    config = ExperimentConfig.from_params(image_size=64, **params)
    return Run(Path(config.name), config, {}, pd.DataFrame(), pd.DataFrame())


def test_a_mixture_limited_per_source_groups_labels_and_names_its_files():
    general = run(name="general", dataset=MIXTURE, limit={"landscapes": 1500})
    same = run(name="other", dataset=MIXTURE, limit={"landscapes": 1500})
    groups = report.group_runs([general, same])  # a dict limit in a key: hashable
    assert list(groups) == [(MIXTURE, 64, (("landscapes", 1500),), 0)]
    (group,) = groups
    label = report.group_label(group)
    assert label == f"{MIXTURE}, 64 px, first 1500 landscapes images, seed 0"
    stem = report.group_stem(group)
    assert stem == "photos_wild-faces_wild-landscapes_64px_1500landscapes_seed0"
    assert digest.stem_label(stem) == label
    assert report_files.parse(Path(f"tables/general_colour__{stem}_summary.csv")) == (
        report_files.GroupFile(Path(f"tables/general_colour__{stem}_summary.csv"),
                               "general_colour", stem, "summary")
    )  # fmt: skip

    several = run(name="x", dataset=MIXTURE, limit={"landscapes": 60, "photos_wild": 50})
    (key,) = report.group_runs([several])
    assert key[2] == (("photos_wild", 50), ("landscapes", 60))  # the mixture's order
    assert digest.stem_label(report.group_stem(key)) == report.group_label(key) == (
        f"{MIXTURE}, 64 px, first 50 photos_wild and 60 landscapes images, seed 0"
    )  # fmt: skip
    each = run(name="y", dataset=MIXTURE, limit=60)
    assert "first 60 images of each source" in report.group_label(each.group)
    assert run(name="z", dataset=MIXTURE, limit={}).group == run(name="w", dataset=MIXTURE).group


@pytest.mark.parametrize(
    ("name", "owner", "stem"),
    [
        ("faces_cnn__faces_32px_60_seed0_summary.csv", "faces_cnn", "faces_32px_60_seed0"),
        ("faces_32px_60_seed0_summary.csv", None, "faces_32px_60_seed0"),
        ("folder-my__photos-1a2b3c4d_32px_all_seed0_summary.csv", None,
         "folder-my__photos-1a2b3c4d_32px_all_seed0"),  # a folder's "__" names no notebook
        ("vivid_targets_landscapes_classification.csv", None, None),
        ("general_domains.csv", None, None),
        ("faces_cnn__faces_32px_60_seed0_summary.txt", None, None),
    ],
)  # fmt: skip
def test_group_file_names(name, owner, stem):
    found = report_files.parse(Path(name))
    assert (found and (found.owner, found.stem)) == ((owner, stem) if stem else None)


def test_only_the_owner_removes_its_files(tmp_path):
    stem = "faces_32px_60_seed0"
    names = [f"tables/a__{stem}_summary.csv", f"tables/a__{stem}_summary.md",
             f"figures/a__{stem}_curves.png", f"scores/a__{stem}.npz",
             f"tables/b__{stem}_summary.csv", f"tables/{stem}_summary.csv",
             "tables/vivid_targets_x.csv", "figures/general_domains.jpg"]  # fmt: skip
    for name in names:
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("x")
    report_files.remove_unwritten(tmp_path, "a", {tmp_path / names[0]})
    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert left == sorted(n for n in names if n == names[0] or "/a__" not in n)
    report_files.remove_unwritten(tmp_path, None, set())
    assert not (tmp_path / f"tables/{stem}_summary.csv").exists()
    assert (tmp_path / names[0]).exists() and (tmp_path / "tables/vivid_targets_x.csv").exists()
    with pytest.raises(ValueError, match="notebook"):
        report.write_group_reports([], tmp_path, notebook="a__b")


def test_paths_are_shown_without_the_machines_folders(tmp_path, monkeypatch):
    data, cache, work = tmp_path / "shared" / "datasets", tmp_path / "cache", tmp_path / "work"
    for folder in (data, cache, work):
        folder.mkdir(parents=True)
    monkeypatch.setenv("COLORIZE_DATA", str(data))
    monkeypatch.setenv("COLORIZE_CACHE", str(cache))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(work)
    assert shown_path(data / "faces" / "images") == "$COLORIZE_DATA/faces/images"
    assert shown_path(data) == "$COLORIZE_DATA"
    assert shown_path(cache / "faces-32px-ab.pt") == "$COLORIZE_CACHE/faces-32px-ab.pt"
    assert shown_path(work / "results" / "run") == "results/run"
    assert shown_path(tmp_path / "results" / "run") == "../results/run"  # beside the notebook
    assert shown_path("results/run") == "results/run"
    assert shown_path(tmp_path / "home" / "photos") == "../home/photos"
    monkeypatch.chdir("/")
    assert shown_path(tmp_path / "home" / "photos") == "~/photos"
    assert shown_path(report.__file__) == "<checkout>/colorize_core/reporting/report.py"
    assert shown_path(b"/opt/x\xff".decode("utf-8", "surrogateescape")) == "/opt/x\\xff"
