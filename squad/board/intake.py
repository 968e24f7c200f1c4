"""Run folders as untrusted input: read, check and keep, or leave out with one warning.

A board is built from folders that several members copy into one tree (a shared folder, a
shared git repository). Any of them may be broken or hostile, so :func:`load_runs` checks
each run before anything of it is used:

- ``record.json`` is a regular file inside the tree (no symlink), at most
  :data:`~squad.board.limits.RECORD_MAX_BYTES`, UTF-8 JSON with finite numbers only
  (``NaN``, ``Infinity`` and overflowing literals are refused), and valid against
  :data:`~squad.records.schema.RECORD_JSON_SCHEMA`;
- every file the record names (``figures``, ``files``, ``notebook``) and the predictions
  file resolve inside the run's own folder: relative, no ``..``, no drive, no symlink
  that leads out;
- every figure is a real PNG (magic bytes and header), at most
  :data:`~squad.board.limits.FIGURE_MAX_BYTES` and
  :data:`~squad.board.limits.FIGURE_MAX_PIXELS` wide and high;
- no string in the record holds a lone surrogate (no page or file could hold it), and
  the keys of a metric that is a dict are names (they become columns);
- every file the board uses is checked against the sha256 the record gives in
  ``files``: the predictions file must be listed there and match, a figure listed
  there must match (a signed run's figures must be listed);
- ``record.json.sig``, if present, is a valid signature of the bytes of
  ``record.json`` (see :mod:`squad.board.signing`); with a signers file, its key gives
  the run's owner (:mod:`squad.board.identity`);
- copies of one run are kept once and clashing copies are left out, each named, by
  :func:`squad.board.identity.resolve_copies`.

The tree is walked with a stack, not recursion, down to
:data:`~squad.board.limits.FOLDER_MAX_DEPTH` folders; a deeper folder is left out and
named. A run that fails a check is left out with one warning line naming its folder and
the problem (:class:`Rejected`), every character of it printable; the others are kept.
Nothing here raises on bad content.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import math
import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from squad.board.identity import identify, resolve_copies
from squad.board.limits import (
    FIGURE_MAX_BYTES,
    FIGURE_MAX_PIXELS,
    FOLDER_MAX_DEPTH,
    PREDICTIONS_MAX_BYTES,
    RECORD_MAX_BYTES,
    RECORD_MAX_DEPTH,
)
from squad.board.run import BoardRun, RunSignature
from squad.board.safety import find_surrogate, json_depth, one_line
from squad.board.signing import SIGNATURE_FILE, SignatureError, Signers
from squad.errors import MissingFileError
from squad.records import RECORD_FILE, RunRecord
from squad.records.schema import RECORD_JSON_SCHEMA

__all__ = [
    "PNG_MAGIC",
    "Intake",
    "RunProblem",
    "Rejected",
    "check_run_folder",
    "find_records",
    "load_runs",
    "one_line",
    "read_checked_record",
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
        problem = one_line(self.problem, 2000)
        return f"Skipping run folder {one_line(str(shown))}: {problem}"


@dataclass
class Intake:
    """The runs kept (checked, with their folder and identity) and the ones left out."""

    root: Path
    runs: list[BoardRun] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)


# --------------------------------------------------------------------------- paths
def resolve_inside(
    folder: Path, rel: Any, what: str, *, base: Path | None = None
) -> Path:
    """Resolve ``rel`` inside ``folder``; refuse any path that could lead out of it.

    ``base`` is ``folder.resolve()``, when the caller has it already.

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
    base = base or folder.resolve()
    target = base
    for part in pure.parts:  # no '..': only a symlink can lead out
        target = target / part
        if target.is_symlink():
            target = (base / pure).resolve()
            break
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


def read_png(folder: Path, rel: Any, name: str, sha256: str | None = None) -> bytes:
    """Read figure ``rel`` of a run folder after every check; return its bytes.

    Parameters
    ----------
    folder : pathlib.Path
        The run folder.
    rel : str
        The figure's path in it.
    name : str
        The figure's name (for messages).
    sha256 : str, optional
        The sha256 the record gives the file; the bytes read must have it.

    Raises
    ------
    RunProblem
        If the path leads out, the file is too large or differs from ``sha256``, or it
        is not a PNG of a sane size.
    """
    what = f"figure {one_line(repr(name), 60)}"
    path = resolve_inside(folder, rel, what)
    _regular_file(path, what, FIGURE_MAX_BYTES)
    with open(path, "rb") as fh:
        data = fh.read(FIGURE_MAX_BYTES + 1)
    if len(data) > FIGURE_MAX_BYTES:
        raise RunProblem(f"{what} is larger than {FIGURE_MAX_BYTES:,} bytes")
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise RunProblem(f"{what} differs from the sha256 its record gives")
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


