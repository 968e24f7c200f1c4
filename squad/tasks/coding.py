"""The automatic-coding experiment: assemble a shared coding task, fit a model, evaluate it.

The experiment notebook ``notebooks/coding.ipynb`` is a thin layer over these functions, so
that every squad member builds the same inputs from the same split and scores them with the
same metrics.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from squad.data.datasets import dataset_checksum, load_dataset
from squad.errors import InvalidInputError
from squad.evaluation.automation import automation_curve
from squad.evaluation.metrics import coding_report
from squad.tasks.registry import make_model

__all__ = [
    "CODING_DATASETS",
    "CodingResult",
    "CodingTask",
    "fit_and_evaluate",
    "load_coding_task",
    "predictions_frame",
    "save_predictions",
]

#: dataset -> text options (name -> columns joined with a space), default text, hierarchy
CODING_DATASETS: dict[str, dict[str, Any]] = {
    "soc2010": {
        "target": "soc2010",
        "id": "record_id",
        "texts": {
            "title": ["title"],
            "title_natural": ["title_natural"],
            "title+qualifier": ["title", "qualifier"],
            "title_natural+qualifier": ["title_natural", "qualifier"],
        },
        "default_text": "title_natural+qualifier",
        "levels": (1, 2, 3, 4),
    },
    "ecoicop": {
        "target": "category",
        "id": "product_id",
        "texts": {"text": ["text"]},
        "default_text": "text",
        "levels": None,
        "languages": ("pl", "en", "fr", "es", "it", "de", "nl"),
    },
}


@dataclass
class CodingTask:
    """Train and test texts and codes of one dataset, protocol, language and text choice."""

    dataset: str
    protocol: str
    language: str | None
    text: str
    x_train: list[str] = field(repr=False)
    y_train: np.ndarray = field(repr=False)
    x_test: list[str] = field(repr=False)
    y_test: np.ndarray = field(repr=False)
    ids_test: np.ndarray = field(repr=False)
    levels: tuple[int, ...] | None
    checksum: str

    def provenance(self) -> dict[str, Any]:
        """What a run record needs to say which data it used."""
        return {
            "name": self.dataset,
            "sha256": self.checksum,
            "protocol": self.protocol,
            "language": self.language,
            "text": self.text,
            "n_train": len(self.x_train),
            "n_test": len(self.x_test),
        }


def _choice(value: str, allowed, what: str) -> str:
    if value not in allowed:
        raise InvalidInputError(
            f"Unknown {what} '{value}'. Use one of: {', '.join(allowed)}."
        )
    return value


def load_coding_task(
    dataset: str,
    *,
    protocol: str | None = None,
    language: str | None = "pl",
    text: str | None = None,
    data_home: Any = None,
) -> CodingTask:
    """Build the shared coding task for ``dataset``.

    Parameters
    ----------
    dataset : {"soc2010", "ecoicop"}
        The coding dataset.
    protocol : str, default=None
        Split protocol; None or "" takes the card's default.
    language : str or None, default="pl"
        ECOICOP language (ISO 639-1); ignored for soc2010, whose task records None.
    text : str, default=None
        Which text columns make the input: a name in ``CODING_DATASETS`` or columns of
        the card's ``task.text`` joined with ``+``; None the default.
    data_home : path-like, default=None
        See :func:`squad.get_data_home`.

    Returns
    -------
    CodingTask

    Raises
    ------
    ValueError
        For an unknown dataset, language, text option or protocol.

    Examples
    --------
    >>> task = load_coding_task("soc2010", text="title")
    >>> len(task.x_test), task.levels
    (5709, (1, 2, 3, 4))
    """
    spec = CODING_DATASETS.get(_choice(dataset, CODING_DATASETS, "coding dataset"))
    text = text or spec["default_text"]
    columns = spec["texts"].get(text) or _card_columns(dataset, text)
    frame = load_dataset(dataset, protocol=protocol or None, data_home=data_home)
    if "languages" in spec:
        frame = frame.loc[
            frame["language"] == _choice(language, spec["languages"], "language")
        ]
    else:
        language = None
    joined = frame[columns[0]].astype(str)
    for column in columns[1:]:
        joined = joined.str.cat(frame[column].astype(str), sep=" ").str.strip()
    train = frame["split"] == "train"
    test = frame["split"] == "test"
    return CodingTask(
        dataset=dataset,
        protocol=protocol or _default_protocol(dataset),
        language=language,
        text=text,
        x_train=joined[train].tolist(),
        y_train=frame.loc[train, spec["target"]].astype(str).to_numpy(),
        x_test=joined[test].tolist(),
        y_test=frame.loc[test, spec["target"]].astype(str).to_numpy(),
        ids_test=frame.loc[test, spec["id"]].to_numpy(),
        levels=spec["levels"],
        checksum=dataset_checksum(dataset, data_home=data_home),
    )


def _card_columns(dataset: str, text: str) -> list[str]:
    """Text columns joined with ``+``, each one the card's ``task.text`` lists."""
    from squad.data.catalogue import read_cards

    allowed = [str(c) for c in read_cards()[dataset].data["task"].get("text") or []]
    columns = text.split("+")
    for column in columns:
        _choice(column, allowed, f"text column for {dataset}")
    return columns


