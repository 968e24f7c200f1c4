"""Run records: what a run keeps, from the notebook's ``record()`` to ``record.json``.

- ``notebook``: ``record(name, value)`` inside a notebook, and reading what it wrote
  (``read_metrics_log``, ``current_run_dir``, ``to_json_value``).
- ``run_record``: :class:`RunRecord`, the one definition of a run record, with
  ``read_record`` and ``write_record``.
- ``schema``: the file names, statuses, name patterns and the JSON Schema a record is
  checked against.

This package imports none of the kit's parts: notebooks, the sweep and the board all
rest on it.
"""

from squad.records.notebook import (
    current_run_dir,
    read_metrics_log,
    record,
    to_json_value,
)
from squad.records.run_record import RunRecord, read_record, write_record
from squad.records.schema import (
    FIGURES_DIR,
    METRICS_FILE,
    RECORD_FILE,
    RECORD_SCHEMA,
    RUN_DIR_ENV,
    STATUSES,
)

__all__ = [
    "FIGURES_DIR",
    "METRICS_FILE",
    "RECORD_FILE",
    "RECORD_SCHEMA",
    "RUN_DIR_ENV",
    "STATUSES",
    "RunRecord",
    "current_run_dir",
    "read_metrics_log",
    "read_record",
    "record",
    "to_json_value",
    "write_record",
]
