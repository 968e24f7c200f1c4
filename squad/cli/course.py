"""``squad course`` and ``squad lab``: build the course, serve it in JupyterLab."""

from __future__ import annotations

from pathlib import Path

import click

from squad.cli.base import command, group
from squad.cli.common import COURSE_OPTION, serve, stop_on_signals

__all__ = ["course_group", "lab"]


@group("course")
def course_group() -> None:
    """Build the Coffee and Coding course (an nbgrader course in exercises/)."""


@course_group.command("build")
@click.argument("assignments", nargs=-1)
@COURSE_OPTION
def course_build(assignments: tuple[str, ...], course: Path | None) -> None:
    """Regenerate the release notebooks of ASSIGNMENTS (default: all of them)."""
    from squad.course.build import build_course

    released = build_course(course, assignments=assignments or None)
    for path in released:
        click.echo(str(path))
    click.echo(f"Built {len(released)} release notebook(s)")


@course_group.command("solutions")
@click.argument("assignment")
@COURSE_OPTION
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write into (default: solutions/ASSIGNMENT in the course).",
)
@click.option(
    "--before-deadline",
    is_flag=True,
    help="Write them although the gradebook's due date is still to come.",
)
def course_solutions(
    assignment: str, course: Path | None, out: Path | None, before_deadline: bool
) -> None:
    """Write the solutions of ASSIGNMENT for trainees, once it is past its due date.

    Model answers, visible tests and the graders' rubrics, without hidden tests: one
    plain notebook per notebook of the assignment, to hand out like the release.
    """
    from squad.grading.solutions import write_solutions

    written = write_solutions(
        assignment, course=course, out=out, before_deadline=before_deadline
    )
    for path in written:
        click.echo(str(path))


@command("lab")
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="The kit's root folder, served by JupyterLab.",
)
@COURSE_OPTION
@click.option(
    "--port",
    type=int,
    default=8888,
    show_default=True,
    help="Port to listen on (0: any free port; a busy port is replaced).",
)
@click.option("--browser/--no-browser", default=True, help="Open a web browser.")
def lab(root: Path, course: Path | None, port: int, browser: bool) -> None:
    """Start JupyterLab on the kit, with the course and nbgrader's Formgrader."""
    from squad.course.lab import start_lab

    # Ctrl+C stops the lab even when it was started from a shell that ignores it (a
    # background job); a plain `kill` (SIGTERM) or a closed terminal (SIGHUP) also shuts
    # the server and its kernels down, even while the server is still starting.
    stop_on_signals()
    server = start_lab(root, course_dir=course, port=port, open_browser=browser)
    click.echo("JupyterLab is running. Open this address in your browser:")
    click.echo(f"    {server.lab_url()}")
    click.echo(f"Formgrader (instructors): {server.lab_url('formgrader')}")
    serve(server, "JupyterLab")