def _default_protocol(dataset: str) -> str:
    from squad.data.catalogue import read_cards

    return read_cards()[dataset].default_protocol


@dataclass
class CodingResult:
    """A fitted model's test-set predictions, probabilities, report and timings."""

    model: str
    report: dict[str, Any]
    y_pred: np.ndarray = field(repr=False)
    proba: np.ndarray = field(repr=False)
    classes: np.ndarray = field(repr=False)
    fit_seconds: float
    predict_seconds: float

    @property
    def confidence(self) -> np.ndarray:
        """Probability of each predicted code."""
        return self.proba.max(axis=1)

    def curve(
        self, y_true: np.ndarray, *, max_points: int = 200
    ) -> dict[str, list[float]]:
        """The automation curve, thinned to at most ``max_points`` points for a run record."""
        frame = automation_curve(y_true, self.y_pred, self.confidence)
        if len(frame) > max_points:
            keep = np.unique(
                np.linspace(0, len(frame) - 1, max_points).round().astype(int)
            )
            frame = frame.iloc[keep]
        return {
            c: frame[c].astype(float).round(6).tolist()
            for c in ("threshold", "automation_rate", "accuracy")
        }


def fit_and_evaluate(
    task: CodingTask, model: str, *, seed: int = 0, **settings: Any
) -> CodingResult:
    """Fit registered model ``model`` on the task's train split and score its test split.

    Parameters
    ----------
    task : CodingTask
        From :func:`load_coding_task`.
    model : str
        A name from :func:`squad.tasks.registry.list_models`.
    seed : int, default=0
        Random state.
    **settings
        Model settings (see :func:`squad.tasks.registry.make_model`).

    Returns
    -------
    CodingResult
        ``report`` is :func:`squad.evaluation.metrics.coding_report` with probabilities, plus
        ``fit_seconds``, ``predict_seconds`` and ``records_per_second``.
    """
    estimator = make_model(model, seed=seed, dataset=task.dataset, **settings)
    started = time.perf_counter()
    estimator.fit(task.x_train, task.y_train)
    fitted = time.perf_counter()
    proba = np.asarray(estimator.predict_proba(task.x_test), dtype=float)
    predicted = time.perf_counter()
    classes = np.asarray(estimator.classes_).astype(str)
    y_pred = classes[proba.argmax(axis=1)]
    report = coding_report(
        task.y_test,
        y_pred,
        proba=proba,
        classes=classes,
        levels=task.levels,
        train_classes=np.unique(task.y_train),
    )
    fit_s, predict_s = fitted - started, predicted - fitted
    report.update(
        fit_seconds=round(fit_s, 3),
        predict_seconds=round(predict_s, 3),
        records_per_second=round(len(task.x_test) / max(predict_s, 1e-9), 1),
    )
    return CodingResult(model, report, y_pred, proba, classes, fit_s, predict_s)


def predictions_frame(
    task: CodingTask, result: CodingResult, *, top: int = 5
) -> pd.DataFrame:
    """Test-set predictions as a table: id, predicted code, confidence and the top codes.

    Examples
    --------
    >>> task = load_coding_task("ecoicop")
    >>> task.x_train, task.y_train = task.x_train[:300], task.y_train[:300]
    >>> result = fit_and_evaluate(task, "complement_nb")
    >>> list(predictions_frame(task, result, top=2).columns)
    ['record_id', 'predicted', 'confidence', 'code_1', 'proba_1', 'code_2', 'proba_2']
    """
    k = min(top, result.proba.shape[1])
    order = np.argsort(-result.proba, axis=1, kind="stable")[:, :k]
    frame = pd.DataFrame(
        {
            "record_id": task.ids_test,
            "predicted": result.y_pred,
            # Full precision: the leaderboard recomputes every metric from these values,
            # and rounding would create ties that change top-k and automation rates.
            "confidence": result.confidence,
        }
    )
    for rank in range(k):
        frame[f"code_{rank + 1}"] = result.classes[order[:, rank]]
        frame[f"proba_{rank + 1}"] = np.take_along_axis(
            result.proba, order[:, rank : rank + 1], axis=1
        ).ravel()
    return frame


def save_predictions(predictions: pd.DataFrame, run_dir: Any = None) -> list[Any]:
    """Write test-set predictions into the run folder as Parquet and CSV, atomically.

    Parameters
    ----------
    predictions : DataFrame
        From :func:`predictions_frame`.
    run_dir : path-like, default=None
        The run folder; None uses the current sweep's (``SQUAD_RUN_DIR``). Outside a sweep
        nothing is written.

    Returns
    -------
    list of pathlib.Path
        The files written (empty outside a sweep).
    """
    from pathlib import Path

    from squad._atomic import atomic_path
    from squad.records import current_run_dir

    folder = Path(run_dir) if run_dir is not None else current_run_dir()
    if folder is None:
        return []
    written = []
    for name, write in (
        ("predictions.parquet", lambda p: predictions.to_parquet(p, index=False)),
        ("predictions.csv", lambda p: predictions.to_csv(p, index=False)),
    ):
        with atomic_path(folder / name) as tmp:
            write(tmp)
        written.append(folder / name)
    return written
