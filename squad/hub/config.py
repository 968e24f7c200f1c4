"""The hub's generated configuration, written into its folder at every start.

``jupyterhub_config.py`` (`write_hub_config`) from the course file; for each kind of
account (`ROLES`) its Jupyter server's and nbgrader's configuration
(`write_jupyter_config`, `nbgrader_config`) and the environment its servers get
(`role_environment`). Nothing here is state: every file is written again from the course
file, so edits belong there. The folder itself is `squad.hub.layout`'s.
"""

from __future__ import annotations

import os
import pprint
import shutil
import sys
from pathlib import Path
from typing import Any

from squad._atomic import atomic_write_json, atomic_write_text
from squad._imports import masked_entry_point
from squad.course.lab import server_config, write_lab_settings
from squad.errors import InvalidInputError, MissingFileError
from squad.hub.coursefile import CourseFile
from squad.hub.exchange import EXCHANGE_CLASSES
from squad.hub.layout import HubLayout
from squad.hub.python import user_python
from squad.hub.spawner import spawner_class

__all__ = [
    "PROXY_DIR",
    "PROXY_PACKAGE",
    "ROLES",
    "find_proxy",
    "nbgrader_config",
    "role_environment",
    "write_hub_config",
    "write_jupyter_config",
]

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
#: The kinds of account the hub configures Jupyter for.
ROLES = tuple(_ROLES_PARTS)

#: Instructors' Course List finds the course's Formgrader through the hub's API: their
#: groups (nbgrader's JupyterHubAuthPlugin), then the hub's list of services. Without
#: it, nbgrader probes Formgrader itself with the server's token, and every kernel of
#: an instructor would need to reach Formgrader (the grader's account).
_COURSE_LIST_CONFIG = (
    'c.Authenticator.plugin_class = "nbgrader.auth.JupyterHubAuthPlugin"\n'
)


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


def nbgrader_config(course: CourseFile, layout: HubLayout, *, grader: bool) -> str:
    """The text of an ``nbgrader_config.py`` for the hub's course.

    Parameters
    ----------
    course : CourseFile
        The course.
    layout : HubLayout
        The hub's folder.
    grader : bool
        True: the grader's, in the hub's course folder, which loads the course's own
        configuration first. False: the one trainees' and instructors' servers read,
        with the course's time limit per cell for Validate.

    Returns
    -------
    str
        The file's text; the exchange in it is the kit's (see `squad.hub.exchange`).
    """
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


def write_jupyter_config(course: CourseFile, layout: HubLayout, role: str) -> Path:
    """Write the Jupyter configuration of ``role``'s servers into ``etc/<role>/``.

    The kit's JupyterLab settings, the parts of nbgrader the role sees (server
    extensions and JupyterLab plugins), and for trainees and instructors their
    ``nbgrader_config.py``; readable by every account.

    Parameters
    ----------
    course : CourseFile
        The course.
    layout : HubLayout
        The hub's folder.
    role : str
        One of `ROLES`.

    Returns
    -------
    pathlib.Path
        The role's folder, which `role_environment` puts on its ``JUPYTER_CONFIG_PATH``.
    """
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
        text = nbgrader_config(course, layout, grader=False)
        if role == "instructor":
            text += _COURSE_LIST_CONFIG
        atomic_write_text(folder / "nbgrader_config.py", text)
    for path in [folder, *folder.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    return folder


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
        "challenge": _challenge_service(course, layout),
    }


def _challenge_service(course: CourseFile, layout: HubLayout) -> list[str] | None:
    """The command of the hub's ``challenge`` service, if the course file names one.

    It runs as the hub does (root), with its state in the hub's state folder (0700):
    the labels and the uploads stay out of every person's reach.
    """
    if course.challenge is None:
        return None
    return [
        sys.executable,
        "-c",
        # not masked_entry_point: the challenge server may need what it masks
        _DIE_WITH_HUB + "import sys; from squad.cli import main; "
        "sys.argv[0] = 'squad'; sys.exit(main())",
        "challenge",
        "serve",
        str(course.challenge),
        "--hub-login",
        "--host",
        "127.0.0.1",
        "--port",
        str(course.port + 4),
        "--state",
        str(layout.state / "challenge"),
    ]


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
        "scopes": [
            "list:services",
            "read:services!service=" + course,
            *(["access:services!service=challenge"] if S["challenge"] else []),
        ],
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
if S["challenge"]:
    # The course's squad challenge: people log in with their hub account.
    c.JupyterHub.services.append(
        {{
            "name": "challenge",
            "url": f"http://127.0.0.1:{{S['port'] + 4}}",
            "command": S["challenge"],
            "oauth_no_confirm": True,
            "timeout": 300,
            "environment": {{
                key: value
                for key, value in S["environments"]["grader"].items()
                if key in ("PATH", "SQUAD_DATA_HOME", "SQUAD_DATA_MIRROR")
            }},
        }}
    )
'''


def write_hub_config(
    course: CourseFile, layout: HubLayout, *, ip: str, shared_password: bool
) -> Path:
    """Write ``jupyterhub_config.py`` for ``course`` into its hub folder.

    Parameters
    ----------
    course : CourseFile
        The course as served.
    layout : HubLayout
        The hub's folder.
    ip : str
        The address the hub listens on; ``""`` for every interface.
    shared_password : bool
        Log in with the shared passwords in ``state/passwords.json``.

    Returns
    -------
    pathlib.Path
        The configuration file.
    """
    settings = _settings(course, layout, ip=ip, shared_password=shared_password)
    text = _CONFIG_TEMPLATE.format(
        course_id=course.course_id,
        course_file=course.path,
        settings=pprint.pformat(settings, indent=4, sort_dicts=False),
    )
    atomic_write_text(layout.config_file, text)
    if not layout.config_file.is_file():  # pragma: no cover - atomic write failed
        raise MissingFileError(f"Could not write {layout.config_file}.")
    return layout.config_file
