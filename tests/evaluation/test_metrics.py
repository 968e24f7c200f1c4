"""Tests for squad.evaluation.metrics: coding metrics against hand-computed cases, scikit-learn and
properties."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from squad.evaluation import metrics
from squad.evaluation.metrics import (
    automation_rate_report,
    coding_report,
    expected_calibration_error,
    hierarchical_accuracy_report,
    hierarchical_accuracy_score,
    most_confused_pairs,
    per_class_report,
    subgroup_report,
    top_k_accuracy_score,
)

SEEDS = [0, 1, 2]


def _coding_data(seed: int, n: int = 400, n_classes: int = 12):
    """Seeded hierarchical codes, predictions, probabilities and sorted classes."""
    rng = np.random.default_rng(seed)
    codes = rng.choice(np.arange(1000, 10000), size=n_classes, replace=False)
    classes = np.array(sorted(str(c) for c in codes), dtype=object)
    true_idx = rng.integers(0, n_classes, n)
    logits = rng.normal(size=(n, n_classes))
    logits[np.arange(n), true_idx] += rng.gamma(2.0, 1.0, size=n)
    proba = np.exp(logits)
    proba /= proba.sum(axis=1, keepdims=True)
    y_pred = classes[proba.argmax(axis=1)]
    return classes[true_idx], y_pred, proba, classes


# --- hierarchical accuracy ---------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "expected"),
    [(1, 3 / 4), (2, 3 / 4), (3, 2 / 4), (4, 1 / 4)],
)
def test_hierarchical_accuracy_score_hand_case(level, expected):
    """Accuracy on code prefixes matches a hand count."""
    y_true = ["1111", "1112", "2111", "3111"]
    y_pred = ["1111", "1121", "2112", "4111"]
    assert hierarchical_accuracy_score(y_true, y_pred, level=level) == pytest.approx(
        expected
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_hierarchical_accuracy_score_matches_sklearn_on_prefixes(seed):
    """Each level equals scikit-learn's accuracy on the sliced codes."""
    y_true, y_pred, _, _ = _coding_data(seed)
    for level in (1, 2, 3, 4):
        expected = skm.accuracy_score(
            [s[:level] for s in y_true], [s[:level] for s in y_pred]
        )
        assert hierarchical_accuracy_score(
            y_true, y_pred, level=level
        ) == pytest.approx(expected)


def test_hierarchical_accuracy_score_weights_none_equals_ones():
    """sample_weight=None gives the same value as all-ones weights."""
    y_true, y_pred, _, _ = _coding_data(3)
    ones = np.ones(len(y_true))
    for level in (1, 3):
        assert hierarchical_accuracy_score(
            y_true, y_pred, level=level
        ) == hierarchical_accuracy_score(
            y_true, y_pred, level=level, sample_weight=ones
        )


def test_hierarchical_accuracy_score_weighted_hand_case():
    """Weights count records in proportion."""
    score = hierarchical_accuracy_score(
        ["11", "12", "21"], ["11", "11", "22"], level=2, sample_weight=[3, 1, 1]
    )
    assert score == pytest.approx(3 / 5)


def test_hierarchical_accuracy_score_order_invariant_and_perfect():
    """Shuffling records changes nothing; perfect predictions score 1.0."""
    y_true, y_pred, _, _ = _coding_data(4)
    perm = np.random.default_rng(0).permutation(len(y_true))
    assert hierarchical_accuracy_score(
        y_true, y_pred, level=2
    ) == hierarchical_accuracy_score(y_true[perm], y_pred[perm], level=2)
    assert hierarchical_accuracy_score(y_true, y_true, level=4) == 1.0


def test_hierarchical_accuracy_score_integer_codes():
    """Integer codes are compared through their decimal strings."""
    assert hierarchical_accuracy_score([1111, 2111], [1112, 2111], level=3) == 1.0


def test_hierarchical_accuracy_report_all_levels():
    """levels=None reports every level up to the shortest code."""
    table = hierarchical_accuracy_report(["111", "121", "211"], ["111", "122", "311"])
    assert table["level"].tolist() == [1, 2, 3]
    assert table["n_classes"].tolist() == [2, 3, 3]
    assert table["accuracy"].tolist() == pytest.approx([2 / 3, 2 / 3, 1 / 3])


