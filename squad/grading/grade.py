"""Parallel, sandboxed autograding that writes what ``nbgrader autograde`` writes.

:func:`grade_assignment` (the ``squad grade`` command) finds the submissions of one
assignment in an nbgrader course, sends each one to a worker on a
:class:`concurrent.futures.Executor` (a local process pool, or a Dask cluster; see
:func:`squad.workers.open_executor`) and, as results come back, writes them where
nbgrader would: the autograded notebooks in ``autograded/<student>/<assignment>/`` and
the scores and comments in the course's gradebook.

How the results equal nbgrader's
    Each worker runs nbgrader's own ``Autograde`` converter with the course's
    configuration, on a throwaway copy of the course holding only that submission, the
    assignment's data files and a private gradebook seeded with the assignment's rows and
    the student's existing rows (see :mod:`squad.grading.gradebook`). Only the ``Execute`` step
    is replaced, by one that runs the kernel in the sandbox and guards verdicts (see
    :mod:`squad.grading.worker`).

How gradebook writes stay safe
    Workers never open the course gradebook. This process is its only writer: it merges
    each student's rows in one transaction, inserting new rows and updating only the
    columns autograding owns, so manual scores and comments are never overwritten.

Every submission ends with an outcome (:class:`SubmissionOutcome`): ``graded``,
``skipped`` (already autograded; ``force`` regrades), ``rejected`` (with the reason),
``timeout``, ``memory`` (killed for memory) or ``error`` (the grader's own failure).
Each has a log file in ``reports/<assignment>/logs/``; ``summary.json``, the grades CSV
and the class report are written beside them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from pathlib import Path
from typing import Any

from squad._atomic import atomic_write_json, atomic_write_text, replace_folder
from squad.errors import FileProblemError, InvalidInputError, NotFoundError
from squad.grading.isolation import Isolation, resolve_isolation
from squad.grading.workspace import (
    Course,
    check_pattern,
    find_submissions,
    load_course,
    read_files,
    should_grade,
)
from squad.kernels.sandbox import SandboxPolicy, check_kernel_start
from squad.kernels.sandbox.policy import DEFAULT_MEMORY_MB

__all__ = [
    "Course",
    "GradingResult",
    "SubmissionOutcome",
    "grade_assignment",
    "load_course",
]

log = logging.getLogger("squad")

STATUSES = ("graded", "skipped", "rejected", "timeout", "memory", "error")
_OK = ("graded", "skipped")
_INLINE_BACKEND = "module://matplotlib_inline.backend_inline"


@dataclasses.dataclass
class SubmissionOutcome:
    """What happened to one submission.

    Attributes
    ----------
    student : str
    status : str
        One of ``graded``, ``skipped``, ``rejected``, ``timeout``, ``memory``, ``error``.
    message : str
        Why it was not graded, or notes on a graded one.
    score, max_score : float or None
        From the gradebook after the merge (manual scores count, as in nbgrader).
    lost : list of str
        Where a graded submission lost points, and why.
    tampering : list of str
        What the verdict guard had to restore or detected.
    notes : list of str
    seconds : float
    log_file : str or None
    """

    student: str
    status: str
    message: str = ""
    score: float | None = None
    max_score: float | None = None
    lost: list[str] = dataclasses.field(default_factory=list)
    tampering: list[str] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)
    seconds: float = 0.0
    log_file: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the submission has its autograded result."""
        return self.status in _OK


