"""A challenge on the organiser's own labelled file, through Django's test client.

The file stays on the server: participants download ids and texts only, the overview
publishes the digest of the private labels, and uploads are checked against the held
ids. Each test runs on SQLite and on PostgreSQL (see ``own`` in ``conftest.py``).
"""

from __future__ import annotations

import csv
import hashlib
import io

import pandas as pd
import pytest

from tests.support.challenges import (
    OWN_LABELS,
    fetch_every_route,
    own_answers,
    own_predictions_csv,
    score_queued,
    upload,
)


def _submit(client, content: bytes, name: str = "p.csv"):
    return client.post("/submit/", {"file": upload(name, content)})


def _pairs(own) -> list[tuple[str, str]]:
    return own_answers(own.config.labels.file)


def test_overview_publishes_the_private_labels_digest(own):
    """The digest shown is the sha256 of the private labels' canonical CSV."""
    from squad.challenges.labels import split_keys

    pairs = _pairs(own)
    public = split_keys(
        pd.Index([rid for rid, _ in pairs]), own.config.public_fraction, own.config.seed
    )
    private = sorted(p for p, pub in zip(pairs, public, strict=True) if not pub)
    assert 0 < len(private) < len(pairs)
    canonical = "id,label\n" + "".join(f"{rid},{label}\n" for rid, label in private)
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    page = own.client().get("/").content.decode()
    assert digest in page
    assert "organiser" in page and "soc2010" not in page


def test_download_has_ids_and_texts_never_a_label(own):
    """test_texts.csv: record_id and the text columns; no label value anywhere."""
    pairs = _pairs(own)
    response = own.client("alice").get("/data/texts.csv")
    assert response.status_code == 200
    body = b"".join(response) if response.streaming else response.content
    text = body.decode()
    table = list(csv.DictReader(io.StringIO(text)))
    assert list(table[0]) == ["record_id", "title", "place"]
    assert [row["record_id"] for row in table] == [rid for rid, _ in pairs]
    shown = {value for row in table for value in row.values()}
    hidden = {label for _, label in pairs} - shown
    assert hidden == set(OWN_LABELS)
    for label in hidden:
        assert label not in text, label
    assert "code" not in text.splitlines()[0]
    page = own.client("alice").get("/data/").content.decode()
    assert "record_id" in page and "title, place" in page


def test_right_file_scores_one_and_wrong_labels_less(own):
    """The answers score 1.0 on both parts; with wrong labels, less."""
    from squad.challenges.models import Submission

    pairs = _pairs(own)
    client = own.client("alice")
    assert _submit(client, own_predictions_csv(pairs)).status_code == 302
    assert _submit(client, own_predictions_csv(pairs, wrong=120)).status_code == 302
    assert score_queued(own) == 2
    right, wrong = Submission.objects.order_by("id")
    assert (right.status, right.public_score, right.private_score) == (
        "scored",
        1.0,
        1.0,
    )
    assert set(right.public_scores) == {"accuracy", "f1_macro"}
    assert wrong.status == "scored"
    assert wrong.public_score < 1.0 and wrong.private_score < 1.0


def _lines(pairs, *, drop: int = 0, repeat: int = 0, extra: int = 0) -> bytes:
    rows = [f"{rid},{label}" for rid, label in pairs[drop:]]
    rows += [f"{rid},{label}" for rid, label in pairs[:repeat]]
    rows += [f"x{i},{OWN_LABELS[0]}" for i in range(extra)]
    return ("record_id,predicted\n" + "\n".join(rows) + "\n").encode()


@pytest.mark.parametrize(
    ("change", "line"),
    [
        ({"extra": 1}, "1 unknown ids (e.g. x0)"),
        ({"repeat": 1}, "1 duplicated ids (e.g. r0000)"),
        ({"drop": 1}, "1 test ids missing (e.g. r0000)"),
    ],
)
def test_a_wrong_id_is_one_line_and_does_not_count(own, change, line):
    """An unknown, a repeated or a missing id: one clear line, and the slot comes back."""
    from squad.challenges.intake import slots_left
    from squad.challenges.models import Submission, Team

    pairs = _pairs(own)
    client = own.client("alice")
    assert _submit(client, _lines(pairs, **change)).status_code == 302
    score_queued(own)
    (row,) = Submission.objects.all()
    assert row.status == "failed" and not row.counted
    assert line in row.error and "\n" not in row.error
    assert row.error.count(";") == 0  # one problem, one line
    for label in OWN_LABELS:
        assert label not in row.error
    team = Team.objects.get(name="red")
    config = own.config
    assert slots_left(team, row.created, config.daily_cap, config.total_cap) == min(
        config.daily_cap, config.total_cap
    )
    page = client.get("/team/").content.decode()
    assert line in page


def test_no_route_gives_a_participant_own_labels(own):
    """Every route, with every id we know, shows no label of the organiser's file."""
    pairs = _pairs(own)
    alice = own.client("alice")
    _submit(alice, own_predictions_csv(pairs))
    _submit(own.client("dave"), own_predictions_csv(pairs, wrong=50))
    score_queued(own)
    bodies = fetch_every_route(alice, own.token("alice"))
    assert len(bodies) > 20
    assert bodies[("/data/texts.csv", False)][0] == 200
    for (path, _), (status, body) in bodies.items():
        for label in OWN_LABELS:
            assert label not in body, (path, status, label)
