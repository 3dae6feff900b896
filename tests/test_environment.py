"""pyproject.toml and environment.yml describe one environment; the CI script runs the README's;
results name the commit they came from."""

import subprocess
import sys

import torch
import yaml
from conftest import REPO  # pytest puts tests/ on sys.path

from colorize_core.training.device import cpu_has_bf16, use_bf16
from colorize_core.training.provenance import COMMIT_AT_IMPORT, git_commit, provenance

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = REPO


def test_environment_yml_lists_the_same_packages_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    expected = project["dependencies"] + project["optional-dependencies"]["dev"]
    conda = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in conda["dependencies"] if isinstance(d, dict))
    listed = [line for line in pip_section if not line.startswith("--editable")]
    assert sorted(listed) == sorted(expected)
    assert "--editable ." in pip_section
    python = next(d for d in conda["dependencies"] if isinstance(d, str) and d.startswith("python"))
    assert python.replace("python", "") == project["requires-python"]


def test_ci_runs_exactly_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme.split("\n## ")[0], "README's first section gives the test command"
    assert "make suite" in readme.split("\n## ")[0], (
        "README's first section gives the suite command"
    )
    commands = [
        line.strip() for line in ci.splitlines() if line.strip() and not line.startswith("#")
    ]
    assert commands[-1] == "make test"


def test_provenance_names_the_checked_out_commit():
    head = subprocess.run(
        ["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    commit = git_commit()
    assert commit is not None and len(head) == 12
    assert commit in (head, f"{head}-dirty")
    assert provenance()["commit"] == COMMIT_AT_IMPORT == commit  # the code imported is HEAD's


def test_provenance_names_the_cpu_and_whether_training_used_bf16_on_it():
    origin = provenance("cpu")
    assert origin["cpu"] and isinstance(origin["cpu"], str)
    assert origin["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert origin["cpu_bf16"] is cpu_has_bf16() is use_bf16("auto", torch.device("cpu"))
