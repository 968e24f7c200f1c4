"""Tests for squad.evaluation.automation: automation rate and calibration, against hand-computed
cases, brute-force counts and properties."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from squad.evaluation import automation
from squad.evaluation.automation import (
    automation_curve,
    automation_rate_report,
    automation_rate_score,
    calibration_report,
    expected_calibration_error,
)

SEEDS = [0, 1, 2]


def _coding_data(seed: int, n: int = 400, n_classes: int = 12):
    """Seeded labels, predictions and probabilities (columns in sorted class order)."""
    rng = np.random.default_rng(seed)
    classes = np.array([f"c{i:02d}" for i in range(n_classes)], dtype=object)
    true_idx = rng.integers(0, n_classes, n)
    logits = rng.normal(size=(n, n_classes))
    logits[np.arange(n), true_idx] += rng.gamma(2.0, 1.0, size=n)
    proba = np.exp(logits)
    proba /= proba.sum(axis=1, keepdims=True)
    return classes[true_idx], classes[proba.argmax(axis=1)], proba, classes


# --- automation ----------------------------------------------------------------------


def test_automation_curve_hand_case_keeps_ties_together():
    """Tied confidences enter the automated set together."""
    curve = automation_curve(
        ["a", "b", "a", "b", "a"], ["a", "b", "b", "a", "a"], [0.9, 0.7, 0.7, 0.7, 0.2]
    )
    assert curve["threshold"].tolist() == [0.9, 0.7, 0.2]
    assert curve["n_automated"].tolist() == [1, 4, 5]
    assert curve["automation_rate"].tolist() == pytest.approx([0.2, 0.8, 1.0])
    assert curve["accuracy"].tolist() == pytest.approx([1.0, 0.5, 0.6])


@pytest.mark.parametrize("seed", SEEDS)
def test_automation_curve_matches_brute_force(seed):
    """Every row equals a direct count of the records at or above its threshold."""
    y_true, y_pred, proba, _ = _coding_data(seed, n=150)
    conf = np.round(proba.max(axis=1), 2)  # rounding creates ties
    curve = automation_curve(y_true, y_pred, conf)
    assert curve["threshold"].is_monotonic_decreasing
    assert curve["threshold"].is_unique
    for row in curve.itertuples():
        chosen = conf >= row.threshold
        assert row.n_automated == chosen.sum()
        assert row.accuracy == pytest.approx((y_true[chosen] == y_pred[chosen]).mean())
    assert curve["automation_rate"].iloc[-1] == 1.0
    assert curve["accuracy"].iloc[-1] == pytest.approx((y_true == y_pred).mean())


def test_automation_curve_order_invariant():
    """Shuffling the records gives the same curve."""
    y_true, y_pred, proba, _ = _coding_data(8)
    conf = np.round(proba.max(axis=1), 2)
    perm = np.random.default_rng(2).permutation(len(y_true))
    pd.testing.assert_frame_equal(
        automation_curve(y_true, y_pred, conf),
        automation_curve(y_true[perm], y_pred[perm], conf[perm]),
    )


def test_automation_rate_score_hand_case():
    """The largest prefix by confidence that keeps the target accuracy."""
    y_true = ["a", "b", "a", "b", "a"]
    y_pred = ["a", "b", "b", "a", "a"]
    conf = [0.9, 0.8, 0.7, 0.6, 0.5]
    # accuracies by prefix: 1, 1, 2/3, 2/4, 3/5
    assert automation_rate_score(y_true, y_pred, conf, target_accuracy=0.95) == 0.4
    assert automation_rate_score(y_true, y_pred, conf, target_accuracy=0.6) == 1.0
    assert automation_rate_score(y_true, y_pred, conf, target_accuracy=0.65) == 0.6


def test_automation_rate_score_exact_target_counts():
    """An accuracy exactly equal to the target is enough."""
    y_true = list("aaaaaaaaaaaaaaaaaaab")
    y_pred = ["a"] * 20
    conf = np.linspace(0.99, 0.5, 20)
    assert automation_rate_score(y_true, y_pred, conf, target_accuracy=0.95) == 1.0


def test_automation_rate_score_perfect_and_unreachable():
    """Perfect predictions automate everything; all-wrong ones nothing."""
    assert automation_rate_score(["a", "b"], ["a", "b"], [0.3, 0.9]) == 1.0
    assert automation_rate_score(["a", "b"], ["b", "a"], [0.3, 0.9]) == 0.0


@pytest.mark.parametrize("seed", SEEDS)
def test_automation_rate_non_increasing_in_target(seed):
    """A stricter target never allows more automation."""
    y_true, y_pred, proba, _ = _coding_data(seed)
    conf = proba.max(axis=1)
    targets = np.linspace(0.0, 1.0, 41)
    rates = [
        automation_rate_score(y_true, y_pred, conf, target_accuracy=t) for t in targets
    ]
    assert all(a >= b for a, b in zip(rates, rates[1:], strict=False))
    assert rates[0] == 1.0


@pytest.mark.parametrize("seed", SEEDS)
def test_automation_rate_report_threshold_reaches_target(seed):
    """Records at or above the reported threshold reach the target and match the score."""
    y_true, y_pred, proba, _ = _coding_data(seed)
    conf = proba.max(axis=1)
    table = automation_rate_report(y_true, y_pred, conf)
    assert table["target_accuracy"].tolist() == [0.90, 0.95, 0.98]
    for row in table.itertuples():
        assert row.automation_rate == automation_rate_score(
            y_true, y_pred, conf, target_accuracy=row.target_accuracy
        )
        if row.automation_rate > 0:
            chosen = conf >= row.threshold
            assert chosen.mean() == pytest.approx(row.automation_rate)
            assert (y_true[chosen] == y_pred[chosen]).mean() >= row.target_accuracy


def test_automation_rate_report_unreachable_threshold_is_nan():
    """An unreachable target gives rate 0.0 and no threshold."""
    table = automation_rate_report(["a"], ["b"], [0.5], target_accuracy=0.9)
    assert table["automation_rate"].tolist() == [0.0]
    assert np.isnan(table["threshold"].iloc[0])


@pytest.mark.parametrize("target", [1.5, -0.1, "high"])
def test_automation_rate_score_bad_target(target):
    """A target outside [0, 1] is refused."""
    with pytest.raises(
        ValueError, match=r"target_accuracy must be a number in \[0, 1\]"
    ):
        automation_rate_score(["a"], ["a"], [0.5], target_accuracy=target)


# --- calibration ---------------------------------------------------------------------


def test_expected_calibration_error_hand_case():
    """Two bins: |1 - 0.9| and |0 - 0.4|, weighted by size."""
    ece = expected_calibration_error(
        ["a", "b", "a", "b"], ["a", "b", "b", "a"], [0.9, 0.9, 0.4, 0.4], n_bins=2
    )
    assert ece == pytest.approx(0.5 * 0.1 + 0.5 * 0.4)


@pytest.mark.parametrize("seed", SEEDS)
def test_expected_calibration_error_matches_bin_loop(seed):
    """Equals a bin-by-bin computation with right-closed bins."""
    y_true, y_pred, proba, _ = _coding_data(seed)
    conf = proba.max(axis=1)
    correct = y_true == y_pred
    n_bins = 10
    edges = np.linspace(0, 1, n_bins + 1)
    expected = 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        in_bin = (conf > lo) & (conf <= hi) if lo > 0 else conf <= hi
        if in_bin.any():
            gap = abs(correct[in_bin].mean() - conf[in_bin].mean())
            expected += in_bin.mean() * gap
    assert expected_calibration_error(
        y_true, y_pred, conf, n_bins=n_bins
    ) == pytest.approx(expected)


def test_expected_calibration_error_perfect_and_properties():
    """Confident correct predictions give 0; weights None equals ones; order free."""
    assert expected_calibration_error(["a", "b"], ["a", "b"], [1.0, 1.0]) == 0.0
    y_true, y_pred, proba, _ = _coding_data(9)
    conf = proba.max(axis=1)
    base = expected_calibration_error(y_true, y_pred, conf)
    assert base == expected_calibration_error(
        y_true, y_pred, conf, sample_weight=np.ones(len(conf))
    )
    perm = np.random.default_rng(3).permutation(len(conf))
    assert base == pytest.approx(
        expected_calibration_error(y_true[perm], y_pred[perm], conf[perm])
    )


def test_calibration_report_bins_add_up():
    """Bin counts add up to n; empty bins have NaN accuracy."""
    table = calibration_report(
        ["a", "b", "a"], ["a", "b", "b"], [0.95, 0.9, 0.1], n_bins=4
    )
    assert table["n"].tolist() == [1, 0, 0, 2]
    assert table["accuracy"].iloc[3] == 1.0
    assert table["mean_confidence"].iloc[3] == pytest.approx(0.925)
    assert np.isnan(table["accuracy"].iloc[1])


BAD_INPUTS = [
    (
        lambda: automation.automation_curve(["a", "b"], ["a", "b"], [0.5, 1.5]),
        r"confidence must lie in \[0, 1\]; received 1 values outside it "
        r"\(range 0.5 to 1.5\)",
    ),
    (
        lambda: automation.automation_rate_score(["a", "b"], ["a", "b"], [0.5, np.nan]),
        r"confidence must lie in \[0, 1\]; received 1 values outside it",
    ),
    (
        lambda: automation.expected_calibration_error(["a"], ["a"], [0.5, 0.5]),
        r"y_true has 1 records but confidence has 2",
    ),
    (
        lambda: automation.expected_calibration_error(["a"], ["a"], [0.5], n_bins=0),
        r"n_bins must be a positive integer; received 0",
    ),
]


@pytest.mark.parametrize(("call", "match"), BAD_INPUTS)
def test_bad_input_raises_value_error_with_message(call, match):
    """Each bad input raises ValueError saying what was received and expected."""
    with pytest.raises(ValueError, match=match):
        call()
