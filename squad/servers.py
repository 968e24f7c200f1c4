"""The one place that starts a server's process, waits until it answers and stops it.

``squad lab`` (JupyterLab) and ``squad hub start`` (JupyterHub) both start a server
with :func:`start_server`, wait with :func:`wait_until_ready` until a condition of
their own says it answers (failing with the kit's one-line error, which names the
last line of the server's log, if the process dies or a deadline passes) and end it
with :func:`stop_process`. Only the condition and the messages are theirs.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from squad.errors import ServiceError, ToolFailedError

__all__ = [
    "TIED_TO_PARENT",
    "log_tail",
    "responds",
    "start_server",
    "stop_process",
    "stop_with_parent",
    "wait_until_ready",
]

logger = logging.getLogger("squad")

T = TypeVar("T")

#: Whether :func:`start_server` ties a server to this process, so that the server gets
#: SIGTERM when this process dies however it dies (Linux only: ``prctl``).
TIED_TO_PARENT = sys.platform.startswith("linux")

_PR_SET_PDEATHSIG = 1


def stop_with_parent(parent_pid: int) -> Callable[[], None]:
    """A ``preexec_fn`` that makes the child get SIGTERM when ``parent_pid`` dies.

    However the command that started a server ends (Ctrl+C, ``kill``, ``kill -9``, a
    closed terminal), the server must not outlive it: a server left behind keeps its
    port, its kernels and the course's files open. The server's own SIGTERM handling
    then stops what it started. Linux only (``prctl``, see :data:`TIED_TO_PARENT`).
    """

    def set_parent_death_signal() -> None:  # runs in the child, before exec
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(
            _PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0
        )
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return set_parent_death_signal


def start_server(
    command: Sequence[str],
    *,
    cwd: str | os.PathLike[str],
    env: Mapping[str, str] | None = None,
    log_path: str | os.PathLike[str] | None = None,
) -> subprocess.Popen:
    """Start a server's process in a session of its own, tied to this process.

    The server gets no standard input. In its own session (process group on Windows),
    Ctrl+C in a terminal reaches only the command that started it, which then stops the
    server cleanly, and :func:`stop_process` can kill everything the server started.
    Where :data:`TIED_TO_PARENT`, the server also gets SIGTERM when this process dies.

    Parameters
    ----------
    command : sequence of str
        The server's command.
    cwd : path-like
        Its working folder.
    env : mapping of str to str, default=None
        Its environment; ``None`` means this process's.
    log_path : path-like, default=None
        File the server's output and errors are appended to (its folder is created);
        ``None`` lets them go to this process's own.

    Returns
    -------
    subprocess.Popen
        The server's process: wait for it with :func:`wait_until_ready`, end it with
        :func:`stop_process`.
    """
    options: dict[str, Any] = {}
    if os.name == "posix":
        # Ctrl+C then reaches only the command, which stops the server cleanly;
        # Jupyter, sent SIGINT itself, would ask for a confirmation nobody answers.
        options["start_new_session"] = True
        if TIED_TO_PARENT:
            options["preexec_fn"] = stop_with_parent(os.getpid())
    else:  # pragma: no cover - Windows
        options["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP
    logger.info("Starting %s", " ".join(command))
    with contextlib.ExitStack() as stack:
        log = None
        if log_path is not None:
            Path(log_path).parent.mkdir(parents=True, exist_ok=True)
            # The child holds its own copy of the file: this one closes once it runs.
            log = stack.enter_context(open(log_path, "ab"))
        return subprocess.Popen(
            list(command),
            cwd=cwd,
            env=None if env is None else dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            **options,
        )


def log_tail(log_path: str | os.PathLike[str] | None) -> str:
    """Return the last line of a server's log: usually the reason it stopped.

    Examples
    --------
    >>> import tempfile
    >>> log = Path(tempfile.mkdtemp()) / "server.log"
    >>> log_tail(None), log_tail(log)
    ('see its messages above', 'see its messages above')
    >>> _ = log.write_text("starting\\nError: port in use\\n\\n")
    >>> log_tail(log)
    'Error: port in use'
    >>> _ = log.write_text("")
    >>> log_tail(log)
    'no output'
    """
    if log_path is None or not Path(log_path).exists():
        return "see its messages above"
    text = Path(log_path).read_text(encoding="utf-8", errors="replace")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def responds(
    url: str, *, headers: Mapping[str, str] | None = None, timeout: float = 5.0
) -> bool:
    """Whether ``url`` answers a GET with HTTP status 200: a readiness probe.

    Any failure to get an HTTP answer (nothing listening yet, a refused or reset
    connection, a reply that is not HTTP) is "not yet", never an error.

    Parameters
    ----------
    url : str
        The address to ask.
    headers : mapping of str to str, default=None
        Request headers, e.g. ``Authorization``.
    timeout : float, default=5.0
        Seconds to wait for the answer.
    """
    request = urllib.request.Request(url, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status == 200
    # HTTPException: not an HTTP answer, e.g. a probe of a port nothing listens on yet
    # that connected to itself (TCP self-connect, inside the ephemeral port range).
    except (urllib.error.URLError, OSError, http.client.HTTPException):
        return False


def wait_until_ready(
    process: subprocess.Popen,
    ready: Callable[[], T | None],
    *,
    name: str,
    timeout: float,
    log_path: str | os.PathLike[str] | None = None,
    exited: Callable[[int], str] | None = None,
    late: Callable[[], str] | None = None,
    interval: float = 0.25,
) -> T:
    """Wait until ``ready()`` gives a true value while the server's process runs.

    ``ready`` is asked at least once, even with ``timeout=0``, and never after the
    process has exited: a server that died is not ready, whatever answers on its port.

    Parameters
    ----------
    process : subprocess.Popen
        The server's process (see :func:`start_server`).
    ready : callable
        Returns a true value once the server answers (for instance its address), else
        a false one (``None``, ``False``). It should not raise: it is a probe.
    name : str
        The server's name in messages ("JupyterLab").
    timeout : float
        Seconds to wait.
    log_path : path-like, default=None
        The server's log, whose last line the default messages name.
    exited : callable, default=None
        Makes the message when the process exits, from its exit status. ``None``: one
        that names the status and the log's last line.
    late : callable, default=None
        Makes the message when ``timeout`` passes. ``None``: one that names the
        timeout and the log's last line.
    interval : float, default=0.25
        Seconds between two probes.

    Returns
    -------
    object
        The first true value of ``ready()``.

    Raises
    ------
    ToolFailedError
        If the process exits first. Neither error stops anything: the caller stops
        what it started (:func:`stop_process`).
    ServiceError
        If ``ready()`` gives no true value within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        status = process.poll()
        if status is not None:
            if exited is None:
                msg = (
                    f"{name} exited with status {status} while starting: "
                    f"{log_tail(log_path)}."
                )
            else:
                msg = exited(status)
            raise ToolFailedError(msg)
        answer = ready()
        if answer:
            return answer
        if time.monotonic() > deadline:
            if late is None:
                msg = (
                    f"{name} did not answer within {timeout:.0f} s: "
                    f"{log_tail(log_path)}."
                )
            else:
                msg = late()
            raise ServiceError(msg)
        time.sleep(interval)


def stop_process(process: subprocess.Popen, timeout: float, name: str) -> None:
    """Stop a server the kit started: SIGTERM, then a kill of its group after ``timeout``.

    The server's own SIGTERM handling stops what it started (kernels, user servers);
    the kill, of the whole session that :func:`start_server` gave it, reaches what a
    server that hangs left behind.

    Parameters
    ----------
    process : subprocess.Popen
        The server's process; nothing happens if it has already exited.
    timeout : float
        Seconds the server has to stop after SIGTERM.
    name : str
        The server's name in the warning logged before the kill.
    """
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        logger.warning("%s did not stop in %.0f s; killing it", name, timeout)
        if os.name == "posix":
            with contextlib.suppress(OSError):
                os.killpg(process.pid, signal.SIGKILL)
        process.kill()
        process.wait()
