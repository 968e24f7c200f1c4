"""Taking in an upload: whose it is, whether the caps allow it, where it is kept.

The team is always the one the logged-in user (or the token's user) belongs to; no
form field or URL names it. The caps count a team's submissions that are ``counted``:
a file that fails its checks stops counting when it fails, and an organiser's reset
stops the earlier ones counting. Taking a slot and writing the row happen under one
lock and in one transaction, so two uploads at once cannot both take the last slot.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import threading
from pathlib import Path

from squad.errors import InvalidInputError

__all__ = [
    "ALLOWED_SUFFIXES",
    "Refused",
    "accept_upload",
    "current_phase",
    "slots_left",
]

ALLOWED_SUFFIXES = (".csv", ".txt", ".parquet")
_LOCK = threading.Lock()


class Refused(InvalidInputError):
    """An upload the server refuses; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def check_body_size(request, config) -> None:
    """Refuse a request body over the upload limit before Django reads the file.

    Raises
    ------
    Refused
        With status 413, when ``Content-Length`` is over ``max_upload_mb`` plus 1 MB
        for the form's other parts.
    """
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > int((config.max_upload_mb + 1) * 1024 * 1024):
        raise Refused(f"The file is larger than {config.max_upload_mb:g} MB.", 413)


def current_phase(challenge, now: dt.datetime):
    """The phase open at ``now``, or None."""
    from squad.challenges.models import Phase

    return Phase.objects.filter(
        challenge=challenge, opens__lte=now, closes__gt=now
    ).first()


def slots_left(team, now: dt.datetime, daily_cap: int, total_cap: int) -> int:
    """How many more submissions ``team`` may make today (UTC) and in total."""
    counted = team.submissions.filter(counted=True)
    start = now.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    today = counted.filter(created__gte=start).count()
    return max(0, min(daily_cap - today, total_cap - counted.count()))


def _safe_name(name: str) -> str:
    base = os.path.basename(str(name).replace("\\", "/"))
    return "".join(ch if ch.isprintable() else "?" for ch in base)[:200] or "upload"


def accept_upload(user, upload, *, config, state_dir: Path, now: dt.datetime):
    """Queue ``upload`` for ``user``'s team, or refuse it.

    Parameters
    ----------
    user : django.contrib.auth.models.User
        The authenticated user (from the session or the token).
    upload : django.core.files.uploadedfile.UploadedFile
        The file.
    config : ChallengeConfig
        The challenge (caps, size limit).
    state_dir : Path
        The server's folder (uploads are kept in ``uploads/``).
    now : datetime
        The time of the upload.

    Returns
    -------
    squad.challenges.models.Submission
        The queued row.

    Raises
    ------
    Refused
        No team (403), no open phase (403), no fact sheet where the phase asks for
        one (403), a file too big (413) or of the wrong kind (400), or no slot left
        under the caps (429).
    """
    from django.db import transaction

    from squad.challenges.models import Challenge, FactSheet, Submission

    participant = getattr(user, "participant", None)
    if participant is None:
        raise Refused("Only members of a team can submit.", 403)
    team = participant.team
    phase = current_phase(Challenge.objects.get(), now)
    if phase is None:
        raise Refused("No phase of the challenge is open now.", 403)
    if phase.needs_fact_sheet and not FactSheet.objects.filter(team=team).exists():
        msg = (
            f"Team {team.name!r} has no fact sheet: the {phase.name!r} phase takes "
            "submissions only from teams that say how they made them; fill it in "
            "from the My team page (team/factsheet/)."
        )
        raise Refused(msg, 403)
    name = _safe_name(upload.name)
    suffix = Path(name).suffix.lower()
    if suffix not in ALLOWED_SUFFIXES:
        raise Refused(f"Upload a .csv or .parquet file, not {name!r}.")
    limit = int(config.max_upload_mb * 1024 * 1024)
    if upload.size > limit:
        msg = f"The file is larger than {config.max_upload_mb:g} MB."
        raise Refused(msg, 413)
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    with _LOCK, transaction.atomic():
        locked = type(team).objects.select_for_update().get(pk=team.pk)
        if slots_left(locked, now, config.daily_cap, config.total_cap) <= 0:
            msg = (
                f"Team {team.name!r} has used its submissions "
                f"({config.daily_cap} a day, {config.total_cap} in all)."
            )
            raise Refused(msg, 429)
        row = Submission.objects.create(
            team=team,
            user=user,
            phase=phase,
            filename=name,
            sha256=digest.hexdigest(),
            status=Submission.QUEUED,
        )
        stored = f"{row.pk}{suffix}"
        target = Path(state_dir) / "uploads" / stored
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            for chunk in upload.chunks():
                out.write(chunk)
        Submission.objects.filter(pk=row.pk).update(stored=stored)
        row.stored = stored
    return row
