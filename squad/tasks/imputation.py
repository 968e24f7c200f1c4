"""The imputation experiment on ``lfs_synthetic_missing``: impute, then judge against the truth.

Five methods that statistical offices use for item non-response, each filling
``hours_worked`` and ``hourly_pay`` (for the employed, the only persons who have them) and
``education`` (for everyone):

``mean_mode``
    the (design-weighted) mean of the observed values, the mode for categories;
``hot_deck``
    a random donor from the same imputation class (region x sex x age band);
``knn``
    scikit-learn's ``KNNImputer`` on standardised auxiliaries (5 neighbours);
``iterative``
    scikit-learn's ``IterativeImputer`` (chained equations with Bayesian ridge);
``hist_gb``
    a histogram gradient-boosting model per variable, trained on the observed records.

``evaluate_imputation`` scores the result with :func:`squad.evaluation.metrics.imputation_report` and
by the effect on weighted domain estimates (:func:`squad.evaluation.metrics.domain_estimates`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from squad.errors import InvalidInputError
from squad.evaluation.estimation import (
    domain_estimates,
    estimate_error_report,
    imputation_report,
)

__all__ = ["IMPUTERS", "NUMERIC", "CATEGORICAL", "evaluate_imputation", "impute"]

NUMERIC = ("hours_worked", "hourly_pay")
CATEGORICAL = ("education",)
EDUCATION_ORDER = ["none", "secondary", "post_secondary", "tertiary"]
IMPUTERS = ("mean_mode", "hot_deck", "knn", "iterative", "hist_gb")


def _design(frame: pd.DataFrame) -> pd.DataFrame:
    """Numeric auxiliaries; education and occupation are NaN where missing."""
    design = pd.DataFrame(index=frame.index)
    design["age"] = frame["age"].astype(float)
    design["female"] = (frame["sex"] == "female").astype(float)
    for region in sorted(frame["region"].unique()):
        design[f"region={region}"] = (frame["region"] == region).astype(float)
    design["education"] = (
        frame["education"]
        .map({e: i for i, e in enumerate(EDUCATION_ORDER)})
        .astype(float)
    )
    design["major_group"] = pd.to_numeric(
        frame["soc2010"].str[:1], errors="coerce"
    ).astype(float)
    for column in NUMERIC:
        design[column] = frame[column].astype(float)
    return design


def _targets(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    employed = (frame["status"] == "employed").to_numpy()
    holes = {c: employed & frame[c].isna().to_numpy() for c in NUMERIC}
    holes["education"] = frame["education"].isna().to_numpy()
    return holes


def _mean_mode(frame: pd.DataFrame, holes: dict[str, np.ndarray], rng) -> pd.DataFrame:
    out = frame.copy()
    employed = (frame["status"] == "employed").to_numpy()
    for column in NUMERIC:
        seen = employed & ~holes[column]
        out.loc[holes[column], column] = np.average(
            frame.loc[seen, column], weights=frame.loc[seen, "weight"]
        )
    out.loc[holes["education"], "education"] = frame["education"].mode().iloc[0]
    return out


def _hot_deck(frame: pd.DataFrame, holes: dict[str, np.ndarray], rng) -> pd.DataFrame:
    out = frame.copy()
    band = (
        pd.cut(frame["age"], [0, 30, 45, 60, 200], labels=False).astype(int).astype(str)
    )
    cls = (
        frame["region"].astype(str) + "|" + frame["sex"].astype(str) + "|" + band
    ).to_numpy()
    employed = (frame["status"] == "employed").to_numpy()
    for column in (*NUMERIC, *CATEGORICAL):
        pool = ~holes[column] & (employed if column in NUMERIC else True)
        values = frame[column].to_numpy()
        filled = values.copy()
        for key in np.unique(cls[holes[column]]):
            need = np.flatnonzero(holes[column] & (cls == key))
            donors = np.flatnonzero(pool & (cls == key))
            if donors.size == 0:  # empty class: fall back to every donor
                donors = np.flatnonzero(pool)
            filled[need] = values[rng.choice(donors, size=need.size)]
        out[column] = filled
    return out


def _from_matrix(
    frame: pd.DataFrame, holes: dict[str, np.ndarray], matrix: np.ndarray, columns
) -> pd.DataFrame:
    out = frame.copy()
    position = {c: i for i, c in enumerate(columns)}
    for column in NUMERIC:
        out.loc[holes[column], column] = matrix[holes[column], position[column]]
    levels = np.clip(
        np.rint(matrix[holes["education"], position["education"]]), 0, 3
    ).astype(int)
    out.loc[holes["education"], "education"] = np.array(EDUCATION_ORDER)[levels]
    return out


def _matrix_imputer(frame, holes, imputer) -> pd.DataFrame:
    design = _design(frame)
    employed = (frame["status"] == "employed").to_numpy()
    scale = design.std().replace(0, 1)
    centre = design.mean()
    matrix = ((design - centre) / scale).to_numpy()
    # Employed and non-employed persons differ structurally; impute each group on its own.
    result = matrix.copy()
    for group in (employed, ~employed):
        result[group] = imputer().fit_transform(matrix[group])
    restored = result * scale.to_numpy() + centre.to_numpy()
    return _from_matrix(frame, holes, restored, list(design.columns))


def _knn(frame, holes, rng) -> pd.DataFrame:
    from sklearn.impute import KNNImputer

    return _matrix_imputer(
        frame, holes, lambda: KNNImputer(n_neighbors=5, keep_empty_features=True)
    )


def _iterative(frame, holes, rng) -> pd.DataFrame:
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401
    from sklearn.impute import IterativeImputer

    seed = int(rng.integers(2**31))
    return _matrix_imputer(
        frame,
        holes,
        lambda: IterativeImputer(
            max_iter=10, random_state=seed, keep_empty_features=True
        ),
    )


def _hist_gb(frame, holes, rng) -> pd.DataFrame:
    from sklearn.ensemble import (
        HistGradientBoostingClassifier,
        HistGradientBoostingRegressor,
    )

    seed = int(rng.integers(2**31))
    out = frame.copy()
    design = _design(frame)
    employed = (frame["status"] == "employed").to_numpy()
    for column in NUMERIC:
        features = design.drop(columns=[column])
        train = employed & ~holes[column]
        model = HistGradientBoostingRegressor(max_iter=100, random_state=seed)
        model.fit(features[train], design.loc[train, column])
        out.loc[holes[column], column] = model.predict(features[holes[column]])
    features = design.drop(columns=["education"])
    train = ~holes["education"]
    model = HistGradientBoostingClassifier(max_iter=50, random_state=seed)
    model.fit(features[train], frame.loc[train, "education"].astype(str))
    out.loc[holes["education"], "education"] = model.predict(
        features[holes["education"]]
    )
    return out


_METHODS = {
    "mean_mode": _mean_mode,
    "hot_deck": _hot_deck,
    "knn": _knn,
    "iterative": _iterative,
    "hist_gb": _hist_gb,
}


def impute(frame: pd.DataFrame, method: str, *, seed: int = 0) -> pd.DataFrame:
    """Fill the holes of an ``lfs_synthetic_missing`` table with ``method``.

    Parameters
    ----------
    frame : DataFrame
        ``squad.load_dataset("lfs_synthetic_missing")`` or a subset of its rows.
    method : str
        One of ``IMPUTERS``.
    seed : int, default=0
        Seed of the methods that draw at random.

    Returns
    -------
    DataFrame
        A copy with ``hours_worked`` and ``hourly_pay`` filled for the employed and
        ``education`` filled for everyone; other columns unchanged.

    Raises
    ------
    ValueError
        For an unknown method.

    Examples
    --------
    >>> import squad
    >>> data = squad.load_dataset("lfs_synthetic_missing").head(2000)
    >>> filled = impute(data, "mean_mode")
    >>> int(filled["education"].isna().sum())
    0
    """
    if method not in _METHODS:
        raise InvalidInputError(
            f"Unknown imputation method '{method}'. Use one of: {', '.join(IMPUTERS)}."
        )
    rng = np.random.default_rng(seed)
    return _METHODS[method](frame, _targets(frame), rng)


def evaluate_imputation(
    missing: pd.DataFrame,
    imputed: pd.DataFrame,
    *,
    by: Sequence[str] = ("region", "sex"),
) -> dict[str, Any]:
    """Score an imputation against the true values kept in ``<column>_true``.

    Parameters
    ----------
    missing : DataFrame
        The table with holes (it carries ``<column>_true`` and ``<column>_missing``).
    imputed : DataFrame
        Output of :func:`impute` on ``missing``.
    by : sequence of str, default=("region", "sex")
        Domains of the published estimates.

    Returns
    -------
    dict
        ``<column>``: :func:`squad.evaluation.metrics.imputation_report` (design-weighted, over the
        persons who have the variable); ``domain_total_hours`` and ``domain_mean_pay``:
        :func:`squad.evaluation.metrics.estimate_error_report` of the weighted total of weekly hours
        and the weighted mean hourly pay of the employed, by domain, without its
        ``by_domain`` table.
    """
    employed = (missing["status"] == "employed").to_numpy()
    results: dict[str, Any] = {}
    for column in (*NUMERIC, *CATEGORICAL):
        rows = employed if column in NUMERIC else np.ones(len(missing), dtype=bool)
        results[column] = imputation_report(
            missing.loc[rows, f"{column}_true"].to_numpy(),
            imputed.loc[rows, column].to_numpy(),
            mask=missing.loc[rows, f"{column}_missing"].to_numpy(),
            weights=missing.loc[rows, "weight"].to_numpy(),
        )
    by = list(by)
    truth = missing.assign(
        hours_worked=missing["hours_worked_true"], hourly_pay=missing["hourly_pay_true"]
    )
    hours = estimate_error_report(
        domain_estimates(truth, "hours_worked", weight="weight", by=by),
        domain_estimates(imputed, "hours_worked", weight="weight", by=by),
        column="total",
    )
    pay = estimate_error_report(
        domain_estimates(truth.loc[employed], "hourly_pay", weight="weight", by=by),
        domain_estimates(imputed.loc[employed], "hourly_pay", weight="weight", by=by),
        column="mean",
    )
    for name, report in (("domain_total_hours", hours), ("domain_mean_pay", pay)):
        results[name] = {k: v for k, v in report.items() if k != "by_domain"}
    return results
