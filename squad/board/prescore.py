"""Score many runs at once on local worker processes, before the board reads them.

Scoring a run (:func:`squad.board.scoring.score_run`) takes tens of milliseconds of
pandas work; a board of two thousand new runs is minutes of it on one core.
:func:`prescore` finds the runs whose score is not in the cache yet, scores them on
the kit's one kind of executor (:func:`squad.workers.open_executor`, a local
process pool without kernels) and puts the results in the cache; the board then reads
every score from it, through the same :func:`~squad.board.scoring.score_run` as
always. The workers run the same checks and code as a serial build: only where the
work happens changes. Few runs (under :data:`MIN_RUNS`) are scored in the process
itself, where starting workers would cost more than it saves.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from concurrent.futures import BrokenExecutor
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from squad.board.run import BoardRun

__all__ = ["MIN_RUNS", "prescore", "score_items"]

logger = logging.getLogger("squad")

#: Fewest runs to score worth starting worker processes for.
MIN_RUNS = 64
#: Runs a worker scores per task it is given (fewer round trips).
CHUNK = 16


def score_items(items: list[tuple[str, str, dict, str]]) -> list[tuple[str, dict]]:
    """Score ``(key, path, dataset, sha256)`` items; return ``(key, cache entry)``.

    Runs in a worker. Problems a cache keeps (an invalid file) become
    ``{"reason": ...}`` entries; others (a file changed since it was checked) are
    left for the build to meet and report itself.
    """
    from pathlib import Path

    from squad.board.scoring import score_file
    from squad.errors import FileProblemError, InvalidInputError

    out = []
    for key, path, dataset, sha256 in items:
        try:
            scored, bounds, current, digest = score_file(
                Path(path), dataset, None, sha256
            )
        except FileProblemError:
            continue
        except InvalidInputError as err:
            out.append((key, {"reason": str(err)}))
            continue
        except (OSError, ValueError, KeyError):
            continue
        entry = {
            "metrics": scored,
            "bounds": bounds,
            "sha256": current,
            "digest": digest,
        }
        out.append((key, entry))
    return out


def prescore(runs: Iterable[BoardRun], cache: Any, *, jobs: int | None = None) -> int:
    """Score on worker processes the runs whose score ``cache`` lacks; return how many.

    Parameters
    ----------
    runs : iterable of BoardRun
        Checked runs (those with a folder holding predictions are scored).
    cache : squad.board.cache.ScoreCache
        Where the scores go (a :class:`~squad.board.cache.MemoryScoreCache` for a
        build without a disk cache).
    jobs : int, optional
        Worker processes; default: the number of CPU cores. One scores nothing here.

    Returns
    -------
    int
        Runs handed to the workers (0 when there were too few to be worth it).
    """
    from squad.board.scoring import pending_score

    jobs = jobs or os.cpu_count() or 1
    todo = [
        item
        for run in runs
        if (item := pending_score(run.record, run.folder, cache)) is not None
    ]
    if jobs < 2 or len(todo) < MIN_RUNS:
        return 0
    from squad.workers import open_executor

    chunks = [todo[i : i + CHUNK] for i in range(0, len(todo), CHUNK)]
    jobs = min(jobs, len(chunks))
    logger.info("Scoring %s run(s) on %s worker processes", len(todo), jobs)
    try:
        with open_executor(jobs=jobs, preload=("squad.board.scoring",)) as pool:
            for results in pool.map(score_items, chunks):
                for key, entry in results:
                    cache.put(key, entry)
    except (BrokenExecutor, OSError, RuntimeError) as err:
        # The build scores whatever is missing itself, one run after another.
        logger.warning(
            "Scoring on worker processes stopped (%s); going on in this one", err
        )
    return len(todo)
