"""The spawners of the course's hub: each person's server under limits the kernel keeps.

Where systemd runs as PID 1, `CourseSystemdSpawner` (jupyterhub-systemdspawner) runs
each server as a transient unit with ``MemoryMax``, ``CPUQuota`` and ``TasksMax``.
Elsewhere `CourseSpawner` (JupyterHub's local-process spawner) puts each server into a
cgroup of its own before it starts (`squad.hub.cgroups`), so its kernels, terminals
and whatever they start stay inside; the cgroup and anything left in it go when the
server stops. What cannot be enforced is logged as a warning naming it; the server
starts all the same.

Both give each server a private runtime folder, ``/run/squad-hub/<name>`` (0700, the
person's), where its kernels' connection files and IPC sockets live: a short path (a
Unix socket's path has at most 107 bytes), outside the notebook folder, and nobody
else's to create first.

Imported by JupyterHub (Linux) only.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import stat
from pathlib import Path

from jupyterhub.spawner import LocalProcessSpawner
from systemdspawner import SystemdSpawner
from traitlets import Integer, Unicode

from squad.hub.cgroups import (
    MEM_LIMIT_VARIABLE,
    Limits,
    PersonCgroup,
    create_cgroup,
    describe_limits,
    folders_without,
    join_cgroup,
    person_cgroup,
    procs_files,
    remove_cgroup,
)

__all__ = [
    "CourseSpawner",
    "CourseSystemdSpawner",
    "RUNTIME_ROOT",
    "ensure_runtime_dir",
    "spawner_class",
]

#: The parent of the people's runtime folders (a tmpfs, emptied at boot).
RUNTIME_ROOT = Path("/run/squad-hub")


def spawner_class(root: Path = Path("/")) -> str:
    """The spawner for this machine: systemd's where systemd runs as PID 1.

    ``<root>/run/systemd/system`` exists exactly when systemd booted the machine
    (``sd_booted``).

    Examples
    --------
    >>> import tempfile
    >>> spawner_class(Path(tempfile.mkdtemp()))
    'squad.hub.spawner.CourseSpawner'
    """
    if (root / "run" / "systemd" / "system").is_dir():
        return "squad.hub.spawner.CourseSystemdSpawner"
    return "squad.hub.spawner.CourseSpawner"


def ensure_runtime_dir(root: Path, name: str) -> Path:
    """Make person ``name``'s runtime folder ``<root>/<name>``: theirs, 0700.

    ``root`` must be root's and writable by nobody else (it is made so if missing),
    so no other account can have made the person's folder or a link in its place.

    Raises
    ------
    OSError
        If ``root`` is not such a folder or the folder cannot be made.
    """
    entry = pwd.getpwnam(name)
    root.mkdir(mode=0o755, parents=True, exist_ok=True)
    info = os.lstat(root)
    if (
        not stat.S_ISDIR(info.st_mode)
        or info.st_uid != 0
        or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    ):
        msg = f"{root} is not a folder that only root can write to"
        raise OSError(msg)
    folder = root / name
    folder.mkdir(mode=0o700, exist_ok=True)
    if not stat.S_ISDIR(os.lstat(folder).st_mode):
        msg = f"{folder} is not a folder"
        raise OSError(msg)
    os.chown(folder, entry.pw_uid, entry.pw_gid)
    os.chmod(folder, 0o700)
    return folder


class CourseSpawner(LocalProcessSpawner):
    """JupyterHub's local-process spawner, with a cgroup per person's server.

    ``mem_limit`` and ``cpu_limit`` are JupyterHub's own (``c.Spawner``);
    ``max_processes`` caps processes and threads. The cgroup is
    ``<hub's cgroup>/<cgroup_group>/<name>`` in each hierarchy.
    """

    max_processes = Integer(
        None,
        allow_none=True,
        help="Processes and threads a person's server may run at once (None: any).",
    ).tag(config=True)
    cgroup_group = Unicode(
        "squad-hub", help="The cgroup folder that holds the course's people."
    ).tag(config=True)
    cgroup_root = Unicode(
        "/sys/fs/cgroup", help="Where the cgroup filesystems are mounted."
    ).tag(config=True)
    runtime_root = Unicode(
        str(RUNTIME_ROOT), help="The parent of each person's runtime folder."
    ).tag(config=True)

    _cgroup: PersonCgroup | None = None
    _runtime_dir: Path | None = None
    _memory_enforced: bool = False

    @property
    def limits(self) -> Limits:
        """This server's limits."""
        return Limits(
            mem_limit=int(self.mem_limit) if self.mem_limit else None,
            cpu_limit=float(self.cpu_limit) if self.cpu_limit else None,
            max_processes=self.max_processes,
        )

    def _find_cgroup(self) -> PersonCgroup | None:
        return person_cgroup(
            self.user.name, self.cgroup_group, root=Path(self.cgroup_root)
        )

    def _prepare_cgroup(self) -> None:
        """Make the cgroup with its limits; warn about whatever is not enforced."""
        self._cgroup, self._memory_enforced = None, False
        limits = self.limits
        wanted = tuple(
            c for c, value in limits.by_controller().items() if value is not None
        )
        if not wanted:
            return
        try:
            cgroup = self._find_cgroup()
            if cgroup is None:
                problems = {
                    c: f"no cgroup filesystem at {self.cgroup_root}" for c in wanted
                }
            else:
                problems = create_cgroup(cgroup, limits)
                self._cgroup = cgroup
        except OSError as err:
            reason = f"cannot make its cgroup: {err.strerror or err}"
            problems = dict.fromkeys(wanted, reason)
        unenforced = tuple(c for c in wanted if c in problems)
        if unenforced:
            reasons = "; ".join(dict.fromkeys(problems[c] for c in unenforced))
            self.log.warning(
                "Limits NOT enforced for %s's server: %s (%s).",
                self.user.name,
                describe_limits(limits, unenforced),
                reasons,
            )
        self._memory_enforced = "memory" in wanted and "memory" not in unenforced

    def _prepare_runtime_dir(self) -> None:
        self._runtime_dir = None
        try:
            self._runtime_dir = ensure_runtime_dir(
                Path(self.runtime_root), self.user.name
            )
        except (OSError, KeyError) as err:
            # The default runtime folder, deep in the home folder, may be too long
            # for a Unix socket's path: kernels go back to TCP ports.
            self.log.warning(
                "No runtime folder for %s's kernels under %s (%s): they use TCP.",
                self.user.name,
                self.runtime_root,
                getattr(err, "strerror", None) or err,
            )

    def get_args(self) -> list[str]:
        """JupyterHub's arguments; TCP for kernels without a private runtime folder."""
        args = super().get_args()
        if self._runtime_dir is None:
            args.append("--ServerKernelManager.transport=tcp")
        return args

    def get_env(self) -> dict[str, str]:
        """JupyterHub's environment, the runtime folder and the memory limit."""
        env = super().get_env()
        if self._runtime_dir is not None:
            env["JUPYTER_RUNTIME_DIR"] = str(self._runtime_dir)
        if self._memory_enforced:
            env[MEM_LIMIT_VARIABLE] = str(self.limits.mem_limit)
        return env

    def make_preexec_fn(self, name: str):
        """Join the cgroup (still as root), then become the person."""
        become = super().make_preexec_fn(name)
        files = procs_files(self._cgroup) if self._cgroup is not None else []

        def preexec() -> None:
            failed = join_cgroup(files)
            for path in failed:  # the hub's log: the child's stderr is the hub's
                os.write(2, b"squad hub: could not join cgroup " + path + b"\n")
            become()

        return preexec

    async def start(self):
        """Prepare the cgroup and runtime folder, start the server, check it joined."""
        self._prepare_cgroup()
        self._prepare_runtime_dir()
        result = await super().start()
        if self._cgroup is not None and self.proc.poll() is None:
            self._check_joined()
        return result

    def _check_joined(self) -> None:
        outside = folders_without(self._cgroup, self.pid)
        if outside:
            self.log.warning(
                "Limits NOT enforced for %s's server: it is not in %s.",
                self.user.name,
                ", ".join(map(str, outside)),
            )
        else:
            self.log.info(
                "%s's server runs in cgroup v%d %s: %s.",
                self.user.name,
                self._cgroup.version,
                self._cgroup.unique_folders()[0],
                describe_limits(self.limits),
            )

    async def stop(self, now: bool = False) -> None:
        """Stop the server, then whatever is left in its cgroup; remove the cgroup
        and the runtime folder (its kernels' connection files and sockets)."""
        await super().stop(now=now)
        shutil.rmtree(Path(self.runtime_root) / self.user.name, ignore_errors=True)
        try:
            cgroup = self._cgroup or self._find_cgroup()
        except OSError:
            return
        if cgroup is None:
            return
        killed = await asyncio.get_running_loop().run_in_executor(
            None, remove_cgroup, cgroup
        )
        if killed:
            self.log.info(
                "Stopped %d process(es) left in %s's cgroup when the server stopped.",
                len(killed),
                self.user.name,
            )
        self._cgroup = None


