"""The command line and environment a sandboxed kernel starts with.

Everything here only builds lists and dicts: bubblewrap's mounts and arguments, the
arguments of the limits program, the kernel's environment. Nothing starts a process,
so all of it is tested without one.

The limits are set by a small Python program (:data:`LIMITS_PROGRAM`) that bubblewrap
or ``unshare`` runs just before the kernel (``python -I -S -c ...``). A ``preexec_fn``
would instead limit bubblewrap itself, run as root before the uid switch (so
``RLIMIT_NPROC`` would not hold), and is not safe in a threaded grader.
"""

from __future__ import annotations

import fnmatch
import os
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import squad
from squad.kernels.sandbox.policy import SandboxCapabilities, SandboxPolicy

try:
    import resource
except ImportError:  # Windows
    resource = None  # type: ignore[assignment]

__all__ = [
    "LIMITS_PROGRAM",
    "build_kernel_env",
    "bwrap_args",
    "bwrap_mounts",
    "bwrap_namespaces",
    "limit_args",
    "sandbox_command",
]

_MB = 1024 * 1024

#: Runs inside the sandbox: bring up the network namespace's loopback interface (unshare
#: mode; bubblewrap does it itself), drop to the sandbox uid, set the limits, exec the
#: kernel. Arguments: KEY VALUE pairs (lo, uid, cwd, RLIMIT_*), "--", the kernel command.
LIMITS_PROGRAM = """\
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


def bwrap_namespaces(is_root: bool, *, network: bool) -> list[str]:
    """bubblewrap's namespace options.

    As root, bubblewrap runs privileged without a user namespace (which would map the
    kernel back to uid 0) and keeps only the capabilities the limits program needs to
    switch to the sandbox uid; otherwise it runs unprivileged in a user namespace.

    Parameters
    ----------
    is_root : bool
        Whether the grader runs as uid 0.
    network : bool
        Keep the grader's network.

    Returns
    -------
    list of str

    Examples
    --------
    >>> bwrap_namespaces(False, network=False)[:3]
    ['--unshare-all', '--unshare-user', '--disable-userns']
    """
    if is_root:
        args = "--cap-drop ALL --cap-add CAP_SETUID --cap-add CAP_SETGID".split()
        args += "--unshare-ipc --unshare-pid --unshare-uts --unshare-cgroup-try".split()
        args += [] if network else ["--unshare-net"]
    else:
        args = "--unshare-all --unshare-user --disable-userns".split()
        args += ["--share-net"] if network else []
    return [*args, "--die-with-parent", "--new-session"]


def _python_paths() -> list[Path]:
    paths = {sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix}
    paths.add(str(Path(sys.executable).resolve().parent.parent))
    # Everything this interpreter imports from: the standard library, site-packages
    # and the folders ``.pth`` files add. The hub's copy of the interpreter reaches the
    # kit's packages only through such a file, and a kit under /tmp would otherwise
    # sit inside the kernel's private /tmp. sys.path[0] is the script's folder or the
    # working folder (a course folder, say), not part of the environment.
    paths.update(entry for entry in sys.path[1:] if entry and Path(entry).exists())
    paths.add(str(Path(squad.__file__).resolve().parent))
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


def limit_args(policy: SandboxPolicy, mode: str) -> list[str]:
    """The KEY VALUE arguments of :data:`LIMITS_PROGRAM` for ``policy``'s limits.

    Limits this platform's ``resource`` module does not know are left out; mode
    ``"none"`` sets none.

    Parameters
    ----------
    policy : SandboxPolicy
    mode : {"bwrap", "unshare", "rlimits", "none"}

    Returns
    -------
    list of str

    Examples
    --------
    >>> limit_args(SandboxPolicy(), "none")
    []
    """
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


def bwrap_mounts(
    policy: SandboxPolicy, workdir: Path, runtime: Path
) -> dict[Path, str]:
    """Plan bubblewrap's mounts: each path to "hide", "tmp", "ro" or "rw".

    The most specific path wins. Temporary and home folders are hidden, the Python
    installation and the kit are read-only (unless the policy hides them), the working
    and runtime folders are writable; only paths that exist are mounted. A folder
    inside a mount of its own kind is left out.

    Parameters
    ----------
    policy : SandboxPolicy
    workdir, runtime : pathlib.Path
        The kernel's working folder and its private runtime folder.

    Returns
    -------
    dict of pathlib.Path to str
        Ordered from the outermost path in.
    """
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


def bwrap_args(
    policy: SandboxPolicy, bwrap: str, workdir: Path, runtime: Path, *, is_root: bool
) -> list[str]:
    """The bubblewrap command line, up to and including ``--``.

    Parameters
    ----------
    policy : SandboxPolicy
    bwrap : str
        The ``bwrap`` program.
    workdir, runtime : pathlib.Path
        The kernel's working folder and its private runtime folder.
    is_root : bool
        Whether the grader runs as uid 0 (see :func:`bwrap_namespaces`).

    Returns
    -------
    list of str
    """
    tmp_size = str(policy.tmp_size_mb * _MB)
    args = [bwrap, *bwrap_namespaces(is_root, network=policy.network)]
    args += ["--hostname", "sandbox", "--ro-bind", "/", "/"]
    args += ["--dev", "/dev", "--proc", "/proc"]
    args += ["--perms", "1777", "--size", tmp_size, "--tmpfs", "/dev/shm"]
    mounts = bwrap_mounts(policy, workdir, runtime)
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


def sandbox_command(
    kernel_cmd: list[str],
    *,
    policy: SandboxPolicy,
    mode: str,
    caps: SandboxCapabilities,
    uid: int | None,
    workdir: Path,
    runtime: Path,
) -> tuple[list[str], dict[str, Any]]:
    """The command that starts ``kernel_cmd`` in mode ``mode``, and its Popen options.

    Parameters
    ----------
    kernel_cmd : list of str
        The kernel's own command line.
    policy : SandboxPolicy
    mode : {"bwrap", "unshare", "rlimits", "none"}
        A mode ``caps`` offers.
    caps : SandboxCapabilities
        Where ``bwrap`` and ``unshare`` are, and whether the grader is root.
    uid : int or None
        The sandbox user the kernel runs as; None keeps the grader's.
    workdir, runtime : pathlib.Path
        The kernel's working folder and its private runtime folder.

    Returns
    -------
    cmd : list of str
    popen : dict
        Keyword arguments for ``subprocess.Popen`` (the working folder).

    Examples
    --------
    >>> from pathlib import Path
    >>> caps = SandboxCapabilities("linux", False, None, None, (), "none")
    >>> sandbox_command(["python", "k.py"], policy=SandboxPolicy(), mode="none",
    ...                 caps=caps, uid=None, workdir=Path("/w"), runtime=Path("/r"))
    (['python', 'k.py'], {'cwd': '/w'})
    """
    limits = limit_args(policy, mode)
    popen: dict[str, Any] = {"cwd": str(workdir)}
    if mode == "none":
        return list(kernel_cmd), popen
    python = [sys.executable, "-I", "-S", "-c", LIMITS_PROGRAM]
    drop = ["uid", str(uid)] if uid is not None else []
    if mode == "bwrap":
        assert caps.bwrap is not None
        prefix = bwrap_args(policy, caps.bwrap, workdir, runtime, is_root=caps.is_root)
        # The limits program enters the workdir once it is the sandbox user.
        drop += ["cwd", str(workdir)]
        return [*prefix, *python, *drop, *limits, "--", *kernel_cmd], {"cwd": "/"}
    prefix = []
    if mode == "unshare":
        assert caps.unshare is not None
        prefix = (
            [caps.unshare, "-n", "--"]
            if caps.is_root
            else [caps.unshare, "-r", "-n", "--"]
        )
        # root of the new namespace until the uid is dropped: it brings up lo
        drop = ["lo", "up", *drop]
    return [*prefix, *python, *drop, *limits, "--", *kernel_cmd], popen
