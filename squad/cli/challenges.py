"""``squad challenge``: run a challenge server, issue its accounts, write its results."""

from __future__ import annotations

from pathlib import Path

import click

from squad.cli.base import group

__all__ = ["challenge_group"]


def _state(challenge_file: Path, state: Path | None) -> Path:
    return state if state is not None else challenge_file.resolve().parent / "state"


def _options(func):
    func = click.option(
        "--db",
        "db_url",
        default="",
        metavar="URL",
        help="sqlite:///PATH or postgresql://USER:PASSWORD@HOST:PORT/NAME "
        "(default: SQLite in the state folder).",
    )(func)
    return click.option(
        "--state",
        type=click.Path(file_okay=False, path_type=Path),
        help="The server's folder: uploads, secret key, account sheets "
        "(default: state/ beside the challenge file).",
    )(func)


@group("challenge")
def challenge_group() -> None:
    """A challenge server: held-back labels, teams, caps and a live board."""


@challenge_group.command("serve")
@click.argument(
    "challenge_file", type=click.Path(dir_okay=False, exists=True, path_type=Path)
)
@_options
@click.option("--host", default="127.0.0.1", show_default=True, help="Address.")
@click.option(
    "--port", default=8000, show_default=True, type=int, help="Port; 0 picks one."
)
@click.option(
    "--jobs", default=2, show_default=True, type=int, help="Scoring processes."
)
@click.option(
    "--secure-cookies/--no-secure-cookies",
    default=False,
    help="Behind a TLS reverse proxy: cookies over HTTPS only, X-Forwarded-Proto "
    "trusted.",
)
@click.option(
    "--hub-login",
    is_flag=True,
    help="Run as a service of the course hub: people log in with their hub account "
    "(the hub sets JUPYTERHUB_*; see docs/challenges.md).",
)
def serve_command(
    challenge_file: Path,
    db_url: str,
    state: Path | None,
    host: str,
    port: int,
    jobs: int,
    secure_cookies: bool,
    hub_login: bool,
) -> None:
    """Migrate the database, create the roster's accounts and serve CHALLENGE_FILE."""
    from squad.challenges import read_challenge
    from squad.challenges.hub_login import hub_login_from_environment
    from squad.challenges.server import serve

    config = read_challenge(challenge_file)
    hub = hub_login_from_environment() if hub_login else None

    def ready(url: str) -> None:
        click.echo(f"Serving {config.title} on {url}", err=True)

    serve(
        config,
        state_dir=_state(challenge_file, state),
        db_url=db_url,
        host=host,
        port=port,
        jobs=jobs,
        secure_cookies=secure_cookies,
        hub_login=hub,
        ready=ready,
    )


@challenge_group.command("accounts")
@click.argument(
    "challenge_file", type=click.Path(dir_okay=False, exists=True, path_type=Path)
)
@_options
def accounts_command(challenge_file: Path, db_url: str, state: Path | None) -> None:
    """Create the roster's new accounts; write their passwords and tokens to a sheet."""
    from squad.challenges import read_challenge
    from squad.challenges.server import open_challenge

    config = read_challenge(challenge_file)
    opened = open_challenge(
        config, state_dir=_state(challenge_file, state), db_url=db_url
    )
    if opened["sheet"] is None:
        click.echo("No new accounts: everyone on the roster has one.")
    else:
        click.echo(
            f"{opened['n_accounts']} new account(s); passwords and tokens in "
            f"{opened['sheet']} (readable by you only; hand them out, then delete it)."
        )
    click.echo(f"Private labels sha256: {opened['private_sha256']}")


@challenge_group.command("results")
@click.argument(
    "challenge_file", type=click.Path(dir_okay=False, exists=True, path_type=Path)
)
@_options
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The JSON file to write (for squad board build --challenge).",
)
def results_command(
    challenge_file: Path, db_url: str, state: Path | None, out: Path
) -> None:
    """Write the final board of CHALLENGE_FILE as JSON, once its last phase has closed.

    The file holds the final ranking with private and public scores, the private labels'
    sha256 and the close time; `squad board build --challenge FILE` shows it.
    """
    from squad.challenges import read_challenge
    from squad.challenges.results import write_results

    config = read_challenge(challenge_file)
    write_results(config, out, state_dir=_state(challenge_file, state), db_url=db_url)
    click.echo(f"Wrote the final results of {config.title} to {out}")
