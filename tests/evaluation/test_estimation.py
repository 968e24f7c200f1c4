"""Tests for squad.evaluation.estimation: imputation quality and domain estimates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from squad.evaluation.estimation import (
    domain_estimates,
    estimate_error_report,
    imputation_report,
)

SEEDS = [0, 1, 2]


def _imputed(seed: int, n: int = 300):
    """Seeded true values, an imputed version with noise on a mask, and weights."""
    rng = np.random.default_rng(seed)
    y_true = rng.lognormal(3.0, 0.5, n)
    mask = rng.random(n) < 0.3
    y_imputed = y_true.copy()
    y_imputed[mask] = y_true[mask] * rng.normal(1.05, 0.1, mask.sum())
    weights = rng.uniform(50, 150, n)
    return y_true, y_imputed, mask, weights


# --- imputation_report, numeric --------------------------------------------------------


def test_imputation_report_numeric_hand_case():
    """Unit errors on the imputed records and estimate errors on all records."""
    report = imputation_report(
        [10.0, 20.0, 30.0, 40.0],
        [10.0, 26.0, 30.0, 36.0],
        mask=[False, True, False, True],
        weights=[1.0, 1.0, 1.0, 2.0],
    )
    assert report["kind"] == "numeric"
    assert (report["n"], report["n_imputed"]) == (4, 2)
    # imputed records: errors +6 (w=1) and -4 (w=2)
    assert report["bias"] == pytest.approx((6 - 8) / 3)
    assert report["mae"] == pytest.approx((6 + 8) / 3)
    assert report["rmse"] == pytest.approx(np.sqrt((36 + 2 * 16) / 3))
    assert report["weighted_total_true"] == 140.0
    assert report["weighted_total_imputed"] == 138.0
    assert report["relative_error_weighted_total"] == pytest.approx(-2 / 140)
    assert report["weighted_mean_true"] == pytest.approx(28.0)
    assert report["relative_error_weighted_mean"] == pytest.approx(-2 / 140)
    # dropping the missing records: total 40 against 140, mean 20 against 28
    assert report["relative_error_weighted_total_complete_case"] == pytest.approx(
        -100 / 140
    )
    assert report["relative_error_weighted_mean_complete_case"] == pytest.approx(
        (20 - 28) / 28
    )
    # imputed {26, 36} against true {20, 40}, weights 1 and 2: at 36 the CDFs are 1, 1/3
    assert report["ks_distance"] == pytest.approx(2 / 3)


@pytest.mark.parametrize("seed", SEEDS)
def test_imputation_report_ks_matches_scipy(seed):
    """Unweighted KS distance equals scipy's two-sample statistic."""
    y_true, y_imputed, mask, _ = _imputed(seed)
    report = imputation_report(y_true, y_imputed, mask=mask)
    expected = stats.ks_2samp(y_imputed[mask], y_true[mask]).statistic
    assert report["ks_distance"] == pytest.approx(expected)
    diff = y_imputed[mask] - y_true[mask]
    assert report["rmse"] == pytest.approx(np.sqrt(np.mean(diff**2)))
    assert report["bias"] == pytest.approx(diff.mean())


def test_imputation_report_weighted_ks_equals_repeated_records():
    """Integer weights give the KS distance of records repeated that many times."""
    rng = np.random.default_rng(5)
    y_true = rng.normal(size=40)
    y_imputed = y_true + rng.normal(0.3, 0.5, 40)
    w = rng.integers(1, 4, 40)
    report = imputation_report(y_true, y_imputed, weights=w)
    expected = stats.ks_2samp(np.repeat(y_imputed, w), np.repeat(y_true, w)).statistic
    assert report["ks_distance"] == pytest.approx(expected)


def test_imputation_report_perfect_imputation():
    """Imputing the true values gives zero error everywhere."""
    y_true, _, mask, weights = _imputed(3)
    report = imputation_report(y_true, y_true, mask=mask, weights=weights)
    for key in (
        "rmse",
        "mae",
        "bias",
        "ks_distance",
        "relative_error_weighted_mean",
        "relative_error_weighted_total",
    ):
        assert report[key] == 0.0, key


def test_imputation_report_properties():
    """weights=None equals all ones; record order does not matter."""
    y_true, y_imputed, mask, weights = _imputed(4)
    base = imputation_report(y_true, y_imputed, mask=mask)
    ones = imputation_report(y_true, y_imputed, mask=mask, weights=np.ones(len(y_true)))
    assert base == pytest.approx(ones)
    perm = np.random.default_rng(0).permutation(len(y_true))
    weighted = imputation_report(y_true, y_imputed, mask=mask, weights=weights)
    shuffled = imputation_report(
        y_true[perm], y_imputed[perm], mask=mask[perm], weights=weights[perm]
    )
    assert shuffled == pytest.approx(weighted)


def test_imputation_report_mask_none_and_integer_mask():
    """No mask means every record is imputed; a 0/1 mask works like a boolean one."""
    report = imputation_report([1.0, 2.0], [2.0, 2.0])
    assert report["n_imputed"] == 2
    assert report["relative_error_weighted_total_complete_case"] is None
    assert imputation_report([1.0, 2.0], [2.0, 2.0], mask=[1, 0]) == imputation_report(
        [1.0, 2.0], [2.0, 2.0], mask=[True, False]
    )


