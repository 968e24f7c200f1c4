"""JupyterLab for the kit: the course, the notebooks and the runs in one browser tab.

`start_lab` starts JupyterLab with this interpreter in the kit's root folder, with
nbgrader's extensions on (Formgrader, Assignment List, Create Assignment, Validate) and the
course in ``exercises/`` configured. Jupyter's configuration, data and runtime files go
to a ``.jupyter/`` folder inside the kit (it ignores itself in git), never to the user's
home folder; the files it holds are written again at every start.

``squad lab`` (and ``make lab``) is the command-line form.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from squad._atomic import atomic_write_json, atomic_write_text
from squad._imports import masked_entry_point
from squad.course.build import find_course_dir
from squad.errors import InvalidInputError, MissingFileError
from squad.servers import (
    TIED_TO_PARENT,
    log_tail,
    responds,
    start_server,
    stop_process,
    wait_until_ready,
)

__all__ = [
    "LAB_DIR",
    "LAB_PLUGINS",
    "LAB_SETTINGS_OVERRIDES",
    "SERVER_EXTENSIONS",
    "LabServer",
    "lab_command",
    "lab_environment",
    "prepare_lab",
    "server_config",
    "start_lab",
    "write_lab_settings",
]

logger = logging.getLogger("squad")

#: The folder, inside the kit's root, that holds the project's own Jupyter files.
LAB_DIR = ".jupyter"

#: nbgrader's server extensions, all switched on.
SERVER_EXTENSIONS = (
    "nbgrader.server_extensions.formgrader",
    "nbgrader.server_extensions.assignment_list",
    "nbgrader.server_extensions.course_list",
    "nbgrader.server_extensions.validate_assignment",
)

#: nbgrader's JupyterLab plugins, switched on even where a system setting turned one off.
LAB_PLUGINS = (
    "@jupyter/nbgrader:menu",
    "@jupyter/nbgrader:formgrader",
    "@jupyter/nbgrader:assignment-list",
    "@jupyter/nbgrader:course-list",
    "@jupyter/nbgrader:create-assignment",
    "@jupyter/nbgrader:validate-assignment",
)

_SUBDIRS = ("config", "data", "runtime", "ipython")
_NBGRADER_CONFIG = "nbgrader_config.py"
_DEFAULT_EXCHANGE = "/usr/local/share/nbgrader/exchange"


def _lab_dir(root: Path) -> Path:
    return root / LAB_DIR


def lab_environment(
    root: str | os.PathLike[str], *, token: str | None = None
) -> dict[str, str]:
    """Return the environment variables that keep Jupyter's files inside the kit.

    Parameters
    ----------
    root : path-like
        The kit's root folder.
    token : str, default=None
        The server's token (``JUPYTER_TOKEN``); ``None`` leaves it out.

    Returns
    -------
    dict of str to str
        ``JUPYTER_CONFIG_DIR``, ``JUPYTER_DATA_DIR``, ``JUPYTER_RUNTIME_DIR`` and
        ``IPYTHONDIR`` under ``<root>/.jupyter/``, plus ``JUPYTER_TOKEN`` when given.
        Merge them into ``os.environ`` for the server's process.

    Examples
    --------
    >>> env = lab_environment("/kit")
    >>> Path(env["JUPYTER_CONFIG_DIR"]).parts[-2:]
    ('.jupyter', 'config')
    >>> "JUPYTER_TOKEN" in env
    False
    """
    base = _lab_dir(Path(root).absolute())
    env = {
        "JUPYTER_CONFIG_DIR": str(base / "config"),
        "JUPYTER_DATA_DIR": str(base / "data"),
        "JUPYTER_RUNTIME_DIR": str(base / "runtime"),
        "IPYTHONDIR": str(base / "ipython"),
        "JUPYTER_PLATFORM_DIRS": "1",
    }
    if token is not None:
        env["JUPYTER_TOKEN"] = token
    return env


def _course_exchange(course_dir: Path) -> Path | None:
    """Return the course's ``Exchange.root``, or None when the course does not set it."""
    from traitlets.config.loader import PyFileConfigLoader

    loader = PyFileConfigLoader(_NBGRADER_CONFIG, path=str(course_dir))
    try:
        config = loader.load_config()
    except Exception as err:  # the file is Python: any error is possible
        msg = (
            f"Course configuration '{course_dir / _NBGRADER_CONFIG}' could not be read: "
            f"{type(err).__name__}: {err}. Fix the file and start again."
        )
        raise InvalidInputError(msg) from err
    if "Exchange" in config and "root" in config.Exchange:
        return Path(config.Exchange.root)
    return None


