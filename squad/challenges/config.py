"""The challenge file (``CHALLENGE.yml``): read once, checked, frozen.

A challenge file names a coding task of the catalogue (``dataset:``) or the organiser's
own labelled file kept on the server (``labels:``), the metric that ranks teams, the
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

__all__ = [
    "MAX_LABEL_ROWS",
    "METRICS",
    "ChallengeConfig",
    "LabelsFile",
    "Phase",
    "parse_challenge",
    "read_challenge",
]

#: Metrics a challenge can rank by, each higher-is-better.
METRICS = ("accuracy", "f1_macro", "f1_weighted")

#: The most records an organiser's labels file may hold.
MAX_LABEL_ROWS = 2_000_000

_LABEL_KEYS = {"file", "id", "text", "label", "sha256"}

_KEYS = {
    "title",
    "dataset",
    "labels",
    "protocol",
    "language",
    "metric",
    "tie_breakers",
    "phases",
    "caps",
    "team_size",
    "final_picks",
    "public_fraction",
    "ladder",
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
    fact_sheet: bool = False


@dataclass(frozen=True)
class LabelsFile:
    """The organiser's own labelled file (``labels:``): where it is, which columns.

    ``file`` is relative to the challenge file's folder until :func:`read_challenge`
    makes it absolute; ``sha256`` (optional) is checked when the server starts.
    """

    file: Path
    id: str
    text: tuple[str, ...]
    label: str
    sha256: str | None = None


@dataclass(frozen=True)
class ChallengeConfig:
    """A checked challenge file (see :func:`read_challenge`)."""

    title: str
    dataset: str | None
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
    labels: LabelsFile | None = None
    ladder: float | None = None

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
        if (
            not isinstance(item, dict)
            or not {"name", "opens", "closes"} <= set(item)
            or not set(item) <= {"name", "opens", "closes", "fact_sheet"}
        ):
            msg = f"expected keys name, opens, closes (and fact_sheet); got {item!r}."
            raise _fail(spot, msg)
        fact_sheet = item.get("fact_sheet", False)
        if not isinstance(fact_sheet, bool):
            raise _fail(spot, f"fact_sheet must be true or false, not {fact_sheet!r}.")
        name = str(item["name"]).strip()
        if not name or not name.replace("-", "").replace("_", "").isalnum():
            raise _fail(spot, f"name {name!r} must be letters, digits, - or _.")
        opens, closes = _time(item["opens"], spot), _time(item["closes"], spot)
        if closes <= opens:
            raise _fail(spot, f"closes ({closes}) is not after opens ({opens}).")
        if phases and opens < phases[-1].closes:
            raise _fail(spot, "opens before the previous phase closes.")
        phases.append(Phase(name, opens, closes, fact_sheet))
    if len({p.name for p in phases}) != len(phases):
        raise _fail(f"{where} phases", "two phases share a name.")
    return tuple(phases)


def _column(value: Any, where: str, key: str, example: str) -> str:
    if not isinstance(value, str) or not value.strip():
        msg = f"labels.{key} {value!r} must name a column of the file; write e.g. {example}."
        raise _fail(where, msg)
    return value.strip()


def _labels(raw: Any, where: str) -> LabelsFile:
    example = "{file: answers.csv, id: record_id, text: [title], label: code}"
    if not isinstance(raw, dict):
        raise _fail(
            where, f"labels must be a mapping, got {raw!r}; write e.g. {example}."
        )
    unknown = sorted(set(raw) - _LABEL_KEYS)
    missing = sorted({"file", "id", "text", "label"} - set(raw))
    if unknown or missing:
        msg = (
            f"labels takes file, id, text, label and optionally sha256 "
            f"(unknown: {', '.join(unknown) or 'none'}; missing: "
            f"{', '.join(missing) or 'none'}); write e.g. {example}."
        )
        raise _fail(where, msg)
    name = raw["file"]
    if not isinstance(name, str) or not name.strip():
        msg = f"labels.file {name!r} must be a path; write e.g. answers.csv."
        raise _fail(where, msg)
    file = Path(name.strip())
    if file.is_absolute() or ".." in file.parts or "\\" in name:
        msg = (
            f"labels.file {name!r} must be a path inside the challenge file's folder; "
            "write e.g. answers.csv or data/answers.parquet."
        )
        raise _fail(where, msg)
    if file.suffix.lower() not in (".csv", ".parquet"):
        msg = f"labels.file {name!r} must be a .csv or .parquet file."
        raise _fail(where, msg)
    texts = raw["text"]
    texts = [texts] if isinstance(texts, str) else texts
    if not isinstance(texts, list) or not texts:
        msg = f"labels.text {raw['text']!r} must list the text columns; write e.g. [title]."
        raise _fail(where, msg)
    text = tuple(_column(t, where, "text", "[title]") for t in texts)
    id_ = _column(raw["id"], where, "id", "record_id")
    label = _column(raw["label"], where, "label", "code")
    names = [id_, *text, label]
    if len(set(names)) != len(names):
        msg = (
            f"labels names the column(s) {', '.join(names)}; id, each text and label "
            "must be different columns."
        )
        raise _fail(where, msg)
    if id_ != "record_id" and "record_id" in text:
        msg = (
            "labels.text names 'record_id', the id column of the participants' file; "
            "rename that text column."
        )
        raise _fail(where, msg)
    digest = raw.get("sha256")
    if digest is not None and not isinstance(digest, str):
        msg = (
            f"labels.sha256 was read as {digest!r}, not text; put the sha256 in quotes, "
            "e.g. sha256: '0a1b...'."
        )
        raise _fail(where, msg)
    if digest is not None:
        digest = digest.strip().lower()
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            msg = (
                f"labels.sha256 {raw['sha256']!r} is not a sha256 (64 hex digits); "
                "write the output of `sha256sum FILE`, or leave it out."
            )
            raise _fail(where, msg)
    return LabelsFile(file=file, id=id_, text=text, label=label, sha256=digest)


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
    if ("dataset" in raw) == ("labels" in raw):
        msg = (
            "give exactly one of dataset (a catalogue task: "
            f"{', '.join(SCORED_DATASETS)}) or labels (your own labelled file)."
        )
        raise _fail(where, msg)
    labels = _labels(raw["labels"], where) if "labels" in raw else None
    if labels is not None:
        for key in ("protocol", "language"):
            if raw.get(key) is not None:
                raise _fail(where, f"{key} applies to a catalogue dataset, not labels.")
    elif dataset not in SCORED_DATASETS:
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
    ladder = raw.get("ladder")
    if ladder is not None and (
        isinstance(ladder, bool)
        or not isinstance(ladder, int | float)
        or not 0 < ladder < 1
    ):
        msg = f"ladder is the board's step, a number between 0 and 1, got {ladder!r}."
        raise _fail(where, msg)
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
        labels=labels,
        ladder=None if ladder is None else float(ladder),
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
    labels = config.labels
    if labels is not None:
        folder = path.resolve().parent
        target = (folder / labels.file).resolve()
        if not target.is_relative_to(folder):
            msg = (
                f"{path}: labels.file {str(labels.file)!r} leads out of the challenge "
                f"file's folder ({target}); keep the file inside {folder}."
            )
            raise InvalidInputError(msg)
        labels = LabelsFile(**{**labels.__dict__, "file": target})
    return ChallengeConfig(
        **{
            **config.__dict__,
            "roster": roster,
            "path": path.resolve(),
            "labels": labels,
        }
    )
