"""Fixtures of the challenge server's tests: one real challenge per process and database.

Django is configured once per process, so every test of this folder that a pytest
worker runs shares one challenge (``site``): a state folder, a roster of four teams (one
of them named with HTML) and an organiser, on a SQLite file and then on a database of a
throwaway PostgreSQL cluster (``postgres``); each test runs on both. ``fresh`` empties the
submissions, the failed logins and the uploads before a test and opens the phase again.
Scoring in these tests calls the queue's own steps in the test's process
(:func:`score_queued`); the end-to-end test runs the real server and its workers.

A second challenge, on the organiser's own labelled file (``own``), has databases of its
own beside ``site``'s: for a test, ``own`` points Django at its database and overrides
the challenge settings, then puts ``site``'s back.
"""

from __future__ import annotations

import csv
import os
import shutil

import pytest

from tests.support.challenges import (
    DATABASES,
    OWN_TASK,
    PG_BIN,
    PostgresCluster,
    Site,
    use_database,
    use_database_settings,
    write_challenge,
    write_own_labels,
)


@pytest.fixture(scope="session")
def postgres():
    """A throwaway PostgreSQL cluster for this test process, stopped at the end."""
    if not (PG_BIN / "initdb").exists():
        reason = f"PostgreSQL is not installed ({PG_BIN}/initdb): run make system-deps"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    cluster = PostgresCluster()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def challenge_config(tmp_path_factory):
    """The challenge file of this process's tests (Django is configured for it once)."""
    from squad.challenges import read_challenge

    return read_challenge(write_challenge(tmp_path_factory.mktemp("challenge")))


@pytest.fixture(scope="session", params=DATABASES)
def site(request, tmp_path_factory, challenge_config) -> Site:
    """The process's challenge on each database: migrated, roster loaded, phase open."""
    from squad.challenges.server import open_challenge

    config = challenge_config
    folder = tmp_path_factory.mktemp(f"challenge-{request.param}")
    state = tmp_path_factory.getbasetemp() / "challenge-state"
    url = f"sqlite:///{folder / 'challenge.sqlite3'}"
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres").create_database(folder.name)
    from django.conf import settings

    if settings.configured:
        use_database(url, state)
    opened = open_challenge(config, state_dir=state, db_url=url)
    with open(opened["sheet"], newline="", encoding="utf-8") as handle:
        credentials = {row["user"]: row for row in csv.DictReader(handle)}
    return Site(config, state, credentials, request.param)


@pytest.fixture
def fresh(site) -> Site:
    """The site with no submissions, failed logins, fact sheets or uploads, the phase
    open."""
    from squad.challenges.models import FactSheet, LoginAttempt, Phase, Submission

    Submission.objects.all().delete()
    LoginAttempt.objects.all().delete()
    FactSheet.objects.all().delete()
    phase = site.config.phases[0]
    Phase.objects.filter(name=phase.name).update(
        opens=phase.opens, closes=phase.closes, needs_fact_sheet=phase.fact_sheet
    )
    uploads = site.state / "uploads"
    shutil.rmtree(uploads)
    uploads.mkdir()
    return site


@pytest.fixture(scope="session")
def own_challenge(site, request, tmp_path_factory) -> tuple[Site, str]:
    """An own-labels challenge on ``site``'s kind of database, opened once: (site, url)."""
    from django.conf import settings
    from django.test import override_settings

    from squad.challenges import read_challenge
    from squad.challenges.server import open_challenge

    folder = tmp_path_factory.mktemp(f"own-{site.database}")
    write_own_labels(folder)
    config = read_challenge(write_challenge(folder, task=OWN_TASK))
    state = (folder / "state").resolve()
    url = f"sqlite:///{folder / 'own.sqlite3'}"
    if site.database == "postgresql":
        url = request.getfixturevalue("postgres").create_database(f"own_{folder.name}")
    before = dict(settings.DATABASES["default"])
    use_database(url, state)
    try:
        with override_settings(SQUAD_CHALLENGE=config, SQUAD_STATE=state):
            opened = open_challenge(config, state_dir=state, db_url=url)
    finally:
        use_database_settings(before)
    with open(opened["sheet"], newline="", encoding="utf-8") as handle:
        credentials = {row["user"]: row for row in csv.DictReader(handle)}
    return Site(config, state, credentials, site.database), url


@pytest.fixture
def own(own_challenge):
    """The own-labels challenge, fresh (as ``fresh``), for one test; then ``site`` again."""
    from django.conf import settings
    from django.test import override_settings

    from squad.challenges.models import LoginAttempt, Submission

    own_site, url = own_challenge
    before = dict(settings.DATABASES["default"])
    use_database(url, own_site.state)
    try:
        with override_settings(
            SQUAD_CHALLENGE=own_site.config, SQUAD_STATE=own_site.state
        ):
            Submission.objects.all().delete()
            LoginAttempt.objects.all().delete()
            uploads = own_site.state / "uploads"
            shutil.rmtree(uploads)
            uploads.mkdir()
            yield own_site
    finally:
        use_database_settings(before)