#: JupyterLab's defaults changed for a course: nothing asks a trainee to decide about
#: the software rather than the exercise (the news question on the first page, update
#: checks). Defaults, not locks: a choice made in Settings still wins.
LAB_SETTINGS_OVERRIDES: dict[str, dict[str, Any]] = {
    "@jupyterlab/apputils-extension:notification": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}


def write_lab_settings(folder: Path) -> Path:
    """Write the kit's JupyterLab setting defaults (``overrides.json``) into ``folder``.

    The folder becomes JupyterLab's ``LabApp.app_settings_dir`` (see
    :func:`server_config`), so the defaults hold for every account that uses it.

    Examples
    --------
    >>> import tempfile
    >>> folder = write_lab_settings(Path(tempfile.mkdtemp()))
    >>> sorted(p.name for p in folder.iterdir())
    ['overrides.json']
    """
    atomic_write_json(folder / "overrides.json", LAB_SETTINGS_OVERRIDES)
    return folder


def server_config(settings_dir: Path) -> dict[str, Any]:
    """The kit's Jupyter server settings (``jupyter_server_config.json``).

    Parameters
    ----------
    settings_dir : pathlib.Path
        Where :func:`write_lab_settings` wrote JupyterLab's setting defaults.
    """
    extensions = {"jupyterlab": True} | {name: True for name in SERVER_EXTENSIONS}
    return {
        "ServerApp": {"jpserver_extensions": extensions},
        # Looking for language servers runs `npm`, which writes logs into the home
        # folder; JupyterLab's code assistance is off by default anyway.
        "LanguageServerManager": {"autodetect": False},
        "LabApp": {
            # Extensions are installed with pip into the kit's environment, not from
            # the Extension Manager (which would search PyPI from the browser).
            "extension_manager": "readonly",
            "app_settings_dir": str(settings_dir),
            # No announcements or update checks: courses often run offline.
            "news_url": None,
            "check_for_updates_class": (
                "jupyterlab.handlers.announcements.NeverCheckForUpdate"
            ),
        },
    }


def _page_config() -> dict[str, Any]:
    return {
        "disabledExtensions": {name: False for name in LAB_PLUGINS},
        # Extensions come prebuilt from pip: no build check (it runs Node.js) and no
        # "Build" prompt.
        "buildCheck": False,
        "buildAvailable": False,
    }


def _nbgrader_config(course_config: Path) -> str:
    return (
        '"""nbgrader configuration of the kit\'s JupyterLab (written by `squad lab`).\n\n'
        "It loads the course's own configuration, so that Formgrader, Validate and the\n"
        "Assignment List use the course wherever the server runs. Edit the course's\n"
        "file, not this one: this file is written again at every start.\n"
        '"""\n\n'
        "c = get_config()  # noqa: F821\n"
        f"load_subconfig({str(course_config)!r})  # noqa: F821\n"
    )


