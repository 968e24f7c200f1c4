"""Prepare a course's hub folder before every start (`squad hub start`).

`prepare_hub` checks the accounts and the course's permissions, creates the folder
(`squad.hub.layout`) with its permissions, sets the exchange up, copies new assignments
into the grader's course, issues passwords, builds the course's datasets and writes the
configuration (`squad.hub.config`). Names that moved to those two modules are still
importable from here.
"""

from __future__ import annotations

import json
import logging
import os
import pwd
import secrets
import shutil
from pathlib import Path

from squad._atomic import atomic_write_json, atomic_write_text
from squad.errors import InvalidInputError
from squad.hub.accounts import require_root
from squad.hub.config import (
    ROLES,
    find_proxy,
    nbgrader_config,
    role_environment,
    write_hub_config,
    write_jupyter_config,
)
from squad.hub.coursefile import CourseFile
from squad.hub.exchange import prepare_exchange, quarantine, submission_problem
from squad.hub.layout import (
    HubLayout,
    check_course_closed,
    course_account_problem,
    exposed_course_files,
    hub_layout,
    keep_students_with_work,
    known_students,
)
from squad.hub.passwords import issue_passwords

__all__ = [
    "HubLayout",
    "course_account_problem",
    "exposed_course_files",
    "find_proxy",
    "hub_layout",
    "known_students",
    "prepare_hub",
    "role_environment",
]

logger = logging.getLogger("squad")


def _account(name: str, course: CourseFile) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        msg = (
            f"Account '{name}' of course '{course.course_id}' does not exist. Run "
            f"`sudo squad hub accounts {course.path}` first."
        )
        raise InvalidInputError(msg) from None


def _chown_tree(path: Path, uid: int, gid: int) -> None:
    os.chown(path, uid, gid)
    for folder, dirs, files in os.walk(path):
        for name in dirs + files:
            os.lchown(os.path.join(folder, name), uid, gid)


def _sync_source(course: CourseFile, layout: HubLayout) -> list[str]:
    """Copy assignments that the hub's course does not have yet; never overwrite."""
    source = layout.course / "source"
    source.mkdir(exist_ok=True)
    added = []
    for folder in sorted((course.course_dir / "source").iterdir()):
        if folder.is_dir() and not (source / folder.name).exists():
            shutil.copytree(
                folder,
                source / folder.name,
                ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"),
            )
            added.append(folder.name)
    return added


def _shared_passwords(layout: HubLayout) -> dict[str, str]:
    """The shared passwords (``--shared-password``): made once, kept in
    ``state/passwords.json`` (0600)."""
    if layout.passwords.is_file():
        return json.loads(layout.passwords.read_text(encoding="utf-8"))
    passwords = {
        "trainee": os.environ.get("SQUAD_HUB_PASSWORD") or secrets.token_urlsafe(9),
        "instructor": os.environ.get("SQUAD_HUB_ADMIN_PASSWORD")
        or secrets.token_urlsafe(32),
    }
    if len(passwords["trainee"]) < 8 or len(passwords["instructor"]) < 32:
        msg = (
            "SQUAD_HUB_PASSWORD needs 8 characters or more, SQUAD_HUB_ADMIN_PASSWORD "
            "32 or more (JupyterHub's rule for shared passwords)."
        )
        raise InvalidInputError(msg)
    atomic_write_json(layout.passwords, passwords)
    os.chmod(layout.passwords, 0o600)
    return passwords


def _build_datasets(course: CourseFile, layout: HubLayout) -> None:
    from squad.data.datasets import load_dataset

    for name in course.datasets:
        load_dataset(name, data_home=layout.data)
    for path in [layout.data, *layout.data.rglob("*")]:
        mode = path.stat().st_mode
        os.chmod(path, mode | 0o055 if path.is_dir() else mode | 0o044)


def prepare_hub(
    course: CourseFile, *, ip: str = "127.0.0.1", shared_password: bool = False
) -> tuple[CourseFile, HubLayout]:
    """Write the hub's folder for ``course`` (Linux, as root); return what it serves.

    Creates the folders with their permissions, copies new assignments into the
    grader's course, writes nbgrader's and Jupyter's configuration for trainees,
    instructors and the grader, builds the course's datasets, issues a password to
    each person who has none (`squad.hub.passwords.issue_passwords`) and writes
    ``jupyterhub_config.py``. Idempotent: state (the database, submissions, grades,
    passwords) is kept.

    Parameters
    ----------
    course : CourseFile
    ip : str, default="127.0.0.1"
        The address the hub listens on; ``""`` for every interface.
    shared_password : bool, default=False
        Log in with one shared password for trainees and one for instructors (made
        once, in ``state/passwords.json``) instead of each person's own.

    Returns
    -------
    (CourseFile, HubLayout)
        The course as served (trainees who handed work in stay on it) and the folder.

    Raises
    ------
    InvalidInputError
        Without root, or when an account is missing.
    MissingFileError
        When the proxy is not installed.
    """
    require_root("Starting the course's hub")
    find_proxy()
    layout = hub_layout(course)
    grader = _account(course.grader, course)
    for name in course.users:
        _account(name, course)

    layout.root.mkdir(parents=True, exist_ok=True)
    os.chmod(layout.root, 0o755)
    for folder, mode in (
        (layout.state, 0o700),
        (layout.etc, 0o755),
        (layout.data, 0o755),
        (layout.course, 0o700),
    ):
        folder.mkdir(exist_ok=True)
        os.chmod(folder, mode)
    for name in course.users:
        problem = course_account_problem(course, name)
        if problem:
            msg = (
                f"'{name}' in {course.path} cannot use the hub: {problem}. Run `sudo "
                f"squad hub accounts {course.path}`, or take the name off the roster."
            )
            raise InvalidInputError(msg)
    check_course_closed(course)
    course = keep_students_with_work(course, layout)
    exchange = prepare_exchange(
        layout.exchange, course.course_id, course.grader, course.formgrade_group
    )
    # Folders that are nobody's submission (forged, malformed) go aside before anyone
    # logs in; as root, even those the grader could not move.
    for path in sorted((exchange / "inbound").iterdir()):
        why = submission_problem(path, set(course.trainees))
        if why:
            quarantine(path, why, logger)

    added = _sync_source(course, layout)
    if added:
        logger.info("Assignments copied to the hub's course: %s", ", ".join(added))
    atomic_write_text(
        layout.course / "nbgrader_config.py",
        nbgrader_config(course, layout, grader=True),
    )
    _chown_tree(layout.course, grader.pw_uid, grader.pw_gid)
    for role in ROLES:
        write_jupyter_config(course, layout, role)
    if shared_password:
        _shared_passwords(layout)
    else:
        issued = issue_passwords(course, layout)
        if issued.names:
            logger.info(issued.summary())
    _build_datasets(course, layout)

    write_hub_config(course, layout, ip=ip, shared_password=shared_password)
    return course, layout
