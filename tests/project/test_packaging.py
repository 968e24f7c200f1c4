"""The two install routes (pip + pyproject.toml, conda + environment.yml) name the same packages."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


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


def test_squad_help_imports_neither_pandas_nor_numpy():
    """`squad --help` starts light: the heavy libraries load only when a command needs them."""
    code = (
        "import sys\n"
        "from squad.cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in ('pandas', 'numpy') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert "Usage: " in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_import_squad_is_light_and_names_load_on_use():
    """`import squad` loads no data library; `squad.load_dataset` and the short names work."""
    code = (
        "import sys, squad\n"
        "light = not {'pandas', 'numpy'} & set(sys.modules)\n"
        "from squad import metrics\n"
        "import squad.models\n"
        "print(light, callable(squad.record), callable(squad.load_dataset),\n"
        "      metrics is sys.modules['squad.evaluation.metrics'],\n"
        "      squad.models is sys.modules['squad.tasks.registry'])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["True"] * 5


def test_grading_workers_validate_notebooks_without_the_slow_iri_parsers():
    """Workers import nbformat but never compile rfc3987_syntax's parsers (seconds)."""
    code = (
        "import sys, squad.grading.worker, squad.workers, nbformat\n"
        "nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('1')])\n"
        "nbformat.validate(nb)\n"
        "bad = nbformat.v4.new_notebook(); bad.cells.append({'cell_type': 'x'})\n"
        "try:\n    nbformat.validate(bad)\nexcept nbformat.ValidationError:\n"
        "    print('invalid found')\n"
        "print(sys.modules.get('rfc3987_syntax', 'absent'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["invalid", "found", "None"]
