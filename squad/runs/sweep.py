"""Sweeps: run a parameterised notebook over a grid and keep every run as a folder.

``run_sweep`` (the ``squad run`` command) plans the sweep first (:mod:`squad.runs.plan`:
every run checked and given its id before anything starts), skips runs that already
have an ``ok`` record, executes the rest on an executor (see :mod:`squad.runs.executor`)
and writes each finished run to ``<out>/<experiment>/<run_id>/`` (see
:class:`squad.records.RunRecord` for its contents). A parameter that does not apply to
the run's dataset (``language`` on ``soc2010``) is None, in the id and in the record
(:func:`squad.runs.checks.clear_inapplicable`).

Which runs: with neither ``-p`` nor a grid, the grid file beside the notebook; ``-p``
alone means one configuration (the notebook's defaults plus the values given); with a
grid, ``-p`` values are fixed across it. A name given several times (``-p model a -p
model b``) sweeps over its values. Every run is checked against its dataset card and
its model before anything starts (:mod:`squad.runs.checks`).

A run folder is assembled under a hidden temporary name and renamed into place, with
``record.json`` written last, so a runner killed part-way leaves either a complete run
folder or none (hidden ``.<run_id>.tmp-*`` leftovers are ignored and cleared later).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from squad._atomic import atomic_write_bytes, replace_folder
from squad.errors import InvalidInputError
from squad.records import (
    RECORD_FILE,
    RunRecord,
    read_metrics_log,
    read_record,
    write_record,
)
from squad.runs.executor import (
    RunOutcome,
    RunTask,
    environment,
    execute_run,
    open_sweep_executor,
)
from squad.runs.params import (
    canonical_json,
)
from squad.runs.plan import (
    DatasetLookup,
    PlannedRun,
    SweepPlan,
    default_dataset_checksum,
    plan_sweep,
)

__all__ = ["SweepResult", "run_sweep"]

logger = logging.getLogger("squad")


def _git_info(notebook: Path) -> dict[str, Any] | None:
    """Commit, dirty flag and notebook path in the git repository holding it, if any."""
    path = notebook.resolve()

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args],
            cwd=path.parent,
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        )
        return done.stdout.strip()

    try:
        root = Path(git("rev-parse", "--show-toplevel")).resolve()
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return None
    return {
        "commit": commit,
        "dirty": dirty,
        "repository": root.name,
        "notebook": path.relative_to(root).as_posix(),
    }


def _member(member: str | None) -> str | None:
    """The member a run is recorded for: ``member``, ``$SQUAD_MEMBER``, else the login."""
    found = member or os.environ.get("SQUAD_MEMBER")
    if found:
        return found
    import getpass

    try:
        login = getpass.getuser()
    except (OSError, KeyError):
        return None
    logger.warning(
        "No member given: runs are recorded for %r. Pass --member NAME or set "
        "SQUAD_MEMBER (the board shows it on every row).",
        login,
    )
    return login


@dataclass
class SweepResult:
    """What a sweep did: run ids by outcome and every run's record."""

    out_dir: Path
    ok: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    records: dict[str, RunRecord] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        """0 when no run failed, else 1."""
        return 1 if self.failed else 0

    def summary(self) -> str:
        """A few lines for the terminal: counts, then one line per failed run."""
        lines = [
            f"{len(self.ok)} ok, {len(self.failed)} failed, {len(self.reused)} reused "
            f"-> {self.out_dir}"
        ]
        for run_id in self.failed:
            rec = self.records[run_id]
            err = rec.error or {}
            cell = err.get("cell_index")
            where = f" (cell {cell})" if cell is not None else ""
            lines.append(
                f"  {run_id} {rec.status}: {err.get('ename', '')}: "
                f"{err.get('evalue', '')}{where} {canonical_json(rec.parameters)}"
            )
        return "\n".join(lines)


def _existing_ok(run_dir: Path) -> RunRecord | None:
    if not (run_dir / RECORD_FILE).is_file():
        return None
    try:
        rec = read_record(run_dir)
    except (OSError, ValueError) as err:
        logger.warning("Ignoring unreadable record in %s: %s", run_dir, err)
        return None
    return rec if rec.status == "ok" else None


