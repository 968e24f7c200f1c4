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

from squad.board.predictions import (
    PREDICTIONS_FILE,
    SCORED_DATASETS,
    TOP_K,
    check_predictions,
    dataset_spec,
    labels_of_test_split,
)
from squad.board.safety import one_line
from squad.errors import FileProblemError, InvalidInputError
from squad.records import RunRecord, read_record

__all__ = [
    "TOLERANCE",
    "ScoredRun",
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
    truth = labels_of_test_split(
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
            dataset_spec(dataset["name"])
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