@dataclasses.dataclass
class GradingResult:
    """All outcomes of one ``squad grade`` run.

    Examples
    --------
    >>> result = GradingResult("ps1", [SubmissionOutcome("ana", "graded"),
    ...                                SubmissionOutcome("ben", "timeout")], Path("."))
    >>> result.counts()["timeout"], result.exit_code
    (1, 1)
    """

    assignment: str
    outcomes: list[SubmissionOutcome]
    report_dir: Path
    seconds: float = 0.0
    isolation: Isolation | None = None

    def counts(self) -> dict[str, int]:
        """Number of submissions per status."""
        counts = dict.fromkeys(STATUSES, 0)
        for outcome in self.outcomes:
            counts[outcome.status] = counts.get(outcome.status, 0) + 1
        return counts

    @property
    def exit_code(self) -> int:
        """0 when every submission was graded (or already was), else 1."""
        return 0 if all(o.ok for o in self.outcomes) else 1

    def summary(self) -> str:
        """A few lines for the terminal: counts, then every submission not graded."""
        counts = self.counts()
        labels = {
            "graded": "graded",
            "skipped": "already graded",
            "rejected": "rejected",
            "timeout": "timed out",
            "memory": "killed for memory",
            "error": "grader errors",
        }
        parts = [f"{counts[k]} {labels[k]}" for k in STATUSES if counts.get(k)]
        lines = [
            f"{self.assignment}: {len(self.outcomes)} submission(s) in "
            f"{self.seconds:.0f} s: " + (", ".join(parts) or "none")
        ]
        flagged = [o for o in self.outcomes if o.tampering]
        if flagged:
            lines.append(f"tampering detected in {len(flagged)} submission(s)")
        for outcome in self.outcomes:
            if not outcome.ok or outcome.tampering:
                why = outcome.message or "; ".join(outcome.tampering[:2])
                lines.append(f"  {outcome.student}: {outcome.status}: {why}")
        if self.isolation is not None:
            lines.append(self.isolation.describe())
        lines.append(f"Logs and reports: {self.report_dir}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "assignment": self.assignment,
            "seconds": round(self.seconds, 3),
            "counts": self.counts(),
            "isolation": self.isolation.to_dict() if self.isolation else None,
            "outcomes": [dataclasses.asdict(o) for o in self.outcomes],
        }


def _policy(
    course: Course,
    memory_mb: int | None,
    cpu_seconds: int | None,
    max_processes: int | None,
    isolation: str,
) -> SandboxPolicy:
    return SandboxPolicy(
        memory_mb=memory_mb,
        cpu_seconds=cpu_seconds,
        max_processes=max_processes,
        hidden_paths=(course.root,),
        # The kernel starts without its folder on sys.path, so that files submitted
        # beside the notebook (an ipykernel_launcher.py, say) cannot run before the
        # guard; the guard's bootstrap puts the folder back, as nbgrader has it.
        env={"MPLBACKEND": _INLINE_BACKEND, "PYTHONSAFEPATH": "1"},
        isolation=isolation,
    )


#: Imported once by the fork server, not by each local worker (about 1.5 CPU-s each).
WORKER_PRELOAD = (
    "squad.grading.worker",
    "squad.grading.execute",
    "nbgrader.converters",
    "sqlalchemy.orm",
)


