"""Disclosure risk of a synthetic or released file, measured against the real microdata.

Two measures that the HLG-MOS synthetic data starter guide (UNECE, 2022) recommends as a
first look: the distance from each released record to the closest real record, and how
often a released record has the same quasi-identifiers (the variables an intruder may
know, such as region, sex and age) as a real person who is unique on them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.neighbors import NearestNeighbors

from squad.errors import InvalidInputError
from squad.evaluation._inputs import check_complete

__all__ = ["distance_to_closest_record", "quasi_identifier_report"]


def _columns(
    synthetic: Any, real: Any, columns: Sequence[str] | None, what: str
) -> list[str]:
    for name, frame in (("synthetic", synthetic), ("real", real)):
        if not isinstance(frame, pd.DataFrame):
            msg = f"{name} should be a pandas DataFrame, got {type(frame).__name__}."
            raise InvalidInputError(msg)
        if len(frame) == 0:
            raise InvalidInputError(f"{name} has no rows.")
    columns = list(real.columns if columns is None else columns)
    if not columns:
        raise InvalidInputError(f"No {what} given; name at least one column.")
    for name, frame in (("synthetic", synthetic), ("real", real)):
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            msg = (
                f"Column '{missing[0]}' ({what}) is not in {name}. "
                f"Available: {', '.join(map(str, frame.columns))}."
            )
            raise InvalidInputError(msg)
    return columns


def _encode(
    frame: pd.DataFrame, columns: list[str], real: pd.DataFrame, levels: dict
) -> np.ndarray:
    """Columns whose Manhattan distance, divided by their number, is Gower's distance."""
    parts = []
    for column in columns:
        if column in levels:
            # half a unit on each side: two different categories are 1 apart
            codes = pd.Categorical(
                frame[column].astype(str), categories=levels[column]
            ).codes
            parts.append(0.5 * np.eye(len(levels[column]))[codes])
        else:
            values = real[column].to_numpy(dtype=float)
            span = float(values.max() - values.min()) or 1.0
            parts.append(frame[column].to_numpy(dtype=float)[:, None] / span)
    return np.hstack(parts)


def distance_to_closest_record(
    synthetic: pd.DataFrame,
    real: pd.DataFrame,
    *,
    columns: Sequence[str] | None = None,
) -> np.ndarray:
    """Distance from each released record to the closest record of the real file.

    The distance is Gower's: the mean over ``columns`` of ``|a - b| / range`` for a
    numeric column (its range in ``real``) and of 0 (same) or 1 (different) for any other
    column. A distance of 0 means an exact copy of a real record on these columns.

    Parameters
    ----------
    synthetic : pandas.DataFrame
        The released (synthetic) records.
    real : pandas.DataFrame
        The real microdata the release was made from.
    columns : sequence of str, default=None
        Columns compared; ``None`` takes every column of ``real``.

    Returns
    -------
    numpy.ndarray of shape (len(synthetic),)
        Distances between 0 and 1; lower values mean a higher risk of disclosure.

    Raises
    ------
    squad.errors.InvalidInputError
        If a frame is empty or not a DataFrame, a column is missing, or a compared
        column has missing values.

    Examples
    --------
    >>> real = pd.DataFrame({"sex": ["f", "m"], "age": [20, 60]})
    >>> released = pd.DataFrame({"sex": ["f", "f"], "age": [20, 50]})
    >>> distance_to_closest_record(released, real).round(3).tolist()
    [0.0, 0.375]
    """
    columns = _columns(synthetic, real, columns, "compared")
    for name, frame in (("synthetic", synthetic), ("real", real)):
        check_complete(frame, columns, name, "compare complete columns only")
    # a k-d tree is exact for the Manhattan distance and, on survey data (few distinct
    # values per column), several times faster than comparing every pair
    levels = {
        c: pd.unique(pd.concat([real[c], synthetic[c]]).astype(str))
        for c in columns
        if not pd.api.types.is_numeric_dtype(real[c])
    }
    index = NearestNeighbors(n_neighbors=1, algorithm="kd_tree", metric="manhattan")
    index.fit(_encode(real, columns, real, levels))
    distances, _ = index.kneighbors(_encode(synthetic, columns, real, levels))
    return np.clip(distances[:, 0] / len(columns), 0.0, 1.0)


def quasi_identifier_report(
    synthetic: pd.DataFrame,
    real: pd.DataFrame,
    quasi_identifiers: Sequence[str],
) -> dict[str, float]:
    """How often released records share their quasi-identifiers with real persons.

    Parameters
    ----------
    synthetic : pandas.DataFrame
        The released (synthetic) records.
    real : pandas.DataFrame
        The real microdata.
    quasi_identifiers : sequence of str
        Variables an intruder could know about a person (for example region, sex, age).

    Returns
    -------
    dict
        ``n_synthetic``; ``real_unique_share``: share of real records whose combination
        of quasi-identifiers is unique in ``real``; ``match_share``: share of released
        records whose combination appears in ``real``; ``unique_match_share``: share of
        released records whose combination belongs to exactly one real record (the
        riskiest: an intruder who knows that person could link them). Lower is safer.

    Raises
    ------
    squad.errors.InvalidInputError
        If a frame is empty or not a DataFrame, or a column is missing.

    Examples
    --------
    >>> real = pd.DataFrame({"sex": ["f", "f", "m"], "age": [20, 20, 60]})
    >>> released = pd.DataFrame({"sex": ["f", "m", "m"], "age": [20, 60, 30]})
    >>> report = quasi_identifier_report(released, real, ["sex", "age"])
    >>> round(report["match_share"], 3), round(report["unique_match_share"], 3)
    (0.667, 0.333)
    """
    columns = _columns(synthetic, real, quasi_identifiers, "quasi-identifier")
    counts = real.groupby(columns, dropna=False).size().rename("n_real")
    keys = synthetic[columns].merge(
        counts.reset_index(), how="left", on=columns, validate="many_to_one"
    )["n_real"]
    return {
        "n_synthetic": len(synthetic),
        "real_unique_share": float((counts == 1).sum() / len(real)),
        "match_share": float(keys.notna().mean()),
        "unique_match_share": float((keys == 1).mean()),
    }
