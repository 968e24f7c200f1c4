"""Feedback pages for students: every test's result, without the hidden tests' code.

nbgrader's ``generate_feedback`` renders the autograded notebook, hidden tests included
(nbgrader issue #917). :func:`write_feedback` writes instead one page per student and
notebook, at the place nbgrader uses (``feedback/<student>/<assignment>/<notebook>.html``,
so ``nbgrader release_feedback`` still publishes it), built from the submission's
results (:func:`squad.grading.score.submission_results`):

- for each test: points, result (passed, partial, failed, missing, graded by hand) and
  the error message;
- visible tests: their code and the traceback;
- tests with hidden parts: only the visible part of the code, the result and the error
  name and message, never the hidden code or a traceback (which quotes it), and no
  text that quotes a hidden line (see :mod:`squad.grading.hidden`);
- the grader's comments on each answer.
"""

from __future__ import annotations

import fnmatch
import html
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from squad._atomic import atomic_write_text
from squad.errors import NotFoundError
from squad.grading.hidden import BEGIN_HIDDEN, END_HIDDEN
from squad.grading.score import assignment_sources, submission_results

__all__ = ["write_feedback"]

log = logging.getLogger("squad")

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
