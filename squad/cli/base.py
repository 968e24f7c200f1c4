"""The command classes every ``squad`` command is made of: settings and error boundary.

`SquadGroup` and `SquadCommand` carry, once for the whole command line, the context
settings (``-h`` as well as ``--help``, help text up to 100 columns wide) and the
boundary between a user's mistake and a bug in the kit. A group made with
``cls=SquadGroup`` makes its subcommands and subgroups of these classes too, so a
command family only says what its commands do. `command` and `group` are click's
decorators that make them.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from typing import Any

import click

from squad.errors import UserError

__all__ = ["CONTEXT_SETTINGS", "SquadCommand", "SquadGroup", "command", "group"]

#: The context settings of every command: a command invoked without its parents (a test
#: that runs one subcommand) reads the same help options and width as ``squad`` itself.
CONTEXT_SETTINGS: dict[str, Any] = {
    "help_option_names": ["-h", "--help"],
    "max_content_width": 100,
}


def _with_settings(context_settings: dict[str, Any] | None) -> dict[str, Any]:
    return {**CONTEXT_SETTINGS, **(context_settings or {})}


class SquadCommand(click.Command):
    """A ``squad`` command: user errors are one line and status 2, bugs status 1.

    A `squad.errors.UserError` prints ``Error: <message>`` and exits with status 2. A
    ``click.ClickException`` (a usage error) is left to click. A broken pipe (``squad
    ... | head``: the reader has gone) exits with status 1 quietly. Any other exception
    is a bug in the kit: one line that says so and exits with status 1; ``squad -v``
    also prints its traceback.

    Parameters
    ----------
    *args, **kwargs
        As for ``click.Command``; ``context_settings`` given here are added to
        `CONTEXT_SETTINGS`.
    """

    def __init__(
        self, *args: Any, context_settings: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(
            *args, context_settings=_with_settings(context_settings), **kwargs
        )

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command's callback behind the error boundary.

        Parameters
        ----------
        ctx : click.Context
            The command's context, its parameters parsed.

        Returns
        -------
        Any
            What the callback returns.
        """
        try:
            return super().invoke(ctx)
        except UserError as err:
            click.echo(f"Error: {err}", err=True)
            sys.exit(2)
        except click.ClickException:
            raise
        except BrokenPipeError:  # `squad ... | head`: the reader has gone, not a bug
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            sys.exit(1)
        except Exception as err:
            if ctx.find_root().params.get("verbose"):
                traceback.print_exc()
                hint = "the traceback is above"
            else:
                hint = "run with -v for the traceback"
            click.echo(
                f"Error: this is a bug in squad ({type(err).__name__}: {err}); "
                f"{hint}, and please report it.",
                err=True,
            )
            sys.exit(1)


class SquadGroup(click.Group):
    """A group of ``squad`` commands; its commands and subgroups are of these classes.

    The group's own callback runs outside the error boundary: a group only sets things
    up (logging, ``PATH``), and the command under it does the work.

    Parameters
    ----------
    *args, **kwargs
        As for ``click.Group``; ``context_settings`` given here are added to
        `CONTEXT_SETTINGS`.
    """

    command_class = SquadCommand
    group_class = type  # subgroups are of this class

    def __init__(
        self, *args: Any, context_settings: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(
            *args, context_settings=_with_settings(context_settings), **kwargs
        )


def command(name: str | None = None, **attrs: Any) -> Callable[..., SquadCommand]:
    """``click.command`` that makes a `SquadCommand`.

    Parameters
    ----------
    name : str, optional
        The command's name (default: the function's, as click makes it).
    **attrs
        Passed to `SquadCommand`.

    Returns
    -------
    callable
        The decorator.
    """
    return click.command(name, cls=SquadCommand, **attrs)


def group(name: str | None = None, **attrs: Any) -> Callable[..., SquadGroup]:
    """``click.group`` that makes a `SquadGroup`.

    Parameters
    ----------
    name : str, optional
        The group's name (default: the function's, as click makes it).
    **attrs
        Passed to `SquadGroup`.

    Returns
    -------
    callable
        The decorator.
    """
    return click.group(name, cls=SquadGroup, **attrs)
