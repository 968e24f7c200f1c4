"""Executing one run of a notebook in a worker, with its kernel started ahead of time.

Runs are submitted to a :class:`concurrent.futures.Executor` (see
:func:`open_sweep_executor`): a local process pool, or a Dask cluster's executor; the
same :func:`execute_run` runs in both. Each worker process keeps its kernels started
ahead (:func:`~squad.kernels.pool.worker_pool`), so a run takes a kernel that has
already booted (the first one started by :func:`warm_up_worker`) while the next one
starts in the background; a kernel is never reused between runs (a Dask worker keeps
its spare kernel after a sweep, for the next one; it stops with the worker). The files a
run writes to its ``SQUAD_RUN_DIR`` travel back to the submitting process with the
result, so workers need no shared file system.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import math
import os
import platform
import re
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Executor
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from squad._imports import mask_slow_optional_imports
from squad.errors import InvalidInputError
from squad.kernels.pool import START_TIMEOUT, kill_kernel, worker_pool
from squad.workers import open_executor

# Workers import nbformat through papermill; see squad._imports.
mask_slow_optional_imports()

__all__ = [
    "SWEEP_PRELOAD",
    "RunOutcome",
    "RunTask",
    "analyse_notebook",
    "environment",
    "execute_run",
    "open_sweep_executor",
    "warm_up_worker",
]

KEY_PACKAGES = (
    "squad",
    "numpy",
    "pandas",
    "scikit-learn",
    "scipy",
    "matplotlib",
    "papermill",
    "nbclient",
    "ipykernel",
    "jupyter_client",
)
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclass
class RunTask:
    """Everything a worker needs to execute one run (sent to the worker by pickle)."""

    run_id: str
    notebook_name: str
    notebook_json: str
    parameters: dict[str, Any]
    kernel_name: str = "python3"
    cwd: str | None = None
    timeout: float | None = None
    queued: str = ""
    #: Hidden files (name -> text) put in the run folder before the notebook starts:
    #: the member code the run uses, read where the sweep was planned.
    inputs: dict[str, str] = field(default_factory=dict)


@dataclass
class RunOutcome:
    """What a worker sends back: status, executed notebook, files and timings."""

    run_id: str
    status: str
    error: dict[str, Any] | None
    notebook_json: str | None
    files: dict[str, bytes] = field(default_factory=dict)
    timings: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def _preimport() -> None:
    with contextlib.suppress(ImportError):
        import papermill.clientwrap  # noqa: F401


def warm_up_worker(kernel_name: str, cwd: str | None) -> None:
    """Start this worker's first kernel and import papermill, both in the background.

    The ``warm_up`` of a sweep's workers (see :func:`open_sweep_executor`): the first
    run finds its kernel booted and papermill imported.

    Parameters
    ----------
    kernel_name : str
        The notebook's kernel.
    cwd : str or None
        The kernel's working folder (the notebook's folder).
    """
    worker_pool().prestart((kernel_name, cwd))
    # Import papermill (seconds) while the kernel boots, before the first run.
    threading.Thread(target=_preimport, daemon=True).start()


_ENVIRONMENT: dict[str, Any] | None = None


def environment() -> dict[str, Any]:
    """Python, key package versions, host, platform and CPU count of this process.

    Examples
    --------
    >>> sorted(environment())
    ['cpu_count', 'host', 'packages', 'platform', 'python']
    """
    global _ENVIRONMENT
    if _ENVIRONMENT is None:
        packages = {}
        for name in KEY_PACKAGES:
            with contextlib.suppress(metadata.PackageNotFoundError):
                packages[name] = metadata.version(name)
        _ENVIRONMENT = {
            "python": platform.python_version(),
            "packages": packages,
            "host": socket.gethostname(),
            "platform": platform.platform(terse=True),
            # Fit times and records per second only compare on known hardware.
            "cpu_count": os.cpu_count(),
        }
    return dict(_ENVIRONMENT)


def _code_cells(nb: Any) -> Iterator[tuple[int, Any]]:
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or not cell.source.strip():
            continue
        if "skip-execution" in cell.metadata.get("tags", []):
            continue
        yield index, cell


def _summary(nb: Any, index: int | None, ename: str, evalue: str) -> dict[str, Any]:
    cell = nb.cells[index] if index is not None else None
    source = "\n".join(cell.source.splitlines()[:3])[:300] if cell is not None else ""
    return {
        "ename": ename,
        "evalue": _ANSI.sub("", evalue)[:2000],
        "cell_index": index,
        "execution_count": cell.get("execution_count") if cell is not None else None,
        "source": source,
    }


def _last_started(nb: Any) -> int | None:
    started = [
        i
        for i, cell in _code_cells(nb)
        if cell.metadata.get("papermill", {}).get("start_time")
    ]
    return started[-1] if started else None


def analyse_notebook(
    nb: Any,
    exc: BaseException | None = None,
    *,
    timed_out: bool = False,
    limit: float | None = None,
) -> tuple[str, dict[str, Any] | None]:
    """Decide a run's status and error summary from its executed notebook.

    A run is ``ok`` only if every code cell ran without an error output: a notebook that
    stops early through ``sys.exit()`` is an ``error``.

    Parameters
    ----------
    nb : nbformat.NotebookNode
        The executed (possibly partly executed) notebook.
    exc : BaseException, optional
        The exception execution ended with.
    timed_out : bool, default=False
        Whether the run's watchdog stopped it.
    limit : float, optional
        The run's time limit in seconds, for the message.

    Returns
    -------
    status : str
        ``ok``, ``error``, ``timeout`` or ``kernel_died``.
    error : dict or None
        ``ename``, ``evalue``, ``cell_index``, ``execution_count``, ``source``.

    Examples
    --------
    >>> from nbformat.v4 import new_notebook, new_code_cell
    >>> nb = new_notebook(cells=[new_code_cell("x = 1", execution_count=1),
    ...                          new_code_cell("y = 2")])
    >>> status, error = analyse_notebook(nb)
    >>> status, error["ename"], error["cell_index"]
    ('error', 'NotExecuted', 1)
    """
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    if timed_out or isinstance(exc, CellTimeoutError | TimeoutError):
        evalue = f"stopped at the time limit of {limit:g} s" if limit else "timed out"
        return "timeout", _summary(nb, _last_started(nb), "Timeout", evalue)
    if isinstance(exc, DeadKernelError):
        evalue = "the kernel died (crash, out of memory or os._exit)"
        return "kernel_died", _summary(nb, _last_started(nb), "DeadKernelError", evalue)
    for index, cell in _code_cells(nb):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                ename, evalue = output.get("ename", ""), output.get("evalue", "")
                if ename == "SystemExit":
                    evalue = f"sys.exit({evalue}) ended the notebook early"
                return "error", _summary(nb, index, ename, evalue)
    if exc is not None:
        name = type(exc).__name__
        return "error", _summary(nb, _last_started(nb), name, str(exc))
    for index, cell in _code_cells(nb):
        if cell.get("execution_count") is None:
            evalue = f"cell {index} never ran: the notebook stopped early"
            return "error", _summary(nb, index, "NotExecuted", evalue)
    return "ok", None


def _cells_seconds(nb: Any) -> float:
    total = 0.0
    for _, cell in _code_cells(nb):
        duration = cell.metadata.get("papermill", {}).get("duration")
        if isinstance(duration, int | float):
            total += duration
    return total


def _execute(nb: Any, task: RunTask, kernel: Any) -> None:
    """Run ``nb`` (already parameterised) in ``kernel``; mutates ``nb`` in place."""
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import NotebookExecutionManager

    nb_man = NotebookExecutionManager(nb, output_path=None, progress_bar=False)
    nb_man.notebook_start()
    client = PapermillNotebookClient(
        nb_man,
        km=kernel.km,
        kernel_name=task.kernel_name,
        timeout=math.ceil(task.timeout) if task.timeout else None,
        startup_timeout=START_TIMEOUT,
        log_output=False,
    )
    client.kc = kernel.kc  # connected and ready: execute() skips the start-up
    try:
        client.execute()
    finally:
        nb_man.cleanup_pbar()
        nb_man.notebook_complete()


def _prepare(task: RunTask) -> Any:
    import nbformat
    from papermill.execute import prepare_notebook_metadata, remove_error_markers
    from papermill.parameterize import parameterize_notebook

    nb = nbformat.reads(task.notebook_json, as_version=4)
    nb.metadata["papermill"] = {
        "default_parameters": {},
        "parameters": {},
        "environment_variables": {},
    }
    for cell in nb.cells:
        cell.metadata.setdefault("tags", [])
    nb = parameterize_notebook(nb, task.parameters, kernel_name=task.kernel_name)
    nb = prepare_notebook_metadata(nb, task.notebook_name, task.notebook_name)
    return remove_error_markers(nb)


def _collect(run_dir: Path) -> dict[str, bytes]:
    return {
        path.relative_to(run_dir).as_posix(): path.read_bytes()
        for path in sorted(run_dir.rglob("*"))
        if path.is_file() and not path.name.startswith(".")
    }


def _put_inputs(run_dir: Path, inputs: dict[str, str]) -> None:
    for name, text in inputs.items():
        # Hidden and flat: never collected as an output, never outside the folder.
        if not name.startswith(".") or Path(name).name != name:
            msg = f"Run input {name!r} must be a hidden file name."
            raise InvalidInputError(msg)
        (run_dir / name).write_text(text, "utf-8")


def execute_run(task: RunTask) -> RunOutcome:
    """Execute one run in this worker process and return its outcome.

    Never raises for a failing notebook: errors, timeouts and dead kernels come back as
    the outcome's ``status`` and ``error``.

    Parameters
    ----------
    task : RunTask
        The notebook, its parameters and limits.

    Returns
    -------
    RunOutcome
    """
    import nbformat

    start_iso, started = _now(), time.perf_counter()
    key = (task.kernel_name, task.cwd)
    pool = worker_pool()
    kernel, waited = pool.acquire(key)
    fired = threading.Event()
    watchdog = None
    if task.timeout:
        watchdog = threading.Timer(
            task.timeout, lambda: (fired.set(), kill_kernel(kernel))
        )
        watchdog.daemon = True
        watchdog.start()
    nb, exc = None, None
    exec_started = time.perf_counter()
    try:
        _put_inputs(kernel.run_dir, task.inputs)
        nb = _prepare(task)
        _execute(nb, task, kernel)
    except Exception as err:  # reported in the outcome, not raised
        exc = err
    finally:
        if watchdog is not None:
            watchdog.cancel()
    exec_seconds = time.perf_counter() - exec_started
    try:
        if nb is None:
            status, error = (
                "error",
                {
                    "ename": type(exc).__name__,
                    "evalue": str(exc),
                    "cell_index": None,
                    "execution_count": None,
                    "source": "",
                },
            )
            notebook_json = None
        else:
            status, error = analyse_notebook(
                nb, exc, timed_out=fired.is_set(), limit=task.timeout
            )
            notebook_json = nbformat.writes(nb)
        files = _collect(kernel.run_dir)
    finally:
        pool.release(kernel)
    total = time.perf_counter() - started
    cells = _cells_seconds(nb) if nb is not None else 0.0
    timings = {
        "queued": task.queued,
        "start": start_iso,
        "end": _now(),
        "kernel_wait_seconds": round(waited, 4),
        "kernel_boot_seconds": round(kernel.boot_seconds, 4),
        "kernel_prestarted": kernel.prestarted,
        "execution_seconds": round(exec_seconds, 4),
        "cells_seconds": round(cells, 4),
        "total_seconds": round(total, 4),
        "overhead_seconds": round(max(total - cells, 0.0), 4),
    }
    return RunOutcome(
        task.run_id, status, error, notebook_json, files, timings, environment()
    )


#: What the fork server imports before it forks a sweep worker.
SWEEP_PRELOAD = ("squad.runs.executor", "papermill.clientwrap")


def open_sweep_executor(
    *,
    jobs: int | None = None,
    scheduler: str | None = None,
    kernel_name: str = "python3",
    cwd: str | None = None,
) -> contextlib.AbstractContextManager[Executor]:
    """The executor sweeps submit :func:`execute_run` to, its workers ready for runs.

    :func:`squad.workers.open_executor` with the sweep workers' imports
    (:data:`SWEEP_PRELOAD`) and a kernel started in each worker as it starts
    (:func:`warm_up_worker`). One executor can serve several sweeps of the same
    notebook: its workers keep their kernels started between them.

    Parameters
    ----------
    jobs : int, optional
        Local worker processes (default: the number of CPU cores). Ignored with
        ``scheduler``.
    scheduler : str, optional
        Address of a Dask scheduler (``tcp://host:8786``).
    kernel_name : str, default="python3"
        The kernel each worker starts ahead of its first run.
    cwd : str, optional
        Working folder of those kernels (the notebook's folder).

    Returns
    -------
    context manager of concurrent.futures.Executor

    Raises
    ------
    ValueError
        If ``jobs`` is not a positive integer.
    OSError
        If the scheduler cannot be reached.
    """
    return open_executor(
        jobs=jobs,
        scheduler=scheduler,
        preload=SWEEP_PRELOAD,
        warm_up=functools.partial(warm_up_worker, kernel_name, cwd),
    )
