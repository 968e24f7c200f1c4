"""The one pre-started-kernel mechanism (squad.kernels.prestart), with real kernels."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil
import pytest

from squad.kernels import prestart
from squad.kernels.pool import start_sweep_kernel
from tests.support.waiting import wait_until

KEY = ("python3", None)


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@pytest.mark.skipif(os.name != "posix", reason="uses os.kill(pid, 0)")
def test_clear_dead_folders_removes_only_those_of_dead_processes():
    """Folders of any kind whose process is gone go; those of live processes stay."""
    tmp = Path(tempfile.gettempdir())
    dead = [tmp / f"squad-{kind}-{_dead_pid()}-test" for kind in ("grade", "kernel")]
    alive = tmp / f"squad-grade-{os.getppid()}-test"
    for folder in (*dead, alive):
        folder.mkdir()
    try:
        removed = prestart.clear_dead_folders()
        assert set(dead) <= set(removed)
        assert not any(folder.exists() for folder in dead)
        assert alive.exists() and alive not in removed
    finally:
        for folder in (*dead, alive):
            if folder.exists():
                folder.rmdir()


def _process(kernel: prestart.StartedKernel) -> psutil.Process:
    return psutil.Process(kernel.km.provisioner.process.pid)


@pytest.mark.slow
def test_a_kernel_is_taken_once_and_gone_after_release():
    """A pre-started kernel answers, is handed out once, and release ends it whole."""
    starter = prestart.Prestarter(start_sweep_kernel)
    try:
        starter.prestart(KEY)
        kernel, _ = starter.acquire(KEY)  # the waiting one; the next starts now
        assert kernel.prestarted and kernel.base.is_dir()
        process = _process(kernel)
        assert starter.take(("python3", "/elsewhere")) is None  # another key
        assert starter.n_waiting == 0  # ... and the waiting kernel was discarded
        starter.release(kernel)
        assert wait_until(lambda: not process.is_running(), timeout=120)
        assert wait_until(lambda: not kernel.base.exists(), timeout=120)
    finally:
        starter.close()


@pytest.mark.slow
def test_an_unclaimed_kernel_expires(monkeypatch):
    """A kernel nobody takes within IDLE_SECONDS is shut down and never handed out."""
    monkeypatch.setattr(prestart, "IDLE_SECONDS", 1)
    pattern = f"squad-kernel-{os.getpid()}-*"
    before = set(Path(tempfile.gettempdir()).glob(pattern))
    starter = prestart.Prestarter(start_sweep_kernel)
    try:
        starter.prestart(KEY)
        assert wait_until(lambda: starter.n_waiting == 0, timeout=120)
        assert starter.take(KEY) is None
    finally:
        starter.close()

    def leftovers() -> set[Path]:
        return set(Path(tempfile.gettempdir()).glob(pattern)) - before

    assert wait_until(lambda: not leftovers(), timeout=120), leftovers()


def test_a_kernel_that_cannot_start_says_why(tmp_path, monkeypatch):
    """A kernel that dies at start names its own last error line, and blames the
    machine's set-up rather than the notebook."""
    spec = tmp_path / "kernels" / "broken"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-c", "import squad_no_such_module", "{connection_file}"]
    (spec / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "broken", "language": "python"})
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    with pytest.raises(prestart.KernelStartError) as caught:
        start_sweep_kernel(("broken", None))
    message = str(caught.value)
    assert "The kernel 'broken' could not start" in message
    assert "ModuleNotFoundError: No module named 'squad_no_such_module'" in message
    assert "not of the notebook" in message
