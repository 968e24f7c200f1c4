"""The kit's Python environment, as every account on the hub can run it.

Trainees' servers, their kernels and the grader's Formgrader run under their own Unix
accounts with the kit's environment. When the environment's base interpreter sits
where other accounts cannot read it (a pyenv or conda Python in root's home folder, a
common case on servers and CI machines), the hub gets a small environment of its own in
``<hub_dir>/python/``: a venv made from a system Python of the same version, whose only
content is a ``.pth`` file that adds the kit's ``site-packages``, and copies of the
kit's scripts that start with that interpreter. Same packages, same versions: nothing
is installed twice.
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
import subprocess
import sys
import sysconfig
from pathlib import Path

from squad.errors import InvalidInputError, ToolFailedError

__all__ = ["readable_by_all", "user_python"]

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


def _system_python() -> Path | None:
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for folder in ("/usr/bin", "/usr/local/bin"):
        candidate = Path(folder) / version
        if candidate.is_file() and readable_by_all(candidate):
            return candidate
    return None


def user_python(folder: str | os.PathLike[str]) -> Path:
    """Return the folder of scripts (``bin``) that other accounts run the kit with.

    Parameters
    ----------
    folder : path-like
        Where to make the hub's own small environment if it is needed
        (``<hub_dir>/python``); rewritten at every call.

    Returns
    -------
    pathlib.Path
        The ``bin`` folder holding ``python``, ``jupyterhub-singleuser``,
        ``nbgrader``, ``alembic`` and the kit's other scripts.

    Raises
    ------
    InvalidInputError
        If the kit's environment itself cannot be read by other accounts, or no system
        Python of the same version exists.
    """
    scripts = Path(sysconfig.get_path("scripts"))
    purelib = Path(sysconfig.get_path("purelib"))
    base = Path(sys.base_prefix)
    target = Path(folder)
    if readable_by_all(purelib) and readable_by_all(base / "lib"):
        if readable_by_all(Path(sys.executable)):
            shutil.rmtree(target, ignore_errors=True)
            return scripts
    if not readable_by_all(purelib):
        msg = (
            f"The kit's environment '{purelib}' cannot be read by other accounts: "
            "install the kit in a folder every user can reach (e.g. /opt/squad)."
        )
        raise InvalidInputError(msg)
    system_python = _system_python()
    if system_python is None:
        msg = (
            f"The kit's Python ({base}) cannot be read by other accounts and there is "
            f"no /usr/bin/python{sys.version_info.major}.{sys.version_info.minor}: "
            "install it (apt-get install python3) or make the kit's Python readable."
        )
        raise InvalidInputError(msg)

    shutil.rmtree(target, ignore_errors=True)
    result = subprocess.run(
        [str(system_python), "-m", "venv", "--without-pip", str(target)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        msg = f"`{system_python} -m venv` failed: {result.stderr.strip()[-300:]}."
        raise ToolFailedError(msg)
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    site_packages = target / "lib" / version / "site-packages"
    (site_packages / "squad-kit.pth").write_text(
        f"import site; site.addsitedir({str(purelib)!r})\n", encoding="utf-8"
    )
    own_python = target / "bin" / "python"
    kit_shebang = "#!" + str(Path(sys.executable))
    for script in scripts.iterdir():
        if not script.is_file() or (target / "bin" / script.name).exists():
            continue
        try:
            text = script.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        first, _, rest = text.partition("\n")
        if first.strip() == kit_shebang:
            copy = target / "bin" / script.name
            copy.write_text(f"#!{own_python}\n{rest}", encoding="utf-8")
            copy.chmod(0o755)
    for path in [target, *target.rglob("*")]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | stat.S_IROTH | stat.S_IRGRP)
            if path.is_dir():
                path.chmod(path.stat().st_mode | stat.S_IXOTH | stat.S_IXGRP)
    logger.info(
        "The kit's Python is not readable by other accounts; the hub runs the kit "
        "with %s through %s",
        system_python,
        target,
    )
    return target / "bin"
