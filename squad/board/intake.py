"""Run folders as untrusted input: read, check and keep, or leave out with one warning.

A board is built from folders that several members copy into one tree (a shared folder, a
shared git repository). Any of them may be broken or hostile, so :func:`load_runs` checks
each run before anything of it is used:

- ``record.json`` is a regular file inside the tree (no symlink), at most
  :data:`~squad.board.schema.RECORD_MAX_BYTES`, UTF-8 JSON with finite numbers only
  (``NaN``, ``Infinity`` and overflowing literals are refused), and valid against
  :data:`~squad.board.schema.RECORD_JSON_SCHEMA`;
- every file the record names (``figures``, ``files``, ``notebook``) and the predictions
  file resolve inside the run's own folder: relative, no ``..``, no drive, no symlink
  that leads out;
- every figure is a real PNG (magic bytes and header), at most
  :data:`~squad.board.schema.FIGURE_MAX_BYTES` and
  :data:`~squad.board.schema.FIGURE_MAX_PIXELS` wide and high;
- one member's run id names one run: copies of the same run keep the latest; different
  runs under one id and member are a conflict, and all of them are left out (which is
  genuine cannot be told). Two members may share a run id (the kit derives it from the
  notebook and parameters): both are kept.

A run that fails a check is left out with one warning line naming its folder and the
problem (:class:`Rejected`); the others are kept. Nothing here raises on bad content.
"""

from __future__ import annotations

import json
import logging
import math
import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from squad.board.schema import (
    FIGURE_MAX_BYTES,
    FIGURE_MAX_PIXELS,
    PREDICTIONS_MAX_BYTES,
    RECORD_JSON_SCHEMA,
    RECORD_MAX_BYTES,
)
from squad.errors import MissingFileError
from squad.record import RECORD_FILE

__all__ = [
    "PNG_MAGIC",
    "Intake",
    "RunProblem",
    "Rejected",
    "load_runs",
    "one_line",
    "read_png",
    "resolve_inside",
]

logger = logging.getLogger("squad")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PREDICTIONS_FILE = "predictions.parquet"


class RunProblem(Exception):
    """Why a run folder cannot be used (the text of its one warning line)."""


@dataclass(frozen=True)
class Rejected:
    """A run folder left out of the board, and why."""

    folder: Path
    problem: str

    def line(self, root: Path | None = None) -> str:
        """The one warning line: ``Skipping run folder <folder>: <problem>``."""
        shown = self.folder if root is None else _relative(self.folder, root)
        return f"Skipping run folder {one_line(str(shown))}: {self.problem}"


@dataclass
class Intake:
    """The runs kept (records with ``_dir`` and checked paths) and the ones left out."""

    root: Path
    runs: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)


def one_line(text: str, limit: int = 300) -> str:
    """``text`` as one printable line (control characters escaped), shortened.

    Examples
    --------
    >>> one_line("a\\nb\\x1b[31m")
    'a\\\\nb\\\\x1b[31m'
    """
    out = "".join(
        ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii")
        for ch in str(text)
    )
    return out if len(out) <= limit else out[: limit - 3] + "..."


# --------------------------------------------------------------------------- paths
def resolve_inside(folder: Path, rel: Any, what: str) -> Path:
    """Resolve ``rel`` inside ``folder``; refuse any path that could lead out of it.

    Raises
    ------
    RunProblem
        For a non-string, absolute, drive-letter or backslash path, a ``..`` part, or
        a path (through symlinks) that ends outside ``folder``.

    Examples
    --------
    >>> import tempfile
    >>> resolve_inside(Path(tempfile.mkdtemp()), "../x.png", "figure 'a'")
    Traceback (most recent call last):
    ...
    squad.board.intake.RunProblem: figure 'a' path '../x.png' goes up with '..'
    """
    if not isinstance(rel, str) or not rel.strip():
        raise RunProblem(f"{what} path is not a file name ({one_line(repr(rel), 80)})")
    shown = one_line(repr(rel), 120)
    if "\\" in rel or "\x00" in rel or ":" in rel:
        raise RunProblem(f"{what} path {shown} has a backslash, colon or NUL")
    pure = PurePosixPath(rel)
    if pure.is_absolute():
        raise RunProblem(f"{what} path {shown} is absolute")
    if ".." in pure.parts:
        raise RunProblem(f"{what} path {shown} goes up with '..'")
    base = folder.resolve()
    target = (base / pure).resolve()
    if not target.is_relative_to(base):
        raise RunProblem(f"{what} path {shown} leads outside its run folder (symlink)")
    return target


