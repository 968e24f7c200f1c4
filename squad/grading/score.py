"""The score of a submission: each graded cell's points, result and message.

Read from the gradebook (points, manual scores, comments) and the autograded notebook
(each test's outputs, read the way nbgrader's ``determine_grade`` reads them). A
submission's score is nbgrader's: the sum of its grades, before any late penalty
(:func:`submission_score`). Messages and tracebacks that quote hidden test code are
withheld (see :mod:`squad.grading.hidden`).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from squad.grading.hidden import (
    BEGIN_HIDDEN,
    END_HIDDEN,
    WITHHELD,
    assert_messages,
    hidden_lines,
    scrub,
    visible_code,
)

__all__ = [
    "AssignmentSources",
    "assignment_sources",
    "submission_results",
    "submission_score",
]

log = logging.getLogger("squad")

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _verdict(cell: Any) -> tuple[str, str, list[str]]:
    """Read a test cell's outputs the way nbgrader's ``determine_grade`` does."""
    from squad.grading.execute import TAMPERED

    for output in cell.get("outputs", []):
        kind = output.get("output_type")
        if kind == "error":
            ename, evalue = output.get("ename", ""), output.get("evalue", "")
            if ename == TAMPERED:
                return "failed", f"tampering detected: {evalue}", []
            message = f"{ename}: {evalue}" if evalue else ename
            trace = [_ANSI.sub("", line) for line in output.get("traceback", [])]
            return "failed", message, trace
        if kind == "stream" and output.get("name") == "stderr":
            first = (output.get("text", "").strip().splitlines() or [""])[0]
            message = "wrote to stderr (nbgrader scores any stderr output zero)"
            return "failed", f"{message}: {first[:200]}", []
        if kind == "execute_result":
            value = output.get("data", {}).get("text/plain", "")
            return "partial", f"partial credit: the test returned {value}", []
    return "passed", "", []


@dataclasses.dataclass(frozen=True)
class AssignmentSources:
    """What every student's results need from the assignment's source cells.

    Read once per assignment (:func:`assignment_sources`), not once per student.
    """

    notebooks: tuple[str, ...]
    code: dict[tuple[str, str], str]
    secret: list[str]
    allowed: dict[tuple[str, str], frozenset[str]]
    #: The assignment's points (every submission's ``max_score`` in nbgrader).
    max_score: float = 0.0


def assignment_sources(
    gradebook: Any,
    assignment: str,
    *,
    begin: str = BEGIN_HIDDEN,
    end: str = END_HIDDEN,
) -> AssignmentSources:
    """The assignment's notebooks, source cells, hidden lines and assert messages.

    Parameters
    ----------
    gradebook : nbgrader.api.Gradebook
    assignment : str
    begin, end : str
        Hidden-test delimiters.

    Returns
    -------
    AssignmentSources
        ``code`` and ``allowed`` are keyed by (notebook, cell name).
    """
    found = gradebook.find_assignment(assignment)
    notebooks = found.notebooks
    code = {
        (nb.name, cell.name): cell.source or ""
        for nb in notebooks
        for cell in nb.source_cells
    }
    return AssignmentSources(
        notebooks=tuple(nb.name for nb in notebooks),
        code=code,
        secret=hidden_lines(code.values(), begin, end),
        allowed={key: frozenset(assert_messages(text)) for key, text in code.items()},
        max_score=float(found.max_score),
    )


def submission_results(
    gradebook: Any,
    assignment: str,
    student: str,
    autograded: str | os.PathLike[str],
    *,
    begin: str = BEGIN_HIDDEN,
    end: str = END_HIDDEN,
    sources: AssignmentSources | None = None,
) -> list[dict[str, Any]]:
    """Every graded cell of one student's submission, with its result and message.

    Parameters
    ----------
    gradebook : nbgrader.api.Gradebook
    assignment, student : str
    autograded : path-like
        ``autograded/<student>/<assignment>/``.
    begin, end : str
        Hidden-test delimiters.
    sources : AssignmentSources, default=None
        From :func:`assignment_sources` with the same delimiters, when several
        students' results are read; None reads them here.

    Returns
    -------
    list of dict
        Keys: ``notebook``, ``grade_id``, ``kind`` (code or markdown), ``score``,
        ``max_score``, ``status`` (passed, partial, failed, missing, manual,
        no response), ``message``, ``traceback`` (empty for hidden tests), ``hidden``,
        ``code`` (the visible part), ``comments`` (grader comments of the notebook).
    """
    import nbformat
    from nbgrader.api import MissingEntry

    results = []
    if sources is None:
        sources = assignment_sources(gradebook, assignment, begin=begin, end=end)
    secret = sources.secret
    for notebook in sources.notebooks:
        try:
            submitted = gradebook.find_submission_notebook(
                notebook, assignment, student
            )
        except MissingEntry:
            continue
        path = Path(autograded) / f"{notebook}.ipynb"
        cells, order = {}, {}
        if path.is_file():  # written by nbgrader: v4, no need to validate it again
            nb = nbformat.v4.reads(path.read_text("utf-8"))
            for index, cell in enumerate(nb.cells):
                grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
                if grade_id:
                    cells[grade_id], order[grade_id] = cell, index
        comments = {c.name: c.comment for c in submitted.comments if c.comment}
        grades = sorted(
            _grades(gradebook, submitted),
            key=lambda g: (order.get(g.name, 1e9), g.name),
        )
        for grade in grades:
            key = (notebook, grade.name)
            code, hidden = visible_code(sources.code[key], begin, end)
            score, top = float(grade.score), float(grade.max_score)
            cell = cells.get(grade.name)
            trace: list[str] = []
            if grade.cell_type != "code":
                code, hidden = "", False
                if grade.manual_score is None and grade.needs_manual_grade:
                    status, message = "manual", "waiting for a grader"
                elif grade.manual_score is None and not grade.auto_score:
                    status, message = "no response", "no answer was written"
                else:
                    status, message = _by_score(score, top), "graded by hand"
            elif cell is None:
                status = "missing"
                message = "the test cell is missing from the submitted notebook"
            else:
                status, message, trace = _verdict(cell)
                if status == "partial" or grade.manual_score is not None:
                    status = _by_score(score, top)
                if grade.manual_score is not None:
                    message = "score set by a grader"
                message, withheld = scrub(message, secret, allowed=sources.allowed[key])
                if trace and scrub("\n".join(trace), secret)[1]:
                    trace, withheld = [WITHHELD], True
                if withheld:
                    log.warning(
                        "Feedback for %s, %s: a message quoted hidden test code and "
                        "was withheld",
                        student,
                        grade.name,
                    )
            results.append(
                {
                    "notebook": notebook,
                    "grade_id": grade.name,
                    "kind": grade.cell_type,
                    "score": score,
                    "max_score": top,
                    "status": status,
                    "message": message,
                    "traceback": [] if hidden else trace,
                    "hidden": hidden,
                    "code": code,
                    "comments": comments,
                }
            )
    return results


def _grades(gradebook: Any, submitted: Any) -> list[Any]:
    """A submitted notebook's grades, with their cells and points in one round trip.

    ``submitted.grades`` would load each grade's cell, maximum score and cell type in
    separate queries, a dozen per notebook.
    """
    from nbgrader.api import Grade
    from sqlalchemy.orm import selectinload, undefer

    return (
        gradebook.db.query(Grade)
        .filter(Grade.notebook_id == submitted.id)
        .options(undefer(Grade.max_score), selectinload(Grade.cell))
        .all()
    )


def _by_score(score: float, top: float) -> str:
    if score >= top:
        return "passed"
    return "partial" if score > 0 else "failed"


def submission_score(results: Iterable[Mapping[str, Any]]) -> float:
    """nbgrader's score of a submission: the sum of its grades, before any late penalty.

    Parameters
    ----------
    results : iterable of dict
        From :func:`submission_results`.

    Returns
    -------
    float
        Points earned; higher is better, at most the assignment's ``max_score``.

    Examples
    --------
    >>> submission_score([{"score": 1.0}, {"score": 0.5}])
    1.5
    """
    return float(sum(item["score"] for item in results))
