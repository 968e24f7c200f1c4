"""The scoring queue: submission rows in the database, scored in worker processes.

A `ScoringQueue` runs beside the web server, in a thread of its own. It claims the
oldest ``queued`` row with one ``UPDATE ... WHERE status = 'queued'`` (a row is claimed
by one claimer only, however many run), hands the file to a worker process of
:func:`squad.workers.open_executor` and writes the result back. When the server starts,
rows left ``scoring`` by a server that stopped are queued again
(:func:`requeue_unfinished`), so nothing is lost and nothing is scored twice at once.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import threading
from pathlib import Path
from typing import Any

from squad.challenges.scoring import score_upload

__all__ = ["ScoringQueue", "claim_next", "record_result", "requeue_unfinished"]

logger = logging.getLogger("squad")


def requeue_unfinished() -> int:
    """Queue again every row a stopped server left ``scoring``; return how many."""
    from squad.challenges.models import Submission

    return Submission.objects.filter(status=Submission.SCORING).update(
        status=Submission.QUEUED
    )


def claim_next():
    """Claim the oldest queued submission for scoring; None when the queue is empty."""
    from django.db.models import F
    from django.utils import timezone

    from squad.challenges.models import Submission

    while True:
        candidate = (
            Submission.objects.filter(status=Submission.QUEUED)
            .order_by("id")
            .values_list("id", flat=True)
            .first()
        )
        if candidate is None:
            return None
        claimed = Submission.objects.filter(
            pk=candidate, status=Submission.QUEUED
        ).update(
            status=Submission.SCORING,
            started=timezone.now(),
            n_scorings=F("n_scorings") + 1,
        )
        if claimed:
            return Submission.objects.get(pk=candidate)


def record_result(submission_id: int, result: dict[str, Any], metric: str) -> None:
    """Write a worker's result to its row: scores, or a failure that stops counting."""
    from django.utils import timezone

    from squad.challenges.models import Submission

    rows = Submission.objects.filter(pk=submission_id, status=Submission.SCORING)
    if "error" in result:
        rows.update(
            status=Submission.FAILED,
            error=result["error"][:500],
            counted=False,
            scored=timezone.now(),
        )
        return
    rows.update(
        status=Submission.SCORED,
        error="",
        public_scores=result["public"],
        private_scores=result["private"],
        public_score=result["public"][metric],
        private_score=result["private"][metric],
        scored=timezone.now(),
    )


class ScoringQueue:
    """Score queued submissions in worker processes until stopped.

    Parameters
    ----------
    config : ChallengeConfig
        The challenge.
    state_dir : Path
        The server's folder (uploads in ``uploads/``).
    jobs : int, default=2
        Worker processes, and submissions scored at once.
    data_home : str, default=None
        See :func:`squad.get_data_home`.
    poll : float, default=0.2
        Seconds between looks at an empty queue.
    """

    def __init__(
        self,
        config,
        state_dir: Path,
        *,
        jobs: int = 2,
        data_home: str | None = None,
        poll: float = 0.2,
    ) -> None:
        self.config = config
        self.state_dir = Path(state_dir)
        self.jobs = jobs
        self.data_home = data_home
        self.poll = poll
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="squad-scoring")

    def start(self) -> None:
        """Queue unfinished rows again and start the scoring thread."""
        n = requeue_unfinished()
        if n:
            logger.info("Queued again %s submission(s) left unscored", n)
        self._thread.start()

    def wake(self) -> None:
        """Look at the queue now (a submission has just arrived)."""
        self._wake.set()

    def stop(self) -> None:
        """Stop claiming, wait for the submissions being scored, and end."""
        self._stop.set()
        self._wake.set()
        self._thread.join()

    def _run(self) -> None:
        from django.db import close_old_connections

        from squad.workers import open_executor

        pending: dict[cf.Future, int] = {}
        with open_executor(
            jobs=self.jobs, preload=["squad.challenges.scoring"]
        ) as executor:
            try:
                while not self._stop.is_set() or pending:
                    while not self._stop.is_set() and len(pending) < self.jobs:
                        row = claim_next()
                        if row is None:
                            break
                        path = str(self.state_dir / "uploads" / row.stored)
                        future = executor.submit(
                            score_upload, path, self.config, self.data_home
                        )
                        pending[future] = row.pk
                    if pending:
                        done, _ = cf.wait(
                            pending, timeout=self.poll, return_when=cf.FIRST_COMPLETED
                        )
                        for future in done:
                            self._finish(pending.pop(future), future)
                    else:
                        self._wake.wait(self.poll)
                        self._wake.clear()
                    close_old_connections()
            finally:
                from django.db import connection

                connection.close()

    def _finish(self, submission_id: int, future: cf.Future) -> None:
        try:
            result = future.result()
        except Exception as err:  # a bug in scoring: the row says so, and stays out
            logger.exception("Scoring submission %s failed", submission_id)
            result = {"error": f"The server could not score this file ({err})."}
        record_result(submission_id, result, self.config.metric)
