"""Per-person limits through the Linux kernel's control groups, v1 and v2.

A person's JupyterLab server gets a cgroup of its own; its kernels, terminals and
everything they start are its children and stay in it. The kernel then enforces:

=============  ====================================  =========================
limit          cgroup v1 (memory, cpu, pids)         cgroup v2
=============  ====================================  =========================
memory         ``memory.limit_in_bytes`` (and        ``memory.max`` (and
               ``memory.memsw.limit_in_bytes``:      ``memory.swap.max`` 0)
               no swapping past it)
CPUs           ``cpu.cfs_quota_us`` per              ``cpu.max`` "quota period"
               ``cpu.cfs_period_us``
processes      ``pids.max``                          ``pids.max``
=============  ====================================  =========================

The cgroups sit below the hub's own cgroup (so limits set on the hub still hold):
``<hub's cgroup>/squad-<course>/<person>`` in each hierarchy. On cgroup v2 the hub's
cgroup must pass the controllers on (``cgroup.subtree_control``), which the kernel
refuses while processes other than the root's sit in it; what cannot be enforced is
reported, never raised. The paths and values are pure functions of a cgroup root
folder and the text of ``/proc/<pid>/cgroup``, so they are tested on a fake one.
This module only reads and writes files: it imports on any system.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "CONTROLLERS",
    "MEM_LIMIT_VARIABLE",
    "Limits",
    "PersonCgroup",
    "cgroup_version",
    "create_cgroup",
    "describe_limits",
    "folders_without",
    "join_cgroup",
    "limit_files",
    "members",
    "oom_kills",
    "own_cgroups",
    "person_cgroup",
    "procs_files",
    "remove_cgroup",
]

#: The controllers the limits need, in the order they are reported.
CONTROLLERS = ("memory", "cpu", "pids")
#: The scheduler period the CPU quota is a share of (the kernel's default), in µs.
CFS_PERIOD_US = 100_000
#: Written when the file exists only: swap accounting is optional in the kernel.
_OPTIONAL_FILES = {"memory.memsw.limit_in_bytes", "memory.swap.max"}
_WHAT = {"memory": "memory", "cpu": "CPU", "pids": "processes"}
#: Tells a person's server the memory limit its cgroup enforces, in bytes (set by the
#: hub's spawner; read by `squad.hub.notices` for the message a trainee sees).
MEM_LIMIT_VARIABLE = "SQUAD_HUB_MEM_LIMIT"


@dataclass(frozen=True)
class Limits:
    """One person's limits; ``None`` is no limit.

    Attributes
    ----------
    mem_limit : int or None
        Bytes of memory for the server and all it starts.
    cpu_limit : float or None
        CPUs (1.0 is one core's time).
    max_processes : int or None
        Processes and threads at once.
    """

    mem_limit: int | None = None
    cpu_limit: float | None = None
    max_processes: int | None = None

    def by_controller(self) -> dict[str, object]:
        """The limit each controller enforces."""
        return {
            "memory": self.mem_limit,
            "cpu": self.cpu_limit,
            "pids": self.max_processes,
        }


def describe_limits(limits: Limits, controllers: tuple[str, ...] = CONTROLLERS) -> str:
    """Name the limits of ``controllers`` for a log line.

    Examples
    --------
    >>> describe_limits(Limits(2 * 2**30, 1.0, 256))
    'memory 2 GiB, CPU 1, processes 256'
    >>> describe_limits(Limits(512 * 2**20, None, None), ("memory", "cpu"))
    'memory 512 MiB, CPU no limit'
    """
    values = limits.by_controller()
    parts = []
    for controller in controllers:
        value = values[controller]
        if value is None:
            text = "no limit"
        elif controller == "memory":
            text = _bytes_text(int(value))
        else:
            text = f"{value:g}"
        parts.append(f"{_WHAT[controller]} {text}")
    return ", ".join(parts)


def _bytes_text(size: int) -> str:
    for unit, power in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if size >= 2**power:
            return f"{size / 2**power:g} {unit}"
    return f"{size} bytes"


def limit_files(version: int, limits: Limits) -> dict[str, list[tuple[str, str]]]:
    """The files to write and their values, per controller, in the order to write them.

    A limit of ``None`` writes the "no limit" value, so a cgroup made earlier with
    another limit loses it.

    Examples
    --------
    >>> limit_files(2, Limits(2**30, 1.5, 256))["cpu"]
    [('cpu.max', '150000 100000')]
    >>> limit_files(1, Limits(None, 0.5, None))["cpu"]
    [('cpu.cfs_period_us', '100000'), ('cpu.cfs_quota_us', '50000')]
    """
    memory = limits.mem_limit
    quota = (
        None
        if limits.cpu_limit is None
        else max(1000, round(limits.cpu_limit * CFS_PERIOD_US))
    )
    processes = "max" if limits.max_processes is None else str(limits.max_processes)
    if version == 1:
        return {
            "memory": [
                ("memory.limit_in_bytes", "-1" if memory is None else str(memory)),
                (
                    "memory.memsw.limit_in_bytes",
                    "-1" if memory is None else str(memory),
                ),
            ],
            "cpu": [
                ("cpu.cfs_period_us", str(CFS_PERIOD_US)),
                ("cpu.cfs_quota_us", "-1" if quota is None else str(quota)),
            ],
            "pids": [("pids.max", processes)],
        }
    if version == 2:
        return {
            "memory": [
                ("memory.max", "max" if memory is None else str(memory)),
                ("memory.swap.max", "max" if memory is None else "0"),
            ],
            "cpu": [
                ("cpu.max", f"{'max' if quota is None else quota} {CFS_PERIOD_US}")
            ],
            "pids": [("pids.max", processes)],
        }
    msg = f"cgroup version {version!r} is not 1 or 2."
    raise ValueError(msg)


def cgroup_version(root: Path) -> int | None:
    """2 for a unified hierarchy at ``root``, 1 for per-controller folders, else None.

    A "hybrid" host (v1 controllers, an empty v2 tree at ``unified/``) counts as v1:
    that is where its controllers are.
    """
    if (root / "cgroup.controllers").is_file():
        return 2
    if any((root / name).is_dir() for name in CONTROLLERS):
        return 1
    return None


def own_cgroups(text: str) -> dict[str, str]:
    """Read ``/proc/<pid>/cgroup``: the cgroup of each v1 controller; v2's under "".

    Examples
    --------
    >>> own_cgroups("4:memory:/a/b\\n1:cpu,cpuacct:/\\n0::/hub.scope\\n")
    {'memory': '/a/b', 'cpu': '/', 'cpuacct': '/', '': '/hub.scope'}
    """
    found: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, names, path = parts
        for name in names.split(",") if names else [""]:
            found[name] = path
    return found


@dataclass(frozen=True)
class PersonCgroup:
    """Where one person's cgroup lives.

    Attributes
    ----------
    version : int
        1 or 2.
    folders : dict of str to pathlib.Path
        The person's cgroup folder for each controller that exists (v2: one folder).
    parents : tuple of pathlib.Path
        The course's folders above them (removed once empty).
    missing : dict of str to str
        Controllers that cannot be used, with the reason.
    """

    version: int
    folders: dict[str, Path]
    parents: tuple[Path, ...] = ()
    missing: dict[str, str] = field(default_factory=dict)

    def unique_folders(self) -> list[Path]:
        """Each folder once (v2 has a single folder for every controller)."""
        return list(dict.fromkeys(self.folders.values()))


def person_cgroup(
    name: str,
    group: str,
    *,
    root: Path = Path("/sys/fs/cgroup"),
    own: str | None = None,
) -> PersonCgroup | None:
    """Where person ``name``'s cgroup goes: ``<own cgroup>/<group>/<name>``.

    Parameters
    ----------
    name : str
        The person's account name.
    group : str
        The folder that holds the course's people, e.g. ``squad-<course>``.
    root : pathlib.Path, default=Path("/sys/fs/cgroup")
        Where the cgroup filesystems are mounted.
    own : str, default=None
        The text of ``/proc/self/cgroup`` (the hub's); ``None`` reads it.

    Returns
    -------
    PersonCgroup or None
        ``None`` where there is no cgroup filesystem at ``root``.
    """
    version = cgroup_version(root)
    if version is None:
        return None
    if own is None:
        own = Path("/proc/self/cgroup").read_text(encoding="utf-8")
    paths = own_cgroups(own)
    if version == 2:
        base = root / paths.get("", "/").lstrip("/")
        folder = base / group / name
        return PersonCgroup(
            2, {c: folder for c in CONTROLLERS}, (base / group,), missing={}
        )
    folders, parents, missing = {}, [], {}
    for controller in CONTROLLERS:
        mount = root / controller
        if not mount.is_dir():
            missing[controller] = f"no {controller} controller at {mount}"
            continue
        base = mount / paths.get(controller, "/").lstrip("/")
        folders[controller] = base / group / name
        parents.append(base / group)
    return PersonCgroup(1, folders, tuple(parents), missing)


def _write(path: Path, value: str) -> None:
    with open(path, "w", encoding="ascii") as handle:
        handle.write(value)


def _enable_v2(cgroup: PersonCgroup, problems: dict[str, str]) -> None:
    """Pass the controllers down from the hub's cgroup to the person's (v2)."""
    person = next(iter(cgroup.folders.values()))
    for folder in (person.parent.parent, person.parent):
        folder.mkdir(exist_ok=True)
        available = (folder / "cgroup.controllers").read_text().split()
        for controller in CONTROLLERS:
            if controller in problems:
                continue
            if controller not in available:
                problems[controller] = (
                    f"the {controller} controller is not available in {folder}"
                )
                continue
            try:
                _write(folder / "cgroup.subtree_control", f"+{controller}")
            except OSError as err:
                problems[controller] = (
                    f"{folder}/cgroup.subtree_control refused +{controller}: "
                    f"{err.strerror} (a v2 cgroup with processes in it cannot pass "
                    "controllers on: run the hub in a cgroup of its own)"
                )


def create_cgroup(cgroup: PersonCgroup, limits: Limits) -> dict[str, str]:
    """Make the person's cgroup and write the limits into it.

    Returns
    -------
    dict of str to str
        The controllers whose limit is not enforced, with the reason; empty when all
        are. Errors are reported here, never raised, except when no folder at all
        can be made.

    Raises
    ------
    OSError
        If no folder of the cgroup could be made (no permission, read-only).
    """
    problems = dict(cgroup.missing)
    if cgroup.version == 2:
        _enable_v2(cgroup, problems)
    made = 0
    for folder in cgroup.unique_folders():
        folder.mkdir(parents=True, exist_ok=True)
        made += 1
    if not made:
        msg = "no cgroup folder could be made"
        raise OSError(msg)
    files = limit_files(cgroup.version, limits)
    for controller, folder in cgroup.folders.items():
        if controller in problems:
            continue
        pending = [
            (name, value)
            for name, value in files[controller]
            if name not in _OPTIONAL_FILES or (folder / name).exists()
        ]
        # Some values must be written in an order that depends on the old ones
        # (v1's memory limit may not pass its memory+swap limit): a second pass.
        for attempt in (1, 2):
            failed = []
            for name, value in pending:
                try:
                    _write(folder / name, value)
                except OSError as err:
                    failed.append((name, value, err))
            pending = [(name, value) for name, value, _ in failed]
            if not failed:
                break
            if attempt == 2:
                name, value, err = failed[0]
                problems[controller] = (
                    f"{folder / name} refused {value}: {err.strerror or err}"
                )
    return problems


def procs_files(cgroup: PersonCgroup) -> list[bytes]:
    """The ``cgroup.procs`` files a process writes itself into to join the cgroup."""
    return [os.fsencode(folder / "cgroup.procs") for folder in cgroup.unique_folders()]


def join_cgroup(files: list[bytes]) -> list[bytes]:
    """Move the calling process into each ``cgroup.procs`` of ``files``.

    Safe in a ``preexec_fn`` (between fork and exec: system calls only).

    Returns
    -------
    list of bytes
        The files it could not be written into.
    """
    pid = str(os.getpid()).encode()
    failed = []
    for path in files:
        try:
            handle = os.open(path, os.O_WRONLY)
            try:
                os.write(handle, pid)
            finally:
                os.close(handle)
        except OSError:
            failed.append(path)
    return failed


def _procs(folder: Path) -> set[int]:
    try:
        text = (folder / "cgroup.procs").read_text(encoding="ascii")
    except OSError:
        return set()
    return {int(pid) for pid in text.split()}


def members(cgroup: PersonCgroup) -> set[int]:
    """The processes in the person's cgroup (of any of its folders)."""
    found: set[int] = set()
    for folder in cgroup.unique_folders():
        found |= _procs(folder)
    return found


def folders_without(cgroup: PersonCgroup, pid: int) -> list[Path]:
    """The folders of the person's cgroup that process ``pid`` is not in."""
    return [folder for folder in cgroup.unique_folders() if pid not in _procs(folder)]


def remove_cgroup(cgroup: PersonCgroup, *, timeout: float = 10.0) -> set[int]:
    """Stop every process left in the person's cgroup, then remove it.

    The course's folder above it goes too once nobody else's cgroup is in it.

    Returns
    -------
    set of int
        The processes that were still running and were killed.
    """
    killed = members(cgroup)
    deadline = time.monotonic() + timeout
    while True:
        left = members(cgroup)
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.05)  # the kernel needs a moment to reap them
    for folder in [*cgroup.unique_folders(), *cgroup.parents]:
        try:
            folder.rmdir()
        except OSError:
            pass  # not empty (another person's), or already gone
    return killed


def oom_kills(
    root: Path = Path("/sys/fs/cgroup"), own: str | None = None
) -> int | None:
    """How many processes the OOM killer stopped in the calling process's cgroup.

    Read from ``memory.oom_control`` (v1) or ``memory.events`` (v2), line
    ``oom_kill N``; ``None`` where the count cannot be read.
    """
    version = cgroup_version(root)
    if version is None:
        return None
    try:
        if own is None:
            own = Path("/proc/self/cgroup").read_text(encoding="utf-8")
        paths = own_cgroups(own)
        if version == 2:
            path = root / paths.get("", "/").lstrip("/") / "memory.events"
        else:
            path = root / "memory" / paths.get("memory", "/").lstrip("/")
            path = path / "memory.oom_control"
        text = path.read_text(encoding="ascii")
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == "oom_kill" and value.strip().isdigit():
            return int(value)
    return None
