"""Score coding runs from their saved test-set predictions, never from recorded numbers.

A run's predictions (``predictions.parquet`` in its folder, see
:func:`squad.tasks.coding.save_predictions`) are checked against the test split that
:func:`squad.load_dataset` gives for the run's dataset and protocol, and every metric is
computed again from them:

- ``n``, ``n_classes``, ``unseen_classes``, ``n_unseen_classes``, ``n_unseen_records``
  (against the train split's labels), ``accuracy``, ``f1_macro``, ``f1_weighted`` and
  ``accuracy_level_<l>`` (soc2010), as :func:`squad.evaluation.metrics.coding_report`;
- with ``code_1`` .. ``code_k``: ``top_3_accuracy`` and ``top_5_accuracy``;
- with ``confidence``: ``automation_rate_<t>`` / ``threshold_<t>`` (t = 90, 95, 98),
  ``expected_calibration_error`` (15 bins) and ``automation_curve`` (at most 200 points).

``log_loss`` needs the probability of every class and cannot be recomputed from the
top five, so it is not scored; nor are timings.

A recorded metric that differs from its recomputed value by more than
:data:`TOLERANCE` is a disagreement, and the leaderboard flags the run.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from squad.board.safety import one_line
from squad.errors import FileProblemError, InvalidInputError, NotFoundError
from squad.records import RunRecord, read_record

__all__ = [
    "SCORED_DATASETS",
    "TOLERANCE",
    "ScoredRun",
    "check_predictions",
    "compare_metrics",
    "pending_score",
    "predictions_digest",
    "predictions_sha256",
    "score_predictions",
    "score_run",
]

logger = logging.getLogger("squad")

#: Largest difference between a recorded and a recomputed metric put down to rounding.
TOLERANCE = 1e-6
PREDICTIONS_FILE = "predictions.parquet"
TOP_K = 5
_EXAMPLES = 3


# --------------------------------------------------------------------------- labels
@dataclass(frozen=True)
class _Truth:
    """The labels a predictions file is scored against."""

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


def _spec(dataset: str) -> dict[str, Any]:
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
def _truth(
    dataset: str,
    protocol: str | None,
    languages: tuple[str, ...] | None,
    data_home: str | None,
) -> _Truth:
    from squad.data.datasets import dataset_checksum, load_dataset

    spec = _spec(dataset)
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
    return _Truth(
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
    spec = _spec(dataset)
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
    missing = [c for c in ("record_id", "predicted") if c not in frame]
    if missing:
        names = ", ".join(repr(c) for c in missing)
        found = ", ".join(frame.columns) or "no columns"
        plural = "s" if len(missing) > 1 else ""
        msg = f"{head}missing column{plural} {names} (found: {found}).{tail}"
        raise InvalidInputError(msg)
    if "languages" in spec:
        if "language" in frame:
            frame["language"] = _as_codes(frame["language"]).str.lower()
            languages = tuple(sorted(set(frame["language"])))
        else:
            frame["language"] = language or "pl"
            languages = (language or "pl",)
    else:
        languages = None
    truth = _truth(
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


# --------------------------------------------------------------------------- scoring
def _curve(y_true, y_pred, confidence, max_points: int = 200) -> dict[str, list]:
    from squad.evaluation.automation import automation_curve

    frame = automation_curve(y_true, y_pred, confidence)
    if len(frame) > max_points:
        keep = np.unique(np.linspace(0, len(frame) - 1, max_points).round().astype(int))
        frame = frame.iloc[keep]
    return {
        c: frame[c].astype(float).round(6).tolist()
        for c in ("threshold", "automation_rate", "accuracy")
    }


def _top_k(frame: pd.DataFrame, y_true: np.ndarray) -> dict[str, tuple]:
    """``top_<k>_accuracy`` -> (value, lowest, highest) from the listed top codes.

    The true code's rank counts every listed code at least as probable as it (ties
    rank above, as :func:`squad.evaluation.metrics.top_k_accuracy_score`). When the last listed
    probability ties with the true code's and the unlisted probability mass could hold
    another such class, the full-probability rank may be larger: ``lowest`` counts
    those rows as misses, the value (and ``highest``) as hits.
    """
    codes = []
    for k in range(1, TOP_K + 1):
        if f"code_{k}" not in frame:
            break
        codes.append(f"code_{k}")
    if not codes:
        return {}
    listed = len(codes)
    match = np.column_stack([frame[c].to_numpy(dtype=object) for c in codes])
    match = match == y_true[:, None]
    found = match.any(axis=1)
    position = match.argmax(axis=1)
    probas = [f"proba_{k}" for k in range(1, listed + 1)]
    if all(c in frame for c in probas):
        p = np.column_stack([frame[c].to_numpy(dtype=float) for c in probas])
        p_true = p[np.arange(len(p)), position]
        rank = np.count_nonzero(p >= p_true[:, None], axis=1)
        remaining = 1.0 - np.nansum(p, axis=1)
        open_tie = (rank >= listed) & (remaining >= p_true - 1e-5)
    else:
        rank = position + 1
        open_tie = np.zeros(len(frame), dtype=bool)
    rank = np.where(found, rank, np.iinfo(np.int64).max)
    out = {}
    for k in (3, 5):
        if k <= listed:
            hit = rank <= k
            value = float(hit.mean())
            lowest = float((hit & ~(open_tie & (k == listed))).mean())
            out[f"top_{k}_accuracy"] = (value, lowest, value)
    return out


def score_predictions(
    predictions: pd.DataFrame,
    dataset: str,
    *,
    protocol: str | None = None,
    language: str | None = None,
    data_home: Any = None,
    source: str = "predictions",
) -> dict[str, Any]:
    """Compute every coding metric of a predictions table from the shared labels.

    Parameters
    ----------
    predictions, dataset, protocol, language, data_home, source
        As :func:`check_predictions` (which is called first).

    Returns
    -------
    dict
        The metrics listed in the module docstring; ``accuracy``, ``f1``,
        ``top_k`` and ``automation_rate`` values are higher-is-better,
        ``expected_calibration_error`` lower-is-better.

    Raises
    ------
    ValueError, KeyError
        As :func:`check_predictions`.

    Examples
    --------
    >>> import pandas as pd
    >>> from squad.data.datasets import load_dataset
    >>> test = load_dataset("soc2010", "test")
    >>> perfect = pd.DataFrame({"record_id": test["record_id"], "predicted": test["soc2010"]})
    >>> score_predictions(perfect, "soc2010")["accuracy"]
    1.0
    """
    return score_checked_table(
        check_predictions(
            predictions,
            dataset,
            protocol=protocol,
            language=language,
            data_home=data_home,
            source=source,
        ),
        data_home,
    )[0]


def score_checked_table(
    frame: pd.DataFrame, data_home: Any
) -> tuple[dict[str, Any], dict]:
    """Metrics and top-k bounds of a table checked by :func:`check_predictions`."""
    from squad.evaluation.automation import AUTOMATION_TARGETS, automation_rate_report
    from squad.evaluation.automation import expected_calibration_error as ece
    from squad.evaluation.metrics import coding_report

    languages = tuple(frame.attrs["languages"]) if frame.attrs["languages"] else None
    truth = _truth(
        frame.attrs["dataset"],
        frame.attrs["protocol"],
        languages,
        None if data_home is None else str(data_home),
    )
    y_true = truth.test.to_numpy()
    y_pred = frame["predicted"].to_numpy()
    report = coding_report(
        y_true, y_pred, levels=truth.levels, train_classes=truth.train_classes
    )
    top = _top_k(frame, y_true)
    for name, (value, _, _) in top.items():
        report[name] = value
    if "confidence" in frame:
        confidence = frame["confidence"].to_numpy(dtype=float)
        table = automation_rate_report(
            y_true, y_pred, confidence, target_accuracy=AUTOMATION_TARGETS
        )
        for row in table.itertuples(index=False):
            pct = round(row.target_accuracy * 100)
            report[f"automation_rate_{pct}"] = float(row.automation_rate)
            threshold = float(row.threshold)
            report[f"threshold_{pct}"] = None if math.isnan(threshold) else threshold
        report["expected_calibration_error"] = ece(
            y_true, y_pred, confidence, n_bins=15
        )
        report["automation_curve"] = _curve(y_true, y_pred, confidence)
    return report, {name: (low, high) for name, (_, low, high) in top.items()}


def compare_metrics(
    recorded: Mapping[str, Any],
    scored: Mapping[str, Any],
    *,
    tolerance: float = TOLERANCE,
    bounds: Mapping[str, tuple[float, float]] | None = None,
) -> dict[str, tuple[Any, Any]]:
    """Recorded scalar metrics that differ from the recomputed ones beyond rounding.

    Only names present in both are compared; a number against None (or a missing
    number) is a disagreement. For a name in ``bounds`` (``(lowest, highest)``, as the
    top-k accuracies of a file with only the top codes), a recorded value within the
    bounds agrees.

    Returns
    -------
    dict
        Name -> ``(recorded, recomputed)``.

    Examples
    --------
    >>> compare_metrics({"accuracy": 0.91, "n": 10, "fit_seconds": 3.0},
    ...                 {"accuracy": 0.9, "n": 10})
    {'accuracy': (0.91, 0.9)}
    """
    differ = {}
    for name, value in scored.items():
        if name not in recorded or isinstance(value, list | dict | str):
            continue
        if isinstance(value, bool) or isinstance(recorded[name], list | dict | str):
            continue
        old = recorded[name]
        if value is None or old is None:
            if (value is None) != (old is None):
                differ[name] = (old, value)
            continue
        low, high = (bounds or {}).get(name, (value, value))
        if low - tolerance <= float(old) <= high + tolerance:
            continue
        if not math.isclose(float(old), float(value), rel_tol=0.0, abs_tol=tolerance):
            differ[name] = (old, value)
    return differ


@dataclass
class ScoredRun:
    """A run's metrics recomputed from its predictions, and how they compare.

    ``status`` is ``"verified"`` (recorded metrics agree), ``"disagrees"`` (some recorded
    metric differs; see ``disagreements``), ``"self-reported"`` (no predictions file:
    ``metrics`` are the recorded ones) or ``"invalid"`` (the predictions could not be
    scored; ``reason`` says why; ``metrics`` is empty). ``digest`` identifies what the
    predictions predict (:func:`predictions_digest`), for scored runs.
    """

    status: str
    metrics: dict[str, Any]
    disagreements: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    reason: str = ""
    digest: str = ""


def _predictions_path(folder: Path | None) -> Path | None:
    if folder is None:
        return None
    path = Path(folder) / PREDICTIONS_FILE
    return path if path.is_file() else None


def predictions_sha256(rec: RunRecord) -> str | None:
    """The sha256 a record gives its predictions file (in ``files``), or None.

    Examples
    --------
    >>> rec = RunRecord("demo", "a1", {}, {}, "ok",
    ...                 files={"predictions.parquet": {"sha256": "ab"}})
    >>> predictions_sha256(rec)
    'ab'
    >>> predictions_sha256(rec.replace(files={})) is None
    True
    """
    files = rec.files
    entry = files.get(PREDICTIONS_FILE) if isinstance(files, Mapping) else None
    value = entry.get("sha256") if isinstance(entry, Mapping) else None
    return value if isinstance(value, str) else None


def predictions_digest(frame: pd.DataFrame) -> str:
    """sha256 of what a checked predictions table predicts (ids, languages, labels).

    Two files with the same digest code every test record alike, whatever their
    format, row order, confidences or metadata.
    """
    digest = hashlib.sha256()
    for column in ("record_id", "language", "predicted"):
        if column in frame:
            text = "\x1f".join(str(v) for v in frame[column].to_numpy(dtype=object))
            digest.update(text.encode("utf-8", "backslashreplace") + b"\x1e")
    return digest.hexdigest()


def score_file(
    path: Path, dataset: Mapping[str, Any], data_home: Any, sha256: str | None
) -> tuple[dict[str, Any], dict, str, str]:
    """Check and score one predictions file: (metrics, bounds, dataset sha256, digest)."""
    from squad.board.parquet_limits import read_predictions_file

    checked = check_predictions(
        read_predictions_file(path, sha256=sha256),
        dataset["name"],
        protocol=dataset.get("protocol") or None,
        language=dataset.get("language") or None,
        data_home=data_home,
        source=path.name,
    )
    scored, bounds = score_checked_table(checked, data_home)
    return scored, bounds, checked.attrs["sha256"], predictions_digest(checked)


def pending_score(
    record: RunRecord, folder: Path | None, cache: Any
) -> tuple[str, str, dict, str] | None:
    """What a worker needs to score the run in ``folder`` into ``cache``, or None if
    there is nothing to score (no predictions, no listed sha256 or dataset, or already
    cached).

    Returns
    -------
    tuple or None
        ``(cache key, predictions path, dataset, sha256)``, as
        :func:`squad.board.prescore.score_items` takes them.
    """
    path = _predictions_path(folder)
    expected = predictions_sha256(record)
    dataset = record.dataset
    if path is None or expected is None or record.status != "ok":
        return None
    if dataset.get("name") not in SCORED_DATASETS:
        return None
    key = cache.key(
        path,
        dataset["name"],
        dataset.get("protocol"),
        dataset.get("language"),
        sha256=expected,
    )
    if cache.get(key) is not None:
        return None
    return key, str(path), dict(dataset), expected


def score_run(
    run: str | os.PathLike[str] | RunRecord,
    *,
    folder: str | os.PathLike[str] | None = None,
    data_home: Any = None,
    cache: Any = None,
) -> ScoredRun:
    """Score a run from the predictions saved in its folder.

    Parameters
    ----------
    run : path-like or RunRecord
        A run folder, or a run's record (its folder given as ``folder``).
    folder : path-like, optional
        The folder of a record given as ``run`` (None: it has no predictions here).
    data_home : path-like, default=None
        See :func:`squad.get_data_home`.
    cache : squad.board.cache.ScoreCache, default=None
        Reuse the scores of predictions and data scored before (keyed by their sha256).

    Returns
    -------
    ScoredRun

    Examples
    --------
    >>> score_run(RunRecord("demo", "a", {}, {"accuracy": 0.5}, "ok")).status
    'self-reported'
    """
    if not isinstance(run, RunRecord):
        folder = Path(run)
        run = read_record(folder)
    recorded = dict(run.metrics)
    path = _predictions_path(Path(folder) if folder is not None else None)
    if path is None:
        return ScoredRun("self-reported", recorded)
    dataset = run.dataset
    expected = predictions_sha256(run)
    key = None
    try:
        if expected is None:
            msg = (
                f"{PREDICTIONS_FILE} is not listed in the record's files with its "
                "sha256, so it cannot be checked"
            )
            raise InvalidInputError(msg)
        if not dataset.get("name"):
            msg = "its record names no dataset (provenance.dataset.name)"
            raise InvalidInputError(msg)
        if cache is not None:
            _spec(dataset["name"])
            key = cache.key(
                path,
                dataset["name"],
                dataset.get("protocol"),
                dataset.get("language"),
                sha256=expected,
            )
            entry = cache.get(key)
            if entry is not None and "reason" in entry:
                raise InvalidInputError(entry["reason"])
            if entry is not None:
                scored = entry["metrics"]
                bounds = {k: tuple(v) for k, v in entry["bounds"].items()}
                current, digest = entry["sha256"], entry["digest"]
            else:
                scored, bounds, current, digest = score_file(
                    path, dataset, data_home, expected
                )
                cache.put(
                    key,
                    {
                        "metrics": scored,
                        "bounds": bounds,
                        "sha256": current,
                        "digest": digest,
                    },
                )
        else:
            scored, bounds, current, digest = score_file(
                path, dataset, data_home, expected
            )
    except (OSError, ValueError, KeyError) as err:
        reason = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
        if (
            key is not None
            and isinstance(err, InvalidInputError)
            and not isinstance(err, FileProblemError)
        ):
            cache.put(key, {"reason": str(reason)})
        logger.info(
            "Cannot score run %s: %s", one_line(run.run_id, 80), one_line(reason)
        )
        return ScoredRun("invalid", {}, reason=str(reason))
    differ = compare_metrics(recorded, scored, bounds=bounds)
    wanted = dataset.get("sha256")
    if wanted and wanted != current:
        differ["dataset.sha256"] = (wanted, current)
    status = "disagrees" if differ else "verified"
    return ScoredRun(status, scored, differ, digest=digest)
