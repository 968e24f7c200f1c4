"""Start and stop a course's JupyterHub (`squad hub start`).

The hub runs JupyterHub from the kit's environment with the configuration that
`squad.hub.prepare.prepare_hub` writes into the hub's folder. It uses four ports from
the course file's ``port`` on: the public one, then the hub's API, the proxy's API and
the course's Formgrader service, each only on 127.0.0.1 but the first.
"""

from __future__ import annotations

import http.client
import logging
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from squad._imports import masked_entry_point
from squad.course.lab import log_tail, stop_process, stop_with_parent
from squad.errors import ServiceError, ToolFailedError
from squad.hub.coursefile import CourseFile
from squad.hub.prepare import HubLayout, prepare_hub

__all__ = ["HubServer", "check_ports", "hub_ports", "start_hub"]

logger = logging.getLogger("squad")

_PORT_USES = ("the hub", "the hub's API", "the proxy's API", "the course's Formgrader")


def hub_ports(course: CourseFile) -> list[int]:
    """The hub's four ports: public, hub API, proxy API, Formgrader service.

    Examples
    --------
    >>> from pathlib import Path
    >>> hub_ports(CourseFile(Path("hub.yml"), "c", Path("."), Path("."), port=8000))
    [8000, 8001, 8002, 8003]
    """
    return [course.port + n for n in range(len(_PORT_USES))]


def check_ports(course: CourseFile, ip: str = "127.0.0.1") -> None:
    """Raise a one-line error if one of the hub's ports is taken.

    Raises
    ------
    ServiceError
        Naming the port, what the hub needs it for and what to change.
    """
    for port, use in zip(hub_ports(course), _PORT_USES, strict=True):
        host = ip if port == course.port and ip else "127.0.0.1"
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError as err:
                msg = (
                    f"Port {port} ({use}) is in use on {host}: {err.strerror}. Stop "
                    f"what uses it, or change 'port' in {course.path} (the hub uses "
                    f"{course.port} to {course.port + len(_PORT_USES) - 1})."
                )
                raise ServiceError(msg) from err


@dataclass
class HubServer:
    """A running hub started by `start_hub`.

    Attributes
    ----------
    process : subprocess.Popen
        JupyterHub's process.
    url : str
        The public address, ending with ``/``.
    course : CourseFile
        The course as served.
    layout : HubLayout
        The hub's folder.
    """

    process: subprocess.Popen
    url: str
    course: CourseFile
    layout: HubLayout
    _log_handle: IO[bytes] | None = field(default=None, repr=False)

    @property
    def formgrader_url(self) -> str:
        """Formgrader of the course, in a tab of its own (JupyterHub forbids frames)."""
        return f"{self.url}services/{self.course.course_id}/formgrader"

    def stop(self, timeout: float = 60.0) -> None:
        """Stop the hub; it stops the servers, the services and the proxy it started."""
        stop_process(self.process, timeout, "JupyterHub")
        self._stop_proxy()
        if self._log_handle is not None:
            self._log_handle.close()
            self._log_handle = None

    def _stop_proxy(self) -> None:
        """Stop the proxy if the hub left it behind (a hub that failed to start)."""
        import psutil

        pid_file = self.layout.state / "proxy.pid"
        try:
            proxy = psutil.Process(int(pid_file.read_text().strip()))
            if not any("configurable-http-proxy" in a for a in proxy.cmdline()):
                return
            proxy.terminate()
            proxy.wait(10)
        except (OSError, ValueError, psutil.Error):
            return

    def __enter__(self) -> HubServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _hub_error(log_file: Path) -> str:
    """The hub's last error or critical line (the proxy's output may come after it)."""
    if log_file.exists():
        lines = log_file.read_text(encoding="utf-8", errors="replace").splitlines()
        errors = [line for line in lines if line.startswith(("[E ", "[C "))]
        if errors:
            return errors[-1].split("] ", 1)[-1].strip()
    return log_tail(log_file)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}hub/api/", timeout=5) as response:
            return response.status == 200
    # HTTPException: not an HTTP answer, e.g. a probe of a port nothing listens on yet
    # that connected to itself (TCP self-connect, inside the ephemeral port range).
    except (urllib.error.URLError, OSError, http.client.HTTPException):
        return False


def start_hub(
    course: CourseFile,
    *,
    ip: str = "127.0.0.1",
    timeout: float = 180.0,
    shared_password: bool = False,
) -> HubServer:
    """Prepare the hub's folder, start JupyterHub and wait until it answers.

    Parameters
    ----------
    course : CourseFile
        The course (see `squad.hub.coursefile.read_course_file`).
    ip : str, default="127.0.0.1"
        The address to listen on; ``""`` for every interface (put it behind HTTPS).
    timeout : float, default=180.0
        Seconds to wait for the hub to answer.
    shared_password : bool, default=False
        One shared password for trainees and one for instructors instead of each
        person's own (see `squad.hub.prepare.prepare_hub`).

    Returns
    -------
    HubServer
        Call ``stop()`` (or use it in a ``with`` block) to stop the hub.

    Raises
    ------
    ServiceError
        If a port is in use or the hub does not answer in time.
    ToolFailedError
        If JupyterHub exits while starting.
    """
    check_ports(course, ip)
    course, layout = prepare_hub(course, ip=ip, shared_password=shared_password)
    log_handle = open(layout.log_file, "ab")  # closed by HubServer.stop
    popen_options: dict[str, Any] = {"start_new_session": True}
    if sys.platform.startswith("linux"):
        popen_options["preexec_fn"] = stop_with_parent(os.getpid())
    command = [
        *masked_entry_point(sys.executable, "jupyterhub.app:main", "jupyterhub"),
        "-f",
        str(layout.config_file),
    ]
    logger.info("Starting %s", " ".join(command))
    process = subprocess.Popen(
        command,
        cwd=layout.state,
        stdin=subprocess.DEVNULL,
        stdout=log_handle,
        stderr=log_handle,
        **popen_options,
    )
    url = f"http://{ip or '127.0.0.1'}:{course.port}/"
    server = HubServer(process, url, course, layout, log_handle)
    deadline = time.monotonic() + timeout
    try:
        while not _answers(url):
            if process.poll() is not None:
                msg = (
                    f"JupyterHub exited with status {process.returncode} while "
                    f"starting: {_hub_error(layout.log_file)}. Its log: "
                    f"{layout.log_file}."
                )
                raise ToolFailedError(msg)
            if time.monotonic() > deadline:
                msg = (
                    f"JupyterHub did not answer on {url} within {timeout:.0f} s; "
                    f"see {layout.log_file}."
                )
                raise ServiceError(msg)
            time.sleep(0.25)
    except BaseException:
        server.stop()
        raise
    return server
