"""The "Coffee and Coding" course: build and check its nbgrader assignments.

The course lives in the kit's ``exercises/`` folder: ``nbgrader_config.py`` and one folder per
assignment under ``source/``. Instructors keep using nbgrader's own commands; this module only
runs the steps the kit needs often (regenerating every release notebook) and the checks its
tests share (every graded cell has valid metadata, no release notebook leaks a solution).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import sysconfig
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from squad._imports import masked_entry_point
from squad.errors import (
    InvalidInputError,
    MissingFileError,
    NotFoundError,
    ToolFailedError,
)

__all__ = [
    "SOLUTION_MARKERS",
    "assignment_points",
    "build_course",
    "check_release",
    "check_source_metadata",
    "find_course_dir",
    "list_assignments",
    "nbgrader_command",
    "nbgrader_env",
    "run_nbgrader",
]

logger = logging.getLogger("squad")

#: Text that marks instructor-only content; none of it may reach a release notebook.
SOLUTION_MARKERS = (
    "### BEGIN SOLUTION",
    "### END SOLUTION",
    "### BEGIN HIDDEN TESTS",
    "### END HIDDEN TESTS",
)

_CONFIG_NAME = "nbgrader_config.py"


def find_course_dir(course_dir: str | os.PathLike[str] | None = None) -> Path:
    """Return the course folder, checked to hold an nbgrader course.

    Parameters
    ----------
    course_dir : path-like, default=None
        The folder holding ``nbgrader_config.py`` and ``source/``. ``None`` means the
        ``SQUAD_COURSE_DIR`` environment variable, else ``exercises/`` in the current folder.

    Returns
    -------
    pathlib.Path
        The absolute course folder.

    Raises
    ------
    FileNotFoundError
        If the folder has no ``nbgrader_config.py`` or no ``source/`` folder.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> (root / "source").mkdir()
    >>> _ = (root / "nbgrader_config.py").write_text("c = get_config()\\n")
    >>> find_course_dir(root) == root.resolve()
    True
    """
    if course_dir is None:
        course_dir = os.environ.get("SQUAD_COURSE_DIR") or Path.cwd() / "exercises"
    path = Path(course_dir).expanduser().resolve()
    for needed in (_CONFIG_NAME, "source"):
        if not (path / needed).exists():
            msg = (
                f"Course folder '{path}' has no {needed}. Pass the folder that holds "
                f"the course (the kit's exercises/), e.g. --course exercises."
            )
            raise MissingFileError(msg)
    return path


def list_assignments(course_dir: str | os.PathLike[str] | None = None) -> list[str]:
    """List the assignments of a course: the folders in ``source/`` holding a notebook.

    Parameters
    ----------
    course_dir : path-like, default=None
        The course folder (see `find_course_dir`).

    Returns
    -------
    list of str
        Assignment names, sorted (the kit numbers them in teaching order).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (root / "nbgrader_config.py").write_text("c = get_config()\\n")
    >>> (root / "source" / "02-b").mkdir(parents=True)
    >>> (root / "source" / "01-a").mkdir()
    >>> _ = (root / "source" / "02-b" / "b.ipynb").write_text("{}")
    >>> _ = (root / "source" / "01-a" / "a.ipynb").write_text("{}")
    >>> list_assignments(root)
    ['01-a', '02-b']
    """
    source = find_course_dir(course_dir) / "source"
    return sorted(
        p.name for p in source.iterdir() if p.is_dir() and any(p.glob("*.ipynb"))
    )


def nbgrader_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return an environment for nbgrader commands run by this interpreter.

    Parameters
    ----------
    base : mapping, default=None
        The environment to start from; ``None`` means ``os.environ``.

    Returns
    -------
    dict
        ``base`` with this environment's scripts folder first on ``PATH``: nbgrader runs
        the ``alembic`` command when it creates a gradebook, and a virtual environment
        that is not activated would not find it.

    Examples
    --------
    >>> env = nbgrader_env({"PATH": "/usr/bin"})
    >>> env["PATH"].endswith(os.pathsep + "/usr/bin")
    True
    """
    env = dict(os.environ if base is None else base)
    scripts = sysconfig.get_path("scripts")
    env["PATH"] = os.pathsep.join(p for p in (scripts, env.get("PATH", "")) if p)
    return env


_NBGRADER_MAIN = masked_entry_point(
    sys.executable,
    "nbgrader.apps.nbgraderapp:main",
    "nbgrader",
    prelude="from squad._imports import read_gradebook_revision_in_process; "
    "read_gradebook_revision_in_process(); ",
)


