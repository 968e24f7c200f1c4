"""Deterministic train/test splits that come out identical on every machine.

The kit never uses a random-number stream for a published split: the assignment of a record (or
of a group of records) to a side is decided by a keyed hash of its identifier. A hash does not
change with the numpy, pandas or scikit-learn version, the platform, or the order of the rows,
so every squad member gets the same test set.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

__all__ = [
    "hash_uniform",
    "grouped_split",
    "stratified_split",
    "seeded_permutation_split",
]


def hash_uniform(keys: pd.Series | list, *, seed: int) -> np.ndarray:
    """Map each key to a number in [0, 1) with a seeded BLAKE2b hash.

    Parameters
    ----------
    keys : Series or list
        Identifiers; converted with ``str``.
    seed : int
        Distinct seeds give independent draws.

    Returns
    -------
    ndarray of shape (n_keys,)
        Uniform numbers in [0, 1), the same on every machine.

    Examples
    --------
    >>> hash_uniform(["a", "b"], seed=0).round(3).tolist()
    [0.719, 0.64]
    """
    salt = f"squad-split:{seed}:".encode()
    out = np.empty(len(keys), dtype=np.float64)
    for i, key in enumerate(keys):
        digest = hashlib.blake2b(
            salt + str(key).encode("utf-8"), digest_size=8
        ).digest()
        out[i] = int.from_bytes(digest, "big") / 2.0**64
    return out


def stratified_split(
    ids: pd.Series, strata: pd.Series, *, test_size: float, seed: int
) -> pd.Series:
    """Assign ``round(test_size * n)`` records of each stratum to test, by hash order.

    A stratum with a single record goes to train, so that every class seen at test time has
    been seen in training.

    Parameters
    ----------
    ids : Series
        Unique record identifiers.
    strata : Series
        Stratum of each record (for example the unit group), aligned with ``ids``.
    test_size : float
        Share of each stratum that goes to test, in (0, 1).
    seed : int
        Hash seed.

    Returns
    -------
    Series of str
        ``"train"`` or ``"test"``, aligned with ``ids``.

    Examples
    --------
    >>> ids = pd.Series(range(6))
    >>> strata = pd.Series(["a", "a", "a", "a", "b", "c"])
    >>> stratified_split(ids, strata, test_size=0.5, seed=1).tolist()
    ['train', 'test', 'test', 'train', 'train', 'train']
    """
    frame = pd.DataFrame(
        {"key": hash_uniform(ids.tolist(), seed=seed), "stratum": strata.to_numpy()},
        index=ids.index,
    )
    rank = frame.groupby("stratum")["key"].rank(method="first") - 1
    size = frame.groupby("stratum")["key"].transform("size")
    n_test = np.where(size > 1, np.floor(size * test_size + 0.5), 0)
    return pd.Series(
        np.where(rank < n_test, "test", "train"), index=ids.index, dtype=str
    )


def grouped_split(
    groups: pd.Series,
    *,
    test_size: float,
    seed: int,
    strata: pd.Series | None = None,
) -> pd.Series:
    """Put every record of a group on one side; about ``test_size`` of records go to test.

    Groups are ordered by their hash and taken into test until the running share of records
    reaches ``test_size`` (within each stratum when ``strata`` is given; a group's stratum is
    the most common stratum among its records).

    Parameters
    ----------
    groups : Series
        Group key of each record (for example a normalised product name or a head word).
    test_size : float
        Target share of records in test, in (0, 1).
    seed : int
        Hash seed.
    strata : Series, default=None
        Optional stratum per record, aligned with ``groups``.

    Returns
    -------
    Series of str
        ``"train"`` or ``"test"``, aligned with ``groups``.

    Examples
    --------
    >>> g = pd.Series(["x", "x", "y", "z", "z", "w"])
    >>> s = grouped_split(g, test_size=0.4, seed=3)
    >>> bool((s.groupby(g).nunique() == 1).all())
    True
    """
    frame = pd.DataFrame({"group": groups.to_numpy()}, index=groups.index)
    frame["stratum"] = "all" if strata is None else strata.to_numpy()
    per_group = frame.groupby("group", sort=True).agg(
        n=("stratum", "size"), stratum=("stratum", lambda s: s.value_counts().index[0])
    )
    per_group["key"] = hash_uniform(per_group.index.tolist(), seed=seed)
    per_group = per_group.sort_values(["stratum", "key"])
    cumulative = per_group.groupby("stratum")["n"].cumsum()
    total = per_group.groupby("stratum")["n"].transform("sum")
    # A group goes to test while the test share *before* it is still under the target,
    # so the realised share overshoots by at most one group per stratum.
    before = (cumulative - per_group["n"]) / total
    in_test = (before < test_size) & (total > per_group["n"])
    side = np.where(in_test, "test", "train")
    mapping = pd.Series(side, index=per_group.index)
    return pd.Series(
        frame["group"].map(mapping).to_numpy(), index=groups.index, dtype=str
    )


def seeded_permutation_split(
    n: int, *, seed: int, n_test: int, n_validation: int = 0
) -> np.ndarray:
    """Reproduce a published "shuffle with a seed, take the first rows" protocol.

    Equivalent to ``numpy.random.seed(seed); order = numpy.random.permutation(n)``: the
    legacy ``RandomState`` stream is frozen by numpy's compatibility policy, so the split is
    the same in every numpy version.

    Parameters
    ----------
    n : int
        Number of rows, in their original order.
    seed : int
        The published seed.
    n_test, n_validation : int
        How many of the shuffled rows go to test, then to validation; the rest to train.

    Returns
    -------
    ndarray of str, shape (n,)
        The side of each row in its original order.

    Examples
    --------
    >>> seeded_permutation_split(6, seed=5, n_test=2, n_validation=1).tolist()
    ['train', 'train', 'test', 'train', 'validation', 'test']
    """
    order = np.random.RandomState(seed).permutation(n)
    side = np.full(n, "train", dtype=object)
    side[order[:n_test]] = "test"
    side[order[n_test : n_test + n_validation]] = "validation"
    return side.astype(str)
