"""The runs of a board: read, selected, scored, each given its owner, task and rank.

:func:`board_runs` is the board's one way in. It reads every run folder below a folder
(each checked as untrusted input by :func:`squad.board.intake.load_runs`) or takes
records already read, keeps the runs that match ``where``, scores every ok run from its
saved predictions (:func:`squad.board.scoring.score_run`, on worker processes for a big
board: :mod:`squad.board.prescore`), leaves out runs whose predictions cannot be scored,
and gives each run its task and whether it ranks: **only scored runs rank**, and with a
group's signers file only those signed by a key in it. Runs whose predictions are
another owner's, or whose owner's name looks like another's, are flagged.
:mod:`squad.board.leaderboard` makes the tables from the result.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from squad.board.identity import (
    claimed_member,
    flag_confusable_names,
    flag_shared_predictions,
    identify,
)
from squad.board.run import BoardRun, Scoring
from squad.board.safety import one_line
from squad.board.tasks import Task, shown_parameters, task_of
from squad.errors import NotFoundError
from squad.records import RunRecord

__all__ = [
    "BoardRuns",
    "RunsSource",
    "board_runs",
    "describe_flag",
    "load_records",
    "standing",
]

logger = logging.getLogger("squad")

_CHECK_LABELS = {
    "verified": "verified",
    "disagrees": "DISAGREES",
    "invalid": "invalid",
    "self-reported": "self-reported",
}
#: Metrics that scoring recomputes from predictions; other recorded ones are kept as is.
_SCORED = re.compile(
    r"^(n|n_classes|unseen_classes|n_unseen_classes|n_unseen_records|accuracy|"
    r"f1_macro|f1_weighted|accuracy_level_\d+|top_\d+_accuracy|automation_rate_\d+|"
    r"threshold_\d+|expected_calibration_error|automation_curve)$"
)


#: Runs given to the board: a folder of run folders, or records already read.
RunsSource = str | os.PathLike[str] | Iterable[RunRecord | Mapping[str, Any]]


def load_records(path: RunsSource) -> list[BoardRun]:
    """Read every run record below ``path`` that passes the checks, one per (run id, member).

    Parameters
    ----------
    path : path-like or iterable of RunRecord or dict
        A folder of run folders (searched recursively, every folder checked by
        :func:`squad.board.intake.load_runs`; one warning per folder left out) or
        records already read (a dict is checked as
        :meth:`squad.records.RunRecord.from_dict` does).

    Returns
    -------
    list of BoardRun
        Runs sorted by end time (runs given as records have no folder).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.

    Examples
    --------
    >>> import tempfile
    >>> load_records(tempfile.mkdtemp())
    []
    """
    if isinstance(path, str | os.PathLike):
        from squad.board.intake import load_runs

        return load_runs(path).runs
    latest: dict[tuple[str, str], BoardRun] = {}
    for given in path:
        rec = given if isinstance(given, RunRecord) else RunRecord.from_dict(given)
        run = BoardRun(rec, identify(rec, None, with_signers=False))
        key = (rec.run_id, claimed_member(rec))
        if key not in latest or rec.end >= latest[key].record.end:
            latest[key] = run
    return sorted(latest.values(), key=lambda run: run.record.end)


@dataclass
class BoardRuns:
    """The runs of a board, scored, with their task; and the folders left out."""

    runs: list[BoardRun]
    rejected: list[Any] = field(default_factory=list)
    root: Path | None = None  # the folder the runs were read from
    signers: Any = None  # the group's signers file, if given
    #: Groups of look-alike names among the runs' owners.
    confusable: list[list[str]] = field(default_factory=list)

    def by_task(self) -> dict[Task, list[BoardRun]]:
        """Runs grouped by task, tasks in name order."""
        groups: dict[Task, list[BoardRun]] = {}
        for run in self.runs:
            groups.setdefault(run.task, []).append(run)
        return dict(sorted(groups.items()))


def board_runs(
    path: RunsSource,
    *,
    where: Mapping[str, Any] | None = None,
    cache: Any = None,
    warn: bool = True,
    signers: Any = None,
    jobs: int | None = None,
) -> BoardRuns:
    """Check, select and score the runs below ``path``; give each its task.

    Parameters
    ----------
    path : path-like or iterable of RunRecord or dict
        Folder of run folders (checked, see :mod:`squad.board.intake`), or records.
    where : mapping, optional
        Keep only runs with these parameter values.
    cache : squad.board.cache.ScoreCache, optional
        Reuse earlier scores of the same predictions and data.
    warn : bool, default=True
        Log one warning line per run left out.
    signers : squad.board.signing.Signers, optional
        The group's signers file (see :func:`squad.board.signing.read_signers`): runs
        are shown under the names it gives their keys, and only runs signed by one of
        its keys rank.
    jobs : int, optional
        Worker processes that score new runs (default: the CPU cores; 1 scores in
        this process only, using less memory; see :mod:`squad.board.prescore`).

    Returns
    -------
    BoardRuns
        Ok runs carry their :class:`~squad.board.run.Scoring` (the metrics computed
        from their predictions), their task, whether they rank, and their flags; runs
        whose predictions cannot be scored are among ``rejected``.
    """
    from squad.board.intake import Rejected, load_runs

    if isinstance(path, str | os.PathLike):
        intake = load_runs(path, warn=warn, signers=signers)
        records, rejected = intake.runs, list(intake.rejected)
        root: Path | None = Path(path)
    else:
        records, rejected, root = load_records(path), [], None
    # A language that does not apply is shown as None, whatever the record says.
    for run in records:
        run.record = run.record.replace(parameters=shown_parameters(run.record))
    kept = []
    for run in _score_records(_select(records, where), cache, jobs):
        if run.check == "invalid":
            reason = run.scoring.reason if run.scoring is not None else ""
            item = Rejected(
                run.folder or Path("."),
                "predictions cannot be scored: " + one_line(reason, 400),
            )
            rejected.append(item)
            if warn:
                logger.warning("%s", item.line(root))
            continue
        run.task = task_of(run.record)
        scored = run.check in ("verified", "disagrees")
        run.ranked = scored and run.identity.identified
        kept.append(run)
    flag_shared_predictions(kept, root)
    confusable = flag_confusable_names(kept)
    return BoardRuns(kept, rejected, root, signers, confusable)


def standing(run: BoardRun) -> str:
    """How a run stands on the board: its ``check`` label.

    ``verified`` / ``DISAGREES`` for ranked runs; for the runs listed apart,
    ``self-reported`` (no predictions), ``unsigned`` or ``unknown key`` (with a
    signers file); ``invalid`` or ``not scored`` otherwise.

    Examples
    --------
    >>> from squad.board.run import Identity
    >>> rec = RunRecord("demo", "a1", {}, {"accuracy": 0.5}, "ok")
    >>> run = BoardRun(rec, Identity("ons", ("member", "ons")),
    ...                scoring=Scoring("verified", rec.metrics), ranked=True)
    >>> standing(run)
    'verified'
    >>> run.identity = Identity("(unsigned)", ("unverified", "ons"), identified=False)
    >>> standing(run)
    'unsigned'
    """
    check = run.check
    if check == "self-reported" or check not in ("verified", "disagrees"):
        return _CHECK_LABELS.get(check, "not scored") if check else "not scored"
    if run.identity.identified:
        return _CHECK_LABELS[check]
    return "unknown key" if run.signature is not None else "unsigned"


def _score_records(
    runs: list[BoardRun], cache: Any = None, jobs: int | None = None
) -> list[BoardRun]:
    """Score each ok run from its predictions (its :class:`~squad.board.run.Scoring`).

    Recorded metrics that scoring does not compute (timings, ``log_loss``) are kept
    as reported; their names are in the scoring's ``reported``.
    """
    from squad.board.cache import MemoryScoreCache
    from squad.board.prescore import MIN_RUNS, prescore
    from squad.board.scoring import score_run

    if len(runs) >= MIN_RUNS and jobs != 1:  # worth scoring on workers first
        if cache is None:
            cache = MemoryScoreCache()  # the workers' results, for this build only
        prescore(runs, cache, jobs=jobs)
    for run in runs:
        if run.record.status != "ok":
            continue
        result = score_run(run.record, folder=run.folder, cache=cache)
        recorded = run.record.metrics
        metrics = result.metrics
        reported: list[str] = []
        if result.status in ("verified", "disagrees"):
            reported = [n for n in recorded if not _SCORED.match(n)]
            metrics = {**{n: recorded[n] for n in reported}, **result.metrics}
        run.scoring = Scoring(
            check=result.status,
            metrics=metrics,
            reported=reported,
            disagreements=result.disagreements,
            reason=result.reason,
            digest=result.digest,
        )
    return runs


def describe_flag(run: BoardRun) -> str:
    """One printable line saying why a run is flagged.

    Recorded metrics that disagree with its predictions, predictions that cannot be
    scored, and the run's flags (same predictions as another owner's run, a look-alike
    name).

    Examples
    --------
    >>> from squad.board.run import Identity
    >>> rec = RunRecord("demo", "a1", {}, {"accuracy": 0.9}, "ok")
    >>> run = BoardRun(rec, Identity("", ("member", "")), scoring=Scoring(
    ...     "disagrees", {"accuracy": 0.85}, disagreements={"accuracy": (0.9, 0.85)}))
    >>> describe_flag(run)
    'run a1: recorded accuracy=0.9 but its predictions give 0.85'
    >>> rec = RunRecord("demo", "a1", {}, {}, "ok",
    ...                 provenance={"member": "x\\nRun folder"})
    >>> run = BoardRun(rec, identify(rec, None, with_signers=False),
    ...                flags=["same predictions as run b2"])
    >>> describe_flag(run)
    'run a1 (x\\\\nRun folder): same predictions as run b2'
    """
    who = f"run {run.run_id}" + (f" ({run.member})" if run.member else "")
    parts = []
    scoring = run.scoring
    if scoring is not None and scoring.check == "invalid":
        parts.append(f"predictions cannot be scored: {scoring.reason}")
    items = list((scoring.disagreements if scoring is not None else {}).items())
    if items:
        name, (old, new) = items[0]
        text = f"recorded {name}={old} but its predictions give {new}"
        if len(items) > 1:
            more = ", ".join(n for n, _ in items[1:4])
            text += f" (and {len(items) - 1} more: {more})"
        parts.append(text)
    parts += run.flags
    if not parts:
        parts.append(run.check or "not checked")
    return one_line(f"{who}: {'; '.join(parts)}", 1000)


def _select(records: list[BoardRun], where: Mapping[str, Any] | None) -> list[BoardRun]:
    if not where:
        return records
    known = {name for rec in records for name in rec.record.parameters}
    for name in where:
        if records and name not in known:
            msg = (
                f"No run has a parameter {name!r}. Parameters: "
                f"{', '.join(sorted(known))}."
            )
            raise NotFoundError(msg)
    return [
        rec
        for rec in records
        if all(rec.record.parameters.get(k, _MISSING) == v for k, v in where.items())
    ]


_MISSING = object()