def test_imputation_report_nullable_pandas_columns():
    """Nullable pandas columns are read as numbers."""
    y_true = pd.Series([1.0, 2.0, 3.0], dtype="Float64")
    y_imputed = pd.Series([1, 2, 4], dtype="Int64")
    assert imputation_report(y_true, y_imputed)["bias"] == pytest.approx(1 / 3)


# --- imputation_report, categorical ----------------------------------------------------


def test_imputation_report_categorical_hand_case():
    """Accuracy of imputed records and total-variation distance of shares."""
    report = imputation_report(
        ["a", "a", "b", "b", "c"],
        ["a", "b", "b", "b", "a"],
        mask=[False, True, True, False, True],
    )
    assert report["kind"] == "categorical"
    assert report["accuracy"] == pytest.approx(1 / 3)
    # imputed records: true a, b, c; imputed b, b, a -> shares differ by 1/3 in total
    assert report["total_variation_distance"] == pytest.approx(1 / 3)
    # all records: true a2 b2 c1; imputed a2 b3 c0
    assert report["total_variation_distance_all"] == pytest.approx(0.2)


def test_imputation_report_categorical_weights_and_perfect():
    """Weights shift the shares; a perfect imputation scores best."""
    report = imputation_report(["a", "b"], ["a", "a"], weights=[3.0, 1.0])
    assert report["accuracy"] == pytest.approx(0.75)
    assert report["total_variation_distance"] == pytest.approx(0.25)
    perfect = imputation_report(["x", "y", "x"], ["x", "y", "x"])
    assert perfect["accuracy"] == 1.0 and perfect["total_variation_distance"] == 0.0


def test_imputation_report_kind_override():
    """Integer codes can be treated as categories."""
    report = imputation_report([1, 2, 3], [1, 2, 2], kind="categorical")
    assert report["kind"] == "categorical"
    assert report["accuracy"] == pytest.approx(2 / 3)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"y_true": [1.0, np.nan], "y_imputed": [1.0, 2.0]},
            r"y_true contains 1 missing values \(NaN\), first at position 1; expected "
            r"the true value",
        ),
        (
            {"y_true": [1.0, 2.0], "y_imputed": [np.nan, 2.0]},
            r"y_imputed contains 1 missing values \(NaN\), first at position 0",
        ),
        (
            {"y_true": [1.0, 2.0], "y_imputed": [1.0]},
            r"y_true has 2 records but y_imputed has 1",
        ),
        ({"y_true": [], "y_imputed": []}, r"y_true is empty \(0 records\)"),
        (
            {"y_true": [1.0, 2.0], "y_imputed": [1.0, 2.0], "mask": [False, False]},
            r"mask selects no records \(all False\)",
        ),
        (
            {"y_true": [1.0, 2.0], "y_imputed": [1.0, 2.0], "mask": ["yes", "no"]},
            r"mask must be boolean .*; received dtype",
        ),
        (
            {"y_true": [1.0, 2.0], "y_imputed": [1.0, 2.0], "kind": "ordinal"},
            r"kind must be one of \('numeric', 'categorical'\) or None; received "
            r"'ordinal'",
        ),
        (
            {"y_true": ["a"], "y_imputed": ["b"], "kind": "numeric"},
            r"kind='numeric' needs numbers; received dtypes",
        ),
        (
            {"y_true": [1.0, 2.0], "y_imputed": [1.0, 2.0], "weights": [1.0, -2.0]},
            r"weights must be finite and >= 0; received 1 values",
        ),
        (
            {"y_true": ["a", None], "y_imputed": ["a", "b"]},
            r"y_true contains 1 missing labels \(NaN/None\), first at position 1",
        ),
    ],
)
def test_imputation_report_bad_input(kwargs, match):
    """Bad input raises ValueError naming what was received and expected."""
    y_true = kwargs.pop("y_true")
    y_imputed = kwargs.pop("y_imputed")
    with pytest.raises(ValueError, match=match):
        imputation_report(y_true, y_imputed, **kwargs)


# --- domain_estimates ---------------------------------------------------------------------


@pytest.fixture
def people() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "region": ["N", "N", "S", "S", "S"],
            "sex": ["F", "M", "F", "F", "M"],
            "pay": [10.0, 20.0, 30.0, 50.0, 40.0],
            "employed": [True, False, True, True, False],
            "w": [1.0, 3.0, 2.0, 2.0, 1.0],
        }
    )


def test_domain_estimates_hand_case(people):
    """Totals, means and counts by two domain columns."""
    table = domain_estimates(people, "pay", weight="w", by=["region", "sex"])
    assert table.index.names == ["region", "sex"]
    assert table.loc[("S", "F")].tolist() == [2, 4.0, 160.0, 40.0]
    assert table.loc[("N", "M"), "total"] == 60.0
    assert table["n"].sum() == len(people)
    assert table["total"].sum() == pytest.approx((people["pay"] * people["w"]).sum())


