"""The real server: ``squad challenge serve`` in its own process, driven over HTTP."""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from challenge_helpers import DATABASES, predictions_csv, write_challenge

SQUAD = [sys.executable, "-m", "squad.cli"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(condition, timeout: float, what: str):
    """Poll ``condition`` until it returns a true value, failing after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    value = condition()
    assert value, f"{what} did not happen within {timeout} s"
    return value


def _get(url: str, token: str | None = None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(
            urllib.request.Request(url, headers=headers), timeout=10
        ) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()
    except OSError:
        return None, b""


def _start(
    challenge: Path, state: Path, port: int, log: Path, db: str
) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen(
            [*SQUAD, "challenge", "serve", str(challenge), "--state", str(state)]
            + ["--port", str(port), "--jobs", "1", "--db", db],
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _stop(process: subprocess.Popen) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=60)


@pytest.mark.slow
@pytest.mark.parametrize("database", DATABASES)
def test_served_challenge_scores_uploads_from_the_command_line(
    tmp_path, database, request
):
    """Start the server, submit with `squad submit --to`, see the score; restart keeps it."""
    challenge = write_challenge(tmp_path / "c")
    state, log, port = tmp_path / "state", tmp_path / "server.log", _free_port()
    db = ""
    if database == "postgresql":
        db = request.getfixturevalue("postgres").create_database("served")
    url = f"http://127.0.0.1:{port}/"
    server = _start(challenge, state, port, log, db)
    try:
        _wait(lambda: _get(url)[0] == 200, 120, "the server answering")
        (sheet,) = state.glob("accounts-*.csv")
        with sheet.open(newline="") as handle:
            tokens = {r["user"]: r["token"] for r in csv.DictReader(handle)}
        predictions = tmp_path / "predictions.csv"
        predictions.write_bytes(predictions_csv(wrong=500))
        sent = subprocess.run(
            [*SQUAD, "submit", str(predictions), "--to", url],
            env={**os.environ, "SQUAD_CHALLENGE_TOKEN": tokens["alice"]},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert sent.returncode == 0, sent.stderr
        assert "for team red" in sent.stdout
        number = int(sent.stdout.split("submission ")[1].split()[0])
        status_url = f"{url}api/submissions/{number}/"

        def scored():
            status, body = _get(status_url, tokens["bob"])
            row = json.loads(body) if status == 200 else {}
            return row if row.get("status") in ("scored", "failed") else None

        row = _wait(scored, 180, "scoring")
        assert row["status"] == "scored", row
        assert 0.8 < row["public_score"] < 1.0
        assert "private_score" not in row
        assert _get(status_url, tokens["dave"])[0] == 404
        assert _get(status_url, "wrong-token")[0] == 401
        board = _get(url + "board/")[1].decode()
        assert "red" in board and f"{row['public_score']:.4f}" in board
        assert _stop(server) == 0
        server = _start(challenge, state, port, log, db)
        _wait(lambda: _get(url)[0] == 200, 120, "the restarted server answering")
        assert len(list(state.glob("accounts-*.csv"))) == 1  # no account issued twice
        again = json.loads(_get(status_url, tokens["alice"])[1])
        assert again["status"] == "scored"
        assert again["public_score"] == row["public_score"]
    finally:
        if server.poll() is None:
            assert _stop(server) == 0, log.read_text()[-2000:]
