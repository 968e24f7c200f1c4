"""Kernels started ahead of use: the one mechanism behind sweeps and grading.

A worker process runs one notebook at a time. While it does, the kernel for its next
notebook boots in a background thread, so that it answers at once when the next run or
submission needs it. What starts a kernel differs (a plain kernel for a sweep, a
sandboxed one in a throwaway course folder for grading); the rules do not:

- **Never reused.** A kernel runs exactly one notebook; once released it is shut down
  in the background. At most one kernel waits, for the latest key asked for; a kernel
  started for another key (another notebook folder, assignment or policy) is stopped.
- **One folder per kernel**, ``<tmp>/squad-<kind>-<pid>-*`` (connection file, sockets,
  the run or course folder), removed with the kernel. A worker that was killed cannot
  remove its folders: whoever starts a `Prestarter` next removes the folders of
  processes that no longer exist.
- **Idle expiry.** A kernel nobody has taken within `IDLE_SECONDS` (the worker's last
  run has passed) is shut down, and never handed out.
- **Shutdown.** Channels closed, the kernel asked to exit and killed after
  `SHUTDOWN_WAIT` seconds, its sandbox cleaned up, its folder removed.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import logging
import multiprocessing.util
import os
import re
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from squad.errors import MissingToolError

__all__ = [
    "IDLE_SECONDS",
    "SHUTDOWN_WAIT",
    "KernelStartError",
    "Prestarter",
    "StartedKernel",
    "clear_dead_folders",
    "kernel_folder",
    "kernel_start_error",
    "kill_kernel",
    "process_prestarter",
    "stop_kernel",
]

log = logging.getLogger("squad")

#: Seconds a started kernel may wait to be taken before it is shut down.
IDLE_SECONDS = 120
#: Seconds a kernel has to exit when asked, before it is killed.
SHUTDOWN_WAIT = 2.0

_FOLDER = re.compile(r"squad-([a-z]+)-(\d+)-")
_ERROR_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit)\b.*")


class KernelStartError(MissingToolError):
    """A kernel that could not start: the machine's set-up, not the notebook, is at fault."""


def kernel_start_error(kernel_log: str) -> str:
    r"""The last Python error line a kernel printed before it died, or ''.

    Examples
    --------
    >>> kernel_start_error("Traceback ...\nModuleNotFoundError: No module named 'x'\n")
    "ModuleNotFoundError: No module named 'x'"
    >>> kernel_start_error("Killed\n")
    ''
    """
    lines = [line.strip() for line in kernel_log.splitlines()]
    return next((line for line in reversed(lines) if _ERROR_LINE.match(line)), "")


@dataclasses.dataclass
class StartedKernel:
    """A started kernel, its client (if connected) and the folder that goes with it."""

    km: Any
    base: Path | None = None
    kc: Any = None
    started: float = dataclasses.field(default_factory=time.monotonic)
    boot_seconds: float = 0.0
    prestarted: bool = False


def kernel_folder(kind: str) -> Path:
    """Make the folder of a new kernel: ``<tmp>/squad-<kind>-<pid>-<random>``.

    Examples
    --------
    >>> folder = kernel_folder("demo")
    >>> folder.name.startswith(f"squad-demo-{os.getpid()}-")
    True
    >>> folder.rmdir()
    """
    return Path(tempfile.mkdtemp(prefix=f"squad-{kind}-{os.getpid()}-"))


