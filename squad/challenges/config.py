"""The challenge file (``CHALLENGE.yml``): read once, checked, frozen.

A challenge file names a coding task of the catalogue, the metric that ranks teams, the
phases with their opening and closing times, the submission caps, the team size and the
share of the test records that the public board scores. Every problem is one line of
`squad.errors.InvalidInputError` that names the key, the value found and what to write.
See ``squad/challenges/example.yml`` and ``docs/challenges.md``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from squad.errors import InvalidInputError, MissingFileError

__all__ = ["METRICS", "ChallengeConfig", "Phase", "parse_challenge", "read_challenge"]

#: Metrics a challenge can rank by, each higher-is-better.
METRICS = ("accuracy", "f1_macro", "f1_weighted")

_KEYS = {
    "title",
    "dataset",
    "protocol",
    "language",
    "metric",
    "tie_breakers",
    "phases",
    "caps",
    "team_size",
    "final_picks",
    "public_fraction",
    "seed",
    "max_upload_mb",
    "roster",
    "organisers",
}


@dataclass(frozen=True)
class Phase:
    """One phase of a challenge: submissions are taken from ``opens`` to ``closes``."""

    name: str
    opens: dt.datetime
    closes: dt.datetime


@dataclass(frozen=True)
class ChallengeConfig:
    """A checked challenge file (see :func:`read_challenge`)."""

    title: str
    dataset: str
    protocol: str | None
    language: str | None
    metric: str
    tie_breakers: tuple[str, ...]
    phases: tuple[Phase, ...]
    daily_cap: int
    total_cap: int
    team_size: int
    final_picks: int
    public_fraction: float
    seed: int
    max_upload_mb: float
    roster: Path | None = None
    organisers: tuple[str, ...] = ()
    path: Path | None = None

    @property
    def metrics(self) -> tuple[str, ...]:
        """The ranking metric, then the tie-breakers."""
        return (self.metric, *self.tie_breakers)


def _fail(where: str, problem: str) -> InvalidInputError:
    return InvalidInputError(f"{where}: {problem}")


def _time(value: Any, where: str) -> dt.datetime:
    if isinstance(value, dt.datetime):
        moment = value
    else:
        try:
            moment = dt.datetime.fromisoformat(str(value))
        except ValueError as err:
            msg = f"{value!r} is not an ISO time; write e.g. 2026-12-01T09:00:00+00:00."
            raise _fail(where, msg) from err
    if moment.tzinfo is None:
        msg = f"{value!r} has no time zone; add one, e.g. +00:00 or Z."
        raise _fail(where, msg)
    return moment.astimezone(dt.UTC)


def _int(value: Any, where: str, *, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise _fail(where, f"expected a whole number >= {low}, got {value!r}.")
    return value


def _phases(raw: Any, where: str) -> tuple[Phase, ...]:
    if not isinstance(raw, list) or not raw:
        msg = "list at least one phase with name, opens and closes."
        raise _fail(f"{where} phases", msg)
    phases = []
    for i, item in enumerate(raw, 1):
        spot = f"{where} phases[{i}]"
        if not isinstance(item, dict) or set(item) != {"name", "opens", "closes"}:
            raise _fail(spot, f"expected keys name, opens, closes; got {item!r}.")
        name = str(item["name"]).strip()
        if not name or not name.replace("-", "").replace("_", "").isalnum():
            raise _fail(spot, f"name {name!r} must be letters, digits, - or _.")
        opens, closes = _time(item["opens"], spot), _time(item["closes"], spot)
        if closes <= opens:
            raise _fail(spot, f"closes ({closes}) is not after opens ({opens}).")
        if phases and opens < phases[-1].closes:
            raise _fail(spot, "opens before the previous phase closes.")
        phases.append(Phase(name, opens, closes))
    if len({p.name for p in phases}) != len(phases):
        raise _fail(f"{where} phases", "two phases share a name.")
    return tuple(phases)


def parse_challenge(raw: Any, where: str = "challenge file") -> ChallengeConfig:
    """Check a challenge's settings (the parsed YAML) and freeze them.

    Parameters
    ----------
    raw : dict
        The mapping a challenge file holds.
    where : str, default="challenge file"
        How messages name the file.

    Returns
    -------
    ChallengeConfig

    Raises
    ------
    squad.errors.InvalidInputError
        One line naming the first problem found.

    Examples
    --------
    >>> c = parse_challenge({"title": "T", "dataset": "soc2010", "phases": [
    ...     {"name": "main", "opens": "2026-01-01T00:00Z", "closes": "2026-01-02T00:00Z"}]})
    >>> c.metric, c.daily_cap, c.public_fraction
    ('accuracy', 5, 0.3)
    """
    from squad.board.predictions import SCORED_DATASETS

    if not isinstance(raw, dict):
        raise _fail(where, "expected a mapping of settings (title, dataset, phases).")
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        msg = f"unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(_KEYS))}."
        raise _fail(where, msg)
    title = str(raw.get("title") or "").strip()
    if not title:
        raise _fail(where, "give the challenge a title.")
    dataset = raw.get("dataset")
    if dataset not in SCORED_DATASETS:
        msg = (
            f"dataset {dataset!r} has no coding task; use {', '.join(SCORED_DATASETS)}."
        )
        raise _fail(where, msg)
    metric = raw.get("metric", "accuracy")
    ties = raw.get("tie_breakers", [])
    if not isinstance(ties, list):
        raise _fail(where, f"tie_breakers must be a list of metrics, got {ties!r}.")
    for name in (metric, *ties):
        if name not in METRICS:
            msg = f"metric {name!r} is unknown; use one of {', '.join(METRICS)}."
            raise _fail(where, msg)
    caps = raw.get("caps", {}) or {}
    if not isinstance(caps, dict) or set(caps) - {"per_day", "total"}:
        raise _fail(where, f"caps takes per_day and total, got {caps!r}.")
    fraction = raw.get("public_fraction", 0.3)
    if isinstance(fraction, bool) or not isinstance(fraction, int | float):
        raise _fail(where, f"public_fraction must be a number, got {fraction!r}.")
    if not 0 < fraction < 1:
        raise _fail(where, f"public_fraction must be between 0 and 1, got {fraction}.")
    size = raw.get("max_upload_mb", 20)
    if isinstance(size, bool) or not isinstance(size, int | float) or size <= 0:
        raise _fail(where, f"max_upload_mb must be a positive number, got {size!r}.")
    organisers = raw.get("organisers", [])
    if not isinstance(organisers, list) or not all(
        isinstance(o, str) for o in organisers
    ):
        msg = f"organisers must be a list of user names, got {organisers!r}."
        raise _fail(where, msg)
    language = raw.get("language")
    if language is not None and dataset != "ecoicop":
        raise _fail(where, "language applies to the ecoicop dataset only.")
    return ChallengeConfig(
        title=title,
        dataset=dataset,
        protocol=None if raw.get("protocol") is None else str(raw["protocol"]),
        language=None if language is None else str(language),
        metric=metric,
        tie_breakers=tuple(ties),
        phases=_phases(raw.get("phases"), where),
        daily_cap=_int(caps.get("per_day", 5), f"{where} caps.per_day"),
        total_cap=_int(caps.get("total", 100), f"{where} caps.total"),
        team_size=_int(raw.get("team_size", 4), f"{where} team_size"),
        final_picks=_int(raw.get("final_picks", 2), f"{where} final_picks"),
        public_fraction=float(fraction),
        seed=_int(raw.get("seed", 0), f"{where} seed", low=0),
        max_upload_mb=float(size),
        roster=None if raw.get("roster") is None else Path(str(raw["roster"])),
        organisers=tuple(organisers),
    )


def read_challenge(path: str | Path) -> ChallengeConfig:
    """Read and check a challenge file.

    Parameters
    ----------
    path : path-like
        The ``CHALLENGE.yml`` file.

    Returns
    -------
    ChallengeConfig

    Raises
    ------
    squad.errors.MissingFileError
        If the file does not exist.
    squad.errors.InvalidInputError
        If it is not YAML or a setting is wrong (one line naming it).
    """
    import yaml

    path = Path(path)
    if not path.is_file():
        msg = (
            f"Challenge file {path} does not exist; write one (see docs/challenges.md)."
        )
        raise MissingFileError(msg)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        msg = f"{path}: not valid YAML ({' '.join(str(err).split())})."
        raise InvalidInputError(msg) from err
    config = parse_challenge(raw, str(path))
    roster = config.roster
    if roster is not None and not roster.is_absolute():
        roster = path.resolve().parent / roster
    return ChallengeConfig(
        **{**config.__dict__, "roster": roster, "path": path.resolve()}
    )
