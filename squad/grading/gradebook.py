"""One submission's rows, moved between nbgrader's gradebook and a private copy.

Workers never open the course's gradebook. Each one autogrades into a private sqlite
gradebook made from a *seed* (the assignment's own rows: notebooks, grade, solution,
task and source cells, with their ids) plus that student's existing rows. Afterwards
the grader process, the only writer, copies the student's rows back with
:func:`merge_submission`: new rows are inserted with their ids, existing rows get only
the columns autograding writes (:data:`AUTOGRADE_COLUMNS`). Manual scores, extra credit,
manual comments, flags and extensions are never written.

Rows are plain dicts of column values (nbgrader's own SQLAlchemy tables), so they
travel to workers by pickle and the gradebook may use any database nbgrader supports.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, insert, select, text, update
from sqlalchemy.exc import OperationalError

from squad.errors import MissingFileError, NotFoundError

__all__ = [
    "AUTOGRADE_COLUMNS",
    "STUDENT_TABLES",
    "make_seed",
    "merge_submission",
    "read_submission",
    "write_rows",
]

Rows = dict[str, list[dict[str, Any]]]

#: Columns that ``nbgrader autograde`` writes on rows that already exist.
AUTOGRADE_COLUMNS = {
    "student": (),
    "submitted_assignment": ("timestamp",),
    "submitted_notebook": ("late_submission_penalty",),
    "grade": ("auto_score", "needs_manual_grade"),
    "comment": ("auto_comment",),
}
#: Tables holding one student's submission, in insertion order.
STUDENT_TABLES = tuple(AUTOGRADE_COLUMNS)
_STRUCTURE_TABLES = (
    "course",
    "assignment",
    "notebook",
    "base_cell",
    "grade_cells",
    "solution_cells",
    "task_cells",
    "source_cell",
)


def _tables() -> dict[str, Any]:
    from nbgrader.api import Base

    return dict(Base.metadata.tables)


def _select(conn: Any, table: Any, column: str, values: Iterable[Any]) -> list[dict]:
    values = list(values)
    if not values:
        return []
    query = select(table).where(table.c[column].in_(values))
    return [dict(row._mapping) for row in conn.execute(query)]


def _structure(conn: Any, assignment: str) -> Rows:
    t = _tables()
    rows: Rows = {"assignment": _select(conn, t["assignment"], "name", [assignment])}
    if not rows["assignment"]:
        msg = (
            f"Assignment '{assignment}' is not in the gradebook. Run "
            f"`nbgrader generate_assignment {assignment}` first."
        )
        raise NotFoundError(msg)
    course_ids = [row["course_id"] for row in rows["assignment"]]
    rows["course"] = _select(conn, t["course"], "id", course_ids)
    assignment_ids = [row["id"] for row in rows["assignment"]]
    rows["notebook"] = _select(conn, t["notebook"], "assignment_id", assignment_ids)
    notebook_ids = [row["id"] for row in rows["notebook"]]
    rows["base_cell"] = _select(conn, t["base_cell"], "notebook_id", notebook_ids)
    cell_ids = [row["id"] for row in rows["base_cell"]]
    for name in ("grade_cells", "solution_cells", "task_cells"):
        rows[name] = _select(conn, t[name], "id", cell_ids)
    rows["source_cell"] = _select(conn, t["source_cell"], "notebook_id", notebook_ids)
    return rows


def make_seed(db_url: str, assignment: str) -> tuple[bytes, Rows]:
    """Build a private sqlite gradebook holding only ``assignment``'s structure.

    Parameters
    ----------
    db_url : str
        The course gradebook (any URL SQLAlchemy and nbgrader accept).
    assignment : str

    Returns
    -------
    seed : bytes
        The sqlite file.
    structure : dict
        The copied rows, by table.

    Raises
    ------
    KeyError
        If the assignment is not in the gradebook.
    FileNotFoundError
        If a sqlite gradebook does not exist.
    """
    from nbgrader.api import Base

    if db_url.startswith("sqlite:///"):
        path = Path(db_url[len("sqlite:///") :])
        if not path.is_file():
            msg = (
                f"Gradebook '{path}' does not exist. Run `nbgrader generate_assignment "
                f"{assignment}` in the course folder first."
            )
            raise MissingFileError(msg)
    engine = create_engine(db_url, future=True)
    try:
        with engine.connect() as conn:
            structure = _structure(conn, assignment)
            try:
                found = conn.execute(text("SELECT version_num FROM alembic_version"))
                alembic = found.scalar_one_or_none()
            except OperationalError:  # a gradebook made without alembic
                alembic = None
    finally:
        engine.dispose()
    with tempfile.TemporaryDirectory(prefix="squad-seed-") as folder:
        path = Path(folder) / "gradebook.db"
        seed = create_engine(f"sqlite:///{path.as_posix()}", future=True)
        try:
            Base.metadata.create_all(bind=seed)
            with seed.begin() as conn:
                if alembic is not None:
                    create = "CREATE TABLE alembic_version (version_num VARCHAR(32))"
                    conn.execute(text(create))
                    insert_version = "INSERT INTO alembic_version VALUES (:v)"
                    conn.execute(text(insert_version), {"v": alembic})
                tables = _tables()
                for name in _STRUCTURE_TABLES:
                    if structure[name]:
                        conn.execute(insert(tables[name]), structure[name])
        finally:
            seed.dispose()
        return path.read_bytes(), structure


def read_submission(conn: Any, assignment_id: str, student_id: str) -> Rows:
    """Return the rows of one student's submission of one assignment.

    Parameters
    ----------
    conn : sqlalchemy.engine.Connection
    assignment_id : str
        The assignment's row id (not its name).
    student_id : str

    Returns
    -------
    dict of str to list of dict
        ``student``, ``submitted_assignment``, ``submitted_notebook``, ``grade`` and
        ``comment`` rows (empty lists when the student or submission is missing).
    """
    t = _tables()
    rows: Rows = {"student": _select(conn, t["student"], "id", [student_id])}
    query = select(t["submitted_assignment"]).where(
        t["submitted_assignment"].c.assignment_id == assignment_id,
        t["submitted_assignment"].c.student_id == student_id,
    )
    rows["submitted_assignment"] = [dict(r._mapping) for r in conn.execute(query)]
    ids = [row["id"] for row in rows["submitted_assignment"]]
    rows["submitted_notebook"] = _select(
        conn, t["submitted_notebook"], "assignment_id", ids
    )
    ids = [row["id"] for row in rows["submitted_notebook"]]
    rows["grade"] = _select(conn, t["grade"], "notebook_id", ids)
    rows["comment"] = _select(conn, t["comment"], "notebook_id", ids)
    return rows


def write_rows(db_path: str | os.PathLike[str], rows: Rows) -> None:
    """Insert a student's rows into a fresh private gradebook (see :func:`make_seed`)."""
    engine = create_engine(f"sqlite:///{Path(db_path).as_posix()}", future=True)
    try:
        tables = _tables()
        with engine.begin() as conn:
            for name in STUDENT_TABLES:
                if rows.get(name):
                    conn.execute(insert(tables[name]), rows[name])
    finally:
        engine.dispose()