def test_domain_estimates_boolean_unweighted_and_overall(people):
    """A boolean column estimates a count; weight=None counts records; by=None is one row."""
    counts = domain_estimates(people, "employed", weight="w", by="region")
    assert counts["total"].to_dict() == {"N": 1.0, "S": 4.0}
    plain = domain_estimates(people, "pay", weight=None, by="region")
    assert plain["total"].to_dict() == {"N": 30.0, "S": 120.0}
    assert plain["sum_weight"].to_dict() == {"N": 2.0, "S": 3.0}
    overall = domain_estimates(people, "pay", weight="w", by=None)
    assert overall.index.tolist() == ["all"]
    assert overall["total"].iloc[0] == pytest.approx(270.0)


def test_domain_estimates_order_invariant(people):
    """Shuffling the rows gives the same table."""
    shuffled = people.sample(frac=1.0, random_state=1)
    pd.testing.assert_frame_equal(
        domain_estimates(people, "pay", weight="w", by="region"),
        domain_estimates(shuffled, "pay", weight="w", by="region"),
    )


def test_domain_estimates_unknown_column(people):
    """An unknown column name raises KeyError listing the columns."""
    with pytest.raises(
        KeyError, match=r"by column 'age' is not in df. Available: region"
    ):
        domain_estimates(people, "pay", weight="w", by="age")


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (
            lambda df: df.assign(pay=[10.0, np.nan, 1.0, 1.0, 1.0]),
            r"value column 'pay' has 1 missing values; expected complete data",
        ),
        (
            lambda df: df.assign(region=["N", None, "S", "S", "S"]),
            r"by columns \['region'\] have 1 records with a missing domain",
        ),
        (
            lambda df: df.assign(pay=list("abcde")),
            r"value column 'pay' must be numeric or boolean; received dtype",
        ),
        (
            lambda df: df.assign(w=[1.0, -1.0, 1.0, 1.0, 1.0]),
            r"weight must be finite and >= 0; received 1 values",
        ),
        (lambda df: df.iloc[:0], r"df is empty \(0 records\)"),
    ],
)
def test_domain_estimates_bad_input(people, change, match):
    """Missing values, text values, negative weights and empty frames are refused."""
    with pytest.raises(ValueError, match=match):
        domain_estimates(change(people), "pay", weight="w", by="region")


# --- estimate_error_report ----------------------------------------------------------------


def test_estimate_error_report_hand_case():
    """Relative bias per domain, mean absolute relative error and the worst domain."""
    true = pd.Series({"N": 100.0, "S": 50.0, "E": 200.0})
    est = pd.Series({"S": 55.0, "N": 90.0, "E": 200.0})
    report = estimate_error_report(true, est)
    assert report["by_domain"]["relative_bias"].to_dict() == pytest.approx(
        {"N": -0.1, "S": 0.1, "E": 0.0}
    )
    assert report["mean_absolute_relative_error"] == pytest.approx(0.2 / 3)
    assert report["max_absolute_relative_error"] == pytest.approx(0.1)
    assert report["worst_domain"] == "N"
    assert report["n_domains"] == 3


def test_estimate_error_report_from_domain_estimates(people):
    """Works on domain_estimates output; a perfect estimate has zero error."""
    true = domain_estimates(people, "pay", weight="w", by=["region", "sex"])
    report = estimate_error_report(true, true.copy(), column="mean")
    assert report["mean_absolute_relative_error"] == 0.0
    imputed = people.assign(pay=people["pay"] * 1.1)
    est = domain_estimates(imputed, "pay", weight="w", by=["region", "sex"])
    report = estimate_error_report(true, est)
    assert report["mean_absolute_relative_error"] == pytest.approx(0.1)
    assert report["worst_domain"] in set(true.index)


def test_estimate_error_report_zero_true_value_is_undefined():
    """A zero true figure gives NaN relative bias and is counted apart."""
    report = estimate_error_report(
        pd.Series({"a": 0.0, "b": 10.0}), pd.Series({"a": 1.0, "b": 12.0})
    )
    assert np.isnan(report["by_domain"].loc["a", "relative_bias"])
    assert report["n_undefined"] == 1
    assert report["mean_absolute_relative_error"] == pytest.approx(0.2)


def test_estimate_error_report_bad_input():
    """Different domains, missing figures and wrong types are refused."""
    with pytest.raises(
        ValueError,
        match=r"true and estimated cover different domains: "
        r"missing from estimated \['b'\], not in true \['c'\]",
    ):
        estimate_error_report(
            pd.Series({"a": 1.0, "b": 2.0}), pd.Series({"a": 1.0, "c": 2.0})
        )
    with pytest.raises(ValueError, match=r"estimated has 1 missing figures"):
        estimate_error_report(pd.Series({"a": 1.0}), pd.Series({"a": np.nan}))
    with pytest.raises(ValueError, match=r"true must be a pandas Series or DataFrame"):
        estimate_error_report([1.0], pd.Series({"a": 1.0}))
    with pytest.raises(KeyError, match=r"column 'total' is not in df"):
        estimate_error_report(pd.DataFrame({"mean": [1.0]}), pd.Series([1.0]))
