"""Logging in to the hub: each person's own password, failed logins limited.

These drive the authenticators the way JupyterHub's login form does
(``get_authenticated_user``), with a clock the tests move on;
``tests/hub/test_real_hub.py`` proves the same against the real hub's login form.
"""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

import pytest
from tornado import web

from squad.hub.auth import (
    LoginLimiter,
    SquadPasswordAuthenticator,
    SquadSharedPasswordAuthenticator,
)
from squad.hub.passwords import hash_password

PASSWORDS = {"ana": "ana-pass-word", "bo": "bo-pass-word", "cy": "cy-pass-word"}
ROSTER = {"allowed_users": {"ana", "bo", "cy"}, "admin_users": {"ana"}}
BLOCKED = {"grader-cc", "root"}


class Clock:
    """Seconds that tests move on by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _from(address: str) -> SimpleNamespace:
    """What the authenticator reads of a login request: the client's address."""
    return SimpleNamespace(request=SimpleNamespace(remote_ip=address))


def _login(authenticator, name: str, password: str, address: str = "10.0.0.1"):
    """The hub's login: the person's name, or None when refused."""
    found = asyncio.run(
        authenticator.get_authenticated_user(
            _from(address), {"username": name, "password": password}
        )
    )
    return found and found["name"]


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def per_person(tmp_path, clock):
    """Each person's own password (hashes in a file), limits small for the tests."""
    path = tmp_path / "password-hashes.json"
    path.write_text(json.dumps({n: hash_password(p) for n, p in PASSWORDS.items()}))
    authenticator = SquadPasswordAuthenticator(
        password_file=str(path),
        blocked_users=BLOCKED,
        failures_per_name=3,
        failures_per_client=5,
        failure_window=60,
        lockout=300,
        **ROSTER,
    )
    authenticator.clock = clock
    return authenticator


@pytest.fixture
def shared(clock):
    """JupyterHub's shared passwords, limited the same way."""
    authenticator = SquadSharedPasswordAuthenticator(
        user_password="trainee-shared",
        admin_password="i" * 32,
        blocked_users=BLOCKED,
        failures_per_name=3,
        failures_per_client=5,
        **ROSTER,
    )
    authenticator.clock = clock
    return authenticator


def test_login_limiter_locks_a_key_after_too_many_failures(clock):
    """N failures within the window lock the key for the lockout; others are free."""
    limiter = LoginLimiter(3, window=60, lockout=300, clock=clock)
    for _ in range(2):
        limiter.failed("bo")
    assert limiter.locked_for("bo") == 0
    limiter.failed("bo")
    assert limiter.locked_for("bo") == 300
    assert limiter.locked_for("cy") == 0
    clock.now += 299
    assert limiter.locked_for("bo") == 1
    clock.now += 1
    assert limiter.locked_for("bo") == 0


def test_login_limiter_forgets_failures_outside_the_window(clock):
    """Failures further apart than the window never add up to a lock."""
    limiter = LoginLimiter(3, window=60, lockout=300, clock=clock)
    for _ in range(6):
        limiter.failed("bo")
        clock.now += 31
    assert limiter.locked_for("bo") == 0


def test_login_limiter_forgets_failures_after_a_success(clock):
    """A person who got in after typos starts again from zero."""
    limiter = LoginLimiter(3, window=60, lockout=300, clock=clock)
    limiter.failed("bo")
    limiter.failed("bo")
    limiter.succeeded("bo")
    limiter.failed("bo")
    assert limiter.locked_for("bo") == 0


def test_each_password_logs_in_its_own_person_only(per_person):
    """A password logs in its owner; never another trainee, the grader or root."""
    assert _login(per_person, "bo", PASSWORDS["bo"]) == "bo"
    assert _login(per_person, "Ana", PASSWORDS["ana"]) == "ana"
    for n, name in enumerate(("cy", "ana", "grader-cc", "root", "nobody", "bo")):
        password = PASSWORDS["bo"] if name != "bo" else ""
        assert _login(per_person, name, password, f"10.0.1.{n}") is None, name


def test_a_name_is_refused_after_five_failures_even_with_its_password(
    per_person, clock
):
    """Locked name: the right password is refused (429); other names still log in."""
    for _ in range(3):
        assert _login(per_person, "bo", "guess") is None
    with pytest.raises(
        web.HTTPError, match="Too many failed logins for this user name"
    ):
        _login(per_person, "bo", PASSWORDS["bo"])
    assert _login(per_person, "cy", PASSWORDS["cy"]) == "cy"
    clock.now += 300
    assert _login(per_person, "bo", PASSWORDS["bo"]) == "bo"


def test_an_address_is_refused_after_failures_over_many_names(per_person):
    """Guesses spread over names lock the address; another address still logs in."""
    for name in ("bo", "cy", "root", "grader-cc", "nobody"):
        assert _login(per_person, name, "guess", "10.0.0.9") is None
    with pytest.raises(web.HTTPError, match="from your address") as caught:
        _login(per_person, "ana", PASSWORDS["ana"], "10.0.0.9")
    assert caught.value.status_code == 429
    assert _login(per_person, "ana", PASSWORDS["ana"], "10.0.0.8") == "ana"


def test_a_new_password_works_without_restarting_the_hub(per_person, tmp_path):
    """The hashes are read again when their file changes (a reset)."""
    assert _login(per_person, "bo", PASSWORDS["bo"]) == "bo"
    path = tmp_path / "password-hashes.json"
    hashes = json.loads(path.read_text())
    hashes["bo"] = hash_password("bo-new-password")
    path.write_text(json.dumps(hashes))
    assert _login(per_person, "bo", PASSWORDS["bo"]) is None
    assert _login(per_person, "bo", "bo-new-password") == "bo"


def test_shared_password_logs_in_the_roster_only_and_is_limited(shared):
    """--shared-password: trainees share one, not outside the roster; locked too."""
    assert _login(shared, "bo", "trainee-shared") == "bo"
    assert _login(shared, "ana", "i" * 32) == "ana"
    for name in ("root", "grader-cc", "ana"):
        assert _login(shared, name, "trainee-shared") is None, name
    for _ in range(3):
        _login(shared, "cy", "guess", "10.0.0.2")
    with pytest.raises(web.HTTPError, match="for this user name"):
        _login(shared, "cy", "trainee-shared", "10.0.0.2")
