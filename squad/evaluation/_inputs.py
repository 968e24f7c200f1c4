"""Input checks and label encoding shared by the evaluation modules.

Every check raises :class:`ValueError` with a message that names the argument, says what
was received and what was expected. Labels are encoded once to integer codes
(:func:`pandas.factorize`), so the metrics themselves work on integer arrays only.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from squad.errors import InvalidInputError

__all__: list[str] = []


def preview_values(values: Sequence[Any], limit: int = 5) -> str:
    """Return a short, readable list of ``values`` for error messages."""
    shown = ", ".join(repr(plain_value(v)) for v in list(values)[:limit])
    more = f", ... ({len(values)} in all)" if len(values) > limit else ""
    return f"[{shown}{more}]"


def plain_value(value: Any) -> Any:
    """Turn numpy scalars into Python scalars (for messages and JSON-friendly output)."""
    return value.item() if isinstance(value, np.generic) else value


def as_1d(values: Any, name: str, *, labels: bool = False) -> np.ndarray:
    """Return ``values`` as a non-empty 1-D numpy array.

    With ``labels=True`` a list or tuple becomes an object array directly (one pass,
    and NaN/None stay missing instead of turning into the string 'nan').
    """
    if isinstance(values, pd.DataFrame):
        msg = (
            f"{name} must be 1-dimensional (one value per record); received a DataFrame "
            f"with columns {list(values.columns)}. Pass a single column."
        )
        raise InvalidInputError(msg)
    if labels and isinstance(values, list | tuple):
        values = np.asarray(values, dtype=object)
    arr = np.asarray(values)
    if arr.dtype.kind in "US" and not isinstance(values, np.ndarray):
        # numpy turns NaN in a list of strings into the string 'nan'; keep it missing
        arr = np.asarray(values, dtype=object)
    if arr.ndim != 1:
        msg = (
            f"{name} must be 1-dimensional (one value per record); received an array of "
            f"shape {arr.shape}. Pass a list, 1-D array or pandas Series."
        )
        raise InvalidInputError(msg)
    if arr.size == 0:
        msg = f"{name} is empty (0 records); expected at least one record."
        raise InvalidInputError(msg)
    return arr


def check_same_length(**arrays: np.ndarray) -> int:
    """Return the common length of ``arrays``; raise if they differ."""
    items = list(arrays.items())
    first_name, first = items[0]
    for name, arr in items[1:]:
        if len(arr) != len(first):
            msg = (
                f"{first_name} has {len(first)} records but {name} has {len(arr)}; "
                "expected the same number of records in both."
            )
            raise InvalidInputError(msg)
    return len(first)


def _missing_message(name: str, missing: np.ndarray) -> str:
    positions = np.flatnonzero(missing)
    return (
        f"{name} contains {positions.size} missing labels (NaN/None), first at position "
        f"{positions[0]}; expected a label for every record. Drop or fill them first."
    )


def encode_labels(
    arrays: dict[str, np.ndarray], *, classes: np.ndarray | None = None
) -> tuple[list[np.ndarray], np.ndarray]:
    """Encode several label arrays to shared integer codes.

    Parameters
    ----------
    arrays : dict of str to ndarray
        Named 1-D label arrays (names are used in error messages).
    classes : ndarray, default=None
        When given, ``classes[i]`` gets code ``i``; labels outside ``classes`` get codes
        from ``len(classes)`` upwards.

    Returns
    -------
    codes : list of ndarray of int
        One code array per input array, in the same order.
    uniques : ndarray of object
        The label of each code.
    """
    parts = list(arrays.values())
    if classes is not None:
        parts = [classes, *parts]
    kinds = {p.dtype.kind for p in parts}
    if len(kinds) > 1 or kinds & {"U", "S"}:
        parts = [p.astype(object, copy=False) for p in parts]
    codes, uniques = pd.factorize(np.concatenate(parts), use_na_sentinel=True)
    uniques = np.asarray(uniques, dtype=object)
    out: list[np.ndarray] = []
    start = 0
    if classes is not None:
        class_codes = codes[: len(classes)]
        if (class_codes < 0).any():
            msg = (
                f"classes contains missing values (NaN/None): {preview_values(classes)}; "
                "expected one label per column of proba."
            )
            raise InvalidInputError(msg)
        if not np.array_equal(class_codes, np.arange(len(classes))):
            counts = pd.Series(classes).value_counts()
            dupes = counts.index[counts > 1].tolist()
            msg = (
                f"classes contains duplicates: {preview_values(dupes)}; expected each class "
                "once, in the column order of proba."
            )
            raise InvalidInputError(msg)
        start = len(classes)
    for name, arr in arrays.items():
        part = codes[start : start + len(arr)]
        start += len(arr)
        missing = part < 0
        if missing.any():
            raise InvalidInputError(_missing_message(name, missing))
        out.append(part)
    return out, uniques


def check_labels(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    """Return ``y_true`` and ``y_pred`` as 1-D arrays of the same, non-zero length."""
    yt = as_1d(y_true, "y_true", labels=True)
    yp = as_1d(y_pred, "y_pred", labels=True)
    check_same_length(y_true=yt, y_pred=yp)
    return yt, yp


def check_weights(
    weights: Any, n: int, name: str = "sample_weight"
) -> np.ndarray | None:
    """Return ``weights`` as float array of length ``n`` (or None), checked."""
    if weights is None:
        return None
    w = as_1d(weights, name)
    check_same_length(records=np.empty(n), **{name: w})
    try:
        w = w.astype(float)
    except (TypeError, ValueError) as err:
        msg = f"{name} must be numeric; received dtype {w.dtype}. Pass numbers >= 0."
        raise InvalidInputError(msg) from err
    if not np.isfinite(w).all() or (w < 0).any():
        bad = int((~np.isfinite(w) | (w < 0)).sum())
        msg = (
            f"{name} must be finite and >= 0; received {bad} values that are negative, "
            "NaN or infinite. Fix or drop those records."
        )
        raise InvalidInputError(msg)
    if w.sum() <= 0:
        msg = f"{name} sums to 0; expected at least one positive weight."
        raise InvalidInputError(msg)
    return w


def check_confidence(confidence: Any, n: int) -> np.ndarray:
    """Return ``confidence`` as a float array of length ``n`` with values in [0, 1]."""
    c = as_1d(confidence, "confidence")
    check_same_length(y_true=np.empty(n), confidence=c)
    try:
        c = c.astype(float)
    except (TypeError, ValueError) as err:
        msg = (
            f"confidence must be numeric; received dtype {c.dtype}. Pass the model's "
            "probability for each predicted label."
        )
        raise InvalidInputError(msg) from err
    lo, hi = c.min(), c.max()
    if not (lo >= 0.0 and hi <= 1.0):
        bad = int((~((c >= 0.0) & (c <= 1.0))).sum())
        msg = (
            f"confidence must lie in [0, 1]; received {bad} values outside it (range "
            f"{lo:g} to {hi:g}). Pass probabilities, not scores or percentages."
        )
        raise InvalidInputError(msg)
    return c


def check_proba(proba: Any, n: int, n_classes: int) -> np.ndarray:
    """Return ``proba`` as a float (n, n_classes) array with values in [0, 1]."""
    p = np.asarray(proba)
    if p.ndim != 2:
        msg = (
            f"proba must be 2-dimensional (n_samples, n_classes); received shape "
            f"{p.shape}. Pass the output of predict_proba."
        )
        raise InvalidInputError(msg)
    if p.shape[0] != n:
        msg = (
            f"proba has {p.shape[0]} rows but y_true has {n} records; expected one row "
            "per record."
        )
        raise InvalidInputError(msg)
    if p.shape[1] != n_classes:
        msg = (
            f"proba has {p.shape[1]} columns but classes has {n_classes} labels; "
            "expected one column per class, in the order of classes (e.g. "
            "model.classes_)."
        )
        raise InvalidInputError(msg)
    if p.dtype.kind != "f":
        p = p.astype(float)
    lo, hi = p.min(), p.max()
    if not (lo >= 0.0 and hi <= 1.0):
        msg = (
            f"proba must hold probabilities in [0, 1]; received values from {lo:g} to "
            f"{hi:g}. Pass predict_proba output, not decision scores."
        )
        raise InvalidInputError(msg)
    return p


def check_positive_int(value: Any, name: str) -> int:
    """Return ``value`` if it is an integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        msg = f"{name} must be a positive integer; received {value!r}."
        raise InvalidInputError(msg)
    return int(value)


