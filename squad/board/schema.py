"""What a run folder may hold: the JSON Schema of ``record.json`` and the size limits.

Run folders reach the board from other members' machines (a shared folder, a shared git
repository): everything in them is untrusted input. :mod:`squad.board.intake` reads a
folder only within the limits below and checks its ``record.json`` against
:data:`RECORD_JSON_SCHEMA` with ``jsonschema`` before the board uses any of it.

The schema pins types, lengths and counts, the form of names and ids (a run id or a
dataset name ends up in a file name of the site), and the ranges of the metrics the board
ranks by (accuracies, rates and F1 in [0, 1], counts and seconds not negative). Numbers
must be finite: the reader refuses ``NaN`` and ``Infinity`` before the schema sees them.
"""

from __future__ import annotations

from typing import Any

from squad.record import STATUSES

__all__ = [
    "FIGURE_MAX_BYTES",
    "FIGURE_MAX_PIXELS",
    "FOLDER_MAX_DEPTH",
    "PREDICTIONS_MAX_BYTES",
    "PREDICTIONS_MAX_ROWS",
    "RECORD_JSON_SCHEMA",
    "RECORD_MAX_BYTES",
    "RECORD_MAX_DEPTH",
]

#: Largest ``record.json`` read (the kit's own are about 20 kB).
RECORD_MAX_BYTES = 1_000_000
#: Deepest nesting of lists and dicts in a record (the kit's own nest 4 deep).
RECORD_MAX_DEPTH = 32
#: Largest figure embedded or copied into a page (the kit's own are under 100 kB).
FIGURE_MAX_BYTES = 2_000_000
#: Largest width or height of a figure, in pixels (a small PNG can claim a huge size).
FIGURE_MAX_PIXELS = 8_000
#: Largest predictions file scored, and its largest number of rows.
PREDICTIONS_MAX_BYTES = 64_000_000
PREDICTIONS_MAX_ROWS = 2_000_000
#: Deepest run folder searched, in folders below the board's root.
FOLDER_MAX_DEPTH = 16

_NAME = "^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$"
_RUN_ID = "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_SHA256 = "^[0-9a-f]{64}$"
_TEXT = "^[^\\x00-\\x08\\x0b-\\x1f\\x7f]*$"  # no control characters but tab, newline
_SHORT = {"type": "string", "maxLength": 200, "pattern": _TEXT}
_OPTIONAL_SHORT = {"type": ["string", "null"], "maxLength": 200, "pattern": _TEXT}
_UNIT = {"type": ["number", "null"], "minimum": 0, "maximum": 1}
_COUNT = {"type": "integer", "minimum": 0}
_SECONDS = {"type": ["number", "null"], "minimum": 0}
# Any JSON value; its total size is bounded by RECORD_MAX_BYTES.
_VALUE: dict[str, Any] = {
    "type": ["number", "string", "boolean", "null", "array", "object"],
    "maxLength": 10_000,
    "maxItems": 10_000,
    "maxProperties": 1_000,
}
_UNIT_LIST = {"type": "array", "maxItems": 10_000, "items": _UNIT}
# A metric that is a dict becomes columns ``<metric>.<key>``: its keys are names too.
_METRIC_VALUE: dict[str, Any] = {**_VALUE, "propertyNames": {"pattern": _NAME}}

#: JSON Schema (draft 2020-12) of a run's ``record.json`` as the board accepts it.
RECORD_JSON_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "squad run record",
    "type": "object",
    "required": ["experiment", "run_id", "parameters", "metrics", "status"],
    "properties": {
        "schema": {"type": "integer", "minimum": 1, "maximum": 1},
        "experiment": {"type": "string", "pattern": _NAME},
        "run_id": {"type": "string", "pattern": _RUN_ID},
        "notebook": {"type": ["string", "null"], "maxLength": 255},
        "notebook_sha256": {"type": ["string", "null"], "pattern": _SHA256},
        "parameters": {
            "type": "object",
            "maxProperties": 100,
            "propertyNames": {"minLength": 1, "maxLength": 100, "pattern": _TEXT},
            "additionalProperties": _VALUE,
        },
        "metrics": {
            "type": "object",
            "maxProperties": 500,
            "propertyNames": {"pattern": _NAME},
            "patternProperties": {
                "^(accuracy|f1_macro|f1_weighted|expected_calibration_error)$": _UNIT,
                "^(accuracy_level_|automation_rate_|top_)[0-9a-z_]+$": _UNIT,
                "^(n|n_classes|n_unseen_classes|n_unseen_records)$": _COUNT,
                "_seconds$": _SECONDS,
                "^records_per_second$": _SECONDS,
                "^automation_curve$": {
                    "type": "object",
                    "properties": {
                        "automation_rate": _UNIT_LIST,
                        "accuracy": _UNIT_LIST,
                        "threshold": {
                            "type": "array",
                            "maxItems": 10_000,
                            "items": {"type": ["number", "null"]},
                        },
                    },
                },
            },
            "additionalProperties": _METRIC_VALUE,
        },
        "figures": {
            "type": "object",
            "maxProperties": 20,
            "propertyNames": {"pattern": _NAME},
            "additionalProperties": {"type": "string", "maxLength": 255},
        },
        "files": {
            "type": "object",
            "maxProperties": 1_000,
            "additionalProperties": {
                "type": "object",
                "properties": {
                    "bytes": _COUNT,
                    "sha256": {"type": "string", "pattern": _SHA256},
                },
            },
        },
        "status": {"enum": list(STATUSES)},
        "error": {"type": ["object", "null"], "maxProperties": 20},
        "timings": {
            "type": "object",
            "maxProperties": 20,
            "properties": {
                name: {
                    "type": ["string", "null"],
                    "maxLength": 40,
                    "pattern": "^[0-9T:.+Z-]*$",
                }
                for name in ("queued", "start", "end")
            },
            "additionalProperties": {
                "type": ["number", "boolean", "null"],
                "minimum": 0,
            },
        },
        "provenance": {
            "type": "object",
            "maxProperties": 50,
            "properties": {
                "member": {**_OPTIONAL_SHORT, "maxLength": 100},
                "dataset": {
                    "type": ["object", "null"],
                    "properties": {
                        "name": {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,64}$"},
                        "protocol": {
                            "type": ["string", "null"],
                            "pattern": "^[A-Za-z0-9_.-]{0,64}$",
                        },
                        "language": {
                            "type": ["string", "null"],
                            "pattern": "^[A-Za-z0-9_,-]{0,64}$",
                        },
                        "sha256": {"type": ["string", "null"], "pattern": _SHA256},
                    },
                },
                "squad_version": _OPTIONAL_SHORT,
                "host": _OPTIONAL_SHORT,
                "platform": _OPTIONAL_SHORT,
                "python": _OPTIONAL_SHORT,
            },
            "additionalProperties": _VALUE,
        },
        "fact_sheet": {
            "type": "object",
            "maxProperties": 20,
            "propertyNames": {"pattern": _NAME},
            "additionalProperties": {
                "type": "string",
                "maxLength": 4_000,
                "pattern": _TEXT,
            },
        },
    },
    "additionalProperties": _VALUE,
}
