"""Unix accounts and groups for a course on the hub (Linux, as root).

Every person on the hub has a Unix account of their own: their server, their kernels
and their files run and live under it, so the operating system keeps trainees apart.
The course adds, as nbgrader's "one class, multiple graders" set-up does:

* ``nbgrader-<course>``: everybody who takes the course;
* ``formgrade-<course>``: the instructors and the grader account;
* ``grader-<course>``: the account that owns the course folder and the gradebook and
  runs the course's Formgrader for all instructors.

Accounts are created with a locked password (people log in through the hub only), a
private home folder under ``<hub_dir>/home/`` and bash as their shell. An account that
already exists is used as it is and only joins the course's groups; a system account
(uid below 1000) is refused.
"""

from __future__ import annotations

import grp
import logging
import os
import pwd
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from squad.errors import InvalidInputError, ToolFailedError
from squad.hub.coursefile import CourseFile

__all__ = [
    "FIRST_PERSON_UID",
    "AccountsReport",
    "create_accounts",
    "home_dir",
    "remove_accounts",
    "require_root",
]

logger = logging.getLogger("squad")

#: Where the account tools live, also when root's PATH lacks the sbin folders.
_ADMIN_PATH = "/usr/sbin:/sbin:/usr/bin:/bin"
#: The first uid of a person's account on Debian and most Linux systems.
FIRST_PERSON_UID = 1000


@dataclass
class AccountsReport:
    """What `create_accounts` did."""

    created: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for the command line."""
        return (
            f"{len(self.created)} account(s) created, {len(self.existing)} already "
            f"there; groups {', '.join(self.groups)}"
        )


def require_root(action: str) -> None:
    """Raise a one-line error unless this process runs as root on Linux."""
    if not hasattr(os, "geteuid"):
        msg = f"{action} needs Linux (the hub runs on a Linux server)."
        raise InvalidInputError(msg)
    if os.geteuid() != 0:
        msg = f"{action} needs root: run it with sudo."
        raise InvalidInputError(msg)
    if not shutil.which("useradd", path=_ADMIN_PATH):
        msg = f"{action} needs useradd and groupadd (Debian package passwd)."
        raise InvalidInputError(msg)


def home_dir(course: CourseFile, name: str) -> Path:
    """The home folder the kit gives account ``name``: inside the hub folder."""
    return course.hub_dir / "home" / name


def _run(command: Sequence[str]) -> None:
    program = shutil.which(command[0], path=_ADMIN_PATH) or command[0]
    result = subprocess.run(
        [program, *command[1:]], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        last = (result.stderr or result.stdout).strip().splitlines()
        msg = (
            f"`{' '.join(command)}` failed with status {result.returncode}: "
            f"{last[-1] if last else 'no output'}."
        )
        raise ToolFailedError(msg)


def _user(name: str) -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


def _group(name: str) -> grp.struct_group | None:
    try:
        return grp.getgrnam(name)
    except KeyError:
        return None


def _ensure_group(name: str) -> None:
    if _group(name) is None:
        _run(["groupadd", name])


def _ensure_user(course: CourseFile, name: str, report: AccountsReport) -> None:
    entry = _user(name)
    if entry is not None:
        if entry.pw_uid < FIRST_PERSON_UID:
            msg = (
                f"User name '{name}' in {course.path} is a system account (uid "
                f"{entry.pw_uid}); pick another name."
            )
            raise InvalidInputError(msg)
        report.existing.append(name)
        return
    home = home_dir(course, name)
    home.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(home.parent, 0o755)
    _run(
        ["useradd", "--create-home", "--home-dir", str(home), "--user-group"]
        + ["--shell", "/bin/bash", name]
    )
    os.chmod(home, 0o700)  # trainees cannot look into each other's work
    report.created.append(name)


def _join(name: str, group: str) -> None:
    if name not in grp.getgrnam(group).gr_mem:
        _run(["gpasswd", "--add", name, group])


def create_accounts(course: CourseFile) -> AccountsReport:
    """Create the course's accounts and groups (idempotent; Linux, as root).

    Parameters
    ----------
    course : CourseFile
        The course: its instructors, trainees and course id.

    Returns
    -------
    AccountsReport

    Raises
    ------
    InvalidInputError
        Without root, or when a name is a system account.
    ToolFailedError
        If ``useradd``, ``groupadd`` or ``gpasswd`` fails.
    """
    require_root("Creating the course's accounts")
    for name in course.users:  # refuse before anything is changed
        entry = _user(name)
        if entry is not None and entry.pw_uid < FIRST_PERSON_UID:
            msg = (
                f"User name '{name}' in {course.path} is a system account (uid "
                f"{entry.pw_uid}); pick another name."
            )
            raise InvalidInputError(msg)
    report = AccountsReport(groups=[course.student_group, course.formgrade_group])
    for group in report.groups:
        _ensure_group(group)
    _ensure_user(course, course.grader, report)
    for name in course.users:
        _ensure_user(course, name, report)
        _join(name, course.student_group)
    for name in (course.grader, *course.instructors):
        _join(name, course.formgrade_group)
    logger.info("Accounts of course %s: %s", course.course_id, report.summary())
    return report


def remove_accounts(
    course: CourseFile, names: Iterable[str] | None = None
) -> list[str]:
    """Remove accounts the kit created for the course, their home folders and groups.

    Only accounts whose home folder is the one the kit gives (inside the hub folder)
    are removed; any other account is left alone. Linux, as root.

    Parameters
    ----------
    course : CourseFile
    names : iterable of str, default=None
        The accounts to remove; ``None`` means the course's people and its grader,
        and then its two groups.

    Returns
    -------
    list of str
        The accounts removed.
    """
    require_root("Removing the course's accounts")
    everyone = names is None
    chosen = list(course.users) + [course.grader] if names is None else list(names)
    removed = []
    for name in chosen:
        entry = _user(name)
        if entry is None or Path(entry.pw_dir) != home_dir(course, name):
            continue
        _run(["userdel", "--remove", name])
        removed.append(name)
    if everyone:
        for group in (course.student_group, course.formgrade_group):
            if _group(group) is not None:
                _run(["groupdel", group])
    return removed
