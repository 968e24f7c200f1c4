"""Feedback pages for students: every test's result, without the hidden tests' code.

nbgrader's ``generate_feedback`` renders the autograded notebook, hidden tests included
(nbgrader issue #917). :func:`write_feedback` writes instead one page per student and
notebook, at the place nbgrader uses (``feedback/<student>/<assignment>/<notebook>.html``,
so ``nbgrader release_feedback`` still publishes it), built from the gradebook and the
autograded notebook:

- for each test: points, result (passed, partial, failed, missing, graded by hand) and
  the error message;
- visible tests: their code and the traceback;
- tests with hidden parts: only the visible part of the code, the result and the error
  name and message, never the hidden code or a traceback (which quotes it);
- the grader's comments on each answer.

Hidden tests stay hidden even from student code that tries to carry them out. The
kernel's history and line cache are cleared of them after each test runs (see
:func:`squad.kernels.guard.forget`); what student code could still see while a test ran
(its caller's frame, say) and put in an error message or output is caught here, as the
last line of defence: every text a page shows from the submission is checked against
the assignment's hidden-test lines (:func:`scrub`), verbatim and with whitespace,
quotes and escapes ignored, and a text that quotes one is withheld.
"""

from __future__ import annotations

import ast
import dataclasses
import fnmatch
import html
import logging
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from squad._atomic import atomic_write_text
from squad.errors import NotFoundError

__all__ = [
    "AssignmentSources",
    "assert_messages",
    "assignment_sources",
    "hidden_lines",
    "scrub",
    "submission_results",
    "visible_code",
    "write_feedback",
]

log = logging.getLogger("squad")

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_NOISE = re.compile(r"[\s\\'\"`]+")
#: Hidden-test lines shorter than this (without spaces, quotes and escapes) are too
#: common (``else:``, ``pass``) to withhold a text for.
MIN_HIDDEN_CHARS = 10
WITHHELD = (
    "[withheld: this text quoted hidden test code; ask your instructor to look "
    "at the graded notebook]"
)
BEGIN_HIDDEN = "BEGIN HIDDEN TESTS"
END_HIDDEN = "END HIDDEN TESTS"


def visible_code(
    source: str, begin: str = BEGIN_HIDDEN, end: str = END_HIDDEN
) -> tuple[str, bool]:
    """Remove hidden-test regions from a test cell, as nbgrader's release step does.

    Parameters
    ----------
    source : str
        The test cell's full source (from the gradebook).
    begin, end : str
        The delimiters (``ClearHiddenTests.begin_test_delimeter`` and
        ``end_test_delimeter``).

    Returns
    -------
    code : str
        The lines a student saw.
    hidden : bool
        Whether a hidden region was removed.

    Examples
    --------
    >>> code, hidden = visible_code(
    ...     "assert f(1) == 1\\n### BEGIN HIDDEN TESTS\\nassert f(2) == 4\\n"
    ...     "### END HIDDEN TESTS")
    >>> code, hidden
    ('assert f(1) == 1', True)
    """
    kept, inside, hidden = [], False, False
    for line in source.split("\n"):
        if begin in line:
            inside = hidden = True
        elif end in line:
            inside = False
        elif not inside:
            kept.append(line)
    return "\n".join(kept).rstrip("\n"), hidden


def _squash(text: str) -> str:
    return _NOISE.sub("", text)


def hidden_lines(
    sources: Iterable[str], begin: str = BEGIN_HIDDEN, end: str = END_HIDDEN
) -> list[str]:
    """The hidden-test lines of an assignment that no visible code also has.

    Parameters
    ----------
    sources : iterable of str
        The source of every cell of the assignment (from the gradebook).
    begin, end : str
        Hidden-test delimiters.

    Returns
    -------
    list of str
        Stripped lines, longest first.

    Examples
    --------
    >>> hidden_lines(["x = 1\\n### BEGIN HIDDEN TESTS\\nassert f(2) == 4, 'two'\\n"
    ...               "x = 1\\n### END HIDDEN TESTS"])
    ["assert f(2) == 4, 'two'"]
    """
    hidden, visible = set(), set()
    for source in sources:
        code, _ = visible_code(source or "", begin, end)
        visible.update(line.strip() for line in code.split("\n"))
        inside = False
        for line in (source or "").split("\n"):
            if begin in line:
                inside = True
            elif end in line:
                inside = False
            elif inside:
                hidden.add(line.strip())
    kept = [
        line
        for line in hidden - visible
        if len(_squash(line)) >= MIN_HIDDEN_CHARS and not line.startswith("#")
    ]
    return sorted(kept, key=lambda line: (-len(line), line))


