"""The hub's folder: everything a course's JupyterHub keeps, in one place.

``<hub_dir>/`` (the course file's ``hub_dir``) holds::

    jupyterhub_config.py   written at every start from the course file
    state/       0700  the hub's database, cookie secret, password hashes and the
                       password sheets (see `squad.hub.passwords`), log
    course/      0700  the course as the grader account sees it: source/, release/,
                       submitted/, autograded/, feedback/ and gradebook.db
    exchange/    0755  nbgrader's exchange, root's; the course's outbound/, inbound/
                       and feedback/ in it are the grader's (see `squad.hub.exchange`)
    etc/               Jupyter configuration for trainees, instructors and the grader
    data/              the datasets the course reads, built once, read-only to users
    python/            the kit's environment for other accounts, when needed
                       (see `squad.hub.python`)
    home/              people's home folders (their fetched and answered notebooks)

Backing up this folder backs up the whole course; a restart keeps users, submissions
and grades. This module names the folder's parts and says who may use them: which
accounts are the course's, whose collected work keeps them on the roster, and
whether the course's own files are closed to trainees. `squad.hub.prepare` creates
the folder; `squad.hub.config` writes the configuration in it.
"""

from __future__ import annotations

import grp
import logging
import os
import pwd
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from squad.errors import InvalidInputError
from squad.hub.accounts import FIRST_PERSON_UID
from squad.hub.coursefile import CourseFile
from squad.hub.python import readable_by

__all__ = [
    "HubLayout",
    "check_course_closed",
    "course_account_problem",
    "exposed_course_files",
    "hub_layout",
    "keep_students_with_work",
    "known_students",
]

logger = logging.getLogger("squad")


@dataclass(frozen=True)
class HubLayout:
    """The folders and files of one hub (see the module's docstring)."""

    root: Path

    @property
    def state(self) -> Path:  # noqa: D102
        return self.root / "state"

    @property
    def course(self) -> Path:  # noqa: D102
        return self.root / "course"

    @property
    def exchange(self) -> Path:  # noqa: D102
        return self.root / "exchange"

    @property
    def etc(self) -> Path:  # noqa: D102
        return self.root / "etc"

    @property
    def data(self) -> Path:  # noqa: D102
        return self.root / "data"

    @property
    def scripts(self) -> Path:
        """The scripts other accounts run the kit with (see `squad.hub.python`)."""
        own = self.root / "python" / "bin"
        return own if own.is_dir() else Path(sysconfig.get_path("scripts"))

    @property
    def config_file(self) -> Path:  # noqa: D102
        return self.root / "jupyterhub_config.py"

    @property
    def passwords(self) -> Path:
        """The shared passwords, with ``--shared-password`` only."""
        return self.state / "passwords.json"

    @property
    def password_hashes(self) -> Path:
        """Each person's password, hashed (see `squad.hub.passwords`)."""
        return self.state / "password-hashes.json"

    @property
    def password_sheets(self) -> Path:
        """The sheets of issued passwords, for the instructor to hand out."""
        return self.state / "password-sheets"

    @property
    def gradebook(self) -> Path:  # noqa: D102
        return self.course / "gradebook.db"

    @property
    def log_file(self) -> Path:  # noqa: D102
        return self.state / "jupyterhub.log"


def hub_layout(course: CourseFile) -> HubLayout:
    """Return the layout of ``course``'s hub folder."""
    return HubLayout(course.hub_dir)


def known_students(layout: HubLayout) -> set[str]:
    """Students whose work the grader collected: ``course/submitted/<student>/``.

    Only the grader's own folder counts (0700, filled by the verifying collect of
    `squad.hub.exchange`); nothing in the exchange, where trainees make folders, is
    read.
    """
    submitted = layout.course / "submitted"
    if not submitted.is_dir():
        return set()
    return {p.name for p in submitted.iterdir() if p.is_dir() and not p.is_symlink()}


def course_account_problem(course: CourseFile, name: str) -> str:
    """Why account ``name`` may not use the course's hub, or ''.

    Refused: a name that is not an account, the grader, root and other system accounts
    (uid below 1000), and accounts ``squad hub accounts`` did not put in the course's
    student group.
    """
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return "no such account"
    if name == course.grader or name.startswith("grader-"):
        return "a grader account"
    if entry.pw_uid < FIRST_PERSON_UID:
        return f"a system account (uid {entry.pw_uid})"
    try:
        members = grp.getgrnam(course.student_group).gr_mem
    except KeyError:
        return f"the course's group {course.student_group} does not exist"
    if name not in members:
        return f"not in the course's group {course.student_group}"
    return ""


def keep_students_with_work(course: CourseFile, layout: HubLayout) -> CourseFile:
    """Keep on the roster every trainee whose work was collected, with a warning.

    A roster exported again from an LMS may lose people who left the course; their
    submissions and grades stay, and so must their accounts' access to feedback. A
    name that is not a course account (see `course_account_problem`) is never kept.
    """
    dropped = sorted(known_students(layout) - set(course.users))
    kept = [name for name in dropped if not course_account_problem(course, name)]
    for name in sorted(set(dropped) - set(kept)):
        logger.warning(
            "course/submitted/%s is not a trainee of the course (%s): not let in.",
            name,
            course_account_problem(course, name),
        )
    if not kept:
        return course
    logger.warning(
        "The roster in %s no longer lists %s, whose work was collected: kept on the "
        "hub.",
        course.path,
        ", ".join(kept),
    )
    return course.with_trainees(course.trainees + tuple(kept))


def exposed_course_files(course: CourseFile, account: str) -> list[Path]:
    """Files with solutions or hidden tests (``source/``, the gradebook) of the
    course's own folder that ``account`` could read."""
    entry = pwd.getpwnam(account)
    groups = set(os.getgrouplist(account, entry.pw_gid))
    candidates = [course.course_dir / "gradebook.db"]
    source = course.course_dir / "source"
    if source.is_dir():
        candidates += [p for p in source.rglob("*") if p.is_file()]
    return [
        path
        for path in candidates
        if path.is_file() and readable_by(path, entry.pw_uid, groups)
    ]


def check_course_closed(course: CourseFile) -> None:
    """Refuse a course whose solutions or hidden tests a trainee could read.

    Raises
    ------
    InvalidInputError
        Naming a readable file and the ``chmod`` that closes the course.
    """
    if not course.trainees:
        return
    exposed = exposed_course_files(course, course.trainees[0])
    if exposed:
        folder = course.course_dir / "source"
        msg = (
            f"'{exposed[0]}' (and {len(exposed) - 1} more file(s)) of the course can be "
            f"read by trainee accounts such as '{course.trainees[0]}': solutions and "
            f"hidden tests would be open to them. Run `chmod -R o-rwx {folder}` (and "
            "on gradebook.db; the hub serves its own copy) and start again."
        )
        raise InvalidInputError(msg)