class _Grader:
    """The grader process's side: builds tasks, writes results, owns the gradebook."""

    def __init__(self, course: Course, assignment: str, settings: dict[str, Any]):
        from nbgrader.api import Gradebook

        from squad.grading.gradebook import make_seed

        self.course, self.assignment, self.settings = course, assignment, settings
        self.seed, structure = make_seed(course.db_url, assignment)
        self.assignment_row_id = structure["assignment"][0]["id"]
        self.notebooks = sorted(row["name"] for row in structure["notebook"])
        self.kernel_name = "python3"
        for row in structure["notebook"]:
            with contextlib.suppress(TypeError, ValueError, AttributeError):
                spec = json.loads(row.get("kernelspec") or "{}")
                self.kernel_name = spec.get("name") or self.kernel_name
        self.gradebook = Gradebook(course.db_url, course.course_id)
        coursedir = course.coursedir
        source = course.path(coursedir.source_directory, ".", assignment)
        self.ignore = list(coursedir.ignore)
        self.max_kb = int(coursedir.max_file_size)
        self.source_files, _ = read_files(
            source, self.ignore, self.max_kb, notebooks=False
        )
        self.logs = course.report_dir(assignment) / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.sources: Any = None  # the assignment's source cells, read at first need

    def close(self) -> None:
        self.gradebook.close()

    def task(self, student: str) -> Any:
        from squad.grading.gradebook import read_submission
        from squad.grading.worker import GradeTask

        coursedir = self.course.coursedir
        folder = self.course.path(
            coursedir.submitted_directory, student, self.assignment
        )
        files, notes = read_files(folder, self.ignore, self.max_kb)
        conn = self.gradebook.db.connection()
        rows = read_submission(conn, self.assignment_row_id, student)
        self.gradebook.db.commit()
        return GradeTask(
            assignment=self.assignment,
            student=student,
            notebooks=self.notebooks,
            kernel_name=self.kernel_name,
            config=self.course.config,
            files=files,
            source_files=self.source_files,
            seed=self.seed,
            rows=rows,
            assignment_row_id=self.assignment_row_id,
            policy=self.settings["policy"],
            notebook_timeout=self.settings["notebook_timeout"],
            output_limit=self.settings["output_limit"],
            notes=notes,
        )

    def _write_autograded(self, student: str, files: dict[str, tuple[bytes, int]]):
        coursedir = self.course.coursedir
        dest = self.course.path(
            coursedir.autograded_directory, student, self.assignment
        )
        if not files:
            shutil.rmtree(dest, ignore_errors=True)
            return
        tmp = dest.parent / f".{dest.name}.squad-tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        for name, (data, mode) in files.items():
            path = tmp / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            path.chmod(mode)
        replace_folder(tmp, dest)

    def finish(self, student: str, ret: Any) -> SubmissionOutcome:
        """Merge one worker result into the gradebook and the course folders."""
        from squad.grading.gradebook import merge_submission
        from squad.grading.score import (
            assignment_sources,
            submission_results,
            submission_score,
        )

        outcome = SubmissionOutcome(
            student,
            ret.status,
            ret.message,
            tampering=ret.tampering,
            notes=ret.notes,
            seconds=ret.seconds,
        )
        gb = self.gradebook
        try:
            if ret.rows is not None:
                merge_submission(gb.db.connection(), ret.rows)
                gb.db.commit()
            self._write_autograded(student, ret.files if ret.status == "graded" else {})
            if ret.status == "graded":
                autograded = self.course.path(
                    self.course.coursedir.autograded_directory, student, self.assignment
                )
                if self.sources is None:
                    self.sources = assignment_sources(gb, self.assignment)
                results = submission_results(
                    gb, self.assignment, student, autograded, sources=self.sources
                )
                outcome.score = submission_score(results)
                outcome.max_score = self.sources.max_score
                for item in results:
                    if item["status"] != "passed":
                        outcome.lost.append(
                            f"{item['grade_id']}: {item['score']:g}/"
                            f"{item['max_score']:g} {item['status']}"
                            + (f" ({item['message']})" if item["message"] else "")
                        )
            gb.db.commit()
        except Exception as err:
            gb.db.rollback()
            log.exception("Writing the result of %s failed", student)
            outcome.status = "error"
            outcome.message = f"writing the result failed: {type(err).__name__}: {err}"
        self.write_log(outcome, ret.log)
        return outcome

    def write_log(self, outcome: SubmissionOutcome, text: str = "") -> None:
        head = [
            f"student: {outcome.student}",
            f"assignment: {self.assignment}",
            f"status: {outcome.status}",
            f"message: {outcome.message}",
        ]
        if outcome.score is not None:
            head.append(f"score: {outcome.score:g} / {outcome.max_score:g}")
        head += [f"lost: {item}" for item in outcome.lost]
        head += [f"tampering: {item}" for item in outcome.tampering]
        head += [f"note: {item}" for item in outcome.notes]
        if "isolation" in self.settings:
            head.append(self.settings["isolation"].describe())
        path = self.logs / f"{outcome.student}.log"
        atomic_write_text(path, "\n".join(head) + "\n\n" + text + "\n")
        outcome.log_file = str(path)


