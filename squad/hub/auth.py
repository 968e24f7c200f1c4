"""Logging in to the course's hub: each person's own password, failed logins limited.

The hub's configuration (written by `squad.hub.config`) selects one of two
authenticators, both importable by the hub's process:

* `SquadPasswordAuthenticator` (the default): each person logs in with their own
  password, checked against its hash in ``state/password-hashes.json`` (see
  `squad.hub.passwords`). The file is read again when it changes, so a password reset
  with ``squad hub passwords --reset NAME`` works without restarting the hub.
* `SquadSharedPasswordAuthenticator` (``squad hub start --shared-password``):
  JupyterHub's shared-password authenticator, one password for all trainees and one
  for the instructors.

Both refuse names that are not on the roster (``allowed_users``) or are blocked (the
grader account, ``root``) as a wrong password, and both limit failed logins: after
``failures_per_name`` failures for one user name, or ``failures_per_client`` from one
address, within ``failure_window`` seconds, that name or address is refused for
``lockout`` seconds, right password or not (HTTP 429, "try again in N minutes"). The
counts live in the hub process's memory: a restart forgets them.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections import deque
from collections.abc import Callable

from jupyterhub.auth import Authenticator
from jupyterhub.authenticators.shared import SharedPasswordAuthenticator
from tornado import web
from traitlets import Float, Integer, Unicode

from squad.hub.passwords import hash_password, read_password_hashes, verify_password

__all__ = [
    "FAILURES_PER_CLIENT",
    "FAILURES_PER_NAME",
    "LoginLimiter",
    "RateLimitedAuthenticator",
    "SquadPasswordAuthenticator",
    "SquadSharedPasswordAuthenticator",
]

#: Failed logins for one user name, within the window, before the name is locked.
FAILURES_PER_NAME = 5
#: Failed logins from one address before it is locked: higher than per name, because a
#: class behind one NAT router (a training room) logs in from one address.
FAILURES_PER_CLIENT = 50
#: Seconds over which failures are counted, and seconds a lock lasts.
FAILURE_WINDOW_S = 600.0
LOCKOUT_S = 600.0


class LoginLimiter:
    """Failed attempts per key (a user name, an address) in a sliding time window.

    Parameters
    ----------
    max_failures : int
        Failures within ``window`` seconds that lock the key.
    window : float
        Seconds over which failures count.
    lockout : float
        Seconds a locked key stays locked.
    clock : callable, default=time.monotonic
        Seconds, for tests that move time on without waiting.

    Examples
    --------
    >>> now = [0.0]
    >>> limiter = LoginLimiter(2, window=60, lockout=300, clock=lambda: now[0])
    >>> limiter.failed("bo"); limiter.locked_for("bo")
    0.0
    >>> limiter.failed("bo"); limiter.locked_for("bo")
    300.0
    >>> now[0] = 301.0; limiter.locked_for("bo")
    0.0
    """

    def __init__(
        self,
        max_failures: int,
        *,
        window: float,
        lockout: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.window = window
        self.lockout = lockout
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._locked_until: dict[str, float] = {}

    def locked_for(self, key: str) -> float:
        """Seconds ``key`` stays locked; 0 when it may try."""
        left = self._locked_until.get(key, 0.0) - self._clock()
        if left > 0:
            return left
        self._locked_until.pop(key, None)
        return 0.0

    def failed(self, key: str) -> None:
        """Count a failure of ``key``; lock it when it has too many in the window."""
        now = self._clock()
        if len(self._failures) > 10_000:  # forget stale keys: memory stays bounded
            self._forget_before(now - self.window)
        recent = self._failures.setdefault(key, deque())
        recent.append(now)
        while recent and recent[0] <= now - self.window:
            recent.popleft()
        if len(recent) >= self.max_failures:
            self._locked_until[key] = now + self.lockout
            recent.clear()

    def succeeded(self, key: str) -> None:
        """Forget ``key``'s failures (a person who got in after a typo)."""
        self._failures.pop(key, None)

    def _forget_before(self, oldest: float) -> None:
        for key in [k for k, times in self._failures.items() if times[-1] <= oldest]:
            del self._failures[key]