def clear_dead_folders() -> list[Path]:
    """Remove kernel folders left behind by processes that no longer exist.

    Returns
    -------
    list of pathlib.Path
        The folders removed.
    """
    if os.name != "posix":  # pragma: no cover - os.kill(pid, 0) would end the process
        return []
    removed = []
    for path in Path(tempfile.gettempdir()).glob("squad-*-*-*"):
        match = _FOLDER.match(path.name)
        if not match or int(match.group(2)) == os.getpid():
            continue
        try:
            os.kill(int(match.group(2)), 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
        except OSError:  # alive, or not ours to signal
            continue
    return removed


def stop_kernel(kernel: StartedKernel) -> None:
    """Shut a kernel down by the one rule, and remove its folder (safe to call twice)."""
    from jupyter_core.utils import run_sync

    if kernel.kc is not None:
        with contextlib.suppress(Exception):
            kernel.kc.stop_channels()
    try:
        if kernel.km.has_kernel:
            kernel.km.shutdown_wait_time = SHUTDOWN_WAIT
            run_sync(kernel.km.shutdown_kernel)(now=False)
    except Exception as err:  # a kernel that is already gone
        log.debug("Kernel shutdown: %s", err)
    cleanup = getattr(kernel.km, "cleanup_sandbox", None)
    if cleanup is not None:
        with contextlib.suppress(Exception):
            cleanup()
    if kernel.base is not None:
        shutil.rmtree(kernel.base, ignore_errors=True)


def kill_kernel(kernel: StartedKernel) -> None:
    """Kill a kernel's process group at once (a watchdog's last resort; any thread)."""
    process = getattr(kernel.km.provisioner, "process", None)
    if process is None:
        return
    with contextlib.suppress(OSError):
        if hasattr(os, "killpg"):
            os.killpg(process.pid, signal.SIGKILL)
        else:  # pragma: no cover - Windows
            process.kill()


def is_alive(kernel: StartedKernel) -> bool:
    """Whether the kernel's process still runs."""
    from jupyter_core.utils import run_sync

    try:
        return bool(run_sync(kernel.km.is_alive)())
    except Exception:
        return False


class _QuietCleanup(logging.Filter):
    """At exit, a kernel stopped while still starting leaves processes to the cleanup."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "left behind by a sandboxed kernel" not in str(record.msg)


class Prestarter:
    """Starts the next kernel of this process in the background, by the rules above.

    Parameters
    ----------
    start : callable
        ``start(key) -> StartedKernel``; runs in a background thread.

    Examples
    --------
    >>> prestarter = Prestarter(lambda key: StartedKernel(km=None))
    >>> prestarter.n_waiting
    0
    >>> prestarter.close()
    """

    def __init__(self, start: Callable[[Hashable], StartedKernel]) -> None:
        self._start = start
        self._lock = threading.Lock()
        self._threads = ThreadPoolExecutor(2, thread_name_prefix="squad-kernel")
        self._next: tuple[Hashable, Future] | None = None
        self._closed = False
        clear_dead_folders()

    @property
    def n_waiting(self) -> int:
        """1 if a kernel is started (or starting) and not yet taken, else 0."""
        with self._lock:
            return int(self._next is not None)

    def prestart(self, key: Hashable) -> None:
        """Start a kernel for ``key`` in the background, unless one already waits."""
        with self._lock:
            if self._closed or (self._next is not None and self._next[0] == key):
                return
            old = self._next
            future = self._threads.submit(self._start, key)
            self._next = (key, future)
        if old is not None:  # started for another key: not needed any more
            old[1].add_done_callback(self._discard)
        timer = threading.Timer(IDLE_SECONDS, self._expire, args=(future,))
        timer.daemon = True
        timer.start()

    def take(self, key: Hashable) -> StartedKernel | None:
        """The waiting kernel for ``key`` if it is alive and fresh, else None."""
        with self._lock:
            found, self._next = self._next, None
        if found is None:
            return None
        if found[0] != key:
            found[1].add_done_callback(self._discard)
            return None
        try:
            kernel = found[1].result()
        except KernelStartError:
            raise  # a second start fails the same way
        except Exception as err:
            log.warning("Starting a kernel ahead failed (%s); starting another", err)
            return None
        if not is_alive(kernel) or time.monotonic() - kernel.started > IDLE_SECONDS:
            self.release(kernel)
            return None
        kernel.prestarted = True
        return kernel

    def acquire(self, key: Hashable) -> tuple[StartedKernel, float]:
        """A started kernel for ``key`` (waiting, or started now) and the seconds waited.

        The kernel for the next use starts at once, in the background.
        """
        waited = time.perf_counter()
        kernel = self.take(key)
        if kernel is None:
            kernel = self._start(key)
        waited = time.perf_counter() - waited
        self.prestart(key)
        return kernel, waited

    def release(self, kernel: StartedKernel) -> None:
        """Shut ``kernel`` down in the background; it is never used again."""
        with self._lock:
            if not self._closed:
                self._threads.submit(stop_kernel, kernel)
                return
        stop_kernel(kernel)

    def _expire(self, future: Future) -> None:
        with self._lock:
            if self._closed or self._next is None or self._next[1] is not future:
                return
            self._next = None
        future.add_done_callback(self._discard)

    def _discard(self, future: Future) -> None:
        with contextlib.suppress(Exception):
            self.release(future.result())

    def close(self) -> None:
        """Stop the waiting kernel and the kernels being stopped; at process exit."""
        with self._lock:
            if self._closed:
                return
            self._closed, found, self._next = True, self._next, None
        quiet = _QuietCleanup()
        log.addFilter(quiet)
        try:
            if found is not None:
                with contextlib.suppress(Exception):
                    stop_kernel(found[1].result(timeout=60))
            self._threads.shutdown(wait=True)
        finally:
            log.removeFilter(quiet)


_PRESTARTERS: dict[str, Prestarter] = {}
_PRESTARTERS_LOCK = threading.Lock()


def process_prestarter(
    name: str, start: Callable[[Hashable], StartedKernel]
) -> Prestarter:
    """This process's `Prestarter` called ``name``, closed when the process exits."""
    with _PRESTARTERS_LOCK:
        prestarter = _PRESTARTERS.get(name)
        if prestarter is None:
            prestarter = _PRESTARTERS[name] = Prestarter(start)
            atexit.register(prestarter.close)
            # Process-pool workers leave through multiprocessing, which skips atexit.
            multiprocessing.util.Finalize(prestarter, prestarter.close, exitpriority=10)
        return prestarter
