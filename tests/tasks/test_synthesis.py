"""Tests for squad.tasks.synthesis: sequential synthesis by decision trees."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from squad.errors import InvalidInputError
from squad.tasks.synthesis import synthesize


def _people(seed: int = 0, n: int = 2000) -> pd.DataFrame:
    """Seeded microdata with strong relations: status depends on age, hours on status."""
    rng = np.random.default_rng(seed)
    age = rng.integers(16, 80, n)
    employed = rng.random(n) < np.where(age < 65, 0.8, 0.1)
    return pd.DataFrame(
        {
            "sex": rng.choice(["female", "male"], n),
            "age": age,
            "status": np.where(employed, "employed", "inactive"),
            "hours": np.where(employed, rng.normal(35, 8, n).round(1), 0.0),
        }
    )


def test_synthesize_shape_dtypes_and_values():
    """Same columns and dtypes; every value is one observed in the real file."""
    real = _people()
    fake = synthesize(real, n=500, seed=1)
    assert list(fake.columns) == list(real.columns)
    assert fake.dtypes.equals(real.dtypes)
    assert len(fake) == 500 and list(fake.index) == list(range(500))
    for column in real.columns:
        assert fake[column].isin(real[column]).all(), column


def test_synthesize_is_reproducible_and_seeded():
    """The same seed gives the same file; another seed gives another one."""
    real = _people()
    pd.testing.assert_frame_equal(synthesize(real, seed=3), synthesize(real, seed=3))
    assert not synthesize(real, seed=3).equals(synthesize(real, seed=4))


def test_synthesize_keeps_marginals_and_relations():
    """Shares stay close to the real ones, and hours still follow status."""
    real = _people(n=4000)
    fake = synthesize(real, ["sex", "age", "status", "hours"], seed=0)
    for column in ("sex", "status"):
        gap = (
            fake[column].value_counts(normalize=True)
            - real[column].value_counts(normalize=True)
        ).abs()
        assert gap.max() < 0.03, column
    # a relation the trees capture exactly: no hours without a job
    assert (fake.loc[fake["status"] == "inactive", "hours"] == 0).all()
    old = fake["age"] >= 65
    assert (fake.loc[old, "status"] == "employed").mean() < 0.3
    assert (fake.loc[~old, "status"] == "employed").mean() > 0.7


def test_synthesize_order_of_columns_is_the_order_of_modelling():
    """Only the named columns are made, in the order given."""
    fake = synthesize(_people(), ["status", "sex"], n=50)
    assert list(fake.columns) == ["status", "sex"]


@pytest.mark.parametrize(
    ("frame", "kwargs", "match"),
    [
        ([1, 2], {}, "frame should be a pandas DataFrame, got list"),
        (pd.DataFrame({"a": []}), {}, "frame has no rows"),
        (
            pd.DataFrame({"a": [1]}),
            {"columns": ["b"]},
            "Column 'b' is not in the frame",
        ),
        (
            pd.DataFrame({"a": [1.0, None]}),
            {},
            "Column 'a' of frame has 1 missing values; impute",
        ),
        (
            pd.DataFrame({"a": [1]}),
            {"n": 0},
            "n must be a positive integer; received 0",
        ),
        (
            pd.DataFrame({"a": [1]}),
            {"n": 2.5},
            "n must be a positive integer; received 2.5",
        ),
        (
            pd.DataFrame({"a": [1]}),
            {"min_samples_leaf": True},
            "min_samples_leaf must be a positive integer; received True",
        ),
    ],
)
def test_synthesize_rejects_bad_input(frame, kwargs, match):
    """Bad input is an InvalidInputError that names the problem."""
    with pytest.raises(InvalidInputError, match=match):
        synthesize(frame, **kwargs)
