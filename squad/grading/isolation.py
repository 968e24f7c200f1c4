"""Isolation levels of ``squad grade``: what student code may reach, decided up front.

An instructor asks for a *level*; the sandbox runs in a *mode* (see
:mod:`squad.kernels.sandbox`). The level is chosen before any student code runs, and
the report page, the summary and every log header state the level in force and the
protections that were active.

``strict`` (the default on Linux)
    bubblewrap: the course folder (hidden tests, gradebook, other submissions) is
    hidden, the system is read-only, no network, an own PID namespace, resource limits,
    and an unprivileged uid when the grader runs as root. Without a working bubblewrap,
    grading stops before it starts, saying what to install or which flag accepts less.
``weak`` (the default on macOS and Windows)
    The strongest mode the machine offers, with a warning that names what is missing.
    Without bubblewrap, student code can read the hidden tests of its own assignment
    in the grader's temporary course copy.
``none``
    No sandbox: a clean environment and a throwaway working folder only, as with
    ``nbgrader autograde``. For trusted notebooks (an instructor's own solutions).
"""

from __future__ import annotations

import dataclasses
import logging
import sys

from squad.errors import InvalidInputError, MissingToolError
from squad.kernels.sandbox import (
    SandboxCapabilities,
    interpreter_closed_to_others,
    sandbox_capabilities,
)

__all__ = ["LEVELS", "Isolation", "default_level", "resolve_isolation"]

log = logging.getLogger("squad")

#: The isolation levels ``squad grade`` accepts, strongest first.
LEVELS = ("strict", "weak", "none")

_INSTALL = (
    "install bubblewrap (Debian/Ubuntu: sudo apt-get install bubblewrap; "
    "Fedora: sudo dnf install bubblewrap)"
)


@dataclasses.dataclass(frozen=True)
class Isolation:
    """The isolation in force for one grading run.

    Attributes
    ----------
    requested : str
        The level asked for: "strict", "weak" or "none".
    level : str
        The level in force: "strict" only when bubblewrap runs the kernels.
    mode : str
        The sandbox mode (:class:`squad.kernels.sandbox.SandboxPolicy` ``isolation``).
    active : tuple of str
        Protections in force.
    lacking : tuple of str
        Protections not in force.
    """

    requested: str
    level: str
    mode: str
    active: tuple[str, ...]
    lacking: tuple[str, ...]

    def describe(self) -> str:
        """One line for logs and summaries.

        Examples
        --------
        >>> Isolation("weak", "weak", "rlimits", ("RLIMIT_AS limit",), ()).describe()
        'isolation: weak (sandbox mode rlimits); active: RLIMIT_AS limit'
        """
        text = f"isolation: {self.level} (sandbox mode {self.mode})"
        text += f"; active: {', '.join(self.active) or 'none'}"
        if self.lacking:
            text += f"; not active: {', '.join(self.lacking)}"
        return text

    def to_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


def default_level() -> str:
    """``strict`` on Linux, where bubblewrap exists; ``weak`` elsewhere."""
    return "strict" if sys.platform.startswith("linux") else "weak"


def _active(caps: SandboxCapabilities, mode: str, drop_privileges: bool) -> list[str]:
    active = ["clean environment", "own working folder"]
    if mode == "bwrap":
        active += [
            "course folder hidden (hidden tests, gradebook, other submissions)",
            "read-only system",
            "private /tmp",
            "PID namespace",
        ]
    if mode in ("bwrap", "unshare"):
        active.append("no network")
    if mode != "none":
        active += [f"{name} limit" for name in caps.rlimits]
        if caps.is_root and drop_privileges and interpreter_closed_to_others() is None:
            active.append("unprivileged kernel user")
    return active


def resolve_isolation(
    level: str | None, *, drop_privileges: bool = True, refresh: bool = True
) -> Isolation:
    """Decide the sandbox mode for ``level`` on this machine, before anything runs.

    Parameters
    ----------
    level : {"strict", "weak", "none"} or None
        None means `default_level`.
    drop_privileges : bool, default=True
        Whether kernels of a root grader run as a fresh uid (see ``SandboxPolicy``).
    refresh : bool, default=True
        Probe the machine again (bubblewrap may have been installed or removed).

    Returns
    -------
    Isolation

    Raises
    ------
    squad.errors.InvalidInputError
        If ``level`` is not a known level.
    MissingToolError
        If ``strict`` is asked for and bubblewrap does not work here.
    """
    requested = level or default_level()
    if requested not in LEVELS:
        msg = f"Isolation level {requested!r} is unknown. Use one of: {', '.join(LEVELS)}."
        raise InvalidInputError(msg)
    if requested == "none":
        caps = sandbox_capabilities(refresh=False, quiet=True)
        mode = "none"
    else:
        caps = sandbox_capabilities(refresh=refresh, quiet=True)
        mode = caps.isolation
    if requested == "strict" and caps.bwrap is None:
        why = "; ".join(caps.problems) or f"bubblewrap is Linux-only ({caps.platform})"
        if sys.platform.startswith("linux"):
            next_step = (
                f"{_INSTALL}, or pass --isolation weak to accept weaker isolation"
            )
        else:
            next_step = "pass --isolation weak (the default on this system)"
        msg = (
            f"Strict isolation needs bubblewrap, which does not work here ({why}). "
            f"Nothing was graded. Next step: {next_step}."
        )
        raise MissingToolError(msg)
    lacking = list(caps.missing(mode))
    closed = interpreter_closed_to_others() if caps.is_root else None
    if caps.is_root and mode != "none" and (closed or not drop_privileges):
        why = f" ('{closed}' is closed to other users)" if closed else ""
        lacking.append(f"unprivileged kernel user{why}")
    if mode != "bwrap" and "course folder" not in " ".join(lacking):
        lacking.insert(
            0,
            "course folder hidden (student code can read its assignment's hidden "
            "tests and write the grader's copy of the gradebook)",
        )
    found = Isolation(
        requested=requested,
        level="strict" if mode == "bwrap" else ("none" if mode == "none" else "weak"),
        mode=mode,
        active=tuple(_active(caps, mode, drop_privileges)),
        lacking=tuple(dict.fromkeys(lacking)),
    )
    if found.level != "strict":
        log.warning(
            "Grading with %s isolation: student code runs without %s",
            found.level,
            "; ".join(found.lacking),
        )
    return found
