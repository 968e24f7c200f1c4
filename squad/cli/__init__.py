"""The ``squad`` command line: thin click wrappers over the kit's Python functions.

A user error (a `squad.errors.UserError`: unknown names, bad files, checksum mismatches)
prints one line, ``Error: ...``, and exits with status 2; no traceback. Anything else is a
bug in the kit: one line that says so, status 1, and the traceback with ``squad -v``.
That boundary, and the context settings every command shares, are defined once, in
`squad.cli.base`.

One module per command family:

- ``data``: ``squad datasets``.
- ``keys``: ``squad keys``.
- ``runs``: ``squad run``.
- ``board``: ``squad leaderboard``, ``squad submit``, ``squad board``.
- ``challenges``: ``squad challenge``.
- ``grading``: ``squad grade``, ``squad feedback``.
- ``course``: ``squad course``, ``squad lab``.
- ``hub``: ``squad hub``.
- ``common``: the options and helpers several families use.

Each command imports what it needs (pandas, the Jupyter stack) when it runs, so that
``squad --help`` stays light.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import click

from squad import __version__
from squad._imports import mask_slow_optional_imports
from squad.cli.base import group
from squad.cli.board import board_group, leaderboard, submit
from squad.cli.challenges import challenge_group
from squad.cli.course import course_group, lab
from squad.cli.data import datasets
from squad.cli.grading import feedback, grade
from squad.cli.hub import hub_group
from squad.cli.keys import keys_group
from squad.cli.runs import run

__all__ = ["main"]


@group(
    commands=[
        datasets,
        keys_group,
        run,
        leaderboard,
        submit,
        board_group,
        challenge_group,
        grade,
        feedback,
        course_group,
        lab,
        hub_group,
    ]
)
@click.version_option(__version__, "--version", prog_name="squad")
@click.option(
    "-v", "--verbose", is_flag=True, help="Log progress, and show tracebacks of bugs."
)
def main(verbose: bool) -> None:
    """The Global Data Squad kit: shared data, comparable experiments, graded training."""
    mask_slow_optional_imports()
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    # nbgrader's gradebook runs the `alembic` command: this interpreter's scripts come
    # first on PATH, also when its virtual environment is not activated.
    scripts = str(Path(sys.executable).parent)
    if scripts not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = os.pathsep.join([scripts, os.environ.get("PATH", "")])
