"""The public board during the challenge and the final board after it.

Pure functions over plain rows (one dict per scored submission), so that who ranks
where is tested without a database. Teams are ranked by the challenge's metric, then
its tie-breakers (all higher-is-better), then by who got there first.

- :func:`public_board`: each team's best public score.
- :func:`final_board`: each team's final submission is the best *private* score among
  its final picks, or, for a team that picked none, among its ``final_picks`` best
  public submissions; teams are ranked by that private score.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["final_board", "public_board"]


def _key(scores: dict[str, float], metrics: Sequence[str], created: Any) -> tuple:
    return (*(-float(scores.get(m, float("-inf"))) for m in metrics), created)


def _ranked(best: dict[str, dict], field: str, metrics: Sequence[str]) -> list[dict]:
    rows = sorted(best.values(), key=lambda r: _key(r[field], metrics, r["created"]))
    return [{"rank": i, **row} for i, row in enumerate(rows, 1)]


def public_board(rows: Iterable[dict], metrics: Sequence[str]) -> list[dict]:
    """Each team's best public submission, ranked.

    Parameters
    ----------
    rows : iterable of dict
        Scored submissions: ``team``, ``created``, ``public_scores``,
        ``private_scores``, ``picked``.
    metrics : sequence of str
        The ranking metric, then the tie-breakers.

    Returns
    -------
    list of dict
        ``rank`` and the team's best row.

    Examples
    --------
    >>> rows = [{"team": "a", "created": 1, "public_scores": {"accuracy": 0.5}},
    ...         {"team": "b", "created": 2, "public_scores": {"accuracy": 0.7}},
    ...         {"team": "a", "created": 3, "public_scores": {"accuracy": 0.6}}]
    >>> [(r["rank"], r["team"]) for r in public_board(rows, ["accuracy"])]
    [(1, 'b'), (2, 'a')]
    """
    best: dict[str, dict] = {}
    for row in rows:
        current = best.get(row["team"])
        if current is None or _key(
            row["public_scores"], metrics, row["created"]
        ) < _key(current["public_scores"], metrics, current["created"]):
            best[row["team"]] = row
    return _ranked(best, "public_scores", metrics)


def final_board(
    rows: Iterable[dict], metrics: Sequence[str], final_picks: int
) -> list[dict]:
    """Each team's final submission, ranked by private score.

    Parameters
    ----------
    rows : iterable of dict
        As :func:`public_board`.
    metrics : sequence of str
        The ranking metric, then the tie-breakers.
    final_picks : int
        How many of its best public submissions stand for a team that picked none.

    Returns
    -------
    list of dict

    Examples
    --------
    >>> rows = [{"team": "a", "created": 1, "picked": False,
    ...          "public_scores": {"accuracy": 0.9}, "private_scores": {"accuracy": 0.4}},
    ...         {"team": "a", "created": 2, "picked": True,
    ...          "public_scores": {"accuracy": 0.5}, "private_scores": {"accuracy": 0.6}}]
    >>> final_board(rows, ["accuracy"], 1)[0]["private_scores"]
    {'accuracy': 0.6}
    """
    by_team: dict[str, list[dict]] = {}
    for row in rows:
        by_team.setdefault(row["team"], []).append(row)
    best: dict[str, dict] = {}
    for team, team_rows in by_team.items():
        chosen = [r for r in team_rows if r.get("picked")][:final_picks]
        if not chosen:
            chosen = sorted(
                team_rows, key=lambda r: _key(r["public_scores"], metrics, r["created"])
            )[:final_picks]
        best[team] = min(
            chosen, key=lambda r: _key(r["private_scores"], metrics, r["created"])
        )
    return _ranked(best, "private_scores", metrics)
