"""Participants' accounts: a roster in, passwords and tokens out, once.

The organiser's roster is a CSV with the columns ``user,name,email,team``; users named
under ``organisers`` in the challenge file become organisers (their team may be empty).
:func:`load_roster` creates the teams and the accounts that do not exist yet, each with
a generated password (hashed by Django) and an API token (stored as its sha256), and
returns them; :func:`write_sheet` writes them once to a file only its owner can read.
Nothing here ever decides who someone is from a name typed in a form: see
:func:`user_for_token`.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import os
import re
import secrets
from pathlib import Path

from squad.challenges.config import ChallengeConfig
from squad.errors import InvalidInputError, MissingFileError

__all__ = [
    "hash_token",
    "issue_token",
    "load_roster",
    "read_roster",
    "user_for_token",
    "write_sheet",
]

_USER = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,39}$")
_COLUMNS = ("user", "name", "email", "team")


def hash_token(token: str) -> str:
    """The stored form of an API token: its sha256 (tokens are 256 random bits).

    Examples
    --------
    >>> len(hash_token("abc"))
    64
    """
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def read_roster(path: Path, config: ChallengeConfig) -> list[dict[str, str]]:
    """Read and check a roster CSV (``user,name,email,team``).

    Raises
    ------
    squad.errors.MissingFileError
        If the roster does not exist.
    squad.errors.InvalidInputError
        For a missing column, a bad or repeated user name, a participant without a team
        or a team over the challenge's size limit (one line naming the row).
    """
    if not path.is_file():
        msg = f"Roster {path} does not exist; write user,name,email,team rows."
        raise MissingFileError(msg)
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in _COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            msg = f"Roster {path}: missing column(s) {', '.join(missing)}."
            raise InvalidInputError(msg)
        rows = []
        seen: set[str] = set()
        sizes: dict[str, int] = {}
        for line, raw in enumerate(reader, 2):
            row = {c: (raw.get(c) or "").strip() for c in _COLUMNS}
            where = f"Roster {path} line {line}"
            if not _USER.match(row["user"]):
                msg = (
                    f"{where}: user {row['user']!r} must be lower-case letters, "
                    "digits, ., _ or - (at most 40)."
                )
                raise InvalidInputError(msg)
            if row["user"] in seen:
                raise InvalidInputError(f"{where}: user {row['user']!r} is repeated.")
            seen.add(row["user"])
            if row["user"] in config.organisers:
                row["team"] = ""
            elif not row["team"] or len(row["team"]) > 100:
                msg = f"{where}: give {row['user']!r} a team (at most 100 characters)."
                raise InvalidInputError(msg)
            else:
                sizes[row["team"]] = sizes.get(row["team"], 0) + 1
                if sizes[row["team"]] > config.team_size:
                    msg = (
                        f"{where}: team {row['team']!r} has more than "
                        f"{config.team_size} members, the challenge's team size."
                    )
                    raise InvalidInputError(msg)
            rows.append(row)
    return rows


def issue_token(user) -> str:
    """Create an API token for ``user``; return its value (only its hash is kept)."""
    from squad.challenges.models import ApiToken

    token = secrets.token_urlsafe(32)
    ApiToken.objects.create(user=user, digest=hash_token(token))
    return token


def user_for_token(token: str):
    """The active user an API token belongs to, or None."""
    from django.utils import timezone

    from squad.challenges.models import ApiToken

    if not token or len(token) > 200:
        return None
    row = (
        ApiToken.objects.select_related("user")
        .filter(digest=hash_token(token), user__is_active=True)
        .first()
    )
    if row is None:
        return None
    ApiToken.objects.filter(pk=row.pk).update(last_used=timezone.now())
    return row.user


def load_roster(config: ChallengeConfig, challenge) -> list[dict[str, str]]:
    """Create the roster's teams and new accounts; return the new credentials.

    Accounts that exist are left as they are (their passwords are not reissued).

    Parameters
    ----------
    config : ChallengeConfig
        The challenge (its ``roster`` and ``organisers``).
    challenge : squad.challenges.models.Challenge
        The challenge row the teams belong to.

    Returns
    -------
    list of dict
        One row per account created: user, name, email, team, password, token.
    """
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from squad.challenges.models import Participant, Team

    if config.roster is None:
        return []
    rows = read_roster(config.roster, config)
    users = get_user_model()
    issued = []
    with transaction.atomic():
        for row in rows:
            if users.objects.filter(username=row["user"]).exists():
                continue
            password = secrets.token_urlsafe(12)
            organiser = row["user"] in config.organisers
            first, _, last = row["name"].partition(" ")
            user = users.objects.create_user(
                row["user"],
                email=row["email"],
                password=password,
                first_name=first[:150],
                last_name=last[:150],
                is_staff=organiser,
            )
            if not organiser:
                team, _ = Team.objects.get_or_create(
                    challenge=challenge,
                    name=row["team"],
                    defaults={"size_limit": config.team_size},
                )
                if team.members.count() >= team.size_limit:
                    msg = f"Team {team.name!r} is full ({team.size_limit} members)."
                    raise InvalidInputError(msg)
                Participant.objects.create(user=user, team=team)
            issued.append({**row, "password": password, "token": issue_token(user)})
    return issued


def write_sheet(state_dir: Path, issued: list[dict[str, str]]) -> Path | None:
    """Write new credentials to a new sheet only its owner can read (mode 0600).

    Returns
    -------
    Path or None
        The sheet, or None when nothing was issued.
    """
    if not issued:
        return None
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    path = Path(state_dir) / f"accounts-{stamp}.csv"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=[*_COLUMNS, "password", "token"])
        writer.writeheader()
        writer.writerows(issued)
    return path