def _regular_file(path: Path, what: str, limit: int) -> os.stat_result:
    try:
        info = path.stat()
    except OSError as err:
        raise RunProblem(f"{what} cannot be read ({err.strerror})") from err
    if not path.is_file():
        raise RunProblem(f"{what} is not a regular file")
    if info.st_size > limit:
        raise RunProblem(f"{what} has {info.st_size:,} bytes; the limit is {limit:,}")
    return info


def read_png(folder: Path, rel: Any, name: str) -> bytes:
    """Read figure ``rel`` of a run folder after every check; return its bytes.

    Raises
    ------
    RunProblem
        If the path leads out, the file is too large, or it is not a PNG of a sane size.
    """
    what = f"figure {one_line(repr(name), 60)}"
    path = resolve_inside(folder, rel, what)
    _regular_file(path, what, FIGURE_MAX_BYTES)
    with open(path, "rb") as fh:
        data = fh.read(FIGURE_MAX_BYTES + 1)
    if len(data) > FIGURE_MAX_BYTES:
        raise RunProblem(f"{what} is larger than {FIGURE_MAX_BYTES:,} bytes")
    if not data.startswith(PNG_MAGIC) or data[12:16] != b"IHDR" or len(data) < 33:
        raise RunProblem(f"{what} is not a PNG image")
    width, height = struct.unpack(">II", data[16:24])
    if not (0 < width <= FIGURE_MAX_PIXELS and 0 < height <= FIGURE_MAX_PIXELS):
        raise RunProblem(
            f"{what} claims {width}x{height} pixels; the limit is {FIGURE_MAX_PIXELS}"
        )
    return data


# --------------------------------------------------------------------------- records
def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} is not finite")
    return value


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > 18:  # would overflow a float, or a pandas column
        raise ValueError(f"integer {text[:40]}... has more than 18 digits")
    return int(text)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


_VALIDATOR: Any = None


def _validator() -> Any:
    global _VALIDATOR
    if _VALIDATOR is None:
        from squad._imports import mask_slow_optional_imports

        mask_slow_optional_imports()  # jsonschema's IRI grammars: seconds, unused here
        from jsonschema import Draft202012Validator

        Draft202012Validator.check_schema(RECORD_JSON_SCHEMA)
        _VALIDATOR = Draft202012Validator(RECORD_JSON_SCHEMA)
    return _VALIDATOR


def _schema_problem(data: Any) -> str | None:
    errors = _validator().iter_errors(data)
    from jsonschema.exceptions import best_match

    error = best_match(errors)
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "the top level"
    message = error.message
    if len(message) > 160:  # the message quotes the value, which may be huge
        message = f"{error.validator} {error.validator_value!r} not met"
    return f"record.json at {one_line(where, 80)}: {one_line(message, 200)}"


def read_checked_record(folder: Path) -> dict[str, Any]:
    """Read ``folder/record.json`` within the limits and check it against the schema.

    Raises
    ------
    RunProblem
        With the one-line reason.
    """
    path = folder / RECORD_FILE
    if path.is_symlink():
        raise RunProblem("record.json is a symlink")
    _regular_file(path, "record.json", RECORD_MAX_BYTES)
    try:
        text = path.read_bytes()[: RECORD_MAX_BYTES + 1].decode("utf-8")
        data = json.loads(
            text,
            parse_float=_finite,
            parse_int=_bounded_int,
            parse_constant=_no_constant,
        )
    except UnicodeDecodeError as err:
        raise RunProblem("record.json is not UTF-8") from err
    except RecursionError as err:
        raise RunProblem("record.json is nested too deeply") from err
    except ValueError as err:
        raise RunProblem(
            f"record.json is not valid JSON ({one_line(err, 120)})"
        ) from err
    problem = _schema_problem(data)
    if problem:
        raise RunProblem(problem)
    return data


