"""Automation rate and calibration: how far a model's confidence can be trusted.

A coding model can take over the records it is most confident about. The automation
rate (also called coding or production rate) is the largest share of records it can
code on its own while their accuracy stays at or above a target; calibration says
whether the confidences mean what they say. Re-exported by :mod:`squad.evaluation.metrics`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from squad.evaluation._inputs import (
    check_confidence,
    check_fraction,
    check_labels,
    check_positive_int,
    check_weights,
    encode_labels,
)

__all__ = [
    "AUTOMATION_TARGETS",
    "automation_curve",
    "automation_rate_report",
    "automation_rate_score",
    "calibration_report",
    "expected_calibration_error",
]

#: Target accuracies at which :func:`squad.evaluation.metrics.coding_report` gives the automation
#: rate; the default of :func:`automation_rate_report`.
AUTOMATION_TARGETS = (0.90, 0.95, 0.98)
_TOLERANCE = 1e-12

# ---------------------------------------------------------------------------------------
# automation rate
# ---------------------------------------------------------------------------------------


def automation_arrays(
    correct: np.ndarray, confidence: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return thresholds (descending), records automated and correct ones per threshold."""
    order = np.argsort(-confidence, kind="stable")
    conf_sorted = confidence[order]
    cum_correct = np.cumsum(correct[order])
    last_of_tie = np.append(conf_sorted[1:] != conf_sorted[:-1], True)
    n_automated = np.flatnonzero(last_of_tie) + 1
    return conf_sorted[last_of_tie], n_automated, cum_correct[last_of_tie]


def _correct_and_confidence(
    y_true: Any, y_pred: Any, confidence: Any
) -> tuple[np.ndarray, np.ndarray]:
    yt, yp = check_labels(y_true, y_pred)
    conf = check_confidence(confidence, len(yt))
    (t, p), _ = encode_labels({"y_true": yt, "y_pred": yp})
    return t == p, conf


def rates_at_targets(
    n: int,
    thresholds: np.ndarray,
    n_automated: np.ndarray,
    n_correct: np.ndarray,
    targets: Sequence[float],
) -> pd.DataFrame:
    """Automation rate and threshold at each target accuracy, from the cumulative
    counts of :func:`automation_arrays` (checked inputs; see :func:`automation_curve`)."""
    rows = []
    for target in targets:
        ok = np.flatnonzero(n_correct >= (target - _TOLERANCE) * n_automated)
        if ok.size == 0:
            rows.append((target, 0.0, np.nan, np.nan, 0))
            continue
        i = ok[-1]
        rows.append(
            (
                target,
                n_automated[i] / n,
                float(thresholds[i]),
                n_correct[i] / n_automated[i],
                int(n_automated[i]),
            )
        )
    columns = [
        "target_accuracy",
        "automation_rate",
        "threshold",
        "accuracy",
        "n_automated",
    ]
    return pd.DataFrame(rows, columns=columns)


def automation_curve(y_true: Any, y_pred: Any, confidence: Any) -> pd.DataFrame:
    """Accuracy of the records a model would code automatically, for every threshold.

    A record is coded automatically when its confidence is at least the threshold.
    Records with equal confidence are always automated together, so the curve has one
    row per distinct confidence value.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    y_pred : array-like of shape (n_samples,)
        Predicted labels.
    confidence : array-like of shape (n_samples,)
        Confidence of each prediction in [0, 1], e.g. the predicted class's probability.

    Returns
    -------
    pandas.DataFrame
        Columns ``threshold`` (descending), ``automation_rate`` (share of records with
        confidence >= threshold), ``accuracy`` (among those records) and
        ``n_automated``.

    Raises
    ------
    ValueError
        On bad labels, or confidences that are not in [0, 1].

    Examples
    --------
    >>> automation_curve(["a", "b", "a", "b"], ["a", "b", "b", "a"], [0.9, 0.8, 0.8, 0.3])
       threshold  automation_rate  accuracy  n_automated
    0        0.9             0.25  1.000000            1
    1        0.8             0.75  0.666667            3
    2        0.3             1.00  0.500000            4
    """
    correct, conf = _correct_and_confidence(y_true, y_pred, confidence)
    thresholds, n_automated, n_correct = automation_arrays(correct, conf)
    return pd.DataFrame(
        {
            "threshold": thresholds,
            "automation_rate": n_automated / len(conf),
            "accuracy": n_correct / n_automated,
            "n_automated": n_automated,
        }
    )


