"""Builders turn a card's verified source files into the dataset's tables.

Each builder is a function ``build(card, sources) -> dict[str, DataFrame]`` returning at least
the table ``"data"`` (with one ``split:<protocol>`` column per split protocol) and optionally
more tables (``"hierarchy"``). ``VERSION`` is bumped whenever a builder's output changes, so
that caches built by the old code are rebuilt.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from importlib import import_module
from pathlib import Path
from typing import Any

import pandas as pd

from squad.errors import InvalidInputError

__all__ = ["BUILDERS", "get_builder", "builder_version"]

#: builder name -> module defining ``build`` and ``VERSION``.
BUILDERS: dict[str, str] = {
    "soc2010": "squad.data.builders.soc2010",
    "ecoicop": "squad.data.builders.ecoicop",
    "lfs_synthetic": "squad.data.builders.lfs",
    "lfs_synthetic_missing": "squad.data.builders.lfs",
    "table": "squad.data.builders.table",
}

Builder = Callable[[Any, dict], dict[str, pd.DataFrame]]


def _module(name: str):
    if name not in BUILDERS:
        raise InvalidInputError(
            f"Unknown builder '{name}'. Known builders: {', '.join(sorted(BUILDERS))}. "
            f"Use 'table' for a CSV or Parquet file of your own."
        )
    return import_module(BUILDERS[name])


def get_builder(name: str) -> Builder:
    """Return the build function registered as ``name``."""
    module = _module(name)
    return getattr(module, f"build_{name}", None) or module.build


def builder_version(name: str) -> str:
    """Return the version of the builder ``name``: part of every cache key.

    It joins the builder's declared ``VERSION`` with a hash of its source file (and of the
    split code), so that a cache made by older code is rebuilt even if nobody bumped it.
    """
    module = _module(name)
    digest = hashlib.sha256()
    for path in (Path(module.__file__), Path(__file__).parent.parent / "splits.py"):
        digest.update(path.read_bytes())
    return f"{name}:{module.VERSION}:{digest.hexdigest()[:12]}"
