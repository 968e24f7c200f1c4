"""The real server: ``squad challenge serve`` in its own process, driven over HTTP."""

from __future__ import annotations

import csv
import json
import os
import sqlite3
import subprocess
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.support.challenges import (
    DATABASES,
    OWN_LABELS,
    OWN_TASK,
    SQUAD,
    free_port,
    http_get,
    own_answers,
    own_predictions_csv,
    predictions_csv,
    start_server,
    stop_server,
    wait_for,
    write_challenge,
    write_own_labels,
)


def _execute(db: str, state, sql: str) -> list[tuple]:
    """Run one SQL statement on the server's database, as an operator would."""
    if not db:
        with sqlite3.connect(state / "challenge.sqlite3") as conn:
            return conn.execute(sql).fetchall()
    import psycopg

    parts = urlsplit(db)
    with psycopg.connect(
        host=parse_qs(parts.query)["host"][0],
        port=parts.port,
        user=parts.username,
        dbname=parts.path.lstrip("/"),
        autocommit=True,
    ) as conn:
        cursor = conn.execute(sql)
        return cursor.fetchall() if cursor.description else []


def _tokens(state) -> dict[str, str]:
    """Each user's API token, from the account sheet the server wrote."""
    (sheet,) = state.glob("accounts-*.csv")
    with sheet.open(newline="") as handle:
        return {r["user"]: r["token"] for r in csv.DictReader(handle)}


def _squad_submit(predictions, url: str, token: str) -> tuple[int, str]:
    """Upload with `squad submit --to`; the submission's number and what it printed."""
    sent = subprocess.run(
        [*SQUAD, "submit", str(predictions), "--to", url],
        env={**os.environ, "SQUAD_CHALLENGE_TOKEN": token},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert sent.returncode == 0, sent.stderr
    return int(sent.stdout.split("submission ")[1].split()[0]), sent.stdout


def _scored_row(status_url: str, token: str):
    """The submission as the API shows it once scored or failed, else None."""
    status, body = http_get(status_url, token)
    row = json.loads(body) if status == 200 else {}
    return row if row.get("status") in ("scored", "failed") else None


@pytest.mark.slow
@pytest.mark.parametrize("database", DATABASES)
def test_served_challenge_scores_uploads_from_the_command_line(
    tmp_path, database, request
):
    """Start the server, submit with `squad submit --to`, see the score; a restart keeps
    it, and scores again a submission a dead server left half-scored."""
    challenge = write_challenge(tmp_path / "c")
    state, log, port = tmp_path / "state", tmp_path / "server.log", free_port()
    db = ""
    if database == "postgresql":
        db = request.getfixturevalue("postgres").create_database("served")
    url = f"http://127.0.0.1:{port}/"
    server = start_server(challenge, state, port, log, db)
    try:
        wait_for(lambda: http_get(url)[0] == 200, 120, "the server answering")
        tokens = _tokens(state)
        predictions = tmp_path / "predictions.csv"
        predictions.write_bytes(predictions_csv(wrong=500))
        number, said = _squad_submit(predictions, url, tokens["alice"])
        assert "for team red" in said
        status_url = f"{url}api/submissions/{number}/"

        def scored():
            return _scored_row(status_url, tokens["bob"])

        row = wait_for(scored, 180, "scoring")
        assert row["status"] == "scored", row
        assert 0.8 < row["public_score"] < 1.0
        assert "private_score" not in row
        assert http_get(status_url, tokens["dave"])[0] == 404
        assert http_get(status_url, "wrong-token")[0] == 401
        board = http_get(url + "board/")[1].decode()
        assert "red" in board and f"{row['public_score']:.4f}" in board
        assert stop_server(server) == 0
        # As if the server had died while scoring it: the row is left 'scoring'.
        _execute(
            db,
            state,
            "UPDATE challenges_submission SET status = 'scoring', public_score = NULL "
            f"WHERE id = {number}",
        )
        server = start_server(challenge, state, port, log, db)
        wait_for(lambda: http_get(url)[0] == 200, 120, "the restarted server answering")
        assert len(list(state.glob("accounts-*.csv"))) == 1  # no account issued twice
        again = wait_for(scored, 180, "scoring again after the restart")
        assert again["status"] == "scored"
        assert again["public_score"] == row["public_score"]
        counts = _execute(
            db,
            state,
            f"SELECT n_scorings FROM challenges_submission WHERE id = {number}",
        )
        assert counts == [(2,)]
    finally:
        if server.poll() is None:
            assert stop_server(server) == 0, log.read_text()[-2000:]


@pytest.mark.slow
def test_served_own_labels_challenge_scores_in_its_workers(tmp_path):
    """On the organiser's own labelled file, the real server's scoring processes score
    an upload from `squad submit` against it; no page or API answer holds a label."""
    folder = tmp_path / "c"
    answers = write_own_labels(folder)
    challenge = write_challenge(folder, task=OWN_TASK)
    state, log, port = tmp_path / "state", tmp_path / "server.log", free_port()
    url = f"http://127.0.0.1:{port}/"
    server = start_server(challenge, state, port, log, "")
    try:
        wait_for(lambda: http_get(url)[0] == 200, 120, "the server answering")
        tokens = _tokens(state)
        predictions = tmp_path / "predictions.csv"
        predictions.write_bytes(own_predictions_csv(own_answers(answers), wrong=50))
        number, _said = _squad_submit(predictions, url, tokens["alice"])
        status_url = f"{url}api/submissions/{number}/"
        row = wait_for(lambda: _scored_row(status_url, tokens["alice"]), 180, "scoring")
        assert row["status"] == "scored", row
        # 50 of 200 records wrong: the public part's accuracy is near 0.75
        assert 0.5 < row["public_score"] < 1.0
        for path in ("", "board/", "api/submissions/", f"api/submissions/{number}/"):
            status, body = http_get(url + path, tokens["alice"])
            assert status == 200, path
            assert not any(label in body.decode() for label in OWN_LABELS), path
    finally:
        if server.poll() is None:
            assert stop_server(server) == 0, log.read_text()[-2000:]