def test_hierarchical_accuracy_report_selected_levels_match_score():
    """The report agrees with the score function level by level."""
    y_true, y_pred, _, _ = _coding_data(5)
    table = hierarchical_accuracy_report(y_true, y_pred, levels=[2, 4])
    assert table["level"].tolist() == [2, 4]
    for level, acc in zip(table["level"], table["accuracy"], strict=True):
        assert acc == hierarchical_accuracy_score(y_true, y_pred, level=level)


@pytest.mark.parametrize(
    ("level", "match"),
    [
        (
            5,
            r"level=5 is longer than the codes: '\d{4}' .* 4 characters; expected a "
            r"level from 1 to 4",
        ),
        (0, r"level must be a positive integer; received 0"),
        ("2", r"level must be a positive integer; received '2'"),
        (True, r"level must be a positive integer; received True"),
    ],
)
def test_hierarchical_accuracy_score_bad_level(level, match):
    """A level outside 1..code length raises with what was received and expected."""
    with pytest.raises(ValueError, match=match):
        hierarchical_accuracy_score(["1111", "2222"], ["1111", "2221"], level=level)


def test_hierarchical_accuracy_score_short_prediction_limits_level():
    """A short code in y_pred also bounds the level."""
    with pytest.raises(ValueError, match=r"'99' in y_true or y_pred has 2 characters"):
        hierarchical_accuracy_score(["1111", "2222"], ["1111", "99"], level=3)


# --- top-k -------------------------------------------------------------------------


def test_top_k_accuracy_score_hand_case():
    """Top-1 and top-2 hits are counted by hand."""
    proba = [[0.5, 0.3, 0.2], [0.1, 0.3, 0.6], [0.2, 0.7, 0.1]]
    classes = ["a", "b", "c"]
    y_true = ["a", "b", "c"]
    assert top_k_accuracy_score(y_true, proba, classes=classes, k=1) == pytest.approx(
        1 / 3
    )
    assert top_k_accuracy_score(y_true, proba, classes=classes, k=2) == pytest.approx(
        2 / 3
    )
    assert top_k_accuracy_score(y_true, proba, classes=classes, k=3) == 1.0


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("k", [1, 3, 5])
def test_top_k_accuracy_score_matches_sklearn(seed, k):
    """Equals scikit-learn's top_k_accuracy_score, with and without weights."""
    y_true, _, proba, classes = _coding_data(seed)
    weights = np.random.default_rng(seed).uniform(0.5, 2.0, len(y_true))
    assert top_k_accuracy_score(y_true, proba, classes=classes, k=k) == pytest.approx(
        skm.top_k_accuracy_score(y_true, proba, k=k, labels=classes)
    )
    assert top_k_accuracy_score(
        y_true, proba, classes=classes, k=k, sample_weight=weights
    ) == pytest.approx(
        skm.top_k_accuracy_score(
            y_true, proba, k=k, labels=classes, sample_weight=weights
        )
    )


def test_top_k_accuracy_score_any_column_order():
    """Permuting the columns together with classes gives the same score."""
    y_true, _, proba, classes = _coding_data(6)
    perm = np.random.default_rng(1).permutation(len(classes))
    assert top_k_accuracy_score(
        y_true, proba[:, perm], classes=classes[perm], k=3
    ) == top_k_accuracy_score(y_true, proba, classes=classes, k=3)


def test_top_k_accuracy_score_unseen_label_is_a_miss():
    """A true label without a column never counts as a hit."""
    proba = [[0.6, 0.4], [0.6, 0.4]]
    assert top_k_accuracy_score(["a", "z"], proba, classes=["a", "b"], k=2) == 0.5


def test_top_k_accuracy_score_ties_rank_above_true_class():
    """A uniform model gets no credit for k below the number of classes."""
    proba = np.full((4, 4), 0.25)
    classes = ["a", "b", "c", "d"]
    assert top_k_accuracy_score(classes, proba, classes=classes, k=3) == 0.0
    assert top_k_accuracy_score(classes, proba, classes=classes, k=4) == 1.0


def test_top_k_accuracy_score_weights_none_equals_ones():
    """sample_weight=None equals all-ones weights."""
    y_true, _, proba, classes = _coding_data(7)
    assert top_k_accuracy_score(
        y_true, proba, classes=classes, k=2
    ) == top_k_accuracy_score(
        y_true, proba, classes=classes, k=2, sample_weight=np.ones(len(y_true))
    )


