"""Fixtures of the challenge server's tests: one real SQLite challenge per process.

Django is configured once per process, so every test of this folder that a pytest
worker runs shares one challenge (``site``): a state folder, a SQLite file, a roster of
four teams (one of them named with HTML) and an organiser. ``fresh`` empties the
submissions, the failed logins and the uploads before a test and opens the phase again.
Scoring in these tests calls the queue's own steps in the test's process
(:func:`score_queued`); the end-to-end test runs the real server and its workers.
"""

from __future__ import annotations

import csv
import shutil

import pytest
from challenge_helpers import Site, write_challenge


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> Site:
    """The process's challenge: migrated SQLite file, roster loaded, phase open."""
    from squad.challenges import read_challenge
    from squad.challenges.server import open_challenge

    folder = tmp_path_factory.mktemp("challenge")
    config = read_challenge(write_challenge(folder))
    state = folder / "state"
    opened = open_challenge(config, state_dir=state)
    with open(opened["sheet"], newline="", encoding="utf-8") as handle:
        credentials = {row["user"]: row for row in csv.DictReader(handle)}
    return Site(config, state, credentials)


@pytest.fixture
def fresh(site) -> Site:
    """The site with no submissions, no failed logins, no uploads, the phase open."""
    from squad.challenges.models import LoginAttempt, Phase, Submission

    Submission.objects.all().delete()
    LoginAttempt.objects.all().delete()
    phase = site.config.phases[0]
    Phase.objects.filter(name=phase.name).update(opens=phase.opens, closes=phase.closes)
    uploads = site.state / "uploads"
    shutil.rmtree(uploads)
    uploads.mkdir()
    return site
