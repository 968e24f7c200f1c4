"""A trainee's road through a real hub, over HTTP and the kernel websocket.

What JupyterLab does when a trainee logs in and opens a notebook, without a browser: log
in through the hub's login form, get an API token for oneself, have the hub start one's
server, open a notebook session (which starts a kernel) and run a cell over the kernel's
websocket. Used by ``tests/hub/test_real_hub.py`` and ``bench/bench_hub_class.py``.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests
import websocket

#: JupyterLab's kernel websocket protocol (binary frames); "" is the JSON protocol.
V1 = "v1.kernel.websocket.jupyter.org"


class HubClientError(RuntimeError):
    """Something on the trainee's road did not answer as it should."""


def login(hub_url: str, name: str, password: str) -> requests.Session:
    """Log in through the hub's form, as a browser does; return the session."""
    session = requests.Session()
    page = session.get(f"{hub_url}hub/login", timeout=60)
    page.raise_for_status()
    xsrf = session.cookies.get("_xsrf", path="/hub/")
    answer = session.post(
        f"{hub_url}hub/login",
        data={"username": name, "password": password, "_xsrf": xsrf},
        allow_redirects=False,
        timeout=120,
    )
    if answer.status_code != 302:
        msg = f"login of {name} answered {answer.status_code}"
        raise HubClientError(msg)
    return session


def own_token(session: requests.Session, hub_url: str, name: str) -> str:
    """An API token of the logged-in person, made with their own session."""
    xsrf = session.cookies.get("_xsrf", path="/hub/")
    answer = session.post(
        f"{hub_url}hub/api/users/{name}/tokens",
        headers={"X-XSRFToken": xsrf},
        json={"note": "squad test", "expires_in": 3600},
        timeout=120,
    )
    if answer.status_code != 201:
        msg = f"token of {name} answered {answer.status_code}: {answer.text[:200]}"
        raise HubClientError(msg)
    return answer.json()["token"]


@dataclass
class Trainee:
    """One person on the hub, with their API token."""

    hub_url: str
    name: str
    token: str
    http: requests.Session = field(default_factory=requests.Session)

    def __post_init__(self) -> None:
        self.http.headers["Authorization"] = f"token {self.token}"

    @property
    def server_url(self) -> str:
        return f"{self.hub_url}user/{self.name}/"

    def start_server(self) -> None:
        """Ask the hub to start this person's server (it may already be starting)."""
        answer = self.http.post(
            f"{self.hub_url}hub/api/users/{self.name}/server", timeout=120
        )
        if answer.status_code not in (201, 202, 400):  # 400: already running
            msg = f"starting {self.name}'s server answered {answer.status_code}"
            raise HubClientError(msg)

    def wait_ready(self, timeout: float = 300.0) -> bool:
        """Follow the hub's progress events until the server is ready (or failed).

        One streamed request, as the spawn-pending page in the browser makes: polling
        the server's address instead would keep the hub busy answering for it.
        """
        url = f"{self.hub_url}hub/api/users/{self.name}/server/progress"
        try:
            with self.http.get(url, stream=True, timeout=(60, timeout)) as answer:
                for line in answer.iter_lines() if answer.status_code == 200 else ():
                    if line.startswith(b"data:"):
                        event = json.loads(line[5:])
                        if event.get("ready") or event.get("failed"):
                            break
        except requests.RequestException:
            pass
        return self.server_ready()

    def server_ready(self) -> bool:
        """Whether the server answers its API through the hub's proxy."""
        try:
            answer = self.http.get(f"{self.server_url}api/status", timeout=30)
        except requests.RequestException:
            return False
        return answer.status_code == 200

    def stop_server(self) -> None:
        """Ask the hub to stop this person's server."""
        self.http.delete(f"{self.hub_url}hub/api/users/{self.name}/server", timeout=120)

    def open_notebook(self, path: str) -> str:
        """Open a notebook session as JupyterLab does; return its kernel's id."""
        answer = self.http.post(
            f"{self.server_url}api/sessions",
            json={"path": path, "name": path, "type": "notebook", "kernel": {}},
            timeout=120,
        )
        if answer.status_code != 201:
            msg = f"{self.name}'s session answered {answer.status_code}"
            raise HubClientError(msg)
        return answer.json()["kernel"]["id"]

    def connect(self, kernel_id: str, protocol: str = V1) -> KernelChannel:
        """Open the kernel's websocket, as JupyterLab does."""
        url = self.server_url.replace("http", "ws", 1)
        return KernelChannel(
            websocket.create_connection(
                f"{url}api/kernels/{kernel_id}/channels?session_id={uuid.uuid4().hex}",
                header=[f"Authorization: token {self.token}"],
                subprotocols=[protocol] if protocol else None,
                timeout=120,
            ),
            protocol,
        )


