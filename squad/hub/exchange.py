"""nbgrader's filesystem exchange as the hub runs it: the grader's, not everybody's.

nbgrader documents an exchange that everybody may write to, and trusts the names of
the folders people make in it. On the hub nothing a trainee can create decides
anything:

* ``squad hub start`` makes the exchange (root's, 0755) and the course's ``outbound/``
  (0755), ``inbound/`` (3733: anyone may add a folder, nobody may list, rename or
  remove another's) and ``feedback/`` (0711), all the grader's, before anyone logs in
  (:func:`prepare_exchange`). A release therefore never meets a folder a trainee
  planted, and the classes here only check that the folders are there.
* A submission belongs to the account that made its folder. Collecting takes only
  folders owned by the student they name, from the course's student group; any other
  (a forged name, a malformed name, a link) is moved to ``quarantine/`` with a warning
  naming the claimed and the real account (:class:`VerifiedCollect`).
* A submission is open to its owner and the grader's group only
  (:class:`PrivateSubmit`).
* Releasing feedback skips, with a warning, a student whose feedback folder lacks what
  nbgrader needs, and releases everybody else's (:class:`TolerantReleaseFeedback`).

The hub's nbgrader configuration selects these classes through ``ExchangeFactory``
(:data:`EXCHANGE_CLASSES`).
"""

from __future__ import annotations

import glob
import grp
import os
import pwd
import stat
from pathlib import Path
from typing import Any

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.exchange.default.collect import ExchangeCollect, groupby
from nbgrader.exchange.default.exchange import Exchange
from nbgrader.exchange.default.fetch_assignment import ExchangeFetchAssignment
from nbgrader.exchange.default.fetch_feedback import ExchangeFetchFeedback
from nbgrader.exchange.default.list import ExchangeList
from nbgrader.exchange.default.release_assignment import ExchangeReleaseAssignment
from nbgrader.exchange.default.release_feedback import ExchangeReleaseFeedback
from nbgrader.exchange.default.submit import ExchangeSubmit
from nbgrader.utils import parse_utc
from traitlets import Unicode

__all__ = [
    "EXCHANGE_CLASSES",
    "PrivateSubmit",
    "TolerantReleaseFeedback",
    "VerifiedCollect",
    "prepare_exchange",
    "quarantine",
    "submission_problem",
]

#: Modes of the course's exchange folders (see the module's docstring).
FOLDER_MODES = {"outbound": 0o755, "inbound": 0o3733, "feedback": 0o711}
QUARANTINE = "quarantine"


def prepare_exchange(root: Path, course_id: str, grader: str, group: str) -> Path:
    """Make the exchange and the course's folders, the grader's, with their modes.

    Run as root by ``squad hub start`` before the hub lets anyone in. A folder that is
    not the grader's (made by somebody else before) is taken back: owner and mode are
    set again, and what it holds stays where it is for the grader to look at.

    Parameters
    ----------
    root : pathlib.Path
        The exchange (``c.Exchange.root``).
    course_id : str
    grader : str
        The grader's account.
    group : str
        The group of the grader and the instructors (submissions take it).

    Returns
    -------
    pathlib.Path
        The course's folder in the exchange.
    """
    owner = pwd.getpwnam(grader).pw_uid
    gid = grp.getgrnam(group).gr_gid
    root.mkdir(parents=True, exist_ok=True)
    os.chown(root, 0, 0, follow_symlinks=False)
    os.chmod(root, 0o755)
    course = root / course_id
    folders = {course: 0o755, **{course / n: m for n, m in FOLDER_MODES.items()}}
    folders[course / QUARANTINE] = 0o700
    for folder, mode in folders.items():
        if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
            folder.unlink()
        folder.mkdir(exist_ok=True)
        os.chown(folder, owner, gid, follow_symlinks=False)
        os.chmod(folder, mode)
    return course


def submission_problem(path: str | os.PathLike[str], students: set[str]) -> str:
    """Why the folder at ``path`` in ``inbound/`` is not a submission to collect, or ''.

    A submission is a real folder named ``<student>+<assignment>+<time>[+<random>]``,
    made by that student's account; with ``students``, the student must be one of
    them.

    Examples
    --------
    >>> submission_problem("/nowhere/ana+ps1", set())
    'the name is not student+assignment+time'
    """
    name = Path(path).name
    parts = name.rsplit("+", 3)
    if len(parts) < 3:
        return "the name is not student+assignment+time"
    try:
        parse_utc(parts[2])
    except Exception:
        return f"'{parts[2]}' is not a time"
    try:
        info = os.lstat(path)
    except OSError as err:
        return f"it cannot be read ({err.strerror})"
    if not stat.S_ISDIR(info.st_mode):
        return "not a folder"
    claimed = parts[0]
    try:
        owner = pwd.getpwuid(info.st_uid).pw_name
    except KeyError:
        owner = f"uid {info.st_uid}"
    if students and claimed not in students:
        return (
            f"it claims to be from '{claimed}', who is not a student of the course, "
            f"and was made by '{owner}'"
        )
    if owner != claimed:
        return f"it claims to be from '{claimed}' but was made by '{owner}'"
    return ""


def quarantine(path: Path, why: str, log: Any) -> None:
    """Move a refused submission folder to the course's ``quarantine/``; warn."""
    target = path.parent.parent / QUARANTINE / path.name
    try:
        os.rename(path, target)
        where = f"moved to {target}"
    except OSError as err:
        where = f"left in inbound, never collected ({err.strerror})"
    log.warning("Not collected: %s: %s; %s", path.name, why, where)


