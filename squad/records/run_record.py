"""The run record: one typed definition, read and written in one place.

A :class:`RunRecord` is what ``record.json`` holds. ``squad run`` builds one when a run
ends, ``squad submit`` builds one for predictions made elsewhere, and the board reads
them back from members' folders. :func:`read_record` and :func:`write_record` are the
only code that turns the file into a record and back.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from squad._atomic import atomic_write_json
from squad.errors import InvalidInputError, MissingFileError
from squad.records.schema import RECORD_FILE, RECORD_SCHEMA, REQUIRED_KEYS, STATUSES

__all__ = ["RunRecord", "read_record", "write_record"]


@dataclass(frozen=True)
class RunRecord:
    """One run of a notebook: what it was given, what it found, how it ended.

    Parameters
    ----------
    experiment : str
        The experiment (the notebook's name, or the name given to ``squad run``).
    run_id : str
        The run's id: a hash of the notebook, its parameters and the data.
    parameters : dict
        Every declared parameter, defaults filled in.
    metrics : dict
        Name → JSON value recorded with ``squad.record`` (the last value wins).
    status : str
        One of :data:`~squad.records.schema.STATUSES`.
    schema : int
        Version of the layout, :data:`~squad.records.schema.RECORD_SCHEMA`.
    notebook : str or None
        File name of the executed notebook in the run folder.
    notebook_sha256 : str or None
        sha256 of the notebook's cells without outputs.
    figures : dict
        Name → path of the PNG relative to the run folder.
    files : dict
        Relative path → ``{"bytes", "sha256"}`` of every file of the run folder.
    error : dict or None
        ``{"ename", "evalue", "cell_index", "execution_count", "source"}`` of a run
        that failed.
    timings : dict
        ISO 8601 UTC ``queued``/``start``/``end`` and ``*_seconds`` durations.
    provenance : dict
        ``git``, ``dataset``, ``python``, ``packages``, ``host``, ``platform``,
        ``cpu_count``, ``member``, ``squad_version``; ``code`` for a member's model.
    fact_sheet : dict
        A submitted run's description (field → text).
    extra : dict
        Keys this version of the kit does not know: kept, so that rewriting a record
        loses nothing.
    """

    experiment: str
    run_id: str
    parameters: dict[str, Any]
    metrics: dict[str, Any]
    status: str
    schema: int = RECORD_SCHEMA
    notebook: str | None = None
    notebook_sha256: str | None = None
    figures: dict[str, str] = field(default_factory=dict)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    error: dict[str, Any] | None = None
    timings: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    fact_sheet: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(
        cls, data: Any, *, source: str | os.PathLike[str] = "record"
    ) -> RunRecord:
        """Check ``data`` (a decoded ``record.json``) and make a record of it.

        Parameters
        ----------
        data : object
            The decoded JSON.
        source : path-like, default="record"
            Named in error messages (the file it was read from).

        Returns
        -------
        RunRecord

        Raises
        ------
        squad.errors.InvalidInputError
            If it is not an object, lacks a required key, has parameters or metrics
            that are not objects, or an unknown status.

        Examples
        --------
        >>> rec = RunRecord.from_dict({"experiment": "demo", "run_id": "a1",
        ...     "parameters": {}, "metrics": {"accuracy": 0.5}, "status": "ok",
        ...     "owner_note": "kept"})
        >>> rec.metrics, rec.extra
        ({'accuracy': 0.5}, {'owner_note': 'kept'})
        >>> RunRecord.from_dict({"experiment": "demo"})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        squad.errors.InvalidInputError: Run record record lacks run_id, ...
        """
        check_record_dict(data, source)
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        given = {k: v for k, v in data.items() if k in known}
        for key in ("figures", "files", "timings", "provenance", "fact_sheet"):
            if given.get(key) is None:
                given.pop(key, None)  # absent and null read the same: nothing
        extra = {k: v for k, v in data.items() if k not in known}
        return cls(**given, extra=extra)

    def to_dict(self) -> dict[str, Any]:
        """The record as ``record.json`` holds it (unknown keys kept).

        Examples
        --------
        >>> RunRecord("demo", "a1", {}, {}, "ok").to_dict()["schema"]
        1
        """
        data = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name != "extra"
        }
        return {**self.extra, **data}

    def replace(self, **changes: Any) -> RunRecord:
        """A copy with ``changes`` (field name → new value)."""
        return dataclasses.replace(self, **changes)

    @property
    def member(self) -> str | None:
        """The member named in the provenance (a claim, not an identity)."""
        value = (self.provenance or {}).get("member")
        return value if isinstance(value, str) else None

    @property
    def dataset(self) -> dict[str, Any]:
        """The provenance's dataset (name, protocol, language, sha256), or ``{}``."""
        value = (self.provenance or {}).get("dataset")
        return value if isinstance(value, Mapping) else {}

    @property
    def end(self) -> str:
        """When the run ended (ISO 8601), or ``""`` if the record does not say."""
        value = (self.timings or {}).get("end")
        return value if isinstance(value, str) else ""


def check_record_dict(data: Any, source: str | os.PathLike[str] = "record") -> None:
    """Raise :class:`~squad.errors.InvalidInputError` if ``data`` is no run record.

    The checks every reader makes (required keys, their types, the status); the
    board's readers check the full :data:`~squad.records.schema.RECORD_JSON_SCHEMA`
    first.
    """
    if not isinstance(data, Mapping):
        msg = (
            f"Run record {source} is not a JSON object; delete the run folder and "
            "rerun."
        )
        raise InvalidInputError(msg)
    missing = [key for key in REQUIRED_KEYS if key not in data]
    if missing:
        msg = (
            f"Run record {source} lacks {', '.join(missing)}; delete the run folder "
            "and rerun."
        )
        raise InvalidInputError(msg)
    for key in ("parameters", "metrics"):
        if not isinstance(data[key], Mapping):
            msg = (
                f"Run record {source} has {key} of type {type(data[key]).__name__}; "
                "expected a JSON object. Delete the run folder and rerun."
            )
            raise InvalidInputError(msg)
    if data["status"] not in STATUSES:
        msg = (
            f"Run record {source} has status {data['status']!r}; expected one of "
            f"{', '.join(STATUSES)}."
        )
        raise InvalidInputError(msg)


def write_record(
    run_dir: str | os.PathLike[str], run_record: RunRecord | Mapping[str, Any]
) -> Path:
    """Write ``record.json`` into ``run_dir`` atomically and return its path.

    Parameters
    ----------
    run_dir : path-like
        The run folder (created if missing).
    run_record : RunRecord or mapping
        The record; a mapping is checked as :meth:`RunRecord.from_dict` does.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    squad.errors.InvalidInputError
        If a required key is missing or the status is unknown.

    Examples
    --------
    >>> import tempfile
    >>> rec = {"experiment": "demo", "run_id": "abc", "parameters": {},
    ...        "metrics": {"accuracy": 1.0}, "status": "ok"}
    >>> read_record(write_record(tempfile.mkdtemp(), rec)).metrics
    {'accuracy': 1.0}
    """
    path = Path(run_dir) / RECORD_FILE
    if not isinstance(run_record, RunRecord):
        run_record = RunRecord.from_dict(run_record, source=path)
    return atomic_write_json(path, run_record.to_dict())


def read_record(path: str | os.PathLike[str]) -> RunRecord:
    """Read and check a run record.

    Parameters
    ----------
    path : path-like
        A ``record.json`` file or the run folder holding it.

    Returns
    -------
    RunRecord

    Raises
    ------
    squad.errors.MissingFileError
        If there is no record.
    squad.errors.InvalidInputError
        If it is not valid JSON or not a run record.

    Examples
    --------
    >>> import tempfile
    >>> read_record(tempfile.mkdtemp())  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    squad.errors.MissingFileError: ...
    """
    path = Path(path)
    if path.is_dir():
        path = path / RECORD_FILE
    try:
        data = json.loads(path.read_text("utf-8"))
    except FileNotFoundError as err:
        msg = f"No run record at {path}: run the notebook with `squad run` first."
        raise MissingFileError(msg) from err
    except ValueError as err:
        msg = f"Run record {path} is not valid JSON ({err}); delete it and rerun."
        raise InvalidInputError(msg) from err
    return RunRecord.from_dict(data, source=path)
