"""What this machine's sandbox can do, found by trying it.

:func:`sandbox_capabilities` starts a throwaway ``bwrap`` and ``unshare`` once per
process; :func:`resolve_isolation` turns a policy's mode into one that works here;
:func:`check_kernel_start` starts a kernel's interpreter once in the sandbox, before
anything is graded, to say which folder it cannot read.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from squad.errors import MissingToolError
from squad.kernels.sandbox.command import build_kernel_env, bwrap_namespaces
from squad.kernels.sandbox.policy import SandboxCapabilities, SandboxPolicy
from squad.kernels.sandbox.session import (
    UID_BASE,
    KernelSandbox,
    first_closed_folder,
    open_sandbox,
)

try:
    import resource
except ImportError:  # Windows
    resource = None  # type: ignore[assignment]

__all__ = [
    "check_kernel_start",
    "interpreter_closed_to_others",
    "resolve_isolation",
    "sandbox_capabilities",
]

log = logging.getLogger("squad")

_INSTALL_BWRAP = "install bubblewrap (apt-get install bubblewrap)"


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
            cmd = [found, *bwrap_namespaces(is_root, network=False)]
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


def resolve_isolation(policy: SandboxPolicy) -> tuple[str, SandboxCapabilities]:
    """The mode ``policy`` runs in here, and the machine's capabilities.

    Parameters
    ----------
    policy : SandboxPolicy

    Returns
    -------
    mode : str
        ``policy.isolation``, or the strongest mode that works for ``"auto"``.
    caps : SandboxCapabilities

    Raises
    ------
    OSError
        If ``policy.isolation`` names a mode that does not work here.

    Examples
    --------
    >>> resolve_isolation(SandboxPolicy(isolation="none"))[0]
    'none'
    """
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


def interpreter_closed_to_others() -> Path | None:
    """The folder that keeps other accounts from this Python, if any.

    A kernel of a grader running as root runs as a fresh uid only where that uid can
    reach the interpreter; otherwise it runs as root (see
    :mod:`squad.kernels.sandbox`).

    Examples
    --------
    >>> folder = interpreter_closed_to_others()
    >>> folder is None or folder.is_dir()
    True
    """
    return first_closed_folder(Path(sys.executable).resolve(), UID_BASE)


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
    sandbox: KernelSandbox | None = None
    try:
        mode, caps = resolve_isolation(policy)
        sandbox = open_sandbox(policy, workdir.resolve(), mode, caps)
        env = build_kernel_env(policy, workdir, sandbox.runtime)
        cmd, popen = sandbox.command([python, "-c", _FIND_MODULES, *modules])
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
        if sandbox is not None:
            sandbox.close()
        shutil.rmtree(workdir, ignore_errors=True)
    if code == 0:
        return
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
