"""Resource limits and isolation for Jupyter kernels that run untrusted code.

A :class:`SandboxPolicy` says what a kernel may use. :func:`make_kernel_manager`
returns a ``jupyter_client`` kernel manager that starts its kernel under that policy,
for nbclient (``km=``), papermill (``km=``) or nbgrader
(``c.Execute.kernel_manager_class``). The strongest layer the machine offers is used,
and the log names every protection that is not active:

``bwrap``
    bubblewrap (Linux): read-only system, hidden folders, private ``/tmp``, no
    network, own PID namespace (the kernel cannot signal the grader, and nothing it
    starts outlives it).
``unshare``
    ``unshare -n`` (Linux): no network but the kernel's own loopback interface (as
    bubblewrap gives it), so that a notebook can start kernels of its own (papermill);
    no filesystem or PID isolation.
``rlimits``
    ``setrlimit`` only (any POSIX system): memory, CPU time, processes, file size.
``none``
    Windows: a clean environment and a throwaway working directory only.

In every mode the kernel gets an environment built from an allow-list, runs in its
own working directory (see :func:`prepare_workdir`), talks ZMQ over unix sockets
(``transport="ipc"``, which works across a network namespace where TCP loopback does
not) and is interrupted by a message, since signals do not reach a new session.

When the grader runs as root, the kernel runs as a fresh unprivileged uid: Linux
exempts uid 0 from ``RLIMIT_NPROC`` (also inside a user namespace that maps to uid 0),
and file permissions then protect root's files. bubblewrap then runs as root with
only ``CAP_SETUID`` and ``CAP_SETGID``, so that it can mount what root can reach;
otherwise it runs unprivileged in a user namespace.

The limits are set by a small Python program that bubblewrap runs just before the
kernel (``python -I -S -c ...``). A ``preexec_fn`` would instead limit bubblewrap
itself, run as root before the uid switch (so ``RLIMIT_NPROC`` would not hold), and is
not safe in a threaded grader.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fnmatch
import functools
import importlib.util
import logging
import os
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from jupyter_client import AsyncKernelManager, KernelManager
from jupyter_core.utils import run_sync
from traitlets import Instance, Unicode, default
from traitlets.config import LoggingConfigurable

from squad.errors import InvalidInputError, MissingFileError, MissingToolError

try:
    import resource
except ImportError:  # Windows
    resource = None  # type: ignore[assignment]

__all__ = [
    "DEFAULT_ENV_ALLOW",
    "AsyncSandboxedKernelManager",
    "SandboxCapabilities",
    "SandboxPolicy",
    "SandboxedKernelManager",
    "build_kernel_env",
    "check_kernel_start",
    "interpreter_closed_to_others",
    "make_kernel_manager",
    "prepare_workdir",
    "sandbox_capabilities",
]

log = logging.getLogger("squad")

ISOLATION_MODES = ("bwrap", "unshare", "rlimits", "none")
DEFAULT_ENV_ALLOW = (
    "PATH",
    "LANG",
    "LANGUAGE",
    "LC_*",
    "TZ",
    "PYTHONPATH",
    "NBGRADER_EXECUTION",
    "SQUAD_DATA_HOME",
    "SQUAD_DATA_MIRROR",
    # A Python built with --enable-shared may need it to find libpython (squad hub).
    "LD_LIBRARY_PATH",
    # Windows cannot start Python without these.
    "SYSTEMROOT",
    "WINDIR",
    "COMSPEC",
    "PATHEXT",
)
_INSTALL_BWRAP = "install bubblewrap (apt-get install bubblewrap)"
_UID_BASE = (
    1_900_000_000  # fresh uids for kernels started by root: 1_900_000_001 and up
)
_MB = 1024 * 1024

# Runs inside the sandbox: bring up the network namespace's loopback interface (unshare
# mode; bubblewrap does it itself), drop to the sandbox uid, set the limits, exec the
# kernel. Arguments: KEY VALUE pairs (lo, uid, cwd, RLIMIT_*), "--", the kernel command.
_LIMITS_PROGRAM = """\
import os, resource, sys
a = sys.argv[1:]
i = a.index("--")
uid = cwd = None
loopback = False
limits = []
for k, v in zip(a[:i:2], a[1:i:2]):
    if k == "uid":
        uid = int(v)
    elif k == "cwd":
        cwd = v
    elif k == "lo":
        loopback = v == "up"
    else:
        limits.append((k, int(v)))
if loopback:
    import fcntl, socket, struct
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    flags = struct.unpack("16sH22x", fcntl.ioctl(s, 0x8913, struct.pack("16sH22x", b"lo", 0)))[1]
    fcntl.ioctl(s, 0x8914, struct.pack("16sH22x", b"lo", flags | 1))
    s.close()
if sys.platform.startswith("linux"):
    import ctypes
    nnp = ctypes.CDLL(None).prctl
if uid is not None:
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
if cwd is not None:
    os.chdir(cwd)
for k, v in limits:
    what = getattr(resource, k)
    hard = resource.getrlimit(what)[1]
    top = v + 2 if k == "RLIMIT_CPU" else v
    if hard != resource.RLIM_INFINITY:
        v, top = min(v, hard), min(top, hard)
    resource.setrlimit(what, (v, top))
