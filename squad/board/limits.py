"""How much of a run folder the board reads: the size limits.

Run folders reach the board from other members' machines (a shared folder, a shared git
repository): everything in them is untrusted input. :mod:`squad.board.intake` reads a
folder only within the limits below, and checks its ``record.json`` against
:data:`squad.records.schema.RECORD_JSON_SCHEMA` before the board uses any of it.
"""

from __future__ import annotations

__all__ = [
    "FIGURE_MAX_BYTES",
    "FIGURE_MAX_PIXELS",
    "FOLDER_MAX_DEPTH",
    "PREDICTIONS_MAX_BYTES",
    "PREDICTIONS_MAX_ROWS",
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
