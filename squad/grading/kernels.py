"""Sandboxed kernels for grading workers (the grading side of `squad.kernels.prestart`).

A worker grades one submission at a time. While it does, the sandboxed kernel for the
worker's next submission boots in a background thread, in a fresh throwaway course
folder (``<kernel folder>/course/autograded/.next/<assignment>``); the next submission's
folder is then renamed into place around it, so its kernel is ready when nbgrader asks
for one. Starting, expiry and shutdown follow the rules of :mod:`squad.kernels.prestart`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import threading
from pathlib import Path
from typing import Any

from squad.kernels.prestart import (
    Prestarter,
    StartedKernel,
    kernel_folder,
    process_prestarter,
    stop_kernel,
)
from squad.kernels.sandbox import AsyncSandboxedKernelManager, SandboxPolicy

__all__ = [
    "GradingKernelManager",
    "ReadyKernel",
    "grading_key",
    "history_args",
    "starter",
    "watch_memory",
    "without_debugger",
]

#: Extra kernel arguments nbclient adds for IPython kernels (history in memory).
HISTORY_ARGS = ["--HistoryManager.hist_file=:memory:"]


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


#: Runs ``python -m ipykernel_launcher`` (same ``sys.argv``, ``sys.path`` and
#: ``__main__``) after ipykernel has decided, with ``debugpy`` blocked for the moment,
#: that it has no debugger: its import (debugpy and pydevd, 140 modules) is about a
#: fifth of a kernel's start-up CPU, and grading never debugs. The block is lifted
#: before the kernel starts: student code imports ``debugpy`` as in any kernel.
WITHOUT_DEBUGGER = (
    "import runpy, sys; sys.modules['debugpy'] = None; "
    "import ipykernel.debugger; del sys.modules['debugpy']; "
    "runpy.run_module('ipykernel_launcher', run_name='__main__', alter_sys=True)"
)


def without_debugger(kernel_cmd: list[str]) -> list[str]:
    """``kernel_cmd`` with ipykernel's debugger left out, if it is ``-m ipykernel_launcher``.

    Examples
    --------
    >>> without_debugger(["python", "-m", "ipykernel_launcher", "-f", "k.json"])[1:2]
    ['-c']
    >>> without_debugger(["R", "--slave"])
    ['R', '--slave']
    """
    if kernel_cmd[1:3] == ["-m", "ipykernel_launcher"]:
        return [kernel_cmd[0], "-c", WITHOUT_DEBUGGER, *kernel_cmd[3:]]
    return list(kernel_cmd)


class GradingKernelManager(AsyncSandboxedKernelManager):
    """The sandboxed kernel manager, with the kernel's own output sent to a file and
    without ipykernel's debugger (see :data:`WITHOUT_DEBUGGER`)."""

    log_path: Path | None = None

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
        kernel_cmd = without_debugger(kernel_cmd)
        if self.log_path is None:
            await super()._async_launch_kernel(kernel_cmd, **kw)
            return
        with open(self.log_path, "ab") as handle:
            kw["stdout"] = kw["stderr"] = handle
            await super()._async_launch_kernel(kernel_cmd, **kw)


@dataclasses.dataclass
class ReadyKernel(StartedKernel):
    """A started kernel whose working folder waits in a throwaway course folder."""

    assignment: str = ""
    kernel_name: str = ""

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


def grading_folder() -> Path:
    """A new grading kernel folder that a sandbox user may pass through, not list.

    A grader running as root runs the kernel as a fresh uid, which must reach its
    working folder inside (``course/autograded/<student>/<assignment>``); the course
    copy's other parts are closed to it by the worker (see
    :func:`squad.grading.worker.close_course_copy`).
    """
    base = kernel_folder("grade")
    base.chmod(0o711)
    return base


def grading_key(
    policy: SandboxPolicy, assignment: str, kernel_name: str, extra: list[str]
) -> tuple:
    """What a pre-started grading kernel must match to be used."""
    return (policy, assignment, kernel_name, tuple(extra))


def _start(key: tuple) -> ReadyKernel:
    from jupyter_core.utils import run_sync

    policy, assignment, kernel_name, extra = key
    base = grading_folder()
    ready = None
    try:
        workdir = base / "course" / "autograded" / ".next" / assignment
        workdir.mkdir(parents=True)
        env = {**policy.env, "NBGRADER_EXECUTION": "autograde"}
        hidden = (*policy.hidden_paths, base / "course")
        own = dataclasses.replace(policy, hidden_paths=hidden, env=env)
        km = GradingKernelManager(policy=own, kernel_name=kernel_name)
        km.log_path = base / "kernel.log"
        ready = ReadyKernel(
            km=km, base=base, assignment=assignment, kernel_name=kernel_name
        )
        run_sync(km.start_kernel)(cwd=str(workdir), extra_arguments=list(extra))
        return ready
    except BaseException:
        if ready is not None:
            stop_kernel(ready)
        shutil.rmtree(base, ignore_errors=True)
        raise


def starter() -> Prestarter:
    """This worker process's pre-started grading kernels, keyed by `grading_key`."""
    return process_prestarter("grade", _start)


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