_FAST: Any = None


def _fast_valid(data: Any) -> bool:
    """Whether ``data`` passes the schema, by code fastjsonschema generates from it
    (twenty times faster than jsonschema; a record it refuses goes to jsonschema,
    which decides and words the problem)."""
    global _FAST
    import fastjsonschema

    if _FAST is None:
        _FAST = fastjsonschema.compile(RECORD_JSON_SCHEMA)
    try:
        _FAST(data)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


def _schema_problem(data: Any) -> str | None:
    if _fast_valid(data):
        return None
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


def read_checked_record(folder: Path) -> RunRecord:
    """Read ``folder/record.json`` within the limits and check it against the schema.

    Raises
    ------
    RunProblem
        With the one-line reason.
    """
    data, _ = _read_record(folder)
    return RunRecord.from_dict(data, source=folder / RECORD_FILE)


def _read_record(folder: Path) -> tuple[dict[str, Any], bytes]:
    """The schema-checked JSON of ``folder/record.json`` and the exact bytes read."""
    path = folder / RECORD_FILE
    if path.is_symlink():
        raise RunProblem("record.json is a symlink")
    _regular_file(path, "record.json", RECORD_MAX_BYTES)
    try:
        with open(path, "rb") as fh:
            raw = fh.read(RECORD_MAX_BYTES + 1)
        if len(raw) > RECORD_MAX_BYTES:
            raise RunProblem(f"record.json is larger than {RECORD_MAX_BYTES:,} bytes")
        text = raw.decode("utf-8")
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
    except OSError as err:
        raise RunProblem(f"record.json cannot be read ({err.strerror})") from err
    if json_depth(data) > RECORD_MAX_DEPTH:
        raise RunProblem(f"record.json nests more than {RECORD_MAX_DEPTH} levels deep")
    where = find_surrogate(data)
    if where is not None:
        raise RunProblem(
            f"record.json at {where} holds a lone surrogate (\\ud800-\\udfff), "
            "which no page or file can show"
        )
    problem = _schema_problem(data)
    if problem:
        raise RunProblem(problem)
    return data, raw


def _listed_sha256(data: Mapping[str, Any], rel: str) -> str | None:
    entry = (data.get("files") or {}).get(rel)
    return entry.get("sha256") if isinstance(entry, Mapping) else None


