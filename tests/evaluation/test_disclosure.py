"""Tests for squad.evaluation.disclosure: distance to the closest record, quasi-identifiers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import cdist

from squad.errors import InvalidInputError
from squad.evaluation.disclosure import (
    distance_to_closest_record,
    quasi_identifier_report,
)

SEEDS = [0, 1, 2]


def _people(seed: int, n: int) -> pd.DataFrame:
    """Seeded mixed microdata: two categorical and two numeric columns."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "region": rng.choice(["north", "south", "east"], n),
            "sex": rng.choice(["female", "male"], n),
            "age": rng.integers(16, 80, n),
            "pay": rng.lognormal(3, 0.4, n).round(2),
        }
    )


def _gower_by_hand(released: pd.DataFrame, real: pd.DataFrame) -> np.ndarray:
    """Gower's distance computed pair by pair, the definition the module states."""
    parts = []
    for column in real.columns:
        if pd.api.types.is_numeric_dtype(real[column]):
            span = real[column].max() - real[column].min()
            parts.append(
                np.abs(released[column].to_numpy()[:, None] - real[column].to_numpy())
                / span
            )
        else:
            parts.append(
                (
                    released[column].to_numpy()[:, None] != real[column].to_numpy()
                ).astype(float)
            )
    return (sum(parts) / len(parts)).min(axis=1)


def test_distance_to_closest_record_hand_case():
    """One exact copy (0), one record one category and 10 of 40 years away."""
    real = pd.DataFrame({"sex": ["f", "m"], "age": [20, 60]})
    released = pd.DataFrame({"sex": ["f", "m"], "age": [20, 30]})
    # to (m, 60): 0 + 30/40; to (f, 20): 1 + 10/40 -> closest 0.75 / 2
    expected = [0.0, 0.375]
    assert distance_to_closest_record(released, real).tolist() == pytest.approx(
        expected
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_distance_to_closest_record_equals_gower_by_hand(seed):
    """The k-d tree search gives the same minimum as comparing every pair."""
    real, released = _people(seed, 300), _people(seed + 10, 80)
    got = distance_to_closest_record(released, real)
    assert got.shape == (80,)
    assert got == pytest.approx(_gower_by_hand(released, real))


def test_distance_to_closest_record_properties():
    """A copy of the real file is at distance 0; row order of real does not matter."""
    real = _people(3, 200)
    assert (distance_to_closest_record(real, real) == 0).all()
    released = _people(4, 50)
    shuffled = real.sample(frac=1, random_state=0)
    assert distance_to_closest_record(released, shuffled) == pytest.approx(
        distance_to_closest_record(released, real)
    )
    distances = distance_to_closest_record(released, real, columns=["region", "sex"])
    assert set(np.round(distances, 12)) <= {0.0, 0.5, 1.0}


def test_distance_to_closest_record_unseen_category_counts_as_different():
    """A category absent from the real file is simply a mismatch."""
    real = pd.DataFrame({"region": ["north"], "age": [30]})
    released = pd.DataFrame({"region": ["west"], "age": [30]})
    assert distance_to_closest_record(released, real).tolist() == [0.5]


def test_distance_to_closest_record_agrees_with_scipy_on_numbers():
    """On numeric columns alone it is the scaled cityblock distance of scipy."""
    real, released = _people(5, 100)[["age", "pay"]], _people(6, 30)[["age", "pay"]]
    span = (real.max() - real.min()).to_numpy()
    expected = cdist(released / span, real / span, "cityblock").min(axis=1) / 2
    assert distance_to_closest_record(released, real) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("released", "real", "columns", "match"),
    [
        (
            [1, 2],
            pd.DataFrame({"a": [1]}),
            None,
            "synthetic should be a pandas DataFrame",
        ),
        (
            pd.DataFrame({"a": []}),
            pd.DataFrame({"a": [1]}),
            None,
            "synthetic has no rows",
        ),
        (
            pd.DataFrame({"a": [1]}),
            pd.DataFrame({"a": [1]}),
            ["b"],
            "Column 'b' \\(compared\\) is not in synthetic. Available: a",
        ),
        (pd.DataFrame({"a": [1]}), pd.DataFrame({"a": [1]}), [], "No compared given"),
        (
            pd.DataFrame({"a": [np.nan]}),
            pd.DataFrame({"a": [1.0]}),
            None,
            "Column 'a' of synthetic has 1 missing values",
        ),
    ],
)
def test_distance_to_closest_record_rejects_bad_input(released, real, columns, match):
    """Bad input is an InvalidInputError that names the problem."""
    with pytest.raises(InvalidInputError, match=match):
        distance_to_closest_record(released, real, columns=columns)


def test_quasi_identifier_report_hand_case():
    """Matches, unique matches and the share of unique real persons, counted by hand."""
    real = pd.DataFrame(
        {"sex": ["f", "f", "m", "m"], "age": [20, 20, 60, 30], "pay": [1, 2, 3, 4]}
    )
    released = pd.DataFrame({"sex": ["f", "m", "m", "f"], "age": [20, 60, 40, 20]})
    report = quasi_identifier_report(released, real, ["sex", "age"])
    assert report == {
        "n_synthetic": 4,
        "real_unique_share": 0.5,  # (m, 60) and (m, 30)
        "match_share": 0.75,  # all but (m, 40)
        "unique_match_share": 0.25,  # only (m, 60)
    }


def test_quasi_identifier_report_of_the_real_file():
    """The real file against itself: every record matches; unique matches = unique share."""
    real = _people(7, 400)
    report = quasi_identifier_report(real, real, ["region", "sex", "age"])
    assert report["match_share"] == 1.0
    assert report["unique_match_share"] == pytest.approx(report["real_unique_share"])
    shuffled = quasi_identifier_report(
        real.sample(frac=1, random_state=1), real, ["region", "sex", "age"]
    )
    assert shuffled == pytest.approx(report)


def test_quasi_identifier_report_rejects_unknown_column():
    """A quasi-identifier missing from a frame is named, with the columns there are."""
    real = pd.DataFrame({"sex": ["f"]})
    with pytest.raises(InvalidInputError, match="Column 'age' \\(quasi-identifier\\)"):
        quasi_identifier_report(real, real, ["sex", "age"])
