"""The unit of the board: a task, i.e. a dataset with fixed splits and a language.

Scores on different datasets, split protocols or languages do not compare (OpenML's
notion of a *task*: the same data, the same splits, the same target). Every ranking,
table and plot of the board is per task; runs are never ranked across tasks.

A run's task comes from what its record says of the data it used: ``provenance.dataset``
(``name``, ``protocol``, ``language``, as recorded by ``notebooks/coding.ipynb`` and
``squad submit``), else its ``dataset``/``protocol``/``language`` parameters. An empty
protocol is the dataset's default (from its card); the language counts only for datasets
with several (ECOICOP; default ``pl``). A run that names no dataset forms a task with the
other runs of its experiment.

On a coding dataset without languages (``soc2010``) a ``language`` parameter does not
apply: ``squad run`` records it as None, and :func:`shown_parameters` shows a record that
carries a language there (the notebook's default ``pl``, which the dataset ignores) the
same way, so that such runs share one task and one table column.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from squad.records import RunRecord

__all__ = ["Task", "shown_parameters", "task_of"]


@dataclass(frozen=True, order=True)
class Task:
    """A dataset (or, for runs that name none, an experiment), protocol and language."""

    name: str
    protocol: str = ""
    language: str = ""

    @property
    def label(self) -> str:
        """Human-readable name, e.g. ``ecoicop · grouped · pl``."""
        return " · ".join(p for p in (self.name, self.protocol, self.language) if p)

    @property
    def key(self) -> str:
        """Name for ``--task``, e.g. ``ecoicop/grouped/pl``."""
        return "/".join(p for p in (self.name, self.protocol, self.language) if p)

    @property
    def slug(self) -> str:
        """A file-name-safe, unique name for the task's page."""
        text = re.sub(r"[^a-z0-9]+", "-", self.key.lower()).strip("-")[:60]
        digest = hashlib.sha256(self.key.encode()).hexdigest()[:8]
        return f"{text or 'task'}-{digest}"

    def matches(self, text: str) -> bool:
        """Whether ``text`` (a key, a label, or a key's prefix) names this task.

        Examples
        --------
        >>> Task("soc2010", "stratified").matches("soc2010")
        True
        """
        text = text.strip().replace(" · ", "/")
        return self.key == text or self.key.startswith(text.rstrip("/") + "/")


@functools.lru_cache(maxsize=64)
def _default_protocol(dataset: str) -> str:
    from squad.data.catalogue import read_cards

    card = read_cards().get(dataset)
    return card.default_protocol if card is not None else ""


def _has_languages(dataset: str) -> bool:
    from squad.board.predictions import SCORED_DATASETS

    return "languages" in SCORED_DATASETS.get(dataset, {})


def _language_applies(dataset: str) -> bool:
    """False for a coding dataset without languages; other datasets' notebooks may give
    ``language`` a meaning of their own."""
    from squad.board.predictions import SCORED_DATASETS

    return dataset not in SCORED_DATASETS or _has_languages(dataset)


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _parts(record: RunRecord) -> tuple[str, Mapping, Mapping]:
    """The dataset a record names ("" if none), its data provenance and parameters."""
    data, params = record.dataset, record.parameters
    return _text(data.get("name")) or _text(params.get("dataset")), data, params


def shown_parameters(record: RunRecord) -> dict[str, Any]:
    """Return a record's parameters as the board shows them.

    ``language`` is None where it does not apply (a coding dataset without languages),
    as ``squad run`` records it, whatever the record says (a record made by hand or by
    another tool may carry the notebook's default ``pl``, which the dataset ignores).

    Examples
    --------
    >>> def rec(**params):
    ...     return RunRecord("coding", "a1", params, {}, "ok")
    >>> shown_parameters(rec(dataset="soc2010", language="pl"))
    {'dataset': 'soc2010', 'language': None}
    >>> shown_parameters(rec(dataset="ecoicop", language="en"))
    {'dataset': 'ecoicop', 'language': 'en'}
    """
    dataset, _, params = _parts(record)
    shown = dict(params)
    if dataset and shown.get("language") is not None and not _language_applies(dataset):
        shown["language"] = None
    return shown


def task_of(record: RunRecord) -> Task:
    """Return the task of a (validated) run record.

    Examples
    --------
    >>> task_of(RunRecord("coding", "a1", {"dataset": "soc2010"}, {}, "ok")).label
    'soc2010 · stratified'
    >>> task_of(RunRecord("ok", "a1", {"x": 1}, {}, "ok")).key
    'ok'
    """
    dataset, data, params = _parts(record)
    if not dataset:
        return Task(str(record.experiment or "runs"))
    protocol = (
        _text(data.get("protocol"))
        or _text(params.get("protocol"))
        or _default_protocol(dataset)
    )
    language = ""
    if _has_languages(dataset):
        language = _text(data.get("language")) or _text(params.get("language")) or "pl"
    return Task(dataset, protocol, language)