def nbgrader_command(args: Sequence[str]) -> list[str]:
    """Return the command line that runs ``nbgrader <args>`` with this interpreter.

    It calls the entry point of nbgrader's own ``nbgrader`` script, with the slow
    optional imports masked and a new gradebook's schema revision read without the
    ``alembic`` command (see :mod:`squad._imports`).

    Parameters
    ----------
    args : sequence of str
        The nbgrader sub-command and its arguments.

    Returns
    -------
    list of str
        A command for `subprocess.run`.

    Examples
    --------
    >>> nbgrader_command(["validate", "a.ipynb"])[-2:]
    ['validate', 'a.ipynb']
    """
    return [*_NBGRADER_MAIN, *args]


def run_nbgrader(
    args: Sequence[str], *, course_dir: str | os.PathLike[str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run one ``nbgrader`` command inside the course folder.

    The command runs with this interpreter, so notebooks are executed by the same
    environment that has ``squad`` installed, and with `nbgrader_env`.

    Parameters
    ----------
    args : sequence of str
        The command and its arguments, e.g. ``["generate_assignment", "01-survey-microdata"]``.
    course_dir : path-like, default=None
        The course folder (see `find_course_dir`).

    Returns
    -------
    subprocess.CompletedProcess
        With the captured ``stdout`` and ``stderr`` (nbgrader logs to stderr).

    Raises
    ------
    ChildProcessError
        If nbgrader exits with a non-zero status; the message ends with its last log line.
    """
    root = find_course_dir(course_dir)
    logger.info("Running nbgrader %s in %s", " ".join(args), root)
    result = subprocess.run(
        nbgrader_command(args),
        cwd=root,
        env=nbgrader_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        lines = [
            ln for ln in (result.stderr + result.stdout).splitlines() if ln.strip()
        ]
        last = lines[-1].strip() if lines else "no output"
        msg = (
            f"nbgrader {' '.join(args)} failed with exit status {result.returncode} "
            f"in '{root}': {last}. Run the same command there to see the whole log."
        )
        raise ToolFailedError(msg)
    return result


def build_course(
    course_dir: str | os.PathLike[str] | None = None,
    *,
    assignments: Iterable[str] | None = None,
) -> list[Path]:
    """Regenerate the release notebooks of a course with ``nbgrader generate_assignment``.

    Each assignment's ``release/`` folder is rebuilt from ``source/`` (``--force``), the
    gradebook records its graded cells, and the result is checked: no release notebook
    may contain solution code or hidden tests.

    Parameters
    ----------
    course_dir : path-like, default=None
        The course folder (see `find_course_dir`).
    assignments : iterable of str, default=None
        Assignments to build; ``None`` builds every one in ``source/``.

    Returns
    -------
    list of pathlib.Path
        The release notebooks written.

    Raises
    ------
    KeyError
        If an assignment is not in ``source/``.
    ChildProcessError
        If nbgrader fails.
    ValueError
        If a release notebook still holds instructor-only content.
    """
    root = find_course_dir(course_dir)
    available = list_assignments(root)
    wanted = available if assignments is None else list(assignments)
    unknown = [name for name in wanted if name not in available]
    if unknown:
        msg = (
            f"Assignment '{unknown[0]}' is not in {root / 'source'}. "
            f"Available: {', '.join(available)}."
        )
        raise NotFoundError(msg)
    (root / "exchange").mkdir(exist_ok=True)
    # One nbgrader process for the whole course when possible: each start costs seconds.
    batches = [["*"]] if assignments is None else [[name] for name in wanted]
    for batch in batches:
        run_nbgrader(["generate_assignment", *batch, "--force"], course_dir=root)
    released: list[Path] = []
    for name in wanted:
        notebooks = sorted((root / "release" / name).glob("*.ipynb"))
        for notebook in notebooks:
            problems = check_release(notebook)
            if problems:
                msg = f"Release notebook '{notebook}' is not safe to hand out: {problems[0]}"
                raise InvalidInputError(msg)
        logger.info("Built %s: %d notebook(s)", name, len(notebooks))
        released.extend(notebooks)
    return released


def _read(notebook: str | os.PathLike[str] | dict[str, Any]) -> dict[str, Any]:
    if isinstance(notebook, dict):
        return notebook
    return json.loads(Path(notebook).read_text(encoding="utf-8"))


def _source(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def check_release(notebook: str | os.PathLike[str] | dict[str, Any]) -> list[str]:
    """List what a release notebook must not contain.

    A release notebook must hold no solution or hidden-test markers, and every
    autograded answer cell must hold nbgrader's stub (``raise NotImplementedError()``),
    every written answer its placeholder text.

    Parameters
    ----------
    notebook : path-like or dict
        A release notebook file, or its JSON content.

    Returns
    -------
    list of str
        One line per problem; empty when the notebook is safe to hand out.

    Examples
    --------
    >>> cell = {"cell_type": "code", "source": "### BEGIN SOLUTION\\nx = 1",
    ...         "metadata": {"nbgrader": {"solution": True, "grade_id": "q1"}}}
    >>> check_release({"cells": [cell]})[0]
    "cell 'q1' contains '### BEGIN SOLUTION'"
    """
    problems = []
    for index, cell in enumerate(_read(notebook)["cells"]):
        text = _source(cell)
        meta = cell.get("metadata", {}).get("nbgrader", {})
        name = meta.get("grade_id", f"#{index}")
        problems += [
            f"cell '{name}' contains '{m}'" for m in SOLUTION_MARKERS if m in text
        ]
        if not meta.get("solution"):
            continue
        if cell["cell_type"] == "code" and "raise NotImplementedError()" not in text:
            problems.append(
                f"answer cell '{name}' has no 'raise NotImplementedError()' stub"
            )
        if cell["cell_type"] == "markdown" and text.strip() != "YOUR ANSWER HERE":
            problems.append(
                f"written answer '{name}' is not the 'YOUR ANSWER HERE' stub"
            )
    return problems


def check_source_metadata(
    notebook: str | os.PathLike[str] | dict[str, Any],
) -> list[str]:
    """List problems with the nbgrader metadata of a source notebook.

    Checks that grade ids are present and unique, that graded cells carry positive points,
    that test and read-only cells are locked, that ``schema_version`` is 3, and that answer
    cells hold solution markers (code) or a model answer (markdown).

    Parameters
    ----------
    notebook : path-like or dict
        A source notebook file, or its JSON content.

    Returns
    -------
    list of str
        One line per problem; empty when the metadata is valid.

    Examples
    --------
    >>> meta = {"grade": True, "solution": False, "locked": True, "grade_id": "t",
    ...         "schema_version": 3}
    >>> cell = {"cell_type": "code", "source": "assert True, 'x'",
    ...         "metadata": {"nbgrader": meta}}
    >>> check_source_metadata({"cells": [cell]})
    ["graded cell 't' has no positive 'points'"]
    """
    problems = []
    seen: set[str] = set()
    for index, cell in enumerate(_read(notebook)["cells"]):
        meta = cell.get("metadata", {}).get("nbgrader")
        if meta is None:
            continue
        name = meta.get("grade_id")
        if not name:
            problems.append(f"cell #{index} has nbgrader metadata but no grade_id")
            continue
        if name in seen:
            problems.append(f"grade_id '{name}' is used twice")
        seen.add(name)
        if meta.get("schema_version") != 3:
            problems.append(
                f"cell '{name}' has schema_version {meta.get('schema_version')}"
            )
        graded, solution = bool(meta.get("grade")), bool(meta.get("solution"))
        points = meta.get("points")
        if graded and not (isinstance(points, int | float) and points > 0):
            problems.append(f"graded cell '{name}' has no positive 'points'")
        text = _source(cell)
        is_code = cell["cell_type"] == "code"
        if graded and not solution and (not is_code or not meta.get("locked")):
            problems.append(f"test cell '{name}' must be a locked code cell")
        if solution and is_code and "### BEGIN SOLUTION" not in text:
            problems.append(f"answer cell '{name}' has no '### BEGIN SOLUTION' block")
        if solution and not is_code and not text.strip():
            problems.append(f"written answer '{name}' has no model answer")
    return problems


def assignment_points(
    notebook: str | os.PathLike[str] | dict[str, Any],
) -> dict[str, float]:
    """Sum the points of a notebook's graded cells.

    Parameters
    ----------
    notebook : path-like or dict
        A source or release notebook file, or its JSON content.

    Returns
    -------
    dict
        ``{"auto": ..., "manual": ..., "total": ...}``: points of autograded test cells,
        of hand-graded answers, and both.

    Examples
    --------
    >>> test = {"cell_type": "code", "source": "",
    ...         "metadata": {"nbgrader": {"grade": True, "solution": False, "points": 2}}}
    >>> essay = {"cell_type": "markdown", "source": "",
    ...          "metadata": {"nbgrader": {"grade": True, "solution": True, "points": 3}}}
    >>> assignment_points({"cells": [test, essay]})
    {'auto': 2.0, 'manual': 3.0, 'total': 5.0}
    """
    auto = manual = 0.0
    for cell in _read(notebook)["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if not meta.get("grade"):
            continue
        if meta.get("solution"):
            manual += float(meta.get("points", 0))
        else:
            auto += float(meta.get("points", 0))
    return {"auto": auto, "manual": manual, "total": auto + manual}
