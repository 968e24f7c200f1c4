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

One job per module:

- ``policy``: :class:`SandboxPolicy` and :class:`SandboxCapabilities` (plain data).
- ``command``: the command line and environment a kernel starts with (no process).
- ``probe``: what this machine offers (:func:`sandbox_capabilities`), and whether a
  kernel's interpreter starts in the sandbox (:func:`check_kernel_start`).
- ``session``: one kernel's sandbox: runtime folder, uid, leftovers killed at the end.
- ``processes``: handing files to the sandbox user, killing by uid or marker.
- ``workdir``: a fresh working folder for one submission (:func:`prepare_workdir`).
- ``manager``: the kernel managers (:func:`make_kernel_manager`).
"""

from squad.kernels.sandbox.command import build_kernel_env
from squad.kernels.sandbox.manager import (
    AsyncSandboxedKernelManager,
    SandboxedKernelManager,
    make_kernel_manager,
)
from squad.kernels.sandbox.policy import (
    DEFAULT_ENV_ALLOW,
    SandboxCapabilities,
    SandboxPolicy,
)
from squad.kernels.sandbox.probe import (
    check_kernel_start,
    interpreter_closed_to_others,
    sandbox_capabilities,
)
from squad.kernels.sandbox.workdir import prepare_workdir

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
