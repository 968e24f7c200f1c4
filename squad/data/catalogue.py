"""The dataset catalogue: one YAML card per dataset, read and validated.

A card is the contract every squad member shares: where the bytes come from and their sha256,
the licence, the columns, the task and how the fixed split is made. Cards live in the kit's
``datasets/`` folder; ``SQUAD_CATALOGUE`` may name more folders (separated by ``os.pathsep``)
holding a member's own cards.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from squad.errors import InvalidInputError, NotFoundError

__all__ = ["Card", "CardError", "DatasetNotFoundError", "catalogue_dirs", "read_cards"]

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_REQUIRED = (
    "name",
    "title",
    "description",
    "licence",
    "provenance",
    "builder",
    "columns",
    "task",
    "split",
)
_SOURCE_KINDS = ("url", "path", "package")


class CardError(InvalidInputError):
    """A dataset card is missing a field or has an invalid one."""


class DatasetNotFoundError(NotFoundError):
    """A dataset name is not in the catalogue."""


@dataclass(frozen=True)
class Card:
    """A validated dataset card.

    Attributes
    ----------
    name : str
        Catalogue name, the file's stem.
    path : pathlib.Path
        The YAML file.
    data : dict
        The card's content as written.
    fingerprint : str
        sha256 of the card file's bytes: a cache built from an older card is stale.
    """

    name: str
    path: Path
    data: dict[str, Any] = field(repr=False)
    fingerprint: str = field(repr=False)

    @property
    def sources(self) -> list[dict[str, Any]]:
        """The source files, each a dict with ``name``, ``sha256`` and one location."""
        return list(self.data.get("sources") or [])

    @property
    def protocols(self) -> dict[str, dict[str, Any]]:
        """Split protocols by name."""
        return dict(self.data["split"]["protocols"])

    @property
    def default_protocol(self) -> str:
        """The protocol used when none is asked for."""
        return str(self.data["split"]["default"])


def catalogue_dirs() -> list[Path]:
    """Return the folders searched for cards: the kit's ``datasets/``, then ``SQUAD_CATALOGUE``.

    Examples
    --------
    >>> catalogue_dirs()[0].name
    'datasets'
    """
    dirs = [Path(__file__).resolve().parents[2] / "datasets"]  # the kit's datasets/
    extra = os.environ.get("SQUAD_CATALOGUE", "")
    dirs += [Path(p).expanduser() for p in extra.split(os.pathsep) if p.strip()]
    return dirs


def _fail(path: Path, field_name: str, problem: str) -> CardError:
    return CardError(
        f"Dataset card {path}: field '{field_name}' {problem}. "
        f"Fix the card (see datasets/README.md for the card format)."
    )


def _validate(path: Path, data: Any) -> None:
    if not isinstance(data, dict):
        raise CardError(f"Dataset card {path} is not a YAML mapping. Fix the card.")
    for key in _REQUIRED:
        if key not in data or data[key] in (None, "", [], {}):
            raise _fail(path, key, "is missing")
    if data["name"] != path.stem:
        raise _fail(
            path, "name", f"is '{data['name']}' but the file is named '{path.stem}.yml'"
        )
    if not isinstance(data["columns"], dict):
        raise _fail(
            path, "columns", "must map each column name to its dtype and meaning"
        )
    for i, source in enumerate(data.get("sources") or []):
        where = f"sources[{i}]"
        if not isinstance(source, dict) or "name" not in source:
            raise _fail(path, where, "must be a mapping with a 'name'")
        sha = str(source.get("sha256", ""))
        if not _SHA256.match(sha):
            raise _fail(
                path, f"{where}.sha256", f"must be 64 lowercase hex digits, got '{sha}'"
            )
        kinds = [k for k in _SOURCE_KINDS if source.get(k)]
        if len(kinds) != 1:
            raise _fail(
                path,
                where,
                f"must give exactly one of url, path, package (got {kinds or 'none'})",
            )
    split = data["split"]
    if (
        not isinstance(split, dict)
        or not isinstance(split.get("protocols"), dict)
        or not split["protocols"]
    ):
        raise _fail(
            path, "split.protocols", "must map each protocol name to its description"
        )
    if split.get("default") not in split["protocols"]:
        raise _fail(
            path,
            "split.default",
            f"must name one of {sorted(split['protocols'])}, got '{split.get('default')}'",
        )


def read_card(path: Path) -> Card:
    """Read and validate one card file.

    Raises
    ------
    CardError
        If the YAML is invalid or a field is missing or wrong.
    """
    raw = path.read_bytes()
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise CardError(
            f"Dataset card {path} is not valid YAML{where}. Fix the card."
        ) from err
    _validate(path, data)
    return Card(
        name=path.stem,
        path=path,
        data=data,
        fingerprint=hashlib.sha256(raw).hexdigest(),
    )


def read_cards() -> dict[str, Card]:
    """Read every card in the catalogue folders; a later folder's card overrides an earlier one.

    Returns
    -------
    dict
        Card by dataset name, sorted by name.
    """
    cards: dict[str, Card] = {}
    for folder in catalogue_dirs():
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.yml")):
            cards[path.stem] = read_card(path)
    return dict(sorted(cards.items()))
