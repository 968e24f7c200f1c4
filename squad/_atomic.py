"""Atomic writes of files and folders, and file hashes.

A reader sees the old file (or folder) or the new one, never half of one. Every file the
kit writes for others to read (cached datasets, run records, reports) and every output
folder it replaces (run folders, submitted runs, autograded submissions) goes through
here, so that an interrupted process leaves nothing half-written behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def _current_umask() -> int:
    # Read once at import: os.umask can only be read by setting it, which is not
    # thread-safe once workers run.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _current_umask()

__all__ = [
    "atomic_path",
    "file_sha256",
    "replace_folder",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    The temporary file lives in the same folder, so the final ``os.replace`` is atomic on
    every platform. On error the temporary file is removed and ``path`` is untouched.

    Parameters
    ----------
    path : path-like
        The file to write. Its folder is created if missing.

    Yields
    ------
    pathlib.Path
        Where to write the content.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
    >>> with atomic_path(target) as tmp:
    ...     _ = tmp.write_text("hello")
    >>> target.read_text()
    'hello'
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=".tmp", dir=target.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp creates 0600 files; give the result the permissions of an ordinary file
        # (0666 less the umask) so that run folders can be shared and copied.
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically and return the path.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = atomic_write_bytes(pathlib.Path(tempfile.mkdtemp()) / "b.bin", b"ab")
    >>> p.read_bytes()
    b'ab'
    """
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    return Path(path)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically and return the path.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> atomic_write_text(pathlib.Path(tempfile.mkdtemp()) / "t.txt", "x").read_text()
    'x'
    """
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write ``obj`` as indented, key-sorted JSON to ``path`` atomically.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = atomic_write_json(pathlib.Path(tempfile.mkdtemp()) / "r.json", {"b": 1, "a": 2})
    >>> print(p.read_text(), end="")
    {
      "a": 2,
      "b": 1
    }
    """
    text = json.dumps(
        obj, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False
    )
    return atomic_write_text(path, text + "\n")


def replace_folder(
    finished: str | os.PathLike[str], target: str | os.PathLike[str]
) -> Path:
    """Move the finished folder ``finished`` onto ``target``, replacing an older one.

    A reader sees the old folder or the new one, never a mix and never nothing: the old
    folder is renamed aside, the new one renamed into place, and only then is the old one
    deleted. ``finished`` must be in the same folder as ``target`` (a rename, not a copy).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> base = pathlib.Path(tempfile.mkdtemp())
    >>> (base / "out").mkdir(); _ = (base / "out" / "old.txt").write_text("old")
    >>> (base / ".out.tmp").mkdir(); _ = (base / ".out.tmp" / "new.txt").write_text("new")
    >>> sorted(p.name for p in replace_folder(base / ".out.tmp", base / "out").iterdir())
    ['new.txt']
    >>> sorted(p.name for p in base.iterdir())
    ['out']
    """
    finished, target = Path(finished), Path(target)
    old = None
    if target.exists():
        old = target.with_name(
            f".{target.name}.old-{os.getpid()}-{os.urandom(4).hex()}"
        )
        os.replace(target, old)
    os.replace(finished, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return target


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Return the hex sha256 of a file's bytes, read in blocks.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x"
    >>> _ = p.write_bytes(b"abc")
    >>> file_sha256(p)[:12]
    'ba7816bf8f01'
    """
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()
