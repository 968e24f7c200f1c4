"""Class reports after grading: nbgrader's grades CSV and an HTML overview.

:func:`write_reports` writes into ``reports/<assignment>/``:

``grades.csv``
    nbgrader's own CSV export (``nbgrader export``'s columns: assignment, duedate,
    timestamp, student_id, last_name, first_name, email, raw_score,
    late_submission_penalty, score, max_score), for this assignment.
``report.html``
    One self-contained page: the outcome counts, the distribution of scores of each
    question (plots), the questions most students lost points on, and every student's
    total.
"""

from __future__ import annotations

import base64
import html
import io
import logging
import math
import os
import threading
from pathlib import Path
from typing import Any

from squad._atomic import atomic_path, atomic_write_text

__all__ = ["class_scores", "export_grades_csv", "import_in_background", "write_reports"]

log = logging.getLogger("squad")

#: What the reports import: about 1.5 s of CPU that need not come after the grading.
REPORT_MODULES = ("pandas", "matplotlib.figure", "matplotlib.backends.backend_agg")


def import_in_background() -> threading.Thread:
    """Import the reports' libraries in a daemon thread; return the thread.

    The grader calls it when the last submissions are being graded and a core is
    about to fall idle, so that :func:`write_reports` does not start with the imports.
    Importing the same module again later just waits for this import to finish.
    """

    def run() -> None:
        import importlib

        for name in REPORT_MODULES:
            try:
                importlib.import_module(name)
            except Exception:  # write_reports will raise it where it can be reported
                return

    thread = threading.Thread(target=run, name="squad-report-imports", daemon=True)
    thread.start()
    return thread


def export_grades_csv(course: Any, assignment: str, path: str | os.PathLike[str]):
    """Write nbgrader's grades CSV for one assignment (atomically).

    Parameters
    ----------
    course : squad.grading.grade.Course
    assignment : str
    path : path-like

    Returns
    -------
    pathlib.Path
    """
    from nbgrader.api import Gradebook
    from nbgrader.plugins import CsvExportPlugin

    with atomic_path(path) as tmp, Gradebook(course.db_url, course.course_id) as gb:
        CsvExportPlugin(to=str(tmp), assignment=[assignment]).export(gb)
    return Path(path)


def class_scores(course: Any, assignment: str) -> Any:
    """One row per student and graded cell of ``assignment``, from the gradebook.

    Parameters
    ----------
    course : squad.grading.grade.Course
    assignment : str

    Returns
    -------
    pandas.DataFrame
        Columns ``student``, ``notebook``, ``question``, ``kind``, ``score``,
        ``max_score``, ``needs_manual_grade``.
    """
    import pandas as pd
    from nbgrader.api import Gradebook

    rows = []
    with Gradebook(course.db_url, course.course_id) as gb:
        for submission in gb.assignment_submissions(assignment):
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    rows.append(
                        {
                            "student": submission.student.id,
                            "notebook": notebook.name,
                            "question": grade.name,
                            "kind": grade.cell_type,
                            "score": float(grade.score),
                            "max_score": float(grade.max_score),
                            "needs_manual_grade": bool(grade.needs_manual_grade),
                        }
                    )
    columns = [
        "student",
        "notebook",
        "question",
        "kind",
        "score",
        "max_score",
        "needs_manual_grade",
    ]
    return pd.DataFrame(rows, columns=columns)


