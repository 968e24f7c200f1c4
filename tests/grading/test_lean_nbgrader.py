"""Tests for squad.grading.lean_nbgrader: cheaper nbgrader converter runs, same results."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import jsonschema
import pytest
from nbformat.v4 import new_code_cell
from nbgrader.api import Gradebook
from nbgrader.nbgraderformat import MetadataValidator

from squad._imports import alembic_head
from squad.grading.lean_nbgrader import cache_metadata_validators, copy_gradebook_engine

GOOD = {
    "grade": True,
    "grade_id": "q1",
    "locked": False,
    "points": 2,
    "schema_version": 3,
    "solution": False,
    "task": False,
}


def _error(cell):
    try:
        MetadataValidator().validate_cell(cell)
    except Exception as err:  # the error nbgrader would show, whatever its type
        return type(err), str(err)
    return None


@pytest.mark.parametrize(
    "meta",
    [
        GOOD,
        {**GOOD, "points": "two"},
        {**GOOD, "grade_id": 7},
        {key: value for key, value in GOOD.items() if key != "grade_id"},
        {**GOOD, "schema_version": 1},
        None,
    ],
    ids=["good", "points-text", "id-number", "no-id", "old-schema", "no-metadata"],
)
def test_cached_validator_raises_what_nbgrader_raises(meta, monkeypatch):
    """The same metadata gives the same error (type and text), or none, as before."""
    cell = new_code_cell("x = 1")
    if meta is not None:
        cell.metadata["nbgrader"] = dict(meta)
    from nbgrader.nbgraderformat import common

    monkeypatch.setattr(
        common.BaseMetadataValidator,
        "validate_cell",
        common.BaseMetadataValidator.validate_cell,
    )
    before = _error(cell)
    cache_metadata_validators()
    assert getattr(common.BaseMetadataValidator.validate_cell, "_squad_cached", False)
    assert _error(cell) == before
    if meta is not None and meta is not GOOD and meta.get("schema_version") == 3:
        assert before is not None and before[0] is jsonschema.ValidationError


@pytest.fixture
def new_gradebooks(monkeypatch):
    """New gradebooks get their schema revision without the ``alembic`` command."""
    import nbgrader.api

    monkeypatch.setattr(nbgrader.api, "get_alembic_version", alembic_head)


def _open_files(path: Path) -> int:
    folder = Path("/proc/self/fd")
    count = 0
    for fd in folder.iterdir():
        try:
            if os.readlink(fd) == str(path):
                count += 1
        except OSError:
            continue
    return count


def test_gradebooks_of_the_copy_share_one_engine_and_let_go_of_it(
    tmp_path, new_gradebooks
):
    """Inside the block the copy's gradebooks share an engine; other databases don't."""
    copy, other = tmp_path / "copy" / "gradebook.db", tmp_path / "gradebook.db"
    copy.parent.mkdir()
    with copy_gradebook_engine(copy):
        first = Gradebook(f"sqlite:///{copy.as_posix()}")
        first.add_student("ada")
        first.close()
        second = Gradebook(f"sqlite:///{copy.as_posix()}")
        assert second.engine is first.engine  # one compiled-statement cache
        assert [s.id for s in second.students] == ["ada"]
        second.close()
        elsewhere = Gradebook(f"sqlite:///{other.as_posix()}")
        assert elsewhere.engine is not first.engine
        assert elsewhere.students == []
        elsewhere.close()
    with Gradebook(f"sqlite:///{copy.as_posix()}") as after:
        assert after.engine is not first.engine  # the patch ends with the block
        assert [s.id for s in after.students] == ["ada"]  # written, not only cached
    if sys.platform.startswith("linux"):
        assert _open_files(copy) == 0  # the copy can be removed at once


def test_the_shared_engine_follows_the_next_copy(tmp_path, new_gradebooks):
    """The next submission's copy is a new file: the engine opens that one."""
    for student in ("ada", "bob"):
        copy = tmp_path / student / "gradebook.db"
        copy.parent.mkdir()
        with copy_gradebook_engine(copy), Gradebook(f"sqlite:///{copy}") as gb:
            gb.add_student(student)
            assert [s.id for s in gb.students] == [student]


def test_the_copy_tables_are_checked_once_per_copy(tmp_path, new_gradebooks):
    """The first Gradebook of a copy checks its tables; later ones skip the check."""
    from nbgrader.api import Base
    from sqlalchemy import event

    copy = tmp_path / "copy" / "gradebook.db"
    copy.parent.mkdir()
    url = f"sqlite:///{copy.as_posix()}"
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        statements.append(statement)

    with copy_gradebook_engine(copy):
        first = Gradebook(url)
        engine = first.engine
        first.close()
        event.listen(engine, "before_cursor_execute", record)
        try:
            with Gradebook(url) as second:
                second.add_student("ada")
        finally:
            event.remove(engine, "before_cursor_execute", record)
    assert statements  # the listener saw the second gradebook's queries
    assert not [s for s in statements if "table_info" in s.lower()]
    assert "create_all" not in vars(Base.metadata)  # the patch ends with the block
    with Gradebook(url) as after:
        assert [s.id for s in after.students] == ["ada"]
