"""Pre-started kernels for sweep runs (the sweep side of `squad.kernels.prestart`).

Each worker process keeps the kernel for its next run booted: a plain kernel of the
notebook's kernel name, in the notebook's folder, whose run folder (``run/`` inside the
kernel's folder) is given to the notebook in ``SQUAD_RUN_DIR``. Starting, expiry and
shutdown follow the rules of :mod:`squad.kernels.prestart`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import time
from pathlib import Path

from squad.kernels.prestart import (
    KernelStartError,
    Prestarter,
    StartedKernel,
    kernel_folder,
    kernel_start_error,
    kill_kernel,
    process_prestarter,
)
from squad.records import RUN_DIR_ENV

__all__ = ["SweepKernel", "kill_kernel", "start_sweep_kernel", "worker_pool"]

START_TIMEOUT = 60


@dataclasses.dataclass
class SweepKernel(StartedKernel):
    """A started kernel and the run folder its notebook writes into."""

    run_dir: Path | None = None


def start_sweep_kernel(key: tuple[str, str | None]) -> SweepKernel:
    """Start a kernel for ``key`` (kernel name, working folder); wait until it answers."""
    from jupyter_client import AsyncKernelManager
    from jupyter_core.utils import run_sync

    kernel_name, cwd = key
    started = time.perf_counter()
    base = kernel_folder("kernel")
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
    log_path = base / "kernel.log"
    try:
        # The kernel's own output (not its cells'): read back if it cannot start.
        with open(log_path, "ab") as output:
            run_sync(km.start_kernel)(
                cwd=workdir, env=env, stdout=output, stderr=output
            )
        # Connect now, so the run does not wait for the channels to settle either.
        client = km.client()
        client.start_channels()
        run_sync(client.wait_for_ready)(timeout=START_TIMEOUT)
        client.allow_stdin = False
    except BaseException as err:
        with contextlib.suppress(Exception):
            if client is not None:
                client.stop_channels()
            run_sync(km.shutdown_kernel)(now=True)
        cause = ""
        with contextlib.suppress(OSError):
            cause = kernel_start_error(log_path.read_text("utf-8", "replace"))
        shutil.rmtree(base, ignore_errors=True)
        if cause and isinstance(err, Exception):
            msg = (
                f"The kernel '{kernel_name}' could not start ({cause}): a problem of "
                "this machine's Jupyter set-up, not of the notebook. Fix it "
                "(`jupyter kernelspec list` shows where the kernel is), then run again."
            )
            raise KernelStartError(msg) from err
        raise
    return SweepKernel(
        km=km,
        base=base,
        kc=client,
        boot_seconds=time.perf_counter() - started,
        run_dir=run_dir,
    )


def worker_pool() -> Prestarter:
    """This worker process's pre-started sweep kernels, keyed by (kernel, folder)."""
    return process_prestarter("sweep", start_sweep_kernel)
