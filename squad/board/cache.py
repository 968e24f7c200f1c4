"""A cache of scoring results, one entry per run, keyed by what the score depends on.

Scoring a run (:func:`squad.board.scoring.score_run`) reads its predictions and the shared
labels and recomputes every metric: tens of milliseconds a run, minutes for a board of a
thousand. The result depends only on the predictions file, the dataset's content, the
protocol and language the record names, and the scoring code; the key is the sha256 of
those, so a run whose predictions or data change is scored again, and a board rebuilt
after one new run scores only that run.

Entries are small JSON files under ``<data home>/board-scores/`` (see
:func:`squad.get_data_home`), written atomically; an unreadable entry is a miss.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from squad import __version__
from squad._atomic import atomic_write_json, file_sha256

__all__ = ["SCORING_VERSION", "MemoryScoreCache", "ScoreCache"]

logger = logging.getLogger("squad")

#: Bump when scoring changes what it computes: every cached score is then recomputed.
SCORING_VERSION = 2


class ScoreCache:
    """Scoring results on disk, keyed by sha256 of predictions, dataset and scoring code.

    Parameters
    ----------
    folder : path-like, default=None
        Where entries live; default ``<data home>/board-scores``.
    data_home : path-like, default=None
        See :func:`squad.get_data_home`.

    Examples
    --------
    >>> import tempfile
    >>> cache = ScoreCache(tempfile.mkdtemp())
    >>> cache.get("0" * 64) is None
    True
    """

    def __init__(
        self,
        folder: str | os.PathLike[str] | None = None,
        *,
        data_home: str | os.PathLike[str] | None = None,
    ) -> None:
        if folder is None:
            from squad.data.datasets import get_data_home

            folder = get_data_home(data_home) / "board-scores"
        self.folder = Path(folder)
        self.data_home = data_home
        self.hits = 0
        self.misses = 0
        self._datasets: dict[str, str] = {}
        self._read: dict[str, dict[str, Any]] = {}

    def dataset_sha256(self, name: str) -> str:
        """The content checksum of dataset ``name`` (looked up once per cache)."""
        if name not in self._datasets:
            from squad.data.datasets import dataset_checksum

            self._datasets[name] = dataset_checksum(name, data_home=self.data_home)
        return self._datasets[name]

    def key(
        self,
        predictions: Path,
        dataset: str,
        protocol: str | None,
        language: str | None,
        *,
        sha256: str | None = None,
    ) -> str:
        """The entry's key: sha256 of the predictions, the dataset and the scoring.

        ``sha256`` is the predictions file's, when already known (checked).
        """
        parts = [
            sha256 or file_sha256(predictions),
            self.dataset_sha256(dataset),
            dataset,
            protocol or "",
            language or "",
            str(SCORING_VERSION),
            __version__,
        ]
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        """The entry for ``key``, or None (counted as a hit or a miss)."""
        if key in self._read:  # asked again in the same build
            self.hits += 1
            return self._read[key]
        try:
            entry = json.loads(self._path(key).read_text("utf-8"))
        except (OSError, ValueError):
            entry = None
        if not isinstance(entry, dict) or not (
            (isinstance(entry.get("metrics"), dict) and "digest" in entry)
            or "reason" in entry
        ):
            self.misses += 1
            return None
        self.hits += 1
        self._read[key] = entry
        return entry

    def put(self, key: str, entry: dict[str, Any]) -> None:
        """Store ``entry`` (JSON data) under ``key``; a failed write only logs."""
        try:
            atomic_write_json(self._path(key), entry)
        except OSError as err:
            logger.warning("Cannot write the scoring cache in %s: %s", self.folder, err)


class MemoryScoreCache(ScoreCache):
    """A :class:`ScoreCache` held in memory only, for one build without a disk cache.

    Parallel scoring (:mod:`squad.board.prescore`) hands its results to the build
    through it when ``--no-cache`` is given.

    Examples
    --------
    >>> cache = MemoryScoreCache()
    >>> cache.put("k", {"reason": "bad"}); cache.get("k")
    {'reason': 'bad'}
    """

    def __init__(self, *, data_home: str | os.PathLike[str] | None = None) -> None:
        super().__init__(Path("."), data_home=data_home)
        self._entries: dict[str, dict[str, Any]] = {}

    def get(self, key: str) -> dict[str, Any] | None:
        """The entry for ``key``, or None (counted as a hit or a miss)."""
        entry = self._entries.get(key)
        if entry is None:
            self.misses += 1
        else:
            self.hits += 1
        return entry

    def put(self, key: str, entry: dict[str, Any]) -> None:
        """Keep ``entry`` under ``key`` for this process."""
        self._entries[key] = entry
