"""The package's layout: one subpackage per stage, and imports that point only down the chain."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "colorize_core"
# The order colorize_core/__init__.py describes: a stage may import itself and the stages before it.
STAGES = ("data", "models", "training", "evaluation", "runs", "reporting", "apps")
MODULES = sorted(PACKAGE.rglob("*.py"))


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path, source: str | None = None) -> set[str]:
    """The colorize_core modules and packages that ``path`` (or ``source`` placed at ``path``)
    imports, relative imports resolved."""
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    names = set()
    for node in ast.walk(ast.parse(source if source is not None else path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            if node.module is None:  # from . import a, b: each name is a module
                names.update(f"{module}.{alias.name}" for alias in node.names)
            else:
                names.add(module)
    return {name for name in names if name.split(".")[0] == "colorize_core"}


def stage(module: str) -> int | None:
    """Position of ``module``'s stage in ``STAGES``; None for the package root."""
    parts = module.split(".")
    return STAGES.index(parts[1]) if len(parts) > 1 else None


def test_every_module_belongs_to_a_stage():
    outside = [
        module_name(path)
        for path in MODULES
        if path.parent == PACKAGE
        and path.name != "__init__.py"
        or path.parent != PACKAGE
        and path.relative_to(PACKAGE).parts[0] not in STAGES
    ]
    assert outside == [], f"modules outside the stages {STAGES}: {outside}"
    assert all((PACKAGE / name / "__init__.py").is_file() for name in STAGES)


@pytest.mark.parametrize("path", MODULES, ids=[module_name(p) for p in MODULES])
def test_imports_point_down_the_chain(path):
    own = stage(module_name(path))
    if own is None:  # the root holds only the map and the version, and imports nothing of ours
        assert imported(path) == set()
        return
    upward = sorted(name for name in imported(path) if (stage(name) or 0) > own)
    assert upward == [], (
        f"{module_name(path)} ({STAGES[own]}) imports from later stages: {upward}; "
        "move the shared piece down to the earliest stage that needs it"
    )


def test_the_check_sees_upward_imports_absolute_and_relative():
    place = PACKAGE / "data" / "probe.py"
    source = (
        "from colorize_core.reporting import plots\nfrom ..apps import infer\nfrom . import color\n"
    )
    names = imported(place, source)
    assert names == {"colorize_core.reporting", "colorize_core.apps", "colorize_core.data.color"}
    later = {name for name in names if stage(name) > stage("colorize_core.data.probe")}
    assert later == {"colorize_core.reporting", "colorize_core.apps"}
