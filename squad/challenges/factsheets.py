"""A team's fact sheet: how it made its predictions, and where its code is.

A phase of the challenge file with ``fact_sheet: true`` (usually the final one) takes
submissions only from teams that have filled one in. The final board shows each
team's sheet once the challenge has closed; until then only the team and the
organisers see it. What a participant types is checked here and escaped where it is
shown; a code link must be an ``http``/``https`` address, so that no page links to
``javascript:`` or a local file.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from squad.errors import InvalidInputError

__all__ = [
    "MAX_CODE_URL",
    "MAX_METHOD",
    "MIN_METHOD",
    "FactSheetFields",
    "check_fact_sheet",
    "is_web_link",
]

#: Shortest and longest method description, in characters.
MIN_METHOD, MAX_METHOD = 20, 2000
#: Longest code link, in characters.
MAX_CODE_URL = 300


@dataclass(frozen=True)
class FactSheetFields:
    """A checked fact sheet."""

    method: str
    code_url: str


def is_web_link(url: str) -> bool:
    """Whether ``url`` is an absolute ``http`` or ``https`` address with a host.

    Examples
    --------
    >>> is_web_link("https://github.com/office/model"), is_web_link("javascript:x")
    (True, False)
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def check_fact_sheet(method: str, code_url: str) -> FactSheetFields:
    """Check a fact sheet as typed into its form.

    Parameters
    ----------
    method : str
        How the predictions were made (``MIN_METHOD`` to ``MAX_METHOD`` characters).
    code_url : str
        Where the code is: an ``http(s)`` address of at most ``MAX_CODE_URL``
        characters.

    Returns
    -------
    FactSheetFields
        The fields, stripped, line ends made ``\\n``.

    Raises
    ------
    InvalidInputError
        Naming the field that is wrong and what it needs.

    Examples
    --------
    >>> check_fact_sheet("TF-IDF of the titles, linear SVM", "https://git.example/m")
    FactSheetFields(method='TF-IDF of the titles, linear SVM', code_url='https://git.example/m')
    """
    method = str(method).replace("\r\n", "\n").replace("\r", "\n").strip()
    code_url = str(code_url).strip()
    if not MIN_METHOD <= len(method) <= MAX_METHOD:
        msg = (
            f"Describe the method in {MIN_METHOD} to {MAX_METHOD} characters "
            f"(this has {len(method)})."
        )
        raise InvalidInputError(msg)
    if any(not ch.isprintable() and ch not in "\n\t" for ch in method):
        raise InvalidInputError("The method holds control characters; remove them.")
    if len(code_url) > MAX_CODE_URL or not is_web_link(code_url):
        msg = (
            "Give the code's address as an http:// or https:// link of at most "
            f"{MAX_CODE_URL} characters."
        )
        raise InvalidInputError(msg)
    return FactSheetFields(method, code_url)
