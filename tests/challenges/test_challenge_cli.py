"""The ``squad challenge`` commands and ``squad submit --to``, without a server."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from squad.cli import main


def test_squad_help_imports_no_django():
    """`squad --help` stays light: Django is imported only by the challenge server."""
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from squad.cli import main\n"
        "CliRunner().invoke(main, ['--help'])\n"
        "CliRunner().invoke(main, ['challenge', '--help'])\n"
        "print(sorted(m for m in ('django', 'pandas', 'numpy') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_submit_to_needs_a_token(tmp_path, monkeypatch):
    """`squad submit --to URL` without a token is a usage error, nothing is sent."""
    monkeypatch.delenv("SQUAD_CHALLENGE_TOKEN", raising=False)
    predictions = tmp_path / "p.csv"
    predictions.write_text("record_id,predicted\n1,1115\n")
    result = CliRunner().invoke(
        main, ["submit", str(predictions), "--to", "http://127.0.0.1:9/"]
    )
    assert result.exit_code == 2
    assert "--to needs --token" in result.output


def test_submit_without_to_still_needs_member(tmp_path):
    """The board's own submit keeps asking for --member and --model-name."""
    predictions = tmp_path / "p.csv"
    predictions.write_text("record_id,predicted\n1,1115\n")
    result = CliRunner().invoke(main, ["submit", str(predictions)])
    assert result.exit_code == 2
    assert "Missing option '--member'" in result.output


def test_challenge_serve_refuses_a_bad_file(tmp_path):
    """A wrong challenge file is one line and exit status 2, before Django starts."""
    bad = tmp_path / "CHALLENGE.yml"
    bad.write_text("title: T\ndataset: lfs\nphases: []\n")
    result = CliRunner().invoke(main, ["challenge", "serve", str(bad)])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1
    assert "dataset 'lfs' has no coding task" in result.output


@pytest.mark.slow
def test_challenge_accounts_issues_each_account_once(tmp_path):
    """`squad challenge accounts` writes one 0600 sheet; a second run issues nothing."""
    import csv

    from tests.support.challenges import SQUAD, write_challenge

    challenge = write_challenge(tmp_path / "c")
    state = tmp_path / "state"
    command = [*SQUAD, "challenge", "accounts", str(challenge), "--state", str(state)]
    first = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    assert "5 new account(s)" in first.stdout
    (sheet,) = state.glob("accounts-*.csv")
    assert sheet.stat().st_mode & 0o777 == 0o600
    with sheet.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["user"] for r in rows] == ["organiser", "alice", "bob", "carol", "dave"]
    assert all(len(r["password"]) >= 16 and len(r["token"]) >= 40 for r in rows)
    second = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr
    assert "No new accounts" in second.stdout
    assert len(list(state.glob("accounts-*.csv"))) == 1


def test_challenge_serve_refuses_labels_with_a_wrong_sha256(tmp_path):
    """A labels file whose sha256 is not the one written: one line, before Django."""
    from tests.support.challenges import OWN_TASK, write_challenge, write_own_labels

    folder = tmp_path / "c"
    answers = write_own_labels(folder)
    task = OWN_TASK[:-1] + ", sha256: " + "f" * 64 + "}"
    challenge = write_challenge(folder, task=task)
    state = tmp_path / "state"
    result = CliRunner().invoke(
        main, ["challenge", "serve", str(challenge), "--state", str(state)]
    )
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1
    assert "labels.sha256" in result.output and "not ffff" in result.output
    assert not state.exists()
    import hashlib

    right = hashlib.sha256(answers.read_bytes()).hexdigest()
    assert right in result.output


def test_challenge_results_needs_the_servers_database(tmp_path):
    """Without the server's database: one line naming where it looked, exit status 2."""
    from tests.support.challenges import write_challenge

    challenge = write_challenge(tmp_path / "c")
    out = tmp_path / "results.json"
    result = CliRunner().invoke(
        main,
        ["challenge", "results", str(challenge), "--state", str(tmp_path / "none")]
        + ["--out", str(out)],
    )
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1
    assert "No challenge database at " in result.output
    assert "give the --db and --state the server ran with" in result.output
    assert not out.exists() and not (tmp_path / "none").exists()
