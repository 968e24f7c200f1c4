"""Score one uploaded predictions file on the public and the private records.

The file is read by the board's reader (:func:`squad.board.submit.read_predictions`)
and checked by the board's checker (:func:`squad.board.predictions.check_predictions`),
which returns one prediction per test record in the test split's order; the challenge's
metrics are then computed on each part of the cut made by
:mod:`squad.challenges.labels`. :func:`score_upload` runs in a worker process, never on
a web request.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from squad.board.predictions import require_columns
from squad.challenges.config import ChallengeConfig
from squad.challenges.labels import HeldLabels, held_labels
from squad.errors import InvalidInputError, UserError

__all__ = ["check_own_predictions", "metric_value", "score_upload", "subset_scores"]


def metric_value(name: str, y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """One challenge metric (higher is better) of predicted against true labels.

    Parameters
    ----------
    name : {"accuracy", "f1_macro", "f1_weighted"}
    y_true, y_pred : array-like of shape (n_samples,)

    Returns
    -------
    float
        1.0 is a perfect prediction.

    Examples
    --------
    >>> metric_value("accuracy", np.array(["a", "b"]), np.array(["a", "a"]))
    0.5
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if name == "accuracy":
        return float((y_true == y_pred).mean()) if len(y_true) else 0.0
    from sklearn.metrics import f1_score

    average = {"f1_macro": "macro", "f1_weighted": "weighted"}[name]
    return float(f1_score(y_true, y_pred, average=average, zero_division=0))


