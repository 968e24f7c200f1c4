"""What a sandboxed kernel may use, and what this machine can enforce.

:class:`SandboxPolicy` is the instructor's side: limits, paths, environment and the
isolation mode asked for. :class:`SandboxCapabilities` is the machine's side, found by
:func:`squad.kernels.sandbox.sandbox_capabilities`. Both are plain data: nothing here
starts a process or reads a file.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from squad.errors import InvalidInputError

__all__ = [
    "DEFAULT_ENV_ALLOW",
    "DEFAULT_MEMORY_MB",
    "ISOLATION_MODES",
    "SandboxCapabilities",
    "SandboxPolicy",
]

#: Each kernel's memory, in MB, unless the caller says otherwise (see `SandboxPolicy`).
DEFAULT_MEMORY_MB = 3072
#: Sandbox modes, strongest first.
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
    memory_mb : int or None, default=3072
        Address-space limit (``RLIMIT_AS``) of each kernel process. A bare ipykernel
        uses about 160 MB of address space, about 390 MB after ``import pandas``; the
        course's heaviest model answer (``06-quality-and-drift``, two naive Bayes
        coders over every SOC code) reaches 2.3 GB with 0.9 GB resident.
        Allocations beyond it raise ``MemoryError``. macOS does not enforce it.
    cpu_seconds : int or None, default=600
        CPU time (``RLIMIT_CPU``) of each process, kernel start-up included; the
        kernel is killed (``SIGXCPU``) when it is used up.
    max_processes : int or None, default=64
        ``RLIMIT_NPROC``: processes *and threads* of the sandbox user (an idle
        ipykernel has 12-13 threads). Not enforced for uid 0, see
        :mod:`squad.kernels.sandbox`.
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
        submission: the ``workdir`` argument of
        :func:`~squad.kernels.sandbox.make_kernel_manager`, or the ``cwd`` nbclient and
        nbgrader pass when they start the kernel.
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

    memory_mb: int | None = DEFAULT_MEMORY_MB
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
    """Protections this machine offers to a sandboxed kernel manager.

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
