"""Autograding one submission in a worker process, with nbgrader's own converter.

:func:`grade_submission` receives a :class:`GradeTask` (everything by value: the
submission's files, the assignment's data files, a private gradebook seed with the
student's rows, and the course's nbgrader configuration), builds a throwaway course
folder, runs nbgrader's ``Autograde`` converter on it (the same sanitising and
autograding preprocessors as ``nbgrader autograde``, with ``Execute`` replaced by
:class:`squad.grading.execute.GuardedExecute`) and returns the student's gradebook rows
and autograded files in a :class:`GradeReturn`. It never raises for a bad submission.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import glob
import json
import logging
import secrets
import shutil
import threading
import time
import warnings
from pathlib import Path
from typing import Any

from squad._imports import mask_slow_optional_imports
from squad.kernels.prestart import kernel_start_error
from squad.kernels.sandbox import SandboxPolicy

# A worker imports nbformat through nbgrader; see squad._imports.
mask_slow_optional_imports()

__all__ = ["GradeReturn", "GradeTask", "grade_submission"]

_LOCK = threading.Lock()  # nbgrader changes the working folder and the environment
_MEMORY_WORDS = ("MemoryError", "Cannot allocate memory", "bad_alloc", "out of memory")


@dataclasses.dataclass
class GradeTask:
    """One submission to autograde (sent to the worker by pickle)."""

    assignment: str
    student: str
    notebooks: list[str]
    kernel_name: str
    config: Any
    files: dict[str, bytes]
    source_files: dict[str, bytes]
    seed: bytes
    rows: dict[str, list[dict[str, Any]]]
    assignment_row_id: str
    policy: SandboxPolicy
    notebook_timeout: float | None = None
    output_limit: int = 1_000_000
    notes: list[str] = dataclasses.field(default_factory=list)
    prestart: bool = True  # more submissions follow: start the next kernel ahead


@dataclasses.dataclass
class GradeReturn:
    """What a worker sends back for one submission."""

    student: str
    status: str
    message: str
    rows: dict[str, list[dict[str, Any]]] | None
    files: dict[str, tuple[bytes, int]]
    log: str
    tampering: list[str]
    notes: list[str]
    seconds: float


def _check_notebooks(task: GradeTask, folder: Path) -> list[str]:
    """Plain-language problems with the submitted notebook files."""
    problems = []
    present = sorted(p.name for p in folder.glob("*.ipynb"))
    for name in task.notebooks:
        path = folder / f"{name}.ipynb"
        if not path.is_file():
            others = ", ".join(present) or "no notebook"
            problems.append(
                f"{name}.ipynb is missing from the submission (it has: {others}); "
                "rename the notebook and grade again"
            )
            continue
        data = path.read_bytes()
        if not data.strip():
            problems.append(f"{name}.ipynb is an empty file")
            continue
        try:
            raw = json.loads(data)
        except ValueError as err:
            problems.append(f"{name}.ipynb is not valid JSON ({err})")
            continue
        if not isinstance(raw, dict) or not ({"cells", "worksheets"} & set(raw)):
            problems.append(f"{name}.ipynb is JSON but not a notebook")
            continue
        if raw.get("nbformat") != 4:
            problems.append(f"{name}.ipynb is an nbformat v{raw.get('nbformat')} file")
        ids = [
            (c.get("metadata") or {}).get("nbgrader", {}).get("grade_id")
            for c in raw.get("cells", [])
            if isinstance(c, dict)
        ]
        twice = sorted({i for i in ids if i and ids.count(i) > 1})
        if twice:
            problems.append(
                f"{name}.ipynb has several cells with the nbgrader id "
                f"{', '.join(repr(i) for i in twice)} (copied cells); nbgrader keeps "
                "the last copy and cannot grade the notebook if the copies break its "
                "metadata"
            )
    return problems


@functools.lru_cache(maxsize=1)
def _autograde_class() -> type:
    from nbgrader.converters import Autograde

    class FreshAutograde(Autograde):
        """nbgrader's converter; its output folder is fresh, so nothing is removed."""

        def init_destination(self, assignment_id: str, student_id: str) -> bool:
            return True

    return FreshAutograde