if sys.platform.startswith("linux"):
    nnp(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS
os.execvp(a[i + 1], a[i + 1 :])
"""


def _as_paths(values: Iterable[str | os.PathLike[str]]) -> tuple[Path, ...]:
    if isinstance(values, str | os.PathLike):
        values = [values]
    return tuple(Path(v).expanduser().resolve() for v in values)


@dataclasses.dataclass(frozen=True)
class SandboxPolicy:
    """What a kernel that runs untrusted code may use.

    A limit set to ``None`` is not applied. Wall-clock limits belong to the executor
    (``nbclient``'s ``timeout``); everything else is here.

    Parameters
    ----------
    memory_mb : int or None, default=2048
        Address-space limit (``RLIMIT_AS``) of each kernel process. A bare ipykernel
        uses about 160 MB of address space, about 390 MB after ``import pandas``.
        Allocations beyond it raise ``MemoryError``. macOS does not enforce it.
    cpu_seconds : int or None, default=600
        CPU time (``RLIMIT_CPU``) of each process, kernel start-up included; the
        kernel is killed (``SIGXCPU``) when it is used up.
    max_processes : int or None, default=64
        ``RLIMIT_NPROC``: processes *and threads* of the sandbox user (an idle
        ipykernel has 12-13 threads). Not enforced for uid 0, see the module notes.
    max_output_file_mb : int or None, default=100
        Largest file the kernel may write (``RLIMIT_FSIZE``); a bigger write fails with
        ``OSError: [Errno 27] File too large``.
    tmp_size_mb : int, default=256
        Size of the private ``/tmp`` and ``/dev/shm`` (bubblewrap only; memory-backed).
    network : bool, default=False
        Allow network access. When False the kernel gets its own empty network namespace
        where the OS allows it.
    readable_paths, writable_paths, hidden_paths : sequence of path-like, default=()
        Extra paths to show read-only, to make writable, or to hide (bubblewrap
        only). The most specific path wins: a readable folder inside a hidden one is
        visible. Temporary and home folders are always hidden; the Python
        installation and the ``squad`` package are always readable. Hide the course
        folder (gradebook, ``source/``, other submissions). When the grader runs as
        root, writable paths are handed to the sandbox user (``chown``).
    workdir : path-like or None, default=None
        The kernel's working directory and ``HOME``; writable. Usually given per
        submission: the ``workdir`` argument of :func:`make_kernel_manager`, or the
        ``cwd`` nbclient and nbgrader pass when they start the kernel.
    env_allow : sequence of str, default=DEFAULT_ENV_ALLOW
        Names (``fnmatch`` patterns) of the grader's environment variables passed on.
    env : mapping of str to str, default={}
        Variables set for the kernel, after the allow-list.
    isolation : {"auto", "bwrap", "unshare", "rlimits", "none"}, default="auto"
        ``"auto"`` picks the strongest mode that works here; a named mode that does not
        work raises ``OSError``.
    drop_privileges : bool, default=True
        When running as root, run the kernel as a fresh unprivileged uid.

    Raises
    ------
    ValueError
        If a limit is not a positive integer or ``isolation`` is unknown.

    Examples
    --------
    >>> policy = SandboxPolicy(memory_mb=512, cpu_seconds=30)
    >>> policy.network, policy.max_processes
    (False, 64)
    >>> SandboxPolicy(isolation="docker")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    squad.errors.InvalidInputError: SandboxPolicy isolation 'docker' is unknown. Use one of: auto, ...
    """

    memory_mb: int | None = 2048
    cpu_seconds: int | None = 600
    max_processes: int | None = 64
    max_output_file_mb: int | None = 100
    tmp_size_mb: int = 256
    network: bool = False
    readable_paths: tuple[Path, ...] = ()
    writable_paths: tuple[Path, ...] = ()
    hidden_paths: tuple[Path, ...] = ()
    workdir: Path | None = None
    env_allow: tuple[str, ...] = DEFAULT_ENV_ALLOW
    env: Mapping[str, str] = dataclasses.field(default_factory=dict, hash=False)
    isolation: str = "auto"
    drop_privileges: bool = True

    def __post_init__(self) -> None:
        minimum = {"memory_mb": 256, "tmp_size_mb": 1}
        for name in ("memory_mb", "cpu_seconds", "max_processes", "max_output_file_mb"):
            minimum.setdefault(name, 1)
        for name, low in minimum.items():
            value = getattr(self, name)
            if value is None and name != "tmp_size_mb":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                msg = (
                    f"SandboxPolicy {name}={value!r} is not valid. "
                    f"Use an integer >= {low}"
                    + (" or None." if name != "tmp_size_mb" else ".")
                )
                raise InvalidInputError(msg)
        if self.isolation not in ("auto", *ISOLATION_MODES):
            msg = (
                f"SandboxPolicy isolation {self.isolation!r} is unknown. "
                f"Use one of: auto, {', '.join(ISOLATION_MODES)}."
            )
            raise InvalidInputError(msg)
        for name in ("readable_paths", "writable_paths", "hidden_paths"):
            object.__setattr__(self, name, _as_paths(getattr(self, name)))
        if self.workdir is not None:
            object.__setattr__(self, "workdir", Path(self.workdir).resolve())
        object.__setattr__(self, "env_allow", tuple(self.env_allow))
        object.__setattr__(self, "env", dict(self.env))


@dataclasses.dataclass(frozen=True)
class SandboxCapabilities:
    """Protections this machine offers to :class:`SandboxedKernelManager`.

    Attributes
    ----------
    platform : str
        ``sys.platform``.
    is_root : bool
        Whether the grader runs as uid 0.
    bwrap : str or None
        Path of a ``bwrap`` that started a test sandbox here, else None.
    unshare : str or None
        Path of an ``unshare`` that started a process without network here, else None.
    rlimits : tuple of str
        Resource limits ``setrlimit`` can apply.
    isolation : str
        The strongest mode that works: "bwrap", "unshare", "rlimits" or "none".
    problems : tuple of str
        Why a stronger mode is not available.
    """

    platform: str
    is_root: bool
    bwrap: str | None
    unshare: str | None
    rlimits: tuple[str, ...]
    isolation: str
    problems: tuple[str, ...] = ()

    def missing(self, isolation: str | None = None) -> tuple[str, ...]:
        """Return the protections that mode ``isolation`` (default: the best) lacks.

        Examples
        --------
        >>> caps = SandboxCapabilities(
        ...     "linux", False, None, None, ("RLIMIT_AS",), "rlimits"
        ... )
        >>> "network isolation" in caps.missing()
        True
        """
        mode = isolation or self.isolation
        lacking = []
        if mode != "bwrap":
            lacking += [
                "filesystem isolation (hidden folders, read-only system, private /tmp)",
                "PID namespace (the kernel can signal other processes, "
                "and daemons can survive it)",
            ]
        if mode not in ("bwrap", "unshare"):
            lacking.append("network isolation")
        wanted = ("RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_NPROC", "RLIMIT_FSIZE")
        if mode == "none":
            lacking += [f"{name} limit" for name in wanted]
        else:
            lacking += [f"{name} limit" for name in wanted if name not in self.rlimits]
        if self.platform == "darwin" and mode != "none":
            lacking.append("RLIMIT_AS limit (macOS does not enforce it)")
        return tuple(lacking)


def _bwrap_namespaces(is_root: bool, *, network: bool) -> list[str]:
    """bubblewrap's namespace options.

    As root, bubblewrap runs privileged without a user namespace (which would map the
    kernel back to uid 0) and keeps only the capabilities the limits program needs to
    switch to the sandbox uid; otherwise it runs unprivileged in a user namespace.
    """
    if is_root:
        args = "--cap-drop ALL --cap-add CAP_SETUID --cap-add CAP_SETGID".split()
        args += "--unshare-ipc --unshare-pid --unshare-uts --unshare-cgroup-try".split()
        args += [] if network else ["--unshare-net"]
    else:
        args = "--unshare-all --unshare-user --disable-userns".split()
        args += ["--share-net"] if network else []
    return [*args, "--die-with-parent", "--new-session"]


def _probe(cmd: list[str], *, capture: bool = False, **kwargs: Any) -> str:
    """Run ``cmd``: '' on success (its output if ``capture``), else the reason."""
    try:
        done = subprocess.run(
            cmd, capture_output=True, timeout=20, check=False, **kwargs
        )
    except (OSError, subprocess.SubprocessError) as err:
        return f"{cmd[0]}: {err}"
    if capture:
        return done.stdout.decode(errors="replace")
    if done.returncode != 0:
        err_text = done.stderr.decode(errors="replace").strip().splitlines()
        last = err_text[-1] if err_text else f"exit code {done.returncode}"
        return f"{' '.join(cmd[:3])} ... failed: {last}"
    return ""


def _drop_kwargs(uid: int | None) -> dict[str, Any]:
    if uid is None:
        return {}
    return {"user": uid, "group": uid, "extra_groups": []}


@functools.lru_cache(maxsize=1)
def _capabilities() -> SandboxCapabilities:
    is_root = hasattr(os, "geteuid") and os.geteuid() == 0
    rlimits: tuple[str, ...] = ()
    if resource is not None:
        names = ("RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_NPROC", "RLIMIT_FSIZE")
        rlimits = tuple(name for name in names if hasattr(resource, name))
    problems = []
    bwrap = unshare = None
    if sys.platform.startswith("linux"):
        true = shutil.which("true") or "/bin/true"
        found = shutil.which("bwrap")
        if found is None:
            problems.append(f"bwrap not found: {_INSTALL_BWRAP}")
        else:
            cmd = [found, *_bwrap_namespaces(is_root, network=False)]
            cmd += "--ro-bind / / --dev /dev --proc /proc".split()
            cmd += "--perms 1777 --size 1048576 --tmpfs /tmp --chmod 0755 /tmp".split()
            cmd += ["--remount-ro", "/tmp", "--", true]
            reason = _probe(cmd, cwd="/")
            if reason:  # --size and --disable-userns need bubblewrap 0.8
                version = _probe([found, "--version"], capture=True)
                reason = f"{reason} ({version.strip()}; bubblewrap >= 0.8 is needed)"
            bwrap = None if reason else found
            if reason:
                problems.append(reason)
        found = shutil.which("unshare")
        if found is not None:
            cmd = (
                [found, "-n", "--", true]
                if is_root
                else [found, "-r", "-n", "--", true]
            )
            reason = _probe(cmd)
            unshare = None if reason else found
            if reason:
                problems.append(reason)
    if bwrap:
        best = "bwrap"
    elif unshare:
        best = "unshare"
    else:
        best = "rlimits" if rlimits else "none"
    return SandboxCapabilities(
        sys.platform, is_root, bwrap, unshare, rlimits, best, tuple(problems)
    )


def sandbox_capabilities(
    *, refresh: bool = False, quiet: bool = False
) -> SandboxCapabilities:
    """Find which sandbox protections this machine offers, and log those it lacks.

    Starts a throwaway ``bwrap`` and ``unshare`` process (tens of milliseconds); the
    result is cached for the life of the process.

    Parameters
    ----------
    refresh : bool, default=False
        Probe again instead of returning the cached answer.
    quiet : bool, default=False
        Do not log what is lacking (the caller says it in its own terms).

    Returns
    -------
    SandboxCapabilities

    Examples
    --------
    >>> caps = sandbox_capabilities()
    >>> caps.isolation in ("bwrap", "unshare", "rlimits", "none")
    True
    """
    if refresh:
        _capabilities.cache_clear()
    caps = _capabilities()
    lacking = caps.missing()
    if lacking and not quiet:
        log.warning(
            "Sandbox protections not available on this machine: %s. Reasons: %s",
            "; ".join(lacking),
            "; ".join(caps.problems) or "not supported on " + caps.platform,
        )
    return caps


def _resolve_isolation(policy: SandboxPolicy) -> tuple[str, SandboxCapabilities]:
    caps = _capabilities()
    mode = caps.isolation if policy.isolation == "auto" else policy.isolation
    works = {
        "bwrap": caps.bwrap is not None,
        "unshare": caps.unshare is not None,
        "rlimits": bool(caps.rlimits),
        "none": True,
    }
    if not works[mode]:
        hint = _INSTALL_BWRAP if mode == "bwrap" else "use isolation='auto'"
        msg = (
            f"Sandbox isolation {mode!r} does not work on this machine "
            f"({'; '.join(caps.problems) or caps.platform}). Next step: {hint}."
        )
        raise OSError(msg)
    return mode, caps


def _world_reachable(
    path: Path, uid: int | None, mounts: Mapping[Path, str] | None = None
) -> Path | None:
    """Return the first folder on the way to ``path`` that ``uid`` cannot enter.

    ``mounts`` are bubblewrap's mounts: folders it creates inside its own tmpfs
    mounts are opened up, so only real folders are checked.
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


def interpreter_closed_to_others() -> Path | None:
    """The folder that keeps other accounts from this Python, if any.

    A kernel of a grader running as root runs as a fresh uid only where that uid can
    reach the interpreter; otherwise it runs as root (see the module notes).

    Examples
    --------
    >>> folder = interpreter_closed_to_others()
    >>> folder is None or folder.is_dir()
    True
    """
    return _world_reachable(Path(sys.executable).resolve(), _UID_BASE)


def _python_paths() -> list[Path]:
    paths = {sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix}
    paths.add(str(Path(sys.executable).resolve().parent.parent))
    # Everything this interpreter imports from: the standard library, site-packages
    # and the folders ``.pth`` files add. The hub's copy of the interpreter reaches the
    # kit's packages only through such a file, and a kit under /tmp would otherwise
    # sit inside the kernel's private /tmp. sys.path[0] is the script's folder or the
    # working folder (a course folder, say), not part of the environment.
    paths.update(entry for entry in sys.path[1:] if entry and Path(entry).exists())
    paths.add(str(Path(__file__).resolve().parents[1]))  # the squad package
    # What `squad.load_dataset` reads in a kernel: the dataset cards and the data
    # folders the kernel's environment names (they may sit in a hidden home folder).
    from squad.data.catalogue import catalogue_dirs

    paths.update(str(folder) for folder in catalogue_dirs() if folder.is_dir())
    for name in ("SQUAD_DATA_MIRROR", "SQUAD_DATA_HOME"):
        value = os.environ.get(name)
        if value and Path(value).is_dir():
            paths.add(value)
    return sorted(Path(p).resolve() for p in paths)


def _default_hidden() -> list[Path]:
    hidden = {Path(tempfile.gettempdir()), Path("/tmp"), Path("/var/tmp")}
    hidden |= {Path("/home"), Path("/root"), Path.home(), Path("/run/user")}
    return sorted(p.resolve() for p in hidden if p.exists())


def build_kernel_env(
    policy: SandboxPolicy,
    workdir: str | os.PathLike[str],
    runtime_dir: str | os.PathLike[str],
    *,
    environ: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Build the kernel's environment: allow-listed variables plus the sandbox's own.

    Parameters
    ----------
    policy : SandboxPolicy
    workdir : path-like
        Becomes ``HOME``.
    runtime_dir : path-like
        Private folder for IPython, matplotlib and temporary files.
    environ : mapping, default=None
        The grader's environment; ``os.environ`` when None.

    Returns
    -------
    dict of str to str

    Examples
    --------
    >>> env = build_kernel_env(SandboxPolicy(), "/w", "/r",
    ...                        environ={"PATH": "/usr/bin", "API_TOKEN": "s3cret"})
    >>> "API_TOKEN" in env, env["HOME"], env["MPLBACKEND"]
    (False, '/w', 'Agg')
    """
    source = os.environ if environ is None else environ
    env = {
        key: value
        for key, value in source.items()
        if any(fnmatch.fnmatchcase(key, pattern) for pattern in policy.env_allow)
    }
    runtime = Path(runtime_dir)
    python_bin = str(Path(sys.executable).parent)
    path = env.get("PATH", os.defpath)
    env["PATH"] = python_bin + os.pathsep + path if path else python_bin
    env.update(
        {
            "HOME": str(workdir),
            "USERPROFILE": str(workdir),
            "USER": "sandbox",
            "LOGNAME": "sandbox",
            "TMPDIR": str(runtime / "tmp"),
            "TEMP": str(runtime / "tmp"),
            "TMP": str(runtime / "tmp"),
            "IPYTHONDIR": str(runtime / "ipython"),
            "MPLCONFIGDIR": str(runtime / "matplotlib"),
            "XDG_CACHE_HOME": str(runtime / "cache"),
            "XDG_CONFIG_HOME": str(runtime / "config"),
            "JUPYTER_PLATFORM_DIRS": "1",
            "MPLBACKEND": "Agg",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYDEVD_DISABLE_FILE_VALIDATION": "1",
            # Fewer malloc arenas and BLAS threads keep RLIMIT_AS close to real use.
            "MALLOC_ARENA_MAX": "1",
            "OMP_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
        }
    )
    env.update(policy.env)
    return env


def _limit_args(policy: SandboxPolicy, mode: str) -> list[str]:
    if mode == "none" or resource is None:
        return []
    wanted = {
        "RLIMIT_AS": policy.memory_mb and policy.memory_mb * _MB,
        "RLIMIT_CPU": policy.cpu_seconds,
        "RLIMIT_NPROC": policy.max_processes,
        "RLIMIT_FSIZE": policy.max_output_file_mb and policy.max_output_file_mb * _MB,
        "RLIMIT_CORE": 0,
    }
    args = []
    for name, value in wanted.items():
        if value is not None and hasattr(resource, name):
            args += [name, str(int(value))]
    return args


def _bwrap_mounts(
    policy: SandboxPolicy, workdir: Path, runtime: Path
) -> dict[Path, str]:
    """Map each mounted path to "hide", "tmp", "ro" or "rw"; the most specific wins."""
    rank = {"hide": 0, "tmp": 1, "ro": 2, "rw": 3}
    wanted: dict[Path, str] = {}
    hidden = [path.resolve() for path in policy.hidden_paths]
    python = [
        path
        for path in _python_paths()
        if not any(path == top or top in path.parents for top in hidden)
    ]
    for kind, paths in (
        ("hide", [*_default_hidden(), *policy.hidden_paths]),
        ("ro", [*python, *policy.readable_paths]),
        ("rw", [workdir, runtime, *policy.writable_paths]),
    ):
        for path in paths:
            if path.exists() and rank[kind] >= rank[wanted.get(path, "hide")]:
                wanted[path] = kind
    for tmp in (Path("/tmp"), Path(tempfile.gettempdir()).resolve()):
        if wanted.get(tmp, "hide") == "hide":
            wanted[tmp] = "tmp"
    mounts: dict[Path, str] = {}
    for path, kind in sorted(wanted.items(), key=lambda item: len(item[0].parts)):
        # A folder inside a mount of the same kind (site-packages inside its prefix)
        # is already there as it should be.
        if kind in ("ro", "rw") and _enclosing_mount(path, mounts) == kind:
            continue
        mounts[path] = kind
    return mounts


def _enclosing_mount(path: Path, mounts: Mapping[Path, str]) -> str | None:
    """The kind of the innermost mount strictly above ``path``, if any."""
    above = [mount for mount in mounts if mount in path.parents]
    return mounts[max(above, key=lambda m: len(m.parts))] if above else None


def _bwrap_args(
    policy: SandboxPolicy, bwrap: str, workdir: Path, runtime: Path, *, is_root: bool
) -> list[str]:
    """The bubblewrap command line, up to and including ``--``."""
    tmp_size = str(policy.tmp_size_mb * _MB)
    args = [bwrap, *_bwrap_namespaces(is_root, network=policy.network)]
    args += ["--hostname", "sandbox", "--ro-bind", "/", "/"]
    args += ["--dev", "/dev", "--proc", "/proc"]
    args += ["--perms", "1777", "--size", tmp_size, "--tmpfs", "/dev/shm"]
    mounts = _bwrap_mounts(policy, workdir, runtime)
    remount, opened = [], set()
    for path, kind in mounts.items():
        if kind == "tmp":
            args += ["--perms", "1777", "--size", tmp_size, "--tmpfs", str(path)]
        elif kind == "hide" and path.is_dir():
            args += ["--size", str(_MB), "--tmpfs", str(path)]
            remount.append(str(path))
        elif kind == "hide":
            args += ["--ro-bind", "/dev/null", str(path)]
        else:
            args += ["--ro-bind" if kind == "ro" else "--bind", str(path), str(path)]
            # bubblewrap creates the folders leading to a mount point inside its own
            # tmpfs as 0700; folders of a bound (real) tree are left as they are.
            if _enclosing_mount(path, mounts) in ("tmp", "hide"):
                for folder in path.parents:
                    if folder in mounts:
                        break
                    opened.add(folder)
    for folder in sorted(opened, key=lambda p: len(p.parts)):
        args += ["--chmod", "0755", str(folder)]
    for path in remount:
        args += ["--remount-ro", path]
    # ipykernel watches its parent unless it is pid 1, which here is bubblewrap's init.
    args += ["--setenv", "JPY_PARENT_PID", "1", "--"]
    return args


def _chown_tree(path: Path, uid: int) -> None:
    os.chown(path, uid, uid, follow_symlinks=False)
    if path.is_dir() and not path.is_symlink():
        for root, dirs, files in os.walk(path):
            for name in dirs + files:
                os.chown(os.path.join(root, name), uid, uid, follow_symlinks=False)


def _pids_of_uid(uid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if entry.stat().st_uid == uid:
                    pids.append(int(entry.name))
    return pids


def _kill_uid(uid: int) -> int:
    """SIGKILL every process of ``uid``; return how many were still there."""
    kill = shutil.which("kill") or "/bin/kill"
    if not Path("/proc").is_dir():
        subprocess.run(
            [kill, "-KILL", "-1"], capture_output=True, check=False, **_drop_kwargs(uid)
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
            [kill, "-KILL", "-1"], capture_output=True, check=False, **_drop_kwargs(uid)
        )
        time.sleep(0.05)
    return found


def _kill_marked(token: str) -> int:
    """SIGKILL this user's processes whose environment carries ``token``."""
    if not Path("/proc").is_dir():
        return 0
    marker = f"SQUAD_SANDBOX_ID={token}".encode()
    killed = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            with contextlib.suppress(OSError):
                if marker in (entry / "environ").read_bytes().split(b"\0"):
                    os.kill(int(entry.name), signal.SIGKILL)
                    killed += 1
    return killed


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

    _sandbox_mode: str | None = None
    _sandbox_uid: int | None = None
    _runtime_dir: Path | None = None
    _sandbox_token: str = ""
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
        policy = self.policy
        mode, caps = _resolve_isolation(policy)
        workdir = self._sandbox_workdir()
        uid = None
        if caps.is_root and policy.drop_privileges and mode != "none":
            uid = _UID_BASE + 1 + secrets.randbelow(90_000_000)
        runtime = Path(tempfile.mkdtemp(prefix="squad-kernel-"))
        for sub in ("tmp", "ipython", "matplotlib", "cache", "config"):
            (runtime / sub).mkdir()
        lacking = list(caps.missing(mode))
        root_note = "unprivileged kernel user (RLIMIT_NPROC is not enforced for root)"
        mounts = _bwrap_mounts(policy, workdir, runtime) if mode == "bwrap" else {}
        if uid is not None:
            # The kernel must reach Python with the sandbox user's own permissions.
            blocked = _world_reachable(Path(sys.executable).resolve(), uid, mounts)
            if blocked is not None:
                uid = None
                root_note = (
                    f"unprivileged kernel user ('{blocked}' is closed to other users), "
                    "so RLIMIT_NPROC is not enforced for root"
                )
        if uid is not None:
            for path in (workdir, runtime, *policy.writable_paths):
                blocked = _world_reachable(path.parent, uid, mounts)
                if blocked is not None:
                    shutil.rmtree(runtime, ignore_errors=True)
                    msg = (
                        f"Sandbox path '{path}' cannot be reached by the sandbox user: "
                        f"'{blocked}' is closed to other users. Use prepare_workdir() "
                        f"or `chmod o+x {blocked}`."
                    )
                    raise PermissionError(msg)
            for path in (workdir, runtime, *policy.writable_paths):
                _chown_tree(path, uid)
        elif caps.is_root and mode != "none":
            lacking.append(root_note)
        if lacking:
            log.warning(
                "Kernel sandbox (%s) lacks: %s", mode, "; ".join(dict.fromkeys(lacking))
            )
        self._sandbox_mode, self._sandbox_uid = mode, uid
        self._runtime_dir, self._sandbox_token = runtime, secrets.token_hex(8)
        self.connection_file = str(runtime / "kernel.json")
        self.ip = str(runtime / "kernel-ipc")
        log.debug("Kernel sandbox %s, uid %s, workdir %s", mode, uid, workdir)

    async def _async_pre_start_kernel(self, **kw: Any) -> Any:
        self._start_cwd = kw.get("cwd") or self._start_cwd
        if self._runtime_dir is None:
            self._prepare_sandbox()
        if self.kernel_spec is not None:
            # A signal does not reach the kernel's new session; this message does.
            self.kernel_spec.interrupt_mode = "message"
        return await super()._async_pre_start_kernel(**kw)  # type: ignore[misc]

    def _sandbox_command(
        self, kernel_cmd: list[str]
    ) -> tuple[list[str], dict[str, Any]]:
        policy, mode, uid = self.policy, self._sandbox_mode, self._sandbox_uid
        assert mode is not None and self._runtime_dir is not None
        workdir, runtime = self._sandbox_workdir(), self._runtime_dir
        limits = _limit_args(policy, mode)
        popen: dict[str, Any] = {"cwd": str(workdir)}
        if mode == "none":
            return list(kernel_cmd), popen
        python = [sys.executable, "-I", "-S", "-c", _LIMITS_PROGRAM]
        drop = ["uid", str(uid)] if uid is not None else []
        if mode == "bwrap":
            caps = _capabilities()
            assert caps.bwrap is not None
            prefix = _bwrap_args(
                policy, caps.bwrap, workdir, runtime, is_root=caps.is_root
            )
            # The limits program enters the workdir once it is the sandbox user.
            drop += ["cwd", str(workdir)]
            return [*prefix, *python, *drop, *limits, "--", *kernel_cmd], {"cwd": "/"}
        prefix = []
        if mode == "unshare":
            caps = _capabilities()
            assert caps.unshare is not None
            prefix = (
                [caps.unshare, "-n", "--"]
                if caps.is_root
                else [caps.unshare, "-r", "-n", "--"]
            )
            # root of the new namespace until the uid is dropped: it brings up lo
            drop = ["lo", "up", *drop]
        return [*prefix, *python, *drop, *limits, "--", *kernel_cmd], popen

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
        assert self._runtime_dir is not None
        workdir = self._sandbox_workdir()
        env = build_kernel_env(self.policy, workdir, self._runtime_dir)
        if self.kernel_spec is not None and self.kernel_spec.env:
            env.update(self.kernel_spec.env)
        env["SQUAD_SANDBOX_ID"] = self._sandbox_token
        cmd, popen = self._sandbox_command(list(kernel_cmd))
        if self._sandbox_uid is not None:
            os.chown(self.connection_file, self._sandbox_uid, self._sandbox_uid)
        kw.update(popen, env=env)
        await super()._async_launch_kernel(cmd, **kw)  # type: ignore[misc]

    def cleanup_sandbox(self) -> int:
        """Kill everything the kernel left running and remove its runtime folder.

        Called by ``shutdown_kernel``; safe to call again. With bubblewrap the PID
        namespace already died with the kernel; the sandbox uid (grader running as root)
        or an environment marker (otherwise) finds anything that escaped.

        Returns
        -------
        int
            How many leftover processes were killed.
        """
        killed = 0
        if self._sandbox_uid is not None:
            killed = _kill_uid(self._sandbox_uid)
        elif self._sandbox_token and self._sandbox_mode != "none":
            killed = _kill_marked(self._sandbox_token)
        if killed:
            log.warning(
                "Killed %d process(es) left behind by a sandboxed kernel", killed
            )
        if self._runtime_dir is not None:
            shutil.rmtree(self._runtime_dir, ignore_errors=True)
            self._runtime_dir = None
        return killed

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
    _resolve_isolation(policy)
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


#: Run by :func:`check_kernel_start` inside the sandbox: which of the modules named
#: in its arguments this interpreter cannot find or read.
_FIND_MODULES = """\
import importlib.util, sys
missing = []
for name in sys.argv[1:]:
    try:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            raise ImportError(name)
        if spec.has_location:
            open(spec.origin, "rb").close()
    except Exception:
        missing.append(name)
print(" ".join(missing))
sys.exit(3 if missing else 0)
"""


def _kernel_python(kernel_name: str) -> str | None:
    """The interpreter of a Python kernel spec (as jupyter_client runs it), else None."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        argv = KernelSpecManager().get_kernel_spec(kernel_name).argv
    except NoSuchKernel:
        return None
    if argv[1:3] != ["-m", "ipykernel_launcher"]:
        return None
    major, minor = sys.version_info[:2]
    if argv[0] in ("python", f"python{major}", f"python{major}.{minor}"):
        return sys.executable
    return argv[0]


def check_kernel_start(
    policy: SandboxPolicy,
    kernel_name: str = "python3",
    modules: Iterable[str] = ("ipykernel", "ipykernel_launcher", "squad"),
) -> None:
    """Start the kernel's interpreter once in the sandbox and check what it imports.

    A kernel that cannot start fails every submission the same way; this finds out
    before any is graded, and says which folder the sandbox leaves out. Kernels of
    other languages are not checked.

    Parameters
    ----------
    policy : SandboxPolicy
    kernel_name : str, default="python3"
    modules : iterable of str
        Modules the kernel needs.

    Raises
    ------
    squad.errors.MissingToolError
        If the interpreter does not start in the sandbox, or does not find or cannot
        read one of ``modules``.

    Examples
    --------
    >>> check_kernel_start(SandboxPolicy(isolation="none"))
    """
    python = _kernel_python(kernel_name)
    if python is None:
        return
    modules = list(modules)
    workdir = Path(tempfile.mkdtemp(prefix="squad-probe-"))
    workdir.chmod(0o711)
    km = SandboxedKernelManager(policy=policy, workdir=str(workdir))
    try:
        km._prepare_sandbox()
        assert km._runtime_dir is not None
        env = build_kernel_env(policy, workdir, km._runtime_dir)
        cmd, popen = km._sandbox_command([python, "-c", _FIND_MODULES, *modules])
        try:
            done = subprocess.run(
                cmd, env=env, capture_output=True, timeout=120, check=False, **popen
            )
            out = done.stdout.decode(errors="replace").split()
            err = done.stderr.decode(errors="replace").strip().splitlines()
            code = done.returncode
        except (OSError, subprocess.SubprocessError) as error:
            out, err, code = [], [str(error)], -1
    finally:
        km.cleanup_sandbox()
        shutil.rmtree(workdir, ignore_errors=True)
    if code == 0:
        return
    mode = km._sandbox_mode
    if code == 3 and out:
        name = out[0]
        spec = importlib.util.find_spec(name)
        where = Path(spec.origin).parent if spec and spec.origin else None
        found = f" (here it is in '{where}')" if where else ""
        msg = (
            f"Kernels in the {mode} sandbox cannot import {name}{found}: the "
            "sandbox hides or cannot read that folder. Make it readable by other "
            "accounts (chmod o+rx on it and its parents) or install the kit in such "
            "a folder, e.g. /opt/squad."
        )
    else:
        last = err[-1] if err else f"exit code {code}"
        msg = (
            f"The kernel's Python '{python}' does not start in the {mode} sandbox: "
            f"{last}. Make the kernel spec '{kernel_name}' use an interpreter every "
            "account can read, or install the kit in such a folder, e.g. /opt/squad."
        )
    raise MissingToolError(msg)


def _copy_file(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target, follow_symlinks=False)


def prepare_workdir(
    submission_dir: str | os.PathLike[str],
    data_files: Mapping[str, str | os.PathLike[str]]
    | Iterable[str | os.PathLike[str]] = (),
    dest: str | os.PathLike[str] | None = None,
    *,
    patterns: Iterable[str] = ("*.ipynb",),
) -> Path:
    """Make a fresh working folder with one submission's notebooks and the data files.

    Only regular files are copied; symbolic links in the submission are skipped, so a
    link to the gradebook brings nothing along.

    Parameters
    ----------
    submission_dir : path-like
        The student's submission folder.
    data_files : mapping or iterable of path-like, default=()
        The assignment's data files or folders. An iterable places each at its own name;
        a mapping gives the relative name inside the working folder.
    dest : path-like, default=None
        The new folder (must not exist, or be empty). None creates one in the temporary
        folder. The caller removes it when grading is done.
    patterns : iterable of str, default=("*.ipynb",)
        Which files of the submission to copy (``fnmatch`` on the path relative to the
        submission folder).

    Returns
    -------
    pathlib.Path
        The working folder.

    Raises
    ------
    NotADirectoryError
        If ``submission_dir`` is not a folder.
    FileNotFoundError
        If a data file does not exist.
    FileExistsError
        If ``dest`` exists and is not empty.
    ValueError
        If a data file's name is absolute or leaves the folder.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> sub = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (sub / "ps1.ipynb").write_text("{}")
    >>> _ = (sub / "notes.txt").write_text("x")
    >>> data = pathlib.Path(tempfile.mkdtemp()) / "prices.csv"
    >>> _ = data.write_text("a,b")
    >>> work = prepare_workdir(sub, [data])
    >>> sorted(p.name for p in work.iterdir())
    ['prices.csv', 'ps1.ipynb']
    >>> import shutil
    >>> for folder in (work, sub, data.parent):
    ...     shutil.rmtree(folder)
    """
    source = Path(submission_dir)
    if not source.is_dir():
        msg = f"Submission folder '{source}' does not exist. Check the submission path."
        raise NotADirectoryError(msg)
    if isinstance(data_files, Mapping):
        pairs = [(str(name), Path(path)) for name, path in data_files.items()]
    elif isinstance(data_files, str | os.PathLike):
        pairs = [(Path(data_files).name, Path(data_files))]
    else:
        pairs = [(Path(path).name, Path(path)) for path in data_files]
    for name, path in pairs:
        if Path(name).is_absolute() or ".." in Path(name).parts or not name:
            msg = (
                f"Data file name {name!r} must be relative and stay inside the workdir."
            )
            raise InvalidInputError(msg)
        if not path.exists():
            msg = (
                f"Data file '{path}' does not exist. Check the assignment's data files."
            )
            raise MissingFileError(msg)
    if dest is None:
        work = Path(tempfile.mkdtemp(prefix="squad-work-"))
    else:
        work = Path(dest)
        if work.exists() and any(work.iterdir()):
            msg = f"Workdir '{work}' is not empty. Pass a new folder or dest=None."
            raise FileExistsError(msg)
        work.mkdir(parents=True, exist_ok=True)
    patterns = tuple(patterns)
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        if ".ipynb_checkpoints" in relative.parts:
            continue
        if path.is_symlink() or not path.is_file():
            if path.is_symlink():
                log.warning("Skipped symbolic link '%s' in the submission", path)
            continue
        if any(fnmatch.fnmatch(relative.as_posix(), p) for p in patterns):
            _copy_file(path, work / relative)
    for name, path in pairs:
        if path.is_dir():
            shutil.copytree(path, work / name, symlinks=False, dirs_exist_ok=True)
        else:
            _copy_file(path, work / name)
    return work.resolve()
