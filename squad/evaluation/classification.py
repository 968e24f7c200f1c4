"""Metrics of a coder's labels: accuracy and F1, per class, confusions, subgroups, top-k.

The functions follow scikit-learn's conventions: ``f(y_true, y_pred, *, ...)``,
``*_score`` is higher-is-better and only ``*_report`` functions return a dict or
DataFrame. Labels are encoded once to integer codes and every metric works on those
codes with numpy; no function loops over records in Python.

:func:`coding_report` gathers these figures with the hierarchy's
(:mod:`squad.evaluation.hierarchy`) and the automation and calibration ones
(:mod:`squad.evaluation.automation`) in one flat dict. Re-exported by
:mod:`squad.evaluation.metrics`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from squad.errors import InvalidInputError
from squad.evaluation._inputs import (
    as_1d,
    check_labels,
    check_positive_int,
    check_proba,
    check_same_length,
    check_weights,
    encode_labels,
    plain_value,
    weighted_mean,
)
from squad.evaluation.automation import (
    AUTOMATION_TARGETS,
    automation_arrays,
    calibration_error_arrays,
    rates_at_targets,
)
from squad.evaluation.hierarchy import accuracy_at_levels

__all__ = [
    "coding_report",
    "most_confused_pairs",
    "per_class_report",
    "subgroup_report",
    "top_k_accuracy_score",
]

_ROW_CHUNK = 8192


# ---------------------------------------------------------------------------------------
# probabilities: top-k, log loss
# ---------------------------------------------------------------------------------------


def _true_class_rank(proba: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Rank of the true class in each row (1 = top); classes tied with it rank above.

    Codes ``t >= proba.shape[1]`` are classes without a column: their rank is the
    largest integer, so they never count as a top-k hit.
    """
    n, n_classes = proba.shape
    seen = t < n_classes
    p_true = proba[np.arange(n), np.where(seen, t, 0)]
    rank = np.empty(n, dtype=np.int64)
    for start in range(0, n, _ROW_CHUNK):
        stop = start + _ROW_CHUNK
        rank[start:stop] = np.count_nonzero(
            proba[start:stop] >= p_true[start:stop, None], axis=1
        )
    rank[~seen] = np.iinfo(np.int64).max
    return rank


