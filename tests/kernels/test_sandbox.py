"""Tests for squad.kernels.sandbox that start kernels: isolation, limits and clean-up."""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
import uuid
from pathlib import Path

import nbformat
import pytest
from jupyter_client import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError
from traitlets.config import Config

from squad.kernels import sandbox
from squad.kernels.sandbox import (
    AsyncSandboxedKernelManager,
    SandboxPolicy,
    make_kernel_manager,
    prepare_workdir,
    sandbox_capabilities,
)
from tests.support.waiting import wait_until

HOSTILE = Path(__file__).parents[1] / "fixtures" / "hostile"
LINUX = sys.platform.startswith("linux")
INSTALL = "install bubblewrap (apt-get install bubblewrap)"


def _require_bwrap() -> None:
    if LINUX and shutil.which("bwrap") is None:
        pytest.fail(f"bwrap is not on this Linux machine: {INSTALL}")


def _snippet(name: str, **values: object) -> str:
    """Read a hostile snippet and fill in its ``{placeholders}``."""
    text = (HOSTILE / f"{name}.py.in").read_text()
    for key, value in values.items():
        text = text.replace("{" + key + "}", repr(value))
    return text


def _notebook(*sources: str) -> nbformat.NotebookNode:
    cells = [nbformat.v4.new_code_cell(textwrap.dedent(src)) for src in sources]
    return nbformat.v4.new_notebook(cells=cells)


def _result(cell: nbformat.NotebookNode) -> dict:
    """The JSON printed on the last stdout line of a cell."""
    text = "".join(o.get("text", "") for o in cell.outputs if o.get("name") == "stdout")
    assert text.strip(), f"cell printed nothing: {cell.outputs}"
    return json.loads(text.strip().splitlines()[-1])


