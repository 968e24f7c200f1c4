"""Kernel managers that start their kernel in a sandbox.

:func:`make_kernel_manager` returns a ``jupyter_client`` kernel manager for nbclient
(``km=``), papermill (``km=``) or nbgrader (``c.Execute.kernel_manager_class``). Before
the kernel starts, the manager opens its sandbox (:func:`~squad.kernels.sandbox.session.
open_sandbox`) and points the connection file and sockets into it; the kernel is then
started by the sandbox's command with an environment built from the policy's
allow-list, and the sandbox is closed when the kernel is shut down.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from jupyter_client import AsyncKernelManager, KernelManager
from jupyter_core.utils import run_sync
from traitlets import Instance, Unicode, default
from traitlets.config import LoggingConfigurable

from squad.errors import InvalidInputError
from squad.kernels.sandbox.command import build_kernel_env
from squad.kernels.sandbox.policy import SandboxPolicy
from squad.kernels.sandbox.probe import resolve_isolation
from squad.kernels.sandbox.processes import MARKER_ENV
from squad.kernels.sandbox.session import KernelSandbox, open_sandbox

__all__ = [
    "AsyncSandboxedKernelManager",
    "SandboxedKernelManager",
    "make_kernel_manager",
]


class _SandboxMixin(LoggingConfigurable):
    """Launch logic shared by the blocking and the asyncio kernel managers."""

    policy = Instance(SandboxPolicy, config=True, help="The SandboxPolicy to apply.")
    workdir = Unicode(
        "",
        config=True,
        help="The kernel's working directory; default: policy.workdir, else the cwd "
        "given to start_kernel (nbclient and nbgrader pass the notebook's folder).",
    )

    @default("policy")
    def _policy_default(self) -> SandboxPolicy:
        return SandboxPolicy()

    @default("transport")
    def _transport_default(self) -> str:
        return "ipc"

    #: The kernel's sandbox, from the first start until it is cleaned up.
    _sandbox: KernelSandbox | None = None
    _start_cwd: str | None = None

    def _sandbox_workdir(self) -> Path:
        value = self.workdir or self.policy.workdir or self._start_cwd
        if not value:
            msg = (
                "SandboxedKernelManager has no workdir. Pass workdir= to "
                "make_kernel_manager, set SandboxPolicy.workdir or start the kernel "
                "with cwd= (see prepare_workdir)."
            )
            raise InvalidInputError(msg)
        path = Path(value).resolve()
        if not path.is_dir():
            msg = f"Sandbox workdir '{path}' is not a folder. Use prepare_workdir()."
            raise NotADirectoryError(msg)
        return path

    def _prepare_sandbox(self) -> None:
        mode, caps = resolve_isolation(self.policy)
        sandbox = open_sandbox(self.policy, self._sandbox_workdir(), mode, caps)
        self._sandbox = sandbox
        self.connection_file = str(sandbox.runtime / "kernel.json")
        self.ip = str(sandbox.runtime / "kernel-ipc")

    async def _async_pre_start_kernel(self, **kw: Any) -> Any:
        self._start_cwd = kw.get("cwd") or self._start_cwd
        if self._sandbox is None or self._sandbox.closed:
            self._prepare_sandbox()
        if self.kernel_spec is not None:
            # A signal does not reach the kernel's new session; this message does.
            self.kernel_spec.interrupt_mode = "message"
        return await super()._async_pre_start_kernel(**kw)  # type: ignore[misc]

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
        sandbox = self._sandbox
        assert sandbox is not None
        env = build_kernel_env(self.policy, sandbox.workdir, sandbox.runtime)
        if self.kernel_spec is not None and self.kernel_spec.env:
            env.update(self.kernel_spec.env)
        env[MARKER_ENV] = sandbox.token
        cmd, popen = sandbox.command(list(kernel_cmd))
        if sandbox.uid is not None:
            os.chown(self.connection_file, sandbox.uid, sandbox.uid)
        kw.update(popen, env=env)
        await super()._async_launch_kernel(cmd, **kw)  # type: ignore[misc]

    def cleanup_sandbox(self) -> int:
        """Kill everything the kernel left running and remove its runtime folder.

        Called by ``shutdown_kernel``; safe to call again (see
        :meth:`~squad.kernels.sandbox.session.KernelSandbox.close`).

        Returns
        -------
        int
            How many leftover processes were killed.
        """
        if self._sandbox is None:
            return 0
        return self._sandbox.close()

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)  # type: ignore[misc]
        if not restart:
            self.cleanup_sandbox()


class SandboxedKernelManager(_SandboxMixin, KernelManager):
    """A blocking ``KernelManager`` that starts its kernel in a sandbox.

    Build it with :func:`make_kernel_manager`, or configure it with traitlets:
    ``c.SandboxedKernelManager.policy = SandboxPolicy(...)``.
    """

    pre_start_kernel = run_sync(_SandboxMixin._async_pre_start_kernel)
    _launch_kernel = run_sync(_SandboxMixin._async_launch_kernel)
    cleanup_resources = run_sync(_SandboxMixin._async_cleanup_resources)


class AsyncSandboxedKernelManager(_SandboxMixin, AsyncKernelManager):
    """An asyncio ``AsyncKernelManager`` that starts its kernel in a sandbox.

    This is the class to give nbclient, papermill and nbgrader (their default manager is
    asynchronous): ``c.Execute.kernel_manager_class = AsyncSandboxedKernelManager``.
    """

    pre_start_kernel = _SandboxMixin._async_pre_start_kernel
    _launch_kernel = _SandboxMixin._async_launch_kernel
    cleanup_resources = _SandboxMixin._async_cleanup_resources


def make_kernel_manager(
    policy: SandboxPolicy | None = None,
    workdir: str | os.PathLike[str] | None = None,
    *,
    kernel_name: str = "python3",
    asynchronous: bool = True,
    **kwargs: Any,
) -> SandboxedKernelManager | AsyncSandboxedKernelManager:
    """Return a kernel manager (not started) whose kernel runs under ``policy``.

    Parameters
    ----------
    policy : SandboxPolicy, default=None
        Limits and isolation; ``SandboxPolicy()`` when None.
    workdir : path-like, default=None
        The kernel's working directory; overrides ``policy.workdir``.
    kernel_name : str, default="python3"
    asynchronous : bool, default=True
        Return an :class:`AsyncSandboxedKernelManager` (for nbclient and papermill) or a
        blocking :class:`SandboxedKernelManager`.
    **kwargs
        Passed to the kernel manager.

    Returns
    -------
    SandboxedKernelManager or AsyncSandboxedKernelManager

    Raises
    ------
    OSError
        If ``policy.isolation`` names a mode this machine cannot provide.
    ValueError
        If there is no working directory.

    Examples
    --------
    >>> import tempfile
    >>> work = tempfile.mkdtemp()
    >>> km = make_kernel_manager(SandboxPolicy(memory_mb=512), work)
    >>> km.transport, km.policy.memory_mb
    ('ipc', 512)
    >>> os.rmdir(work)
    """
    policy = policy or SandboxPolicy()
    resolve_isolation(policy)
    folder = workdir if workdir is not None else policy.workdir
    if folder is None:
        msg = (
            "make_kernel_manager needs a workdir. Pass workdir= (see prepare_workdir)."
        )
        raise InvalidInputError(msg)
    cls = AsyncSandboxedKernelManager if asynchronous else SandboxedKernelManager
    return cls(
        policy=policy,
        workdir=str(Path(folder).resolve()),
        kernel_name=kernel_name,
        **kwargs,
    )
