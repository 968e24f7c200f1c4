"""Hidden tests: what a student saw of a test cell, and texts that quote the rest.

A test cell's code between the hidden-test delimiters is removed from the student's
copy by nbgrader's release step, and must not reach them through a results page either.
Hidden tests stay hidden even from student code that tries to carry them out. The
kernel's history and line cache are cleared of them after each test runs (see
:func:`squad.kernels.guard.forget`); what student code could still see while a test ran
(its caller's frame, say) and put in an error message or output is caught here, as the
last line of defence: every text shown from the submission is checked against the
assignment's hidden-test lines (:func:`scrub`), verbatim and with whitespace, quotes
and escapes ignored, and a text that quotes one is withheld.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable

__all__ = [
    "BEGIN_HIDDEN",
    "END_HIDDEN",
    "WITHHELD",
    "assert_messages",
    "hidden_lines",
    "scrub",
    "visible_code",
]

_NOISE = re.compile(r"[\s\\'\"`]+")
#: Hidden-test lines shorter than this (without spaces, quotes and escapes) are too
#: common (``else:``, ``pass``) to withhold a text for.
MIN_HIDDEN_CHARS = 10
WITHHELD = (
    "[withheld: this text quoted hidden test code; ask your instructor to look "
    "at the graded notebook]"
)
BEGIN_HIDDEN = "BEGIN HIDDEN TESTS"
END_HIDDEN = "END HIDDEN TESTS"


def visible_code(
    source: str, begin: str = BEGIN_HIDDEN, end: str = END_HIDDEN
) -> tuple[str, bool]:
    """Remove hidden-test regions from a test cell, as nbgrader's release step does.

    Parameters
    ----------
    source : str
        The test cell's full source (from the gradebook).
    begin, end : str
        The delimiters (``ClearHiddenTests.begin_test_delimeter`` and
        ``end_test_delimeter``).

    Returns
    -------
    code : str
        The lines a student saw.
    hidden : bool
        Whether a hidden region was removed.

    Examples
    --------
    >>> code, hidden = visible_code(
    ...     "assert f(1) == 1\\n### BEGIN HIDDEN TESTS\\nassert f(2) == 4\\n"
    ...     "### END HIDDEN TESTS")
    >>> code, hidden
    ('assert f(1) == 1', True)
    """
    kept, inside, hidden = [], False, False
    for line in source.split("\n"):
        if begin in line:
            inside = hidden = True
        elif end in line:
            inside = False
        elif not inside:
            kept.append(line)
    return "\n".join(kept).rstrip("\n"), hidden


def _squash(text: str) -> str:
    return _NOISE.sub("", text)


def hidden_lines(
    sources: Iterable[str], begin: str = BEGIN_HIDDEN, end: str = END_HIDDEN
) -> list[str]:
    """The hidden-test lines of an assignment that no visible code also has.

    Parameters
    ----------
    sources : iterable of str
        The source of every cell of the assignment (from the gradebook).
    begin, end : str
        Hidden-test delimiters.

    Returns
    -------
    list of str
        Stripped lines, longest first.

    Examples
    --------
    >>> hidden_lines(["x = 1\\n### BEGIN HIDDEN TESTS\\nassert f(2) == 4, 'two'\\n"
    ...               "x = 1\\n### END HIDDEN TESTS"])
    ["assert f(2) == 4, 'two'"]
    """
    hidden, visible = set(), set()
    for source in sources:
        code, _ = visible_code(source or "", begin, end)
        visible.update(line.strip() for line in code.split("\n"))
        inside = False
        for line in (source or "").split("\n"):
            if begin in line:
                inside = True
            elif end in line:
                inside = False
            elif inside:
                hidden.add(line.strip())
    kept = [
        line
        for line in hidden - visible
        if len(_squash(line)) >= MIN_HIDDEN_CHARS and not line.startswith("#")
    ]
    return sorted(kept, key=lambda line: (-len(line), line))


def assert_messages(source: str) -> set[str]:
    """What a test cell's asserts say when they fail, as ``AssertionError: <message>``.

    Only messages written as plain string literals: they are the author's words to the
    trainee, shown when the assert fails, as nbgrader shows them. A cell that is not
    plain Python has none.

    Examples
    --------
    >>> sorted(assert_messages('assert x == 1, "x should be one"\\nassert y, f"{y}"'))
    ['AssertionError: x should be one']
    >>> assert_messages("%time assert x")
    set()
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    return {
        f"AssertionError: {node.msg.value}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Assert)
        and isinstance(node.msg, ast.Constant)
        and isinstance(node.msg.value, str)
    }


def scrub(
    text: str, lines: Iterable[str], allowed: Iterable[str] = ()
) -> tuple[str, bool]:
    """``text``, or `WITHHELD` if it quotes a hidden-test line; and whether it did.

    Lines are found verbatim and also with whitespace, quotes, backquotes and
    backslashes ignored (a ``repr``, JSON or a reflowed copy). A text that is exactly
    one of ``allowed`` is kept: a failing hidden assert's own message (see
    `assert_messages`) is meant for the trainee even when it sits on a line of its own.

    Examples
    --------
    >>> scrub("AssertionError: 'assert  f(2) == 4'", ["assert f(2) == 4"])[1]
    True
    >>> scrub("AssertionError: wrong sum", ["assert f(2) == 4"])
    ('AssertionError: wrong sum', False)
    >>> hint = '"f(2) should be 4: did you add instead of multiply?"'
    >>> scrub("AssertionError: f(2) should be 4: did you add instead of multiply?",
    ...       [hint], allowed=assert_messages(f"assert f(2) == 4, (\\n    {hint}\\n)"))[1]
    False
    """
    if text in set(allowed):
        return text, False
    squashed = _squash(text)
    for line in lines:
        if line in text or _squash(line) in squashed:
            return WITHHELD, True
    return text, False
