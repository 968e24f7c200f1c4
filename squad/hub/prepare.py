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
and grades.
"""

from __future__ import annotations

import grp
import json
import logging
import os
import pprint
import pwd
import secrets
import shutil
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from squad._atomic import atomic_write_json, atomic_write_text
from squad._imports import masked_entry_point
from squad.course.lab import server_config, write_lab_settings
from squad.errors import InvalidInputError, MissingFileError
from squad.hub.accounts import FIRST_PERSON_UID, require_root
from squad.hub.coursefile import CourseFile
from squad.hub.exchange import (
    EXCHANGE_CLASSES,
    prepare_exchange,
    quarantine,
    submission_problem,
)
from squad.hub.passwords import issue_passwords
from squad.hub.python import readable_by, user_python
from squad.hub.spawner import spawner_class

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

#: The npm package of JupyterHub's proxy, installed by `make hub-proxy`.
PROXY_PACKAGE = "configurable-http-proxy@5.3.0"
#: Where the kit's own install step puts the proxy (npm install --prefix .hub-node).
PROXY_DIR = ".hub-node"
_KIT_ROOT = Path(__file__).resolve().parents[2]

_EXTENSIONS = ("formgrader", "assignment_list", "course_list", "validate_assignment")
_LAB_PLUGINS = {
    "formgrader": "@jupyter/nbgrader:formgrader",
    "assignment_list": "@jupyter/nbgrader:assignment-list",
    "course_list": "@jupyter/nbgrader:course-list",
    "create_assignment": "@jupyter/nbgrader:create-assignment",
    "validate_assignment": "@jupyter/nbgrader:validate-assignment",
}
#: Which of nbgrader's parts each kind of account sees (nbgrader's docs, "one class,
#: multiple graders"): trainees fetch and submit; instructors also see the course list
#: (their way to the shared Formgrader); the grader account runs Formgrader.
_ROLES_PARTS = {
    "trainee": {"assignment_list", "validate_assignment"},
    "instructor": {"assignment_list", "validate_assignment", "course_list"},
    "grader": {"formgrader", "create_assignment", "validate_assignment"},
}

#: Instructors' Course List finds the course's Formgrader through the hub's API: their
#: groups (nbgrader's JupyterHubAuthPlugin), then the hub's list of services. Without
#: it, nbgrader probes Formgrader itself with the server's token, and every kernel of
#: an instructor would need to reach Formgrader (the grader's account).
_COURSE_LIST_CONFIG = (
    'c.Authenticator.plugin_class = "nbgrader.auth.JupyterHubAuthPlugin"\n'
)


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


def find_proxy() -> Path:
    """Return JupyterHub's proxy, ``configurable-http-proxy``.

    Looks at ``SQUAD_HUB_PROXY``, then the kit's ``.hub-node/`` (where ``make
    hub-proxy`` installs it from the npm registry), then ``PATH``.

    Raises
    ------
    MissingFileError
        With the command that installs it.
    """
    candidates = [
        os.environ.get("SQUAD_HUB_PROXY"),
        str(
            _KIT_ROOT / PROXY_DIR / "node_modules" / ".bin" / "configurable-http-proxy"
        ),
        shutil.which("configurable-http-proxy"),
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    msg = (
        "JupyterHub's proxy (configurable-http-proxy) is not installed. Run `make "
        f"hub-proxy`, or `npm install --prefix {PROXY_DIR} {PROXY_PACKAGE}` in the kit."
    )
    raise MissingFileError(msg)


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


def _check_course_closed(course: CourseFile) -> None:
    """Refuse a course whose solutions or hidden tests a trainee could read."""
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


def _course_config(course: CourseFile) -> Any:
    """The course's own nbgrader configuration, read as nbgrader reads it."""
    from traitlets.config.loader import PyFileConfigLoader

    loader = PyFileConfigLoader("nbgrader_config.py", path=str(course.course_dir))
    try:
        return loader.load_config()
    except Exception as err:  # the file is Python: any error is possible
        msg = (
            f"Course configuration '{course.course_dir / 'nbgrader_config.py'}' could "
            f"not be read: {type(err).__name__}: {err}. Fix the file and start again."
        )
        raise InvalidInputError(msg) from err


