"""Helpers for the hub tests: run things as a course's Unix users, submit as 30 of them.

Used by ``tests/hub/test_real_hub.py``. Run as a script (as root, with the interpreter
the hub gives its users), it is the load test's driver: it forks one process per
trainee; each drops to that trainee's Unix account and does what the Assignment List
does in the trainee's server (nbgrader's fetch, then nbgrader's submit through the
exchange factory), after writing the trainee's own marker into the notebook.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import subprocess
import sys
import time
from pathlib import Path


def user_env(name: str, scripts: Path, extra: dict[str, str]) -> dict[str, str]:
    """The environment of a process of account ``name``, as the hub gives it."""
    entry = pwd.getpwnam(name)
    env = {
        "HOME": entry.pw_dir,
        "USER": name,
        "LOGNAME": name,
        "PATH": os.pathsep.join([str(scripts), "/usr/bin", "/bin"]),
        "LANG": "C.UTF-8",
    }
    if os.environ.get("SQUAD_TEST_SESSION"):  # the suite's check for survivors
        env["SQUAD_TEST_SESSION"] = os.environ["SQUAD_TEST_SESSION"]
    env.update(extra)
    return env


def run_as(
    name: str,
    command: list[str],
    *,
    scripts: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 600,
) -> subprocess.CompletedProcess:
    """Run ``command`` as Unix account ``name`` (its groups too); capture its output."""
    entry = pwd.getpwnam(name)
    return subprocess.run(
        command,
        user=entry.pw_uid,
        group=entry.pw_gid,
        extra_groups=os.getgrouplist(name, entry.pw_gid),
        env=user_env(name, scripts, env or {}),
        cwd=cwd or entry.pw_dir,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def group_members(group: str) -> set[str]:
    """The members of a Unix group."""
    return set(grp.getgrnam(group).gr_mem)


# --------------------------------------------------------------------------- driver
def _fetch_answer_submit(assignment: str, marker: str) -> None:
    """In a trainee's process: fetch, write the marker into the notebook, submit."""
    import nbformat
    from nbgrader.apps import NbGrader
    from nbgrader.auth import Authenticator
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.exchange import ExchangeFactory

    app = NbGrader()
    app.load_config_file()
    config = app.config
    coursedir = CourseDirectory(config=config)
    coursedir.assignment_id = assignment
    authenticator = Authenticator(config=config)
    factory = ExchangeFactory(config=config)
    factory.FetchAssignment(
        coursedir=coursedir, authenticator=authenticator, config=config
    ).start()
    for path in Path(assignment).glob("*.ipynb"):
        notebook = nbformat.read(path, as_version=4)
        notebook.cells.append(nbformat.v4.new_markdown_cell(marker))
        nbformat.write(notebook, path)
    factory.Submit(
        coursedir=coursedir, authenticator=authenticator, config=config
    ).start()


def main(plan_file: str) -> int:
    """Fork one process per trainee of the plan; report each one's status and times."""
    # Everything the children use is imported before they drop their rights.
    import nbformat  # noqa: F401
    from nbgrader.apps import NbGrader  # noqa: F401
    from nbgrader.exchange.default import fetch_assignment, submit  # noqa: F401

    import squad.hub.exchange  # noqa: F401

    plan = json.loads(Path(plan_file).read_text())
    children = {}
    for entry in plan["trainees"]:
        start = time.time()
        pid = os.fork()
        if pid == 0:  # the trainee's process
            status = 1
            try:
                os.setgroups(entry["groups"])
                os.setgid(entry["gid"])
                os.setuid(entry["uid"])
                os.environ.update(entry["env"])
                os.chdir(entry["env"]["HOME"])
                _fetch_answer_submit(plan["assignment"], entry["marker"])
                status = 0
            except BaseException as err:  # report, never return into the parent's code
                print(f"{entry['name']}: {type(err).__name__}: {err}", file=sys.stderr)
            finally:
                os._exit(status)
        children[pid] = (entry["name"], start)
    results = {}
    for _ in range(len(children)):
        pid, status = os.wait()
        name, start = children[pid]
        results[name] = {"status": status, "start": start, "end": time.time()}
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
