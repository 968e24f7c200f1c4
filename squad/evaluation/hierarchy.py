"""Accuracy by level of a hierarchical classification (SOC, ISCO, NACE, ECOICOP codes).

Codes of such classifications are read from the left: the first character is the
broadest group, each further one a finer group inside it. A prediction that is wrong in
the unit group may still be right at the minor or major group, and these functions count
it so. Re-exported by :mod:`squad.evaluation.metrics`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from squad.errors import InvalidInputError
from squad.evaluation._inputs import (
    check_labels,
    check_positive_int,
    check_weights,
    encode_labels,
    plain_value,
    weighted_mean,
)

__all__ = [
    "accuracy_at_levels",
    "hierarchical_accuracy_report",
    "hierarchical_accuracy_score",
]

logger = logging.getLogger("squad")


def _code_strings(uniques: np.ndarray) -> list[str]:
    return [u if isinstance(u, str) else str(plain_value(u)) for u in uniques]


def _shortest_code(strings: list[str], present: np.ndarray) -> tuple[int, str]:
    lengths = np.array([len(s) for s in strings])
    idx = np.flatnonzero(present)
    shortest = idx[np.argmin(lengths[idx])]
    return int(lengths[shortest]), strings[shortest]


def _check_level(level: Any, shortest: int, example: str) -> int:
    level = check_positive_int(level, "level")
    if level > shortest:
        msg = (
            f"level={level} is longer than the codes: {example!r} in y_true or y_pred "
            f"has {shortest} characters; expected a level from 1 to {shortest} (or "
            "levels=None in coding_report when the labels are not hierarchical codes)."
        )
        raise InvalidInputError(msg)
    return level


def _prefix_matches(
    t: np.ndarray, p: np.ndarray, strings: list[str], level: int
) -> tuple[np.ndarray, np.ndarray]:
    """Return (match per record, prefix code per label) at ``level``."""
    prefix_codes, _ = pd.factorize(np.array([s[:level] for s in strings], dtype=object))
    return prefix_codes[t] == prefix_codes[p], prefix_codes


def _present(t: np.ndarray, p: np.ndarray, n_uniques: int) -> np.ndarray:
    return (
        np.bincount(t, minlength=n_uniques) + np.bincount(p, minlength=n_uniques)
    ) > 0


def hierarchical_accuracy_score(
    y_true: Any, y_pred: Any, *, level: int, sample_weight: Any = None
) -> float:
    """Accuracy on the first ``level`` characters of hierarchical codes.

    In SOC 2010, level 1 is the major group, 2 the sub-major group, 3 the minor group and
    4 the unit group; a prediction in the right minor group but the wrong unit group is
    correct at levels 1 to 3.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True codes (strings; other labels are compared through ``str``).
    y_pred : array-like of shape (n_samples,)
        Predicted codes.
    level : int
        Number of leading characters compared, from 1 to the length of the shortest code.
    sample_weight : array-like of shape (n_samples,), default=None
        Weights of the records; None gives every record weight 1.

    Returns
    -------
    float
        Share of records whose codes agree on the first ``level`` characters; 1.0 is best.

    Raises
    ------
    ValueError
        If the inputs are empty, of different lengths, contain missing labels, or
        ``level`` is not an integer from 1 to the length of the shortest code.

    Examples
    --------
    >>> y_true = ["1111", "1112", "2111", "2112"]
    >>> y_pred = ["1111", "1121", "2111", "3112"]
    >>> hierarchical_accuracy_score(y_true, y_pred, level=4)
    0.5
    >>> hierarchical_accuracy_score(y_true, y_pred, level=2)
    0.75
    """
    yt, yp = check_labels(y_true, y_pred)
    w = check_weights(sample_weight, len(yt))
    (t, p), uniques = encode_labels({"y_true": yt, "y_pred": yp})
    strings = _code_strings(uniques)
    level = _check_level(level, *_shortest_code(strings, _present(t, p, len(uniques))))
    match, _ = _prefix_matches(t, p, strings, level)
    return weighted_mean(match, w)


def hierarchical_accuracy_report(
    y_true: Any,
    y_pred: Any,
    *,
    levels: Sequence[int] | None = None,
    sample_weight: Any = None,
) -> pd.DataFrame:
    """Accuracy at every level of the classification hierarchy.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True codes.
    y_pred : array-like of shape (n_samples,)
        Predicted codes.
    levels : sequence of int, default=None
        Levels to report; None means every level from 1 to the length of the shortest
        code.
    sample_weight : array-like of shape (n_samples,), default=None
        Weights of the records; None gives every record weight 1.

    Returns
    -------
    pandas.DataFrame
        One row per level with columns ``level``, ``n_classes`` (distinct true codes at
        that level) and ``accuracy`` (1.0 is best).

    Raises
    ------
    ValueError
        On bad labels or weights, or a level longer than the codes.

    Examples
    --------
    >>> hierarchical_accuracy_report(["1111", "1112", "2111"], ["1111", "1121", "2111"])
       level  n_classes  accuracy
    0      1          2  1.000000
    1      2          2  1.000000
    2      3          2  0.666667
    3      4          3  0.666667
    """
    yt, yp = check_labels(y_true, y_pred)
    w = check_weights(sample_weight, len(yt))
    (t, p), uniques = encode_labels({"y_true": yt, "y_pred": yp})
    strings = _code_strings(uniques)
    shortest, example = _shortest_code(strings, _present(t, p, len(uniques)))
    if levels is None:
        levels = range(1, shortest + 1)
    rows = []
    for level in levels:
        level = _check_level(level, shortest, example)
        match, prefix_codes = _prefix_matches(t, p, strings, level)
        n_classes = np.unique(prefix_codes[t]).size
        rows.append((level, n_classes, weighted_mean(match, w)))
    return pd.DataFrame(rows, columns=["level", "n_classes", "accuracy"])


def accuracy_at_levels(
    t: np.ndarray, p: np.ndarray, uniques: np.ndarray, levels: Iterable[Any]
) -> dict[int, float]:
    """Accuracy at each of ``levels``, from labels already encoded to integer codes.

    The part of :func:`squad.evaluation.metrics.coding_report` that reads the hierarchy:
    a level longer than the shortest code is left out (logged at debug level), not an
    error, so that one default list of levels serves every classification.

    Parameters
    ----------
    t, p : numpy.ndarray of int
        Codes of the true and the predicted labels, indices into ``uniques``.
    uniques : numpy.ndarray
        The labels the codes stand for.
    levels : iterable of int
        Levels to report, each a positive integer.

    Returns
    -------
    dict of int to float
        Accuracy (1.0 is best) per level the codes are long enough for.

    Examples
    --------
    >>> uniques = np.array(["1111", "1112", "2111"], dtype=object)
    >>> accuracy_at_levels(np.array([0, 1, 2]), np.array([0, 0, 2]), uniques, (1, 4, 6))
    {1: 1.0, 4: 0.6666666666666666}
    """
    strings = _code_strings(uniques)
    shortest, _ = _shortest_code(strings, _present(t, p, len(uniques)))
    accuracies: dict[int, float] = {}
    for level in levels:
        level = check_positive_int(level, "levels")
        if level > shortest:
            logger.debug(
                "coding_report: level %s longer than the codes; left out", level
            )
            continue
        accuracies[level] = float(_prefix_matches(t, p, strings, level)[0].mean())
    return accuracies
