"""Errors a user can cause, told apart from bugs.

Every error that bad input, a missing file or a wrong name can cause is a `UserError`:
the ``squad`` command prints it as one line, ``Error: ...``, and exits with status 2.
Anything else that escapes a command is a bug: one line saying so, exit status 1, and
the traceback with ``squad -v``.

Each kind also derives from the built-in type that callers already catch, so
``except ValueError`` keeps working around `InvalidInputError`.

Examples
--------
>>> err = NotFoundError("Dataset 'x' is not in the catalogue.")
>>> isinstance(err, UserError), isinstance(err, KeyError), str(err)
(True, True, "Dataset 'x' is not in the catalogue.")
"""

from __future__ import annotations

__all__ = [
    "FileProblemError",
    "InvalidInputError",
    "MissingFileError",
    "MissingToolError",
    "NotFoundError",
    "ServiceError",
    "ToolFailedError",
    "UserError",
]


class UserError(Exception):
    """Base of every error a user can cause; its message says what to do next."""


class InvalidInputError(UserError, ValueError):
    """A value, parameter, card, record, notebook or file content is not acceptable."""


class NotFoundError(UserError, KeyError):
    """A name (dataset, assignment, model, metric) that does not exist."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class MissingFileError(UserError, FileNotFoundError):
    """A file or folder the user named, or the kit needs from the user, is missing."""


class FileProblemError(UserError, OSError):
    """A file that exists but cannot be used: locked, unreadable, a checksum mismatch."""


class MissingToolError(UserError, OSError):
    """A program or protection the kit needs (bubblewrap, a browser) is not available here."""


class ServiceError(UserError, ConnectionError):
    """A server the kit starts or a cluster it reaches did not answer, or is missing."""


class ToolFailedError(UserError, ChildProcessError):
    """An external command the kit runs for the user (nbgrader, JupyterLab) failed."""
