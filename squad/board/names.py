"""Members' names as the board shows and compares them.

A name reaches the board from a group's signers file (the principal its line gives a
key) or, without one, from the text a record typed. Either way:

- :func:`normalize_name` applies Unicode NFKC (``ａｌｉｃｅ`` and ``alice`` are one
  name) and trims the ends;
- :func:`display_name` is the normalised name with every invisible, control or
  bidirectional character shown as a visible escape (``alice\\u200b``), so two names
  never print alike unless they are the same name;
- :func:`name_skeleton` is the Unicode TR39 "skeleton" of a name: default-ignorable
  characters removed and every character replaced by the prototype of its confusable
  class (Cyrillic ``а`` and Latin ``a``; ``rn`` and ``m``; ``I``, ``l`` and ``1``), from
  the data of the ``confusable-homoglyphs`` package (Unicode's ``confusables.txt``);
- :func:`confusable_groups` finds the names that are different but share a skeleton
  (also ignoring case): they look alike, and the board flags them.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Iterable

from squad.board.safety import visible

__all__ = [
    "confusable_groups",
    "display_name",
    "name_skeleton",
    "normalize_name",
]

#: Default_Ignorable_Code_Point characters that are not of category Cf (which holds
#: the rest: soft hyphen, zero-width characters, bidirectional controls, ...).
_IGNORABLE_RANGES = (
    (0x034F, 0x034F),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFFA0, 0xFFA0),
    (0xE0000, 0xE0FFF),
)
_MARKS = "\u200e\u200f"  # the package wraps right-to-left glyphs in these


def normalize_name(name: str) -> str:
    """The NFKC form of ``name``, without leading or trailing white space.

    Examples
    --------
    >>> normalize_name("  ａｌｉｃｅ ")
    'alice'
    """
    return unicodedata.normalize("NFKC", str(name)).strip()


def display_name(name: str) -> str:
    """``name`` normalised, with invisible and control characters as visible escapes.

    Examples
    --------
    >>> display_name("alice\\u200b")
    'alice\\\\u200b'
    >>> display_name("\\u202eecila")
    '\\\\u202eecila'
    """
    return visible(normalize_name(name))


def _ignorable(ch: str) -> bool:
    if unicodedata.category(ch) == "Cf":
        return True
    code = ord(ch)
    return any(low <= code <= high for low, high in _IGNORABLE_RANGES)


@functools.lru_cache(maxsize=1)
def _prototypes() -> dict[str, str]:
    """Character -> prototype of its confusable class (only characters that change)."""
    from confusable_homoglyphs.confusables import confusables_data

    def clean(text: str) -> str:
        return "".join(ch for ch in text if ch not in _MARKS)

    links = {
        clean(key): [clean(entry["c"]) for entry in entries]
        for key, entries in confusables_data.items()
    }
    out: dict[str, str] = {}
    for char, others in links.items():
        if len(char) != 1 or len(others) != 1:
            continue  # a prototype lists every character that maps to it
        other = others[0]
        if len(other) != 1 or len(links.get(other, ())) > 1:
            out[char] = other  # ``other`` is the prototype
        elif other < char:  # two characters, only each other: the smaller one
            out[char] = other
    return out


def name_skeleton(name: str) -> str:
    """The TR39 skeleton of ``name`` (NFKC first): equal skeletons look alike.

    Examples
    --------
    >>> name_skeleton("\\u0430lice") == name_skeleton("alice")  # Cyrillic a
    True
    >>> name_skeleton("alice\\u200b") == name_skeleton("alice")
    True
    >>> name_skeleton("bob") == name_skeleton("alice")
    False
    """
    table = _prototypes()
    text = unicodedata.normalize("NFD", normalize_name(name))
    mapped = "".join(table.get(ch, ch) for ch in text if not _ignorable(ch))
    return unicodedata.normalize("NFD", mapped)


def _visual(name: str) -> str:
    """``name`` in the order a right-to-left override (U+202E) shows it, roughly.

    Text after an override, up to the pop (U+202C) or the end, is drawn reversed.
    """
    out, segment, reversing = [], [], False
    for ch in name:
        if ch == "\u202e":
            out.extend(reversed(segment) if reversing else segment)
            segment, reversing = [], True
        elif ch == "\u202c" and reversing:
            out.extend(reversed(segment))
            segment, reversing = [], False
        else:
            segment.append(ch)
    out.extend(reversed(segment) if reversing else segment)
    return "".join(out)


def _keys(name: str) -> set[str]:
    shown = {name, _visual(name)}
    return {name_skeleton(n) for n in shown} | {
        "casefold:" + name_skeleton(n.casefold()) for n in shown
    }


def confusable_groups(names: Iterable[str]) -> list[list[str]]:
    """Groups of different names that look alike (same skeleton, or same ignoring case).

    A right-to-left override counts as the reversed text it shows.

    Parameters
    ----------
    names : iterable of str
        Names as the board has them (normalised or not).

    Returns
    -------
    list of list of str
        Each group sorted, of at least two distinct normalised names; groups sorted.

    Examples
    --------
    >>> confusable_groups(["alice", "\\u0430lice", "bob", "Bob", "carol"])
    [['Bob', 'bob'], ['alice', 'аlice']]
    >>> len(confusable_groups(["alice", "\\u202eecila"]))
    1
    """
    unique = sorted({normalize_name(n) for n in names})
    parent = {n: n for n in unique}

    def root(n: str) -> str:
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    first: dict[str, str] = {}
    for n in unique:
        for key in _keys(n):
            if key in first:
                parent[root(n)] = root(first[key])
            else:
                first[key] = n
    groups: dict[str, list[str]] = {}
    for n in unique:
        groups.setdefault(root(n), []).append(n)
    return sorted(sorted(g) for g in groups.values() if len(g) > 1)