def merge_submission(conn: Any, rows: Rows) -> dict[str, int]:
    """Copy a student's autograded rows into the course gradebook (one transaction).

    Rows missing from the gradebook are inserted; rows that exist get only the
    :data:`AUTOGRADE_COLUMNS`. Call it from one process only (the grader).

    Parameters
    ----------
    conn : sqlalchemy.engine.Connection
        A connection inside a transaction (``engine.begin()``).
    rows : dict of str to list of dict
        From :func:`read_submission` on the private gradebook.

    Returns
    -------
    dict of str to int
        ``inserted`` and ``updated`` row counts.
    """
    tables = _tables()
    counts = {"inserted": 0, "updated": 0}
    for name in STUDENT_TABLES:
        table, given = tables[name], rows.get(name, [])
        # One query finds the rows that exist; the new ones go in one statement.
        existing = {
            row["id"]: row
            for row in _select(conn, table, "id", [r["id"] for r in given])
        }
        new = [row for row in given if row["id"] not in existing]
        if new:
            conn.execute(insert(table), new)
            counts["inserted"] += len(new)
        for row in given:
            current = existing.get(row["id"])
            if current is None:
                continue
            changes = {
                column: row[column]
                for column in AUTOGRADE_COLUMNS[name]
                if current[column] != row[column]
            }
            if changes:
                conn.execute(
                    update(table).where(table.c.id == row["id"]).values(**changes)
                )
                counts["updated"] += 1
    return counts
