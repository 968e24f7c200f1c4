"""Options and helpers that more than one command family uses.

Signing (``squad run``, ``squad submit``), the signers file (``squad leaderboard``,
``squad board``), the course folder (grading, the course, ``squad lab``) and the servers
a command keeps running until Ctrl+C (``squad lab``, ``squad hub start``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

__all__ = [
    "COURSE_OPTION",
    "choose_signing_key",
    "key_options",
    "read_signers",
    "serve",
    "signers_option",
    "stop_on_signals",
    "unsigned_note",
]

#: ``--course``: the nbgrader course folder.
COURSE_OPTION = click.option(
    "--course",
    type=click.Path(file_okay=False, path_type=Path),
    help="The nbgrader course folder (default: $SQUAD_COURSE_DIR, else exercises/).",
)


def key_options(func):
    """Add ``--sign/--no-sign`` and ``--key`` to a command that writes a run.

    Parameters
    ----------
    func : callable
        The command's function; it takes ``key`` and ``sign``.

    Returns
    -------
    callable
        The function with both options.
    """
    func = click.option(
        "--sign/--no-sign",
        default=True,
        help="Sign the run with your key (default: when you have one).",
    )(func)
    return click.option(
        "--key",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Signing key (default: $SQUAD_SIGNING_KEY, else the one `squad keys new` "
        "made).",
    )(func)


def choose_signing_key(key: Path | None, sign: bool):
    """The key to sign with: ``--key``, else the default one if it exists, else None.

    Parameters
    ----------
    key : Path or None
        The ``--key`` given.
    sign : bool
        False with ``--no-sign``.

    Returns
    -------
    key or None
        The loaded private key, or None when the run stays unsigned.
    """
    if not sign:
        return None
    from squad.board.signing import default_key_path, load_key

    if key is None and not default_key_path().is_file():
        return None
    return load_key(key)


def unsigned_note() -> None:
    """Tell the user, on standard error, that the run is unsigned and how to sign it."""
    from squad.board.signing import default_key_path

    click.echo(
        f"Note: unsigned (no key at {default_key_path()}); a board kept with a "
        "signers file lists unsigned runs apart, unranked. Make a key with "
        "`squad keys new`, then sign with `squad keys sign FOLDER`.",
        err=True,
    )


def signers_option(func):
    """Add ``--signers`` (the group's signers file) to a command that ranks runs.

    Parameters
    ----------
    func : callable
        The command's function; it takes ``signers_file``.

    Returns
    -------
    callable
        The function with the option.
    """
    return click.option(
        "--signers",
        "signers_file",
        type=click.Path(dir_okay=False, path_type=Path),
        help="The group's signers file (git's allowed_signers format): runs show under "
        "the name it gives their key; unsigned and unknown-key runs are not ranked.",
    )(func)


def read_signers(path: Path | None):
    """Read the ``--signers`` file, noting each line skipped on standard error.

    Parameters
    ----------
    path : Path or None
        The ``--signers`` given.

    Returns
    -------
    squad.board.signing.Signers or None
        The signers, or None without ``--signers``.
    """
    if path is None:
        return None
    from squad.board.safety import one_line
    from squad.board.signing import read_signers as read_signers_file

    signers = read_signers_file(path)
    for note in signers.skipped:
        click.echo(f"Note: signers file {one_line(str(path))} {note}", err=True)
    return signers


def stop_on_signals() -> None:
    """Ctrl+C, a plain `kill` or a closed terminal stop a server the command runs."""
    import signal

    signal.signal(signal.SIGINT, signal.default_int_handler)
    for number in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if number is not None:
            signal.signal(number, lambda *_: sys.exit(0))


def serve(server, name: str) -> None:
    """Wait until the server ends or Ctrl+C; stop it; exit with its status.

    Parameters
    ----------
    server
        A started server: ``process.wait()`` and ``stop()``.
    name : str
        What the user reads it is stopping, e.g. ``"JupyterLab"``.
    """
    click.echo("Press Ctrl+C to stop.")
    try:
        status = server.process.wait()
    except KeyboardInterrupt:
        status = 0
        click.echo(f"Stopping {name}...")
    finally:
        server.stop()
    sys.exit(status)