class RateLimitedAuthenticator(Authenticator):
    """An authenticator that refuses a name or an address after too many failures.

    Subclasses check the password in `check_password`; this class refuses names off
    the roster (``allowed_users``, ``admin_users``) or blocked, counts the failures and
    answers HTTP 429 while a name or an address is locked.
    """

    failures_per_name = Integer(
        FAILURES_PER_NAME,
        config=True,
        help="Failed logins for one user name, within failure_window, that lock it.",
    )
    failures_per_client = Integer(
        FAILURES_PER_CLIENT,
        config=True,
        help="Failed logins from one address, within failure_window, that lock it.",
    )
    failure_window = Float(
        FAILURE_WINDOW_S, config=True, help="Seconds over which failures are counted."
    )
    lockout = Float(LOCKOUT_S, config=True, help="Seconds a locked name stays locked.")

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.clock: Callable[[], float] = time.monotonic
        self._limiters: tuple[LoginLimiter, LoginLimiter] | None = None

    def _limits(self) -> tuple[LoginLimiter, LoginLimiter]:
        if self._limiters is None:
            self._limiters = tuple(
                LoginLimiter(
                    most,
                    window=self.failure_window,
                    lockout=self.lockout,
                    clock=self.clock,
                )
                for most in (self.failures_per_name, self.failures_per_client)
            )
        return self._limiters

    def _on_roster(self, name: str) -> bool:
        return (
            name in (self.allowed_users | self.admin_users)
            and name not in self.blocked_users
        )

    async def check_password(self, handler, data: dict) -> str | dict | None:
        """Return the person (as `authenticate` does) if the password is theirs."""
        raise NotImplementedError

    async def authenticate(self, handler, data: dict) -> str | dict | None:
        """Check the password, unless the name or the address is locked.

        Raises
        ------
        tornado.web.HTTPError
            429 while the name or the client's address is locked.
        """
        names, clients = self._limits()
        name = self.normalize_username(str(data.get("username", "")))
        client = handler.request.remote_ip if handler is not None else ""
        for limiter, key, what in (
            (names, name, "for this user name"),
            (clients, client, "from your address"),
        ):
            left = limiter.locked_for(key)
            if left:
                self.log.warning(
                    "Login of %r from %s refused: %s is locked for %d s more",
                    name[:32],
                    client,
                    "the name" if limiter is names else "the address",
                    left,
                )
                minutes = math.ceil(left / 60)
                msg = (
                    f"Too many failed logins {what}. Try again in {minutes} "
                    "minute(s), or ask your instructor for your password."
                )
                raise web.HTTPError(429, msg)
        # Checked for every name, on the roster or not: a refusal takes as long.
        found = await self.check_password(handler, data)
        if found is not None and self._on_roster(name):
            names.succeeded(name)
            return found
        names.failed(name)
        clients.failed(client)
        self.log.warning("Failed login for %r from %s", name[:32], client)
        return None


class SquadPasswordAuthenticator(RateLimitedAuthenticator):
    """Each person logs in with their own password, checked against its hash.

    Configure ``c.SquadPasswordAuthenticator.password_file`` (the hub's
    ``state/password-hashes.json``) and ``c.Authenticator.allowed_users`` (the roster).
    """

    password_file = Unicode(
        "", config=True, help="The file of password hashes, by user name."
    )

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._hashes: dict[str, str] = {}
        self._read: tuple[int, int] | None = None
        # Compared against when the name has no hash, so that a name off the roster
        # takes as long to refuse as a wrong password.
        self._nobody = hash_password(os.urandom(16).hex())

    def _password_hashes(self) -> dict[str, str]:
        """The file's hashes, read again whenever the file changes."""
        try:
            status = os.stat(self.password_file)
        except OSError:
            self.log.error(
                "The password file %s is missing: nobody can log in. Run `squad hub "
                "passwords COURSE_FILE`.",
                self.password_file,
            )
            return {}
        if self._read != (status.st_mtime_ns, status.st_size):
            self._hashes = read_password_hashes(self.password_file)
            self._read = (status.st_mtime_ns, status.st_size)
        return self._hashes

    async def check_password(self, handler, data: dict) -> str | None:
        """The person's name if the password matches their own hash."""
        name = self.normalize_username(str(data.get("username", "")))
        password = str(data.get("password", ""))
        stored = self._password_hashes().get(name)
        ok = await asyncio.to_thread(verify_password, password, stored or self._nobody)
        return name if ok and stored else None


class SquadSharedPasswordAuthenticator(
    RateLimitedAuthenticator, SharedPasswordAuthenticator
):
    """JupyterHub's shared-password authenticator, limited to the roster and rate-limited.

    Configured as `SharedPasswordAuthenticator` is (``user_password``,
    ``admin_password``).
    """

    async def check_password(self, handler, data: dict) -> dict | None:
        """JupyterHub's check of the shared passwords."""
        return await SharedPasswordAuthenticator.authenticate(self, handler, data)
