"""Tests for squad.grading.hidden: what a student saw of a test, and what is withheld."""

from __future__ import annotations

import json

import pytest

from squad.grading.hidden import (
    WITHHELD,
    assert_messages,
    hidden_lines,
    scrub,
    visible_code,
)

CELL = (
    "assert f(1) == 1\n"
    "### BEGIN HIDDEN TESTS\n"
    "assert f(2) == 4, 'f(2) should be 4'\n"
    "else_branch = True\n"
    "### END HIDDEN TESTS\n"
    "print('done')"
)


def test_visible_code_keeps_what_the_student_saw():
    """The hidden region and its delimiters go; the lines around it stay."""
    assert visible_code(CELL) == ("assert f(1) == 1\nprint('done')", True)
    assert visible_code("assert f(1) == 1") == ("assert f(1) == 1", False)


def test_visible_code_takes_the_course_delimiters():
    """A course with its own delimiters is read with them."""
    cell = "x = 1\n# SECRET\nassert x == 1\n# /SECRET"
    assert visible_code(cell, "SECRET", "/SECRET") == ("x = 1", True)


def test_hidden_lines_leave_out_short_comment_and_visible_lines():
    """Only distinctive lines are looked for: not comments, not short lines, not
    lines the student also saw elsewhere."""
    cells = [
        CELL,
        "### BEGIN HIDDEN TESTS\n# a long comment line here\nassert f(1) == 1\n"
        "pass\n### END HIDDEN TESTS",
    ]
    assert hidden_lines(cells) == [
        "assert f(2) == 4, 'f(2) should be 4'",
        "else_branch = True",
    ]


@pytest.mark.parametrize(
    ("text", "withheld"),
    [
        ("AssertionError: assert f(2) == 4, 'f(2) should be 4'", True),
        (repr("assert f(2) == 4, 'f(2) should be 4'"), True),
        (json.dumps({"line": "assert f(2) == 4, 'f(2) should be 4'"}), True),
        ("assert f(2) == 4,\n    'f(2) should be 4'", True),
        ("AssertionError: wrong sum", False),
    ],
)
def test_scrub_withholds_quoted_hidden_lines(text, withheld):
    """A hidden line is found verbatim, in a repr, in JSON or reflowed."""
    lines = hidden_lines([CELL])
    assert scrub(text, lines) == ((WITHHELD, True) if withheld else (text, False))


def test_scrub_keeps_a_hidden_asserts_own_message():
    """A failing hidden assert's message is meant for the trainee."""
    message = "AssertionError: f(2) should be 4"
    lines = ["'f(2) should be 4'"]
    assert scrub(message, lines)[1]
    assert scrub(message, lines, allowed=assert_messages(CELL)) == (message, False)


def test_assert_messages_reads_only_literal_messages():
    """Computed messages and cells that are not Python give none."""
    source = "assert a, 'plain'\nassert b, f'{b}'\nassert c, 'x' + 'y'\nassert d"
    assert assert_messages(source) == {"AssertionError: plain"}
    assert assert_messages("%%time\nassert a, 'plain'") == set()
