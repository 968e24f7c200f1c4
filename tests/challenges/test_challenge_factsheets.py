"""Fact sheets: a phase that asks for one refuses a team without it; what a team types
is checked, stays the team's until the close, then shows on the final board, escaped."""

from __future__ import annotations

import pytest

from tests.support.challenges import (
    EVIL_TEAM,
    close_challenge,
    predictions_csv,
    score_queued,
    upload,
)

METHOD = "TF-IDF of title and qualifier, then a linear SVM tuned on a dev split."
CODE = "https://git.example.org/office/soc-coder"


def _submit(client):
    return client.post("/submit/", {"file": upload("p.csv", predictions_csv())})


def _ask_for_sheets() -> None:
    from squad.challenges.models import Phase

    Phase.objects.update(needs_fact_sheet=True)


def test_a_phase_that_asks_refuses_a_team_without_a_sheet(fresh):
    """No sheet: the page and the API refuse, nothing counts; with one, it is taken."""
    from squad.challenges.models import Submission

    _ask_for_sheets()
    alice = fresh.client("alice")
    page = _submit(alice)
    assert page.status_code == 403
    assert "has no fact sheet" in page.content.decode()
    api = fresh.client().post(
        "/api/submissions/",
        {"file": upload("p.csv", predictions_csv())},
        HTTP_AUTHORIZATION=f"Bearer {fresh.token('alice')}",
    )
    assert api.status_code == 403
    assert "team/factsheet/" in api.json()["error"]
    assert Submission.objects.count() == 0
    saved = alice.post("/team/factsheet/", {"method": METHOD, "code_url": CODE})
    assert saved.status_code == 302
    assert _submit(alice).status_code == 302
    # a teammate's upload is taken too: the sheet is the team's
    assert _submit(fresh.client("bob")).status_code == 302
    # another team still has none
    assert _submit(fresh.client("dave")).status_code == 403
    assert Submission.objects.filter(team__name="red").count() == 2


@pytest.mark.parametrize(
    ("method", "code_url", "said"),
    [
        (METHOD, "javascript:alert(1)", "http:// or https://"),
        (METHOD, "file:///etc/passwd", "http:// or https://"),
        (METHOD, "https://", "http:// or https://"),
        (METHOD, "https://x.org/" + "a" * 300, "at most 300"),
        ("SVM", CODE, "20 to 2000 characters"),
        ("x" * 2001, CODE, "20 to 2000 characters"),
        (METHOD + "\x1b[2J", CODE, "control characters"),
    ],
)
def test_a_bad_sheet_is_refused_and_nothing_saved(fresh, method, code_url, said):
    """Each wrong field gets one line saying what it needs."""
    from squad.challenges.models import FactSheet

    answer = fresh.client("alice").post(
        "/team/factsheet/", {"method": method, "code_url": code_url}
    )
    assert answer.status_code == 400
    assert said in answer.content.decode()
    assert not FactSheet.objects.exists()


def test_sheets_stay_private_until_the_close_then_show_escaped(fresh):
    """Before the close only the team sees its sheet; after it, the final board shows
    every sheet as text, the code as a link, and no sheet can change."""
    carol = fresh.client("carol")
    evil = "<script>alert('sheet')</script> features: <b>words</b> and a linear SVM"
    assert (
        carol.post("/team/factsheet/", {"method": evil, "code_url": CODE}).status_code
        == 302
    )
    assert _submit(carol).status_code == 302
    score_queued(fresh)
    own = carol.get("/team/factsheet/").content.decode()
    assert "&lt;script&gt;alert(&#x27;sheet&#x27;)&lt;/script&gt;" in own
    assert "<script>alert" not in own
    others = [
        fresh.client("dave").get(p).content.decode()
        for p in ("/board/", "/team/", "/team/factsheet/", "/")
    ]
    assert all("linear SVM" not in page and CODE not in page for page in others)
    # the organiser sees every team's sheet in the console
    console = fresh.client("organiser").get("/console/").content.decode()
    assert "linear SVM" in console and "<script>" not in console
    close_challenge()
    board = fresh.client("dave").get("/board/").content.decode()
    assert "&lt;script&gt;" in board and "<script>" not in board
    assert f'<a href="{CODE}" rel="nofollow noopener">' in board
    assert "&lt;b&gt;blue&lt;/b&gt;" in board  # the team's own name, escaped too
    assert EVIL_TEAM not in board
    late = carol.post("/team/factsheet/", {"method": METHOD, "code_url": CODE})
    assert late.status_code == 403


def test_challenge_file_fact_sheet_key(tmp_path):
    """``fact_sheet`` is true or false; any other key of a phase is refused."""
    from squad.challenges import read_challenge
    from squad.errors import InvalidInputError
    from tests.support.challenges import write_challenge

    path = write_challenge(tmp_path)
    text = path.read_text(encoding="utf-8")
    closes = "closes: 2099-01-01T00:00:00Z"
    path.write_text(text.replace(closes, closes + "\n    fact_sheet: true"))
    assert read_challenge(path).phases[0].fact_sheet is True
    for bad, said in (
        ("fact_sheet: yes please", "fact_sheet must be true or false"),
        ("factsheet: true", "expected keys name, opens, closes"),
    ):
        path.write_text(text.replace(closes, closes + f"\n    {bad}"))
        with pytest.raises(InvalidInputError, match=said):
            read_challenge(path)
