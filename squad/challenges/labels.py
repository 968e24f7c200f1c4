"""The held-back labels of a challenge: the test records, cut into public and private.

For a catalogue task (``dataset:``) the organiser's server loads the test split with
:func:`squad.load_dataset` (through
:func:`squad.board.predictions.labels_of_test_split`, the board's own scorer's labels); those labels are public, since anyone can load them. For
the organiser's own file (``labels:``) the server reads that file
(:func:`read_labels_file`), which never leaves the server. Either way the records are
cut into a public part, scored on the
live board, and a private part, scored for the final board. The cut is a seeded
permutation of the sorted record keys, so the same challenge file gives the same cut on
every machine. :func:`private_digest` is the sha256 published when the challenge opens;
:func:`texts_csv` is what participants download: the test records without any label.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from squad.challenges.config import MAX_LABEL_ROWS, ChallengeConfig, LabelsFile
from squad.errors import InvalidInputError

__all__ = [
    "TEXT_COLUMNS",
    "HeldLabels",
    "held_labels",
    "private_digest",
    "read_labels_file",
    "texts_csv",
]

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


def _examples(values, n: int = 3) -> str:
    return ", ".join(repr(str(v)) for v in list(values)[:n])


def _as_text(column: pd.Series) -> pd.Series:
    return column.astype("string").fillna("").str.strip().astype(object)


def read_labels_file(spec: LabelsFile) -> pd.DataFrame:
    """The organiser's labelled file, checked: its id, text and label columns as text.

    The file is read again only when it changes (its size or modification time).

    Parameters
    ----------
    spec : LabelsFile
        The challenge file's ``labels:`` entry (``file`` made absolute).

    Returns
    -------
    DataFrame
        Columns ``spec.id``, ``*spec.text``, ``spec.label``, in the file's row order;
        ids and labels stripped of surrounding spaces.

    Raises
    ------
    squad.errors.InvalidInputError
        One line naming the first problem: no such file, a sha256 that does not match,
        a missing column, an empty or repeated id, an empty label, too many rows.
    """
    path = Path(spec.file)
    if not path.is_file():
        msg = (
            f"labels.file {str(path)!r} does not exist; put the labelled file there "
            "or correct labels.file in the challenge file."
        )
        raise InvalidInputError(msg)
    stat = path.stat()
    return _read_labels(spec, stat.st_size, stat.st_mtime_ns).copy()


@functools.lru_cache(maxsize=2)
def _read_labels(spec: LabelsFile, size: int, mtime_ns: int) -> pd.DataFrame:
    path = Path(spec.file)
    where = f"labels.file {path.name!r}"
    if spec.sha256 is not None:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        if digest.hexdigest() != spec.sha256:
            msg = (
                f"labels.sha256: {where} has sha256 {digest.hexdigest()}, not "
                f"{spec.sha256} as the challenge file says; restore the file or "
                "write its new sha256."
            )
            raise InvalidInputError(msg)
    try:
        if path.suffix.lower() == ".parquet":
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(
                path, dtype=str, keep_default_na=False, encoding="utf-8-sig"
            )
    except (OSError, ValueError, UnicodeDecodeError) as err:
        detail = " ".join(str(err).split())[:200]
        msg = f"{where} cannot be read as {path.suffix[1:]} ({detail}); fix the file."
        raise InvalidInputError(msg) from err
    frame.columns = [str(c).strip() for c in frame.columns]
    wanted = [spec.id, *spec.text, spec.label]
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        found = ", ".join(frame.columns) or "no columns"
        msg = (
            f"{where} has no column {', '.join(map(repr, missing))} (found: {found}); "
            "fix labels.id, labels.text or labels.label in the challenge file."
        )
        raise InvalidInputError(msg)
    if not 0 < len(frame) <= MAX_LABEL_ROWS:
        msg = (
            f"{where} has {len(frame)} records; a challenge needs between 1 and "
            f"{MAX_LABEL_ROWS:,} labelled records."
        )
        raise InvalidInputError(msg)
    frame = frame[wanted].reset_index(drop=True)
    for column in wanted:
        frame[column] = _as_text(frame[column])
    ids, labels = frame[spec.id], frame[spec.label]
    empty = ids == ""
    if empty.any():
        rows = [str(i + 1) for i in np.flatnonzero(empty)[:3]]
        msg = (
            f"{where}: {int(empty.sum())} empty ids in column {spec.id!r} "
            f"(e.g. data rows {', '.join(rows)}); give every record an id."
        )
        raise InvalidInputError(msg)
    repeated = ids[ids.duplicated()].unique()
    if len(repeated):
        msg = (
            f"{where}: {len(repeated)} ids repeated in column {spec.id!r} "
            f"(e.g. {_examples(repeated)}); every id must be unique."
        )
        raise InvalidInputError(msg)
    empty = labels == ""
    if empty.any():
        msg = (
            f"{where}: {int(empty.sum())} empty labels in column {spec.label!r} "
            f"(e.g. ids {_examples(ids[empty])}); label every record or drop it."
        )
        raise InvalidInputError(msg)
    return frame


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
    if config.labels is not None:
        spec = config.labels
        frame = read_labels_file(spec)
        truth = pd.Series(
            frame[spec.label].to_numpy(), index=pd.Index(frame[spec.id], dtype=object)
        )
        public = split_keys(truth.index, config.public_fraction, config.seed)
        return HeldLabels(labels=truth, public=public)
    from squad.board.predictions import labels_of_test_split
    from squad.data.catalogue import read_cards

    languages = (config.language or "pl",) if config.dataset == "ecoicop" else None
    truth = labels_of_test_split(
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

    For the organiser's own file: its id column (named ``record_id``, the column the
    predictions file needs) and its text columns, never the label column.

    Parameters
    ----------
    config : ChallengeConfig
    data_home : path-like, default=None

    Returns
    -------
    bytes
    """
    if config.labels is not None:
        spec = config.labels
        frame = read_labels_file(spec)[[spec.id, *spec.text]]
        frame = frame.rename(columns={spec.id: "record_id"})
        return frame.to_csv(index=False).encode()
    from squad.data.datasets import load_dataset

    frame = load_dataset(config.dataset, protocol=config.protocol, data_home=data_home)
    frame = frame[frame["split"] == "test"]
    if config.dataset == "ecoicop":
        frame = frame[frame["language"] == (config.language or "pl")]
    return frame[list(TEXT_COLUMNS[config.dataset])].to_csv(index=False).encode()
