"""The public board during the challenge and the final board after it.

Pure functions over plain rows (one dict per scored submission), so that who ranks
where is tested without a database. Teams are ranked by the challenge's metric, then
its tie-breakers (all higher-is-better), then by who got there first.

- :func:`public_board`: each team's best public score.
- :func:`final_board`: each team's final submission is the best *private* score among
  its final picks, or, for a team that picked none, among its ``final_picks`` best
  public submissions; teams are ranked by that private score.
- :func:`ladder_scores` and :func:`ladder_board`: with the challenge's ``ladder``
  step, the public score a team is told moves only when a submission beats the one
  it was last told by more than the step, and is then rounded to the step (the Ladder
  of Blum and Hardt, 2015). Submitting many small variations to climb the public
  board by chance shows nothing; a real improvement shows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["final_board", "ladder_board", "ladder_scores", "public_board"]


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


def ladder_scores(
    rows: Iterable[dict], metric: str, step: float
) -> dict[Any, float | None]:
    """The public score each submission's team is told after it, under the Ladder.

    Parameters
    ----------
    rows : iterable of dict
        Scored submissions, as :func:`public_board`, each with its ``id``.
    metric : str
        The ranking metric (higher is better); tie-breakers are never told.
    step : float
        The Ladder's step: a score is told when it beats the last one told by more
        than ``step``, rounded to a multiple of ``step``.

    Returns
    -------
    dict
        Submission ``id`` -> the score told after it (``None`` before any).

    Examples
    --------
    >>> rows = [{"id": i, "team": "a", "created": i, "public_scores": {"acc": s}}
    ...         for i, s in enumerate([0.700, 0.706, 0.712, 0.690, 0.731])]
    >>> ladder_scores(rows, "acc", 0.01)
    {0: 0.7, 1: 0.7, 2: 0.71, 3: 0.71, 4: 0.73}
    """
    told: dict[Any, float | None] = {}
    last: dict[str, float] = {}
    for row in sorted(rows, key=lambda r: (r["created"], r["id"])):
        score = row["public_scores"].get(metric)
        current = last.get(row["team"])
        if score is not None and (current is None or score > current + step):
            current = round(round(float(score) / step) * step, 12)
            last[row["team"]] = current
        told[row["id"]] = current
    return told


def ladder_board(rows: Iterable[dict], metric: str, step: float) -> list[dict]:
    """Each team's score as the Ladder tells it, ranked; earlier first on a tie.

    The row of a team is the submission that set the score it is told, with
    ``public_scores`` holding that score under ``metric`` only.

    Examples
    --------
    >>> rows = [{"id": 1, "team": "a", "created": 1, "public_scores": {"acc": 0.801}},
    ...         {"id": 2, "team": "b", "created": 2, "public_scores": {"acc": 0.804}},
    ...         {"id": 3, "team": "b", "created": 3, "public_scores": {"acc": 0.809}}]
    >>> [(r["rank"], r["team"], r["public_scores"]) for r in ladder_board(rows, "acc",
    ...                                                                     0.01)]
    [(1, 'a', {'acc': 0.8}), (2, 'b', {'acc': 0.8})]
    """
    rows = list(rows)
    told = ladder_scores(rows, metric, step)
    setter: dict[str, dict] = {}
    for row in sorted(rows, key=lambda r: (r["created"], r["id"])):
        value = told[row["id"]]
        current = setter.get(row["team"])
        if value is not None and (
            current is None or value != current["public_scores"][metric]
        ):
            setter[row["team"]] = {**row, "public_scores": {metric: value}}
    return _ranked(setter, "public_scores", [metric])
