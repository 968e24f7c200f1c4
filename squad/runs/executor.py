"""Executing one run of a notebook in a worker, with its kernel started ahead of time.

Runs are submitted to a :class:`concurrent.futures.Executor` (see :func:`open_executor`):
a local process pool, or a Dask cluster's executor; the same :func:`execute_run` runs in
both. Each worker process keeps a :class:`~squad.kernels.pool.KernelPool`, so a run takes
a kernel that has already booted while the next one starts in the background; a kernel
is never reused between runs (a Dask worker keeps its spare kernel after a sweep, for the
next one; it stops with the worker). The files a run writes to its ``SQUAD_RUN_DIR``
travel back to the submitting process with the result, so workers need no shared file
system.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import math
import multiprocessing
import os
import platform
import re
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from importlib import metadata
from multiprocessing.context import BaseContext
from pathlib import Path
from typing import Any

from squad._imports import mask_slow_optional_imports
from squad.errors import InvalidInputError, ServiceError
from squad.kernels.pool import START_TIMEOUT, kill_kernel, worker_pool

# Workers import nbformat through papermill; see squad._imports.
mask_slow_optional_imports()

__all__ = [
    "RunOutcome",
    "RunTask",
    "analyse_notebook",
    "environment",
    "execute_run",
    "open_executor",
    "start_fork_server",
]

logger = logging.getLogger("squad")

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


def _warm_up(kernel_name: str, cwd: str | None) -> None:
    """On a Dask worker: start a kernel and import papermill in the background."""
    worker_pool().prestart((kernel_name, cwd))
    threading.Thread(target=_preimport, daemon=True).start()


def _worker_init(
    kernel_name: str | None, cwd: str | None, environ: dict[str, str], workdir: str
) -> None:
    """Process-pool initializer: start the worker's first kernel right away."""
    # A fork-server child starts with the server's environment: use the caller's.
    os.environ.clear()
    os.environ.update(environ)
    with contextlib.suppress(OSError):
        os.chdir(workdir)
    logging.getLogger("traitlets").setLevel(logging.ERROR)
    if kernel_name:
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


#: What the fork server imports before it forks a worker, unless told otherwise.
SWEEP_PRELOAD = ("squad.runs.executor", "papermill.clientwrap")


def _mp_context(preload: Sequence[str] = SWEEP_PRELOAD) -> BaseContext:
    """Fork server where there is one (workers fork from a process that has already
    imported ``preload``, once per session), else spawn. Never plain fork: the caller
    may have threads running."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")  # pragma: no cover - Windows
    context = multiprocessing.get_context("forkserver")
    # Read when the fork server starts: its first user in a process chooses.
    context.set_forkserver_preload(list(preload))
    return context


def start_fork_server(preload: Sequence[str] = SWEEP_PRELOAD) -> None:
    """Start the fork server now, so that it imports ``preload`` while the caller works.

    :func:`open_executor` would start it at the first submitted task and wait there
    for its imports (about a second for nbgrader); started early, they overlap the
    caller's own set-up. Does nothing where there is no fork server (Windows) or one
    is already running.

    Parameters
    ----------
    preload : sequence of str, default=SWEEP_PRELOAD
        The same modules the executor will be opened with.
    """
    context = _mp_context(preload)
    if context.get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


@contextlib.contextmanager
def open_executor(
    *,
    jobs: int | None = None,
    scheduler: str | None = None,
    kernel_name: str | None = None,
    cwd: str | None = None,
    preload: Sequence[str] = SWEEP_PRELOAD,
) -> Iterator[Executor]:
    """Yield the executor runs are submitted to, and close it afterwards.

    Parameters
    ----------
    jobs : int, optional
        Local worker processes (default: the number of CPU cores). Ignored with
        ``scheduler``.
    scheduler : str, optional
        Address of a Dask scheduler (``tcp://host:8786``); runs then go to
        ``distributed.Client(scheduler).get_executor()``.
    kernel_name : str, optional
        Each worker starts a kernel of this name as soon as it starts (and imports
        papermill), for :func:`execute_run`; None starts none.
    cwd : str, optional
        Working folder of those kernels (the notebook's folder).
    preload : sequence of str, default=SWEEP_PRELOAD
        Modules local workers inherit already imported (each worker would otherwise
        import them itself); the default suits notebook runs.

    Yields
    ------
    concurrent.futures.Executor

    Raises
    ------
    ValueError
        If ``jobs`` is not a positive integer.
    OSError
        If the scheduler cannot be reached.

    Examples
    --------
    >>> with open_executor(jobs=0) as ex:
    ...     pass
    Traceback (most recent call last):
    ...
    squad.errors.InvalidInputError: jobs must be a positive integer (--jobs N); got 0.
    """
    if scheduler:
        try:
            from distributed import Client
        except ImportError as err:  # pragma: no cover - distributed is a dependency
            msg = "Running on a Dask cluster needs `pip install distributed`."
            raise ServiceError(msg) from err
        try:
            client = Client(scheduler, timeout="10s", set_as_default=False)
        except (OSError, TimeoutError) as err:
            msg = (
                f"Cannot reach the Dask scheduler at {scheduler!r} ({err}); start one "
                "with `dask scheduler` and workers with `dask worker ADDRESS`."
            )
            raise ServiceError(msg) from err
        try:
            # Each worker starts a kernel and imports papermill now, not at its first
            # run (both in the background: this returns at once).
            if kernel_name:
                try:
                    client.run(_warm_up, kernel_name, cwd)
                except Exception as err:  # the runs will say what is wrong
                    logger.warning("Could not warm up the Dask workers: %s", err)
            yield client.get_executor(pure=False)
        finally:
            client.close()
        return
    if jobs is None:
        jobs = os.cpu_count() or 1
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        msg = f"jobs must be a positive integer (--jobs N); got {jobs!r}."
        raise InvalidInputError(msg)
    executor = ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=_mp_context(preload),
        initializer=_worker_init,
        initargs=(kernel_name, cwd, dict(os.environ), os.getcwd()),
    )
    try:
        yield executor
    except BaseException:
        executor.shutdown(wait=False, cancel_futures=True)
        # Interrupted: stop the workers now; their kernels exit with them.
        for process in list((getattr(executor, "_processes", None) or {}).values()):
            with contextlib.suppress(OSError):
                process.terminate()
        raise
    else:
        executor.shutdown(wait=True)
