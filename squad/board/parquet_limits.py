"""A run's predictions file, measured before it is read, and read only if it fits.

A Parquet file is small on disk and can be enormous in memory: a column of one 4 kB
string repeated two million times is dictionary-encoded into a few hundred bytes and
expands to 8 GB when read as plain strings. :func:`read_predictions_file` therefore:

1. reads the file's bytes once (at most
   :data:`~squad.board.limits.PREDICTIONS_MAX_BYTES`) and checks them against the
   sha256 the run's record gives, so what is scored is what the record (and its
   signature) claims;
2. measures it from its metadata: at most
   :data:`~squad.board.limits.PREDICTIONS_MAX_ROWS` rows, :data:`MAX_COLUMNS` columns
   and :data:`MAX_ROW_GROUPS` row groups, plain column types only (integers, floats,
   booleans, strings), and an uncompressed size of at most :data:`MEMORY_CEILING`;
3. reads the columns with strings kept dictionary-encoded, adds up the size every
   string column would have once decoded, and decodes only if the table stays within
   :data:`MEMORY_CEILING` (256 MB) in memory.

A file over a limit is refused with one line (a ``ValueError``) naming the limit; the
board then leaves the run out, naming its folder.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pandas as pd

from squad.board.limits import PREDICTIONS_MAX_BYTES, PREDICTIONS_MAX_ROWS
from squad.errors import FileProblemError, InvalidInputError

__all__ = [
    "MAX_COLUMNS",
    "MAX_ROW_GROUPS",
    "MEMORY_CEILING",
    "read_predictions_file",
]

#: Largest size in memory of a predictions table (and of its uncompressed pages).
MEMORY_CEILING = 256_000_000
#: Largest number of columns of a predictions file.
MAX_COLUMNS = 50
#: Largest number of row groups (each has its own metadata to read).
MAX_ROW_GROUPS = 10_000


def _plain_type(kind) -> bool:
    import pyarrow.types as t

    if t.is_dictionary(kind):
        return _plain_type(kind.value_type)
    return (
        t.is_integer(kind)
        or t.is_floating(kind)
        or t.is_boolean(kind)
        or t.is_string(kind)
        or t.is_large_string(kind)
        or t.is_null(kind)
    )


def _decoded_size(column) -> int:
    """Bytes a chunked column takes in memory once its dictionaries are decoded."""
    import pyarrow as pa
    import pyarrow.compute as pc

    total = 0
    for chunk in column.chunks:
        if pa.types.is_dictionary(chunk.type):
            lengths = pc.binary_length(chunk.dictionary).fill_null(0)
            taken = pc.sum(lengths.take(chunk.indices.fill_null(0))).as_py() or 0
            total += int(taken) + 8 * len(chunk)
        else:
            total += chunk.nbytes
    return total


def read_predictions_file(
    path: str | os.PathLike[str], *, sha256: str | None = None
) -> pd.DataFrame:
    """Read a run's predictions file within the limits of this module.

    Parameters
    ----------
    path : path-like
        The Parquet file.
    sha256 : str, optional
        The sha256 the run's record gives; the bytes read must have it.

    Returns
    -------
    DataFrame
        The file's columns (the Parquet file's pandas metadata is ignored).

    Raises
    ------
    squad.errors.FileProblemError
        If the file differs from ``sha256``.
    squad.errors.InvalidInputError
        If it is not Parquet, or exceeds a limit (named in the message).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    with open(path, "rb") as fh:
        data = fh.read(PREDICTIONS_MAX_BYTES + 1)
    if len(data) > PREDICTIONS_MAX_BYTES:
        msg = f"{path.name} is larger than {PREDICTIONS_MAX_BYTES:,} bytes"
        raise InvalidInputError(msg)
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        msg = f"{path.name} differs from the sha256 its record gives"
        raise FileProblemError(msg)
    try:
        parquet = pq.ParquetFile(pa.BufferReader(data))
        meta = parquet.metadata
        schema = parquet.schema_arrow
    except (pa.ArrowException, OSError, ValueError) as err:
        msg = f"{path.name} is not a Parquet file ({str(err)[:120]})"
        raise InvalidInputError(msg) from err
    if (
        meta.num_rows > PREDICTIONS_MAX_ROWS
        or meta.num_columns > MAX_COLUMNS
        or meta.num_row_groups > MAX_ROW_GROUPS
    ):
        msg = (
            f"{path.name} has {meta.num_rows:,} rows, {meta.num_columns} columns and "
            f"{meta.num_row_groups:,} row groups; the limits are "
            f"{PREDICTIONS_MAX_ROWS:,}, {MAX_COLUMNS} and {MAX_ROW_GROUPS:,}"
        )
        raise InvalidInputError(msg)
    odd = [f.name for f in schema if not _plain_type(f.type)]
    if odd:
        shown = ", ".join(repr(str(n)[:40]) for n in odd[:3])
        msg = (
            f"{path.name} has columns of nested or binary types ({shown}); "
            "predictions hold numbers and text only"
        )
        raise InvalidInputError(msg)
    uncompressed = sum(
        meta.row_group(i).column(j).total_uncompressed_size
        for i in range(meta.num_row_groups)
        for j in range(meta.num_columns)
    )
    if uncompressed > MEMORY_CEILING:
        msg = (
            f"{path.name} holds {uncompressed:,} bytes uncompressed; the limit is "
            f"{MEMORY_CEILING:,}"
        )
        raise InvalidInputError(msg)
    strings = [
        f.name
        for f in schema
        if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
    ]
    try:
        parquet = pq.ParquetFile(pa.BufferReader(data), read_dictionary=strings)
        table = parquet.read(use_pandas_metadata=False)
    except (pa.ArrowException, OSError, ValueError) as err:
        msg = f"{path.name} cannot be read as Parquet ({str(err)[:120]})"
        raise InvalidInputError(msg) from err
    in_memory = sum(_decoded_size(column) for column in table.columns)
    if in_memory > MEMORY_CEILING:
        msg = (
            f"{path.name} would take {in_memory:,} bytes in memory; the limit is "
            f"{MEMORY_CEILING:,}"
        )
        raise InvalidInputError(msg)
    if not table.num_columns:
        return pd.DataFrame()
    decoded = [
        column.cast(column.type.value_type)
        if pa.types.is_dictionary(column.type)
        else column
        for column in table.columns
    ]
    # Names as they are, repeated ones included: the checks name the collision.
    plain = pa.Table.from_arrays(decoded, names=table.column_names)
    return plain.to_pandas(ignore_metadata=True)
