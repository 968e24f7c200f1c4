"""The kit's Python environment, as every account on the hub can run it.

Trainees' servers, their kernels and the grader's Formgrader run under their own Unix
accounts with the kit's environment. When the environment's base interpreter sits
where other accounts cannot read it (a pyenv or conda Python in root's home folder, a
common case on servers and CI machines), the hub gets a copy of that interpreter in
``<hub_dir>/python/``: the same binary, its shared library and its standard library
(about 120 MB, copied once), whose ``site-packages`` holds only a ``.pth`` file that adds
the kit's. Its scripts (``jupyterhub-singleuser``, ``nbgrader``, ``squad``, ...) are
the kit's, started with that copy. Same interpreter, same packages, nothing installed
twice. (A system Python of the same minor version is not enough: packages such as
soupsieve rely on fixes of later patch releases.)
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
import sys
import sysconfig
from pathlib import Path

from squad.errors import InvalidInputError

__all__ = [
    "kit_script_body",
    "readable_by",
    "readable_by_all",
    "script_header",
    "user_python",
]

logger = logging.getLogger("squad")


def readable_by_all(path: str | os.PathLike[str]) -> bool:
    """Whether any account can reach ``path``: every parent folder is searchable.

    Examples
    --------
    >>> readable_by_all("/")
    True
    """
    target = Path(path).resolve()
    for folder in [*reversed(target.parents), target]:
        try:
            mode = folder.stat().st_mode
        except OSError:
            return False
        needed = stat.S_IXOTH if folder.is_dir() else stat.S_IROTH
        if not mode & needed:
            return False
    return True


def readable_by(path: str | os.PathLike[str], uid: int, gids: set[int]) -> bool:
    """Whether the account ``uid`` (in groups ``gids``) can read ``path``.

    Reads the permission bits as the kernel applies them, from the owner's, the
    group's or the others' triple: every folder on the way must be searchable and
    ``path`` readable. Access control lists are not read.

    Examples
    --------
    >>> readable_by("/", 65534, {65534})
    True
    """
    if uid == 0:
        return True
    target = Path(path).resolve()
    for folder in [*reversed(target.parents), target]:
        try:
            info = folder.stat()
        except OSError:
            return False
        if info.st_uid == uid:
            shift = 6
        elif info.st_gid in gids:
            shift = 3
        else:
            shift = 0
        bits = (info.st_mode >> shift) & 0o7
        needed = 0o1 if folder != target else (0o5 if folder.is_dir() else 0o4)
        if bits & needed != needed:
            return False
    return True


def script_header(python: Path) -> str:
    r"""The first lines of a script that ``python`` runs, as pip writes them.

    A ``#!`` line cannot hold a path with a space: pip then starts the script with
    ``/bin/sh``, which hands it on to Python.

    Examples
    --------
    >>> script_header(Path("/opt/kit/bin/python"))
    '#!/opt/kit/bin/python\n'
    >>> print(script_header(Path("/tmp/my kit/bin/python")), end="")
    #!/bin/sh
    '''exec' "/tmp/my kit/bin/python" "$0" "$@"
    ' '''
    """
    if " " not in str(python):
        return f"#!{python}\n"
    return "#!/bin/sh\n'''exec' \"" + str(python) + '" "$0" "$@"\n\' \'\'\'\n'


def kit_script_body(text: str, python: Path) -> str | None:
    r"""The Python part of a script that ``python`` runs, else None.

    Examples
    --------
    >>> kit_script_body("#!/opt/kit/bin/python\nimport x\n", Path("/opt/kit/bin/python"))
    'import x\n'
    >>> kit_script_body("#!/usr/bin/python3\nimport x\n", Path("/opt/kit/bin/python"))
    """
    for header in (f"#!{python}\n", script_header(python)):
        if text.startswith(header):
            return text[len(header) :]
    return None


_SKIPPED = ("site-packages", "test", "idlelib", "tkinter", "ensurepip", "turtledemo")


def _copy_interpreter(target: Path) -> Path:
    """Copy this environment's base interpreter into ``target``; return its binary."""
    base = Path(sys.base_prefix)
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    stamp = target / "copied-from.txt"
    origin = f"{base} {sys.version}"
    binary = target / "bin" / version
    if stamp.is_file() and stamp.read_text(encoding="utf-8") == origin:
        return binary
    shutil.rmtree(target, ignore_errors=True)
    (target / "bin").mkdir(parents=True)
    shutil.copy2(Path(sys._base_executable).resolve(), binary)
    for name in ("python", "python3"):
        (target / "bin" / name).symlink_to(version)
    stdlib = base / "lib" / version
    shutil.copytree(
        stdlib,
        target / "lib" / version,
        symlinks=True,
        ignore=lambda folder, names: [
            n
            for n in names
            if Path(folder) == stdlib and (n in _SKIPPED or n.startswith("config-"))
        ],
    )
    # A Python built with --enable-shared finds libpython through LD_LIBRARY_PATH
    # (see role_environment): its RUNPATH points into the unreadable folder.
    for library in (base / "lib").glob("libpython*.so*"):
        shutil.copy2(library, target / "lib" / library.name, follow_symlinks=True)
    (target / "lib" / version / "site-packages").mkdir()
    atomic_stamp = target / "copied-from.tmp"
    atomic_stamp.write_text(origin, encoding="utf-8")
    atomic_stamp.replace(stamp)
    return binary


def user_python(folder: str | os.PathLike[str]) -> Path:
    """Return the folder of scripts (``bin``) that other accounts run the kit with.

    Parameters
    ----------
    folder : path-like
        Where to copy the interpreter if other accounts cannot read the kit's
        (``<hub_dir>/python``); kept between starts while the interpreter is the same.

    Returns
    -------
    pathlib.Path
        The ``bin`` folder holding ``python``, ``jupyterhub-singleuser``,
        ``nbgrader``, ``alembic`` and the kit's other scripts.

    Raises
    ------
    InvalidInputError
        If the kit's packages themselves cannot be read by other accounts.
    """
    scripts = Path(sysconfig.get_path("scripts"))
    purelib = Path(sysconfig.get_path("purelib"))
    base = Path(sys.base_prefix)
    target = Path(folder)
    if not readable_by_all(purelib):
        msg = (
            f"The kit's environment '{purelib}' cannot be read by other accounts: "
            "install the kit in a folder every user can reach (e.g. /opt/squad)."
        )
        raise InvalidInputError(msg)
    if readable_by_all(base / "lib") and readable_by_all(Path(sys.executable)):
        shutil.rmtree(target, ignore_errors=True)
        return scripts

    binary = _copy_interpreter(target)
    version = binary.name
    (target / "lib" / version / "site-packages" / "squad-kit.pth").write_text(
        f"import site; site.addsitedir({str(purelib)!r})\n", encoding="utf-8"
    )
    for script in scripts.iterdir():
        if not script.is_file() or script.name.startswith("python"):
            continue
        try:
            text = script.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        body = kit_script_body(text, Path(sys.executable))
        if body is not None:
            copy = target / "bin" / script.name
            copy.write_text(script_header(binary) + body, encoding="utf-8")
            copy.chmod(0o755)
    for path in [target, *target.rglob("*")]:
        if not path.is_symlink():
            mode = path.stat().st_mode | stat.S_IRGRP | stat.S_IROTH
            if path.is_dir() or mode & stat.S_IXUSR:
                mode |= stat.S_IXGRP | stat.S_IXOTH
            path.chmod(mode)
    logger.info(
        "The kit's Python (%s) is not readable by other accounts; the hub runs the "
        "kit with a copy in %s",
        base,
        target,
    )
    return target / "bin"
