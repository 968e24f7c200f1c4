"""A closed challenge's final results, written as a file for the board's static site.

:func:`final_results` puts together, from the challenge's database, what the board
shows of it: the title, task and metrics, the digest of the private labels published
when it opened, the close time and the final board
(:func:`squad.challenges.standings.final_board`), each team's private and public scores
of its final submission and how many of its submissions were scored. The private scores
are secret until the last phase closes: before that, nothing is written.
:func:`write_results` writes the file atomically, in the format
:mod:`squad.board.challenge_results` reads (and checks here first).
"""

from __future__ import annotations

import datetime as dt
import os
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from squad._atomic import atomic_write_json
from squad.board.challenge_results import (
    RESULTS_FORMAT,
    RESULTS_VERSION,
    check_results,
)
from squad.challenges.config import ChallengeConfig
from squad.errors import InvalidInputError, MissingFileError

__all__ = ["final_results", "write_results"]

#: Fact sheet fields a team's row may carry.
FACT_FIELDS = ("method", "code_url")


def _when(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def final_results(
    config: ChallengeConfig,
    *,
    now: dt.datetime | None = None,
    fact_sheets: Mapping[str, Mapping[str, str]] | None = None,
) -> dict[str, Any]:
    """The final results of the challenge Django is configured for.

    Parameters
    ----------
    config : ChallengeConfig
        The challenge (its metrics and ``final_picks``).
    now : datetime, optional
        The time to compare with the close (default: now).
    fact_sheets : mapping, optional
        Team name to its fact sheet: ``method`` and ``code_url`` (both optional) are
        added to the team's row. Default: the teams' fact sheets in the database.

    Returns
    -------
    dict
        The content of a results file (see :mod:`squad.board.challenge_results`).

    Raises
    ------
    squad.errors.InvalidInputError
        If the database holds no challenge, or the last phase has not closed yet.
    """
    from django.db import DatabaseError
    from django.utils import timezone

    from squad.challenges import standings
    from squad.challenges.models import Challenge, FactSheet
    from squad.challenges.views import board_rows, final_board_open

    try:
        challenge = Challenge.objects.first()
    except DatabaseError as err:
        msg = (
            "The database holds no challenge tables: run `squad challenge serve` "
            "with this challenge file and --db first."
        )
        raise InvalidInputError(msg) from err
    if challenge is None:
        msg = "The database holds no challenge: run `squad challenge serve` first."
        raise InvalidInputError(msg)
    now = timezone.now() if now is None else now
    last = challenge.phase_set.order_by("-closes").first()
    if last is None:
        msg = f"Challenge {challenge.title!r} has no phases: it never closes."
        raise InvalidInputError(msg)
    if not final_board_open(challenge, now):
        msg = (
            f"Challenge {challenge.title!r} closes at {_when(last.closes)}; its final "
            "results (private scores) stay hidden until then. Run this after the close."
        )
        raise InvalidInputError(msg)
    if fact_sheets is None:
        fact_sheets = {
            sheet.team.name: {"method": sheet.method, "code_url": sheet.code_url}
            for sheet in FactSheet.objects.select_related("team")
        }
    rows = board_rows(challenge)
    counts = Counter(row["team"] for row in rows)
    ranked = standings.final_board(rows, config.metrics, config.final_picks)
    teams = []
    for row in ranked:
        team = {
            "rank": row["rank"],
            "team": row["team"],
            "private_scores": _scores(row["private_scores"], config.metrics),
            "public_scores": _scores(row["public_scores"], config.metrics),
            "n_submissions": counts[row["team"]],
        }
        sheet = fact_sheets.get(row["team"], {})
        team.update({k: sheet[k] for k in FACT_FIELDS if sheet.get(k)})
        teams.append(team)
    return {
        "format": RESULTS_FORMAT,
        "version": RESULTS_VERSION,
        "title": challenge.title,
        "dataset": challenge.dataset,
        "protocol": challenge.protocol,
        "metrics": list(config.metrics),
        "private_sha256": challenge.private_sha256,
        "n_public": challenge.n_public,
        "n_private": challenge.n_private,
        "closed_at": last.closes.astimezone(dt.UTC).isoformat(),
        "teams": teams,
    }


def _scores(scores: Mapping[str, Any], metrics: tuple[str, ...]) -> dict[str, float]:
    return {m: float(scores[m]) for m in metrics if scores.get(m) is not None}


def write_results(
    config: ChallengeConfig,
    out: str | os.PathLike[str],
    *,
    state_dir: str | os.PathLike[str],
    db_url: str = "",
    now: dt.datetime | None = None,
) -> Path:
    """Write the final results of a closed challenge to ``out`` (atomically).

    Parameters
    ----------
    config : ChallengeConfig
        The challenge.
    out : path-like
        The JSON file to write.
    state_dir : path-like
        The server's folder.
    db_url : str, default=""
        The server's database (see
        :func:`squad.challenges.settings.database_settings`).
    now : datetime, optional
        As :func:`final_results`.

    Returns
    -------
    pathlib.Path
        ``out``.

    Raises
    ------
    squad.errors.MissingFileError
        If the challenge's SQLite database does not exist.
    squad.errors.InvalidInputError
        As :func:`final_results`.
    """
    from squad.challenges.settings import configure, database_settings

    state = Path(state_dir)
    database = database_settings(db_url, state.resolve())
    if database["ENGINE"].endswith("sqlite3") and not Path(database["NAME"]).is_file():
        msg = (
            f"No challenge database at {database['NAME']}: give the --db and --state "
            "the server ran with."
        )
        raise MissingFileError(msg)
    configure(config, state_dir=state, db_url=db_url)
    results = check_results(final_results(config, now=now), out)
    return atomic_write_json(out, results)
