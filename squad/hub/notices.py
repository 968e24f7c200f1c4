"""What a trainee sees when the hub's limits stop their kernel.

A kernel that passes the memory limit of its person's cgroup is killed by the Linux
kernel's OOM killer; Jupyter's restarter starts it again, and JupyterLab says only
"The kernel appears to have died". `MemoryNoticeConnection` (the single-user server's
kernel websocket connection, set by the hub's Jupyter configuration) notices that the
cgroup's OOM count went up, and writes a plain message into the output of the cell
that was running, in red, before JupyterLab's "Kernel Restarting" dialog shows; the
server's log (the hub's) gets the same line.

Runs inside each person's JupyterLab server (Linux).
"""

from __future__ import annotations

import json
import os
from typing import Any

from jupyter_server.services.kernels.connection.base import (
    deserialize_binary_message,
    deserialize_msg_from_ws_v1,
)
from jupyter_server.services.kernels.connection.channels import (
    ZMQChannelsWebsocketConnection,
)

from squad.hub.cgroups import MEM_LIMIT_VARIABLE, oom_kills

__all__ = ["MemoryNoticeConnection", "memory_notice"]

_V1 = "v1.kernel.websocket.jupyter.org"


def memory_notice(mem_limit: int | None) -> str:
    """The message a trainee reads in the cell whose kernel was stopped for memory.

    Examples
    --------
    >>> print(memory_notice(2 * 2**30).splitlines()[0])
    The kernel was stopped: it ran out of memory (2 GiB per person on this hub).
    """
    if mem_limit:
        size = mem_limit / 2**30
        amount = f"{size:g} GiB" if size >= 1 else f"{mem_limit / 2**20:g} MiB"
        limit = f" ({amount} per person on this hub)"
    else:
        limit = ""
    return (
        f"The kernel was stopped: it ran out of memory{limit}.\n"
        "Everything it held is lost; it restarts empty. Use less memory (read less "
        "data at once, `del` large objects you no longer need), then run the cells "
        "again from the top. Ask your instructor if the exercise needs more."
    )


class MemoryNoticeConnection(ZMQChannelsWebsocketConnection):
    """jupyter_server's kernel websocket connection, telling why a kernel died.

    It notes the code requests sent on the shell channel and their replies, so it
    knows which cell was running; when the kernel dies and the cgroup's OOM count
    has grown since it last looked (and the kernel was killed, not ended), it sends
    `memory_notice` to that cell as the kernel's stderr.
    """

    _running: dict[str, dict[str, Any]]
    _oom_seen: int | None = None

    def connect(self):
        """Connect, noting the OOM count to compare with."""
        self._running = {}
        self._oom_seen = oom_kills()
        return super().connect()

    # --- which cell is running ------------------------------------------------------
    def handle_incoming_message(self, incoming_msg: Any) -> None:
        """Note an execute request, then pass the message on."""
        try:
            self._note_request(incoming_msg)
        except Exception:  # never let the bookkeeping break the connection
            self.log.debug("Could not read a message for the memory notice")
        super().handle_incoming_message(incoming_msg)

    def _note_request(self, ws_msg: Any) -> None:
        if self.subprotocol == _V1:
            channel, parts = deserialize_msg_from_ws_v1(ws_msg)
            header = self.session.unpack(parts[0]) if channel == "shell" else None
        else:
            msg = (
                deserialize_binary_message(ws_msg)
                if isinstance(ws_msg, bytes)
                else json.loads(ws_msg)
            )
            header = msg.get("header") if msg.get("channel") == "shell" else None
        if header and header.get("msg_type") == "execute_request":
            if not hasattr(self, "_running"):
                self._running = {}
            self._running[header["msg_id"]] = header

    def handle_outgoing_message(self, stream: Any, outgoing_msg: list[Any]) -> None:
        """Forget a request once its reply comes, then pass the message on."""
        channel = stream if isinstance(stream, str) else getattr(stream, "channel", "")
        if channel == "shell" and getattr(self, "_running", None):
            try:
                _, parts = self.session.feed_identities(outgoing_msg)
                if self.session.unpack(parts[1]).get("msg_type") == "execute_reply":
                    parent = self.session.unpack(parts[2])
                    self._running.pop(parent.get("msg_id"), None)
            except Exception:
                self.log.debug("Could not read a reply for the memory notice")
        super().handle_outgoing_message(stream, outgoing_msg)

    # --- the kernel died -----------------------------------------------------------
    def _killed_for_memory(self) -> bool:
        count = oom_kills()
        before, self._oom_seen = self._oom_seen, count
        if count is None or before is None or count <= before:
            return False
        process = getattr(
            getattr(self.kernel_manager, "provisioner", None), "process", None
        )
        code = getattr(process, "returncode", None)
        return code is None or code < 0  # killed by a signal, or not known

    def _tell_if_out_of_memory(self) -> None:
        try:
            if not self._killed_for_memory():
                return
            limit = os.environ.get(MEM_LIMIT_VARIABLE, "")
            notice = memory_notice(int(limit) if limit.isdigit() else None)
            running = list(getattr(self, "_running", {}).values())
            parent = running[0] if running else {}
            self.log.warning("Kernel %s was stopped for memory.", self.kernel_id)
            self.write_stderr(notice, parent)
            self._running = {}
        except Exception:
            self.log.exception("Could not tell why kernel %s stopped", self.kernel_id)

    def on_kernel_restarted(self) -> None:
        """Tell the cell why, then report the restart as jupyter_server does."""
        self._tell_if_out_of_memory()
        super().on_kernel_restarted()

    def on_restart_failed(self) -> None:
        """Tell the cell why, then report the dead kernel as jupyter_server does."""
        self._tell_if_out_of_memory()
        super().on_restart_failed()
