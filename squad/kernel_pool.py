"""Jupyter kernels started ahead of time, one worker process at a time.

A worker keeps a :class:`KernelPool`. When a run takes a kernel, the pool at once starts
the next one in a background thread, so the next run finds a kernel that has booted and
answered; the used kernel is shut down after its run, never reused. Each kernel gets a
temporary folder holding its connection file, its ZMQ sockets (``transport="ipc"``, which
avoids port races) and the run folder it announces to the notebook in ``SQUAD_RUN_DIR``.
Folders left behind by killed workers are removed when a later pool starts.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import multiprocessing.util
import os
import re
import shutil
import signal
import tempfile
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from squad.record import RUN_DIR_ENV

__all__ = ["KernelPool", "kill_kernel", "worker_pool"]

logger = logging.getLogger("squad")

_TMP_PREFIX = "squad-kernel-"
START_TIMEOUT = 60


@dataclass
class _Kernel:
    km: Any
    kc: Any
    base: Path
    run_dir: Path
    boot_seconds: float
    prestarted: bool = False


def _start_kernel(kernel_name: str, cwd: str | None) -> _Kernel:
    """Start a kernel and wait until it answers; runs in a background thread."""
    from jupyter_client import AsyncKernelManager
    from jupyter_core.utils import run_sync

    started = time.perf_counter()
    base = Path(tempfile.mkdtemp(prefix=f"{_TMP_PREFIX}{os.getpid()}-"))
    run_dir = base / "run"
    run_dir.mkdir()
    if os.name == "posix":
        # Unix sockets need an absolute path: the kernel runs in another folder.
        km = AsyncKernelManager(
            kernel_name=kernel_name, transport="ipc", ip=str(base / "ipc")
        )
    else:  # pragma: no cover - Windows has no ipc transport
        km = AsyncKernelManager(kernel_name=kernel_name)
    km.connection_file = str(base / "kernel.json")  # goes with the folder
    env = {**os.environ, RUN_DIR_ENV: str(run_dir)}
    workdir = cwd if cwd and Path(cwd).is_dir() else str(run_dir)
    client = None
    try:
        run_sync(km.start_kernel)(cwd=workdir, env=env)
        # Connect now, so the run does not wait for the channels to settle either.
        client = km.client()
        client.start_channels()
        run_sync(client.wait_for_ready)(timeout=START_TIMEOUT)
        client.allow_stdin = False
    except BaseException:
        with contextlib.suppress(Exception):
            if client is not None:
                client.stop_channels()
            run_sync(km.shutdown_kernel)(now=True)
        shutil.rmtree(base, ignore_errors=True)
        raise
    return _Kernel(km, client, base, run_dir, time.perf_counter() - started)


def _clear_dead_folders() -> None:
    """Remove kernel folders left behind by worker processes that were killed."""
    if os.name != "posix":  # pragma: no cover - os.kill(pid, 0) would end the process
        return
    pattern = re.compile(re.escape(_TMP_PREFIX) + r"(\d+)-")
    for path in Path(tempfile.gettempdir()).glob(f"{_TMP_PREFIX}*"):
        match = pattern.match(path.name)
        if not match or int(match.group(1)) == os.getpid():
            continue
        try:
            os.kill(int(match.group(1)), 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except OSError:  # alive, or not ours to signal
            continue


def _stop_kernel(kernel: _Kernel) -> None:
    from jupyter_core.utils import run_sync

    with contextlib.suppress(Exception):
        kernel.kc.stop_channels()
    try:
        if kernel.km.has_kernel:
            run_sync(kernel.km.shutdown_kernel)(now=True)
    except Exception as err:  # a kernel that is already gone
        logger.debug("Kernel shutdown: %s", err)
    shutil.rmtree(kernel.base, ignore_errors=True)


def kill_kernel(kernel: _Kernel) -> None:
    """Kill a kernel's process group at once (the watchdog; any thread)."""
    process = getattr(kernel.km.provisioner, "process", None)
    if process is None:
        return
    with contextlib.suppress(OSError):
        if hasattr(os, "killpg"):
            os.killpg(process.pid, signal.SIGKILL)
        else:  # pragma: no cover - Windows
            process.kill()


class KernelPool:
    """Kernels started ahead of time, keyed by kernel name and working folder.

    Examples
    --------
    >>> pool = KernelPool()
    >>> pool.n_idle
    0
    >>> pool.close()
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: dict[tuple[str, str | None], list[Future]] = {}
        self._threads = ThreadPoolExecutor(2, thread_name_prefix="squad-kernel")
        self._closed = False
        _clear_dead_folders()

    @property
    def n_idle(self) -> int:
        """Number of kernels started (or starting) and not yet handed out."""
        with self._lock:
            return sum(len(v) for v in self._idle.values())

    def prestart(self, key: tuple[str, str | None]) -> None:
        """Start a kernel for ``key`` (kernel name, working folder) in the background."""
        with self._lock:
            if self._closed:
                return
            future = self._threads.submit(_start_kernel, *key)
            self._idle.setdefault(key, []).append(future)

    def acquire(self, key: tuple[str, str | None]) -> tuple[_Kernel, float]:
        """Return a started kernel for ``key`` and the seconds spent waiting for it.

        The kernel for the next run starts at once, in the background, so that it has
        booted by the time this run ends.
        """
        waited = time.perf_counter()
        with self._lock:
            future = self._idle.get(key, []).pop(0) if self._idle.get(key) else None
            stale = [f for k, fs in self._idle.items() if k != key for f in fs]
            self._idle = {k: v for k, v in self._idle.items() if k == key}
        for old in stale:  # kernels for another notebook folder: not needed here
            old.add_done_callback(self._stop_future)
        kernel = None
        if future is not None:
            try:
                kernel = future.result()
                kernel.prestarted = True
                if not _is_alive(kernel):
                    logger.warning("A pre-started kernel died; starting another")
                    _stop_kernel(kernel)
                    kernel = None
            except Exception as err:
                logger.warning(
                    "Pre-starting a kernel failed (%s); starting another", err
                )
                kernel = None
        if kernel is None:
            kernel = _start_kernel(*key)
        waited = time.perf_counter() - waited
        self.prestart(key)
        return kernel, waited

    def release(self, kernel: _Kernel) -> None:
        """Shut ``kernel`` down in the background; it is never used again."""
        with self._lock:
            if not self._closed:
                self._threads.submit(_stop_kernel, kernel)
                return
        _stop_kernel(kernel)

    @staticmethod
    def _stop_future(future: Future) -> None:
        with contextlib.suppress(Exception):
            _stop_kernel(future.result())

    def close(self) -> None:
        """Shut down every idle kernel and the background threads."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            futures = [f for fs in self._idle.values() for f in fs]
            self._idle = {}
        for future in futures:
            self._stop_future(future)
        self._threads.shutdown(wait=True)


def _is_alive(kernel: _Kernel) -> bool:
    from jupyter_core.utils import run_sync

    try:
        return bool(run_sync(kernel.km.is_alive)())
    except Exception:
        return False


_POOL: KernelPool | None = None
_POOL_LOCK = threading.Lock()


def worker_pool() -> KernelPool:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = KernelPool()
            atexit.register(_POOL.close)
            # Process-pool workers leave through multiprocessing, which skips atexit.
            multiprocessing.util.Finalize(_POOL, _POOL.close, exitpriority=10)
        return _POOL
