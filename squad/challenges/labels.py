"""The held-back labels of a challenge: the test split, cut into public and private.

The organiser's server loads the test split of the challenge's dataset with
:func:`squad.load_dataset` (through :func:`squad.board.predictions.test_labels`, the
board's own scorer's labels) and cuts its records into a public part, scored on the
live board, and a private part, scored for the final board. The cut is a seeded
permutation of the sorted record keys, so the same challenge file gives the same cut on
every machine. :func:`private_digest` is the sha256 published when the challenge opens;
:func:`texts_csv` is what participants download: the test records without any label.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from squad.challenges.config import ChallengeConfig

__all__ = ["TEXT_COLUMNS", "HeldLabels", "held_labels", "private_digest", "texts_csv"]

#: The columns of the test split participants may see: ids and texts, never a label or
#: a column derived from one (soc2010's higher levels, SOC 2000, group titles).
TEXT_COLUMNS = {
    "soc2010": ("record_id", "title", "title_natural", "qualifier"),
    "ecoicop": ("product_id", "language", "text"),
}


@dataclass(frozen=True)
class HeldLabels:
    """The test labels of a challenge and which of them the public board scores."""

    labels: pd.Series = field(repr=False)  # key -> label, in the test split's order
    public: np.ndarray = field(repr=False)  # bool, aligned with ``labels``

    @property
    def n_public(self) -> int:
        """How many test records the public board scores."""
        return int(self.public.sum())


def split_keys(keys: pd.Index, fraction: float, seed: int) -> np.ndarray:
    """Which keys are public: a seeded draw of ``round(fraction * n)`` of them.

    Parameters
    ----------
    keys : Index
        The test records' keys (any order: the draw is made over the sorted keys).
    fraction : float
        Share of public records, in (0, 1).
    seed : int
        Seed of the draw.

    Returns
    -------
    ndarray of bool, aligned with ``keys``

    Examples
    --------
    >>> import pandas as pd
    >>> split_keys(pd.Index(["3", "1", "2", "4"]), 0.5, 0).sum()
    np.int64(2)
    """
    ordered = sorted(keys)
    rng = np.random.default_rng(seed)
    n_public = round(fraction * len(ordered))
    chosen = {ordered[i] for i in rng.permutation(len(ordered))[:n_public]}
    return np.array([key in chosen for key in keys], dtype=bool)


def held_labels(config: ChallengeConfig, data_home: Any = None) -> HeldLabels:
    """The challenge's test labels and its public/private cut.

    Parameters
    ----------
    config : ChallengeConfig
        The challenge.
    data_home : path-like, default=None
        See :func:`squad.get_data_home`.

    Returns
    -------
    HeldLabels
    """
    from squad.board.predictions import test_labels
    from squad.data.catalogue import read_cards

    languages = (config.language or "pl",) if config.dataset == "ecoicop" else None
    truth = test_labels(
        config.dataset,
        config.protocol or read_cards()[config.dataset].default_protocol,
        languages,
        None if data_home is None else str(data_home),
    )
    public = split_keys(truth.test.index, config.public_fraction, config.seed)
    return HeldLabels(labels=truth.test, public=public)


def private_digest(held: HeldLabels) -> str:
    """sha256 of the private labels as a canonical CSV (``id,label``, sorted by id).

    Published when the challenge opens, it lets anyone check after the close that the
    final board was scored against the labels fixed at the start.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> held = HeldLabels(pd.Series(["a", "b"], index=["2", "1"]), np.array([False, False]))
    >>> private_digest(held) == hashlib.sha256(b"id,label\\n1,b\\n2,a\\n").hexdigest()
    True
    """
    private = held.labels[~held.public]
    rows = sorted(zip(private.index, private.to_numpy(), strict=True))
    text = "id,label\n" + "".join(f"{key},{label}\n" for key, label in rows)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def texts_csv(config: ChallengeConfig, data_home: Any = None) -> bytes:
    """The test split without labels, as UTF-8 CSV: what participants code.

    Parameters
    ----------
    config : ChallengeConfig
    data_home : path-like, default=None

    Returns
    -------
    bytes
    """
    from squad.data.datasets import load_dataset

    frame = load_dataset(config.dataset, protocol=config.protocol, data_home=data_home)
    frame = frame[frame["split"] == "test"]
    if config.dataset == "ecoicop":
        frame = frame[frame["language"] == (config.language or "pl")]
    return frame[list(TEXT_COLUMNS[config.dataset])].to_csv(index=False).encode()
