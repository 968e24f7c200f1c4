"""The leaderboard: every run record under a folder, ranked by one metric within its task.

Records are read from every ``record.json`` below the folder (hidden folders are
skipped), so run folders copied in from other members' machines merge by copying them
anywhere under it, e.g. ``runs/coding/from-alice/<run_id>/``. Every folder is untrusted
input, checked by :func:`squad.board.intake.load_runs`: a run that fails a check (or
whose predictions cannot be scored) is left out with one warning line. A run that
appears twice for the same member (the same folder copied twice) is kept once, the
latest.

Runs are ranked per task (dataset × split protocol × language, see
:mod:`squad.board.tasks`), never across tasks: :func:`leaderboard_tables` gives one table
per task, :func:`leaderboard_table` the table of one.

Every metric of a run that saved its test-set predictions (``predictions.parquet``) is
computed again from them and the shared labels by :func:`squad.board.scoring.score_run`; the
numbers the notebook recorded are only compared with them. **Only scored runs rank**:
a run without predictions is listed after the ranked ones, without a rank. With a
group's signers file (``signers=``), only scored runs signed by a key in it rank, under
the name the file gives that key; unsigned and unknown-key runs are listed apart too
(see :mod:`squad.board.identity`). The ``check`` column says ``verified`` (recomputed,
and the recorded metrics agree), ``DISAGREES`` (a recorded metric differs beyond
rounding; the run's ``disagreements`` are in ``df.attrs["flagged"]``),
``self-reported`` (no predictions file: the recorded metrics, unverified, not ranked),
``unsigned`` or ``unknown key`` (with a signers file: not ranked). A ``flags`` column
names runs whose predictions are another owner's, or whose owner's name looks like
another's.

Metrics are the scalar values of a run; a dict of numbers adds
``<name>.<key>`` columns, and a metric name that is not a column matches a unique
``*.<name>`` column. Besides the ranking metric, a table shows each of
:data:`SHOWN_METRICS` that a run of its task recorded, and at most
:data:`MAX_SHOWN_PARAMETERS` of the parameters that vary (the ones most runs have). Recorded metrics that scoring does
not compute (timings, ``log_loss``) are kept as the run reported them. Names ending in
``error``, ``loss``, ``mse``/``rmse``, ``mae`` or ``seconds`` rank lower-is-better, all
others higher-is-better.

:func:`squad.board.html.write_html` renders the board as a web page and
:func:`squad.board.mlflow_export.export_to_mlflow` copies the records to MLflow.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from squad.board.identity import (
    UNKNOWN_MEMBER,
    claimed_member,
    flag_confusable_names,
    flag_shared_predictions,
    identify,
)
from squad.board.run import BoardRun, Scoring
from squad.board.safety import one_line, visible
from squad.board.tasks import Task, shown_parameters, task_of
from squad.errors import InvalidInputError, NotFoundError
from squad.records import RunRecord
from squad.runs.params import canonical_json

__all__ = [
    "CHECK_COLUMN",
    "FLAGS_COLUMN",
    "MAX_SHOWN_PARAMETERS",
    "SHOWN_METRICS",
    "BoardRuns",
    "board_runs",
    "describe_flag",
    "flat_metrics",
    "format_table",
    "leaderboard_table",
    "leaderboard_tables",
    "load_records",
    "lower_is_better",
    "parse_where",
    "split_ranked",
    "standing",
]

logger = logging.getLogger("squad")

DEFAULT_METRIC = "accuracy"
#: Column saying whether a run's metrics were computed from its predictions.
CHECK_COLUMN = "check"
#: Column naming what flags a run (same predictions as another owner, look-alike name).
FLAGS_COLUMN = "flags"
_CHECK_LABELS = {
    "verified": "verified",
    "disagrees": "DISAGREES",
    "invalid": "invalid",
    "self-reported": "self-reported",
}
HIERARCHY_METRIC = "accuracy_level_4"
#: Most parameters shown as columns of a table and panels of its figure.
MAX_SHOWN_PARAMETERS = 20
#: Metrics shown beside the ranking metric, in this order, when a run of the task has them.
SHOWN_METRICS: tuple[str, ...] = (
    HIERARCHY_METRIC,
    "top_5_accuracy",
    "automation_rate_95",
    "fit_seconds",
    "records_per_second",
)
#: Metrics that scoring recomputes from predictions; other recorded ones are kept as is.
_SCORED = re.compile(
    r"^(n|n_classes|unseen_classes|n_unseen_classes|n_unseen_records|accuracy|"
    r"f1_macro|f1_weighted|accuracy_level_\d+|top_\d+_accuracy|automation_rate_\d+|"
    r"threshold_\d+|expected_calibration_error|automation_curve)$"
)
_LOWER = re.compile(r"(error|loss|mse|mae|seconds)$")
LEVEL_METRIC = re.compile(r"(?:^|\.)accuracy_level_(\d{1,2})$")


def lower_is_better(metric: str) -> bool:
    """Whether smaller values of ``metric`` are better (by its name).

    Examples
    --------
    >>> lower_is_better("log_loss"), lower_is_better("report.rmse"), lower_is_better("accuracy")
    (True, True, False)
    """
    return bool(_LOWER.search(metric.rsplit(".", 1)[-1].lower()))


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


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def flat_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """Scalar metrics, with dicts of numbers flattened to ``name.key``.

    Examples
    --------
    >>> flat_metrics({"accuracy": 0.9, "by_level": {"1": 0.99}, "curve": [1, 2]})
    {'accuracy': 0.9, 'by_level.1': 0.99}
    """
    flat: dict[str, float] = {}
    for name, value in metrics.items():
        if is_number(value):
            flat[name] = float(value)
        elif isinstance(value, Mapping):
            for key, inner in value.items():
                if is_number(inner):
                    flat[f"{name}.{key}"] = float(inner)
    return flat


def _resolve_metric(metric: str, columns: Iterable[str]) -> str | None:
    columns = list(columns)
    if metric in columns:
        return metric
    matches = [c for c in columns if c.endswith("." + metric)]
    return matches[0] if len(matches) == 1 else None


def varying_parameters(runs: list[BoardRun], *, fallback: bool = True) -> list[str]:
    """Parameters whose value differs between runs (if none does and ``fallback``, all
    of them but those that are None in every run, such as a language that does not
    apply); at most :data:`MAX_SHOWN_PARAMETERS`, those most runs have first."""
    params = [run.record.parameters for run in runs]
    count: dict[str, int] = {}
    for given in params:
        for name in given:
            count[name] = count.get(name, 0) + 1
    names = list(count)
    varying = [n for n in names if len({canonical_json(p.get(n)) for p in params}) > 1]
    if not varying and fallback:
        varying = [n for n in names if any(p.get(n) is not None for p in params)]
    if len(varying) > MAX_SHOWN_PARAMETERS:
        order = {n: i for i, n in enumerate(names)}
        chosen = sorted(varying, key=lambda n: (-count[n], order[n]))
        keep = set(chosen[:MAX_SHOWN_PARAMETERS])
        varying = [n for n in varying if n in keep]
    return varying


def table_cell(value: Any) -> Any:
    return (
        value if is_number(value) or isinstance(value, str) else canonical_json(value)
    )


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


def leaderboard_tables(
    path: RunsSource | BoardRuns,
    metric: str | None = None,
    *,
    include_failed: bool = False,
    where: Mapping[str, Any] | None = None,
    task: str | None = None,
    cache: Any = None,
) -> dict[Task, pd.DataFrame]:
    """Rank the runs below ``path`` by ``metric``, one table per task.

    Parameters
    ----------
    path : path-like, iterable of RunRecord or dict, or BoardRuns
        Folder of run folders, records, or runs from :func:`board_runs`.
    metric, include_failed, where
        As :func:`leaderboard_table`.
    task : str, optional
        Only the task with this key (``soc2010/stratified``) or key prefix
        (``soc2010``).
    cache : squad.board.cache.ScoreCache, optional
        See :func:`board_runs`.

    Returns
    -------
    dict
        :class:`~squad.board.tasks.Task` -> table (see :func:`leaderboard_table`), in
        task order. Tasks none of whose ok runs recorded the metric are left out.

    Raises
    ------
    ValueError
        If no task recorded the metric, or ``task`` names none of the tasks.
    """
    board = (
        path
        if isinstance(path, BoardRuns)
        else board_runs(path, where=where, cache=cache)
    )
    groups = board.by_task()
    if task is not None:
        chosen = {t: runs for t, runs in groups.items() if t.matches(task)}
        if not chosen:
            known = ", ".join(t.key for t in groups) or "none"
            msg = f"No task {task!r} among the runs. Tasks: {known}. Pass --task KEY."
            raise NotFoundError(msg)
        groups = chosen
    tables: dict[Task, pd.DataFrame] = {}
    problem: InvalidInputError | None = None
    for key, runs in groups.items():
        try:
            tables[key] = _rank(runs, metric, include_failed, key)
        except InvalidInputError as err:
            problem = problem or err
    if not tables:
        if problem is not None:
            raise problem
        if task is None and not isinstance(path, BoardRuns):
            tables[Task("runs")] = _rank([], metric, include_failed, Task("runs"))
    return tables


def leaderboard_table(
    path: RunsSource | BoardRuns,
    metric: str | None = None,
    *,
    include_failed: bool = False,
    where: Mapping[str, Any] | None = None,
    task: str | None = None,
    cache: Any = None,
) -> pd.DataFrame:
    """Rank the runs of one task below ``path`` by ``metric``.

    Parameters
    ----------
    path : path-like, iterable of RunRecord or dict, or BoardRuns
        Folder of run folders, or records.
    metric : str, optional
        Metric to rank by (default ``accuracy``). Names ending in ``error``, ``loss``
        or ``seconds`` rank ascending.
    include_failed : bool, default=False
        Also list runs whose status is not ``ok`` (after the ranked ones).
    where : mapping, optional
        Keep only runs with these parameter values, e.g. ``{"dataset": "soc2010"}``.
    task : str, optional
        The task's key (needed when the runs span several tasks).
    cache : squad.board.cache.ScoreCache, optional
        See :func:`board_runs`.

    Returns
    -------
    pandas.DataFrame
        Columns ``rank``, the metric, those of :data:`SHOWN_METRICS` present, the
        parameters that vary between runs, ``member``, ``date``, ``run_id``,
        ``check`` (see the module docstring) and ``status`` with ``include_failed``.
        Metrics of runs with predictions are recomputed from them. The run of each
        row (a :class:`~squad.board.run.BoardRun`) is in ``df.attrs["records"]``;
        flagged runs (``DISAGREES``) are in
        ``df.attrs["flagged"]`` (see :func:`describe_flag`); the task in
        ``df.attrs["task"]``.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If no ok run recorded the metric (the message lists the metrics there are),
        or the runs span several tasks and ``task`` is not given.

    Examples
    --------
    >>> runs = [
    ...     {"experiment": "demo", "run_id": "a1", "status": "ok",
    ...      "parameters": {"model": "lookup"},
    ...      "metrics": {"accuracy": 0.61}, "provenance": {"member": "statcan"}},
    ...     {"experiment": "demo", "run_id": "b2", "status": "ok",
    ...      "parameters": {"model": "tfidf"},
    ...      "metrics": {"accuracy": 0.74}, "provenance": {"member": "istat"}},
    ... ]
    >>> leaderboard_table(runs)[["rank", "accuracy", "model", "member", "check"]]
       rank  accuracy   model   member          check
    0  None      0.74   tfidf    istat  self-reported
    1  None      0.61  lookup  statcan  self-reported

    Neither run saved its predictions: both are listed, neither is ranked.
    """
    tables = leaderboard_tables(
        path,
        metric,
        include_failed=include_failed,
        where=where,
        task=task,
        cache=cache,
    )
    if len(tables) > 1:
        keys = ", ".join(t.key for t in tables)
        msg = (
            f"The runs belong to {len(tables)} tasks ({keys}); scores on different "
            "tasks do not compare. Pick one with --task KEY."
        )
        raise InvalidInputError(msg)
    return next(iter(tables.values()))


def _rank(
    records: list[BoardRun],
    metric: str | None,
    include_failed: bool,
    task: Task,
) -> pd.DataFrame:
    """The table of one task's runs: ranked ones, then those listed apart."""
    ok = [r for r in records if r.record.status == "ok"]
    ranked = [r for r in ok if r.ranked]
    apart = sorted((r for r in ok if not r.ranked), key=lambda r: (r.member, r.run_id))
    flats = [flat_metrics(r.metrics) for r in ok]
    columns = sorted({c for flat in flats for c in flat})
    chosen = metric or DEFAULT_METRIC
    column = _resolve_metric(chosen, columns)
    if column is None:
        available = ", ".join(columns) or "none"
        msg = (
            f"No ok run of task {task.key} recorded metric {chosen!r}. Metrics "
            f"recorded: {available}. Pass --metric NAME."
        )
        raise InvalidInputError(msg)
    extras = [
        found
        for name in SHOWN_METRICS
        if (found := _resolve_metric(name, columns)) and found != column
    ]
    params = varying_parameters(ok or records)
    flat_of = {id(r): f for r, f in zip(ok, flats, strict=True)}
    order = sorted(
        ranked,
        key=lambda r: _sort_key(flat_of[id(r)].get(column), lower_is_better(column)),
    )
    rows, kept = [], []
    for rank, rec in enumerate([*order, *apart], start=1):
        flat = flat_of[id(rec)]
        row: dict[str, Any] = {
            "rank": rank if rec.ranked else None,
            column: flat.get(column, math.nan),
        }
        for extra in extras:
            row[extra] = flat.get(extra, math.nan)
        rows.append(_row(row, rec, params, include_failed))
        kept.append(rec)
    if include_failed:
        for rec in records:
            if rec.record.status != "ok":
                rows.append(_row({"rank": None, column: math.nan}, rec, params, True))
                kept.append(rec)
    table = pd.DataFrame(rows)
    if table.empty:
        table = pd.DataFrame(columns=["rank", column, *params, "member", "date"])
    if FLAGS_COLUMN in table:
        table[FLAGS_COLUMN] = table[FLAGS_COLUMN].fillna("")
    table.attrs["metric"] = column
    table.attrs["parameters"] = params
    table.attrs["records"] = _Shared(kept)
    table.attrs["task"] = task
    table.attrs["flagged"] = _Shared(
        r for r in kept if r.check == "disagrees" or r.flags
    )
    return table