def _nbgrader_config(course: CourseFile, layout: HubLayout, *, grader: bool) -> str:
    lines = [
        '"""nbgrader configuration written by `squad hub start`: edit the course file',
        'or the course\'s own nbgrader_config.py instead; this file is rewritten."""',
        "",
        "c = get_config()  # noqa: F821",
    ]
    if grader:
        # The course's own settings (timeouts, ignore patterns), then the hub's folders.
        course_config = course.course_dir / "nbgrader_config.py"
        lines += [
            f"load_subconfig({str(course_config)!r})  # noqa: F821",
            f"c.CourseDirectory.root = {str(layout.course)!r}",
            f"c.CourseDirectory.db_url = {'sqlite:///' + str(layout.gradebook)!r}",
        ]
    else:
        # Validate runs the notebook with the course's time limit per cell.
        timeout = _course_config(course).get("Execute", {}).get("timeout")
        if timeout:
            lines.append(f"c.Execute.timeout = {int(timeout)}")
    lines += [
        f"c.CourseDirectory.course_id = {course.course_id!r}",
        f"c.Exchange.root = {str(layout.exchange)!r}",
        # The exchange is the grader's; identity comes from who made a submission
        # (see squad.hub.exchange).
        *(
            f'c.ExchangeFactory.{kind} = "{cls.__module__}.{cls.__name__}"'
            for kind, cls in EXCHANGE_CLASSES.items()
        ),
        f"c.VerifiedCollect.student_group = {course.student_group!r}",
    ]
    return "\n".join(lines) + "\n"


