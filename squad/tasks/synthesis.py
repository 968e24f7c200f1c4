"""Synthetic microdata by sequential tree models, in the manner of R's synthpop (CART).

The first variable is sampled from its observed values; each next variable is drawn from
the records of the real file that fall in the same leaf of a decision tree fitted on the
variables before it. Every synthetic value is therefore a value seen in the real file, and
the joint distribution is kept as far as the trees capture it. The HLG-MOS *Synthetic Data
for Official Statistics: A Starter Guide* (UNECE, 2022) describes the method and its
limits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from squad.errors import InvalidInputError
from squad.evaluation._inputs import check_complete, check_positive_int

__all__ = ["synthesize"]


def _check_frame(frame: Any, columns: Sequence[str] | None) -> list[str]:
    if not isinstance(frame, pd.DataFrame):
        msg = f"frame should be a pandas DataFrame, got {type(frame).__name__}."
        raise InvalidInputError(msg)
    columns = list(frame.columns if columns is None else columns)
    unknown = [c for c in columns if c not in frame.columns]
    if unknown or not columns:
        msg = (
            f"Column '{unknown[0] if unknown else ''}' is not in the frame. "
            f"Available: {', '.join(map(str, frame.columns))}."
        )
        raise InvalidInputError(msg)
    if len(frame) == 0:
        raise InvalidInputError("frame has no rows; expected the real microdata.")
    check_complete(frame, columns, "frame", "impute or drop them first")
    return columns


def _design(frame: pd.DataFrame, columns: list[str], categories: dict) -> np.ndarray:
    """Numbers for the trees: numeric columns as they are, the others one-hot."""
    parts = []
    for column in columns:
        if column in categories:
            codes = pd.Categorical(frame[column], categories=categories[column]).codes
            parts.append(np.eye(len(categories[column]))[codes])
        else:
            parts.append(frame[column].to_numpy(dtype=float)[:, None])
    return np.hstack(parts)


def _draw_from_leaves(
    real_leaves: np.ndarray, synthetic_leaves: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """For each synthetic leaf, the position of a random real record in that leaf."""
    order = np.argsort(real_leaves, kind="stable")
    leaves, starts, counts = np.unique(
        real_leaves[order], return_index=True, return_counts=True
    )
    slot = np.searchsorted(leaves, synthetic_leaves)
    pick = starts[slot] + np.floor(rng.random(len(slot)) * counts[slot]).astype(int)
    return order[pick]


def synthesize(
    frame: pd.DataFrame,
    columns: Sequence[str] | None = None,
    *,
    n: int | None = None,
    min_samples_leaf: int = 20,
    seed: int = 0,
) -> pd.DataFrame:
    """Make a synthetic copy of microdata, one variable after another.

    Parameters
    ----------
    frame : pandas.DataFrame
        The real microdata, without missing values in ``columns``.
    columns : sequence of str, default=None
        Variables to synthesise, in the order they are modelled; ``None`` takes every
        column. Put the variables that explain the others first.
    n : int, default=None
        Number of synthetic records; ``None`` makes as many as ``frame`` has.
    min_samples_leaf : int, default=20
        Smallest number of real records in a leaf. Larger leaves give smoother, safer
        data; smaller leaves copy the real file more closely.
    seed : int, default=0
        Seed of the random draws and the trees: the same seed gives the same copy.

    Returns
    -------
    pandas.DataFrame
        ``n`` synthetic records with ``columns`` and their dtypes, index 0 to n-1.

    Raises
    ------
    squad.errors.InvalidInputError
        If ``frame`` is not a DataFrame, a column is unknown or has missing values, or
        ``n`` or ``min_samples_leaf`` is not a positive integer.

    Examples
    --------
    >>> real = pd.DataFrame({"sex": ["f", "m"] * 50, "age": list(range(100))})
    >>> fake = synthesize(real, ["sex", "age"], n=10, min_samples_leaf=5, seed=1)
    >>> fake.shape, set(fake["sex"]) <= {"f", "m"}, fake["age"].isin(real["age"]).all()
    ((10, 2), True, np.True_)
    """
    columns = _check_frame(frame, columns)
    n = len(frame) if n is None else n
    n = check_positive_int(n, "n")
    min_samples_leaf = check_positive_int(min_samples_leaf, "min_samples_leaf")
    rng = np.random.default_rng(seed)
    real = frame[columns].reset_index(drop=True)
    categories = {
        c: pd.unique(real[c])
        for c in columns
        if not pd.api.types.is_numeric_dtype(real[c])
    }
    picks = rng.integers(0, len(real), size=n)
    synthetic = pd.DataFrame({columns[0]: real[columns[0]].to_numpy()[picks]})
    for position, column in enumerate(columns[1:], start=1):
        before = columns[:position]
        model = (
            DecisionTreeClassifier if column in categories else DecisionTreeRegressor
        )(min_samples_leaf=min_samples_leaf, random_state=seed)
        x_real = _design(real, before, categories)
        target = real[column].astype(str) if column in categories else real[column]
        model.fit(x_real, target)
        donors = _draw_from_leaves(
            model.apply(x_real),
            model.apply(_design(synthetic, before, categories)),
            rng,
        )
        synthetic[column] = real[column].to_numpy()[donors]
    return synthetic.astype(real.dtypes.to_dict())