class HubExchange(Exchange):
    """The exchange's root is made by ``squad hub start``: only check it is there.

    nbgrader's own check wants a root that everybody may write to, and its release
    would make it so.
    """

    def ensure_root(self) -> None:
        if not os.path.isdir(self.root):
            self.fail(
                f"The course's exchange {self.root} does not exist: ask the instructor "
                "to start the hub again (`sudo squad hub start`)."
            )


class PrivateSubmit(HubExchange, ExchangeSubmit):
    """``nbgrader submit`` whose copy in the exchange only its owner and grader read."""

    def copy_files(self) -> None:
        """Copy as nbgrader does, then close the submission's folder to other users.

        The folder takes the inbound folder's group (the grader's) when it is made; a
        mode of 0770 lets that group in and keeps everybody else out, whatever the
        modes of the files inside.
        """
        super().copy_files()
        os.chmod(os.path.join(self.inbound_path, self.assignment_filename), 0o770)


class HubReleaseAssignment(HubExchange, ExchangeReleaseAssignment):
    """``nbgrader release_assignment`` into the folders ``squad hub start`` made."""


class HubFetchAssignment(HubExchange, ExchangeFetchAssignment):
    """``nbgrader fetch_assignment`` from the hub's exchange."""


class HubFetchFeedback(HubExchange, ExchangeFetchFeedback):
    """``nbgrader fetch_feedback`` from the hub's exchange."""


class HubList(HubExchange, ExchangeList):
    """``nbgrader list`` (the Assignment List) on the hub's exchange."""


class VerifiedCollect(HubExchange, ExchangeCollect):
    """``nbgrader collect`` that takes only submissions their named student made.

    A submission folder is collected when it is a real folder (not a link), its name
    parses as nbgrader's ``<student>+<assignment>+<timestamp>[+<random>]``, the
    student is in the course's student group, and the folder's owner is that student.
    Anything else in ``inbound/`` for the assignment is moved to ``quarantine/`` with a
    warning naming the account it claims and the account that made it; nbgrader's own
    collect only warns about the owner and collects the forgery.
    """

    student_group = Unicode(
        "", help="The Unix group of the course's students (nbgrader-<course>)."
    ).tag(config=True)

    def init_src(self) -> None:
        """Quarantine what fails the checks; of the rest, choose as nbgrader does."""
        if not self.coursedir.course_id:
            self.fail("No course id specified. Re-run with --course flag.")
        self.course_path = os.path.join(self.root, self.coursedir.course_id)
        self.inbound_path = os.path.join(self.course_path, "inbound")
        if not os.path.isdir(self.inbound_path):
            self.fail(f"Course not found: {self.inbound_path}")
        students: set[str] = set()
        if self.student_group:
            try:
                students = set(grp.getgrnam(self.student_group).gr_mem)
            except KeyError:
                self.fail(f"The course's student group {self.student_group} is gone.")
        student = self.coursedir.student_id or "*"
        pattern = f"{student}+{self.coursedir.assignment_id}+*"
        records = []
        for path in sorted(glob.glob(os.path.join(self.inbound_path, pattern))):
            why = submission_problem(path, students)
            if why:
                quarantine(Path(path), why, self.log)
            else:
                records.append(self._path_to_record(path))
        with Gradebook(self.coursedir.db_url, self.coursedir.course_id) as gb:
            try:
                self.duedate = gb.find_assignment(self.coursedir.assignment_id).duedate
            except MissingEntry:
                self.duedate = None
        self.src_records = []
        for group in groupby(records, lambda record: record["username"]).values():
            newest = self._sort_by_timestamp(group)
            if self.duedate is not None and self.before_duedate:
                in_time = [r for r in newest if r["timestamp"] <= self.duedate]
                newest = in_time or newest
            self.src_records.append(newest[0])


class TolerantReleaseFeedback(HubExchange, ExchangeReleaseFeedback):
    """``nbgrader release_feedback`` that one broken feedback folder cannot stop.

    nbgrader stops at the first student whose feedback folder lacks ``timestamp.txt``
    or ``submission_secret.txt`` (a submission made by hand rather than by ``nbgrader
    submit``), and the rest of the class gets nothing; here that student is skipped
    with a warning naming them.
    """

    def copy_files(self) -> None:
        """Leave out incomplete feedback folders, then release the rest."""
        skipped = set(filter(None, self.coursedir.student_id_exclude.split(",")))
        for html in sorted(glob.glob(os.path.join(self.src_path, "*.html"))):
            folder = Path(html).parent
            student = folder.parent.name
            missing = [
                n
                for n in ("timestamp.txt", "submission_secret.txt")
                if not (folder / n).is_file()
            ]
            if missing and student not in skipped:
                self.log.warning(
                    "Feedback of '%s' not released: its folder %s has no %s (the "
                    "submission was not made by nbgrader submit).",
                    student,
                    folder,
                    " or ".join(missing),
                )
                skipped.add(student)
        self.coursedir.student_id_exclude = ",".join(sorted(skipped))
        super().copy_files()


#: ``c.ExchangeFactory.<name>`` for the hub's nbgrader configuration.
EXCHANGE_CLASSES = {
    "exchange": HubExchange,
    "fetch_assignment": HubFetchAssignment,
    "fetch_feedback": HubFetchFeedback,
    "release_assignment": HubReleaseAssignment,
    "release_feedback": TolerantReleaseFeedback,
    "list": HubList,
    "submit": PrivateSubmit,
    "collect": VerifiedCollect,
}
