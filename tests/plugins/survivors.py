"""No process outlives the suite.

Every process the tests start inherits the ``SQUAD_TEST_SESSION`` environment variable
set here (sandboxed kernels, whose environment is cleared, die with their parent by
construction and are checked by their own tests). When the session ends, processes that
still carry it are survivors: servers, kernels or workers that a test or the kit failed
to stop. The session then fails, naming them.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest

SESSION_VARIABLE = "SQUAD_TEST_SESSION"

#: Helpers of Python's multiprocessing that end with the test process itself.
_EXITS_WITH_PYTEST = ("multiprocessing.forkserver", "multiprocessing.resource_tracker")


def _survivors(marker: str) -> list[Any]:
    """Processes other than this one and its own helpers that carry ``marker``."""
    import psutil

    me = psutil.Process()
    found = []
    for process in psutil.process_iter(["pid", "ppid", "cmdline"]):
        if process.pid == me.pid:
            continue
        try:
            if process.environ().get(SESSION_VARIABLE) != marker:
                continue
        except (psutil.Error, OSError):
            continue
        command = " ".join(process.info["cmdline"] or [])
        if process.info["ppid"] == me.pid and any(
            helper in command for helper in _EXITS_WITH_PYTEST
        ):
            continue
        found.append(process)
    return found


@pytest.fixture(scope="session", autouse=True)
def no_process_outlives_the_suite():
    """Mark every process the suite starts; fail the session if one is left running."""
    import psutil

    marker = uuid.uuid4().hex
    previous = os.environ.get(SESSION_VARIABLE)
    os.environ[SESSION_VARIABLE] = marker
    yield
    try:
        # Stopping takes a moment (kernels shut down, workers exit): wait for it.
        _, alive = psutil.wait_procs(_survivors(marker), timeout=60)
        if alive:
            lines = []
            for process in alive:
                try:
                    command = " ".join(process.cmdline())
                except psutil.Error:
                    continue  # ended after all
                lines.append(f"pid {process.pid}: {command[:300]}")
            if lines:
                survivors = "\n".join(lines)
                pytest.fail(f"processes started by the suite still run:\n{survivors}")
    finally:
        if previous is None:
            os.environ.pop(SESSION_VARIABLE, None)
        else:
            os.environ[SESSION_VARIABLE] = previous
