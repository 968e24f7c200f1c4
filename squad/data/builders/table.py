"""Build a member's own dataset from one CSV or Parquet file.

A card with ``builder: table`` names one source (a URL or a local path, each with its sha256)
and one or more split protocols of these kinds:

``method: stratified``
    ``id`` (column of unique record ids), ``stratify`` (column), ``test_size``, ``seed``.
``method: grouped``
    ``group`` (column whose values stay on one side), ``test_size``, ``seed``.
``method: column``
    ``column``: the file already holds the split (values ``train``/``test``).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from squad.data.splits import grouped_split, stratified_split
from squad.errors import InvalidInputError

__all__ = ["build", "VERSION"]

VERSION = "1"


def _read(path: Path) -> pd.DataFrame:
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return pd.read_parquet(path)
    if suffix in (".csv", ".txt"):
        return pd.read_csv(path)
    raise InvalidInputError(
        f"The table builder reads .csv or .parquet files, got '{path.name}'. "
        f"Convert the file or write a builder for it."
    )


def _need(frame: pd.DataFrame, proto: dict, key: str, name: str) -> str:
    column = proto.get(key)
    if column not in frame.columns:
        raise InvalidInputError(
            f"Split protocol '{name}' names {key} column '{column}', which is not in the file. "
            f"Columns: {', '.join(map(str, frame.columns))}."
        )
    return str(column)


def build(card, sources: dict[str, Path]) -> dict[str, pd.DataFrame]:
    """Read the single source file and add one ``split:<protocol>`` column per protocol."""
    if len(sources) != 1:
        raise InvalidInputError(
            f"Dataset '{card.name}': the table builder needs exactly one source, got {len(sources)}."
        )
    frame = _read(next(iter(sources.values())))
    for name, proto in card.protocols.items():
        method = proto.get("method")
        if method == "stratified":
            ids = frame[_need(frame, proto, "id", name)]
            strata = frame[_need(frame, proto, "stratify", name)]
            side = stratified_split(
                ids,
                strata,
                test_size=float(proto["test_size"]),
                seed=int(proto["seed"]),
            )
        elif method == "grouped":
            groups = frame[_need(frame, proto, "group", name)]
            side = grouped_split(
                groups, test_size=float(proto["test_size"]), seed=int(proto["seed"])
            )
        elif method == "column":
            side = frame[_need(frame, proto, "column", name)].astype(str)
        else:
            raise InvalidInputError(
                f"Split protocol '{name}' of dataset '{card.name}' has method '{method}'. "
                f"Use stratified, grouped or column."
            )
        frame[f"split:{name}"] = side.to_numpy()
    return {"data": frame}
