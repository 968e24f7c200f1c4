"""Wait for a condition, never for a length of time.

Tests on a shared 2-core machine cannot know how long a process takes to exit or a file
to appear. They wait until the condition holds, with a generous ceiling that only a real
failure reaches, and then assert on the condition itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(
    condition: Callable[[], object], *, timeout: float = 120.0, interval: float = 0.1
) -> bool:
    """Poll ``condition`` until it is true or ``timeout`` seconds have passed.

    Returns
    -------
    bool
        Whether the condition held; the caller asserts on it (or on the state itself)
        so that a failure names what did not happen.
    """
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return bool(condition())
        time.sleep(interval)