# --- per class, confusions, subgroups ---------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_per_class_report_matches_sklearn(seed):
    """Precision, recall, F1 and support equal scikit-learn's (zero_division=0)."""
    y_true, y_pred, _, _ = _coding_data(seed, n=120, n_classes=20)
    table = per_class_report(y_true, y_pred)
    labels = np.array(sorted(set(y_true) | set(y_pred)))
    p, r, f, s = skm.precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    assert table.index.tolist() == labels.tolist()
    np.testing.assert_allclose(table["precision"], p)
    np.testing.assert_allclose(table["recall"], r)
    np.testing.assert_allclose(table["f1"], f)
    np.testing.assert_array_equal(table["support"], s)


def test_most_confused_pairs_hand_case():
    """Pairs are counted, ordered by count then label, and truncated to n."""
    y_true = ["a", "a", "a", "b", "b", "c", "c"]
    y_pred = ["b", "b", "a", "a", "b", "a", "b"]
    table = most_confused_pairs(y_true, y_pred, n=3)
    assert table[["true", "predicted"]].values.tolist() == [
        ["a", "b"],
        ["b", "a"],
        ["c", "a"],
    ]
    assert table["n_records"].tolist() == [2, 1, 1]
    assert table["share_of_true"].tolist() == pytest.approx([2 / 3, 1 / 2, 1 / 2])


def test_most_confused_pairs_perfect_is_empty():
    """Perfect predictions leave no pairs."""
    assert most_confused_pairs(["a", "b"], ["a", "b"]).empty


def test_most_confused_pairs_matches_confusion_matrix():
    """Counts equal the off-diagonal cells of scikit-learn's confusion matrix."""
    y_true, y_pred, _, _ = _coding_data(1, n=300, n_classes=8)
    labels = sorted(set(y_true) | set(y_pred))
    cm = skm.confusion_matrix(y_true, y_pred, labels=labels)
    table = most_confused_pairs(y_true, y_pred, n=1000)
    assert table["n_records"].sum() == (y_true != y_pred).sum()
    for row in table.itertuples():
        assert cm[labels.index(row.true), labels.index(row.predicted)] == row.n_records


def test_subgroup_report_hand_case():
    """Accuracy per group and the gap between best and worst."""
    report = subgroup_report(
        ["a", "b", "a", "b", "a"],
        ["a", "b", "b", "b", "b"],
        ["pl", "pl", "en", "en", "fr"],
    )
    assert report["by_group"]["accuracy"].to_dict() == {"en": 0.5, "fr": 0.0, "pl": 1.0}
    assert report["by_group"]["n"].to_dict() == {"en": 2, "fr": 1, "pl": 2}
    assert report["largest_gap"] == 1.0
    assert (report["best_group"], report["worst_group"]) == ("pl", "fr")


def test_subgroup_report_min_records_and_frame_groups():
    """Small groups stay listed but leave the gap; a DataFrame groups by combinations."""
    groups = pd.DataFrame({"region": ["N", "N", "S", "S", "S"], "sex": list("FMFFM")})
    report = subgroup_report(
        ["a", "b", "a", "b", "a"], ["a", "b", "b", "b", "b"], groups, min_records=2
    )
    assert len(report["by_group"]) == 4
    assert report["by_group"].loc[("S", "F"), "accuracy"] == 0.5
    assert report["largest_gap"] == 0.0
    assert report["best_group"] == ("S", "F")


def test_subgroup_report_bad_groups():
    """Missing group values and a wrong length are refused."""
    with pytest.raises(ValueError, match=r"groups has 1 records with a missing group"):
        subgroup_report(["a", "b"], ["a", "b"], ["x", None])
    with pytest.raises(ValueError, match=r"y_true has 2 records but groups has 3"):
        subgroup_report(["a", "b"], ["a", "b"], ["x", "y", "z"])
    with pytest.raises(ValueError, match=r"no group has min_records=5 records"):
        subgroup_report(["a", "b"], ["a", "b"], ["x", "y"], min_records=5)


