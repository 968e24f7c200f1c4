"""The two install routes (pip + pyproject.toml, conda + environment.yml) name the same packages."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _name(requirement: str) -> str:
    return (
        re.split(r"[<>=!~\[ ;]", requirement.strip(), maxsplit=1)[0]
        .lower()
        .replace("_", "-")
    )


def test_environment_yml_matches_pyproject_dependencies():
    """Every runtime dependency is in environment.yml (conda or its pip section) and vice versa."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))[
        "project"
    ]
    wanted = {_name(r) for r in project["dependencies"]}
    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    conda, pip = set(), set()
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            pip |= {_name(r) for r in dep["pip"] if not r.startswith("-e")}
        else:
            conda.add(_name(dep))
    conda -= {"python", "pip"}
    assert conda | pip == wanted, (
        f"only in pyproject: {wanted - conda - pip}; only in environment.yml: {(conda | pip) - wanted}"
    )


def test_ci_runs_the_readme_test_command():
    """.ci/run calls `make test`, the command the README gives."""
    assert "make test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make run" in readme and "make test" in readme