def automation_rate_report(
    y_true: Any,
    y_pred: Any,
    confidence: Any,
    *,
    target_accuracy: float | Sequence[float] = AUTOMATION_TARGETS,
) -> pd.DataFrame:
    """Automation rate and the confidence threshold for each target accuracy.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    y_pred : array-like of shape (n_samples,)
        Predicted labels.
    confidence : array-like of shape (n_samples,)
        Confidence of each prediction in [0, 1].
    target_accuracy : float or sequence of float, default=(0.90, 0.95, 0.98)
        Accuracies the automatically coded records must reach.

    Returns
    -------
    pandas.DataFrame
        One row per target: ``target_accuracy``, ``automation_rate`` (1.0 is best; 0.0
        when no threshold reaches the target), ``threshold`` (code automatically when
        confidence >= threshold; NaN when unreachable), the ``accuracy`` reached and
        ``n_automated``.

    Raises
    ------
    ValueError
        On bad labels, confidences outside [0, 1] or targets outside [0, 1].

    Examples
    --------
    >>> automation_rate_report(
    ...     ["a", "b", "a", "b"], ["a", "b", "b", "a"], [0.9, 0.8, 0.8, 0.3],
    ...     target_accuracy=[0.6, 0.99])
       target_accuracy  automation_rate  threshold  accuracy  n_automated
    0             0.60             0.75        0.8  0.666667            3
    1             0.99             0.25        0.9  1.000000            1
    """
    targets = np.atleast_1d(np.asarray(target_accuracy, dtype=object)).tolist()
    targets = [check_fraction(x, "target_accuracy") for x in targets]
    correct, conf = _correct_and_confidence(y_true, y_pred, confidence)
    return rates_at_targets(len(conf), *automation_arrays(correct, conf), targets)


def automation_rate_score(
    y_true: Any, y_pred: Any, confidence: Any, *, target_accuracy: float = 0.95
) -> float:
    """Largest share of records that can be coded automatically at a target accuracy.

    Records are automated from the most confident down (ties together); the score is the
    largest share whose accuracy is still at least ``target_accuracy``. Use
    :func:`automation_rate_report` for the threshold that achieves it.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    y_pred : array-like of shape (n_samples,)
        Predicted labels.
    confidence : array-like of shape (n_samples,)
        Confidence of each prediction in [0, 1].
    target_accuracy : float, default=0.95
        Accuracy the automatically coded records must reach.

    Returns
    -------
    float
        Automation rate in [0, 1]; 1.0 is best, 0.0 when no threshold reaches the target.

    Raises
    ------
    ValueError
        On bad labels, confidences outside [0, 1] or a target outside [0, 1].

    Examples
    --------
    >>> automation_rate_score(
    ...     ["a", "b", "a", "b"], ["a", "b", "b", "a"], [0.9, 0.8, 0.8, 0.3],
    ...     target_accuracy=0.6)
    0.75
    """
    target = check_fraction(target_accuracy, "target_accuracy")
    correct, conf = _correct_and_confidence(y_true, y_pred, confidence)
    table = rates_at_targets(len(conf), *automation_arrays(correct, conf), [target])
    return float(table["automation_rate"].iloc[0])


# ---------------------------------------------------------------------------------------
# calibration
# ---------------------------------------------------------------------------------------