def _prepare_proba(proba: Any, classes: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    if classes is None:
        msg = (
            "classes is required with proba; received classes=None. Pass the column "
            "order of proba, e.g. model.classes_."
        )
        raise InvalidInputError(msg)
    cls = as_1d(classes, "classes", labels=True)
    return check_proba(proba, n, len(cls)), cls


def top_k_accuracy_score(
    y_true: Any, proba: Any, *, classes: Any, k: int = 5, sample_weight: Any = None
) -> float:
    """Share of records whose true label is among the ``k`` most probable classes.

    Unlike :func:`sklearn.metrics.top_k_accuracy_score`, the labels may be strings in any
    column order, and true labels the model has no column for count as misses. A class
    tied in probability with the true class counts as ranked above it, so a model that
    gives every class the same probability gets no credit.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    proba : array-like of shape (n_samples, n_classes)
        Predicted probabilities, e.g. ``model.predict_proba(X)``.
    classes : array-like of shape (n_classes,)
        Label of each column of ``proba``, e.g. ``model.classes_``.
    k : int, default=5
        Number of suggestions.
    sample_weight : array-like of shape (n_samples,), default=None
        Weights of the records; None gives every record weight 1.

    Returns
    -------
    float
        Top-k accuracy; 1.0 is best.

    Raises
    ------
    ValueError
        On bad labels or weights, a ``proba`` whose shape does not match ``y_true`` and
        ``classes``, probabilities outside [0, 1] or ``k`` < 1.

    Examples
    --------
    >>> proba = [[0.5, 0.3, 0.2], [0.1, 0.3, 0.6], [0.2, 0.7, 0.1]]
    >>> top_k_accuracy_score(["a", "b", "c"], proba, classes=["a", "b", "c"], k=2)
    0.6666666666666666
    """
    yt = as_1d(y_true, "y_true", labels=True)
    p, cls = _prepare_proba(proba, classes, len(yt))
    k = check_positive_int(k, "k")
    w = check_weights(sample_weight, len(yt))
    (t,), _ = encode_labels({"y_true": yt}, classes=cls)
    return weighted_mean(_true_class_rank(p, t) <= k, w)


def _log_loss(proba: np.ndarray, t: np.ndarray) -> float:
    n, n_classes = proba.shape
    seen = t < n_classes
    p_true = np.where(seen, proba[np.arange(n), np.where(seen, t, 0)], 0.0)
    eps = np.finfo(proba.dtype).eps
    return float(-np.log(np.clip(p_true, eps, 1 - eps)).mean())


# ---------------------------------------------------------------------------------------
# per class, confusions, subgroups
# ---------------------------------------------------------------------------------------


def _class_counts(
    t: np.ndarray, p: np.ndarray, n_uniques: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return support, predicted count and true positives per code."""
    support = np.bincount(t, minlength=n_uniques)
    predicted = np.bincount(p, minlength=n_uniques)
    tp = np.bincount(t[t == p], minlength=n_uniques)
    return support, predicted, tp


def _f1_scores(
    support: np.ndarray, predicted: np.ndarray, tp: np.ndarray
) -> tuple[np.ndarray, float, float]:
    """Per-class F1 (classes seen in y_true or y_pred), macro and support-weighted F1."""
    used = (support + predicted) > 0
    f1 = 2 * tp[used] / (support[used] + predicted[used])
    macro = float(f1.mean())
    weighted = float(np.dot(f1, support[used]) / support.sum())
    return f1, macro, weighted


def _sorted_order(labels: np.ndarray) -> np.ndarray:
    try:
        return np.argsort(pd.Index(labels).to_numpy(), kind="stable")
    except TypeError:
        return np.argsort(np.array([str(x) for x in labels]), kind="stable")


def per_class_report(y_true: Any, y_pred: Any) -> pd.DataFrame:
    """Support, precision, recall and F1 for every class in ``y_true`` or ``y_pred``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    y_pred : array-like of shape (n_samples,)
        Predicted labels.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``label`` (sorted), with columns ``support`` (true records),
        ``n_predicted``, ``precision``, ``recall`` and ``f1``; an undefined precision or
        recall (no predicted or no true records) is 0.0, as in scikit-learn with
        ``zero_division=0``.

    Raises
    ------
    ValueError
        On empty, mismatched or missing labels.

    Examples
    --------
    >>> per_class_report(["a", "a", "b", "c"], ["a", "b", "b", "b"])  # doctest: +NORMALIZE_WHITESPACE
           support  n_predicted  precision  recall        f1
    label
    a            2            1   1.000000     0.5  0.666667
    b            1            3   0.333333     1.0  0.500000
    c            1            0   0.000000     0.0  0.000000
    """
    yt, yp = check_labels(y_true, y_pred)
    (t, p), uniques = encode_labels({"y_true": yt, "y_pred": yp})
    support, predicted, tp = _class_counts(t, p, len(uniques))
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(predicted > 0, tp / np.maximum(predicted, 1), 0.0)
        recall = np.where(support > 0, tp / np.maximum(support, 1), 0.0)
    f1 = 2 * tp / (support + predicted)
    frame = pd.DataFrame(
        {
            "support": support,
            "n_predicted": predicted,
            "precision": precision,
            "recall": recall,
            "f1": f1,
        },
        index=pd.Index(uniques, name="label"),
    )
    return frame.iloc[_sorted_order(uniques)]


def most_confused_pairs(y_true: Any, y_pred: Any, *, n: int = 20) -> pd.DataFrame:
    """The ``n`` most frequent (true label, predicted label) mistakes.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    y_pred : array-like of shape (n_samples,)
        Predicted labels.
    n : int, default=20
        Number of pairs to return.

    Returns
    -------
    pandas.DataFrame
        Columns ``true``, ``predicted``, ``n_records`` and ``share_of_true`` (the share of
        the true class's records given this wrong label), most frequent first; ties are
        ordered by label. Empty when every prediction is right.

    Raises
    ------
    ValueError
        On empty, mismatched or missing labels, or ``n`` < 1.

    Examples
    --------
    >>> most_confused_pairs(["a", "a", "a", "b", "b"], ["b", "b", "a", "a", "b"], n=2)
      true predicted  n_records  share_of_true
    0    a         b          2       0.666667
    1    b         a          1       0.500000
    """
    n = check_positive_int(n, "n")
    yt, yp = check_labels(y_true, y_pred)
    (t, p), uniques = encode_labels({"y_true": yt, "y_pred": yp})
    wrong = t != p
    n_uniques = len(uniques)
    pair_codes, counts = np.unique(
        t[wrong].astype(np.int64) * n_uniques + p[wrong], return_counts=True
    )
    true_code, pred_code = np.divmod(pair_codes, n_uniques)
    rank = np.empty(n_uniques, dtype=np.int64)
    rank[_sorted_order(uniques)] = np.arange(n_uniques)
    order = np.lexsort((rank[pred_code], rank[true_code], -counts))[:n]
    support = np.bincount(t, minlength=n_uniques)
    return pd.DataFrame(
        {
            "true": uniques[true_code[order]],
            "predicted": uniques[pred_code[order]],
            "n_records": counts[order],
            "share_of_true": counts[order] / support[true_code[order]],
        }
    )


def subgroup_report(
    y_true: Any, y_pred: Any, groups: Any, *, min_records: int = 1
) -> dict[str, Any]:
    """Accuracy in each subgroup (e.g. region, sex, language) and the largest gap.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    y_pred : array-like of shape (n_samples,)
        Predicted labels.
    groups : array-like of shape (n_samples,) or DataFrame
        Group of each record; a DataFrame groups by the combination of its columns.
    min_records : int, default=1
        Groups with fewer records are listed but left out of the gap.

    Returns
    -------
    dict
        ``by_group``: DataFrame indexed by group with ``n`` and ``accuracy``;
        ``largest_gap``: best minus worst accuracy among groups with at least
        ``min_records`` records (0.0 is best); ``best_group`` and ``worst_group``.

    Raises
    ------
    ValueError
        On bad labels, groups of another length, missing group values, or no group
        with ``min_records`` records.

    Examples
    --------
    >>> report = subgroup_report(["a", "b", "a", "b"], ["a", "b", "b", "b"],
    ...                          ["pl", "pl", "en", "en"])
    >>> report["by_group"]  # doctest: +NORMALIZE_WHITESPACE
           n  accuracy
    group
    en     2       0.5
    pl     2       1.0
    >>> report["largest_gap"], report["worst_group"]
    (0.5, 'en')
    """
    min_records = check_positive_int(min_records, "min_records")
    yt, yp = check_labels(y_true, y_pred)
    (t, p), _ = encode_labels({"y_true": yt, "y_pred": yp})
    if isinstance(groups, pd.DataFrame):
        keys = groups.reset_index(drop=True)
        names = list(keys.columns)
    else:
        keys = pd.DataFrame({"group": as_1d(groups, "groups", labels=True)})
        names = ["group"]
    check_same_length(y_true=yt, groups=keys)
    n_missing = int(keys.isna().any(axis=1).sum())
    if n_missing:
        msg = (
            f"groups has {n_missing} records with a missing group (NaN/None); expected a "
            "group for every record. Fill them, e.g. with 'unknown'."
        )
        raise InvalidInputError(msg)
    keys["_correct"] = t == p
    table = keys.groupby(names, sort=True, observed=True)["_correct"].agg(
        ["size", "mean"]
    )
    table.columns = ["n", "accuracy"]
    eligible = table[table["n"] >= min_records]
    if eligible.empty:
        msg = (
            f"no group has min_records={min_records} records; the largest has "
            f"{int(table['n'].max())}. Lower min_records."
        )
        raise InvalidInputError(msg)
    best, worst = eligible["accuracy"].idxmax(), eligible["accuracy"].idxmin()
    return {
        "by_group": table,
        "largest_gap": float(eligible["accuracy"].max() - eligible["accuracy"].min()),
        "best_group": plain_value(best),
        "worst_group": plain_value(worst),
    }


# ---------------------------------------------------------------------------------------
# the one-call report
# ---------------------------------------------------------------------------------------


def coding_report(
    y_true: Any,
    y_pred: Any,
    *,
    proba: Any = None,
    classes: Any = None,
    levels: Sequence[int] | None = (1, 2, 3, 4),
    train_classes: Any = None,
) -> dict[str, Any]:
    """Everything needed to compare coding models, in one flat dict.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True codes.
    y_pred : array-like of shape (n_samples,)
        Predicted codes.
    proba : array-like of shape (n_samples, n_classes), default=None
        Predicted probabilities; adds the probability-based figures below.
    classes : array-like of shape (n_classes,), default=None
        Label of each column of ``proba`` (e.g. ``model.classes_``); required with
        ``proba``. Also the classes the model knows when ``train_classes`` is None.
    levels : sequence of int or None, default=(1, 2, 3, 4)
        Hierarchy levels to report (first ``level`` characters of the codes). Levels
        longer than the shortest code are left out; None reports no hierarchy, for
        labels that are not hierarchical codes (e.g. ECOICOP category names).
    train_classes : array-like, default=None
        Labels seen in training, to find test classes the model never saw.

    Returns
    -------
    dict
        Plain Python values, ready for a run record:

        - ``n``: records; ``n_classes``: distinct true labels;
        - ``unseen_classes`` (sorted list) and ``n_unseen_classes``: true labels not in
          ``train_classes`` (or ``classes``), and ``n_unseen_records``; None when
          neither is given;
        - ``accuracy``, ``f1_macro`` and ``f1_weighted`` (over labels in y_true or
          y_pred, as scikit-learn's ``f1_score``);
        - ``accuracy_level_<l>`` for each reported level;

        with ``proba``:

        - ``top_3_accuracy``, ``top_5_accuracy`` (see :func:`top_k_accuracy_score`);
        - ``automation_rate_<t>`` and ``threshold_<t>`` for t = 90, 95, 98 (percent
          target accuracy; the threshold is None when unreachable), using as
          confidence the probability of each predicted label (0 when it has no column);
        - ``log_loss`` (probabilities clipped to [eps, 1 - eps], as scikit-learn;
          true labels without a column count as probability eps);
        - ``expected_calibration_error`` (15 bins).

        Every ``accuracy``, ``f1``, ``top_k`` and ``automation_rate`` value is
        higher-is-better; ``log_loss`` and ``expected_calibration_error`` are
        lower-is-better.

    Raises
    ------
    ValueError
        On bad labels, a ``proba`` that does not match ``y_true`` and ``classes``,
        probabilities outside [0, 1], or invalid levels.

    Examples
    --------
    >>> report = coding_report(["1111", "1112", "2111"], ["1111", "1121", "2111"],
    ...                        levels=(1, 3))
    >>> report["n"], report["accuracy"], report["accuracy_level_1"]
    (3, 0.6666666666666666, 1.0)
    >>> classes = ["a", "b"]
    >>> proba = [[0.8, 0.2], [0.3, 0.7], [0.6, 0.4]]
    >>> report = coding_report(["a", "b", "b"], ["a", "b", "a"], proba=proba,
    ...                        classes=classes, levels=None)
    >>> report["top_3_accuracy"], report["automation_rate_90"], report["threshold_90"]
    (1.0, 0.6666666666666666, 0.7)
    """
    yt, yp = check_labels(y_true, y_pred)
    n = len(yt)
    cls = None if classes is None else as_1d(classes, "classes", labels=True)
    if proba is not None:
        p_matrix, cls = _prepare_proba(proba, classes, n)
    (t, p), uniques = encode_labels({"y_true": yt, "y_pred": yp}, classes=cls)
    n_uniques = len(uniques)
    support, predicted, tp = _class_counts(t, p, n_uniques)
    _, f1_macro, f1_weighted = _f1_scores(support, predicted, tp)
    report: dict[str, Any] = {
        "n": n,
        "n_classes": int(np.count_nonzero(support)),
    }
    report.update(_unseen_classes(uniques, support, cls, train_classes))
    correct = t == p
    report["accuracy"] = float(correct.mean())
    report["f1_macro"] = f1_macro
    report["f1_weighted"] = f1_weighted
    if levels is not None:
        for level, accuracy in accuracy_at_levels(t, p, uniques, levels).items():
            report[f"accuracy_level_{level}"] = accuracy
    if proba is not None:
        report.update(_probability_figures(p_matrix, t, p, correct))
    return report


def _unseen_classes(
    uniques: np.ndarray, support: np.ndarray, cls: np.ndarray | None, train_classes: Any
) -> dict[str, Any]:
    known = train_classes if train_classes is not None else cls
    if known is None:
        return {
            "unseen_classes": None,
            "n_unseen_classes": None,
            "n_unseen_records": None,
        }
    known_set = pd.Index(as_1d(known, "train_classes", labels=True))
    unseen = (support > 0) & ~pd.Index(uniques).isin(known_set)
    labels = [plain_value(u) for u in uniques[unseen]]
    labels = [labels[i] for i in _sorted_order(np.array(labels, dtype=object))]
    return {
        "unseen_classes": labels,
        "n_unseen_classes": len(labels),
        "n_unseen_records": int(support[unseen].sum()),
    }


def _probability_figures(
    proba: np.ndarray, t: np.ndarray, p: np.ndarray, correct: np.ndarray
) -> dict[str, Any]:
    n, n_classes = proba.shape
    rank = _true_class_rank(proba, t)
    figures: dict[str, Any] = {
        "top_3_accuracy": float((rank <= 3).mean()),
        "top_5_accuracy": float((rank <= 5).mean()),
    }
    has_column = p < n_classes
    confidence = np.where(
        has_column, proba[np.arange(n), np.where(has_column, p, 0)], 0.0
    )
    table = rates_at_targets(
        n, *automation_arrays(correct, confidence), AUTOMATION_TARGETS
    )
    for row in table.itertuples(index=False):
        pct = round(row.target_accuracy * 100)
        figures[f"automation_rate_{pct}"] = float(row.automation_rate)
        figures[f"threshold_{pct}"] = None if np.isnan(row.threshold) else row.threshold
    figures["log_loss"] = _log_loss(proba, t)
    figures["expected_calibration_error"] = calibration_error_arrays(
        correct, confidence, 15, None
    )
    return figures