def grade_assignment(
    assignment: str,
    *,
    course: str | os.PathLike[str] | None = None,
    student: str = "*",
    jobs: int | None = None,
    scheduler: str | None = None,
    cell_timeout: int | None = None,
    notebook_timeout: float | None = 600,
    memory_mb: int | None = DEFAULT_MEMORY_MB,
    cpu_seconds: int | None = None,
    max_processes: int | None = 64,
    output_limit_mb: float = 1.0,
    isolation: str | None = None,
    force: bool = False,
    feedback: bool = False,
    progress: bool = True,
) -> GradingResult:
    """Autograde every submission of ``assignment``, in parallel and sandboxed.

    Parameters
    ----------
    assignment : str
        The assignment's name in the course (``source/<assignment>/``).
    course : path-like, default=None
        The course folder (see :func:`load_course`).
    student : str, default="*"
        A student id or a glob pattern over student ids.
    jobs : int, default=None
        Local worker processes (default: the number of CPU cores).
    scheduler : str, default=None
        Address of a Dask scheduler; workers need ``squad`` installed.
    cell_timeout : int, default=None
        Seconds per cell; default: the course's ``Execute.timeout`` (nbgrader: 30).
    notebook_timeout : float or None, default=600
        Seconds for the whole notebook.
    memory_mb : int or None, default=DEFAULT_MEMORY_MB (3072)
        Memory limit of each kernel (address space of each process, and resident
        memory of its whole process tree).
    cpu_seconds : int, default=None
        CPU-time limit of each kernel process; default: the notebook limit + 60 s.
    max_processes : int or None, default=64
        Processes and threads a kernel may have.
    output_limit_mb : float, default=1.0
        Output kept per cell; the rest is dropped with a note (never errors).
    isolation : {"strict", "weak", "none"}, default=None
        How far student code is kept from the course and the machine (see
        :mod:`squad.grading.isolation`); None: ``strict`` on Linux, else ``weak``.
        ``strict`` stops before grading anything where bubblewrap does not work.
    force : bool, default=False
        Grade again submissions that are already autograded.
    feedback : bool, default=False
        Also write each student's feedback page (:func:`squad.grading.feedback.write_feedback`).
    progress : bool, default=True
        Show a progress bar with the time left.

    Returns
    -------
    GradingResult

    Raises
    ------
    squad.errors.NotFoundError
        If the assignment does not exist or is not in the gradebook.
    squad.errors.InvalidInputError
        If ``student`` names a path or a limit is not valid.
    squad.errors.MissingFileError
        If the course folder is not an nbgrader course.
    squad.errors.FileProblemError
        If another program holds the gradebook locked.
    squad.errors.MissingToolError
        If ``strict`` isolation is asked for (the Linux default) and bubblewrap does
        not work here.
    """
    from squad.grading.reports import write_reports

    started = time.perf_counter()
    check_pattern(student)
    # Decided before anything else: strict stops here where bubblewrap does not work.
    in_force = resolve_isolation(isolation)
    if scheduler is None:
        from squad.workers import start_fork_server

        # The workers' server imports nbgrader while this process loads the course.
        start_fork_server(WORKER_PRELOAD)
    course_obj = load_course(course)
    folder = course_obj.path(course_obj.coursedir.source_directory, ".", assignment)
    if not folder.is_dir():
        source = folder.parent
        available = sorted(p.name for p in source.iterdir() if p.is_dir())
        msg = (
            f"Assignment '{assignment}' does not exist: there is no folder "
            f"{folder.resolve()}. Available: {', '.join(available) or 'none'}."
        )
        raise NotFoundError(msg)
    if cell_timeout is None:
        cell_timeout = int(course_obj.config.Execute.get("timeout", 30) or 30)
    if cell_timeout < 1:
        msg = f"cell_timeout={cell_timeout!r} is not valid. Use a whole number >= 1."
        raise InvalidInputError(msg)
    if notebook_timeout is not None and notebook_timeout <= 0:
        msg = f"notebook_timeout={notebook_timeout!r} is not valid. Use seconds > 0."
        raise InvalidInputError(msg)
    course_obj.config.Execute.timeout = int(cell_timeout)
    if cpu_seconds is None:
        cpu_seconds = int((notebook_timeout or 600) + 60)
    settings = {
        "policy": _policy(
            course_obj, memory_mb, cpu_seconds, max_processes, in_force.mode
        ),
        "notebook_timeout": notebook_timeout,
        "output_limit": int(output_limit_mb * 1024 * 1024),
        "isolation": in_force,
    }
    log.info("Grading %s: %s", assignment, in_force.describe())
    with _gradebook_errors(course_obj):
        outcomes, students = _grade_all(
            course_obj, assignment, settings, student, force, jobs, scheduler, progress
        )
    order = {sid: i for i, sid in enumerate(sorted(o.student for o in outcomes))}
    outcomes.sort(key=lambda o: order[o.student])
    result = GradingResult(
        assignment,
        outcomes,
        course_obj.report_dir(assignment),
        time.perf_counter() - started,
        isolation=in_force,
    )
    atomic_write_json(result.report_dir / "summary.json", result.to_dict())
    write_reports(course_obj, assignment, result)
    if feedback:
        from squad.grading.feedback import write_feedback

        write_feedback(course_obj, assignment, students=[o.student for o in outcomes])
    result.seconds = time.perf_counter() - started
    return result


