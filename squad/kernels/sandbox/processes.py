"""The processes and files of a sandbox user: handing files over, killing leftovers.

A kernel's leftovers are found by the sandbox uid when the grader runs as root (every
process of that uid is the kernel's), otherwise by a marker in their environment
(:data:`MARKER_ENV`, which the kernel manager sets and children inherit).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

__all__ = ["MARKER_ENV", "chown_tree", "kill_marked", "kill_uid"]

#: The environment variable that marks a sandboxed kernel's processes.
MARKER_ENV = "SQUAD_SANDBOX_ID"


def chown_tree(path: Path, uid: int) -> None:
    """Give ``path`` and everything in it to ``uid`` (and group ``uid``).

    Symbolic links are changed themselves, never followed.

    Parameters
    ----------
    path : pathlib.Path
    uid : int
    """
    os.chown(path, uid, uid, follow_symlinks=False)
    if path.is_dir() and not path.is_symlink():
        for root, dirs, files in os.walk(path):
            for name in dirs + files:
                os.chown(os.path.join(root, name), uid, uid, follow_symlinks=False)


def _as_user(uid: int) -> dict[str, Any]:
    return {"user": uid, "group": uid, "extra_groups": []}


def _pids_of_uid(uid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if entry.stat().st_uid == uid:
                    pids.append(int(entry.name))
    return pids


def kill_uid(uid: int) -> int:
    """SIGKILL every process of ``uid``; return how many were still there.

    Parameters
    ----------
    uid : int
        A sandbox uid (the grader runs as root).

    Returns
    -------
    int
        The most processes seen at once (0 where there is no ``/proc`` to count them).
    """
    kill = shutil.which("kill") or "/bin/kill"
    if not Path("/proc").is_dir():
        subprocess.run(
            [kill, "-KILL", "-1"], capture_output=True, check=False, **_as_user(uid)
        )
        return 0
    found = 0
    for _ in range(10):
        pids = _pids_of_uid(uid)
        if not pids:
            break
        found = max(found, len(pids))
        # kill(-1) from the sandbox uid reaches exactly that uid's processes.
        subprocess.run(
            [kill, "-KILL", "-1"], capture_output=True, check=False, **_as_user(uid)
        )
        time.sleep(0.05)
    return found


def kill_marked(token: str) -> int:
    """SIGKILL this user's processes whose environment carries ``token``.

    Parameters
    ----------
    token : str
        The value of :data:`MARKER_ENV` in the kernel's environment.

    Returns
    -------
    int
        How many were killed (0 where there is no ``/proc``).
    """
    if not Path("/proc").is_dir():
        return 0
    marker = f"{MARKER_ENV}={token}".encode()
    killed = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            with contextlib.suppress(OSError):
                if marker in (entry / "environ").read_bytes().split(b"\0"):
                    os.kill(int(entry.name), signal.SIGKILL)
                    killed += 1
    return killed
