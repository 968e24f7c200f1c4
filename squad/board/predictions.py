"""Predictions files checked against a dataset's test split, before anything is scored.

:func:`check_predictions` holds a predictions table (``predictions.parquet`` of a run,
or a file given to ``squad submit``) to the rows of the test split that
:func:`squad.load_dataset` gives for its dataset, protocol and languages: every test
record once, no training record, known codes, confidences in [0, 1]. It returns the
table normalised in the test split's order; :mod:`squad.board.scoring` computes the
metrics from it.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from squad.errors import InvalidInputError, NotFoundError

__all__ = [
    "PREDICTIONS_FILE",
    "SCORED_DATASETS",
    "TOP_K",
    "TestLabels",
    "check_predictions",
    "dataset_spec",
    "require_columns",
    "labels_of_test_split",
]

PREDICTIONS_FILE = "predictions.parquet"
TOP_K = 5
_EXAMPLES = 3


# --------------------------------------------------------------------------- labels
@dataclass(frozen=True)
class TestLabels:
    """The labels a predictions file is scored against (:func:`labels_of_test_split`)."""

    __test__ = False  # not a pytest test class, whatever its name

    dataset: str
    protocol: str
    languages: tuple[str, ...] | None
    test: pd.Series = field(repr=False)  # key -> true label
    test_keys: frozenset = field(repr=False)
    other: frozenset = field(repr=False)  # keys of train/validation rows
    classification: frozenset = field(repr=False)
    train_classes: np.ndarray = field(repr=False)
    levels: tuple[int, ...] | None
    checksum: str


#: What scoring needs of :data:`squad.tasks.coding.CODING_DATASETS` (kept here so that scoring
#: does not import scikit-learn; a test checks that both agree).
SCORED_DATASETS: dict[str, dict[str, Any]] = {
    "soc2010": {"id": "record_id", "target": "soc2010", "levels": (1, 2, 3, 4)},
    "ecoicop": {
        "id": "product_id",
        "target": "category",
        "levels": None,
        "languages": ("pl", "en", "fr", "es", "it", "de", "nl"),
    },
}


def dataset_spec(dataset: str) -> dict[str, Any]:
    """What scoring needs of a coding dataset (id and target columns, levels).

    Raises
    ------
    squad.errors.NotFoundError
        If the dataset has no coding task.
    """
    if dataset not in SCORED_DATASETS:
        msg = (
            f"Dataset {dataset!r} has no coding task to score. Use one of: "
            f"{', '.join(SCORED_DATASETS)}."
        )
        raise NotFoundError(msg)
    return SCORED_DATASETS[dataset]


def _default_protocol(dataset: str) -> str:
    from squad.data.catalogue import read_cards

    return read_cards()[dataset].default_protocol


@functools.lru_cache(maxsize=16)
def labels_of_test_split(
    dataset: str,
    protocol: str | None,
    languages: tuple[str, ...] | None,
    data_home: str | None,
) -> TestLabels:
    """The test split's labels of ``dataset`` (kept for the next run of the same task)."""
    from squad.data.datasets import dataset_checksum, load_dataset

    spec = dataset_spec(dataset)
    frame = load_dataset(dataset, protocol=protocol or None, data_home=data_home)
    if "languages" in spec:
        languages = languages or ("pl",)
        unknown = sorted(set(languages) - set(spec["languages"]))
        if unknown:
            msg = (
                f"Unknown {dataset} language(s) {', '.join(unknown)}. Use one of: "
                f"{', '.join(spec['languages'])}."
            )
            raise InvalidInputError(msg)
        frame = frame[frame["language"].isin(languages)]
    else:
        languages = None
    keys = _keys(frame, spec["id"], languages)
    labels = frame[spec["target"]].astype(str).to_numpy()
    is_test = (frame["split"] == "test").to_numpy()
    classification = set(labels)
    if dataset == "soc2010":
        from squad.data.datasets import load_hierarchy

        hierarchy = load_hierarchy(dataset)
        classification |= set(
            hierarchy.loc[hierarchy["level"] == 4, "code"].astype(str)
        )
    return TestLabels(
        dataset=dataset,
        protocol=protocol or _default_protocol(dataset),
        languages=languages,
        test=pd.Series(labels[is_test], index=keys[is_test]),
        test_keys=frozenset(keys[is_test]),
        other=frozenset(keys[~is_test]),
        classification=frozenset(classification),
        train_classes=np.unique(labels[(frame["split"] == "train").to_numpy()]),
        levels=spec["levels"],
        checksum=dataset_checksum(dataset, data_home=data_home),
    )


def _keys(frame: pd.DataFrame, id_column: str, languages) -> pd.Index:
    ids = frame[id_column].astype("int64").astype(str)
    if languages is None:
        return pd.Index(ids.to_numpy())
    return pd.Index((frame["language"].astype(str) + ":" + ids).to_numpy())