def _config(task: GradeTask, root: Path) -> Any:
    from nbgrader.converters import Autograde
    from nbgrader.preprocessors import Execute
    from traitlets.config import Config

    from squad.grading.execute import GuardedExecute
    from squad.grading.kernels import GradingKernelManager

    cfg = Config()
    cfg.merge(task.config)
    cfg.CourseDirectory.root = str(root)
    cfg.CourseDirectory.db_url = f"sqlite:///{(root / 'gradebook.db').as_posix()}"
    cfg.CourseDirectory.assignment_id = task.assignment
    cfg.CourseDirectory.student_id = glob.escape(task.student)
    cfg.CourseDirectory.notebook_id = "*"
    cfg.BaseConverter.force = True
    cfg.Execute.kernel_manager_class = GradingKernelManager
    cfg.GradingKernelManager.policy = dataclasses.replace(
        task.policy, hidden_paths=(*task.policy.hidden_paths, root)
    )
    cfg.Execute.notebook_timeout = float(task.notebook_timeout or 0)
    cfg.Execute.output_limit = int(task.output_limit)
    default = Autograde.class_traits()["autograde_preprocessors"].make_dynamic_default()
    steps = list(cfg.Autograde.get("autograde_preprocessors", default))
    cfg.Autograde.autograde_preprocessors = [
        GuardedExecute if step is Execute else step for step in steps
    ]
    return cfg


def _write_files(base: Path, files: dict[str, bytes]) -> None:
    top = base.resolve()
    for name, data in files.items():
        path = base / name
        if top not in path.resolve().parents:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


#: The outcome of a kernel that died before it ran any cell (graded once more).
DIED_AT_START = (
    "the kernel died before it ran any cell, twice; grade this submission again"
)


def close_course_copy(root: Path) -> None:
    """Close the course copy's gradebook, sources and submissions to other accounts.

    Where the kernel runs as its own uid (a root grader), this keeps student code from
    the hidden tests and the gradebook copy even without bubblewrap; the kernel passes
    through ``course/`` and ``autograded/`` to its own folder only.
    """
    root.chmod(0o711)
    for name in ("source", "submitted"):
        (root / name).chmod(0o700)
    (root / "gradebook.db").chmod(0o600)
    autograded = root / "autograded"
    if autograded.is_dir():
        autograded.chmod(0o711)


def _classify(task: GradeTask, run: Any, ok: bool, problems: list[str], log: str):
    """(status, message) from what the execution and nbgrader reported."""
    if ok:
        return "graded", "; ".join(problems)
    where = f" in {run.cell}" if run.cell else ""
    kernel_log = ""
    with contextlib.suppress(OSError):
        kernel_log = run.kernel_log.read_text("utf-8", "replace")
    if run.memory_killed:
        return "memory", f"killed for using more than {task.policy.memory_mb} MB{where}"
    if run.timed_out:
        limit = f"{task.notebook_timeout:g} s"
        return "timeout", f"the notebook ran longer than {limit}{where}"
    if "CellTimeoutError" in run.error:
        return "timeout", (
            f"a cell ran past its time limit and the kernel stopped answering{where}"
        )
    if "DeadKernelError" in run.error or "Kernel died" in run.error:
        if any(word in kernel_log for word in _MEMORY_WORDS):
            return "memory", f"the kernel ran out of memory and died{where}"
        if not run.cell:
            cause = kernel_start_error(kernel_log)
            if cause:
                return "error", (
                    f"the kernel could not start ({cause}): the grading set-up's "
                    "problem, not the submission's; fix it, then grade again"
                )
            return "rejected", DIED_AT_START
        return "rejected", (
            f"the kernel died{where} (os._exit(), a crash such as a segfault, or a "
            "signal); grade this submission by hand"
        )
    if problems:
        return "rejected", "; ".join(problems)
    errors = [
        line.split("]", 1)[-1].strip()
        for line in log.splitlines()
        if line.startswith("[ERROR]") and "There was an error" not in line
    ]
    reason = next((e for e in errors if e and not e.startswith("Traceback")), "")
    return "rejected", reason or run.error or "nbgrader could not autograde it"


def _collect(folder: Path) -> dict[str, tuple[bytes, int]]:
    files = {}
    if folder.is_dir():
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.is_symlink():
                files[path.relative_to(folder).as_posix()] = (
                    path.read_bytes(),
                    path.stat().st_mode & 0o777,
                )
    return files


