"""Solutions for trainees, released after the deadline.

nbgrader has no step for this: its source notebooks hold the solutions, but also the
hidden tests, and their nbgrader metadata makes ``generate_assignment`` strip the
solutions again. :func:`write_solutions` writes, for each notebook of an assignment, a
plain notebook (``solutions/<assignment>/<notebook>-solutions.ipynb`` in the course)
with:

- every answer cell's model answer (the solution markers taken out);
- every visible test, so that the notebook runs and shows *Visible tests passed.*;
- every written answer's model answer and the grader's rubric;
- no hidden test, no nbgrader metadata (nothing is read-only, nothing is graded), no
  output.

It refuses while the gradebook gives the assignment a due date in the future: a trainee
who has not submitted yet must not see the answers.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from pathlib import Path
from typing import Any

from squad._atomic import atomic_write_text
from squad.errors import InvalidInputError, NotFoundError
from squad.grading.hidden import BEGIN_HIDDEN, hidden_lines, visible_code
from squad.grading.workspace import Course, load_course

__all__ = ["assignment_due_date", "solutions_notebook", "write_solutions"]

log = logging.getLogger("squad")

_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")
NOTE = (
    "**Solutions**, released after the deadline. Each answer cell holds the model "
    "answer, and each written answer a model answer and the rubric the graders used. "
    "The hidden tests are not included; the visible tests still run, so you can run "
    "this notebook from the top and compare it with your own."
)


def _text(source: Any) -> str:
    return "".join(source) if isinstance(source, list) else str(source or "")


def solutions_notebook(source: dict[str, Any]) -> dict[str, Any]:
    """The solutions version of a source notebook (its JSON content).

    Parameters
    ----------
    source : dict
        A source notebook of the course, as read from its ``.ipynb`` file.

    Returns
    -------
    dict
        A new notebook: model answers, visible tests and rubrics; no hidden test, no
        nbgrader metadata, no output; a first cell that says what it is.

    Raises
    ------
    squad.errors.InvalidInputError
        If a hidden test line would still be in the result.

    Examples
    --------
    >>> test = {"cell_type": "code", "metadata": {"nbgrader": {"grade": True}},
    ...         "source": "assert x == 1, 'x'\\n### BEGIN HIDDEN TESTS\\nassert x > 0, 'y'"
    ...                   "\\n### END HIDDEN TESTS", "outputs": [], "execution_count": 3}
    >>> answer = {"cell_type": "code", "metadata": {"nbgrader": {"solution": True}},
    ...           "source": "### BEGIN SOLUTION\\nx = 1\\n### END SOLUTION",
    ...           "outputs": [], "execution_count": 2}
    >>> nb = solutions_notebook({"cells": [answer, test], "metadata": {},
    ...                          "nbformat": 4, "nbformat_minor": 5})
    >>> [cell["source"] for cell in nb["cells"][1:]]
    ['x = 1', "assert x == 1, 'x'"]
    """
    sources = [_text(c.get("source")) for c in source["cells"]]
    cells: list[dict[str, Any]] = [
        {
            "cell_type": "markdown",
            "id": "solutions-note",
            "metadata": {},
            "source": NOTE,
        }
    ]
    for cell in source["cells"]:
        text = _text(cell.get("source"))
        meta = {k: v for k, v in cell.get("metadata", {}).items() if k != "nbgrader"}
        nbgrader = cell.get("metadata", {}).get("nbgrader", {})
        if cell["cell_type"] == "code":
            if nbgrader.get("solution"):
                text = "\n".join(
                    line for line in text.split("\n") if line.strip() not in _MARKERS
                )
            text, _ = visible_code(text)
            new = {**cell, "metadata": meta, "source": text.rstrip(), "outputs": []}
            new["execution_count"] = None
        else:
            new = {**cell, "metadata": meta, "source": text}
        cells.append(new)
    result = {**source, "cells": cells}
    shown = {line.strip() for c in cells for line in _text(c["source"]).split("\n")}
    leaked = [line for line in hidden_lines(sources) if line in shown]
    if leaked or any(BEGIN_HIDDEN in _text(c["source"]) for c in cells):
        msg = (
            "The solutions would show hidden test code "
            f"({(leaked or [BEGIN_HIDDEN])[0]!r}); check the hidden-test markers of the "
            "source notebook."
        )
        raise InvalidInputError(msg)
    return result


def assignment_due_date(course: Course, assignment: str) -> dt.datetime | None:
    """The assignment's due date in the course's gradebook (UTC), or None if it has none.

    A course without a gradebook yet has no due date; the gradebook is not created.
    """
    url = course.db_url
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///") :]).is_file():
        return None
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(url, course.course_id) as gb:
        try:
            due = gb.find_assignment(assignment).duedate
        except MissingEntry:
            return None
    return None if due is None else due.replace(tzinfo=dt.UTC)


def write_solutions(
    assignment: str,
    *,
    course: str | os.PathLike[str] | None = None,
    out: str | os.PathLike[str] | None = None,
    before_deadline: bool = False,
    now: dt.datetime | None = None,
) -> list[Path]:
    """Write the solutions notebooks of an assignment, for trainees.

    Parameters
    ----------
    assignment : str
        The assignment (a folder of the course's ``source/``).
    course : path-like, default=None
        The course folder (see :func:`squad.grading.workspace.load_course`).
    out : path-like, default=None
        Folder to write into; None means ``solutions/<assignment>/`` in the course.
    before_deadline : bool, default=False
        Write them even if the assignment's due date (in the gradebook) is still to
        come, for the instructors' own use.
    now : datetime, default=None
        The current time (UTC); None reads the clock.

    Returns
    -------
    list of pathlib.Path
        The notebooks written, ``<notebook>-solutions.ipynb``.

    Raises
    ------
    KeyError
        If the assignment is not in the course.
    ValueError
        If the assignment is not due yet (and ``before_deadline`` is False).
    """
    course_obj = load_course(course)
    folder = course_obj.root / "source" / assignment
    notebooks = sorted(folder.glob("*.ipynb")) if folder.is_dir() else []
    if not notebooks:
        available = sorted(
            p.name for p in (course_obj.root / "source").iterdir() if p.is_dir()
        )
        msg = (
            f"Assignment '{assignment}' is not in {course_obj.root / 'source'}. "
            f"Available: {', '.join(available)}."
        )
        raise NotFoundError(msg)
    due = assignment_due_date(course_obj, assignment)
    now = now or dt.datetime.now(dt.UTC)
    if due is not None and now < due and not before_deadline:
        msg = (
            f"Assignment '{assignment}' is due on {due:%Y-%m-%d %H:%M} UTC: release its "
            "solutions after the deadline (or pass --before-deadline to write them for "
            "the instructors now)."
        )
        raise InvalidInputError(msg)
    target = (
        Path(out) if out is not None else course_obj.root / "solutions" / assignment
    )
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for path in notebooks:
        nb = solutions_notebook(json.loads(path.read_text(encoding="utf-8")))
        dest = target / f"{path.stem}-solutions.ipynb"
        atomic_write_text(dest, json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
        log.info("Wrote the solutions of %s: %s", assignment, dest)
        written.append(dest)
    return written