@contextlib.contextmanager
def _gradebook_errors(course: Course) -> Iterator[None]:
    """A gradebook another program holds locked is the user's to release, not a bug."""
    from sqlalchemy.exc import OperationalError

    try:
        yield
    except OperationalError as err:
        if "locked" not in str(err):
            raise
        msg = (
            f"The gradebook {course.db_url} is locked by another program (Formgrader, "
            "another nbgrader or squad command). Let it finish, then grade again."
        )
        raise FileProblemError(msg) from err


def _grade_all(
    course_obj: Course,
    assignment: str,
    settings: dict[str, Any],
    student: str,
    force: bool,
    jobs: int | None,
    scheduler: str | None,
    progress: bool,
) -> tuple[list[SubmissionOutcome], list[str]]:
    """Grade every matching submission; the grader process owns the gradebook."""
    grader = _Grader(course_obj, assignment, settings)
    try:
        students, unsafe = find_submissions(course_obj, assignment, student)
        outcomes = [SubmissionOutcome(sid, "rejected", why) for sid, why in unsafe]
        for outcome in outcomes:
            grader.write_log(outcome)
        todo = []
        for sid in students:
            if should_grade(course_obj, assignment, sid, force):
                todo.append(sid)
            else:
                outcomes.append(
                    SubmissionOutcome(
                        sid, "skipped", "already autograded (force regrades)"
                    )
                )
        if not students and not outcomes:
            log.warning("No submissions of %s match '%s'", assignment, student)
        if todo and scheduler is None:
            # One kernel that cannot start would reject every submission alike.
            check_kernel_start(settings["policy"], grader.kernel_name)
        if todo:
            outcomes += _run(grader, todo, jobs, scheduler, progress)
    finally:
        grader.close()
    return outcomes, students


def _run(
    grader: _Grader,
    students: list[str],
    jobs: int | None,
    scheduler: str | None,
    progress: bool,
) -> list[SubmissionOutcome]:
    """Submit the students to the executor a few at a time; merge as results arrive."""
    from squad.grading.worker import grade_submission
    from squad.progress import progress as show_progress
    from squad.workers import open_executor

    outcomes: list[SubmissionOutcome] = []
    pending = list(reversed(students))
    workers = 1 if scheduler else (jobs or os.cpu_count() or 1)
    window = 2 * workers if not scheduler else 64
    running: dict[Future, str] = {}
    warming = None
    with (
        open_executor(
            jobs=jobs, scheduler=scheduler, preload=WORKER_PRELOAD
        ) as executor,
        show_progress(
            len(students),
            f"grading {grader.assignment}",
            unit="submission",
            enabled=progress,
        ) as bar,
    ):
        while pending or running:
            while pending and len(running) < window:
                sid = pending.pop()
                try:
                    task = grader.task(sid)
                    # A worker needs another kernel only while others are left for
                    # every worker; at the tail, one started ahead would be thrown away.
                    task.prestart = len(pending) >= workers
                    running[executor.submit(grade_submission, task)] = sid
                except Exception as err:
                    outcome = SubmissionOutcome(
                        sid, "error", f"could not start: {type(err).__name__}: {err}"
                    )
                    grader.write_log(outcome)
                    outcomes.append(outcome)
                    bar.step(f"{sid}: {outcome.status}")
            if not pending and len(running) <= workers and warming is None:
                from squad.grading.reports import import_in_background

                # Only the last submissions are left: the reports' imports take the
                # core that falls idle first, instead of coming after the grading.
                warming = import_in_background()
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                sid = running.pop(future)
                try:
                    ret = future.result()
                except Exception as err:  # a worker died: report, keep going
                    outcome = SubmissionOutcome(
                        sid,
                        "error",
                        f"the worker failed ({type(err).__name__}: {err}); grade it "
                        f"again with --student '{sid}'",
                    )
                    grader.write_log(outcome)
                else:
                    outcome = grader.finish(sid, ret)
                outcomes.append(outcome)
                bar.step(f"{sid}: {outcome.status}")
    return outcomes