# --------------------------------------------------------------------------- checking
def _examples(values, *, quote: bool = False) -> str:
    shown = [repr(str(v)) if quote else str(v) for v in list(values)[:_EXAMPLES]]
    return ", ".join(shown)


@functools.lru_cache(maxsize=32)
def _pool_index(pool: frozenset) -> pd.Index:
    return pd.Index(list(pool), dtype=object)


def _in(values: pd.Series, pool: frozenset) -> pd.Series:
    """``values.isin(pool)``, by set membership (pandas' Arrow strings convert the
    whole pool on every ``isin`` call)."""
    array = values.to_numpy(dtype=object)
    try:
        found = np.fromiter((v in pool for v in array), dtype=bool, count=len(array))
    except TypeError:  # an unhashable value
        found = _pool_index(pool).get_indexer(array) >= 0
    return pd.Series(found, index=values.index)


def _as_ids(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Ids as canonical integer strings; the second series marks values that are not."""
    if pd.api.types.is_signed_integer_dtype(values):  # already integers
        return values.astype("int64").astype(str), pd.Series(False, index=values.index)
    text = values.astype(str).str.strip()
    number = pd.to_numeric(text, errors="coerce")
    integral = number.notna() & np.isfinite(number) & (number == number.round())
    canonical = text.where(
        ~integral, number.where(integral, 0).astype("int64").astype(str)
    )
    return canonical, ~integral


def _as_codes(values: pd.Series) -> pd.Series:
    """Labels as strings; integral numbers (1115.0, read by a tool as numbers) lose '.0'."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        number = values.astype(float)
        out = number.map(lambda v: "" if math.isnan(v) else f"{v:g}")
        return out.where(number != number.round(), number.map(_int_text))
    text = values.astype("string").fillna("").astype(str).str.strip()
    return text.str.replace(r"^(\d+)\.0+$", r"\1", regex=True)


def _int_text(value: float) -> str:
    return "" if math.isnan(value) else str(int(value))


def _as_numbers(values: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return values.astype(float)
    text = values.astype("string").str.strip().str.replace(",", ".", regex=False)
    return pd.to_numeric(text, errors="coerce").astype(float)


def require_columns(
    frame: pd.DataFrame, columns: tuple[str, ...], head: str, tail: str
) -> None:
    """Raise one line naming the ``columns`` that ``frame`` lacks, and those it has.

    Examples
    --------
    >>> require_columns(pd.DataFrame({"id": [1]}), ("record_id", "predicted"),
    ...                 "p.csv is not valid: ", " Fix it.")
    Traceback (most recent call last):
    ...
    squad.errors.InvalidInputError: p.csv is not valid: missing columns 'record_id', 'predicted' (found: id). Fix it.
    """
    missing = [c for c in columns if c not in frame]
    if missing:
        names = ", ".join(repr(c) for c in missing)
        found = ", ".join(map(str, frame.columns)) or "no columns"
        plural = "s" if len(missing) > 1 else ""
        msg = f"{head}missing column{plural} {names} (found: {found}).{tail}"
        raise InvalidInputError(msg)


def check_predictions(
    predictions: pd.DataFrame,
    dataset: str,
    *,
    protocol: str | None = None,
    language: str | None = None,
    data_home: Any = None,
    source: str = "predictions",
) -> pd.DataFrame:
    """Check a predictions table against a dataset's test split and normalise it.

    Parameters
    ----------
    predictions : DataFrame
        Columns ``record_id`` (for ecoicop also ``product_id``), ``predicted``;
        optional ``confidence``, ``code_1`` .. ``code_5``, ``proba_1`` .. ``proba_5``
        and, for ecoicop, ``language`` (else ``language``, default ``"pl"``).
    dataset : {"soc2010", "ecoicop"}
        The coding dataset.
    protocol : str, default=None
        Split protocol; None the card's default.
    language : str, default=None
        ECOICOP language of every row when there is no ``language`` column; None
        means ``"pl"``. Ignored for soc2010.
    data_home : path-like, default=None
        See :func:`squad.get_data_home`.
    source : str, default="predictions"
        Name of the table in messages (e.g. the file name).

    Returns
    -------
    DataFrame
        One row per test record, in the dataset's order: ``record_id`` (int),
        ``predicted`` (str) and the optional columns given, plus ``language`` for
        ecoicop. ``attrs`` holds ``dataset``, ``protocol``, ``languages`` and ``sha256``.

    Raises
    ------
    ValueError
        With one line naming every kind of problem found, with counts and examples:
        missing columns; test ids missing or duplicated; ids from the train split or
        unknown; labels outside the classification; confidences or probabilities not
        numbers or outside [0, 1].
    KeyError
        For a dataset without a coding task.

    Examples
    --------
    >>> import pandas as pd
    >>> check_predictions(pd.DataFrame({"record_id": [1]}), "soc2010")
    Traceback (most recent call last):
    ...
    squad.errors.InvalidInputError: predictions is not a valid soc2010 predictions file: missing column 'predicted' (found: record_id). Fix it and submit again.
    """
    spec = dataset_spec(dataset)
    frame = predictions.copy()
    stripped = [str(c).strip() for c in frame.columns]
    seen: dict[str, str] = {}
    for raw, name in zip(frame.columns, stripped, strict=True):
        if name in seen:
            pair = f"{seen[name]!r} and {str(raw)!r}"
            msg = (
                f"{source} is not a valid {dataset} predictions file: columns {pair} "
                "are the same name once spaces are trimmed. Keep one and submit again."
            )
            raise InvalidInputError(msg)
        seen[name] = str(raw)
    frame.columns = stripped
    if "languages" in spec and "product_id" in frame and "record_id" not in frame:
        frame = frame.rename(columns={"product_id": "record_id"})
    head = f"{source} is not a valid {dataset} predictions file: "
    tail = " Fix it and submit again."
    require_columns(frame, ("record_id", "predicted"), head, tail)
    if "languages" in spec:
        if "language" in frame:
            frame["language"] = _as_codes(frame["language"]).str.lower()
            languages = tuple(sorted(set(frame["language"])))
        else:
            frame["language"] = language or "pl"
            languages = (language or "pl",)
    else:
        languages = None
    truth = labels_of_test_split(
        dataset,
        protocol or _default_protocol(dataset),
        languages,
        None if data_home is None else str(data_home),
    )
    problems: list[str] = []
    ids, bad_ids = _as_ids(frame["record_id"])
    keys = ids if languages is None else frame["language"] + ":" + ids
    in_test = _in(keys, truth.test_keys)
    in_other = _in(keys, truth.other) & ~in_test
    unknown = ~in_test & ~in_other
    missing_keys = truth.test.index.difference(pd.Index(keys[in_test]))
    duplicated = keys[in_test & keys.duplicated(keep="first")]
    shown = ids if languages is None else keys
    if len(missing_keys):
        problems.append(
            f"{len(missing_keys)} test ids missing (e.g. {_examples(missing_keys)})"
        )
    if len(duplicated):
        problems.append(
            f"{len(duplicated)} duplicated ids (e.g. {_examples(duplicated.unique())})"
        )
    if in_other.any():
        problems.append(
            f"{int(in_other.sum())} ids from the train split "
            f"(e.g. {_examples(shown[in_other])})"
        )
    if unknown.any():
        values = frame.loc[unknown, "record_id"] if bad_ids.any() else shown[unknown]
        problems.append(f"{int(unknown.sum())} unknown ids (e.g. {_examples(values)})")
    predicted = _as_codes(frame["predicted"])
    code_columns = [f"code_{k}" for k in range(1, TOP_K + 1) if f"code_{k}" in frame]
    outside = ~_in(predicted, truth.classification)
    labels_out = list(predicted[outside])
    for column in code_columns:
        codes = _as_codes(frame[column])
        frame[column] = codes
        labels_out += list(codes[(codes != "") & ~_in(codes, truth.classification)])
    if labels_out:
        problems.append(
            f"{len(labels_out)} labels outside the {dataset} classification "
            f"(e.g. {_examples(pd.unique(pd.Series(labels_out)), quote=True)})"
        )
    numbers = ["confidence"] if "confidence" in frame else []
    numbers += [f"proba_{k}" for k in range(1, TOP_K + 1) if f"proba_{k}" in frame]
    for column in numbers:
        raw = frame[column]
        values = _as_numbers(raw)
        nan = values.isna()
        if column.startswith("proba_"):  # blank where a model has fewer classes
            text = raw.astype("string").fillna("").str.strip()
            nan &= ~text.isin(["", "NA", "NaN", "nan"])
        if nan.any():
            problems.append(
                f"{int(nan.sum())} {column} values not numbers "
                f"(e.g. {_examples(raw[nan], quote=True)})"
            )
        out = (values < 0) | (values > 1)
        if out.any():
            problems.append(
                f"{int(out.sum())} {column} values outside [0, 1] "
                f"(e.g. {_examples(values[out])})"
            )
        frame[column] = values
    if problems:
        raise InvalidInputError(head + "; ".join(problems) + "." + tail)
    frame["predicted"] = predicted
    frame["record_id"] = ids.astype("int64")
    frame.index = pd.Index(keys)
    frame = frame.loc[truth.test.index].reset_index(drop=True)
    keep = ["record_id", *(["language"] if languages else []), "predicted"]
    keep += [c for c in ("confidence",) if c in frame]
    for k in range(1, TOP_K + 1):
        keep += [c for c in (f"code_{k}", f"proba_{k}") if c in frame]
    frame = frame[keep]
    frame.attrs.update(
        dataset=dataset,
        protocol=truth.protocol,
        languages=list(languages) if languages else None,
        sha256=truth.checksum,
    )
    return frame
