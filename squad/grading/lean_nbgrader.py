"""Cheaper runs of nbgrader's autograde converter in a grading worker, same results.

A worker autogrades each submission in a throwaway course copy with its own gradebook
file. nbgrader's converter opens that gradebook about nine times per submission (each
preprocessor builds its own :class:`nbgrader.api.Gradebook`), and every ``Gradebook``
creates a new SQLAlchemy engine: SQL statements are compiled again each time (the
compiled cache belongs to the engine), and the copy is committed about 30 times per
submission with a disk flush each time. Its cell-metadata check calls
``jsonschema.validate``, which checks the schema itself before every cell.

:func:`copy_gradebook_engine` hands every ``Gradebook`` of the copy one long-lived
engine per worker process, with the copy's flushes turned off (it is discarded after the
submission; the grader writes the real gradebook), and checks the copy's tables once,
not once per ``Gradebook``. :func:`cache_metadata_validators`
builds each schema's validator once. Neither touches the kernel or what student code
sees: the same SQL runs on the same file and the same schema checks the same metadata,
and ``bench/bench_grading.py`` checks that the gradebooks stay identical to
``nbgrader autograde``'s.
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["cache_metadata_validators", "copy_gradebook_engine"]

_STATE: dict[str, Any] = {"path": None, "engine": None}
_GUARD = threading.Lock()


def _engine() -> Any:
    """The worker's engine for gradebook copies; connects to the current copy."""
    if _STATE["engine"] is None:
        from sqlalchemy import create_engine, event

        # The URL names no real file: the creator opens the copy being graded now.
        engine = create_engine(
            "sqlite:///gradebook-copy.db",
            creator=lambda: sqlite3.connect(_STATE["path"], check_same_thread=False),
            future=True,
        )

        @event.listens_for(engine, "connect")
        def _no_flushes(connection: Any, _record: Any) -> None:
            connection.execute("PRAGMA synchronous=OFF")
            connection.execute("PRAGMA journal_mode=MEMORY")

        # Each ``Gradebook.close`` disposes of its engine: here that would close the
        # pool after every preprocessor. The pool is closed once, after the submission.
        engine.dispose = lambda close=True: None
        _STATE["engine"] = engine
    return _STATE["engine"]


@contextlib.contextmanager
def copy_gradebook_engine(db_path: Path) -> Iterator[None]:
    """Within the block, nbgrader's gradebooks of ``db_path`` share the worker's engine.

    Gradebooks of any other database are created as nbgrader creates them. One
    submission at a time per process: the worker grades under its own lock.

    Parameters
    ----------
    db_path : pathlib.Path
        The course copy's gradebook file.
    """
    import nbgrader.api as api

    wanted = f"sqlite:///{Path(db_path).as_posix()}"
    original = api.create_engine
    metadata = api.Base.metadata
    checked = {"copy": False}

    def create_engine(url: Any, *args: Any, **kwargs: Any) -> Any:
        if str(url) == wanted:
            return _engine()
        return original(url, *args, **kwargs)

    def create_all(bind: Any = None, *args: Any, **kwargs: Any) -> None:
        # Every Gradebook checks each table of the copy again (a query per table);
        # once per copy is enough, as nothing drops them in between.
        copy = bind is not None and bind is _STATE["engine"]
        if copy and checked["copy"]:
            return
        type(metadata).create_all(metadata, bind, *args, **kwargs)
        checked["copy"] = checked["copy"] or copy

    with _GUARD:
        _STATE["path"] = str(db_path)
        api.create_engine = create_engine
        metadata.create_all = create_all
        try:
            yield
        finally:
            api.create_engine = original
            del metadata.create_all
            if _STATE["engine"] is not None:
                # Close the copy's connections before the copy is removed.
                type(_STATE["engine"]).dispose(_STATE["engine"])
            _STATE["path"] = None


@functools.cache
def _validator(validator_class: type) -> Any:
    import jsonschema

    schema = validator_class().schema
    checker = jsonschema.validators.validator_for(schema)
    checker.check_schema(schema)
    return checker(schema)


def cache_metadata_validators() -> None:
    """Check nbgrader cell metadata with one validator per schema (idempotent).

    ``jsonschema.validate`` raises the best-matching error of ``iter_errors``; so does
    this, with a validator built once instead of once per cell.
    """
    from jsonschema.exceptions import best_match
    from nbgrader.nbgraderformat import common

    base = common.BaseMetadataValidator
    if getattr(base.validate_cell, "_squad_cached", False):
        return
    original = base.validate_cell

    def validate_cell(self: Any, cell: Any) -> None:
        meta = cell.metadata.get("nbgrader")
        if meta is None or meta.get("schema_version", 0) != self.schema_version:
            original(self, cell)  # absent, or nbgrader's own version error
            return
        error = best_match(_validator(type(self)).iter_errors(meta))
        if error is not None:
            raise error

    validate_cell._squad_cached = True  # type: ignore[attr-defined]
    base.validate_cell = validate_cell
