"""The one place that opens an Executor: a local process pool, or a Dask cluster.

Sweeps and grading both submit their work to the :class:`concurrent.futures.Executor`
that :func:`open_executor` yields. Local workers fork from a fork server that has
already imported what they need (``preload``, once per session), and each worker can
get ready for its first task as it starts (``warm_up``); on a Dask cluster the same
``warm_up`` runs once on every worker.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from multiprocessing.context import BaseContext

from squad.errors import InvalidInputError, ServiceError

__all__ = ["open_executor", "start_fork_server"]

logger = logging.getLogger("squad")


def _worker_init(
    environ: dict[str, str], workdir: str, warm_up: Callable[[], None] | None
) -> None:
    """Process-pool initializer: the caller's environment and folder, then warm-up."""
    # A fork-server child starts with the server's environment: use the caller's.
    os.environ.clear()
    os.environ.update(environ)
    with contextlib.suppress(OSError):
        os.chdir(workdir)
    logging.getLogger("traitlets").setLevel(logging.ERROR)
    if warm_up is not None:
        warm_up()


def _mp_context(preload: Sequence[str]) -> BaseContext:
    """Fork server where there is one (workers fork from a process that has already
    imported ``preload``, once per session), else spawn. Never plain fork: the caller
    may have threads running."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")  # pragma: no cover - Windows
    context = multiprocessing.get_context("forkserver")
    # Read when the fork server starts: its first user in a process chooses.
    context.set_forkserver_preload(list(preload))
    return context


def start_fork_server(preload: Sequence[str] = ()) -> None:
    """Start the fork server now, so that it imports ``preload`` while the caller works.

    :func:`open_executor` would start it at the first submitted task and wait there
    for its imports (about a second for nbgrader); started early, they overlap the
    caller's own set-up. Does nothing where there is no fork server (Windows) or one
    is already running.

    Parameters
    ----------
    preload : sequence of str, default=()
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
    preload: Sequence[str] = (),
    warm_up: Callable[[], None] | None = None,
) -> Iterator[Executor]:
    """Yield the executor work is submitted to, and close it afterwards.

    Parameters
    ----------
    jobs : int, optional
        Local worker processes (default: the number of CPU cores). Ignored with
        ``scheduler``.
    scheduler : str, optional
        Address of a Dask scheduler (``tcp://host:8786``); work then goes to
        ``distributed.Client(scheduler).get_executor()``.
    preload : sequence of str, default=()
        Modules local workers inherit already imported (each worker would otherwise
        import them itself).
    warm_up : callable, optional
        Called with no arguments in each worker as it starts (on a Dask cluster, once
        on each worker now), to start in the background what its first task needs.
        It must pickle: a module-level function, or a :func:`functools.partial` of one.

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
            if warm_up is not None:
                try:
                    client.run(warm_up)
                except Exception as err:  # the tasks will say what is wrong
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
        initargs=(dict(os.environ), os.getcwd(), warm_up),
    )
    try:
        yield executor
    except BaseException:
        # Taken before shutdown, which forgets them.
        processes = list((getattr(executor, "_processes", None) or {}).values())
        executor.shutdown(wait=False, cancel_futures=True)
        # Interrupted: stop the workers now; whatever they started exits with them.
        for process in processes:
            with contextlib.suppress(OSError):
                process.terminate()
        raise
    else:
        executor.shutdown(wait=True)