# --- coding report ---------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_coding_report_matches_sklearn(seed):
    """Overlapping figures equal scikit-learn's and the kit's own functions."""
    y_true, y_pred, proba, classes = _coding_data(seed)
    report = coding_report(y_true, y_pred, proba=proba, classes=classes)
    assert report["n"] == len(y_true)
    assert report["n_classes"] == len(set(y_true))
    assert report["accuracy"] == pytest.approx(skm.accuracy_score(y_true, y_pred))
    assert report["f1_macro"] == pytest.approx(
        skm.f1_score(y_true, y_pred, average="macro")
    )
    assert report["f1_weighted"] == pytest.approx(
        skm.f1_score(y_true, y_pred, average="weighted")
    )
    for k in (3, 5):
        assert report[f"top_{k}_accuracy"] == pytest.approx(
            skm.top_k_accuracy_score(y_true, proba, k=k, labels=classes)
        )
    assert report["log_loss"] == pytest.approx(
        skm.log_loss(y_true, proba, labels=classes)
    )
    conf = proba.max(axis=1)
    assert report["expected_calibration_error"] == pytest.approx(
        expected_calibration_error(y_true, y_pred, conf)
    )
    table = automation_rate_report(y_true, y_pred, conf)
    for row in table.itertuples():
        pct = round(row.target_accuracy * 100)
        assert report[f"automation_rate_{pct}"] == row.automation_rate
        expected = None if np.isnan(row.threshold) else row.threshold
        assert report[f"threshold_{pct}"] == expected
    for level in (1, 2, 3, 4):
        assert report[f"accuracy_level_{level}"] == hierarchical_accuracy_score(
            y_true, y_pred, level=level
        )


def test_coding_report_is_json_ready():
    """Every value is a plain Python value that json can write."""
    y_true, y_pred, proba, classes = _coding_data(0)
    report = coding_report(y_true, y_pred, proba=proba, classes=classes)
    assert json.loads(json.dumps(report)) == report


def test_coding_report_perfect_predictions():
    """Perfect, confident predictions reach the best value of every figure."""
    classes = np.array(["11", "12", "21"])
    y = np.array(["11", "12", "21", "21"])
    proba = (y[:, None] == classes[None, :]).astype(float)
    report = coding_report(y, y, proba=proba, classes=classes)
    for key in ("accuracy", "f1_macro", "f1_weighted", "top_3_accuracy"):
        assert report[key] == 1.0
    assert report["accuracy_level_1"] == report["accuracy_level_2"] == 1.0
    assert report["automation_rate_98"] == 1.0
    assert report["log_loss"] == pytest.approx(0.0, abs=1e-12)
    assert report["expected_calibration_error"] == 0.0
    assert report["n_unseen_classes"] == 0


def test_coding_report_unseen_classes():
    """Test classes missing from train_classes are listed with their records."""
    report = coding_report(
        ["1111", "2222", "3333", "3333"],
        ["1111", "2222", "2222", "2222"],
        train_classes=["1111", "2222"],
    )
    assert report["unseen_classes"] == ["3333"]
    assert report["n_unseen_classes"] == 1
    assert report["n_unseen_records"] == 2


def test_coding_report_unseen_classes_from_classes_and_unknown():
    """classes stands in for train_classes; with neither the figures are None."""
    proba = [[0.9, 0.1], [0.2, 0.8], [0.5, 0.5]]
    report = coding_report(
        ["a", "b", "c"], ["a", "b", "a"], proba=proba, classes=["a", "b"], levels=None
    )
    assert report["unseen_classes"] == ["c"]
    assert report["top_3_accuracy"] == pytest.approx(2 / 3)
    assert report["log_loss"] > 10  # the unseen class had probability 0
    bare = coding_report(["a"], ["a"], levels=None)
    assert bare["unseen_classes"] is None and bare["n_unseen_classes"] is None


def test_coding_report_levels():
    """levels=None leaves out the hierarchy; levels longer than the codes are skipped."""
    names = ["Bread", "Rice", "Bread"]
    assert not any(
        k.startswith("accuracy_level_")
        for k in coding_report(names, ["Bread", "Bread", "Bread"], levels=None)
    )
    report = coding_report(["11", "12"], ["11", "11"])
    assert [k for k in report if k.startswith("accuracy_level_")] == [
        "accuracy_level_1",
        "accuracy_level_2",
    ]
    assert "top_3_accuracy" not in report


