"""Sandboxed kernels for grading workers: started ahead, watched, logged.

A worker grades one submission at a time. While it does, :class:`KernelStarter` boots
the sandboxed kernel for the worker's next submission in a background thread, in a
fresh throwaway course folder (``<tmp>/course/autograded/.next/<assignment>``); the
next submission's folder is then renamed into place around it, so its kernel is ready
when nbgrader asks for one. A kernel is never reused: each one runs exactly one
notebook and is shut down in the background afterwards.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import logging
import shutil
import tempfile
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from squad.sandbox import AsyncSandboxedKernelManager, SandboxPolicy

log = logging.getLogger("squad")

#: Extra kernel arguments nbclient adds for IPython kernels (history in memory).
HISTORY_ARGS = ["--HistoryManager.hist_file=:memory:"]
_IDLE_SECONDS = 120


def history_args(execute_config: Any) -> list[str]:
    """The kernel arguments nbclient passes for this ``Execute`` configuration.

    Examples
    --------
    >>> history_args({})
    ['--HistoryManager.hist_file=:memory:']
    """
    extra = list(execute_config.get("extra_arguments", []))
    if not any(arg.startswith("--HistoryManager.hist_file") for arg in extra):
        extra += HISTORY_ARGS
    return extra


class GradingKernelManager(AsyncSandboxedKernelManager):
    """The sandboxed kernel manager, with the kernel's own output sent to a file."""

    log_path: Path | None = None

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
        if self.log_path is None:
            await super()._async_launch_kernel(kernel_cmd, **kw)
            return
        with open(self.log_path, "ab") as handle:
            kw["stdout"] = kw["stderr"] = handle
            await super()._async_launch_kernel(kernel_cmd, **kw)


@dataclasses.dataclass
class ReadyKernel:
    """A started kernel whose working folder waits in a throwaway course folder."""

    km: GradingKernelManager
    base: Path
    assignment: str
    kernel_name: str
    policy: SandboxPolicy
    started: float

    @property
    def root(self) -> Path:
        return self.base / "course"

    @property
    def slot(self) -> Path:
        return self.root / "autograded" / ".next"

    def claim(self, student: str) -> Path:
        """Rename the waiting folder to the student's; return the kernel's folder."""
        target = self.root / "autograded" / student
        self.slot.rename(target)
        return target / self.assignment


def _start(
    policy: SandboxPolicy, assignment: str, kernel_name: str, extra: list[str]
) -> ReadyKernel:
    from jupyter_core.utils import run_sync

    base = Path(tempfile.mkdtemp(prefix="squad-grade-"))
    ready = None
    try:
        workdir = base / "course" / "autograded" / ".next" / assignment
        workdir.mkdir(parents=True)
        env = {**policy.env, "NBGRADER_EXECUTION": "autograde"}
        hidden = (*policy.hidden_paths, base / "course")
        own = dataclasses.replace(policy, hidden_paths=hidden, env=env)
        km = GradingKernelManager(policy=own, kernel_name=kernel_name)
        km.log_path = base / "kernel.log"
        ready = ReadyKernel(km, base, assignment, kernel_name, policy, time.monotonic())
        run_sync(km.start_kernel)(cwd=str(workdir), extra_arguments=list(extra))
        return ready
    except BaseException:
        if ready is not None:
            stop_kernel(ready.km)
        shutil.rmtree(base, ignore_errors=True)
        raise


def stop_kernel(km: Any) -> None:
    """Shut a kernel down and clean its sandbox up (safe to call twice).

    The kernel is asked to exit first and killed after two seconds if it does not, so
    an honest kernel leaves nothing behind (and is reaped by its parent).
    """
    from jupyter_core.utils import run_sync

    try:
        if km.has_kernel:
            km.shutdown_wait_time = 2.0
            run_sync(km.shutdown_kernel)(now=False)
    except Exception as err:  # already gone
        log.debug("Kernel shutdown: %s", err)
    with contextlib.suppress(Exception):
        km.cleanup_sandbox()


