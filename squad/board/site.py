"""The board as a static site, and the check a shared repository's CI runs.

:func:`build_site` writes, from a tree of run folders several members add to:

- ``index.html``: every task with its current leader, number of runs and members, and
  the run folders left out (with why);
- ``tasks/<task>.html``: the task's ranking, automation curves of its best runs
  overlaid, accuracy by level (datasets with levels), the metric against parameters;
- ``runs/<run>.html``: a run's method description, metrics, parameters, provenance and
  figures;
- ``challenges/<challenge>.html``: the final board of a closed challenge, from the
  results file ``squad challenge results`` wrote (read as untrusted input; see
  :mod:`squad.board.challenge_results`), with the digest of its private labels;
- ``img/<sha256>.png``: every image, named by its content (a figure drawn twice, or
  shared by runs, is written once).

Pages link to each other by relative paths and load nothing from elsewhere: the folder
opens from disk or from any static host. Every file is written atomically, and only when
its content changed; pages of runs, tasks and challenges no longer on the board are removed. Scores come through a
:class:`~squad.board.cache.ScoreCache`, so a rebuild after one new run scores one run.

:func:`check_board` names every run folder that is left out or whose recorded metrics
disagree with its predictions (``squad board check``; see ``docs/board.md``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from squad._atomic import atomic_write_bytes, atomic_write_json, atomic_write_text
from squad.board.challenge_pages import challenge_view
from squad.board.challenge_results import read_results
from squad.board.collect import BoardRuns, board_runs, describe_flag
from squad.board.leaderboard import leaderboard_tables
from squad.board.pages import render, run_slug, run_view, task_view
from squad.board.run import BoardRun
from squad.board.safety import one_line
from squad.board.tasks import Task
from squad.errors import InvalidInputError

__all__ = ["SiteResult", "build_site", "check_board"]

logger = logging.getLogger("squad")

_IMAGE_NAME = re.compile(r"[0-9a-f]{64}\.png")


@dataclass
class SiteResult:
    """What :func:`build_site` wrote."""

    out: Path
    tasks: int = 0
    runs: int = 0
    rejected: list[str] = field(default_factory=list)
    images_written: int = 0
    figures_drawn: int = 0
    challenges: int = 0

    def summary(self) -> str:
        """One line for the terminal."""
        left = f", {len(self.rejected)} left out" if self.rejected else ""
        shown = f", {self.challenges} challenge(s)" if self.challenges else ""
        return (
            f"Wrote {self.out / 'index.html'}: {self.tasks} task(s), "
            f"{self.runs} run page(s){shown}{left}"
        )


class _Images:
    """Writes images into ``img/`` named by their sha256; returns their relative src.

    Figures drawn by the board are also remembered by the sha256 of what they show
    (``img/figures.json``): a rebuild draws only the figures whose data changed.
    """

    MANIFEST = "figures.json"

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.used: set[str] = {self.MANIFEST}
        self.written = 0
        self.drawn = 0
        try:
            manifest = json.loads((folder / self.MANIFEST).read_text("utf-8"))
        except (OSError, ValueError):
            manifest = {}
        self.manifest: dict[str, str] = {
            k: v
            for k, v in (manifest.items() if isinstance(manifest, dict) else ())
            if isinstance(v, str) and (v == "" or _IMAGE_NAME.fullmatch(v))
        }

    def cached(self, inputs: Any, draw: Any) -> str:
        """The src of the figure of ``inputs``, drawn by ``draw()`` only if new."""
        text = json.dumps(inputs, sort_keys=True, default=str)
        key = hashlib.sha256(text.encode()).hexdigest()
        name = self.manifest.get(key)
        if name == "":
            return ""
        if name and (self.folder / name).is_file():
            self.used.add(name)
            return f"../img/{name}"
        png = draw()
        self.drawn += bool(png)
        src = self(png) if png else ""
        self.manifest[key] = src.rsplit("/", 1)[-1]
        return src

    def save(self) -> None:
        """Keep the manifest entries of the images still in use."""
        keep = {k: v for k, v in self.manifest.items() if v == "" or v in self.used}
        atomic_write_json(self.folder / self.MANIFEST, keep)

    def __call__(self, png: bytes) -> str:
        name = hashlib.sha256(png).hexdigest() + ".png"
        if name not in self.used:
            self.used.add(name)
            path = self.folder / name
            if not path.exists():
                atomic_write_bytes(path, png)
                self.written += 1
        return f"../img/{name}"


def _write_page(path: Path, text: str) -> None:
    """Write a page atomically, unless it already holds exactly this text."""
    try:
        if path.read_text("utf-8") == text:
            return
    except OSError:
        pass
    atomic_write_text(path, text)


def _remove_stale(folder: Path, keep: set[str]) -> None:
    if folder.is_dir():
        for path in folder.iterdir():
            if path.is_file() and path.name not in keep:
                path.unlink()


def build_site(
    path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    metric: str | None = None,
    *,
    top: int = 10,
    cache: Any = None,
    signers: Any = None,
    jobs: int | None = None,
    challenges: Sequence[str | os.PathLike[str]] = (),
) -> SiteResult:
    """Write the board of the run folders below ``path`` as a static site in ``out``.

    Parameters
    ----------
    path : path-like
        Tree of run folders (every folder is checked; see :mod:`squad.board.intake`).
    out : path-like
        The site's folder (created; its pages are replaced).
    metric : str, optional
        Metric to rank by (default ``accuracy``).
    top : int, default=10
        How many of the best runs a task's curve figures overlay.
    cache : squad.board.cache.ScoreCache, optional
        Scoring cache (default: none, every run is scored).
    signers : squad.board.signing.Signers, optional
        The group's signers file: runs are shown under the names it gives their keys,
        and only runs signed by its keys rank.
    jobs : int, optional
        Worker processes that score new runs (default: the CPU cores; 1 for the least
        memory).
    challenges : sequence of path-like, default=()
        Results files of closed challenges (``squad challenge results``): each gets a
        page, linked from the index. They are read and checked before anything else.

    Returns
    -------
    SiteResult

    Raises
    ------
    FileNotFoundError
        If ``path`` or a results file does not exist.
    squad.errors.InvalidInputError
        If a results file is refused, or two are of the same challenge.
    """
    out = Path(out)
    views = _challenge_views(challenges)
    runs = board_runs(path, cache=cache, signers=signers, jobs=jobs)
    tables = leaderboard_tables(runs, metric, include_failed=True) if runs.runs else {}
    images = _Images(out / "img")
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    home = {"href": "../index.html", "text": "All tasks"}
    task_pages: set[str] = set()
    run_pages: set[str] = set()
    rows = []
    for task, table in tables.items():
        records = table.attrs["records"]
        members = sorted({r.member for r in records})
        view = task_view(
            table,
            image=images,
            top=top,
            run_href=lambda rec: f"../runs/{run_slug(rec)}.html",
        )
        page = f"{task.slug}.html"
        task_pages.add(page)
        _write_page(
            out / "tasks" / page,
            render(
                "task.html",
                title=f"Task {task.label}",
                nav=[home],
                subtitle=(
                    f"{len(records)} run(s) by {len(members)} member(s): "
                    f"{', '.join(members)}; made {now}"
                ),
                view=view,
            ),
        )
        for rec in records:
            _write_run_page(out, rec, task, images, run_pages)
        rows.append(_index_row(task, table, members))
    rejected = [item.line(runs.root) for item in runs.rejected]
    _write_page(
        out / "index.html",
        render(
            "index.html",
            title="Squad board",
            nav=[],
            subtitle=(
                f"{sum(r['n_runs'] for r in rows)} run(s) in {len(rows)} task(s); "
                f"{len(rejected)} run folder(s) left out; made {now}"
            ),
            metric_note=next(iter(tables.values())).attrs["metric"]
            if tables
            else "score",
            tasks=rows,
            challenges=[view["index"] for view in views],
            rejected=rejected,
        ),
    )
    challenge_pages = _write_challenge_pages(out, views, now)
    _remove_stale(out / "challenges", challenge_pages)
    _remove_stale(out / "tasks", task_pages)
    _remove_stale(out / "runs", run_pages)
    images.save()
    _remove_stale(out / "img", images.used)
    return SiteResult(
        out=out,
        tasks=len(rows),
        runs=len(run_pages),
        rejected=rejected,
        images_written=images.written,
        figures_drawn=images.drawn,
        challenges=len(views),
    )


def _challenge_views(paths: Sequence[str | os.PathLike[str]]) -> list[dict[str, Any]]:
    views: list[dict[str, Any]] = []
    seen: dict[str, str] = {}
    for path in paths:
        view = challenge_view(read_results(path))
        name = one_line(str(path), 200)
        if view["slug"] in seen:
            msg = (
                f"Challenge results files {seen[view['slug']]!r} and {name!r} are of "
                "the same challenge: give each challenge once."
            )
            raise InvalidInputError(msg)
        seen[view["slug"]] = name
        views.append(view)
    return views


def _write_challenge_pages(
    out: Path, views: list[dict[str, Any]], now: str
) -> set[str]:
    pages: set[str] = set()
    for view in views:
        page = f"{view['slug']}.html"
        pages.add(page)
        _write_page(
            out / "challenges" / page,
            render(
                "challenge.html",
                title=f"Challenge {view['title']}",
                nav=[{"href": "../index.html", "text": "All tasks"}],
                subtitle=(
                    f"Final board of {len(view['rows'])} team(s); closed "
                    f"{view['closed']}; made {now}"
                ),
                **{k: v for k, v in view.items() if k not in ("title", "index")},
            ),
        )
    return pages


def _write_run_page(
    out: Path, run: BoardRun, task: Task, images: _Images, pages: set[str]
) -> None:
    slug = run_slug(run)
    pages.add(f"{slug}.html")
    member = run.member
    _write_page(
        out / "runs" / f"{slug}.html",
        render(
            "run.html",
            title=f"Run {run.run_id} by {member}",
            nav=[
                {"href": "../index.html", "text": "All tasks"},
                {"href": f"../tasks/{task.slug}.html", "text": f"Task {task.label}"},
            ],
            subtitle=(
                f"status {run.record.status}; check "
                f"{run.check or 'not scored'}; experiment {run.record.experiment}"
            ),
            **run_view(run, image=images),
        ),
    )


def _index_row(task: Task, table: Any, members: list[str]) -> dict[str, Any]:
    metric = table.attrs["metric"]
    ranked = table[table["rank"].notna()]
    leader = leader_href = value = None
    if len(ranked):
        best = table.attrs["records"][0]  # ranked rows come first
        params = table.attrs["parameters"]
        model = best.record.parameters.get("model") if "model" in params else None
        leader = best.member
        if model is not None:
            leader += f" ({one_line(str(model), 80)})"
        leader_href = f"runs/{run_slug(best)}.html"
        value = f"{ranked[metric].iloc[0]:.4f}"
    return {
        "label": task.label,
        "href": f"tasks/{task.slug}.html",
        "leader": leader or "-",
        "leader_href": leader_href,
        "value": value or "-",
        "n_runs": len(table),
        "n_members": len(members),
    }


def check_board(
    path: str | os.PathLike[str], *, cache: Any = None, signers: Any = None
) -> tuple[BoardRuns, list[str]]:
    """Every problem of the run folders below ``path``, one line each.

    Problems: a run folder that fails a check (left out of the board, including the
    copies left out and a signature that does not verify), a run whose recorded metrics
    disagree with its predictions, a run with the same predictions as another owner's,
    owners (or, with ``signers``, names in the signers file) whose names look alike.
    Self-reported and unverified runs are not problems: they are listed apart. Every
    page of the board is put together (without drawing figures), so that what passes
    here builds.

    Parameters
    ----------
    path : path-like
        The tree of run folders.
    cache : squad.board.cache.ScoreCache, optional
        Scoring cache.
    signers : squad.board.signing.Signers, optional
        The group's signers file.

    Returns
    -------
    runs : BoardRuns
        The runs as the board sees them.
    problems : list of str
        One printable line per problem (empty when the board is clean).
    """
    from squad.board.names import confusable_groups, display_name

    runs = board_runs(path, cache=cache, warn=False, signers=signers)
    problems = [item.line(runs.root) for item in runs.rejected]
    for run in runs.runs:
        folder = run.folder or Path(path)
        if folder.is_relative_to(Path(path)):
            folder = folder.relative_to(Path(path))
        if run.check == "disagrees":
            problems.append(
                f"Run folder {one_line(str(folder))} disagrees: {describe_flag(run)}"
            )
        elif run.flags:
            problems.append(
                f"Run folder {one_line(str(folder))} is flagged: {describe_flag(run)}"
            )
    if signers is not None:
        for group in confusable_groups(signers.names.values()):
            shown = ", ".join(f"'{display_name(n)}'" for n in group)
            problems.append(
                f"Signers file {one_line(str(signers.path))}: the names {shown} look "
                "alike; give each member a name no other resembles"
            )
    tables = leaderboard_tables(runs, include_failed=True) if runs.runs else {}
    for table in tables.values():
        task_view(table, image=_NoFigures(), run_href=lambda rec: "")
        for rec in table.attrs["records"]:
            render(
                "run.html",
                title="",
                nav=[],
                subtitle="",
                **run_view(rec, image=_NoFigures()),
            )
    return runs, [one_line(line, 4000) for line in problems]


class _NoFigures:
    """An image sink that draws and writes nothing (for the check)."""

    def cached(self, inputs: Any, draw: Any) -> str:
        return ""

    def __call__(self, png: bytes) -> str:
        return ""
