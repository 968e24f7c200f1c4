"""``squad grade`` and ``squad feedback``: autograde an assignment, write feedback."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from squad.cli.base import command
from squad.cli.common import COURSE_OPTION
from squad.errors import InvalidInputError

__all__ = ["feedback", "grade"]


@command()
@click.argument("assignment")
@COURSE_OPTION
@click.option("--student", default="*", show_default=True, help="Student id or glob.")
@click.option("--jobs", type=int, help="Local worker processes (default: CPU cores).")
@click.option("--scheduler", metavar="ADDRESS", help="Grade on a Dask cluster instead.")
@click.option(
    "--cell-timeout", type=int, help="Seconds per cell (default: the course's)."
)
@click.option(
    "--notebook-timeout",
    type=float,
    default=600,
    show_default=True,
    help="Seconds per notebook.",
)
@click.option(
    "--memory",
    "memory_mb",
    type=int,
    default=3072,  # squad.kernels.sandbox.policy.DEFAULT_MEMORY_MB, without its imports
    show_default=True,
    help="Memory limit of each kernel, in MB.",
)
@click.option(
    "--isolation",
    type=click.Choice(["strict", "weak", "none"]),
    help="How far student code is kept from the course and the machine (default: "
    "strict on Linux, which needs bubblewrap; weak elsewhere).",
)
@click.option("--force", is_flag=True, help="Grade already graded submissions again.")
@click.option("--feedback", is_flag=True, help="Also write each student's feedback.")
@click.option("--progress/--no-progress", default=True, help="Show a progress bar.")
def grade(
    assignment: str,
    course: Path | None,
    student: str,
    jobs: int | None,
    scheduler: str | None,
    cell_timeout: int | None,
    notebook_timeout: float,
    memory_mb: int,
    isolation: str | None,
    force: bool,
    feedback: bool,
    progress: bool,
) -> None:
    """Autograde ASSIGNMENT in parallel, each notebook in a sandbox, as nbgrader would."""
    from squad.grading.grade import grade_assignment

    if jobs is not None and scheduler:
        raise InvalidInputError("Give --jobs or --scheduler, not both.")
    result = grade_assignment(
        assignment,
        course=course,
        student=student,
        jobs=jobs,
        scheduler=scheduler,
        cell_timeout=cell_timeout,
        notebook_timeout=notebook_timeout,
        memory_mb=memory_mb,
        isolation=isolation,
        force=force,
        feedback=feedback,
        progress=progress,
    )
    click.echo(result.summary())
    sys.exit(result.exit_code)


@command()
@click.argument("assignment")
@COURSE_OPTION
@click.option("--student", default="*", show_default=True, help="Student id or glob.")
def feedback(assignment: str, course: Path | None, student: str) -> None:
    """Write feedback pages for ASSIGNMENT, without the hidden tests' code."""
    from squad.grading.feedback import write_feedback

    pages = write_feedback(course, assignment, pattern=student)
    click.echo(f"Wrote {len(pages)} feedback page(s)")