def _figure(scores: Any) -> str:
    """Bar charts of how many students got each score, per question (base64 PNG)."""
    from matplotlib.figure import Figure

    questions = list(dict.fromkeys(scores["question"]))
    cols = min(3, max(1, len(questions)))
    rows = math.ceil(len(questions) / cols) or 1
    fig = Figure(figsize=(4 * cols, 2.6 * rows), layout="constrained")
    for i, question in enumerate(questions):
        ax = fig.add_subplot(rows, cols, i + 1)
        part = scores[scores["question"] == question]
        top = float(part["max_score"].max())
        counts = part["score"].value_counts().sort_index()
        ax.bar(counts.index, counts.values, width=max(top / 12, 0.08), color="#4c72b0")
        ax.set_xlim(-top / 10, top * 1.1)
        ax.set_xticks(sorted({0.0, top, *counts.index}))
        ax.set_title(f"{question} (max {top:g})", fontsize=10)
        ax.set_xlabel("points")
        ax.set_ylabel("students")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    esc = html.escape
    head = "".join(f"<th>{esc(str(h))}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{esc(str(v))}</td>" for v in row) + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _html(assignment: str, scores: Any, penalties: dict, result: Any) -> str:
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{html.escape(assignment)}: class report</title><style>",
        "body{font-family:system-ui,sans-serif;max-width:70rem;margin:2rem auto;"
        "padding:0 1rem}table{border-collapse:collapse;margin:1rem 0}td,th{border-bottom:"
        "1px solid #ddd;padding:.3rem .6rem;text-align:left}img{max-width:100%}",
        f"</style></head><body><h1>{html.escape(assignment)}: class report</h1>",
    ]
    isolation = getattr(result, "isolation", None)
    if isolation is not None:
        parts.append(
            f"<p class='isolation'><strong>Isolation: {html.escape(isolation.level)}"
            f"</strong> (sandbox mode {html.escape(isolation.mode)}). Active: "
            f"{html.escape(', '.join(isolation.active) or 'none')}."
            + (
                f" Not active: {html.escape(', '.join(isolation.lacking))}."
                if isolation.lacking
                else ""
            )
            + "</p>"
        )
    if result is not None:
        counts = result.counts()
        parts.append("<h2>Outcomes</h2>")
        parts.append(_table(list(counts), [list(counts.values())]))
    if scores.empty:
        parts.append("<p>No submission is in the gradebook yet.</p></body></html>")
        return "\n".join(parts)
    parts.append("<h2>Scores per question</h2>")
    parts.append(
        f"<img alt='scores per question' src='data:image/png;base64,{_figure(scores)}'>"
    )
    per_q = scores.groupby("question", sort=False).agg(
        max_score=("max_score", "max"),
        mean_score=("score", "mean"),
        waiting=("needs_manual_grade", "sum"),
    )
    full = scores.assign(full=scores["score"] >= scores["max_score"])
    per_q["share_lost"] = 1 - full.groupby("question", sort=False)["full"].mean()
    per_q = per_q.sort_values(["share_lost", "mean_score"], ascending=[False, True])
    parts.append("<h2>Questions most students lost points on</h2>")
    headers = ["question", "students below full marks", "mean points", "max points"]
    parts.append(
        _table(
            [*headers, "waiting for a grader"],
            [
                [
                    question,
                    f"{row['share_lost']:.0%}",
                    f"{row['mean_score']:.2f}",
                    f"{row['max_score']:g}",
                    int(row["waiting"]),
                ]
                for question, row in per_q.iterrows()
            ],
        )
    )
    totals = scores.groupby("student").agg(
        score=("score", "sum"), max_score=("max_score", "sum")
    )
    statuses = {o.student: o.status for o in result.outcomes} if result else {}
    rows = []
    for student, row in totals.sort_index().iterrows():
        penalty = float(penalties.get(student) or 0)
        final = max(0.0, row["score"] - penalty)
        share = f"{final / row['max_score']:.0%}" if row["max_score"] else ""
        rows.append(
            [
                student,
                f"{row['score']:g}",
                f"{penalty:g}",
                f"{final:g}",
                f"{row['max_score']:g}",
                share,
                statuses.get(student, ""),
            ]
        )
    parts.append("<h2>Students</h2>")
    parts.append(
        _table(
            ["student", "points", "late penalty", "score", "max", "percent", "outcome"],
            rows,
        )
    )
    parts.append("</body></html>")
    return "\n".join(parts)


def write_reports(course: Any, assignment: str, result: Any = None) -> dict[str, Path]:
    """Write ``grades.csv`` and ``report.html`` into ``reports/<assignment>/``.

    Parameters
    ----------
    course : squad.grading.grade.Course
    assignment : str
    result : squad.grading.grade.GradingResult, default=None
        Adds the outcome counts and each student's outcome.

    Returns
    -------
    dict of str to pathlib.Path
        ``csv`` and ``html``.
    """
    folder = course.report_dir(assignment)
    csv = export_grades_csv(course, assignment, folder / "grades.csv")
    from nbgrader.api import Gradebook

    scores = class_scores(course, assignment)
    with Gradebook(course.db_url, course.course_id) as gb:
        penalties = {
            sub.student.id: sub.late_submission_penalty
            for sub in gb.assignment_submissions(assignment)
        }
    text = _html(assignment, scores, penalties, result)
    page = atomic_write_text(folder / "report.html", text)
    log.info("Wrote %s and %s", csv, page)
    return {"csv": csv, "html": page}
