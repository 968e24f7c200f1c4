"""Load the squad's shared datasets: same rows, same split, checksum-verified, everywhere.

The public functions read the catalogue of cards (``datasets/*.yml``), build a dataset from its
verified source files the first time it is asked for, cache the result as Parquet under the data
home, and return pandas DataFrames. A cache entry is keyed by the card's bytes and the builder's
version, so a changed card or builder is rebuilt; each cached file's sha256 is checked on load.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

import pandas as pd
import platformdirs

from squad._atomic import atomic_path, atomic_write_json
from squad.data.builders import builder_version, get_builder
from squad.data.catalogue import Card, CardError, DatasetNotFoundError, read_cards
from squad.data.sources import ChecksumError, SourceError, file_sha256, resolve_sources
from squad.errors import InvalidInputError

__all__ = [
    "CardError",
    "ChecksumError",
    "DatasetNotFoundError",
    "SourceError",
    "dataset_checksum",
    "dataset_info",
    "get_data_home",
    "list_datasets",
    "load_dataset",
    "load_hierarchy",
]

log = logging.getLogger("squad")

_SPLIT_PREFIX = "split:"


def get_data_home(data_home: str | os.PathLike[str] | None = None) -> Path:
    """Return the folder where built datasets and downloads are cached.

    Parameters
    ----------
    data_home : path-like, default=None
        An explicit folder. Otherwise ``SQUAD_DATA_HOME``, otherwise the platform's user cache
        folder (``platformdirs.user_cache_dir("squad")``).

    Returns
    -------
    pathlib.Path
        The folder; created if missing.

    Examples
    --------
    >>> import tempfile
    >>> get_data_home(tempfile.mkdtemp()).is_dir()
    True
    """
    chosen = (
        data_home
        or os.environ.get("SQUAD_DATA_HOME")
        or platformdirs.user_cache_dir("squad")
    )
    path = Path(chosen).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def _card(name: str) -> Card:
    cards = read_cards()
    if name not in cards:
        raise DatasetNotFoundError(
            f"Dataset '{name}' is not in the catalogue. Available: {', '.join(cards) or 'none'}. "
            f"Run `squad datasets list`."
        )
    return cards[name]


def list_datasets() -> list[str]:
    """Return the names of the datasets in the catalogue.

    Examples
    --------
    >>> "soc2010" in list_datasets()
    True
    """
    return list(read_cards())


def _cache_key(card: Card) -> str:
    text = f"{card.fingerprint}|{builder_version(str(card.data['builder']))}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _frame_sha256(frame: pd.DataFrame) -> str:
    """Content hash of a table: column names, dtypes and every value, row order included."""
    digest = hashlib.sha256()
    digest.update(
        json.dumps([[str(c), str(t)] for c, t in frame.dtypes.items()]).encode()
    )
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def _read_meta(entry: Path) -> dict[str, Any] | None:
    try:
        meta = json.loads((entry / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    for table, info in meta.get("tables", {}).items():
        path = entry / f"{table}.parquet"
        if not path.is_file() or file_sha256(path) != info["file_sha256"]:
            log.warning(
                "Cached %s of %s is missing or corrupt; rebuilding",
                path.name,
                meta.get("name"),
            )
            return None
    return meta


def _build(card: Card, entry: Path, data_home: Path) -> dict[str, Any]:
    started = time.perf_counter()
    sources = resolve_sources(card, data_home / "downloads")
    builder = get_builder(str(card.data["builder"]))
    tables = builder(card, sources)
    _check_columns(card, tables["data"])
    meta: dict[str, Any] = {
        "name": card.name,
        "card_sha256": card.fingerprint,
        "builder": builder_version(str(card.data["builder"])),
        "sources": {s["name"]: s["sha256"] for s in card.sources},
        "tables": {},
    }
    for table, frame in tables.items():
        with atomic_path(entry / f"{table}.parquet") as tmp:
            frame.to_parquet(tmp, index=False)
            file_sha = file_sha256(tmp)
        meta["tables"][table] = {
            "file_sha256": file_sha,
            "data_sha256": _frame_sha256(frame),
            "n_rows": len(frame),
        }
    meta["build_seconds"] = round(time.perf_counter() - started, 3)
    atomic_write_json(
        entry / "meta.json", meta
    )  # written last: marks the entry complete
    for stale in entry.parent.iterdir():
        if stale.is_dir() and stale != entry:
            shutil.rmtree(stale, ignore_errors=True)
    log.info("Built dataset %s in %.1f s", card.name, meta["build_seconds"])
    return meta


def _check_columns(card: Card, frame: pd.DataFrame) -> None:
    missing = [
        c for c in card.data["columns"] if c not in frame.columns and c != "split"
    ]
    if missing:
        raise CardError(
            f"Dataset card {card.path}: field 'columns' lists {missing}, which the built table "
            f"does not have. Fix the card or the builder."
        )


def _ensure_built(
    name: str, data_home: str | os.PathLike[str] | None = None
) -> tuple[Card, Path, dict[str, Any]]:
    card = _card(name)
    home = get_data_home(data_home)
    entry = home / card.name / _cache_key(card)
    meta = _read_meta(entry)
    if meta is None:
        meta = _build(card, entry, home)
    return card, entry, meta


def dataset_checksum(
    name: str, *, data_home: str | os.PathLike[str] | None = None
) -> str:
    """Return the sha256 of a dataset's built content (every row, column and split).

    Two machines with the same checksum have the same data. Run ids and run records use it.

    Examples
    --------
    >>> len(dataset_checksum("lfs_synthetic"))
    64
    """
    _, _, meta = _ensure_built(name, data_home)
    return str(meta["tables"]["data"]["data_sha256"])


def dataset_info(
    name: str, *, data_home: str | os.PathLike[str] | None = None
) -> dict[str, Any]:
    """Return a dataset's card with its built figures.

    The dataset is built first if it is not cached.

    Parameters
    ----------
    name : str
        A name from :func:`list_datasets`.
    data_home : path-like, default=None
        See :func:`get_data_home`.

    Returns
    -------
    dict
        The card's fields, plus ``n_rows``, ``checksum`` (sha256 of the built data),
        ``source_sha256`` (by source file), ``protocols`` and ``card_path``.

    Raises
    ------
    DatasetNotFoundError
        If ``name`` is not in the catalogue.

    Examples
    --------
    >>> info = dataset_info("lfs_synthetic")
    >>> info["n_rows"] > 20_000
    True
    """
    card, _, meta = _ensure_built(name, data_home)
    info = dict(card.data)
    info.update(
        n_rows=int(meta["tables"]["data"]["n_rows"]),
        checksum=str(meta["tables"]["data"]["data_sha256"]),
        source_sha256=dict(meta["sources"]),
        protocols=list(card.protocols),
        card_path=str(card.path),
    )
    return info


def load_dataset(
    name: str,
    split: str | None = None,
    *,
    protocol: str | None = None,
    data_home: str | os.PathLike[str] | None = None,
) -> pd.DataFrame:
    """Load a catalogue dataset as a DataFrame, with its fixed split.

    Parameters
    ----------
    name : str
        A name from :func:`list_datasets`.
    split : {None, "train", "test"} or str, default=None
        ``None`` returns every row with a ``split`` column; otherwise only that side
        (``"validation"`` too for protocols that have one).
    protocol : str, default=None
        The split protocol (see the card's ``split.protocols``); ``None`` takes the card's
        default.
    data_home : path-like, default=None
        See :func:`get_data_home`.

    Returns
    -------
    DataFrame
        The rows, in the same order on every machine.

    Raises
    ------
    DatasetNotFoundError
        If ``name`` is not in the catalogue.
    ValueError
        If ``split`` or ``protocol`` is not one the dataset offers.
    ChecksumError, SourceError
        If a source file is corrupt or missing when the dataset must be built.

    Examples
    --------
    >>> test = load_dataset("lfs_synthetic", split="test")
    >>> sorted(test["split"].unique())
    ['test']
    """
    card = _card(name)
    protocol = protocol or card.default_protocol
    if protocol not in card.protocols:
        raise InvalidInputError(
            f"Dataset '{name}' has no split protocol '{protocol}'. "
            f"Available: {', '.join(card.protocols)}."
        )
    card, entry, _ = _ensure_built(name, data_home)
    frame = pd.read_parquet(entry / "data.parquet")
    frame["split"] = frame[_SPLIT_PREFIX + protocol]
    frame = frame.drop(
        columns=[c for c in frame.columns if c.startswith(_SPLIT_PREFIX)]
    )
    if split is not None:
        sides = sorted(frame["split"].unique())
        if split not in sides:
            raise InvalidInputError(
                f"Invalid split '{split}' for dataset '{name}' (protocol '{protocol}'). "
                f"Use one of: {', '.join(sides)}, or no split for all rows."
            )
        frame = frame.loc[frame["split"] == split].reset_index(drop=True)
    return frame


def load_hierarchy(
    name: str, *, data_home: str | os.PathLike[str] | None = None
) -> pd.DataFrame:
    """Load the classification hierarchy of a dataset (codes, levels and titles).

    Raises
    ------
    ValueError
        If the dataset has no hierarchy.

    Examples
    --------
    >>> h = load_hierarchy("soc2010")
    >>> h.groupby("level").size().tolist()
    [9, 25, 90, 369]
    """
    card, entry, meta = _ensure_built(name, data_home)
    if "hierarchy" not in meta["tables"]:
        with_hierarchy = [
            n
            for n, c in read_cards().items()
            if (c.data.get("task") or {}).get("hierarchy")
        ]
        raise InvalidInputError(
            f"Dataset '{name}' has no classification hierarchy. Datasets with one: {', '.join(with_hierarchy)}."
        )
    return pd.read_parquet(entry / "hierarchy.parquet")