def _processes_with(marker: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


@pytest.fixture
def course(tmp_path):
    """A fake course: a hidden folder with a gradebook beside a readable file."""
    tmp_path.chmod(0o755)
    (tmp_path / "course").mkdir(mode=0o755)
    (tmp_path / "course" / "gradebook.db").write_text("grades")
    public = tmp_path / "public.txt"
    public.write_text("public")
    public.chmod(0o666)  # only a read-only mount can stop a write
    return tmp_path


@pytest.fixture
def workdir(tmp_path):
    sub = tmp_path / "submitted" / "ana" / "ps1"
    sub.mkdir(parents=True)
    (sub / "ps1.ipynb").write_text("{}")
    work = prepare_workdir(sub)
    yield work
    shutil.rmtree(work, ignore_errors=True)


@pytest.fixture
def listener():
    """A TCP listener on the loopback interface of the grader's network."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(0.3)
    yield server
    server.close()


@pytest.fixture
def empty_path(monkeypatch):
    """PATH without bwrap or unshare; the machine is probed again afterwards."""
    monkeypatch.setenv("PATH", "/nonexistent")
    yield
    monkeypatch.undo()
    sandbox.sandbox_capabilities(refresh=True)


def test_sandbox_capabilities_finds_bubblewrap():
    """On Linux bubblewrap, unshare and setrlimit all work (set-up installs bwrap)."""
    if not LINUX:
        pytest.skip("bubblewrap is Linux-only")
    _require_bwrap()
    caps = sandbox_capabilities(refresh=True)
    assert caps.bwrap is not None, f"bwrap found but not working: {caps.problems}"
    assert caps.isolation == "bwrap"
    assert caps.unshare is not None
    assert set(caps.rlimits) == {
        "RLIMIT_AS",
        "RLIMIT_CPU",
        "RLIMIT_NPROC",
        "RLIMIT_FSIZE",
    }


def test_sandbox_capabilities_without_bwrap_warns(empty_path, caplog):
    """Without bwrap or unshare the sandbox degrades, says why and refuses 'bwrap'."""
    with caplog.at_level(logging.WARNING, logger="squad"):
        caps = sandbox_capabilities(refresh=True)
    assert caps.bwrap is None and caps.unshare is None
    assert caps.isolation == ("rlimits" if os.name == "posix" else "none")
    assert "network isolation" in caplog.text and INSTALL in caplog.text
    with pytest.raises(
        OSError, match=r"'bwrap' does not work.*apt-get install bubblewrap"
    ):
        make_kernel_manager(SandboxPolicy(isolation="bwrap"), Path.cwd())


def test_make_kernel_manager_needs_workdir():
    """Without a working directory there is nothing safe to run in."""
    with pytest.raises(ValueError, match="needs a workdir"):
        make_kernel_manager(SandboxPolicy(isolation="none"))


@pytest.mark.slow
def test_sandbox_probes_detect_an_open_kernel(workdir, course, listener, monkeypatch):
    """Control: without the sandbox the probes see the secret, network and files."""
    monkeypatch.setenv("SQUAD_TEST_SECRET", "s3cret")
    port = listener.getsockname()[1]
    nb = _notebook(
        _snippet("escape", port=port, course=str(course), other=str(workdir))
    )
    client = NotebookClient(nb, km=AsyncKernelManager(), timeout=30)
    client.execute(cwd=str(workdir), cleanup_kc=True)
    seen = _result(nb.cells[0])
    assert seen["secret"] == "s3cret"
    assert seen["connect"] == "connected"
    assert listener.accept()[0] is not None
    assert seen["gradebook"] == "grades"
    assert seen["public_write"] == "written"
    assert seen["other_student"] is True


@pytest.mark.slow
def test_sandboxed_kernel_stops_hostile_code(
    workdir, course, listener, monkeypatch, tmp_path
):
    """Under bubblewrap every hostile snippet is contained; honest code still works."""
    _require_bwrap()
    monkeypatch.setenv("SQUAD_TEST_SECRET", "s3cret")
    other = prepare_workdir(tmp_path / "submitted" / "ana" / "ps1")  # another student
    policy = SandboxPolicy(
        memory_mb=512,
        cpu_seconds=4,
        max_processes=32,
        max_output_file_mb=10,
        readable_paths=[course],
        hidden_paths=[course / "course"],
        isolation="bwrap",
    )
    port = listener.getsockname()[1]
    nb = _notebook(
        "import statistics\nstatistics.mean([1, 2, 3, 6])",
        _snippet("memory_bomb"),
        _snippet("fork_bomb", n=200),
        _snippet("big_file", mb=100),
        _snippet("escape", port=port, course=str(course), other=str(other)),
        "import os, json\nos.kill(os.getppid(), 9)\nprint(json.dumps(os.getppid()))",
        "print('{\"alive\": true}')",
        "while True:\n    pass",
    )
    km = make_kernel_manager(policy, workdir)
    # The last cell loops forever: only the CPU limit ends it, by killing the kernel
    # (DeadKernelError). Were the limit missing, the client's generous cell timeout
    # would end it with a CellTimeoutError instead, and the test would fail.
    client = NotebookClient(nb, km=km, timeout=300, allow_errors=True)
    try:
        with pytest.raises(DeadKernelError), client.setup_kernel(cleanup_kc=True):
            for index, cell in enumerate(nb.cells):
                client.execute_cell(cell, index)
    finally:
        shutil.rmtree(other, ignore_errors=True)

    assert nb.cells[0].outputs[0]["data"]["text/plain"] == "3"
    memory = _result(nb.cells[1])
    assert memory == {"small": "ok", "big": "MemoryError"}
    fork = _result(nb.cells[2])
    assert 0 < fork["started"] < 32, fork
    assert fork["error"] == "BlockingIOError"
    big = _result(nb.cells[3])
    assert big["errno"] == 27  # EFBIG
    assert (workdir / "big.bin").stat().st_size == 10 * 1024 * 1024
    escape = _result(nb.cells[4])
    assert escape["secret"] is None
    assert escape["home"] == str(workdir)
    assert escape["connect"] in ("ConnectionRefusedError", "OSError")
    with pytest.raises(TimeoutError):
        listener.accept()
    assert escape["gradebook"] == "FileNotFoundError"
    assert escape["course_listing"] == []
    assert escape["public"] == "public"
    assert escape["public_write"] == "OSError 30"  # EROFS
    assert escape["other_student"] is False
    assert escape["uid"] != 0 or os.geteuid() != 0
    assert _result(nb.cells[6]) == {"alive": True}
    assert nb.cells[7].outputs == [], "the endless loop ended some other way"


@pytest.mark.slow
def test_sandboxed_kernel_interrupts_and_leaves_nothing_behind(workdir):
    """nbgrader-style set-up: a timed-out cell is interrupted; no daemon survives."""
    _require_bwrap()
    marker = f"squad-daemon-{uuid.uuid4().hex}"
    policy = SandboxPolicy(memory_mb=1024, isolation="bwrap")
    config = Config()
    config.AsyncSandboxedKernelManager.policy = policy
    nb = _notebook(
        "import time\ntime.sleep(60)",
        "import json, os\nprint(json.dumps({'after': 1, 'cwd': os.getcwd()}))",
        _snippet("daemon", marker=marker),
    )
    seen_while_running = {}

    def look_for_daemon(cell, cell_index, **_):
        if cell_index == 2:
            # On a loaded machine the daemon can show in /proc a moment after its cell
            # has answered: wait for it (bounded) instead of looking once.
            wait_until(lambda: _processes_with(marker), timeout=10)
        seen_while_running[cell_index] = _processes_with(marker)

    client = NotebookClient(
        nb,
        kernel_manager_class=AsyncSandboxedKernelManager,
        config=config,
        timeout=3,
        interrupt_on_timeout=True,
        error_on_timeout={"ename": "CellTimeoutError", "evalue": "", "traceback": []},
        allow_errors=True,
        on_cell_executed=look_for_daemon,
    )
    # The first cell sleeps for 60 s; only the interrupt ends it early with an error.
    client.execute(cwd=str(workdir))  # the workdir, as nbgrader passes it
    errors = [o for o in nb.cells[0].outputs if o.output_type == "error"]
    assert errors and errors[0].ename in ("KeyboardInterrupt", "CellTimeoutError")
    assert _result(nb.cells[1]) == {"after": 1, "cwd": str(workdir)}
    assert seen_while_running[2], f"the daemon never started: {nb.cells[2].outputs}"
    # The daemon dies with the sandbox's PID namespace; that takes a moment.
    assert wait_until(lambda: _processes_with(marker) == [], timeout=60), (
        _processes_with(marker)
    )


# A server and a client on the kernel's own loopback interface (inside its namespace).
_OWN_LOOPBACK = """
import json, socket
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen(1)
socket.create_connection(server.getsockname(), timeout=5).close()
print(json.dumps({"loopback": "ok"}))
"""


@pytest.mark.slow
def test_fallback_sandbox_limits_and_warns(workdir, listener, monkeypatch, caplog):
    """Without bubblewrap, `unshare -n` and rlimits cut network, memory and files."""
    if not LINUX:
        pytest.skip("unshare is Linux-only")
    monkeypatch.setenv("SQUAD_TEST_SECRET", "s3cret")
    policy = SandboxPolicy(memory_mb=512, max_output_file_mb=10, isolation="unshare")
    port = listener.getsockname()[1]
    nb = _notebook(
        _snippet("memory_bomb"),
        _snippet("big_file", mb=100),
        _snippet("escape", port=port, course="/nonexistent", other="/nonexistent"),
        _OWN_LOOPBACK,
    )
    km = make_kernel_manager(policy, workdir)
    with caplog.at_level(logging.WARNING, logger="squad"):
        NotebookClient(nb, km=km, timeout=30).execute(cleanup_kc=True)
    km_log = caplog.text
    assert (
        "Kernel sandbox (unshare) lacks" in km_log and "filesystem isolation" in km_log
    )
    assert _result(nb.cells[0]) == {"small": "ok", "big": "MemoryError"}
    assert _result(nb.cells[1])["errno"] == 27
    escape = _result(nb.cells[2])
    assert escape["secret"] is None
    assert escape["connect"] in ("ConnectionRefusedError", "OSError")
    with pytest.raises(TimeoutError):
        listener.accept()
    # the kernel's own loopback works, as under bubblewrap: papermill can start a kernel
    assert _result(nb.cells[3]) == {"loopback": "ok"}


_IMPORT_IN_SANDBOX = """
import sys, tempfile
import nbformat
from nbclient import NotebookClient
from squad.kernels.sandbox import SandboxPolicy, check_kernel_start, make_kernel_manager

policy = SandboxPolicy(isolation="bwrap")
check_kernel_start(policy, modules=("ipykernel", "squad", "squad_probe_module"))
code = "import squad_probe_module; print(squad_probe_module.ANSWER)"
nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
NotebookClient(nb, km=make_kernel_manager(policy, tempfile.mkdtemp())).execute()
print(nb.cells[0].outputs[0]["text"].strip())
"""


@pytest.mark.slow
@pytest.mark.skipif(not LINUX, reason="bubblewrap is Linux-only")
def test_kernel_imports_packages_its_python_reaches_under_tmp():
    """A kit under /tmp, in a folder with a space, reached through a ``.pth`` file (as
    the hub's copy of the interpreter reaches the kit's packages): the sandboxed kernel
    imports from it, though the sandbox gives the kernel a /tmp of its own."""
    _require_bwrap()
    kit = Path(tempfile.mkdtemp(prefix="squad kit ", dir="/tmp"))
    try:
        packages = kit / "packages"
        packages.mkdir()
        (packages / "squad_probe_module.py").write_text("ANSWER = 42\n")
        env = kit / "env"
        subprocess.run(
            [sys.executable, "-m", "venv", "--without-pip", str(env)], check=True
        )
        [site] = (env / "lib").glob("python3*/site-packages")
        kit_packages = sysconfig.get_path("purelib")
        (site / "kit.pth").write_text(
            f"import site; site.addsitedir({kit_packages!r})\n{packages}\n"
        )
        done = subprocess.run(
            [str(env / "bin" / "python"), "-c", _IMPORT_IN_SANDBOX],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    finally:
        shutil.rmtree(kit)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "42"