def _write_jupyter_config(course: CourseFile, layout: HubLayout, role: str) -> Path:
    folder = layout.etc / role
    parts = _ROLES_PARTS[role]
    # The kit's JupyterLab settings: no news question, no update checks, no npm.
    server = server_config(write_lab_settings(folder / "lab-settings"))
    server["ServerApp"]["jpserver_extensions"] = {
        f"nbgrader.server_extensions.{name}": name in parts for name in _EXTENSIONS
    }
    # A kernel stopped for memory says so in its cell (squad.hub.notices).
    server["ServerApp"]["kernel_websocket_connection_class"] = (
        "squad.hub.notices.MemoryNoticeConnection"
    )
    # The server's kernels talk over Unix sockets in the private runtime folder the
    # spawner gives (JUPYTER_RUNTIME_DIR): no TCP port to lose to another process
    # when a class starts kernels at once (jupyter_client#276). Only the server's own
    # kernel managers: nbgrader's Validate, with no connection file, would put its
    # sockets into the notebook's folder. Not the grader's Formgrader: a hub service,
    # not spawned, it has no such folder.
    if role != "grader":
        server["ServerKernelManager"] = {"transport": "ipc"}
    page = {
        "disabledExtensions": {
            plugin: name not in parts for name, plugin in _LAB_PLUGINS.items()
        },
        "buildCheck": False,
        "buildAvailable": False,
    }
    atomic_write_json(folder / "jupyter_server_config.json", server)
    atomic_write_json(folder / "labconfig" / "page_config.json", page)
    if role != "grader":
        text = _nbgrader_config(course, layout, grader=False)
        if role == "instructor":
            text += _COURSE_LIST_CONFIG
        atomic_write_text(folder / "nbgrader_config.py", text)
    for path in [folder, *folder.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    return folder


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


def role_environment(layout: HubLayout, role: str) -> dict[str, str]:
    """The environment the hub gives the servers of ``role`` (trainee, instructor,
    grader): the kit's scripts first on ``PATH``, the role's Jupyter configuration
    before the kit's own, the kit's Jupyter data (JupyterLab's and nbgrader's
    extensions, templates), the course's datasets.
    """
    kit = Path(sys.prefix)
    environment = {
        "PATH": os.pathsep.join(
            [str(layout.scripts), "/usr/local/bin", "/usr/bin", "/bin"]
        ),
        "JUPYTER_CONFIG_PATH": os.pathsep.join(
            [str(layout.etc / role), str(kit / "etc" / "jupyter")]
        ),
        "JUPYTER_PATH": str(kit / "share" / "jupyter"),
        "SQUAD_DATA_HOME": str(layout.data),
    }
    own_lib = layout.root / "python" / "lib"
    if own_lib.is_dir():  # the copy of the interpreter finds its libpython there
        environment["LD_LIBRARY_PATH"] = str(own_lib)
    if os.environ.get("SQUAD_DATA_MIRROR"):
        environment["SQUAD_DATA_MIRROR"] = os.environ["SQUAD_DATA_MIRROR"]
    return environment


#: Run first by the hub's managed services (Formgrader, idle culler): they get SIGTERM
#: when the hub dies, however it dies. A hub stopped by SIGTERM stops them itself; one
#: that is killed would leave them holding their ports. Trainees' servers do not run
#: it: they outlive a hub restart by design.
_DIE_WITH_HUB = (
    "import ctypes, os, signal; "
    "ctypes.CDLL(None).prctl(1, int(signal.SIGTERM), 0, 0, 0); "  # PR_SET_PDEATHSIG
    "os.getppid() == 1 and os.kill(os.getpid(), signal.SIGTERM); "  # hub already gone
)


def _settings(
    course: CourseFile, layout: HubLayout, *, ip: str, shared_password: bool
) -> dict[str, Any]:
    scripts = user_python(layout.root / "python")
    return {
        "course_id": course.course_id,
        "ip": ip,
        "port": course.port,
        "state": str(layout.state),
        "shared_passwords": str(layout.passwords) if shared_password else None,
        "password_hashes": str(layout.password_hashes),
        "proxy": str(find_proxy()),
        "singleuser": masked_entry_point(
            str(scripts / "python"),
            "jupyterhub.singleuser:main",
            "jupyterhub-singleuser",
        ),
        "formgrader": masked_entry_point(
            str(scripts / "python"),
            "jupyterhub.singleuser:main",
            "jupyterhub-singleuser",
            prelude=_DIE_WITH_HUB,
        ),
        "culler": masked_entry_point(
            sys.executable,
            "jupyterhub_idle_culler:main",
            "jupyterhub-idle-culler",
            prelude=_DIE_WITH_HUB,
        ),
        "instructors": list(course.instructors),
        "trainees": list(course.trainees),
        "grader": course.grader,
        "course_root": str(layout.course),
        "environments": {role: role_environment(layout, role) for role in _ROLES_PARTS},
        "idle_seconds": course.idle_minutes * 60,
        "spawner": spawner_class(),
        "limits": {
            "mem_limit": course.mem_limit,
            "cpu_limit": course.cpu_limit,
            "max_processes": course.max_processes,
        },
    }


_CONFIG_TEMPLATE = '''"""JupyterHub configuration of course {course_id!r}: written by `squad hub start`.

Edit the course file ({course_file}) and start again; changes here are overwritten.
"""

import json

SETTINGS = {settings}

c = get_config()  # noqa: F821
S = SETTINGS
course = S["course_id"]
ports = [S["port"] + n for n in range(4)]  # public, hub API, proxy API, Formgrader

# --- network and state: everything in the hub's folder -----------------------------
c.JupyterHub.bind_url = f"http://{{S['ip'] or '0.0.0.0'}}:{{ports[0]}}"
c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{{ports[1]}}"
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{{ports[2]}}"
c.ConfigurableHTTPProxy.command = [S["proxy"]]
c.ConfigurableHTTPProxy.pid_file = S["state"] + "/proxy.pid"
c.JupyterHub.db_url = "sqlite:///" + S["state"] + "/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = S["state"] + "/jupyterhub_cookie_secret"
c.JupyterHub.pid_file = S["state"] + "/jupyterhub.pid"

# --- who logs in: the roster, each with their own password (squad.hub.auth) -------
# Failed logins are limited per user name and per address (RateLimitedAuthenticator's
# failures_per_name, failures_per_client, failure_window, lockout).
c.Authenticator.allowed_users = set(S["instructors"] + S["trainees"])
c.Authenticator.admin_users = set(S["instructors"])
c.Authenticator.blocked_users = {{S["grader"], "root"}}
# A reverse proxy on this machine (nginx for HTTPS) passes on its clients' addresses:
# failures are counted per client, not all on the proxy.
c.JupyterHub.trusted_downstream_ips = ["127.0.0.1"]
if S["shared_passwords"]:  # squad hub start --shared-password
    with open(S["shared_passwords"], encoding="utf-8") as handle:
        passwords = json.load(handle)
    c.JupyterHub.authenticator_class = "squad.hub.auth.SquadSharedPasswordAuthenticator"
    c.SharedPasswordAuthenticator.user_password = passwords["trainee"]
    c.SharedPasswordAuthenticator.admin_password = passwords["instructor"]
else:
    c.JupyterHub.authenticator_class = "squad.hub.auth.SquadPasswordAuthenticator"
    c.SquadPasswordAuthenticator.password_file = S["password_hashes"]

# --- each person's server: their own Unix account, the kit's environment -----------
# Under the course's limits, enforced by systemd or by a cgroup per person.
c.JupyterHub.spawner_class = S["spawner"]
c.Spawner.mem_limit = S["limits"]["mem_limit"]
c.Spawner.cpu_limit = S["limits"]["cpu_limit"]
c.CourseSpawner.max_processes = S["limits"]["max_processes"]
c.CourseSpawner.cgroup_group = "squad-" + course
c.CourseSystemdSpawner.max_processes = S["limits"]["max_processes"]
c.Spawner.cmd = S["singleuser"]
c.Spawner.default_url = "/lab"
c.Spawner.start_timeout = 300
c.Spawner.http_timeout = 300


def per_role_environment(spawner):
    """Trainees and instructors see different parts of nbgrader."""
    role = "instructor" if spawner.user.name in S["instructors"] else "trainee"
    spawner.environment = {{**spawner.environment, **S["environments"][role]}}


c.Spawner.pre_spawn_hook = per_role_environment

# --- nbgrader: one class, several graders (nbgrader's demos) -----------------------
c.JupyterHub.load_groups = {{
    "nbgrader-" + course: {{"users": S["instructors"] + S["trainees"]}},
    "formgrade-" + course: {{"users": S["instructors"]}},
}}
c.JupyterHub.load_roles = [
    {{
        "name": "formgrade-" + course,
        "groups": ["formgrade-" + course],
        "scopes": [
            "access:services!service=" + course,
            "list:services",
            "read:services!service=" + course,
        ],
    }},
    {{
        "name": "nbgrader-" + course,
        "groups": ["nbgrader-" + course],
        "scopes": ["list:services", "read:services!service=" + course],
    }},
    # What each person's server (and every kernel it runs) may do with its token: post
    # its activity, reach itself, and read what nbgrader's Course List needs (the
    # person's groups, the course's Formgrader service). Never the person's own admin
    # rights: instructors administer the hub in its admin page, not from a kernel.
    {{
        "name": "server",
        "scopes": [
            "users:activity!user",
            "access:servers!server",
            "read:users:groups!user",
            "list:services",
            "read:services!service=" + course,
        ],
    }},
    {{
        "name": "idle-culler",
        "scopes": [
            "list:users",
            "read:users:activity",
            "read:servers",
            "delete:servers",
        ],
        "services": ["idle-culler"],
    }},
]
c.JupyterHub.services = [
    {{
        # The course's Formgrader, shared by the instructors, run by the grader.
        "name": course,
        "url": f"http://127.0.0.1:{{ports[3]}}",
        "command": S["formgrader"],
        "user": S["grader"],
        "cwd": S["course_root"],
        "oauth_no_confirm": True,
        # Seconds the hub waits for it at start; a loaded server needs more than 10.
        "timeout": 300,
        "environment": {{
            **S["environments"]["grader"],
            "JUPYTERHUB_DEFAULT_URL": "/lab",
        }},
    }},
    {{
        "name": "idle-culler",
        "command": [*S["culler"], f"--timeout={{S['idle_seconds']}}"],
    }},
]
'''


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
    _check_course_closed(course)
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
        _nbgrader_config(course, layout, grader=True),
    )
    _chown_tree(layout.course, grader.pw_uid, grader.pw_gid)
    for role in _ROLES_PARTS:
        _write_jupyter_config(course, layout, role)
    if shared_password:
        _shared_passwords(layout)
    else:
        issued = issue_passwords(course, layout)
        if issued.names:
            logger.info(issued.summary())
    _build_datasets(course, layout)

    settings = _settings(course, layout, ip=ip, shared_password=shared_password)
    text = _CONFIG_TEMPLATE.format(
        course_id=course.course_id,
        course_file=course.path,
        settings=pprint.pformat(settings, indent=4, sort_dicts=False),
    )
    atomic_write_text(layout.config_file, text)
    if not layout.config_file.is_file():  # pragma: no cover - atomic write failed
        raise MissingFileError(f"Could not write {layout.config_file}.")
    return course, layout
