"""The leaderboard as one self-contained HTML page (figures embedded as PNG).

For each task (see :mod:`squad.board.tasks`) the page draws, where the runs have them:
the ranked table (with its ``check`` column, and a "Flagged runs" list of runs whose
recorded metrics disagree with their predictions; see :mod:`squad.board.leaderboard`),
the automation curves of the best runs, their accuracy by hierarchy level, the chosen
metric against each parameter that varies, and the figures of the best run (see
:mod:`squad.board.figures`). Run folders that fail a check are listed as left out. The
page is rendered with Jinja2 and autoescape; :func:`squad.board.site.build_site` writes
the same views as a site with a page per task and per run.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from squad._atomic import atomic_write_text
from squad.board.collect import BoardRuns, board_runs
from squad.board.leaderboard import leaderboard_tables, table_cell
from squad.board.pages import data_uri, render, task_view

__all__ = ["write_html"]


def write_html(
    path: str | os.PathLike[str] | BoardRuns,
    html_path: str | os.PathLike[str],
    metric: str | None = None,
    *,
    top: int = 5,
    where: Mapping[str, Any] | None = None,
    task: str | None = None,
) -> Path:
    """Write the leaderboard as one self-contained HTML page (figures embedded).

    Parameters
    ----------
    path : path-like or BoardRuns
        Folder of run folders (or runs from :func:`squad.board.collect.board_runs`).
    html_path : path-like
        The page to write (atomically).
    metric : str, optional
        Metric to rank by (default ``accuracy``).
    top : int, default=5
        How many of the best runs to overlay in the curve figures.
    where : mapping, optional
        Keep only runs with these parameter values (see
        :func:`squad.board.leaderboard.leaderboard_table`).
    task : str, optional
        Only this task (default: a section per task).

    Returns
    -------
    pathlib.Path
        ``html_path``.

    Raises
    ------
    FileNotFoundError, ValueError
        As :func:`squad.board.leaderboard.leaderboard_tables`.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from squad.records import write_record
    >>> runs = pathlib.Path(tempfile.mkdtemp())
    >>> for run_id, acc in [("a1", 0.6), ("b2", 0.7)]:
    ...     _ = write_record(runs / run_id, {"experiment": "demo", "run_id": run_id,
    ...         "parameters": {"C": acc}, "metrics": {"accuracy": acc}, "status": "ok"})
    >>> page = write_html(runs, runs / "board.html").read_text()
    >>> page.count(">self-reported</td>")  # no predictions saved: listed, not ranked
    2
    """
    runs = path if isinstance(path, BoardRuns) else board_runs(path, where=where)
    tables = leaderboard_tables(runs, metric, include_failed=True, task=task)
    views = [
        task_view(table, image=data_uri, top=top, best_figures=True)
        for table in tables.values()
    ]
    records = [r for table in tables.values() for r in table.attrs["records"]]
    n_ok = sum(1 for r in records if r.record.status == "ok")
    members = sorted({r.member for r in records})
    name = "runs" if isinstance(path, BoardRuns) else Path(path).name
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    title = f"Leaderboard: {name}" + "".join(
        f", {k}={table_cell(v)}" for k, v in (where or {}).items()
    )
    page = render(
        "board.html",
        title=title,
        nav=[],
        subtitle=(
            f"{n_ok} ok runs of {len(records)} in {len(tables)} task(s); members: "
            f"{', '.join(members) or '-'}; made {now}"
        ),
        tasks=views,
        rejected=[item.line(runs.root) for item in runs.rejected],
    )
    return atomic_write_text(html_path, page)