def subset_scores(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    public: np.ndarray,
    metrics: tuple[str, ...],
) -> tuple[dict[str, float], dict[str, float]]:
    """The metrics on the public records and on the private ones.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
        Aligned labels and predictions of every test record.
    public : array-like of bool, shape (n_samples,)
        Which records are public.
    metrics : tuple of str
        Metric names (see :func:`metric_value`).

    Returns
    -------
    (dict, dict)
        Public and private values, each ``{metric: float}``.

    Examples
    --------
    >>> t, p = np.array(["a", "b", "c", "d"]), np.array(["a", "x", "c", "x"])
    >>> subset_scores(t, p, np.array([True, True, False, False]), ("accuracy",))
    ({'accuracy': 0.5}, {'accuracy': 0.5})
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    public = np.asarray(public, dtype=bool)
    if not len(y_true) == len(y_pred) == len(public):
        msg = "labels, predictions and the public mask must have the same length."
        raise ValueError(msg)
    parts = []
    for mask in (public, ~public):
        parts.append({m: metric_value(m, y_true[mask], y_pred[mask]) for m in metrics})
    return parts[0], parts[1]


def _examples(values, n: int = 3) -> str:
    return ", ".join(str(v) for v in list(values)[:n])


def check_own_predictions(
    frame: pd.DataFrame, ids: pd.Index, source: str = "predictions"
) -> np.ndarray:
    """Check predictions against the held ids of an organiser's own labels.

    Parameters
    ----------
    frame : DataFrame
        The uploaded file, as :func:`squad.board.submit.read_predictions` reads it.
    ids : Index
        The held records' ids (text), in the held labels' order.
    source : str, default="predictions"
        How messages name the file.

    Returns
    -------
    ndarray
        The predicted label of every held record, aligned with ``ids``.

    Raises
    ------
    squad.errors.InvalidInputError
        One line listing every problem found (it names ids, never a label).

    Examples
    --------
    >>> f = pd.DataFrame({"record_id": ["a", "c", "c", "d", "d"],
    ...                   "predicted": ["x", "y", "z", "x", "y"]})
    >>> check_own_predictions(f, pd.Index(["a", "b", "c"]))
    Traceback (most recent call last):
    ...
    squad.errors.InvalidInputError: predictions is not a valid predictions file: 1 test ids missing (e.g. b); 1 duplicated ids (e.g. c); 2 unknown ids (e.g. d). Fix it and submit again.
    """
    head = f"{source} is not a valid predictions file: "
    tail = " Fix it and submit again."
    frame = frame.copy()
    stripped = [str(c).strip() for c in frame.columns]
    if len(set(stripped)) != len(stripped):
        msg = f"{head}two columns have the same name once spaces are trimmed.{tail}"
        raise InvalidInputError(msg)
    frame.columns = stripped
    require_columns(frame, ("record_id", "predicted"), head, tail)
    given = frame["record_id"].astype("string").fillna("").str.strip().astype(object)
    predicted = frame["predicted"].astype("string").fillna("").str.strip()
    known = given.isin(ids)
    problems = []
    absent = ids.difference(pd.Index(given[known]), sort=False)
    if len(absent):
        problems.append(f"{len(absent)} test ids missing (e.g. {_examples(absent)})")
    repeated = given[known & given.duplicated(keep="first")]
    if len(repeated):
        problems.append(
            f"{len(repeated)} duplicated ids (e.g. {_examples(repeated.unique())})"
        )
    if (~known).any():
        problems.append(
            f"{int((~known).sum())} unknown ids "
            f"(e.g. {_examples(given[~known].unique())})"
        )
    blank = known & (predicted == "")
    if blank.any():
        problems.append(
            f"{int(blank.sum())} ids without a prediction "
            f"(e.g. {_examples(given[blank])})"
        )
    if problems:
        raise InvalidInputError(head + "; ".join(problems) + "." + tail)
    by_id = pd.Series(predicted.to_numpy(dtype=object), index=pd.Index(given))
    return by_id.reindex(ids).to_numpy(dtype=object)


@functools.lru_cache(maxsize=4)
def _held(config: ChallengeConfig, data_home: str | None) -> HeldLabels:
    return held_labels(config, data_home)


def score_upload(
    path: str | Path, config: ChallengeConfig, data_home: str | None = None
) -> dict[str, Any]:
    """Read, check and score one uploaded predictions file.

    Parameters
    ----------
    path : path-like
        The file (``.csv`` or ``.parquet``).
    config : ChallengeConfig
        The challenge.
    data_home : str, default=None
        See :func:`squad.get_data_home`.

    Returns
    -------
    dict
        ``{"public": {...}, "private": {...}}`` on success, else ``{"error": line}``
        with one line a participant can act on (it names no label).
    """
    from squad.board.predictions import check_predictions
    from squad.board.submit import read_predictions

    if config.labels is not None:
        held = _held(config, data_home)  # a broken labels file is the server's fault
        try:
            frame = read_predictions(path)
            predicted = check_own_predictions(
                frame, held.labels.index, source=Path(path).name
            )
        except (UserError, ValueError, KeyError) as err:
            return {"error": " ".join(str(err).split())[:500]}
        public, private = subset_scores(
            held.labels.to_numpy(dtype=object), predicted, held.public, config.metrics
        )
        return {"public": public, "private": private}
    try:
        frame = read_predictions(path)
        checked = check_predictions(
            frame,
            config.dataset,
            protocol=config.protocol,
            language=config.language,
            data_home=data_home,
            source=Path(path).name,
        )
    except (UserError, ValueError, KeyError) as err:
        return {"error": " ".join(str(err).split())[:500]}
    if config.dataset == "ecoicop" and tuple(checked.attrs["languages"]) != (
        config.language or "pl",
    ):
        found = ", ".join(checked.attrs["languages"])
        language = config.language or "pl"
        return {"error": f"Predict the {language} records only (the file has {found})."}
    held = _held(config, data_home)
    if len(checked) != len(held.labels):  # pragma: no cover - the checker ensures it
        raise InvalidInputError("checked predictions do not cover the test split.")
    public, private = subset_scores(
        held.labels.to_numpy(),
        checked["predicted"].to_numpy(),
        held.public,
        config.metrics,
    )
    return {"public": public, "private": private}
