"""What a run record is: its file names, statuses and the JSON Schema it is checked against.

A run's ``record.json`` is written by ``squad run`` and ``squad submit`` on a member's
machine and read by the board on everybody else's: the board checks every record
against :data:`RECORD_JSON_SCHEMA` (with ``jsonschema``) before it uses any of it.

The schema pins types, lengths and counts, the form of names and ids (a run id or a
dataset name ends up in a file name of the board's site), and the ranges of the metrics
the board ranks by (accuracies, rates and F1 in [0, 1], counts and seconds not
negative). Numbers must be finite: readers refuse ``NaN`` and ``Infinity`` before the
schema sees them.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "FIGURES_DIR",
    "METRICS_FILE",
    "NAME_PATTERN",
    "RECORD_FILE",
    "RECORD_JSON_SCHEMA",
    "RECORD_SCHEMA",
    "REQUIRED_KEYS",
    "RUN_DIR_ENV",
    "RUN_ID_PATTERN",
    "STATUSES",
]

#: The environment variable that tells a notebook's kernel its run folder.
RUN_DIR_ENV = "SQUAD_RUN_DIR"
#: One JSON line per ``squad.record`` call, merged into the record when the run ends.
METRICS_FILE = "metrics.jsonl"
#: The run record, written last and atomically.
RECORD_FILE = "record.json"
#: Figures recorded by the notebook, as PNG files.
FIGURES_DIR = "figures"
#: Version of the record's layout (its ``schema`` key).
RECORD_SCHEMA = 1
#: How a run ended.
STATUSES = ("ok", "error", "timeout", "kernel_died")
#: Keys every record has.
REQUIRED_KEYS = ("experiment", "run_id", "parameters", "metrics", "status")
#: A recorded name (metric, figure, experiment): it becomes part of file names.
NAME_PATTERN = r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,99}"
#: A run id: it names the run's folder.
RUN_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}"

_NAME = f"^{NAME_PATTERN}$"
_RUN_ID = f"^{RUN_ID_PATTERN}$"
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
    "required": list(REQUIRED_KEYS),
    "properties": {
        "schema": {"type": "integer", "minimum": 1, "maximum": RECORD_SCHEMA},
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
