"""Tests for squad.servers: start a server, wait until it answers, stop it.

Every test runs real processes: Python's own HTTP server, and small scripts that fail,
hang or ignore SIGTERM. Nothing asserts on how long anything took: the tests wait for
conditions (see ``waiting.py``).
"""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from squad.errors import ServiceError, ToolFailedError
from squad.servers import (
    log_tail,
    responds,
    start_server,
    stop_process,
    wait_until_ready,
)
from tests.support.waiting import wait_until

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX signals")


def _python(code: str) -> list[str]:
    return [sys.executable, "-u", "-c", textwrap.dedent(code)]


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not yet reaped, counts as gone)."""
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.fixture
def started():
    """Processes a test starts; whatever is still running at the end is killed."""
    processes: list[subprocess.Popen] = []
    yield processes
    for process in processes:
        stop_process(process, 0, "test server")


def test_http_server_starts_answers_and_stops(tmp_path, started):
    """The address a server logs is ready once it answers; stopping ends the server."""
    log = tmp_path / "logs" / "http.log"
    process = start_server(
        [sys.executable, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1"],
        cwd=tmp_path,
        log_path=log,
    )
    started.append(process)

    def address() -> str | None:
        found = re.search(r"(http://127\.0\.0\.1:\d+/)", log.read_text())
        return found.group(1) if found and responds(found.group(1)) else None

    url = wait_until_ready(process, address, name="HTTP server", timeout=120)
    assert url.startswith("http://127.0.0.1:") and responds(url)
    assert responds(f"{url}no-such-page") is False  # 404 is not ready

    stop_process(process, 60, "HTTP server")
    assert process.returncode is not None
    assert responds(url) is False


def test_server_that_exits_names_its_last_log_line(tmp_path, started):
    """A server that dies while starting fails with its status and its log's last line."""
    log = tmp_path / "server.log"
    process = start_server(
        _python("""
            import sys
            print("starting")
            sys.exit("Error: the course file names no course")
        """),
        cwd=tmp_path,
        log_path=log,
    )
    started.append(process)
    with pytest.raises(ToolFailedError) as caught:
        wait_until_ready(process, lambda: None, name="Toy", timeout=120, log_path=log)
    assert str(caught.value) == (
        "Toy exited with status 1 while starting: "
        "Error: the course file names no course."
    )


def test_server_exit_message_is_the_callers(tmp_path, started):
    """A caller words the error itself, from the exit status."""
    process = start_server(_python("raise SystemExit(3)"), cwd=tmp_path)
    started.append(process)
    with pytest.raises(ToolFailedError, match="^Toy stopped: 3$"):
        wait_until_ready(
            process,
            lambda: None,
            name="Toy",
            timeout=120,
            exited=lambda status: f"Toy stopped: {status}",
        )


def test_server_that_never_answers_fails_at_the_deadline(tmp_path, started):
    """A server that runs but never answers fails once the deadline passes."""
    log = tmp_path / "server.log"
    process = start_server(
        _python("""
            import time
            print("waiting for a database")
            time.sleep(600)
        """),
        cwd=tmp_path,
        log_path=log,
    )
    started.append(process)

    def ready() -> None:
        # Not ready, ever; returns once the log holds the line the error should name.
        assert wait_until(lambda: "database" in log.read_text())

    with pytest.raises(ServiceError) as caught:
        wait_until_ready(process, ready, name="Toy", timeout=0, log_path=log)
    assert str(caught.value) == (
        "Toy did not answer within 0 s: waiting for a database."
    )
    assert process.poll() is None  # the caller decides what to stop
    late = "Toy is late; see its log"
    with pytest.raises(ServiceError, match=f"^{late}$"):
        wait_until_ready(
            process, lambda: False, name="Toy", timeout=0, late=lambda: late
        )


def test_server_without_a_log_file_writes_to_ours(tmp_path, started):
    """Without a log file the server's messages go to this process's own output."""
    process = start_server(_python("print('hello')"), cwd=tmp_path)
    started.append(process)
    with pytest.raises(ToolFailedError, match="status 0 while starting: see its"):
        wait_until_ready(process, lambda: None, name="Toy", timeout=120)


def test_server_runs_in_its_folder_with_its_environment(tmp_path, started):
    """The command gets the folder and the environment it is given, no input."""
    log = tmp_path / "server.log"
    process = start_server(
        _python("""
            import os, sys
            print(os.getcwd(), os.environ.get("TOY_SETTING"), sys.stdin.read() == "")
        """),
        cwd=tmp_path,
        env={**os.environ, "TOY_SETTING": "on"},
        log_path=log,
    )
    started.append(process)
    assert process.wait(120) == 0
    assert log.read_text().split() == [str(tmp_path), "on", "True"]


@posix_only
def test_stop_kills_a_server_that_ignores_sigterm(tmp_path, started, caplog):
    """A server that ignores SIGTERM is killed, with what it started."""
    log = tmp_path / "server.log"
    process = start_server(
        _python("""
            import signal, subprocess, sys, time
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            sleep = [sys.executable, "-c", "import time; time.sleep(600)"]
            child = subprocess.Popen(sleep)
            print("child", child.pid)
            time.sleep(600)
        """),
        cwd=tmp_path,
        log_path=log,
    )
    started.append(process)

    def child() -> int | None:
        found = re.search(r"child (\d+)", log.read_text())
        return int(found.group(1)) if found else None

    child_pid = wait_until_ready(process, child, name="Stubborn", timeout=120)
    with caplog.at_level(logging.WARNING, logger="squad"):
        stop_process(process, 0.5, "Stubborn")
    assert process.returncode == -signal.SIGKILL
    assert "Stubborn did not stop in 0 s; killing it" in caplog.text
    # The child inherited SIGTERM's "ignore" too; the kill of the group ends it.
    assert wait_until(lambda: not _alive(child_pid)), f"child {child_pid} survived"


def test_stop_leaves_an_ended_server_alone(tmp_path, started):
    """Stopping a server that has already exited does nothing."""
    process = start_server(_python("pass"), cwd=tmp_path)
    started.append(process)
    process.wait(120)
    stop_process(process, 0, "Done")
    assert process.returncode == 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl: Linux only")
def test_server_ends_when_its_starter_is_killed(tmp_path):
    """A server gets SIGTERM when the command that started it dies, even by SIGKILL."""
    starter = subprocess.Popen(
        _python(f"""
            import sys, time
            from squad.servers import start_server
            server = start_server(
                [sys.executable, "-c", "import time; time.sleep(600)"],
                cwd={str(tmp_path)!r},
            )
            print(server.pid, flush=True)
            time.sleep(600)
        """),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        server_pid = int(starter.stdout.readline())
        starter.kill()
        starter.wait(120)
        assert wait_until(lambda: not _alive(server_pid)), f"{server_pid} outlived it"
    finally:
        if starter.poll() is None:
            starter.kill()
            starter.wait()
        starter.stdout.close()


def test_responds_is_false_where_nothing_listens():
    """A port nobody listens on is "not yet", not an error."""
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))  # bound, never listening: connections refused
        assert responds(f"http://127.0.0.1:{unused.getsockname()[1]}/") is False


def test_log_tail_reads_the_last_line(tmp_path):
    """The last non-blank line, or a hint when there is no log to read."""
    log = tmp_path / "server.log"
    log.write_text("one\n  two  \n\n")
    assert log_tail(log) == "two"
    assert log_tail(Path(tmp_path / "missing.log")) == "see its messages above"
