"""One kernel's sandbox, from before its kernel starts until after it stops.

:func:`open_sandbox` makes what one kernel needs around it: its private runtime folder
(IPython's, matplotlib's and temporary files, the connection file and sockets), the
fresh uid it runs as when the grader runs as root, and the marker its processes carry.
:meth:`KernelSandbox.close` kills whatever the kernel left running and removes the
runtime folder.

When the grader runs as root, the kernel runs as a fresh unprivileged uid (see
:mod:`squad.kernels.sandbox`). Its working and writable folders are handed to that uid;
a folder on their way that other accounts cannot enter stops the kernel from starting.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
import shutil
import stat
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from squad.kernels.sandbox.command import bwrap_mounts, sandbox_command
from squad.kernels.sandbox.policy import SandboxCapabilities, SandboxPolicy
from squad.kernels.sandbox.processes import chown_tree, kill_marked, kill_uid

__all__ = ["UID_BASE", "KernelSandbox", "first_closed_folder", "open_sandbox"]

log = logging.getLogger("squad")

#: Kernels started by root run as fresh uids above this one.
UID_BASE = 1_900_000_000


def first_closed_folder(
    path: Path, uid: int | None, mounts: Mapping[Path, str] | None = None
) -> Path | None:
    """Return the first folder on the way to ``path`` that ``uid`` cannot enter.

    Parameters
    ----------
    path : pathlib.Path
    uid : int or None
        The account that must reach ``path``; None (the grader's own) reaches all.
    mounts : mapping of pathlib.Path to str, default=None
        bubblewrap's mounts (see :func:`~squad.kernels.sandbox.command.bwrap_mounts`):
        folders it creates inside its own tmpfs mounts are opened up, so only real
        folders are checked.

    Returns
    -------
    pathlib.Path or None
        None when every folder on the way is open to ``uid``.

    Examples
    --------
    >>> first_closed_folder(Path("/"), None) is None
    True
    """
    if uid is None:
        return None
    mounts = mounts or {}
    for folder in [*reversed(path.parents), path]:
        inner = [m for m in mounts if m == folder or m in folder.parents]
        if inner and mounts[max(inner, key=lambda m: len(m.parts))] in ("tmp", "hide"):
            continue
        try:
            info = folder.stat()
        except OSError:
            return folder
        if stat.S_ISDIR(info.st_mode) and not (info.st_mode & stat.S_IXOTH):
            if info.st_uid != uid:
                return folder
    return None


@dataclasses.dataclass
class KernelSandbox:
    """The sandbox one kernel runs in (made by :func:`open_sandbox`).

    Attributes
    ----------
    policy : SandboxPolicy
    mode : str
        The isolation mode in force: "bwrap", "unshare", "rlimits" or "none".
    caps : SandboxCapabilities
        The machine's protections the mode was chosen from.
    uid : int or None
        The fresh uid the kernel runs as; None runs it as the grader.
    workdir : pathlib.Path
        The kernel's working folder.
    runtime : pathlib.Path
        Its private runtime folder.
    token : str
        The marker its processes carry (see :mod:`squad.kernels.sandbox.processes`).
    closed : bool
        Whether :meth:`close` has run.
    """

    policy: SandboxPolicy
    mode: str
    caps: SandboxCapabilities
    uid: int | None
    workdir: Path
    runtime: Path
    token: str
    closed: bool = False

    def command(self, kernel_cmd: list[str]) -> tuple[list[str], dict[str, Any]]:
        """The command starting ``kernel_cmd`` in this sandbox, and its Popen options.

        See :func:`~squad.kernels.sandbox.command.sandbox_command`.
        """
        return sandbox_command(
            kernel_cmd,
            policy=self.policy,
            mode=self.mode,
            caps=self.caps,
            uid=self.uid,
            workdir=self.workdir,
            runtime=self.runtime,
        )

    def close(self) -> int:
        """Kill everything the kernel left running and remove its runtime folder.

        Safe to call again: each call looks for leftovers once more. With bubblewrap
        the PID namespace already died with the kernel; the sandbox uid (grader running
        as root) or the environment marker (otherwise) finds anything that escaped.

        Returns
        -------
        int
            How many leftover processes were killed.
        """
        killed = 0
        if self.uid is not None:
            killed = kill_uid(self.uid)
        elif self.mode != "none":
            killed = kill_marked(self.token)
        if killed:
            log.warning(
                "Killed %d process(es) left behind by a sandboxed kernel", killed
            )
        shutil.rmtree(self.runtime, ignore_errors=True)
        self.closed = True
        return killed


def open_sandbox(
    policy: SandboxPolicy, workdir: Path, mode: str, caps: SandboxCapabilities
) -> KernelSandbox:
    """Make one kernel's runtime folder and uid, and log the protections it lacks.

    Parameters
    ----------
    policy : SandboxPolicy
    workdir : pathlib.Path
        The kernel's working folder (resolved; it exists).
    mode : str
        The isolation mode, one that ``caps`` offers (see
        :func:`~squad.kernels.sandbox.probe.resolve_isolation`).
    caps : SandboxCapabilities

    Returns
    -------
    KernelSandbox
        Close it when the kernel has stopped.

    Raises
    ------
    PermissionError
        If the kernel's uid cannot reach its working or a writable folder.
    """
    uid = None
    if caps.is_root and policy.drop_privileges and mode != "none":
        uid = UID_BASE + 1 + secrets.randbelow(90_000_000)
    runtime = Path(tempfile.mkdtemp(prefix="squad-kernel-"))
    for sub in ("tmp", "ipython", "matplotlib", "cache", "config"):
        (runtime / sub).mkdir()
    lacking = list(caps.missing(mode))
    root_note = "unprivileged kernel user (RLIMIT_NPROC is not enforced for root)"
    mounts = bwrap_mounts(policy, workdir, runtime) if mode == "bwrap" else {}
    if uid is not None:
        # The kernel must reach Python with the sandbox user's own permissions.
        blocked = first_closed_folder(Path(sys.executable).resolve(), uid, mounts)
        if blocked is not None:
            uid = None
            root_note = (
                f"unprivileged kernel user ('{blocked}' is closed to other users), "
                "so RLIMIT_NPROC is not enforced for root"
            )
    if uid is not None:
        for path in (workdir, runtime, *policy.writable_paths):
            blocked = first_closed_folder(path.parent, uid, mounts)
            if blocked is not None:
                shutil.rmtree(runtime, ignore_errors=True)
                msg = (
                    f"Sandbox path '{path}' cannot be reached by the sandbox user: "
                    f"'{blocked}' is closed to other users. Use prepare_workdir() "
                    f"or `chmod o+x {blocked}`."
                )
                raise PermissionError(msg)
        for path in (workdir, runtime, *policy.writable_paths):
            chown_tree(path, uid)
    elif caps.is_root and mode != "none":
        lacking.append(root_note)
    if lacking:
        log.warning(
            "Kernel sandbox (%s) lacks: %s", mode, "; ".join(dict.fromkeys(lacking))
        )
    log.debug("Kernel sandbox %s, uid %s, workdir %s", mode, uid, workdir)
    return KernelSandbox(
        policy, mode, caps, uid, workdir, runtime, token=secrets.token_hex(8)
    )
