"""Text from run folders made safe to print, and the checks on a record's strings.

Everything in a run folder is untrusted, including the text the board prints to a
terminal or a log: a model name holding ``ESC [2J`` clears the screen, an OSC sequence
sets the window title (also through a pipe: click strips colours, not OSC), a newline in
a member name forges a line of ``squad board check``'s output, and a right-to-left
override or a zero-width space makes one name look like another.

:func:`visible` shows every character that is not printable as a visible escape
(``\\x1b``, ``\\n``, ``\\u202e``, ``\\u200b``, ``\\ud800``): C0 and C1 controls, escape,
delete, format characters (bidirectional controls, zero-width characters), line and
paragraph separators, lone surrogates, private-use and unassigned code points, and
spaces other than the ASCII one. :func:`one_line` does the same and shortens the text.
Both are idempotent: what they return is printable ASCII-safe text that they leave as it
is.

:func:`find_surrogate` finds a lone surrogate (JSON allows ``"\\ud800"``; no UTF-8
file, page or Parquet column can hold one) anywhere in a record, without recursion.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["find_surrogate", "json_depth", "one_line", "visible"]

_SURROGATE = re.compile("[\ud800-\udfff]")


def visible(text: Any) -> str:
    """``text`` with every non-printable character shown as a visible escape.

    Parameters
    ----------
    text : object
        Converted with ``str``.

    Returns
    -------
    str
        Printable text: one line, no escape sequence, no bidirectional control.

    Examples
    --------
    >>> visible("alice\\u200b\\x1b]0;owned\\x07")
    'alice\\\\u200b\\\\x1b]0;owned\\\\x07'
    >>> visible("Zoë O'Brien")
    "Zoë O'Brien"
    """
    text = str(text)
    if text.isprintable():
        return text
    return "".join(
        ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii")
        for ch in text
    )


def one_line(text: Any, limit: int = 300) -> str:
    """``text`` as one printable line (see :func:`visible`), shortened to ``limit``.

    Examples
    --------
    >>> one_line("a\\nb\\x1b[31m")
    'a\\\\nb\\\\x1b[31m'
    >>> one_line("x" * 10, limit=8)
    'xxxxx...'
    """
    out = visible(text)
    return out if len(out) <= limit else out[: limit - 3] + "..."


def json_depth(data: Any) -> int:
    """How deeply lists and dicts nest in ``data`` (0 for a scalar), without recursion.

    Examples
    --------
    >>> json_depth({"a": [1, {"b": 2}]}), json_depth(3)
    (3, 0)
    """
    deepest = 0
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, Mapping):
            depth += 1
            stack.extend((inner, depth) for inner in value.values())
        elif isinstance(value, list):
            depth += 1
            stack.extend((inner, depth) for inner in value)
        deepest = max(deepest, depth)
    return deepest


def find_surrogate(data: Any) -> str | None:
    """Where in ``data`` (JSON data) a string or key holds a lone surrogate, or None.

    Walks the data with a stack, not recursion, so any depth the JSON reader accepted
    is fine.

    Returns
    -------
    str or None
        The path, e.g. ``provenance/member``, or ``the top level``.

    Examples
    --------
    >>> find_surrogate({"provenance": {"member": "al\\ud800ice"}})
    'provenance/member'
    >>> find_surrogate({"a": ["ok", 1, None]}) is None
    True
    """
    # Each entry holds its place as a link to its parent's: no path is copied.
    stack: list[tuple[Any, tuple | None]] = [(data, None)]
    while stack:
        value, place = stack.pop()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                return _path(place)
        elif isinstance(value, Mapping):
            for key, inner in value.items():
                where = (place, visible(key)[:60])
                if isinstance(key, str) and _SURROGATE.search(key):
                    return _path(where) + " (a key)"
                stack.append((inner, where))
        elif isinstance(value, list):
            stack.extend((inner, (place, str(i))) for i, inner in enumerate(value))
    return None


def _path(place: tuple | None, limit: int = 20) -> str:
    parts = []
    while place is not None:
        place, key = place
        parts.append(key)
    parts.reverse()
    if len(parts) > limit:
        parts = [*parts[: limit // 2], "...", *parts[-limit // 2 :]]
    return "/".join(parts) or "the top level"
