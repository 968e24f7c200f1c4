"""``squad challenge results``: the final board as a file, only once the challenge closed.

The results come from the process's real challenge (``fresh``, on each database), and
the command runs as a real process on the same database; the file then goes through the
board's own reader and onto a static site.
"""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from tests.support.challenges import (
    EVIL_TEAM,
    SQUAD,
    close_challenge,
    predictions_csv,
    score_queued,
    upload,
    write_challenge,
)


def _submit(client, content):
    response = client.post("/submit/", {"file": upload("p.csv", content)})
    assert response.status_code == 302, response.content[:300]


def _db_url() -> str:
    """The URL of the database this process's Django uses, for ``--db``."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    return f"postgresql://{db['USER']}@localhost:{db['PORT']}/{db['NAME']}?host={db['HOST']}"


def _results_command(site, tmp_path):
    challenge = write_challenge(tmp_path / "c")
    out = tmp_path / "results.json"
    command = [*SQUAD, "challenge", "results", str(challenge), "--out", str(out)]
    command += ["--state", str(site.state), "--db", _db_url()]
    return subprocess.run(command, capture_output=True, text=True, timeout=120), out


def _play(site):
    """Three teams submit: red twice, the HTML-named team and green once each."""
    _submit(site.client("alice"), predictions_csv(wrong=2500))
    _submit(site.client("bob"), predictions_csv(wrong=500))
    _submit(site.client("carol"), predictions_csv(wrong=1500))
    _submit(site.client("dave"), predictions_csv())
    assert score_queued(site) == 4


def test_results_are_refused_before_the_close(fresh, tmp_path):
    """Before the last phase closes: one line saying when, exit 2, no file."""
    from squad.challenges.results import final_results
    from squad.errors import InvalidInputError

    _play(fresh)
    hidden = "closes at 2099-01-01 00:00 UTC; its final results (private scores) stay"
    with pytest.raises(InvalidInputError, match=re.escape(hidden)):
        final_results(fresh.config)
    done, out = _results_command(fresh, tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and hidden in done.stderr
    assert not out.exists()


def test_results_after_the_close_match_the_final_board(fresh, tmp_path):
    """After the close the file holds the final board, the digest, and builds a page."""
    from squad.board.challenge_results import read_results
    from squad.board.site import build_site
    from squad.challenges import standings
    from squad.challenges.models import Challenge, Phase
    from squad.challenges.views import board_rows

    _play(fresh)
    method = "Character n-grams of the title, a linear SVM; see the repository."
    code = "https://git.example.org/red/coder"
    sheet = {"method": method, "code_url": code}
    assert fresh.client("bob").post("/team/factsheet/", sheet).status_code == 302
    close_challenge()
    done, out = _results_command(fresh, tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"to {out}" in done.stdout
    results = read_results(out)
    challenge = Challenge.objects.get()
    config = fresh.config
    final = standings.final_board(
        board_rows(challenge), config.metrics, config.final_picks
    )
    assert [(t["rank"], t["team"]) for t in results["teams"]] == [
        (r["rank"], r["team"]) for r in final
    ]
    assert [t["team"] for t in results["teams"]] == ["green", "red", EVIL_TEAM]
    for team, row in zip(results["teams"], final, strict=True):
        assert team["private_scores"] == pytest.approx(row["private_scores"])
        assert team["public_scores"] == pytest.approx(row["public_scores"])
    assert [t["n_submissions"] for t in results["teams"]] == [1, 2, 1]
    assert results["private_sha256"] == challenge.private_sha256
    assert len(challenge.private_sha256) == 64
    assert results["metrics"] == ["accuracy", "f1_macro"]
    assert (results["n_public"], results["n_private"]) == (
        challenge.n_public,
        challenge.n_private,
    )
    closes = Phase.objects.get().closes
    assert results["closed_at"] == closes.isoformat()
    assert json.loads(out.read_text())["format"] == "squad-challenge-results"
    (tmp_path / "runs").mkdir()
    site = build_site(tmp_path / "runs", tmp_path / "site", challenges=[out])
    assert site.challenges == 1
    (page,) = (tmp_path / "site" / "challenges").iterdir()
    html = page.read_text()
    assert (
        f'href="challenges/{page.name}"'
        in (tmp_path / "site" / "index.html").read_text()
    )
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script" not in html
    assert challenge.private_sha256 in html
    red = results["teams"][1]["private_scores"]["accuracy"]
    assert f"<td>{red:.4f}</td>" in html
    # red's fact sheet travels with its row, and only red's
    assert {k: results["teams"][1].get(k) for k in sheet} == sheet
    assert "method" not in results["teams"][0] and "code_url" not in results["teams"][2]
    assert method in html and f'href="{code}"' in html