def assert_messages(source: str) -> set[str]:
    """What a test cell's asserts say when they fail, as ``AssertionError: <message>``.

    Only messages written as plain string literals: they are the author's words to the
    trainee, shown when the assert fails, as nbgrader shows them. A cell that is not
    plain Python has none.

    Examples
    --------
    >>> sorted(assert_messages('assert x == 1, "x should be one"\\nassert y, f"{y}"'))
    ['AssertionError: x should be one']
    >>> assert_messages("%time assert x")
    set()
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    return {
        f"AssertionError: {node.msg.value}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Assert)
        and isinstance(node.msg, ast.Constant)
        and isinstance(node.msg.value, str)
    }


def scrub(
    text: str, lines: Iterable[str], allowed: Iterable[str] = ()
) -> tuple[str, bool]:
    """``text``, or `WITHHELD` if it quotes a hidden-test line; and whether it did.

    Lines are found verbatim and also with whitespace, quotes, backquotes and
    backslashes ignored (a ``repr``, JSON or a reflowed copy). A text that is exactly
    one of ``allowed`` is kept: a failing hidden assert's own message (see
    `assert_messages`) is meant for the trainee even when it sits on a line of its own.

    Examples
    --------
    >>> scrub("AssertionError: 'assert  f(2) == 4'", ["assert f(2) == 4"])[1]
    True
    >>> scrub("AssertionError: wrong sum", ["assert f(2) == 4"])
    ('AssertionError: wrong sum', False)
    >>> hint = '"f(2) should be 4: did you add instead of multiply?"'
    >>> scrub("AssertionError: f(2) should be 4: did you add instead of multiply?",
    ...       [hint], allowed=assert_messages(f"assert f(2) == 4, (\\n    {hint}\\n)"))[1]
    False
    """
    if text in set(allowed):
        return text, False
    squashed = _squash(text)
    for line in lines:
        if line in text or _squash(line) in squashed:
            return WITHHELD, True
    return text, False


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


_CSS = """
body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;
padding:.4rem;text-align:left;vertical-align:top}pre{background:#f6f8fa;padding:.6rem;
overflow-x:auto}.passed{color:#1a7f37}.failed,.missing{color:#cf222e}
.partial,.manual,.no.response{color:#9a6700}
"""


def _page(student: str, assignment: str, notebook: str, rows: list[dict], total):
    esc = html.escape
    score, top, penalty = total
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{esc(assignment)}: feedback for {esc(student)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{esc(assignment)} / {esc(notebook)}</h1>",
        f"<p>Student: <b>{esc(student)}</b>. Score for this assignment: "
        f"<b>{score:g} / {top:g}</b>"
        + (f" (late penalty {penalty:g})" if penalty else "")
        + ".</p>",
        "<table><tr><th>Question</th><th>Points</th><th>Result</th><th>Message</th></tr>",
    ]
    for row in rows:
        parts.append(
            f"<tr><td>{esc(row['grade_id'])}</td>"
            f"<td>{row['score']:g} / {row['max_score']:g}</td>"
            f"<td class='{esc(row['status'])}'>{esc(row['status'])}</td>"
            f"<td>{esc(row['message'])}</td></tr>"
        )
    parts.append("</table>")
    for row in rows:
        if row["kind"] != "code":
            continue
        parts.append(f"<h2>{esc(row['grade_id'])}</h2>")
        if row["code"].strip():
            parts.append(f"<pre>{esc(row['code'])}</pre>")
        if row["hidden"]:
            parts.append(
                "<p>This test also has hidden checks; their result is included above, "
                "their code is not shown.</p>"
            )
        if row["traceback"]:
            parts.append(f"<pre>{esc(chr(10).join(row['traceback'][-30:]))}</pre>")
    comments = rows[0]["comments"] if rows else {}
    if comments:
        parts.append("<h2>Comments</h2><table>")
        for name, text in comments.items():
            parts.append(f"<tr><td>{esc(name)}</td><td>{esc(text)}</td></tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_feedback(
    course: Any,
    assignment: str,
    *,
    students: Iterable[str] | None = None,
    pattern: str = "*",
) -> list[Path]:
    """Write each student's feedback page(s) for ``assignment``.

    Parameters
    ----------
    course : squad.grading.grade.Course or path-like
        The course (or its folder).
    assignment : str
    students : iterable of str, default=None
        Only these students (default: every student with an autograded submission).
    pattern : str, default="*"
        Only students whose id matches this glob.

    Returns
    -------
    list of pathlib.Path
        The pages written.

    Raises
    ------
    KeyError
        If the assignment is not in the gradebook.
    """
    from nbgrader.api import Gradebook, MissingEntry

    from squad.grading.workspace import Course, load_course

    if not isinstance(course, Course):
        course = load_course(course)
    config = course.config.ClearHiddenTests
    begin = config.get("begin_test_delimeter", BEGIN_HIDDEN)
    end = config.get("end_test_delimeter", END_HIDDEN)
    coursedir = course.coursedir
    written = []
    with Gradebook(course.db_url, course.course_id) as gb:
        try:
            gb.find_assignment(assignment)
        except MissingEntry as err:
            msg = (
                f"Assignment '{assignment}' is not in the gradebook of '{course.root}'. "
                "Run `squad grade` first."
            )
            raise NotFoundError(msg) from err
        wanted = None if students is None else set(students)
        sources = assignment_sources(gb, assignment, begin=begin, end=end)
        for submission in gb.assignment_submissions(assignment):
            student = submission.student.id
            if wanted is not None and student not in wanted:
                continue
            if not fnmatch.fnmatchcase(student, pattern):
                continue
            autograded = course.path(
                coursedir.autograded_directory, student, assignment
            )
            if not autograded.is_dir():
                continue
            results = submission_results(
                gb, assignment, student, autograded, sources=sources
            )
            penalty = float(submission.late_submission_penalty or 0)
            total = (float(submission.score), float(submission.max_score), penalty)
            dest = course.path(coursedir.feedback_directory, student, assignment)
            for notebook in sorted({r["notebook"] for r in results}):
                rows = [r for r in results if r["notebook"] == notebook]
                page = _page(student, assignment, notebook, rows, total)
                written.append(atomic_write_text(dest / f"{notebook}.html", page))
            # `nbgrader release_feedback` files each page under a hash of the
            # notebook, the submission's timestamp and its secret (exchange route):
            # it reads them here, as `nbgrader generate_feedback` leaves them.
            for name in ("timestamp.txt", "submission_secret.txt"):
                if results and (autograded / name).is_file():
                    text = (autograded / name).read_text(encoding="utf-8")
                    atomic_write_text(dest / name, text)
    log.info("Wrote %d feedback page(s) for %s", len(written), assignment)
    return written