def test_coding_report_order_invariant():
    """Shuffling records together with their probabilities changes no figure."""
    y_true, y_pred, proba, classes = _coding_data(2)
    perm = np.random.default_rng(4).permutation(len(y_true))
    a = coding_report(y_true, y_pred, proba=proba, classes=classes)
    b = coding_report(y_true[perm], y_pred[perm], proba=proba[perm], classes=classes)
    assert a.keys() == b.keys()
    for key, value in a.items():
        if isinstance(value, float):
            assert b[key] == pytest.approx(value), key
        else:
            assert b[key] == value, key


# --- bad input -------------------------------------------------------------------------

BAD_INPUTS = [
    (
        lambda: metrics.coding_report(["a", "b"], ["a"]),
        r"y_true has 2 records but y_pred has 1; expected the same number",
    ),
    (
        lambda: metrics.hierarchical_accuracy_score([], [], level=1),
        r"y_true is empty \(0 records\); expected at least one record",
    ),
    (
        lambda: metrics.coding_report(["a", np.nan, "b"], ["a", "b", "b"]),
        r"y_true contains 1 missing labels \(NaN/None\), first at position 1; expected",
    ),
    (
        lambda: metrics.per_class_report(["a", "b"], ["a", None]),
        r"y_pred contains 1 missing labels \(NaN/None\), first at position 1",
    ),
    (
        lambda: metrics.coding_report([["a"]], [["a"]]),
        r"y_true must be 1-dimensional .* received an array of shape \(1, 1\)",
    ),
    (
        lambda: metrics.coding_report(
            ["a", "b"], ["a", "b"], proba=[[0.5, 0.3, 0.2]] * 2, classes=["a", "b"]
        ),
        r"proba has 3 columns but classes has 2 labels; expected one column per class",
    ),
    (
        lambda: metrics.top_k_accuracy_score(
            ["a", "b"], [[0.5, 0.5]] * 3, classes=["a", "b"]
        ),
        r"proba has 3 rows but y_true has 2 records; expected one row per record",
    ),
    (
        lambda: metrics.top_k_accuracy_score(["a"], [[1.2, -0.2]], classes=["a", "b"]),
        r"proba must hold probabilities in \[0, 1\]; received values from -0.2 to 1.2",
    ),
    (
        lambda: metrics.top_k_accuracy_score(["a"], [0.5, 0.5], classes=["a", "b"]),
        r"proba must be 2-dimensional \(n_samples, n_classes\); received shape \(2,\)",
    ),
    (
        lambda: metrics.coding_report(["a"], ["a"], proba=[[1.0]]),
        r"classes is required with proba; received classes=None",
    ),
    (
        lambda: metrics.top_k_accuracy_score(["a"], [[0.5, 0.5]], classes=["a", "a"]),
        r"classes contains duplicates: \['a'\]",
    ),
    (
        lambda: metrics.top_k_accuracy_score(["a"], [[1.0]], classes=["a"], k=0),
        r"k must be a positive integer; received 0",
    ),
    (
        lambda: metrics.hierarchical_accuracy_score(["111"], ["111"], level=4),
        r"level=4 is longer than the codes: '111' in y_true or y_pred has 3 "
        r"characters; expected a level from 1 to 3",
    ),
    (
        lambda: metrics.hierarchical_accuracy_score(
            ["1", "2"], ["1", "2"], level=1, sample_weight=[1, -1]
        ),
        r"sample_weight must be finite and >= 0; received 1 values that are negative",
    ),
    (
        lambda: metrics.most_confused_pairs(["a"], ["a"], n=0),
        r"n must be a positive integer; received 0",
    ),
]


@pytest.mark.parametrize(("call", "match"), BAD_INPUTS)
def test_bad_input_raises_value_error_with_message(call, match):
    """Each bad input raises ValueError saying what was received and expected."""
    with pytest.raises(ValueError, match=match):
        call()


def test_public_names_are_exported():
    """Everything in __all__ exists, including the estimation and scorecard helpers."""
    for name in metrics.__all__:
        assert callable(getattr(metrics, name)), name
    assert {"imputation_report", "domain_estimates", "scorecard"} <= set(
        metrics.__all__
    )
