"""A short model card for an official-statistics algorithm.

The card follows the quality dimensions of the HLG-MOS Quality Framework for Statistical
Algorithms: accuracy, timeliness, reproducibility, cost-effectiveness and
explainability. Figures come from the evaluation reports (:func:`squad.evaluation.metrics.coding_report`,
:func:`squad.evaluation.metrics.imputation_report`) and from the caller's own timings; cost and
explainability are notes the caller writes. Re-exported by :mod:`squad.evaluation.metrics`.
"""

from __future__ import annotations

import math
import numbers
import os
import platform
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from squad._atomic import atomic_write_json, atomic_write_text
from squad.errors import InvalidInputError

__all__ = ["DEFAULT_PACKAGES", "Scorecard", "scorecard"]

#: Packages whose versions a scorecard records unless told otherwise.
DEFAULT_PACKAGES = ("squad", "numpy", "pandas", "scikit-learn")

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_SECTIONS = (
    ("accuracy", "Accuracy"),
    ("timeliness", "Timeliness"),
    ("reproducibility", "Reproducibility"),
    ("cost", "Cost-effectiveness"),
    ("explainability", "Explainability"),
)


def _scalar(value: Any) -> Any:
    """Return a JSON-friendly scalar (numpy scalars unwrapped, NaN as None)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value)) if value else "none"
    return str(value)


def _table(rows: Mapping[str, Any]) -> str:
    lines = ["| figure | value |", "| --- | --- |"]
    lines += [f"| {key} | {_fmt(value)} |" for key, value in rows.items()]
    return "\n".join(lines)


@dataclass
class Scorecard:
    """A model card: quality figures of one model on one dataset.

    Build it with :func:`scorecard`; render it with :meth:`to_dict` or
    :meth:`to_markdown`, or write it with :meth:`save`.

    Attributes
    ----------
    model : str
        Name of the model.
    accuracy : dict
        Scalar figures from the evaluation reports.
    timeliness : dict
        ``fit_seconds``, ``predict_seconds``, ``n_predicted``, ``records_per_second``.
    reproducibility : dict
        ``seed``, ``dataset``, ``dataset_sha256``, ``python``, ``platform`` and
        ``packages`` (name to version).
    cost : str or None
        The caller's note on cost-effectiveness.
    explainability : str or None
        The caller's note on explainability.
    notes : str or None
        Anything else.

    Examples
    --------
    >>> card = scorecard("majority", report={"accuracy": 0.5})
    >>> card.accuracy
    {'accuracy': 0.5}
    """

    model: str
    accuracy: dict[str, Any] = field(default_factory=dict)
    timeliness: dict[str, Any] = field(default_factory=dict)
    reproducibility: dict[str, Any] = field(default_factory=dict)
    cost: str | None = None
    explainability: str | None = None
    notes: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the card as a JSON-friendly dict (NaN becomes None).

        Returns
        -------
        dict
            Keys ``model``, ``framework``, ``accuracy``, ``timeliness``,
            ``reproducibility``, ``cost``, ``explainability`` and ``notes``.

        Examples
        --------
        >>> sorted(scorecard("m").to_dict())  # doctest: +NORMALIZE_WHITESPACE
        ['accuracy', 'cost', 'explainability', 'framework', 'model', 'notes',
         'reproducibility', 'timeliness']
        """
        return {
            "model": self.model,
            "framework": "HLG-MOS Quality Framework for Statistical Algorithms",
            "accuracy": dict(self.accuracy),
            "timeliness": dict(self.timeliness),
            "reproducibility": {
                **self.reproducibility,
                "packages": dict(self.reproducibility.get("packages", {})),
            },
            "cost": self.cost,
            "explainability": self.explainability,
            "notes": self.notes,
        }

    def to_markdown(self) -> str:
        """Render the card as Markdown, one section per quality dimension.

        Returns
        -------
        str
            A level-1 title and a level-2 section per dimension.

        Examples
        --------
        >>> text = scorecard("m", report={"accuracy": 0.75}).to_markdown()
        >>> print(text.splitlines()[0])
        # Scorecard: m
        >>> "| accuracy | 0.75 |" in text
        True
        """
        parts = [
            f"# Scorecard: {self.model}",
            "",
            "Quality dimensions of the HLG-MOS Quality Framework for Statistical "
            "Algorithms.",
        ]
        for attr, title in _SECTIONS:
            parts += ["", f"## {title}", ""]
            value = getattr(self, attr)
            if attr == "reproducibility":
                rows = {k: v for k, v in value.items() if k != "packages"}
                rows.update(
                    {f"version of {k}": v for k, v in value.get("packages", {}).items()}
                )
                parts.append(_table(rows))
            elif isinstance(value, dict):
                parts.append(_table(value) if value else "Not reported.")
            else:
                parts.append(value if value else "Not stated.")
        if self.notes:
            parts += ["", "## Notes", "", self.notes]
        return "\n".join(parts) + "\n"

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the card atomically: JSON for a ``.json`` path, Markdown otherwise.

        Parameters
        ----------
        path : path-like
            Target file; its folder is created if missing.

        Returns
        -------
        pathlib.Path
            The path written.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> scorecard("m").save(folder / "card.md").read_text().startswith("# Scorecard")
        True
        """
        target = Path(path)
        if target.suffix.lower() == ".json":
            return atomic_write_json(target, self.to_dict())
        return atomic_write_text(target, self.to_markdown())


def _seconds(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or value < 0:
        msg = f"{name} must be a number of seconds >= 0; received {value!r}."
        raise InvalidInputError(msg)
    return float(value)


def _package_versions(packages: Sequence[str]) -> dict[str, str]:
    versions = {}
    for name in packages:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def scorecard(
    model: str,
    *,
    report: Mapping[str, Any] | None = None,
    dataset: str | None = None,
    dataset_sha256: str | None = None,
    seed: int | None = None,
    fit_seconds: float | None = None,
    predict_seconds: float | None = None,
    n_predicted: int | None = None,
    packages: Sequence[str] = DEFAULT_PACKAGES,
    cost: str | None = None,
    explainability: str | None = None,
    notes: str | None = None,
) -> Scorecard:
    """Build a model card in the spirit of the HLG-MOS quality framework.

    Parameters
    ----------
    model : str
        Name of the model.
    report : mapping, default=None
        Evaluation figures, e.g. :func:`squad.evaluation.metrics.coding_report`; its scalar
        entries (numbers, strings, None) become the accuracy section.
    dataset : str, default=None
        Dataset name, e.g. ``"soc2010"``.
    dataset_sha256 : str, default=None
        Checksum of the data used (``squad.data.datasets.dataset_checksum(name)``).
    seed : int, default=None
        Random seed of the run.
    fit_seconds, predict_seconds : float, default=None
        Wall-clock times of training and prediction.
    n_predicted : int, default=None
        Records predicted in ``predict_seconds`` (gives records per second).
    packages : sequence of str, default=("squad", "numpy", "pandas", "scikit-learn")
        Distributions whose installed versions are recorded.
    cost, explainability, notes : str, default=None
        The caller's notes for those dimensions.

    Returns
    -------
    Scorecard
        The card; see :meth:`Scorecard.to_markdown` and :meth:`Scorecard.to_dict`.

    Raises
    ------
    ValueError
        On negative or non-numeric timings, a negative ``n_predicted``, or a
        ``dataset_sha256`` that is not 64 hexadecimal characters.

    Examples
    --------
    >>> card = scorecard("tfidf-logreg", report={"accuracy": 0.8, "n": 10},
    ...                  dataset="soc2010", seed=0, predict_seconds=2.0, n_predicted=10,
    ...                  packages=["numpy"])
    >>> card.timeliness["records_per_second"]
    5.0
    >>> sorted(card.reproducibility["packages"])
    ['numpy']
    """
    accuracy = {}
    for key, value in (report or {}).items():
        value = _scalar(value)
        if value is None or isinstance(value, numbers.Real | str):
            accuracy[str(key)] = value
    fit = _seconds(fit_seconds, "fit_seconds")
    predict = _seconds(predict_seconds, "predict_seconds")
    if n_predicted is not None and (
        isinstance(n_predicted, bool)
        or not isinstance(n_predicted, numbers.Integral)
        or n_predicted < 0
    ):
        msg = f"n_predicted must be an integer >= 0; received {n_predicted!r}."
        raise InvalidInputError(msg)
    rate = None
    if predict and n_predicted is not None:
        rate = n_predicted / predict
    if dataset_sha256 is not None and not _SHA256.match(str(dataset_sha256).lower()):
        msg = (
            f"dataset_sha256 must be 64 hexadecimal characters; received "
            f"{dataset_sha256!r}. Use squad.data.datasets.dataset_checksum(name)."
        )
        raise InvalidInputError(msg)
    return Scorecard(
        model=str(model),
        accuracy=accuracy,
        timeliness={
            "fit_seconds": fit,
            "predict_seconds": predict,
            "n_predicted": None if n_predicted is None else int(n_predicted),
            "records_per_second": rate,
        },
        reproducibility={
            "seed": seed,
            "dataset": dataset,
            "dataset_sha256": None
            if dataset_sha256 is None
            else str(dataset_sha256).lower(),
            "python": platform.python_version(),
            "platform": platform.platform(terse=True),
            "packages": _package_versions(packages),
        },
        cost=cost,
        explainability=explainability,
        notes=notes,
    )
