"""Start and stop a course's JupyterHub (`squad hub start`).

The hub runs JupyterHub from the kit's environment with the configuration that
`squad.hub.prepare.prepare_hub` writes into the hub's folder. It uses four ports from
the course file's ``port`` on: the public one, then the hub's API, the proxy's API and
the course's Formgrader service, each only on 127.0.0.1 but the first.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from squad._imports import masked_entry_point
from squad.errors import ServiceError
from squad.hub.coursefile import CourseFile
from squad.hub.layout import HubLayout
from squad.hub.prepare import prepare_hub
from squad.servers import (
    log_tail,
    responds,
    start_server,
    stop_process,
    wait_until_ready,
)

__all__ = ["HubServer", "check_ports", "hub_ports", "start_hub"]

_PORT_USES = (
    "the hub",
    "the hub's API",
    "the proxy's API",
    "the course's Formgrader",
    "the challenge",
)


def _port_uses(course: CourseFile) -> tuple[str, ...]:
    return _PORT_USES if course.challenge is not None else _PORT_USES[:4]


def hub_ports(course: CourseFile) -> list[int]:
    """The hub's ports: public, hub API, proxy API, Formgrader service, and the
    challenge's if the course file names one.

    Examples
    --------
    >>> from pathlib import Path
    >>> hub_ports(CourseFile(Path("hub.yml"), "c", Path("."), Path("."), port=8000))
    [8000, 8001, 8002, 8003]
    """
    return [course.port + n for n in range(len(_port_uses(course)))]


def check_ports(course: CourseFile, ip: str = "127.0.0.1") -> None:
    """Raise a one-line error if one of the hub's ports is taken.

    Raises
    ------
    ServiceError
        Naming the port, what the hub needs it for and what to change.
    """
    for port, use in zip(hub_ports(course), _port_uses(course), strict=True):
        host = ip if port == course.port and ip else "127.0.0.1"
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError as err:
                msg = (
                    f"Port {port} ({use}) is in use on {host}: {err.strerror}. Stop "
                    f"what uses it, or change 'port' in {course.path} (the hub uses "
                    f"{course.port} to {course.port + len(_port_uses(course)) - 1})."
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

    @property
    def formgrader_url(self) -> str:
        """Formgrader of the course, in a tab of its own (JupyterHub forbids frames)."""
        return f"{self.url}services/{self.course.course_id}/formgrader"

    def stop(self, timeout: float = 60.0) -> None:
        """Stop the hub; it stops the servers, the services and the proxy it started."""
        stop_process(self.process, timeout, "JupyterHub")
        self._stop_proxy()

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
    return responds(f"{url}hub/api/")


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
    command = [
        *masked_entry_point(sys.executable, "jupyterhub.app:main", "jupyterhub"),
        "-f",
        str(layout.config_file),
    ]
    process = start_server(command, cwd=layout.state, log_path=layout.log_file)
    url = f"http://{ip or '127.0.0.1'}:{course.port}/"
    server = HubServer(process, url, course, layout)
    try:
        wait_until_ready(
            process,
            lambda: _answers(url),
            name="JupyterHub",
            timeout=timeout,
            exited=lambda status: (
                f"JupyterHub exited with status {status} while starting: "
                f"{_hub_error(layout.log_file)}. Its log: {layout.log_file}."
            ),
            late=lambda: (
                f"JupyterHub did not answer on {url} within {timeout:.0f} s; "
                f"see {layout.log_file}."
            ),
        )
    except BaseException:
        server.stop()
        raise
    return server
