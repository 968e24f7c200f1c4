"""Tests for squad.workers: the local process pool sweeps and grading submit to."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import pytest

from squad.workers import open_executor
from tests.support.waiting import wait_until


@pytest.mark.parametrize("jobs", [0, -1, True, 1.5])
def test_open_executor_rejects_bad_jobs(jobs):
    """A job count that is not a positive integer names the option to fix."""
    with (
        pytest.raises(ValueError, match=r"--jobs N\); got"),
        open_executor(jobs=jobs),
    ):
        pass


def test_open_executor_workers_start_like_the_caller(tmp_path, monkeypatch):
    """Workers see the caller's environment and folder, and warm up first."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SQUAD_TEST_WORKER", "from the caller")
    warm = tmp_path / "warm"
    with open_executor(jobs=1, warm_up=functools.partial(Path.touch, warm)) as executor:
        assert executor.submit(os.getenv, "SQUAD_TEST_WORKER").result(60) == (
            "from the caller"
        )
        assert Path(executor.submit(os.getcwd).result(60)) == tmp_path
        assert executor.submit(os.path.exists, str(warm)).result(60)


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_open_executor_stops_its_workers_when_interrupted():
    """An error in the caller stops the pool's workers and is raised as it was."""
    with pytest.raises(RuntimeError, match="stop"), open_executor(jobs=1) as executor:
        pid = executor.submit(os.getpid).result(60)
        raise RuntimeError("stop")
    assert wait_until(lambda: _gone(pid), timeout=60), f"worker {pid} still runs"