class CourseSystemdSpawner(SystemdSpawner):
    """jupyterhub-systemdspawner, with the course's process cap and runtime folder.

    systemd enforces ``mem_limit`` (``MemoryMax``), ``cpu_limit`` (``CPUQuota``) and
    ``max_processes`` (``TasksMax``); a kernel killed for memory leaves the unit
    running (``OOMPolicy=continue``), and systemd makes and removes the runtime folder
    (``RuntimeDirectory``).
    """

    max_processes = Integer(
        None,
        allow_none=True,
        help="Processes and threads a person's server may run at once (None: any).",
    ).tag(config=True)

    def unit_properties(self) -> dict[str, str]:
        """The unit properties the course adds to systemdspawner's."""
        properties = {
            "OOMPolicy": "continue",
            "RuntimeDirectory": f"squad-hub/{self.user.name}",
            "RuntimeDirectoryMode": "0700",
        }
        if self.max_processes is not None:
            properties["TasksMax"] = str(self.max_processes)
        return properties

    def get_env(self) -> dict[str, str]:
        """systemdspawner's environment, the runtime folder and the memory limit."""
        env = super().get_env()
        env["JUPYTER_RUNTIME_DIR"] = str(RUNTIME_ROOT / self.user.name)
        if self.mem_limit:
            env[MEM_LIMIT_VARIABLE] = str(int(self.mem_limit))
        return env

    async def start(self):
        """Start the unit with the course's properties."""
        self.unit_extra_properties = {
            **self.unit_extra_properties,
            **self.unit_properties(),
        }
        return await super().start()