def _clear_leftovers(folder: Path) -> None:
    """Remove hidden temporary run folders left by a runner killed over an hour ago."""
    if not folder.is_dir():
        return
    limit = time.time() - 3600
    for path in folder.glob(".*.tmp-*"):
        with contextlib.suppress(OSError):
            if path.stat().st_mtime < limit:
                shutil.rmtree(path)


def _write_run(
    folder: Path,
    plan: SweepPlan,
    run: PlannedRun,
    outcome: RunOutcome,
    provenance: dict[str, Any],
    sign: Callable[[Path], Any] | None = None,
) -> RunRecord:
    """Write one run folder: files first, ``record.json`` last, then its signature
    (``sign(folder)``, if given), then rename into place."""
    tmp = folder / f".{run.run_id}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir(parents=True)
    try:
        for rel, data in outcome.files.items():
            atomic_write_bytes(tmp / rel, data)
        files = {
            rel: {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
            for rel, data in outcome.files.items()
        }
        notebook_name = plan.notebook.name
        if outcome.notebook_json is not None:
            data = outcome.notebook_json.encode("utf-8")
            atomic_write_bytes(tmp / notebook_name, data)
            files[notebook_name] = {  # the executed notebook: signed with the rest
                "bytes": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        metrics, figures = read_metrics_log(tmp)
        prov = {**provenance, **outcome.environment}
        dataset = dict(run.dataset or {})
        recorded = metrics.pop("dataset", None)
        if isinstance(recorded, Mapping):
            dataset.update(recorded)
        elif recorded is not None:
            dataset["name"] = recorded
        prov["dataset"] = dataset or None
        code = run.code_provenance()
        if code is not None:
            prov["code"] = code
        run_record = RunRecord(
            experiment=plan.experiment,
            run_id=run.run_id,
            notebook=notebook_name if outcome.notebook_json is not None else None,
            notebook_sha256=plan.notebook_sha256,
            parameters=run.parameters,
            metrics=metrics,
            figures=figures,
            files=files,
            status=outcome.status,
            error=outcome.error,
            timings=outcome.timings,
            provenance=prov,
        )
        write_record(tmp, run_record)
        if sign is not None:
            sign(tmp)
        replace_folder(tmp, folder / run.run_id)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return run_record


def _run_inputs(run: PlannedRun) -> dict[str, str]:
    """The member code a run needs, shipped with it (workers need not share a disk)."""
    files = {name: code for name, code in run.code.items() if code["kind"] == "file"}
    if not files:
        return {}
    from squad.tasks.member_models import MANIFEST_FILE, model_manifest

    return {MANIFEST_FILE: model_manifest({c["spec"]: c for c in files.values()})}


def _failed_outcome(task: RunTask, err: BaseException) -> RunOutcome:
    error = {
        "ename": type(err).__name__,
        "evalue": str(err) or repr(err),
        "cell_index": None,
        "execution_count": None,
        "source": "",
    }
    now = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
    timings = {"queued": task.queued, "start": None, "end": now}
    return RunOutcome(task.run_id, "error", error, None, {}, timings, environment())


def run_sweep(
    notebook: str | os.PathLike[str],
    *,
    grid: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | Sequence[tuple[str, str]] | None = None,
    jobs: int | None = None,
    scheduler: str | None = None,
    timeout: float | None = None,
    out: str | os.PathLike[str] = "runs",
    force: bool = False,
    member: str | None = None,
    experiment: str | None = None,
    progress: bool = True,
    dataset_checksum: DatasetLookup | None = default_dataset_checksum,
    executor: Executor | None = None,
    sign: Callable[[Path], Any] | None = None,
) -> SweepResult:
    """Run a notebook over a grid of parameters and record every run.

    Parameters
    ----------
    notebook : path-like
        The notebook.
    grid, params, experiment, dataset_checksum
        See :func:`plan_sweep`.
    jobs : int, optional
        Local worker processes (default: number of CPU cores).
    scheduler : str, optional
        Dask scheduler address; runs then execute on that cluster.
    executor : concurrent.futures.Executor, optional
        Submit runs to this executor (left open) instead of one made from ``jobs`` or
        ``scheduler``; e.g. one :func:`squad.runs.executor.open_sweep_executor`
        shared by several sweeps, whose workers keep their kernels started between
        them.
    timeout : float, optional
        Seconds a run may take (also the limit of each cell); a run over it is
        stopped and recorded with status ``timeout``.
    out : path-like, default="runs"
        Runs go to ``<out>/<experiment>/<run_id>/``.
    force : bool, default=False
        Rerun runs that already have an ``ok`` record (otherwise they are reused).
    member : str, optional
        Member or organisation recorded in the provenance (default: ``SQUAD_MEMBER``).
    progress : bool, default=True
        Show a progress bar on stderr.
    sign : callable, optional
        Called with each new run's folder once its ``record.json`` is written, before
        the folder is moved into place: ``squad run`` passes
        ``functools.partial(squad.board.signing.sign_run, key=...)``, which writes
        ``record.json.sig``. The record lists every file of the run (the executed
        notebook too) with its sha256, so the signature covers them all.

    Returns
    -------
    SweepResult
        ``exit_code`` is 1 if any run failed.

    Raises
    ------
    ValueError, OSError
        On bad parameters or files, before any run starts.
    """
    if timeout is not None and (not isinstance(timeout, int | float) or timeout <= 0):
        msg = f"timeout must be a positive number of seconds; got {timeout!r}."
        raise InvalidInputError(msg)
    if jobs is not None and (not isinstance(jobs, int) or jobs < 1):
        msg = f"jobs must be a positive integer (--jobs N); got {jobs!r}."
        raise InvalidInputError(msg)
    plan = plan_sweep(
        notebook,
        grid=grid,
        params=params,
        experiment=experiment,
        dataset_checksum=dataset_checksum,
    )
    folder = Path(out) / plan.experiment
    result = SweepResult(out_dir=folder)
    _clear_leftovers(folder)
    pending: list[PlannedRun] = []
    for run in plan.runs:
        existing = None if force else _existing_ok(folder / run.run_id)
        if existing is not None:
            result.reused.append(run.run_id)
            result.records[run.run_id] = existing
        else:
            pending.append(run)
    if result.reused:
        logger.info(
            "Reusing %s run(s) with an ok record in %s (use --force to rerun them)",
            len(result.reused),
            folder,
        )
    if not pending:
        return result
    provenance = {
        "git": _git_info(plan.notebook),
        "member": _member(member),
        "squad_version": _squad_version(),
    }
    notebook_json = plan.notebook.read_text("utf-8")
    cwd = str(plan.notebook.resolve().parent)
    by_id = {run.run_id: run for run in pending}
    n_jobs = None if scheduler else min(jobs or os.cpu_count() or 1, len(pending))
    from squad.progress import progress as show_progress

    bar_context = show_progress(
        len(pending), plan.experiment, unit="run", enabled=progress
    )
    if executor is not None:
        runner: contextlib.AbstractContextManager = contextlib.nullcontext(executor)
    else:
        runner = open_sweep_executor(
            jobs=n_jobs, scheduler=scheduler, kernel_name=plan.kernel_name, cwd=cwd
        )
    with bar_context as bar, runner as executor:
        futures = {}
        for run in pending:
            task = RunTask(
                run_id=run.run_id,
                notebook_name=plan.notebook.name,
                notebook_json=notebook_json,
                parameters=run.parameters,
                kernel_name=plan.kernel_name,
                cwd=cwd,
                timeout=timeout,
                queued=dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
                inputs=_run_inputs(run),
            )
            futures[executor.submit(execute_run, task)] = task
        for future in as_completed(futures):
            task = futures[future]
            try:
                outcome = future.result()
            except Exception as err:  # the worker itself failed, not the notebook
                logger.error("Run %s failed in its worker: %s", task.run_id, err)
                outcome = _failed_outcome(task, err)
            run_record = _write_run(
                folder, plan, by_id[task.run_id], outcome, provenance, sign
            )
            result.records[task.run_id] = run_record
            if outcome.status == "ok":
                result.ok.append(task.run_id)
            else:
                result.failed.append(task.run_id)
            bar.step(
                f"{task.run_id} {outcome.status}",
                ok=len(result.ok),
                failed=len(result.failed),
                reused=len(result.reused),
            )
    return result


def _squad_version() -> str:
    from squad import __version__

    return __version__
