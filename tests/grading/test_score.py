"""Tests for squad.grading.score: a submission's score from its graded cells."""

from __future__ import annotations

import pytest

from squad.grading.score import submission_score


@pytest.mark.parametrize(
    ("scores", "expected"),
    [([], 0.0), ([2.0], 2.0), ([1.0, 0.5, 0.0], 1.5), ([1, 2], 3.0)],
)
def test_submission_score_sums_the_grades(scores, expected):
    """nbgrader's score is the plain sum of the cells' scores, as a float."""
    score = submission_score({"score": s, "status": "x"} for s in scores)
    assert score == expected and isinstance(score, float)


def test_submission_score_ignores_order():
    """The order cells come in does not change the score."""
    results = [{"score": s} for s in (0.25, 1.0, 3.0)]
    assert submission_score(results) == submission_score(reversed(results))
