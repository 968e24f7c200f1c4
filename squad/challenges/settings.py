"""Django's settings for one challenge, built in code: no settings module on disk.

:func:`configure` turns a challenge file, a database URL and a state folder into
Django's settings and calls :func:`django.setup`; it runs only when the server or a
``squad challenge`` command starts, never at import. The database is SQLite by default
(a file in the state folder, write-ahead log, writes taken in turn) or PostgreSQL
(``postgresql://user:password@host:port/name``; ``?host=/socket/dir`` for a unix
socket).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from squad.challenges.config import ChallengeConfig
from squad.errors import InvalidInputError

__all__ = ["configure", "database_settings"]


def database_settings(url: str, state_dir: Path) -> dict[str, Any]:
    """Django's ``DATABASES["default"]`` for a database URL.

    Parameters
    ----------
    url : str
        ``sqlite:///relative/path``, ``sqlite:////absolute/path`` or
        ``postgresql://user:password@host:port/name``; empty means
        ``<state_dir>/challenge.sqlite3``.
    state_dir : Path
        Where a relative SQLite path is put.

    Returns
    -------
    dict

    Examples
    --------
    >>> database_settings("sqlite:////tmp/c.db", Path("."))["NAME"]
    '/tmp/c.db'
    >>> database_settings("mysql://x", Path("."))
    Traceback (most recent call last):
    ...
    squad.errors.InvalidInputError: Database URL 'mysql://x' is not supported: use sqlite:///PATH or postgresql://USER@HOST/NAME.
    """
    if not url:
        url = f"sqlite:///{state_dir / 'challenge.sqlite3'}"
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        raw = unquote(parts.path)  # "/name" is relative, "//name" absolute
        if not raw.lstrip("/"):
            msg = f"Database URL {url!r} names no file: use sqlite:///PATH."
            raise InvalidInputError(msg)
        if raw.startswith("//"):
            path = Path("/" + raw.lstrip("/"))
        else:
            path = state_dir / raw.lstrip("/")
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(path),
            "OPTIONS": {
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
            },
        }
    if parts.scheme in ("postgresql", "postgres"):
        query = parse_qs(parts.query)
        host = query.get("host", [parts.hostname or ""])[0]
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parts.path.lstrip("/")),
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": host,
            "PORT": str(parts.port or ""),
            "CONN_MAX_AGE": 0,
        }
    msg = (
        f"Database URL {url!r} is not supported: use sqlite:///PATH or "
        "postgresql://USER@HOST/NAME."
    )
    raise InvalidInputError(msg)


def _secret_key(state_dir: Path) -> str:
    path = state_dir / "secret_key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(50))
    return path.read_text().strip()


def configure(
    config: ChallengeConfig,
    *,
    state_dir: str | Path,
    db_url: str = "",
    data_home: str | None = None,
    secure_cookies: bool = False,
    hub_login=None,
) -> None:
    """Configure Django for ``config`` and set it up (once per process).

    Parameters
    ----------
    config : ChallengeConfig
        The challenge.
    state_dir : path-like
        The server's folder: uploads, the secret key, account sheets, the SQLite file.
    db_url : str, default=""
        See :func:`database_settings`.
    data_home : str, default=None
        See :func:`squad.get_data_home`.
    secure_cookies : bool, default=False
        Behind a TLS reverse proxy: send session and CSRF cookies over HTTPS only, and
        take ``X-Forwarded-Proto: https`` from the proxy as the request's scheme (the
        proxy must set that header on every request, replacing any the client sent).
    hub_login : squad.challenges.hub_login.HubLogin, optional
        Log people in through the hub that runs this server as a service; the
        cookies are then the service's own (its prefix, its names), beside the hub's.

    Raises
    ------
    squad.errors.InvalidInputError
        If Django is already configured for another challenge in this process.
    """
    import django
    from django.conf import settings

    state = Path(state_dir).resolve()
    state.mkdir(parents=True, exist_ok=True)
    os.chmod(state, 0o700)
    (state / "uploads").mkdir(exist_ok=True)
    (state / "tmp").mkdir(exist_ok=True)
    if settings.configured:
        if settings.SQUAD_CHALLENGE != config or settings.SQUAD_STATE != state:
            msg = "Django is already configured for another challenge in this process."
            raise InvalidInputError(msg)
        return
    settings.configure(
        DEBUG=False,
        SECRET_KEY=_secret_key(state),
        ALLOWED_HOSTS=["*"],
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "squad.challenges.apps.ChallengesConfig",
        ],
        MIDDLEWARE=[
            "django.middleware.security.SecurityMiddleware",
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.common.CommonMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "django.middleware.clickjacking.XFrameOptionsMiddleware",
            "csp.middleware.CSPMiddleware",
        ],
        CONTENT_SECURITY_POLICY={
            "DIRECTIVES": {
                "default-src": ["'none'"],
                "style-src": ["'self'"],
                "img-src": ["'self'"],
                "form-action": ["'self'"],
                "base-uri": ["'none'"],
                "frame-ancestors": ["'none'"],
            }
        },
        ROOT_URLCONF="squad.challenges.urls",
        TEMPLATES=[
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "APP_DIRS": True,
                "OPTIONS": {
                    "context_processors": [
                        "django.template.context_processors.request",
                        "django.contrib.auth.context_processors.auth",
                    ]
                },
            }
        ],
        DATABASES={"default": database_settings(db_url, state)},
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        USE_TZ=True,
        TIME_ZONE="UTC",
        LOGIN_URL="login",
        SESSION_COOKIE_NAME="squad-challenge-session",
        CSRF_COOKIE_NAME="squad-challenge-csrf",
        SESSION_COOKIE_PATH=hub_login.prefix if hub_login else "/",
        CSRF_COOKIE_PATH=hub_login.prefix if hub_login else "/",
        SQUAD_HUB_LOGIN=hub_login,
        SESSION_COOKIE_SECURE=secure_cookies,
        CSRF_COOKIE_SECURE=secure_cookies,
        SECURE_PROXY_SSL_HEADER=(
            ("HTTP_X_FORWARDED_PROTO", "https") if secure_cookies else None
        ),
        SESSION_COOKIE_SAMESITE="Lax",
        X_FRAME_OPTIONS="DENY",
        SECURE_CONTENT_TYPE_NOSNIFF=True,
        SECURE_REFERRER_POLICY="same-origin",
        FILE_UPLOAD_TEMP_DIR=str(state / "tmp"),
        FILE_UPLOAD_PERMISSIONS=0o600,
        LOGGING_CONFIG=None,
        SQUAD_CHALLENGE=config,
        SQUAD_STATE=state,
        SQUAD_DATA_HOME=data_home,
    )
    django.setup()
