"""A challenge's final results as a file: its format, read as untrusted input.

``squad challenge results`` writes the file once a challenge has closed; ``squad board
build --challenge FILE`` shows it on the static site. The file reaches the board's
maintainer from someone else, so it is read within :data:`RESULTS_MAX_BYTES`, with
finite numbers only, no duplicate keys and no lone surrogates, and is checked against
:data:`RESULTS_JSON_SCHEMA` (every field's type and length; unknown fields are refused)
and then for what a schema cannot say (ranks in order, team names unique, scores of the
challenge's metrics, a close time with its time zone) before any of it is used. A file
of another format version is refused, naming the version this kit reads.

Version 1 of the format::

    {"format": "squad-challenge-results", "version": 1,
     "title": "...", "dataset": "soc2010", "protocol": "",
     "metrics": ["accuracy", "f1_macro"],
     "private_sha256": "<64 hex digits>", "n_public": 600, "n_private": 1400,
     "closed_at": "2026-03-01T12:00:00+00:00",
     "teams": [{"rank": 1, "team": "red", "n_submissions": 4,
                "private_scores": {"accuracy": 0.91, "f1_macro": 0.88},
                "public_scores": {"accuracy": 0.90, "f1_macro": 0.87},
                "method": "optional text", "code_url": "https://optional"}]}

``metrics`` is the ranking metric, then its tie-breakers (all higher-is-better); each
team's scores are those of its final submission. ``method`` and ``code_url`` come from
a team's fact sheet, when it wrote one.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from pathlib import Path
from typing import Any

from squad.board.safety import find_surrogate, one_line
from squad.errors import InvalidInputError, MissingFileError

__all__ = [
    "RESULTS_FORMAT",
    "RESULTS_JSON_SCHEMA",
    "RESULTS_MAX_BYTES",
    "RESULTS_VERSION",
    "check_results",
    "read_results",
]

#: The ``format`` marker of a results file, and the one version this kit reads.
RESULTS_FORMAT = "squad-challenge-results"
RESULTS_VERSION = 1
#: Largest results file read (ten thousand teams with fact sheets fit).
RESULTS_MAX_BYTES = 20_000_000

_METRIC = {"type": "string", "pattern": "^[A-Za-z0-9_][A-Za-z0-9_.-]{0,49}$"}
_SCORES = {
    "type": "object",
    "maxProperties": 10,
    "propertyNames": _METRIC,
    "additionalProperties": {"type": "number"},
}
_COUNT = {"type": "integer", "minimum": 0, "maximum": 1_000_000_000}
_TEAM = {
    "type": "object",
    "required": ["rank", "team", "private_scores", "public_scores", "n_submissions"],
    "additionalProperties": False,
    "properties": {
        "rank": {"type": "integer", "minimum": 1, "maximum": 100_000},
        "team": {"type": "string", "minLength": 1, "maxLength": 200},
        "private_scores": _SCORES,
        "public_scores": _SCORES,
        "n_submissions": _COUNT,
        "method": {"type": "string", "maxLength": 5000},
        "code_url": {"type": "string", "maxLength": 500},
    },
}

#: The JSON Schema (draft 2020-12) of a results file.
RESULTS_JSON_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": [
        "format",
        "version",
        "title",
        "dataset",
        "protocol",
        "metrics",
        "private_sha256",
        "n_public",
        "n_private",
        "closed_at",
        "teams",
    ],
    "additionalProperties": False,
    "properties": {
        "format": {"const": RESULTS_FORMAT},
        "version": {"const": RESULTS_VERSION},
        "title": {"type": "string", "minLength": 1, "maxLength": 200},
        "dataset": {"type": "string", "maxLength": 200},
        "protocol": {"type": "string", "maxLength": 200},
        "metrics": {
            "type": "array",
            "items": _METRIC,
            "minItems": 1,
            "maxItems": 10,
            "uniqueItems": True,
        },
        "private_sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "n_public": _COUNT,
        "n_private": _COUNT,
        "closed_at": {"type": "string", "minLength": 10, "maxLength": 40},
        "teams": {"type": "array", "maxItems": 10_000, "items": _TEAM},
    },
}


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} is not finite")
    return value


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > 18:
        raise ValueError(f"integer {text[:40]}... has more than 18 digits")
    return int(text)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key, value in pairs:
        if key in data:
            raise ValueError(f"key {one_line(key, 60)!r} appears twice in one object")
        data[key] = value
    return data


def _schema_problem(data: Any) -> str | None:
    from squad._imports import mask_slow_optional_imports

    mask_slow_optional_imports()  # jsonschema's IRI grammars: seconds, unused here
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    error = best_match(Draft202012Validator(RESULTS_JSON_SCHEMA).iter_errors(data))
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "the top level"
    message = error.message
    if len(message) > 160:  # the message quotes the value, which may be huge
        message = f"{error.validator} {error.validator_value!r} not met"
    return f"at {one_line(where, 80)}: {one_line(message, 200)}"


def _version_problem(data: Any) -> str | None:
    if not isinstance(data, dict):
        return "it is not a JSON object"
    if data.get("format") != RESULTS_FORMAT:
        return (
            f"its format is {one_line(repr(data.get('format')), 60)}, not "
            f"{RESULTS_FORMAT!r}: it is not a file `squad challenge results` wrote"
        )
    version = data.get("version")
    if version != RESULTS_VERSION or isinstance(version, bool):
        return (
            f"it is of version {one_line(repr(version), 40)}, and this kit reads "
            f"version {RESULTS_VERSION} only; upgrade squad or ask for a version "
            f"{RESULTS_VERSION} file"
        )
    return None


def _closed_at(text: str) -> dt.datetime | None:
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return when if when.tzinfo is not None else None


def _meaning_problem(data: dict[str, Any]) -> str | None:
    if _closed_at(data["closed_at"]) is None:
        return "closed_at is not an ISO 8601 time with its time zone"
    metrics = set(data["metrics"])
    names: set[str] = set()
    for i, team in enumerate(data["teams"]):
        if team["rank"] != i + 1:
            return f"at teams/{i}: rank {team['rank']} where {i + 1} was expected"
        if team["team"] in names:
            return f"at teams/{i}: the team name appears twice"
        names.add(team["team"])
        for field in ("private_scores", "public_scores"):
            for name, value in team[field].items():
                if name not in metrics:
                    return f"at teams/{i}/{field}: {name!r} is not one of metrics"
                if not math.isfinite(value):
                    return f"at teams/{i}/{field}/{name}: the score is not finite"
    return None


def check_results(data: Any, source: str | os.PathLike[str] = "results") -> Any:
    """Check that ``data`` is a results file's content; return it unchanged.

    Parameters
    ----------
    data : object
        The parsed JSON.
    source : path-like, default="results"
        What the messages name.

    Returns
    -------
    dict
        ``data``.

    Raises
    ------
    squad.errors.InvalidInputError
        Naming ``source`` and the first problem, in one line.

    Examples
    --------
    >>> check_results({"format": "squad-challenge-results", "version": 9})
    Traceback (most recent call last):
    ...
    squad.errors.InvalidInputError: Challenge results file 'results' is refused: it is of version 9, and this kit reads version 1 only; upgrade squad or ask for a version 1 file.
    """
    problem = _version_problem(data)
    if problem is None:
        where = find_surrogate(data)
        if where is not None:
            problem = f"at {where}: a lone surrogate (\\ud800-\\udfff)"
    problem = problem or _schema_problem(data) or _meaning_problem(data)
    if problem:
        msg = f"Challenge results file {one_line(str(source), 200)!r} is refused: {problem}."
        raise InvalidInputError(msg)
    return data


def read_results(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a challenge's results file as untrusted input, and check it.

    Parameters
    ----------
    path : path-like
        A file ``squad challenge results`` wrote.

    Returns
    -------
    dict
        The checked content (see the module's description of the format).

    Raises
    ------
    squad.errors.MissingFileError
        If there is no such file.
    squad.errors.InvalidInputError
        If it is too large, not JSON, or not a results file this kit reads.
    """
    path = Path(path)
    name = one_line(str(path), 200)
    try:
        with open(path, "rb") as handle:
            raw = handle.read(RESULTS_MAX_BYTES + 1)
    except FileNotFoundError as err:
        msg = f"Challenge results file {name!r} does not exist."
        raise MissingFileError(msg) from err
    except OSError as err:
        msg = f"Challenge results file {name!r} cannot be read ({err.strerror})."
        raise InvalidInputError(msg) from err
    problem = None
    if len(raw) > RESULTS_MAX_BYTES:
        problem = f"it is larger than {RESULTS_MAX_BYTES:,} bytes"
    else:
        try:
            data = json.loads(
                raw.decode("utf-8"),
                parse_float=_finite,
                parse_int=_bounded_int,
                parse_constant=_no_constant,
                object_pairs_hook=_unique_keys,
            )
        except UnicodeDecodeError:
            problem = "it is not UTF-8"
        except RecursionError:
            problem = "it is nested too deeply"
        except ValueError as err:
            problem = f"it is not valid JSON ({one_line(err, 120)})"
    if problem:
        msg = f"Challenge results file {name!r} is refused: {problem}."
        raise InvalidInputError(msg)
    return check_results(data, path)
