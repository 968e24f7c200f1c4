"""Evaluation helpers for imputation and for the estimates published from it.

An imputation method is judged by its effect on published figures (weighted totals and
means by domain), not only by how close each imputed value is to the truth. The
functions here compute both sides; they are re-exported by :mod:`squad.evaluation.metrics`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from squad.errors import InvalidInputError, NotFoundError
from squad.evaluation._inputs import (
    as_values,
    check_mask,
    check_same_length,
    check_weights,
    encode_labels,
    is_numeric,
    plain_value,
    preview_values,
    weighted_ks_distance,
    weighted_mean,
)

__all__ = ["domain_estimates", "estimate_error_report", "imputation_report"]

_KINDS = ("numeric", "categorical")


def _check_no_nan(arr: np.ndarray, name: str, expected: str) -> None:
    missing = np.isnan(arr)
    if missing.any():
        first = int(np.flatnonzero(missing)[0])
        msg = (
            f"{name} contains {int(missing.sum())} missing values (NaN), first at "
            f"position {first}; expected {expected}."
        )
        raise InvalidInputError(msg)


def _relative_error(estimate: float, truth: float) -> float:
    return float((estimate - truth) / truth) if truth != 0 else float("nan")


def _numeric_report(
    yt: np.ndarray, yi: np.ndarray, m: np.ndarray, w: np.ndarray | None
) -> dict[str, Any]:
    yt = yt.astype(float)
    yi = yi.astype(float)
    _check_no_nan(yt, "y_true", "the true value of every record")
    _check_no_nan(yi, "y_imputed", "a value for every record (observed or imputed)")
    wm = None if w is None else w[m]
    if wm is not None and wm.sum() <= 0:
        msg = "weights of the imputed records sum to 0; expected a positive weight."
        raise InvalidInputError(msg)
    diff = yi[m] - yt[m]
    ones = np.ones(int(m.sum()))
    weights = np.ones(len(yt)) if w is None else w
    total_true = float(np.dot(weights, yt))
    total_imputed = float(np.dot(weights, yi))
    mean_true = total_true / weights.sum()
    mean_imputed = total_imputed / weights.sum()
    report: dict[str, Any] = {
        "kind": "numeric",
        "n": len(yt),
        "n_imputed": int(m.sum()),
        "rmse": float(np.sqrt(weighted_mean(diff**2, wm))),
        "mae": weighted_mean(np.abs(diff), wm),
        "bias": weighted_mean(diff, wm),
        "ks_distance": weighted_ks_distance(
            yi[m], yt[m], ones if wm is None else wm, ones if wm is None else wm
        ),
        "weighted_mean_true": mean_true,
        "weighted_mean_imputed": mean_imputed,
        "relative_error_weighted_mean": _relative_error(mean_imputed, mean_true),
        "weighted_total_true": total_true,
        "weighted_total_imputed": total_imputed,
        "relative_error_weighted_total": _relative_error(total_imputed, total_true),
        "relative_error_weighted_mean_complete_case": None,
        "relative_error_weighted_total_complete_case": None,
    }
    observed = ~m
    if observed.any() and weights[observed].sum() > 0:
        total_cc = float(np.dot(weights[observed], yt[observed]))
        mean_cc = total_cc / weights[observed].sum()
        report["relative_error_weighted_mean_complete_case"] = _relative_error(
            mean_cc, mean_true
        )
        report["relative_error_weighted_total_complete_case"] = _relative_error(
            total_cc, total_true
        )
    return report


def _categorical_report(
    yt: np.ndarray, yi: np.ndarray, m: np.ndarray, w: np.ndarray | None
) -> dict[str, Any]:
    (t, i), uniques = encode_labels({"y_true": yt, "y_imputed": yi})
    weights = np.ones(len(t)) if w is None else w
    k = len(uniques)

    def tvd(sel: np.ndarray) -> float:
        ws = weights[sel]
        share_true = np.bincount(t[sel], weights=ws, minlength=k) / ws.sum()
        share_imp = np.bincount(i[sel], weights=ws, minlength=k) / ws.sum()
        return float(0.5 * np.abs(share_true - share_imp).sum())

    if weights[m].sum() <= 0:
        msg = "weights of the imputed records sum to 0; expected a positive weight."
        raise InvalidInputError(msg)
    return {
        "kind": "categorical",
        "n": len(t),
        "n_imputed": int(m.sum()),
        "accuracy": weighted_mean(t[m] == i[m], weights[m]),
        "total_variation_distance": tvd(m),
        "total_variation_distance_all": tvd(np.ones(len(t), dtype=bool)),
    }


def imputation_report(
    y_true: Any,
    y_imputed: Any,
    *,
    mask: Any = None,
    weights: Any = None,
    kind: str | None = None,
) -> dict[str, Any]:
    """Unit-level and estimate-level quality of an imputed variable.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True values of every record (e.g. the ``<column>_true`` column).
    y_imputed : array-like of shape (n_samples,)
        The variable after imputation: observed values where present, imputed ones
        where missing.
    mask : array-like of bool of shape (n_samples,), default=None
        True where the value was missing and imputed (e.g. ``<column>_missing``); None
        means every value was imputed.
    weights : array-like of shape (n_samples,), default=None
        Design weights; None gives every record weight 1.
    kind : {"numeric", "categorical"}, default=None
        None infers it: numeric when both inputs are numbers, categorical otherwise.

    Returns
    -------
    dict
        ``kind``, ``n`` and ``n_imputed``, then, for a numeric variable:

        - over the imputed records (weighted): ``rmse``, ``mae``, ``bias``
          (imputed - true; 0.0 is best) and ``ks_distance`` (Kolmogorov-Smirnov
          distance between the imputed and true distributions; 0.0 is best);
        - over all records, the published figures: ``weighted_mean_true``,
          ``weighted_mean_imputed``, ``weighted_total_true``, ``weighted_total_imputed``
          and their signed relative errors ``relative_error_weighted_mean`` and
          ``relative_error_weighted_total`` ((imputed - true) / true; 0.0 is best).
          Over the same records and weights the two coincide; the baselines
          ``relative_error_weighted_mean_complete_case`` and
          ``relative_error_weighted_total_complete_case`` (dropping the missing
          records instead of imputing; None without a mask) show what the
          imputation gains.

        For a categorical variable: ``accuracy`` of the imputed records (1.0 is best)
        and the total-variation distance between imputed and true category shares over
        the imputed records (``total_variation_distance``) and over all records
        (``total_variation_distance_all``); 0.0 is best.

    Raises
    ------
    ValueError
        On empty or mismatched inputs, missing true or imputed values, a mask that is
        not boolean or selects nothing, bad weights or an unknown ``kind``.

    Examples
    --------
    >>> report = imputation_report([10.0, 20.0, 30.0, 40.0], [10.0, 24.0, 30.0, 36.0],
    ...                            mask=[False, True, False, True])
    >>> report["rmse"], report["bias"], report["relative_error_weighted_mean"]
    (4.0, 0.0, 0.0)
    >>> round(report["relative_error_weighted_total_complete_case"], 3)
    -0.6
    >>> report = imputation_report(["a", "b", "b"], ["a", "a", "b"])
    >>> report["accuracy"], report["total_variation_distance"]
    (0.6666666666666666, 0.3333333333333333)
    """
    yt = as_values(y_true, "y_true")
    yi = as_values(y_imputed, "y_imputed")
    n = check_same_length(y_true=yt, y_imputed=yi)
    if kind is None:
        kind = "numeric" if is_numeric(yt) and is_numeric(yi) else "categorical"
    if kind not in _KINDS:
        msg = f"kind must be one of {_KINDS} or None; received {kind!r}."
        raise InvalidInputError(msg)
    if kind == "numeric" and not (is_numeric(yt) and is_numeric(yi)):
        msg = (
            f"kind='numeric' needs numbers; received dtypes {yt.dtype} and {yi.dtype}. "
            "Convert them with pandas.to_numeric or use kind='categorical'."
        )
        raise InvalidInputError(msg)
    m = check_mask(mask, n)
    w = check_weights(weights, n, "weights")
    if kind == "numeric":
        return _numeric_report(yt, yi, m, w)
    return _categorical_report(yt, yi, m, w)


def _column(df: pd.DataFrame, name: Any, role: str) -> pd.Series:
    if name not in df.columns:
        msg = (
            f"{role} column {name!r} is not in df. Available: "
            f"{', '.join(map(str, df.columns))}."
        )
        raise NotFoundError(msg)
    return df[name]


def _numeric_column(series: pd.Series, role: str) -> np.ndarray:
    if not pd.api.types.is_numeric_dtype(series.dtype):
        msg = (
            f"{role} column {series.name!r} must be numeric or boolean; received dtype "
            f"{series.dtype}. Make an indicator column for a category first."
        )
        raise InvalidInputError(msg)
    values = series.to_numpy(dtype=float, na_value=np.nan)
    n_missing = int(np.isnan(values).sum())
    if n_missing:
        msg = (
            f"{role} column {series.name!r} has {n_missing} missing values; expected "
            "complete data. Impute them (see imputation_report) or drop the records."
        )
        raise InvalidInputError(msg)
    return values


def domain_estimates(
    df: pd.DataFrame, value: str, *, weight: str | None, by: str | Sequence[str] | None
) -> pd.DataFrame:
    """Weighted totals and means of ``value`` by domain, with unweighted counts.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per record.
    value : str
        Column to estimate (numeric or boolean; a boolean column estimates a count).
    weight : str or None
        Column of design weights; None gives every record weight 1.
    by : str, sequence of str or None
        Column(s) defining the domains (e.g. ``["region", "sex"]``); None gives one
        domain, ``"all"``.

    Returns
    -------
    pandas.DataFrame
        Indexed by domain, with columns ``n`` (records), ``sum_weight`` (estimated
        population), ``total`` (weighted total of ``value``) and ``mean`` (weighted
        mean).

    Raises
    ------
    KeyError
        If a named column is not in ``df``.
    ValueError
        If ``df`` is empty, ``value`` or ``weight`` is not numeric or has missing
        values, weights are negative, or a domain column has missing values.

    Examples
    --------
    >>> df = pd.DataFrame({"region": ["N", "N", "S"], "pay": [10.0, 20.0, 30.0],
    ...                    "w": [1.0, 3.0, 2.0]})
    >>> domain_estimates(df, "pay", weight="w", by="region")  # doctest: +NORMALIZE_WHITESPACE
            n  sum_weight  total  mean
    region
    N       2         4.0   70.0  17.5
    S       1         2.0   60.0  30.0
    """
    if not isinstance(df, pd.DataFrame):
        msg = f"df must be a pandas DataFrame; received {type(df).__name__}."
        raise InvalidInputError(msg)
    if df.empty:
        msg = "df is empty (0 records); expected at least one record."
        raise InvalidInputError(msg)
    values = _numeric_column(_column(df, value, "value"), "value")
    if weight is None:
        w = np.ones(len(df))
    else:
        w = check_weights(
            _numeric_column(_column(df, weight, "weight"), "weight"), len(df), "weight"
        )
    if by is None:
        keys = pd.DataFrame({"domain": np.full(len(df), "all", dtype=object)})
    else:
        names = [by] if isinstance(by, str) else list(by)
        keys = pd.DataFrame({b: _column(df, b, "by").to_numpy() for b in names})
        n_missing = int(keys.isna().any(axis=1).sum())
        if n_missing:
            msg = (
                f"by columns {names} have {n_missing} records with a missing domain; "
                "expected a domain for every record. Fill them, e.g. with 'unknown'."
            )
            raise InvalidInputError(msg)
    keys["_w"] = w
    keys["_wv"] = w * values
    grouped = keys.groupby(list(keys.columns[:-2]), sort=True, observed=True)
    table = grouped.agg(
        n=("_w", "size"), sum_weight=("_w", "sum"), total=("_wv", "sum")
    )
    table["mean"] = table["total"] / table["sum_weight"]
    return table


def _estimate_series(x: Any, column: str, name: str) -> pd.Series:
    if isinstance(x, pd.DataFrame):
        return _column(x, column, f"{name}").astype(float)
    if isinstance(x, pd.Series):
        return x.astype(float)
    msg = (
        f"{name} must be a pandas Series or DataFrame indexed by domain; received "
        f"{type(x).__name__}. Pass the output of domain_estimates."
    )
    raise InvalidInputError(msg)


def estimate_error_report(
    true: Any, estimated: Any, *, column: str = "total"
) -> dict[str, Any]:
    """Relative error of domain estimates against the true figures.

    Parameters
    ----------
    true : pandas.Series or DataFrame
        True figures indexed by domain (e.g. :func:`domain_estimates` on the true data).
    estimated : pandas.Series or DataFrame
        Estimated figures for the same domains (e.g. on the imputed data).
    column : str, default="total"
        Column compared when DataFrames are given (e.g. ``"total"`` or ``"mean"``).

    Returns
    -------
    dict
        ``by_domain``: DataFrame with ``true``, ``estimated``, ``relative_bias``
        ((estimated - true) / true; NaN where the true figure is 0) and
        ``absolute_relative_error``; ``mean_absolute_relative_error`` and
        ``max_absolute_relative_error`` (0.0 is best; domains with a zero true figure
        are left out and counted in ``n_undefined``); ``worst_domain``; ``n_domains``.

    Raises
    ------
    ValueError
        If the inputs are not Series/DataFrames, are empty, cover different domains or
        have missing figures.
    KeyError
        If ``column`` is not in a DataFrame.

    Examples
    --------
    >>> true = pd.Series({"N": 100.0, "S": 50.0})
    >>> est = pd.Series({"N": 90.0, "S": 55.0})
    >>> report = estimate_error_report(true, est)
    >>> report["mean_absolute_relative_error"], report["worst_domain"]
    (0.1, 'N')
    """
    t = _estimate_series(true, column, "true")
    e = _estimate_series(estimated, column, "estimated")
    if t.empty:
        msg = "true has no domains; expected at least one."
        raise InvalidInputError(msg)
    missing = t.index.difference(e.index)
    extra = e.index.difference(t.index)
    if len(missing) or len(extra):
        msg = (
            f"true and estimated cover different domains: missing from estimated "
            f"{preview_values(list(missing))}, not in true {preview_values(list(extra))}; expected "
            "the same domains (fill missing totals with 0)."
        )
        raise InvalidInputError(msg)
    e = e.reindex(t.index)
    for name, s in (("true", t), ("estimated", e)):
        if s.isna().any():
            msg = (
                f"{name} has {int(s.isna().sum())} missing figures; expected a number "
                "for every domain."
            )
            raise InvalidInputError(msg)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = ((e - t) / t).where(t != 0)
    table = pd.DataFrame(
        {
            "true": t,
            "estimated": e,
            "relative_bias": rel,
            "absolute_relative_error": rel.abs(),
        }
    )
    defined = table["absolute_relative_error"].dropna()
    return {
        "by_domain": table,
        "mean_absolute_relative_error": float(defined.mean()) if len(defined) else None,
        "max_absolute_relative_error": float(defined.max()) if len(defined) else None,
        "worst_domain": plain_value(defined.idxmax()) if len(defined) else None,
        "n_domains": len(table),
        "n_undefined": int(len(table) - len(defined)),
    }
