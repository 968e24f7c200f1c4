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
import re
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from squad.board.collect import BoardRuns, RunsSource, board_runs, standing
from squad.board.identity import (
    UNKNOWN_MEMBER,
)
from squad.board.run import BoardRun
from squad.board.safety import visible
from squad.board.tasks import Task
from squad.errors import InvalidInputError, NotFoundError
from squad.runs.params import canonical_json

__all__ = [
    "CHECK_COLUMN",
    "FLAGS_COLUMN",
    "MAX_SHOWN_PARAMETERS",
    "SHOWN_METRICS",
    "flat_metrics",
    "format_table",
    "leaderboard_table",
    "leaderboard_tables",
    "lower_is_better",
    "parse_where",
    "split_ranked",
]

logger = logging.getLogger("squad")

DEFAULT_METRIC = "accuracy"
#: Column saying whether a run's metrics were computed from its predictions.
CHECK_COLUMN = "check"
#: Column naming what flags a run (same predictions as another owner, look-alike name).
FLAGS_COLUMN = "flags"
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
        Folder of run folders, records, or runs from :func:`~squad.board.collect.board_runs`.
    metric, include_failed, where
        As :func:`leaderboard_table`.
    task : str, optional
        Only the task with this key (``soc2010/stratified``) or key prefix
        (``soc2010``).
    cache : squad.board.cache.ScoreCache, optional
        See :func:`~squad.board.collect.board_runs`.

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
        See :func:`~squad.board.collect.board_runs`.

    Returns
    -------
    pandas.DataFrame
        Columns ``rank``, the metric, those of :data:`SHOWN_METRICS` present, the
        parameters that vary between runs, ``member``, ``date``, ``run_id``,
        ``check`` (see the module docstring) and ``status`` with ``include_failed``.
        Metrics of runs with predictions are recomputed from them. The run of each
        row (a :class:`~squad.board.run.BoardRun`) is in ``df.attrs["records"]``;
        flagged runs (``DISAGREES``) are in
        ``df.attrs["flagged"]`` (see :func:`~squad.board.collect.describe_flag`); the task in
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