def prepare_lab(
    root: str | os.PathLike[str] | None = None,
    *,
    course_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """Write the project's Jupyter configuration under ``<root>/.jupyter/``.

    The configuration switches nbgrader's server extensions and JupyterLab plugins on,
    points nbgrader at the course's ``nbgrader_config.py`` and turns off JupyterLab's
    news and update checks. The course's exchange folder is created. Nothing else is
    written outside ``root``.

    Parameters
    ----------
    root : path-like, default=None
        The kit's root folder: the server's root and working folder. ``None`` means the
        current folder.
    course_dir : path-like, default=None
        The nbgrader course, inside ``root``. ``None`` means ``SQUAD_COURSE_DIR``, else
        ``<root>/exercises``.

    Returns
    -------
    pathlib.Path
        The ``.jupyter`` folder.

    Raises
    ------
    FileNotFoundError
        If ``root`` is not a folder or the course has no ``nbgrader_config.py``.
    ValueError
        If the course is not inside ``root`` (Formgrader cannot open its notebooks), or
        its ``nbgrader_config.py`` fails.

    Examples
    --------
    >>> import tempfile
    >>> kit = Path(tempfile.mkdtemp())
    >>> (kit / "exercises" / "source").mkdir(parents=True)
    >>> _ = (kit / "exercises" / "nbgrader_config.py").write_text("c = get_config()\\n")
    >>> lab = prepare_lab(kit)
    >>> sorted(p.name for p in (lab / "config").iterdir())
    ['jupyter_server_config.json', 'lab-settings', 'labconfig', 'nbgrader_config.py']
    >>> (lab / ".gitignore").read_text()
    '*\\n'
    """
    root_path = Path.cwd() if root is None else Path(root)
    root_path = root_path.expanduser().resolve()
    if not root_path.is_dir():
        msg = (
            f"Kit folder '{root_path}' does not exist. Run `squad lab` from the kit's "
            "root folder or pass --root."
        )
        raise MissingFileError(msg)
    if course_dir is None and not os.environ.get("SQUAD_COURSE_DIR"):
        course_dir = root_path / "exercises"
    course = find_course_dir(course_dir)
    if not course.is_relative_to(root_path):
        msg = (
            f"Course folder '{course}' is not inside the kit folder '{root_path}': "
            "Formgrader can only open notebooks below the server's root. Pass a "
            "course inside the kit, or --root a folder that holds both."
        )
        raise InvalidInputError(msg)

    lab = _lab_dir(root_path)
    for name in _SUBDIRS:
        (lab / name).mkdir(parents=True, exist_ok=True)
    # The folder holds only generated state and private files (tokens, cookies).
    atomic_write_text(lab / ".gitignore", "*\n")
    config = lab / "config"
    settings = write_lab_settings(config / "lab-settings")
    atomic_write_json(config / "jupyter_server_config.json", server_config(settings))
    atomic_write_json(config / "labconfig" / "page_config.json", _page_config())
    atomic_write_text(
        config / _NBGRADER_CONFIG, _nbgrader_config(course / _NBGRADER_CONFIG)
    )

    exchange = _course_exchange(course)
    if exchange is None:
        logger.warning(
            "The course '%s' sets no Exchange.root; nbgrader uses %s, and Formgrader "
            "warns when it does not exist. Set c.Exchange.root in %s.",
            course,
            _DEFAULT_EXCHANGE,
            course / _NBGRADER_CONFIG,
        )
    else:
        exchange.mkdir(parents=True, exist_ok=True)
    logger.info("JupyterLab configuration written to %s for course %s", lab, course)
    return lab


def lab_command(
    root: str | os.PathLike[str], *, port: int = 8888, open_browser: bool = False
) -> list[str]:
    """Return the command that starts JupyterLab with this interpreter.

    Jupyter refuses to run as root unless told to; as root (containers, CI) the command
    says so, and a warning is logged.

    Parameters
    ----------
    root : path-like
        The kit's root folder, served as the file browser's top folder.
    port : int, default=8888
        The port to listen on; ``0`` lets the system choose a free one. A busy port is
        replaced by another one (see `LabServer.url`).
    open_browser : bool, default=False
        Open the user's web browser once the server runs.

    Returns
    -------
    list of str

    Examples
    --------
    >>> cmd = lab_command("/kit", port=0)
    >>> cmd[1]
    '-c'
    >>> "--ServerApp.port=0" in cmd
    True
    """
    command = [
        *masked_entry_point(sys.executable, "jupyterlab.labapp:main", "jupyter-lab"),
        f"--ServerApp.root_dir={Path(root).absolute()}",
        f"--ServerApp.port={int(port)}",
        f"--ServerApp.open_browser={bool(open_browser)}",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        logger.warning("Running JupyterLab as root: kernels run with root's rights")
        command.append("--ServerApp.allow_root=True")
    return command


@dataclass
class LabServer:
    """A running JupyterLab server started by `start_lab`.

    Attributes
    ----------
    process : subprocess.Popen
        The server's process.
    url : str
        The server's base URL, ending with ``/`` (for example ``http://localhost:8888/``).
    token : str
        The token that logs a browser in.
    root : pathlib.Path
        The served folder.
    log_path : pathlib.Path or None
        The server's log file, when one was asked for.
    """

    process: subprocess.Popen
    url: str
    token: str
    root: Path
    log_path: Path | None = None

    def lab_url(self, path: str = "lab") -> str:
        """Return the URL of ``path`` on the server, with the token to log in.

        Examples
        --------
        >>> server = LabServer(None, "http://localhost:8888/", "abc", Path("."))
        >>> server.lab_url()
        'http://localhost:8888/lab?token=abc'
        >>> server.lab_url("formgrader")
        'http://localhost:8888/formgrader?token=abc'
        """
        return f"{self.url}{path.lstrip('/')}?token={self.token}"

    def stop(self, timeout: float = 20.0) -> None:
        """Shut the server and its kernels down (SIGTERM, then a kill after ``timeout``)."""
        stop_process(self.process, timeout, "JupyterLab")

    def __enter__(self) -> LabServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _server_environment(
    root: Path, token: str, env: Mapping[str, str] | None
) -> dict[str, str]:
    """The server's environment: ``env`` (default: this process's) made fit for the lab.

    Examples
    --------
    >>> env = _server_environment(Path("/kit"), "abc", {"MPLBACKEND": "Agg", "PATH": ""})
    >>> "MPLBACKEND" in env, env["JUPYTER_TOKEN"]
    (False, 'abc')
    >>> env["PATH"].split(os.pathsep)[0] == str(Path(sys.executable).parent)
    True
    """
    server_env = dict(os.environ if env is None else env)
    server_env.update(lab_environment(root, token=token))
    # nbgrader's gradebook runs the `alembic` command: this interpreter's scripts come
    # first on PATH, also when the kit's virtual environment is not activated.
    scripts = str(Path(sys.executable).parent)
    server_env["PATH"] = os.pathsep.join([scripts, server_env.get("PATH", "")])
    # Headless runs (make, CI) set MPLBACKEND=Agg; in JupyterLab, kernels choose the
    # inline backend themselves, so that plots show in the notebook.
    if server_env.get("MPLBACKEND", "").lower() == "agg":
        del server_env["MPLBACKEND"]
    return server_env


def _server_info(runtime_dir: Path, token: str) -> dict[str, Any] | None:
    for info_file in runtime_dir.glob("jpserver-*.json"):
        with contextlib.suppress(OSError, ValueError):
            info = json.loads(info_file.read_text(encoding="utf-8"))
            if info.get("token") == token:
                return info
    return None


def _responds(url: str, token: str) -> bool:
    return responds(f"{url}api/status", headers={"Authorization": f"token {token}"})


def _answering_url(runtime_dir: Path, token: str) -> str | None:
    """The server's base URL once it has written its runtime file and answers."""
    info = _server_info(runtime_dir, token)
    if info is not None and _responds(info["url"], token):
        return info["url"].rstrip("/") + "/"
    return None


def start_lab(
    root: str | os.PathLike[str] | None = None,
    *,
    course_dir: str | os.PathLike[str] | None = None,
    port: int = 8888,
    token: str | None = None,
    open_browser: bool = False,
    log_file: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 120.0,
) -> LabServer:
    """Start JupyterLab on the kit and wait until it answers.

    The server runs with this interpreter, in ``root`` (its working folder and the file
    browser's top folder), with the configuration that `prepare_lab` writes.

    Parameters
    ----------
    root : path-like, default=None
        The kit's root folder; ``None`` means the current folder.
    course_dir : path-like, default=None
        The nbgrader course inside ``root`` (default ``<root>/exercises``).
    port : int, default=8888
        The port; ``0`` picks a free one. If the port is busy, Jupyter takes another.
    token : str, default=None
        The login token; ``None`` makes a new random one.
    open_browser : bool, default=False
        Open the user's web browser on the server.
    log_file : path-like, default=None
        Write the server's log there; ``None`` lets it go to this process's stderr.
    env : mapping of str to str, default=None
        Environment of the server (default: this process's), before the Jupyter
        folders of `lab_environment` are added.
    timeout : float, default=120.0
        Seconds to wait for the server to answer.

    Returns
    -------
    LabServer
        Call its ``stop()`` (or use it in a ``with`` block) to shut it down.

    Raises
    ------
    ToolFailedError
        If the server exits while starting (a ``ChildProcessError``).
    ServiceError
        If it does not answer within ``timeout`` seconds (a ``ConnectionError``).
    """
    lab = prepare_lab(root, course_dir=course_dir)
    root_path = lab.parent
    token = token or secrets.token_hex(24)
    server_env = _server_environment(root_path, token, env)
    runtime_dir = Path(server_env["JUPYTER_RUNTIME_DIR"])

    log_path = None if log_file is None else Path(log_file).absolute()
    if os.name == "posix" and not TIED_TO_PARENT:
        logger.warning(
            "On %s the server cannot be tied to this process: if it is killed "
            "hard (kill -9), stop JupyterLab with `jupyter server stop`.",
            sys.platform,
        )
    command = lab_command(root_path, port=port, open_browser=open_browser)
    process = start_server(command, cwd=root_path, env=server_env, log_path=log_path)
    server = LabServer(process, "", token, root_path, log_path)
    try:
        server.url = wait_until_ready(
            process,
            lambda: _answering_url(runtime_dir, token),
            name="JupyterLab",
            timeout=timeout,
            exited=lambda status: (
                f"JupyterLab exited with status {status} while starting "
                f"in '{root_path}': {log_tail(log_path)}. Check that jupyterlab "
                "and nbgrader are installed (`make install`)."
            ),
            late=lambda: (
                f"JupyterLab did not answer within {timeout:.0f} s in "
                f"'{root_path}': {log_tail(log_path)}."
            ),
        )
    except BaseException:
        server.stop()
        raise
    return server
