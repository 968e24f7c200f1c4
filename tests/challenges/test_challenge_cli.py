"""The ``squad challenge`` commands and ``squad submit --to``, without a server."""

from __future__ import annotations

import subprocess
import sys

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
