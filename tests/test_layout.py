"""The package's layout: one subpackage per stage, imports that point only down the chain, and
no module that imports itself through others."""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

import pytest
from conftest import REPO  # pytest puts tests/ on sys.path

PACKAGE = REPO / "colorize_core"
# The order colorize_core/__init__.py describes: a stage may import itself and the stages before it.
STAGES = ("data", "models", "training", "evaluation", "runs", "reporting", "apps", "bench")
MODULES = sorted(PACKAGE.rglob("*.py"))


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path, source: str | None = None, modules: Iterable[str] = ()) -> set[str]:
    """The colorize_core modules and packages that ``path`` (or ``source`` placed at ``path``)
    imports, relative imports resolved; ``from package import name`` is the module
    ``package.name`` where ``modules`` holds it, else ``package``."""
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    modules = set(modules)
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
                inside = {f"{module}.{alias.name}" for alias in node.names} & modules
                names.update(inside or {module})
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
        "from colorize_core.reporting import plots\nfrom ..apps import cli\nfrom . import color\n"
    )
    names = imported(place, source)
    assert names == {"colorize_core.reporting", "colorize_core.apps", "colorize_core.data.color"}
    later = {name for name in names if stage(name) > stage("colorize_core.data.probe")}
    assert later == {"colorize_core.reporting", "colorize_core.apps"}
    modules = {module_name(path) for path in MODULES}
    assert imported(place, source, modules) == {
        "colorize_core.reporting.plots", "colorize_core.apps.cli", "colorize_core.data.color"
    }  # fmt: skip


# ---------------------------------------------------------------- no circles


def import_graph(sources: dict[Path, str | None]) -> dict[str, set[str]]:
    """Module -> the colorize_core modules it imports (anywhere in it, functions too), for the
    files ``sources`` (path -> source, None: the file's own).

    A package's ``__init__`` importing modules inside it is left out: a package always runs
    before its modules, whichever is imported first, so a registry filled by its modules
    (``models/__init__.py``) does not depend on import order, as a circle between modules does.
    """
    modules = {module_name(path) for path in sources}
    graph = {}
    for path, source in sources.items():
        name = module_name(path)
        names = imported(path, source, modules)
        if path.name == "__init__.py":
            names = {other for other in names if not other.startswith(name + ".")}
        graph[name] = names & modules
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that import each other, directly or through others, sorted."""
    reach = {}
    for start in graph:
        seen, todo = set(), list(graph[start])
        while todo:
            module = todo.pop()
            if module not in seen:
                seen.add(module)
                todo += graph.get(module, ())
        reach[start] = seen
    groups = {frozenset(m for m in reach[start] if start in reach[m]) for start in graph}
    return sorted(sorted(group) for group in groups if group)


def test_no_module_imports_itself_through_others():
    found = circles(import_graph(dict.fromkeys(MODULES)))
    assert found == [], (
        f"import circles: {found}; move what both sides need into a module that both import, "
        "or let the lower module stop knowing the higher one (e.g. a command that dispatches)"
    )


def test_the_check_sees_a_circle_but_not_a_registry():
    apps = PACKAGE / "apps"
    low = "import colorize_core.data.color\nfrom colorize_core.apps import probe_high\n"
    probes = {
        apps / "probe_low.py": low,
        apps / "probe_high.py": "def later():\n    from . import probe_low\n",
        apps / "probe_user.py": "from colorize_core.apps import probe_low\n",
    }
    graph = import_graph({**dict.fromkeys(MODULES), **probes})
    assert circles(graph) == [["colorize_core.apps.probe_high", "colorize_core.apps.probe_low"]]
    # models/__init__.py imports its architectures, and they import its ``register``
    assert "colorize_core.models" in graph["colorize_core.models.cnn8"]
    assert "colorize_core.models.cnn8" not in graph["colorize_core.models"]