class KernelChannel:
    """A kernel's websocket: send code, read what comes back."""

    def __init__(self, socket: websocket.WebSocket, protocol: str) -> None:
        self.socket = socket
        self.protocol = protocol
        self.session = uuid.uuid4().hex

    def close(self) -> None:
        self.socket.close()

    def execute(self, code: str) -> str:
        """Send an execute request; return its message id."""
        header = {
            "msg_id": uuid.uuid4().hex,
            "msg_type": "execute_request",
            "username": "trainee",
            "session": self.session,
            "date": datetime.now(UTC).isoformat(),
            "version": "5.3",
        }
        content = {
            "code": code,
            "silent": False,
            "store_history": True,
            "user_expressions": {},
            "allow_stdin": False,
            "stop_on_error": True,
        }
        msg = {
            "header": header,
            "parent_header": {},
            "metadata": {},
            "content": content,
        }
        if self.protocol == V1:
            from jupyter_server.services.kernels.connection.base import (
                serialize_msg_to_ws_v1,
            )

            pack = lambda part: json.dumps(part).encode()  # noqa: E731
            self.socket.send_binary(serialize_msg_to_ws_v1(msg, "shell", pack))
        else:
            self.socket.send(json.dumps({**msg, "channel": "shell"}))
        return header["msg_id"]

    def receive(self, deadline: float) -> dict[str, Any] | None:
        """The next message (header, parent_header, content, channel), or None."""
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        self.socket.settimeout(left)
        try:
            frame = self.socket.recv()
        except websocket.WebSocketTimeoutException:
            return None
        if isinstance(frame, bytes) and self.protocol == V1:
            from jupyter_server.services.kernels.connection.base import (
                deserialize_msg_from_ws_v1,
            )

            channel, parts = deserialize_msg_from_ws_v1(frame)
            header, parent, _, content = (json.loads(p) for p in parts[:4])
            return {
                "channel": channel,
                "header": header,
                "parent_header": parent,
                "content": content,
            }
        return json.loads(frame)

    def messages_until(self, done, timeout: float = 120.0) -> list[dict[str, Any]]:
        """Read messages until ``done(message)`` is true or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        seen = []
        while (message := self.receive(deadline)) is not None:
            seen.append(message)
            if done(message):
                break
        return seen

    def run(self, code: str, timeout: float = 120.0) -> dict[str, Any]:
        """Run ``code``; return its result's text, its stderr, and whether it ended."""
        msg_id = self.execute(code)

        def mine(message: dict[str, Any]) -> bool:
            return message.get("parent_header", {}).get("msg_id") == msg_id

        seen = self.messages_until(
            lambda m: (
                mine(m)
                and m["header"]["msg_type"] == "status"
                and m["content"].get("execution_state") == "idle"
            ),
            timeout,
        )
        results = [
            m["content"]["data"].get("text/plain", "")
            for m in seen
            if mine(m) and m["header"]["msg_type"] == "execute_result"
        ]
        return {
            "msg_id": msg_id,
            "result": results[-1] if results else None,
            "messages": seen,
            "idle": bool(seen) and mine(seen[-1]),
        }
