"""Evaluation helpers for automatic coding in official statistics: the one import.

Automatic coding of occupations, industries or products is judged by more than accuracy:
by the share of records a model can code on its own while staying above a required
accuracy (the *automation rate*, also called coding or production rate), by accuracy at
each level of the classification hierarchy and by the top-k suggestions it offers human
coders. The functions follow scikit-learn's conventions: ``f(y_true, y_pred, *, ...)``,
``*_score`` is higher-is-better, ``*_error`` lower-is-better, and only ``*_report``
functions return a dict or DataFrame.

Each family lives in a module of its own: accuracy, F1, per-class figures, confusions,
subgroups, top-k and the one-call :func:`coding_report` in
:mod:`squad.evaluation.classification`; accuracy by hierarchy level in
:mod:`squad.evaluation.hierarchy`; automation rate and calibration in
:mod:`squad.evaluation.automation`; imputation and estimation metrics in
:mod:`squad.evaluation.estimation`; the model card in :mod:`squad.evaluation.scorecard`.
All are re-exported here, so ``squad.evaluation.metrics`` (``squad.metrics`` in
notebooks) is the one place to import from.
"""

from __future__ import annotations

from squad.evaluation.automation import (
    automation_curve,
    automation_rate_report,
    automation_rate_score,
    calibration_report,
    expected_calibration_error,
)
from squad.evaluation.classification import (
    coding_report,
    most_confused_pairs,
    per_class_report,
    subgroup_report,
    top_k_accuracy_score,
)
from squad.evaluation.estimation import (
    domain_estimates,
    estimate_error_report,
    imputation_report,
)
from squad.evaluation.hierarchy import (
    hierarchical_accuracy_report,
    hierarchical_accuracy_score,
)
from squad.evaluation.scorecard import Scorecard, scorecard

__all__ = [
    "Scorecard",
    "automation_curve",
    "automation_rate_report",
    "automation_rate_score",
    "calibration_report",
    "coding_report",
    "domain_estimates",
    "estimate_error_report",
    "expected_calibration_error",
    "hierarchical_accuracy_report",
    "hierarchical_accuracy_score",
    "imputation_report",
    "most_confused_pairs",
    "per_class_report",
    "scorecard",
    "subgroup_report",
    "top_k_accuracy_score",
]
