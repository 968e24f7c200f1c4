"""Tests for squad.tasks.imputation."""

from __future__ import annotations

import numpy as np
import pytest

import squad
from squad.tasks.imputation import IMPUTERS, evaluate_imputation, impute


@pytest.fixture(scope="module")
def sample():
    """3,000 persons of lfs_synthetic_missing (whole households)."""
    frame = squad.load_dataset("lfs_synthetic_missing")
    return frame.loc[
        frame["household_id"] <= frame["household_id"].quantile(0.15)
    ].reset_index(drop=True)


@pytest.mark.parametrize("method", IMPUTERS)
def test_impute_fills_every_hole_and_keeps_observed_values(sample, method):
    """Only the holes change; the employed get hours and pay, everyone an education."""
    filled = impute(sample, method, seed=1)
    employed = sample["status"] == "employed"
    for column in ("hours_worked", "hourly_pay"):
        assert filled.loc[employed, column].notna().all()
        seen = ~sample[f"{column}_missing"]
        np.testing.assert_array_equal(
            filled.loc[seen, column].to_numpy(), sample.loc[seen, column].to_numpy()
        )
    assert filled.loc[~employed, "hourly_pay"].isna().all()
    assert (
        filled["education"]
        .isin(["none", "secondary", "post_secondary", "tertiary"])
        .all()
    )


def test_model_based_methods_beat_the_mean_on_pay(sample):
    """Using the auxiliaries (occupation, age, education) beats the overall mean."""
    mean = evaluate_imputation(sample, impute(sample, "mean_mode"))
    model = evaluate_imputation(sample, impute(sample, "hist_gb"))
    assert model["hourly_pay"]["rmse"] < mean["hourly_pay"]["rmse"]
    assert model["hourly_pay"]["ks_distance"] < mean["hourly_pay"]["ks_distance"]


def test_perfect_imputation_scores_zero_error(sample):
    """Filling the holes with the truth gives zero error everywhere."""
    truth = sample.copy()
    for column in ("hours_worked", "hourly_pay", "education"):
        truth[column] = sample[f"{column}_true"]
    report = evaluate_imputation(sample, truth)
    assert report["hourly_pay"]["rmse"] == 0
    assert report["education"]["accuracy"] == pytest.approx(1)
    assert report["domain_mean_pay"]["mean_absolute_relative_error"] == pytest.approx(
        0, abs=1e-12
    )


def test_impute_unknown_method():
    """An unknown method names the valid ones."""
    with pytest.raises(
        ValueError,
        match="Unknown imputation method 'mice'. Use one of: mean_mode, hot_deck",
    ):
        impute(squad.load_dataset("lfs_synthetic_missing").head(10), "mice")