def check_fraction(value: Any, name: str) -> float:
    """Return ``value`` as a float in [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        msg = f"{name} must be a number in [0, 1]; received {value!r}."
        raise InvalidInputError(msg)
    if not 0.0 <= float(value) <= 1.0:
        msg = f"{name} must be a number in [0, 1]; received {value!r}."
        raise InvalidInputError(msg)
    return float(value)


def weighted_mean(values: np.ndarray, weights: np.ndarray | None) -> float:
    """Return the (weighted) mean of ``values`` as a Python float."""
    if weights is None:
        return float(values.mean())
    return float(np.dot(values, weights) / weights.sum())


def as_values(values: Any, name: str) -> np.ndarray:
    """Return a 1-D array; numeric pandas data (nullable or not) become float with NaN."""
    if isinstance(values, pd.Series) and pd.api.types.is_numeric_dtype(values.dtype):
        if not pd.api.types.is_bool_dtype(values.dtype):
            values = values.to_numpy(dtype=float, na_value=np.nan)
    return as_1d(values, name)


def is_numeric(arr: np.ndarray) -> bool:
    return arr.dtype.kind in "iuf"


def check_mask(mask: Any, n: int) -> np.ndarray:
    if mask is None:
        return np.ones(n, dtype=bool)
    m = as_1d(mask, "mask")
    check_same_length(y_true=np.empty(n), mask=m)
    if m.dtype.kind != "b":
        if m.dtype.kind not in "iu" or not np.isin(m, (0, 1)).all():
            msg = (
                f"mask must be boolean (True where the value was imputed); received "
                f"dtype {m.dtype}. Pass the '<column>_missing' column."
            )
            raise InvalidInputError(msg)
        m = m.astype(bool)
    if not m.any():
        msg = (
            "mask selects no records (all False); expected at least one imputed record."
        )
        raise InvalidInputError(msg)
    return m


def weighted_ks_distance(
    a: np.ndarray, b: np.ndarray, wa: np.ndarray, wb: np.ndarray
) -> float:
    """Largest distance between the (weighted) empirical CDFs of ``a`` and ``b``."""
    grid = np.union1d(a, b)

    def cdf(x: np.ndarray, w: np.ndarray) -> np.ndarray:
        order = np.argsort(x, kind="stable")
        cum = np.concatenate([[0.0], np.cumsum(w[order])]) / w.sum()
        return cum[np.searchsorted(x[order], grid, side="right")]

    return float(np.abs(cdf(a, wa) - cdf(b, wb)).max())


def check_complete(
    frame: pd.DataFrame, columns: list[str], name: str, next_step: str
) -> None:
    """Raise if a column of the DataFrame ``name`` has missing values."""
    holes = frame[columns].isna().sum()
    if holes.any():
        column = holes.index[holes.to_numpy() > 0][0]
        msg = (
            f"Column '{column}' of {name} has {int(holes[column])} missing values; "
            f"{next_step}."
        )
        raise InvalidInputError(msg)
