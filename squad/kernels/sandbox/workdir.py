"""A fresh working folder for one submission's kernel.

The kernel's working folder holds only copies: the submission's notebooks and the
assignment's data files, never a link back into the course.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from squad.errors import InvalidInputError, MissingFileError

__all__ = ["prepare_workdir"]

log = logging.getLogger("squad")


def _copy_file(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target, follow_symlinks=False)


def prepare_workdir(
    submission_dir: str | os.PathLike[str],
    data_files: Mapping[str, str | os.PathLike[str]]
    | Iterable[str | os.PathLike[str]] = (),
    dest: str | os.PathLike[str] | None = None,
    *,
    patterns: Iterable[str] = ("*.ipynb",),
) -> Path:
    """Make a fresh working folder with one submission's notebooks and the data files.

    Only regular files are copied; symbolic links in the submission are skipped, so a
    link to the gradebook brings nothing along.

    Parameters
    ----------
    submission_dir : path-like
        The student's submission folder.
    data_files : mapping or iterable of path-like, default=()
        The assignment's data files or folders. An iterable places each at its own name;
        a mapping gives the relative name inside the working folder.
    dest : path-like, default=None
        The new folder (must not exist, or be empty). None creates one in the temporary
        folder. The caller removes it when grading is done.
    patterns : iterable of str, default=("*.ipynb",)
        Which files of the submission to copy (``fnmatch`` on the path relative to the
        submission folder).

    Returns
    -------
    pathlib.Path
        The working folder.

    Raises
    ------
    NotADirectoryError
        If ``submission_dir`` is not a folder.
    FileNotFoundError
        If a data file does not exist.
    FileExistsError
        If ``dest`` exists and is not empty.
    ValueError
        If a data file's name is absolute or leaves the folder.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> sub = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (sub / "ps1.ipynb").write_text("{}")
    >>> _ = (sub / "notes.txt").write_text("x")
    >>> data = pathlib.Path(tempfile.mkdtemp()) / "prices.csv"
    >>> _ = data.write_text("a,b")
    >>> work = prepare_workdir(sub, [data])
    >>> sorted(p.name for p in work.iterdir())
    ['prices.csv', 'ps1.ipynb']
    >>> import shutil
    >>> for folder in (work, sub, data.parent):
    ...     shutil.rmtree(folder)
    """
    source = Path(submission_dir)
    if not source.is_dir():
        msg = f"Submission folder '{source}' does not exist. Check the submission path."
        raise NotADirectoryError(msg)
    if isinstance(data_files, Mapping):
        pairs = [(str(name), Path(path)) for name, path in data_files.items()]
    elif isinstance(data_files, str | os.PathLike):
        pairs = [(Path(data_files).name, Path(data_files))]
    else:
        pairs = [(Path(path).name, Path(path)) for path in data_files]
    for name, path in pairs:
        if Path(name).is_absolute() or ".." in Path(name).parts or not name:
            msg = (
                f"Data file name {name!r} must be relative and stay inside the workdir."
            )
            raise InvalidInputError(msg)
        if not path.exists():
            msg = (
                f"Data file '{path}' does not exist. Check the assignment's data files."
            )
            raise MissingFileError(msg)
    if dest is None:
        work = Path(tempfile.mkdtemp(prefix="squad-work-"))
    else:
        work = Path(dest)
        if work.exists() and any(work.iterdir()):
            msg = f"Workdir '{work}' is not empty. Pass a new folder or dest=None."
            raise FileExistsError(msg)
        work.mkdir(parents=True, exist_ok=True)
    patterns = tuple(patterns)
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        if ".ipynb_checkpoints" in relative.parts:
            continue
        if path.is_symlink() or not path.is_file():
            if path.is_symlink():
                log.warning("Skipped symbolic link '%s' in the submission", path)
            continue
        if any(fnmatch.fnmatch(relative.as_posix(), p) for p in patterns):
            _copy_file(path, work / relative)
    for name, path in pairs:
        if path.is_dir():
            shutil.copytree(path, work / name, symlinks=False, dirs_exist_ok=True)
        else:
            _copy_file(path, work / name)
    return work.resolve()