def _new_logger() -> tuple[logging.Logger, list[str], logging.Handler]:
    lines: list[str] = []

    class _Lines(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            with contextlib.suppress(Exception):
                lines.append(self.format(record))

    handler = _Lines(logging.INFO)
    handler.setFormatter(logging.Formatter("[%(levelname)s] %(message)s"))
    logger = logging.getLogger(f"squad.grade.{secrets.token_hex(4)}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    return logger, lines, handler


def grade_submission(task: GradeTask) -> GradeReturn:
    """Autograde one submission in this process; never raises for bad submissions.

    Parameters
    ----------
    task : GradeTask

    Returns
    -------
    GradeReturn
    """
    from squad.grading.kernels import grading_key, history_args, starter

    with _LOCK:
        started = time.perf_counter()
        extra = history_args(task.config.get("Execute", {}))
        # The first submission of a worker: boot its kernel while nbgrader imports.
        starter().prestart(
            grading_key(task.policy, task.assignment, task.kernel_name, extra)
        )
        from sqlalchemy.exc import SAWarning

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SAWarning)
            ret = _grade(task, extra, started)
            if ret.status == "rejected" and ret.message == DIED_AT_START:
                # No cell ran (files beside the notebook cannot run at kernel start,
                # see grade._policy): the kernel failed, not the submission.
                again = _grade(task, extra, started)
                again.notes.insert(
                    0,
                    "the first kernel died before it ran any cell; "
                    "graded with a new kernel",
                )
                again.log = (
                    f"{ret.log}\n--- graded again with a new kernel ---\n{again.log}"
                )
                ret = again
            return ret


def _grade(task: GradeTask, extra: list[str], started: float) -> GradeReturn:
    from nbgrader.coursedir import CourseDirectory
    from sqlalchemy import create_engine

    from squad.grading import execute
    from squad.grading.execute import RunState
    from squad.grading.gradebook import read_submission, write_rows
    from squad.grading.kernels import grading_folder, grading_key, starter
    from squad.grading.lean_nbgrader import (
        cache_metadata_validators,
        copy_gradebook_engine,
    )

    logger, lines, handler = _new_logger()
    squad_log = logging.getLogger("squad")
    squad_log.addHandler(handler)
    propagate, squad_log.propagate = squad_log.propagate, False
    pool = starter()
    key = grading_key(task.policy, task.assignment, task.kernel_name, extra)
    ready = pool.take(key)
    if task.prestart:
        pool.prestart(key)
    logger.info(
        "Kernel %s (waited %.2f s)",
        "started ahead" if ready else "started now",
        time.perf_counter() - started,
    )
    base = ready.base if ready else grading_folder()
    root = base / "course"
    run = RunState(base / "kernel.log", task.policy.memory_mb)
    run.notes.extend(task.notes)
    rows, files, ok, problems = None, {}, False, []
    step, steps = time.perf_counter(), {}

    def lap(name: str) -> None:
        nonlocal step
        now = time.perf_counter()
        steps[name], step = now - step, now

    try:
        if ready is not None:
            run.ready, run.ready_dir = ready, ready.claim(task.student)
        source = root / "source" / task.assignment
        submitted = root / "submitted" / task.student / task.assignment
        source.mkdir(parents=True)
        submitted.mkdir(parents=True)
        _write_files(source, task.source_files)
        _write_files(submitted, task.files)
        (root / "gradebook.db").write_bytes(task.seed)
        write_rows(root / "gradebook.db", task.rows)
        close_course_copy(root)
        problems = _check_notebooks(task, submitted)
        cfg = _config(task, root)
        lap("prepare")
        execute.CURRENT = run
        cache_metadata_validators()
        try:
            converter = _autograde_class()(
                coursedir=CourseDirectory(config=cfg), config=cfg, log=logger
            )
            try:
                with copy_gradebook_engine(root / "gradebook.db"):
                    converter.start()
                ok = True
            except Exception as err:
                logger.error("%s: %s", type(err).__name__, err)
        finally:
            execute.CURRENT = None
        lap("autograde")
        engine = create_engine(cfg.CourseDirectory.db_url, future=True)
        try:
            with engine.connect() as conn:
                rows = read_submission(conn, task.assignment_row_id, task.student)
        finally:
            engine.dispose()
        files = _collect(root / "autograded" / task.student / task.assignment)
        lap("collect")
        ok = ok and any(name.endswith(".ipynb") for name in files)
        logger.info("Steps: %s", ", ".join(f"{k} {v:.3f} s" for k, v in steps.items()))
        status, message = _classify(task, run, ok, problems, "\n".join(lines))
    except Exception as err:  # the grader's own failure: reported, not raised
        logger.exception("Grading failed")
        status, message = "error", f"{type(err).__name__}: {err}"
    finally:
        logger.removeHandler(handler)
        squad_log.removeHandler(handler)
        squad_log.propagate = propagate
        if run.ready is not None:  # claimed but never used
            pool.release(run.ready)
        with contextlib.suppress(OSError):
            text = run.kernel_log.read_text("utf-8", "replace")
            if text.strip():
                lines.append("--- the kernel's own output ---")
                lines.extend(text[-20_000:].splitlines())
        shutil.rmtree(base, ignore_errors=True)
    return GradeReturn(
        student=task.student,
        status=status,
        message=message,
        rows=rows,
        files=files if status == "graded" else {},
        log="\n".join(lines),
        tampering=list(dict.fromkeys(run.tampering)),
        notes=list(dict.fromkeys(run.notes)),
        seconds=round(time.perf_counter() - started, 3),
    )
