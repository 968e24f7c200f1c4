"""An nbgrader course as the grader sees it: configuration, submissions, files.

:func:`load_course` reads the configuration the way ``nbgrader`` run in the course folder
does; :func:`find_submissions` lists the submission folders of an assignment and refuses
the unsafe ones (symbolic links, ids nbgrader would change); :func:`read_files` reads a
folder's regular files for a worker, skipping links and very large files.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import os
from pathlib import Path
from typing import Any

from squad.errors import InvalidInputError

__all__ = [
    "Course",
    "check_pattern",
    "find_submissions",
    "load_course",
    "read_files",
    "should_grade",
]

_PLACEHOLDER = "\x00student\x00"


@dataclasses.dataclass
class Course:
    """An nbgrader course: its folder, configuration and gradebook.

    Attributes
    ----------
    root : pathlib.Path
        The course folder (``CourseDirectory.root``).
    config : traitlets.config.Config
        The merged nbgrader configuration.
    coursedir : nbgrader.coursedir.CourseDirectory
    """

    root: Path
    config: Any
    coursedir: Any

    @property
    def db_url(self) -> str:
        """The gradebook's database URL."""
        return self.coursedir.db_url

    @property
    def course_id(self) -> str:
        """nbgrader's course id."""
        return self.coursedir.course_id

    def path(self, step: str, student: str, assignment: str) -> Path:
        """``{root}/{step}/{student}/{assignment}`` in the course's own layout."""
        return Path(self.coursedir.format_path(step, student, assignment))

    def report_dir(self, assignment: str) -> Path:
        """Where ``squad grade`` writes logs and reports: ``reports/<assignment>``."""
        return self.root / "reports" / assignment


def load_course(course: str | os.PathLike[str] | None = None) -> Course:
    """Read an nbgrader course's configuration, as ``nbgrader`` run in it would.

    Parameters
    ----------
    course : path-like, default=None
        The folder holding ``nbgrader_config.py``; None means ``$SQUAD_COURSE_DIR``, else
        ``exercises/`` in the current folder.

    Returns
    -------
    Course

    Raises
    ------
    FileNotFoundError
        If the folder has no ``nbgrader_config.py`` or ``source/``.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> (root / "source").mkdir()
    >>> _ = (root / "nbgrader_config.py").write_text(
    ...     "c = get_config()\\nc.CourseDirectory.course_id = 'demo'\\n")
    >>> load_course(root).course_id
    'demo'
    """
    from jupyter_core.paths import jupyter_config_path
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    from squad.course.build import find_course_dir

    root = find_course_dir(course)
    config = Config()
    for folder in [*reversed(jupyter_config_path()), str(root)]:
        if (Path(folder) / "nbgrader_config.py").is_file():
            loader = PyFileConfigLoader("nbgrader_config.py", path=folder)
            try:
                config.merge(loader.load_config())
            except Exception as err:  # the file is the user's code: any error
                msg = (
                    f"The course configuration '{Path(folder) / 'nbgrader_config.py'}' "
                    f"could not be read: {type(err).__name__}: {err}. Fix that file."
                )
                raise InvalidInputError(msg) from err
    if "root" not in config.CourseDirectory:
        config.CourseDirectory.root = str(root)
    coursedir = CourseDirectory(config=config)
    return Course(Path(coursedir.root).resolve(), config, coursedir)


def check_pattern(pattern: str) -> None:
    """Refuse a student pattern that names a path (``../x``, ``a/b``).

    Examples
    --------
    >>> check_pattern("ana*")
    >>> check_pattern("../x")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    squad.errors.InvalidInputError: Student pattern '../x' is not a student id or glob (it names a path)...
    """
    parts = pattern.replace("\\", "/").split("/")
    if len(parts) > 1 or pattern in (".", "..") or not pattern.strip():
        msg = (
            f"Student pattern {pattern!r} is not a student id or glob (it names a "
            "path). Pass an id or a pattern such as 'ana*'."
        )
        raise InvalidInputError(msg)


def find_submissions(
    course: Course, assignment: str, pattern: str
) -> tuple[list[str], list[tuple[str, str]]]:
    """Student ids with a submission folder, and (id, reason) for unsafe folders."""
    step = course.coursedir.submitted_directory
    template = str(course.path(step, _PLACEHOLDER, assignment))
    head, _, tail = template.partition(_PLACEHOLDER)
    parent = Path(head)
    if not parent.is_dir():
        return [], []
    students, rejected = [], []
    for entry in sorted(os.listdir(parent)):
        if not fnmatch.fnmatchcase(entry, pattern):
            continue
        folder = parent / entry
        submission = Path(head + entry + tail)
        if folder.is_symlink() or submission.is_symlink():
            rejected.append(
                (
                    entry,
                    f"the submission folder '{submission}' is a symbolic link; "
                    "copy the real files there",
                )
            )
            continue
        if not submission.is_dir():
            continue
        if entry != entry.strip():
            rejected.append(
                (
                    entry,
                    f"the student id {entry!r} starts or ends with a space, which "
                    "nbgrader strips; rename the folder",
                )
            )
            continue
        students.append(entry)
    return students, rejected


def _ignored(relative: Path, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatch(part, p) for part in relative.parts for p in patterns)


def read_files(
    folder: Path, ignore: list[str], max_kb: int, *, notebooks: bool = True
) -> tuple[dict[str, bytes], list[str]]:
    """Read a folder's regular files, by relative path, for sending to a worker.

    Symbolic links (files or folders) are skipped, never followed; so are files
    matching nbgrader's ``CourseDirectory.ignore`` and files over ``max_kb``.

    Returns
    -------
    files : dict of str to bytes
    notes : list of str
        What was skipped, and why.
    """
    files, notes = {}, []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if _ignored(relative, ignore):
            continue
        if path.is_symlink():
            notes.append(f"skipped symbolic link '{relative.as_posix()}'")
            continue
        if not path.is_file() or (not notebooks and path.suffix == ".ipynb"):
            continue
        if path.stat().st_size > max_kb * 1024:
            notes.append(f"skipped '{relative.as_posix()}' (larger than {max_kb} KB)")
            continue
        files[relative.as_posix()] = path.read_bytes()
    return files, notes


def should_grade(course: Course, assignment: str, student: str, force: bool) -> bool:
    """nbgrader's rule: grade if new, forced, or submitted again since grading."""
    dest = course.path(course.coursedir.autograded_directory, student, assignment)
    if force or not dest.exists():
        return True
    src = course.path(course.coursedir.submitted_directory, student, assignment)
    new = course.coursedir.get_existing_timestamp(str(src))
    old = course.coursedir.get_existing_timestamp(str(dest))
    return new is not None and old is not None and new > old
