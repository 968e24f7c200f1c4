"""The Ladder (``ladder:`` in the challenge file): a team is told a public score only
when it beats the last one it was told by more than the step, rounded to the step."""

from __future__ import annotations

import dataclasses

import pytest

from tests.support.challenges import predictions_csv, score_queued, upload

STEP = 0.01


@pytest.fixture
def ladder(fresh):
    """``fresh``, with the Ladder on for the test."""
    from django.conf import settings
    from django.test import override_settings

    config = dataclasses.replace(settings.SQUAD_CHALLENGE, ladder=STEP)
    with override_settings(SQUAD_CHALLENGE=config):
        yield fresh


def _send(site, user: str, wrong: int) -> float:
    """Upload predictions with ``wrong`` wrong codes, score them; the exact public
    accuracy the server computed."""
    from squad.challenges.models import Submission

    client = site.client(user)
    answer = client.post(
        "/submit/", {"file": upload("p.csv", predictions_csv(wrong=wrong))}
    )
    assert answer.status_code == 302, answer.content[:300]
    score_queued(site)
    return Submission.objects.latest("id").public_score


def _told(site, user: str) -> list[float | None]:
    """The public scores the API tells ``user``'s team, oldest first."""
    answer = site.client().get(
        "/api/submissions/", HTTP_AUTHORIZATION=f"Bearer {site.token(user)}"
    )
    rows = answer.json()["submissions"]
    assert all(r["ladder"] for r in rows)
    return [r["public_score"] for r in sorted(rows, key=lambda r: r["id"])]


def test_small_gains_are_not_told_and_a_real_one_is(ladder):
    """A slightly better file tells nothing new; a much better one moves the score."""
    first = _send(ladder, "alice", 1500)
    nudged = _send(ladder, "alice", 1450)
    assert first < nudged < first + STEP  # better, but by less than the step
    best = _send(ladder, "alice", 0)
    told_first = round(round(first / STEP) * STEP, 12)
    assert _told(ladder, "alice") == [told_first, told_first, 1.0]
    pages = [
        ladder.client("alice").get(p).content.decode() for p in ("/team/", "/board/")
    ]
    for exact in (first, nudged):
        assert all(f"{exact:.4f}" not in page for page in pages)
    assert f"{told_first:.4f}" in pages[0] and f"{best:.4f}" in pages[1]
    assert "The Ladder is on" in pages[1]


def test_ladder_board_ranks_told_scores_and_hides_tie_breakers(ladder):
    """Teams rank by their told score; on equal told scores the earlier leads."""
    red = _send(ladder, "alice", 1500)
    green = _send(ladder, "dave", 1490)  # a little better, within the same step
    assert red < green and round(red / STEP) == round(green / STEP)
    board = ladder.client("dave").get("/board/").content.decode()
    rows = board.split("<tbody>")[1].split("</tr>")
    assert "red" in rows[0] and "green" in rows[1]  # red was told the score first
    assert "<td>–</td>" in rows[0]  # f1_macro, the tie-breaker, is not told


def test_ladder_setting_is_checked(tmp_path):
    """``ladder`` is a step between 0 and 1."""
    from squad.challenges import read_challenge
    from squad.errors import InvalidInputError
    from tests.support.challenges import write_challenge

    path = write_challenge(tmp_path)
    text = path.read_text(encoding="utf-8")
    path.write_text(text + "ladder: 0.005\n", encoding="utf-8")
    assert read_challenge(path).ladder == 0.005
    for bad in ("2", "0", "true", "fine"):
        path.write_text(text + f"ladder: {bad}\n", encoding="utf-8")
        with pytest.raises(InvalidInputError, match="ladder is the board's step"):
            read_challenge(path)
