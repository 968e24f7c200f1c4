"""``squad hub``: the course's JupyterHub on one Linux server."""

from __future__ import annotations

from pathlib import Path

import click

from squad.cli.base import group
from squad.cli.common import serve, stop_on_signals

__all__ = ["hub_group"]


_COURSE_FILE = click.argument(
    "course_file", type=click.Path(dir_okay=False, path_type=Path)
)


@group("hub")
def hub_group() -> None:
    """A JupyterHub for the course on one Linux server (see docs/hub.md)."""


@hub_group.command("accounts")
@_COURSE_FILE
@click.option(
    "--remove", is_flag=True, help="Remove the accounts the kit made for the course."
)
def hub_accounts(course_file: Path, remove: bool) -> None:
    """Create the Unix accounts and groups of COURSE_FILE's people (as root)."""
    from squad.hub.accounts import create_accounts, remove_accounts
    from squad.hub.coursefile import read_course_file
    from squad.hub.layout import hub_layout
    from squad.hub.passwords import issue_passwords

    course = read_course_file(course_file)
    if remove:
        removed = remove_accounts(course)
        click.echo(f"Removed {len(removed)} account(s)")
    else:
        click.echo(create_accounts(course).summary())
        click.echo(issue_passwords(course, hub_layout(course)).summary())


@hub_group.command("start")
@_COURSE_FILE
@click.option(
    "--ip",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on ('' for all; put HTTPS in front).",
)
@click.option(
    "--shared-password",
    is_flag=True,
    help="One password for all trainees and one for instructors, not each person's "
    "own (a live session in one room).",
)
def hub_start(course_file: Path, ip: str, shared_password: bool) -> None:
    """Start the course's JupyterHub from COURSE_FILE; Ctrl+C stops it."""
    from squad.hub.coursefile import read_course_file
    from squad.hub.layout import hub_layout
    from squad.hub.passwords import list_sheets
    from squad.hub.server import start_hub

    stop_on_signals()
    course = read_course_file(course_file)
    sheets = set(list_sheets(hub_layout(course)))
    server = start_hub(course, ip=ip, shared_password=shared_password)
    click.echo(f"The course's JupyterHub is running: {server.url}")
    click.echo(f"Formgrader (instructors, in its own tab): {server.formgrader_url}")
    if shared_password:
        click.echo(f"Shared passwords (trainee, instructor): {server.layout.passwords}")
    else:
        new = [p for p in list_sheets(server.layout) if p not in sheets]
        for sheet in new:
            click.echo(
                f"New passwords to hand out: {sheet} (printable: "
                f"{sheet.with_suffix('.html')})"
            )
        click.echo(
            f"Each person logs in with their own password (sheets in "
            f"{server.layout.password_sheets})"
        )
    serve(server, "the hub")


@hub_group.command("passwords")
@_COURSE_FILE
@click.option(
    "--reset",
    "reset",
    multiple=True,
    metavar="NAME",
    help="Issue NAME a new password (repeat for several people).",
)
def hub_passwords(course_file: Path, reset: tuple[str, ...]) -> None:
    """Issue passwords to people of COURSE_FILE who have none, or new ones (as root).

    Prints the sheet to hand out. A running hub takes new passwords at the next login.
    """
    from squad.hub.accounts import require_root
    from squad.hub.coursefile import read_course_file
    from squad.hub.layout import hub_layout
    from squad.hub.passwords import issue_passwords

    require_root("Issuing the hub's passwords")
    course = read_course_file(course_file)
    click.echo(issue_passwords(course, hub_layout(course), reset=reset).summary())
