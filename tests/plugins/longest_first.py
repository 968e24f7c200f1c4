"""The longest test files first, so that both workers finish together."""

from __future__ import annotations

import pytest

#: The test files that take longest (seconds of one worker, measured on a quiet 2-core
#: machine with `--durations`), longest first. pytest-xdist hands out whole files in
#: collection order (``--dist loadfile --no-loadscope-reorder``): starting with the long
#: ones lets the short ones fill in at the end, so both workers finish together instead
#: of one running the hub or the course workflow alone for the last minutes.
LONGEST_FIRST = (
    "tests/hub/test_real_hub.py",
    "tests/course/test_workflow.py",
    "tests/course/test_lab_browser.py",
    "tests/grading/test_grade.py",
    "tests/grading/test_hostile.py",
    "tests/runs/test_sweep.py",
    "tests/project/test_readme.py",
    "tests/grading/test_hidden_leaks.py",
    "tests/cli/test_commands.py",
    "tests/course/test_lab.py",
    "tests/board/test_leaderboard.py",
    "tests/grading/test_isolation.py",
    "tests/kernels/test_sandbox.py",
)


def _longest_first(item: pytest.Item) -> int:
    relative = item.path.relative_to(item.config.rootpath).as_posix()
    try:
        return LONGEST_FIRST.index(relative)
    except ValueError:
        return len(LONGEST_FIRST)


def pytest_collection_modifyitems(session, config, items) -> None:
    """Put the longest files first."""
    items.sort(key=_longest_first)  # stable: each file keeps its own order