def split_ranked(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A table's ranked rows, and the rows listed apart (self-reported, unverified,
    failed), each with the table's ``attrs``.

    Examples
    --------
    >>> ranked, apart = split_ranked(pd.DataFrame({"rank": [1, None], "x": [1, 2]}))
    >>> len(ranked), len(apart)
    (1, 1)
    """
    has_rank = table["rank"].notna() if "rank" in table else pd.Series(dtype=bool)
    ranked, apart = table[has_rank], table[~has_rank]
    for part in (ranked, apart):
        part.attrs.update(table.attrs)
    return ranked, apart


class _Shared(list):
    """A list that pandas does not copy: it deep-copies ``attrs`` on every operation,
    which for a board of a thousand records costs seconds per page."""

    def __deepcopy__(self, memo: dict) -> _Shared:
        return self


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


def _sort_key(value: float | None, ascending: bool) -> tuple[int, float]:
    if value is None or math.isnan(value):
        return (1, 0.0)
    return (0, value if ascending else -value)


def _row(
    row: dict[str, Any], run: BoardRun, params: list[str], status: bool
) -> dict[str, Any]:
    for name in params:
        row[name] = table_cell(run.record.parameters.get(name))
    row["member"] = run.member or UNKNOWN_MEMBER
    end = run.record.end
    row["date"] = end[:16].replace("T", " ") if end else ""
    row["run_id"] = run.run_id
    if run.scoring is not None:
        row[CHECK_COLUMN] = standing(run)
    if run.flags:
        row[FLAGS_COLUMN] = "; ".join(run.flags)
    if status:
        row["status"] = run.record.status
    return row


def _for_display(table: pd.DataFrame) -> pd.DataFrame:
    shown = table.copy()
    for name in table.attrs.get("parameters", []):  # as given, not with 4 decimals
        if name in shown:
            shown[name] = [str(v) for v in shown[name]]
    return shown


def parse_where(items: Iterable[str]) -> dict[str, Any]:
    """Parse ``NAME=VALUE`` filters (VALUE read as YAML, as ``squad run -p``).

    Raises
    ------
    ValueError
        If an item has no ``=``.

    Examples
    --------
    >>> parse_where(["dataset=soc2010", "seed=0"])
    {'dataset': 'soc2010', 'seed': 0}
    """
    from squad.runs.params import parse_value

    selected: dict[str, Any] = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name.strip():
            msg = f"Filter {item!r} is not NAME=VALUE (e.g. dataset=soc2010)."
            raise InvalidInputError(msg)
        selected[name.strip()] = parse_value(text.strip())
    return selected


def format_table(table: pd.DataFrame, *, max_rows: int = 50) -> str:
    """Render a leaderboard table as text for the terminal (4 decimals).

    Examples
    --------
    >>> print(format_table(pd.DataFrame({"rank": [1], "accuracy": [0.91234]})))
     rank  accuracy
        1    0.9123
    """
    if table.empty:
        return "(no runs)"
    shown = _for_display(table.head(max_rows))
    if "rank" in shown:
        ranks = shown["rank"]
        if ranks.isna().any():  # runs listed apart: no rank
            shown["rank"] = ["-" if pd.isna(v) else str(int(v)) for v in ranks]
        else:
            shown["rank"] = ranks.astype(int)
    # Text from run folders: every control, escape and bidirectional character shown
    # as a visible escape, so that a row stays one row and the terminal untouched.
    shown.columns = [visible(c) for c in shown.columns]
    for name in shown.columns:
        if shown[name].dtype == object or pd.api.types.is_string_dtype(shown[name]):
            shown[name] = [
                v if not isinstance(v, str) else visible(v) for v in shown[name]
            ]
    text = shown.to_string(
        index=False, float_format=lambda v: f"{v:.4f}", na_rep="-", max_colwidth=40
    )
    if len(table) > max_rows:
        text += f"\n... {len(table) - max_rows} more runs"
    return text