def _calibration_bins(
    correct: np.ndarray, conf: np.ndarray, n_bins: int, w: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return bin edges and per-bin weight, confidence sum and correct sum."""
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.searchsorted(edges[1:-1], conf, side="left")
    weight = np.ones(len(conf)) if w is None else w
    total = np.bincount(idx, weights=weight, minlength=n_bins)
    conf_sum = np.bincount(idx, weights=weight * conf, minlength=n_bins)
    correct_sum = np.bincount(idx, weights=weight * correct, minlength=n_bins)
    return edges, total, conf_sum, correct_sum


def calibration_error_arrays(
    correct: np.ndarray, conf: np.ndarray, n_bins: int, w: np.ndarray | None
) -> float:
    """Expected calibration error of checked arrays (see
    :func:`expected_calibration_error`, which checks its inputs first)."""
    _, total, conf_sum, correct_sum = _calibration_bins(correct, conf, n_bins, w)
    return float(np.abs(correct_sum - conf_sum).sum() / total.sum())


def expected_calibration_error(
    y_true: Any,
    y_pred: Any,
    confidence: Any,
    *,
    n_bins: int = 15,
    sample_weight: Any = None,
) -> float:
    """Expected calibration error of the predicted labels' confidences.

    Confidences are put in ``n_bins`` equal-width bins, right-closed ((0, 1/15], ...,
    with 0 in the first bin); the error is the record-weighted mean, over bins, of
    ``|accuracy(bin) - mean confidence(bin)|``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    y_pred : array-like of shape (n_samples,)
        Predicted labels.
    confidence : array-like of shape (n_samples,)
        Confidence of each prediction in [0, 1].
    n_bins : int, default=15
        Number of equal-width bins.
    sample_weight : array-like of shape (n_samples,), default=None
        Weights of the records; None gives every record weight 1.

    Returns
    -------
    float
        ECE in [0, 1]; 0.0 is best (perfectly calibrated).

    Raises
    ------
    ValueError
        On bad labels or weights, confidences outside [0, 1] or ``n_bins`` < 1.

    Examples
    --------
    >>> expected_calibration_error(
    ...     ["a", "b", "a", "b"], ["a", "b", "b", "a"], [0.9, 0.9, 0.4, 0.4], n_bins=2)
    0.25
    """
    n_bins = check_positive_int(n_bins, "n_bins")
    correct, conf = _correct_and_confidence(y_true, y_pred, confidence)
    w = check_weights(sample_weight, len(conf))
    return calibration_error_arrays(correct, conf, n_bins, w)


def calibration_report(
    y_true: Any, y_pred: Any, confidence: Any, *, n_bins: int = 15
) -> pd.DataFrame:
    """Accuracy against mean confidence in equal-width confidence bins.

    The table behind a reliability diagram and :func:`expected_calibration_error`.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    y_pred : array-like of shape (n_samples,)
        Predicted labels.
    confidence : array-like of shape (n_samples,)
        Confidence of each prediction in [0, 1].
    n_bins : int, default=15
        Number of equal-width bins.

    Returns
    -------
    pandas.DataFrame
        One row per bin: ``bin_lower``, ``bin_upper``, ``n``, ``mean_confidence`` and
        ``accuracy`` (NaN for empty bins).

    Raises
    ------
    ValueError
        On bad labels, confidences outside [0, 1] or ``n_bins`` < 1.

    Examples
    --------
    >>> calibration_report(
    ...     ["a", "b", "a", "b"], ["a", "b", "b", "a"], [0.9, 0.9, 0.4, 0.4], n_bins=2)
       bin_lower  bin_upper  n  mean_confidence  accuracy
    0        0.0        0.5  2              0.4       0.0
    1        0.5        1.0  2              0.9       1.0
    """
    n_bins = check_positive_int(n_bins, "n_bins")
    correct, conf = _correct_and_confidence(y_true, y_pred, confidence)
    edges, total, conf_sum, correct_sum = _calibration_bins(correct, conf, n_bins, None)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.where(total > 0, conf_sum / total, np.nan)
        accuracy = np.where(total > 0, correct_sum / total, np.nan)
    return pd.DataFrame(
        {
            "bin_lower": edges[:-1],
            "bin_upper": edges[1:],
            "n": total.astype(np.int64),
            "mean_confidence": mean_conf,
            "accuracy": accuracy,
        }
    )