def check_run_folder(folder: Path) -> dict[str, Any]:
    """Check a run folder; return its record with ``_dir`` and ``_figures`` (name → path).

    Raises
    ------
    RunProblem
        On the first problem found.
    """
    data = read_checked_record(folder)
    figures = {}
    for name, rel in (data.get("figures") or {}).items():
        read_png(folder, rel, name)
        figures[name] = rel
    for rel in data.get("files") or {}:
        target = resolve_inside(folder, rel, f"file {one_line(repr(rel), 60)}")
        if target.exists() and not target.is_file():
            raise RunProblem(f"file {one_line(repr(rel), 60)} is not a regular file")
    if data.get("notebook"):
        resolve_inside(folder, data["notebook"], "notebook")
    predictions = folder / PREDICTIONS_FILE
    if predictions.is_symlink() or predictions.exists():
        resolve_inside(folder, PREDICTIONS_FILE, "predictions file")
        _regular_file(predictions, "predictions file", PREDICTIONS_MAX_BYTES)
    return {**data, "_dir": folder, "_figures": figures}


# --------------------------------------------------------------------------- the tree
def _record_files(root: Path) -> tuple[list[Path], list[Path]]:
    """``record.json`` files below ``root``, and symlinked folders (not followed)."""
    found, links = [], []
    for top, dirs, files in os.walk(root, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        links += [Path(top) / d for d in dirs if (Path(top) / d).is_symlink()]
        if RECORD_FILE in files:
            found.append(Path(top) / RECORD_FILE)
    return sorted(found), sorted(links)


def _relative(path: Path, root: Path) -> Path:
    return path.relative_to(root) if path.is_relative_to(root) else path


def _member(rec: Mapping[str, Any]) -> str:
    return str((rec.get("provenance") or {}).get("member") or "")


def _end(rec: Mapping[str, Any]) -> str:
    return str((rec.get("timings") or {}).get("end") or "")


def _content(rec: Mapping[str, Any]) -> str:
    """What makes two copies of a run the same run (not where or when it was copied)."""
    keep = ("parameters", "metrics", "status", "files")
    return json.dumps({k: rec.get(k) for k in keep}, sort_keys=True, default=str)


def load_runs(root: str | os.PathLike[str], *, warn: bool = True) -> Intake:
    """Read and check every run folder below ``root`` (hidden folders are skipped).

    Parameters
    ----------
    root : path-like
        The tree of run folders.
    warn : bool, default=True
        Log one warning line per run left out.

    Returns
    -------
    Intake
        Kept runs sorted by end time (each record has ``_dir`` and ``_figures``), and
        the folders left out with their problem.

    Raises
    ------
    squad.errors.MissingFileError
        If ``root`` does not exist.
    """
    root = Path(root)
    if not root.is_dir():
        msg = f"No runs folder at {root}: run `squad run NOTEBOOK --out ...` first."
        raise MissingFileError(msg)
    intake = Intake(root=root)
    base = root.resolve()
    files, links = _record_files(root)
    for link in links:
        intake.rejected.append(Rejected(link, "the folder is a symlink (not followed)"))
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for file in files:
        folder = file.parent
        try:
            if not folder.resolve().is_relative_to(base):
                raise RunProblem("the folder leads outside the runs folder (symlink)")
            rec = check_run_folder(folder)
        except RunProblem as err:
            intake.rejected.append(Rejected(folder, str(err)))
            continue
        groups.setdefault((rec["run_id"], _member(rec)), []).append(rec)
    kept = []
    for (run_id, member), copies in groups.items():
        if len({_content(r) for r in copies}) == 1:  # copies of one run: the latest
            kept.append(max(copies, key=_end))
            continue
        # One member's run id on different runs: which is genuine cannot be told.
        who = one_line(member or "no member", 60)
        for rec in copies:
            others = ", ".join(
                one_line(str(_relative(o["_dir"], root)), 120)
                for o in copies
                if o is not rec
            )
            intake.rejected.append(
                Rejected(
                    rec["_dir"],
                    f"run id {run_id} of {who} is also used by a different run in "
                    f"{others}",
                )
            )
    intake.runs = sorted(kept, key=_end)
    if warn:
        for item in intake.rejected:
            logger.warning("%s", item.line(root))
    return intake