class KernelStarter:
    """Boots the next kernel of this worker process in the background."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._threads = ThreadPoolExecutor(3, thread_name_prefix="squad-kernel")
        self._next: tuple[tuple, Future] | None = None
        self._closed = False

    def prestart(
        self, policy: SandboxPolicy, assignment: str, kernel_name: str, extra: list[str]
    ) -> None:
        """Start a kernel for the next submission of ``assignment``."""
        key = (policy, assignment, kernel_name, tuple(extra))
        with self._lock:
            if self._closed or (self._next is not None and self._next[0] == key):
                return
            old, self._next = self._next, None
            future = self._threads.submit(
                _start, policy, assignment, kernel_name, extra
            )
            self._next = (key, future)
        if old is not None:
            old[1].add_done_callback(self._discard)
        # A kernel nobody claims (the worker's last submission) is not kept for long.
        timer = threading.Timer(_IDLE_SECONDS, self._expire, args=(future,))
        timer.daemon = True
        timer.start()

    def _expire(self, future: Future) -> None:
        with self._lock:
            if self._next is None or self._next[1] is not future or self._closed:
                return
            self._next = None
        future.add_done_callback(self._discard)

    def take(
        self, policy: SandboxPolicy, assignment: str, kernel_name: str, extra: list[str]
    ) -> ReadyKernel | None:
        """The started kernel for this key, or None (the caller starts one itself)."""
        key = (policy, assignment, kernel_name, tuple(extra))
        with self._lock:
            found, self._next = self._next, None
        if found is None:
            return None
        if found[0] != key:
            found[1].add_done_callback(self._discard)
            return None
        try:
            ready = found[1].result()
        except Exception as err:
            log.warning("Starting a kernel ahead failed (%s); starting another", err)
            return None
        alive = False
        with contextlib.suppress(Exception):
            from jupyter_core.utils import run_sync

            alive = bool(run_sync(ready.km.is_alive)())
        if not alive or time.monotonic() - ready.started > _IDLE_SECONDS:
            self.release(ready)
            return None
        return ready

    def stop_later(self, km: Any) -> None:
        """Shut a used kernel down in the background (waited for at exit)."""
        with self._lock:
            if not self._closed:
                self._threads.submit(stop_kernel, km)
                return
        stop_kernel(km)

    def release(self, ready: ReadyKernel) -> None:
        """Shut a kernel down and remove its folder, in the background."""

        def stop() -> None:
            stop_kernel(ready.km)
            shutil.rmtree(ready.base, ignore_errors=True)

        with self._lock:
            if not self._closed:
                self._threads.submit(stop)
                return
        stop()

    def _discard(self, future: Future) -> None:
        with contextlib.suppress(Exception):
            self.release(future.result())

    def close(self) -> None:
        """Stop the waiting kernel, if any; called when the worker exits."""
        with self._lock:
            self._closed, found, self._next = True, self._next, None
        quiet = _QuietCleanup()
        log.addFilter(quiet)  # the worker is exiting: unused kernels are expected
        try:
            if found is not None:
                with contextlib.suppress(Exception):
                    ready = found[1].result(timeout=60)
                    stop_kernel(ready.km)
                    shutil.rmtree(ready.base, ignore_errors=True)
            self._threads.shutdown(wait=True)
        finally:
            log.removeFilter(quiet)


class _QuietCleanup(logging.Filter):
    """Drop the sandbox's note about processes killed at cleanup.

    A kernel stopped while it is still starting (the next kernel of a worker that has
    no next submission) leaves its starting processes to the cleanup: expected here.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "left behind by a sandboxed kernel" not in str(record.msg)


_STARTER: KernelStarter | None = None
_STARTER_LOCK = threading.Lock()


def starter() -> KernelStarter:
    """This process's :class:`KernelStarter`."""
    global _STARTER
    with _STARTER_LOCK:
        if _STARTER is None:
            import multiprocessing.util

            _STARTER = KernelStarter()
            atexit.register(_STARTER.close)
            # Process-pool workers leave through multiprocessing, which skips atexit.
            multiprocessing.util.Finalize(_STARTER, _STARTER.close, exitpriority=10)
        return _STARTER


def watch_memory(pid: int, limit_mb: int, stop: threading.Event, fired: list) -> None:
    """Kill a kernel's process tree when together it holds more than ``limit_mb``.

    Shared pages are counted once (proportional set size where the OS gives it), so a
    fork bomb of copy-on-write children is not mistaken for a memory bomb.
    """
    import psutil

    limit = limit_mb * 1024 * 1024
    try:
        root = psutil.Process(pid)
    except psutil.Error:
        return
    while not stop.wait(0.5):
        try:
            tree = [root, *root.children(recursive=True)]
        except psutil.Error:
            return
        total = 0
        for proc in tree:
            with contextlib.suppress(psutil.Error):
                info = proc.memory_full_info()
                total += getattr(info, "pss", None) or info.uss or info.rss
        if total > limit:
            fired.append(total)
            for proc in reversed(tree):
                with contextlib.suppress(psutil.Error):
                    proc.kill()
            return
