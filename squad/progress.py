"""Progress of long jobs (sweeps, grading): a bar on a terminal, plain lines in a log.

A redrawing progress bar is right on a terminal and wrong in a log file: CI logs and
``make run > log`` would keep every carriage-return redraw on one line. `progress`
shows a tqdm bar when standard error is a terminal, and otherwise prints one line per
finished item, with the count, the item and its outcome.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import IO, Any

__all__ = ["LineProgress", "progress"]


class LineProgress:
    """One line per finished item: ``[3/10] coding: 1a2b3c ok (ok=3 failed=0)``.

    Parameters
    ----------
    total : int
        The number of items.
    desc : str
        What is being done, printed at the start of each line.
    stream : file-like, default=None
        Where lines go (default: standard error).

    Examples
    --------
    >>> import io
    >>> out = io.StringIO()
    >>> bar = LineProgress(2, "grading ps1", stream=out)
    >>> bar.step("ana: graded", ok=1)
    >>> bar.step("ben: timed out", ok=1, failed=1)
    >>> print(out.getvalue(), end="")
    [1/2] grading ps1: ana: graded (ok=1)
    [2/2] grading ps1: ben: timed out (ok=1 failed=1)
    """

    def __init__(self, total: int, desc: str, stream: IO[str] | None = None) -> None:
        self.total, self.desc, self.done = total, desc, 0
        self._stream = stream

    def step(self, detail: str = "", **counts: Any) -> None:
        """Count one finished item and print its line."""
        self.done += 1
        line = f"[{self.done}/{self.total}] {self.desc}"
        if detail:
            line += f": {detail}"
        if counts:
            line += " (" + " ".join(f"{k}={v}" for k, v in counts.items()) + ")"
        stream = self._stream or sys.stderr
        print(line, file=stream, flush=True)


class _BarProgress:
    """The same interface over a tqdm bar, for terminals."""

    def __init__(self, bar: Any) -> None:
        self._bar = bar

    def step(self, detail: str = "", **counts: Any) -> None:
        if counts:
            self._bar.set_postfix(counts, refresh=False)
        elif detail:
            self._bar.set_postfix_str(detail, refresh=False)
        self._bar.update(1)


class _NoProgress:
    def step(self, detail: str = "", **counts: Any) -> None:
        """Show nothing."""


def _is_terminal(stream: IO[str]) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


@contextlib.contextmanager
def progress(
    total: int, desc: str, *, unit: str = "item", enabled: bool = True
) -> Iterator[LineProgress | _BarProgress | _NoProgress]:
    """Report progress over ``total`` items; call ``step(detail, **counts)`` per item.

    Parameters
    ----------
    total : int
        The number of items.
    desc : str
        What is being done (for example the experiment or assignment).
    unit : str, default="item"
        The unit the bar counts in.
    enabled : bool, default=True
        False shows nothing.

    Yields
    ------
    object
        With a ``step(detail="", **counts)`` method: a tqdm bar on a terminal, one
        printed line per item otherwise.

    Examples
    --------
    >>> with progress(1, "demo", enabled=False) as bar:
    ...     bar.step("done")
    """
    if not enabled:
        yield _NoProgress()
        return
    if not _is_terminal(sys.stderr):
        yield LineProgress(total, desc)
        return
    from tqdm.auto import tqdm

    with tqdm(total=total, desc=desc, unit=unit, dynamic_ncols=True) as bar:
        yield _BarProgress(bar)