def _file_sha256(path: Path, limit: int, what: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        read = 0
        while chunk := fh.read(1 << 20):
            read += len(chunk)
            if read > limit:
                raise RunProblem(f"{what} is larger than {limit:,} bytes")
            digest.update(chunk)
    return digest.hexdigest()


def _signature(
    folder: Path, raw: bytes, signers: Signers | None
) -> RunSignature | None:
    """The run's verified signature, or None if it has none."""
    from squad.board.signing import SIGNATURE_MAX_BYTES, key_fingerprint, verify_bytes

    path = folder / SIGNATURE_FILE
    if not (path.is_symlink() or path.exists()):
        return None
    if path.is_symlink():
        raise RunProblem(f"{SIGNATURE_FILE} is a symlink")
    _regular_file(path, SIGNATURE_FILE, SIGNATURE_MAX_BYTES)
    try:
        text = path.read_bytes()[:SIGNATURE_MAX_BYTES].decode("ascii")
        public = verify_bytes(text, raw)
    except UnicodeDecodeError as err:
        raise RunProblem(f"{SIGNATURE_FILE} is not an SSH signature") from err
    except SignatureError as err:
        raise RunProblem(
            f"{SIGNATURE_FILE} is not a valid signature of record.json: {err}"
        ) from err
    name = signers.name_of(public) if signers is not None else None
    key = base64.b64encode(public).decode("ascii")
    return RunSignature(key=key, fingerprint=key_fingerprint(public), name=name)


def check_run_folder(folder: Path, signers: Signers | None = None) -> BoardRun:
    """Check a run folder; return it as a board run.

    The run has its folder, the figures that may be shown (name → path) and its
    identity (see :func:`squad.board.identity.identify`).

    Raises
    ------
    RunProblem
        On the first problem found.
    """
    data, raw = _read_record(folder)
    signature = _signature(folder, raw, signers)
    base = folder.resolve()
    for rel in data.get("files") or {}:
        what = f"file {one_line(repr(rel), 60)}"
        target = resolve_inside(folder, rel, what, base=base)
        if target.exists() and not target.is_file():
            raise RunProblem(f"file {one_line(repr(rel), 60)} is not a regular file")
    figures = {}
    for name, rel in (data.get("figures") or {}).items():
        wanted = _listed_sha256(data, rel) if isinstance(rel, str) else None
        read_png(folder, rel, name, wanted)
        if wanted is not None or signature is None:
            figures[name] = rel  # a signed run shows only the figures it signed
    if data.get("notebook"):
        resolve_inside(folder, data["notebook"], "notebook", base=base)
    predictions = folder / PREDICTIONS_FILE
    if predictions.is_symlink() or predictions.exists():
        what = "predictions file"
        resolve_inside(folder, PREDICTIONS_FILE, what, base=base)
        _regular_file(predictions, what, PREDICTIONS_MAX_BYTES)
        wanted = _listed_sha256(data, PREDICTIONS_FILE)
        if wanted is None:
            raise RunProblem(
                f"{PREDICTIONS_FILE} is not listed in record.json's files with its "
                "sha256, so it cannot be checked"
            )
        if _file_sha256(predictions, PREDICTIONS_MAX_BYTES, what) != wanted:
            raise RunProblem(
                f"{PREDICTIONS_FILE} differs from the sha256 record.json gives it"
            )
    record = RunRecord.from_dict(data, source=folder / RECORD_FILE)
    identity = identify(record, signature, with_signers=signers is not None)
    return BoardRun(record, identity, folder=folder, figures=figures)


# --------------------------------------------------------------------------- the tree
def find_records(root: Path) -> tuple[list[Path], list[Rejected]]:
    """``record.json`` files below ``root``; folders not searched, with why.

    A stack, not recursion: any depth is walked in constant stack space, and folders
    deeper than :data:`~squad.board.limits.FOLDER_MAX_DEPTH` are named, not entered.
    Symlinked folders are not followed; hidden folders are skipped.
    """
    found: list[Path] = []
    skipped: list[Rejected] = []
    stack: list[tuple[Path, int]] = [(root, 0)]
    while stack:
        folder, depth = stack.pop()
        try:
            with os.scandir(folder) as entries:
                items = sorted(entries, key=lambda e: e.name)
        except OSError as err:
            skipped.append(Rejected(folder, f"cannot be read ({err.strerror})"))
            continue
        for entry in items:
            if entry.name == RECORD_FILE and not entry.is_dir(follow_symlinks=False):
                found.append(Path(entry.path))
            elif entry.name.startswith("."):
                continue
            elif entry.is_symlink():
                try:
                    is_dir = Path(entry.path).is_dir()
                except OSError:
                    is_dir = False
                if is_dir:
                    skipped.append(
                        Rejected(
                            Path(entry.path), "the folder is a symlink (not followed)"
                        )
                    )
            elif entry.is_dir(follow_symlinks=False):
                if depth + 1 > FOLDER_MAX_DEPTH:
                    skipped.append(
                        Rejected(
                            Path(entry.path),
                            f"the folder is more than {FOLDER_MAX_DEPTH} levels below "
                            "the runs folder (not searched)",
                        )
                    )
                else:
                    stack.append((Path(entry.path), depth + 1))
    return sorted(found), sorted(skipped, key=lambda r: r.folder)


def _relative(path: Path, root: Path) -> Path:
    return path.relative_to(root) if path.is_relative_to(root) else path


def load_runs(
    root: str | os.PathLike[str],
    *,
    warn: bool = True,
    signers: Signers | None = None,
) -> Intake:
    """Read and check every run folder below ``root`` (hidden folders are skipped).

    Parameters
    ----------
    root : path-like
        The tree of run folders.
    warn : bool, default=True
        Log one warning line per run left out.
    signers : squad.board.signing.Signers, optional
        The group's signers file: runs are then owned by the names it gives their
        keys, and unsigned or unknown-key runs are unverified (see
        :mod:`squad.board.identity`).

    Returns
    -------
    Intake
        Kept runs sorted by end time, and the folders left out with their problem.

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
    files, skipped = find_records(root)
    intake.rejected += skipped
    checked = []
    for file in files:
        folder = file.parent
        try:
            if not folder.resolve().is_relative_to(base):
                raise RunProblem("the folder leads outside the runs folder (symlink)")
            run = check_run_folder(folder, signers)
        except RunProblem as err:
            intake.rejected.append(Rejected(folder, str(err)))
            continue
        except OSError as err:  # e.g. a path too long for the system
            intake.rejected.append(Rejected(folder, f"cannot be read ({err.strerror})"))
            continue
        checked.append(run)
    kept, left_out = resolve_copies(checked, root)
    intake.rejected += [Rejected(run.folder or root, why) for run, why in left_out]
    intake.runs = sorted(kept, key=lambda run: run.record.end)
    if warn:
        for item in intake.rejected:
            logger.warning("%s", item.line(root))
    return intake
