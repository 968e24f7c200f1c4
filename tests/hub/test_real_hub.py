"""The course's JupyterHub (`squad hub`), run for real on localhost with Unix accounts.

One hub per module, started by `squad.hub.start_hub` from a course file, for a course
whose id, accounts and groups carry a random prefix (``sqt<hex>``); the accounts are
removed, every process is stopped and the hub folder deleted at the end, also when a
test fails. Root on Linux only (the hub makes accounts and runs servers as them).

* isolation, asserted from the operating system: a trainee's process cannot read
  another trainee's submission, the gradebook or the course's source (hidden tests),
  and cannot write into the release folder;
* limits: a trainee's server and kernels run in their own cgroup; a runaway kernel
  is stopped for memory (and told so in its cell), a fork bomb meets the process
  cap, and another trainee's kernel keeps answering; kernels talk over IPC sockets
  in a private runtime folder;
* load: 30 trainees submit at once through nbgrader's exchange, each as its own Unix
  user, and the instructor collects 30 submissions, each the right person's;
* the whole course cycle in Chromium: the instructor releases from Formgrader, three
  trainees log in, fetch, answer, validate and submit in JupyterLab, the instructor
  collects, grades with `squad grade` and by hand in Formgrader, releases feedback, and
  each trainee sees their own feedback and nobody else's;
* logins through the hub's login form: each person's own password logs in that person
  only, failed logins lock the name and then the address; an instructor's Course List
  finds Formgrader while their server's token cannot administer the hub; one shared
  password with ``--shared-password``.

Figures (start times, memory per trainee server, load timings) are written to
``test-artifacts/hub/figures.json``; a screenshot of each browser step goes beside it.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path

import nbformat
import pytest

from tests.support.browser_helpers import (
    NOTIFICATION,
    ConsoleLog,
    artifacts_on_failure,
    effective_settings,
    follow_formgrader_link,
    save_manual_score,
)
from tests.support.hub_client import V1, Trainee, login, own_token
from tests.support.hub_helpers import run_as, user_env
from tests.support.waiting import wait_until

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "hub"
FIXTURES = REPO / "tests" / "fixtures" / "submissions"

ASSIGNMENT = "02-occupation-coding"
NOTEBOOK = "occupation-coding.ipynb"
LOAD_ASSIGNMENT = "01-survey-microdata"
N_TRAINEES = 30
#: The three trainees of the browser cycle and the fixture answers each hands in.
KINDS = ("full", "partial", "untouched")
#: Autograded points of each fixture (tests/course/test_workflow.py), and the points
#: the instructor gives the full answer's written question by hand.
AUTO_POINTS = {"full": 12, "partial": 5, "untouched": 0}
MANUAL_SCORE = 2
NOTEBOOK_TIMEOUT_MS = 300_000

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not sys.platform.startswith("linux") or os.geteuid() != 0,
        reason="the hub makes Unix accounts and runs servers as them: Linux, as root",
    ),
]

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture fails with what to install
    expect = None

FIGURES: dict[str, object] = {}


@dataclass
class Hub:
    """The running hub of the module and what the tests need to know about it."""

    server: object
    course: object
    layout: object
    passwords: dict
    instructor: str
    trainees: list[str]
    uids: set[int] = field(default_factory=set)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def course_limits(self):
        """The per-trainee limits of the course, as the spawner applies them."""
        from squad.hub.cgroups import Limits

        course = self.course
        return Limits(course.mem_limit, course.cpu_limit, course.max_processes)

    def env(self, role: str) -> dict[str, str]:
        """The environment the hub gives a process of this role."""
        from squad.hub.prepare import role_environment

        return role_environment(self.layout, role)

    def as_grader(
        self, *args: str, timeout: float = 900
    ) -> subprocess.CompletedProcess:
        """Run one of the kit's commands as the grader, in the hub's course folder."""
        result = run_as(
            self.course.grader,
            [str(self.layout.scripts / args[0]), *args[1:]],
            scripts=self.layout.scripts,
            env=self.env("grader"),
            cwd=self.layout.course,
            timeout=timeout,
        )
        assert result.returncode == 0, (
            f"{' '.join(args)} as the grader failed:\n{result.stdout}\n{result.stderr}"
        )
        return result


def _free_ports(course) -> object:
    """A copy of ``course`` on four free consecutive ports."""
    from squad.errors import ServiceError
    from squad.hub.server import check_ports

    for _ in range(50):
        # Below Linux's ephemeral range (32768-60999): a probe of a port nothing listens
        # on yet can otherwise connect to itself and hold the port the hub needs.
        candidate = replace(course, port=20000 + 5 * secrets.randbelow(3000))
        with contextlib.suppress(ServiceError):
            check_ports(candidate)
            return candidate
    pytest.fail("no five free consecutive ports were found")


def _stop_processes_of(uids: set[int]) -> None:
    """Stop what the hub may have left running as the test's accounts (by pid)."""
    import psutil

    found = [p for p in psutil.process_iter(["uids"]) if p.info["uids"].real in uids]
    for process in found:
        with contextlib.suppress(psutil.Error):
            process.terminate()
    _, alive = psutil.wait_procs(found, timeout=20)
    for process in alive:
        with contextlib.suppress(psutil.Error):
            process.kill()


def _issued_passwords(layout) -> dict[str, str]:
    """Each person's password, read from the sheets the hub issued (newest wins)."""
    from squad.hub.passwords import list_sheets

    found: dict[str, str] = {}
    for sheet in list_sheets(layout):
        with sheet.open(newline="", encoding="utf-8") as handle:
            found.update(
                {row["name"]: row["password"] for row in csv.DictReader(handle)}
            )
    return found


def _remove_cgroups_and_runtime(course) -> None:
    """Remove what a server stopped by force (a failed test) may leave behind."""
    from squad.hub.cgroups import person_cgroup, remove_cgroup
    from squad.hub.spawner import RUNTIME_ROOT

    for name in course.users:
        shutil.rmtree(RUNTIME_ROOT / name, ignore_errors=True)
        with contextlib.suppress(OSError):
            cgroup = person_cgroup(name, f"squad-{course.course_id}")
            if cgroup is not None:
                remove_cgroup(cgroup)


#: The course's challenge: the first two trainees form team red; the third is not on
#: its roster.
CHALLENGE_TEAM = 2


def _write_course_challenge(folder: Path, instructor: str, trainees: list[str]) -> None:
    """A squad challenge on soc2010 for the course hub to serve (``challenge:``)."""
    folder.mkdir()
    rows = [f"{instructor},Instructor,i@example.org,"]
    rows += [f"{t},Trainee,t@example.org,red" for t in trainees[:CHALLENGE_TEAM]]
    (folder / "roster.csv").write_text(
        "user,name,email,team\n" + "\n".join(rows) + "\n", encoding="utf-8"
    )
    (folder / "CHALLENGE.yml").write_text(
        "title: Course challenge\ndataset: soc2010\nmetric: accuracy\n"
        "phases:\n  - name: main\n    opens: 2020-01-01T00:00:00Z\n"
        "    closes: 2099-01-01T00:00:00Z\nroster: roster.csv\n"
        f"organisers: [{instructor}]\n",
        encoding="utf-8",
    )


@pytest.fixture(scope="module")
def hub():
    """The course's hub, with its accounts; everything removed at the end."""
    import pwd

    from squad.hub.accounts import create_accounts, remove_accounts
    from squad.hub.coursefile import read_course_file
    from squad.hub.prepare import hub_layout
    from squad.hub.server import start_hub

    prefix = "sqt" + secrets.token_hex(3)
    instructor = f"{prefix}-ins"
    trainees = [f"{prefix}-t{n:02d}" for n in range(1, N_TRAINEES + 1)]
    base = Path(tempfile.mkdtemp(prefix="squad-hub-", dir="/tmp"))
    base.chmod(0o755)  # the hub folder inside is reached by every account
    # The course as docs/hub.md sets it up: its sources closed to other accounts.
    shutil.copytree(REPO / "exercises", base / "course")
    for path in [base / "course" / "source", *(base / "course" / "source").rglob("*")]:
        path.chmod(path.stat().st_mode & ~0o007)
    _write_course_challenge(base / "challenge", instructor, trainees)
    course_file = base / "hub.yml"
    course_file.write_text(
        json.dumps(
            {
                "course_id": prefix,
                "course": str(base / "course"),
                "hub_dir": str(base / "hub"),
                "port": 8000,
                "instructors": [instructor],
                "trainees": trainees,
                "datasets": ["soc2010"],
                "idle_minutes": 30,
                "challenge": str(base / "challenge" / "CHALLENGE.yml"),
            }
        )
    )
    course = _free_ports(read_course_file(course_file))
    server = running = None
    uids: set[int] = set()
    try:
        started = time.monotonic()
        create_accounts(course)
        FIGURES["accounts_s"] = round(time.monotonic() - started, 1)
        uids = {pwd.getpwnam(n).pw_uid for n in (*course.users, course.grader)}
        started = time.monotonic()
        server = start_hub(course)
        FIGURES["hub_start_s"] = round(time.monotonic() - started, 1)
        passwords = _issued_passwords(server.layout)
        running = Hub(
            server, server.course, server.layout, passwords, instructor, trainees, uids
        )
        yield running
    finally:
        if running is not None:  # the restart test replaces the server
            server = running.server
        if server is not None:
            server.stop()
        log = hub_layout(course).log_file
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        if log.exists():
            shutil.copy2(log, ARTIFACTS / "jupyterhub.log")
        _stop_processes_of(uids)
        _remove_cgroups_and_runtime(course)
        remove_accounts(course)
        shutil.rmtree(base, ignore_errors=True)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / "figures.json").write_text(json.dumps(FIGURES, indent=2) + "\n")


# --------------------------------------------------------------------------- load
def _submission_folders(hub: Hub, assignment: str) -> list[Path]:
    inbound = hub.layout.exchange / hub.course.course_id / "inbound"
    return sorted(p for p in inbound.iterdir() if f"+{assignment}+" in p.name)


@pytest.fixture(scope="module")
def load_run(hub):
    """Release an assignment; 30 trainees fetch and submit at once; the grader collects."""
    import pwd

    hub.as_grader("nbgrader", "generate_assignment", LOAD_ASSIGNMENT, "--force")
    hub.as_grader("nbgrader", "release_assignment", LOAD_ASSIGNMENT)
    markers = {name: f"load-marker {name} {uuid.uuid4().hex}" for name in hub.trainees}
    plan = {"assignment": LOAD_ASSIGNMENT, "trainees": []}
    for name in hub.trainees:
        entry = pwd.getpwnam(name)
        plan["trainees"].append(
            {
                "name": name,
                "uid": entry.pw_uid,
                "gid": entry.pw_gid,
                "groups": os.getgrouplist(name, entry.pw_gid),
                "env": user_env(name, hub.layout.scripts, hub.env("trainee")),
                "marker": markers[name],
            }
        )
    plan_file = hub.layout.root / "load-plan.json"
    plan_file.write_text(json.dumps(plan))
    driver = subprocess.run(
        [
            str(hub.layout.scripts / "python"),
            str(REPO / "tests" / "support" / "hub_helpers.py"),
        ]
        + [str(plan_file)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert driver.returncode == 0, driver.stderr[-3000:]
    results = json.loads(driver.stdout.strip().splitlines()[-1])
    started = time.monotonic()
    collect = hub.as_grader("nbgrader", "collect", LOAD_ASSIGNMENT)
    spans = [r["end"] - r["start"] for r in results.values()]
    FIGURES["load"] = {
        "trainees": len(results),
        "all_submitted_within_s": round(
            max(r["end"] for r in results.values())
            - min(r["start"] for r in results.values()),
            1,
        ),
        "fetch_and_submit_median_s": round(sorted(spans)[len(spans) // 2], 1),
        "collect_s": round(time.monotonic() - started, 1),
    }
    return results, markers, driver.stderr, collect


def test_thirty_trainees_submit_at_once_and_all_are_collected(hub, load_run):
    """30 trainees submit at once, each as itself; 30 collected, none lost or mixed up."""
    import pwd

    results, markers, errors, _ = load_run
    failed = {n: r["status"] for n, r in results.items() if r["status"] != 0}
    assert failed == {}, f"submissions failed: {failed}\n{errors[-3000:]}"
    assert sorted(results) == sorted(hub.trainees)

    # The exchange holds one submission per trainee, owned by that trainee's account.
    folders = _submission_folders(hub, LOAD_ASSIGNMENT)
    owners = sorted(pwd.getpwuid(p.stat().st_uid).pw_name for p in folders)
    named = sorted(p.name.split("+", 1)[0] for p in folders)
    assert owners == named == sorted(hub.trainees)

    # The instructor's course holds exactly the 30, each with its own marker only.
    submitted = hub.layout.course / "submitted"
    assert sorted(p.name for p in submitted.iterdir()) == sorted(hub.trainees)
    for name in hub.trainees:
        notebooks = list((submitted / name / LOAD_ASSIGNMENT).glob("*.ipynb"))
        assert len(notebooks) == 1, f"{name}: {notebooks}"
        text = notebooks[0].read_text(encoding="utf-8")
        found = [other for other, marker in markers.items() if marker in text]
        assert found == [name], f"{name}'s submission carries markers of {found}"


# --------------------------------------------------------------------------- isolation
_PROBE = r"""
import json, os, sys
checks = json.loads(sys.argv[1])
results = {}
for name, (action, path) in checks.items():
    try:
        if action == "list":
            os.listdir(path)
        elif action == "read":
            with open(path, "rb") as handle:
                handle.read(1)
        elif action == "write":
            with open(path, "a") as handle:
                handle.write("x")
        results[name] = "ok"
    except Exception as err:
        results[name] = type(err).__name__
print(json.dumps(results))
"""


def test_trainee_cannot_read_others_work_gradebook_or_source(hub, load_run):
    """From a trainee's own process the OS refuses others' work, grades and sources."""
    other, me = hub.trainees[0], hub.trainees[1]
    folders = _submission_folders(hub, LOAD_ASSIGNMENT)
    theirs = next(p for p in folders if p.name.startswith(other + "+"))
    mine = next(p for p in folders if p.name.startswith(me + "+"))
    notebook = "survey-microdata.ipynb"
    outbound = hub.layout.exchange / hub.course.course_id / "outbound" / LOAD_ASSIGNMENT
    source = hub.layout.course / "source" / ASSIGNMENT / NOTEBOOK
    checks = {
        "list the inbound folder": ("list", str(theirs.parent)),
        "read another trainee's submission": ("read", str(theirs / notebook)),
        "read the gradebook": ("read", str(hub.layout.gradebook)),
        "list the course's source": ("list", str(source.parent.parent)),
        "read hidden tests in source": ("read", str(source)),
        "add a file to the release": ("write", str(outbound / "extra.py")),
        "change the released notebook": ("write", str(outbound / notebook)),
        "read another trainee's home": ("list", str(Path(pwd_home(other)))),
        # The same process can do what a trainee must be able to do.
        "read own submission": ("read", str(mine / notebook)),
        "read the release": ("read", str(outbound / notebook)),
    }
    probe = run_as(
        me,
        [str(hub.layout.scripts / "python"), "-c", _PROBE, json.dumps(checks)],
        scripts=hub.layout.scripts,
        env=hub.env("trainee"),
    )
    assert probe.returncode == 0, probe.stderr
    results = json.loads(probe.stdout)
    expected = {name: "PermissionError" for name in checks}
    expected["read own submission"] = expected["read the release"] = "ok"
    assert results == expected


def _as_trainee(hub: Hub, name: str, code: str, *args: str):
    """Run Python ``code`` as trainee ``name``'s own Unix account, with the hub's
    environment; return the JSON it prints last."""
    done = run_as(
        name,
        [str(hub.layout.scripts / "python"), "-c", code, *args],
        scripts=hub.layout.scripts,
        env=hub.env("trainee"),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


_MKDIRS = r"""
import json, os, sys
results = {}
for path in json.loads(sys.argv[1]):
    try:
        os.mkdir(path)
        results[path] = "made"
    except OSError as err:
        results[path] = type(err).__name__
print(json.dumps(results))
"""


def test_trainee_cannot_plant_folders_in_the_exchange(hub, load_run):
    """Attack: a trainee makes another course, a release folder before the grader's
    release, a grader or root submission; only the last kind can be made (inbound is
    write-only), and it never reaches the roster."""
    from squad.hub.prepare import keep_students_with_work

    me = hub.trainees[2]
    course = hub.layout.exchange / hub.course.course_id
    stamp = "2020-01-01 00:00:00.000000 UTC"
    planted = {
        "another course": hub.layout.exchange / "zz",
        "a release before the grader's": course / "outbound" / "99-not-released",
        "a feedback folder": course / "feedback" / "planted",
        "the grader's submission": course
        / "inbound"
        / f"{hub.course.grader}+{LOAD_ASSIGNMENT}+{stamp}+aaaa",
        "root's submission": course / "inbound" / f"root+{LOAD_ASSIGNMENT}+{stamp}+bb",
        "a malformed name": course / "inbound" / "Bad_Name+x",
    }
    results = _as_trainee(
        hub, me, _MKDIRS, json.dumps([str(p) for p in planted.values()])
    )
    made = {what for what, path in planted.items() if results[str(path)] == "made"}
    assert made == {"the grader's submission", "root's submission", "a malformed name"}
    served = keep_students_with_work(hub.course, hub.layout)
    assert served.users == hub.course.users
    for what in made:
        planted[what].rmdir()  # as root: the next tests see a clean exchange


_RENAME = r"""
import json, os, sys
try:
    os.rename(sys.argv[1], sys.argv[2])
    print(json.dumps("renamed"))
except OSError as err:
    print(json.dumps(type(err).__name__))
"""


def test_trainee_cannot_rename_or_remove_anothers_submission(hub, load_run):
    """Attack: given the name of another trainee's submission, rename it to one's own
    (inbound has the sticky bit: refused), and the submission stays the other's."""
    other, me = hub.trainees[3], hub.trainees[4]
    theirs = next(
        p
        for p in _submission_folders(hub, LOAD_ASSIGNMENT)
        if p.name.startswith(other + "+")
    )
    stolen = theirs.with_name(me + theirs.name[len(other) :] + "x")
    assert _as_trainee(hub, me, _RENAME, str(theirs), str(stolen)) == "PermissionError"
    assert theirs.is_dir() and not stolen.exists()


def test_a_forged_submission_is_quarantined_not_collected(hub, load_run):
    """Attack: a trainee submits as another (``nbgrader submit --student``, and a
    folder made by hand with a far-future time); the grader's collect keeps the
    victim's own work, moves both forgeries to quarantine and names both accounts."""
    victim, forger = hub.trainees[5], hub.trainees[6]
    course = hub.layout.exchange / hub.course.course_id
    fetched = Path(pwd_home(forger)) / LOAD_ASSIGNMENT
    forged = run_as(
        forger,
        [str(hub.layout.scripts / "nbgrader"), "submit", LOAD_ASSIGNMENT]
        + [f"--student={victim}"],
        scripts=hub.layout.scripts,
        env=hub.env("trainee"),
        cwd=fetched.parent,
    )
    assert forged.returncode == 0, forged.stderr[-2000:]
    by_hand = (
        course
        / "inbound"
        / f"{victim}+{LOAD_ASSIGNMENT}+2099-01-01 00:00:00.000000 UTC+x"
    )
    assert _as_trainee(hub, forger, _MKDIRS, json.dumps([str(by_hand)])) == {
        str(by_hand): "made"
    }
    submitted = hub.layout.course / "submitted" / victim / LOAD_ASSIGNMENT
    before = sorted(p.read_bytes() for p in submitted.glob("*.ipynb"))

    collect = hub.as_grader("nbgrader", "collect", "--update", LOAD_ASSIGNMENT)
    log = collect.stdout + collect.stderr
    assert log.count(f"claims to be from '{victim}' but was made by '{forger}'") == 2
    assert sorted(p.read_bytes() for p in submitted.glob("*.ipynb")) == before
    # The forgery nbgrader made (group-writable) is moved aside; the one made by hand
    # cannot be moved by the grader (its '..' is not theirs to change) and stays,
    # never collected.
    quarantined = [p.name for p in (course / "quarantine").iterdir()]
    assert [n for n in quarantined if n.startswith(victim + "+")] != []
    again = hub.as_grader("nbgrader", "collect", "--update", LOAD_ASSIGNMENT)
    assert sorted(p.read_bytes() for p in submitted.glob("*.ipynb")) == before
    assert f"was made by '{forger}'" in again.stdout + again.stderr


def test_hub_refuses_a_course_whose_sources_trainees_can_read(hub, tmp_path):
    """The kit's own course folder is readable by everybody: starting a hub on it is
    refused in one line naming the file and the chmod that closes it."""
    from squad.errors import InvalidInputError
    from squad.hub.prepare import exposed_course_files, prepare_hub

    open_course = replace(hub.course, course_dir=REPO / "exercises", hub_dir=tmp_path)
    assert exposed_course_files(open_course, hub.trainees[0])
    with pytest.raises(
        InvalidInputError, match=r"can be read by trainee accounts.*chmod -R o-rwx"
    ):
        prepare_hub(open_course)
    assert exposed_course_files(hub.course, hub.trainees[0]) == []


def test_feedback_is_released_to_all_despite_a_broken_folder(hub, load_run):
    """A feedback folder without nbgrader's submission secret (a submission made by
    hand) is skipped with a warning; everyone else's feedback is released."""
    course = hub.layout.course
    good, broken = hub.trainees[7], hub.trainees[8]
    for name in (good, broken):
        folder = course / "feedback" / name / LOAD_ASSIGNMENT
        folder.mkdir(parents=True)
        (folder / "survey-microdata.html").write_text(f"<p>feedback of {name}</p>")
        (folder / "timestamp.txt").write_text("2026-01-01 10:00:00.000000 UTC")
    (course / "feedback" / good / LOAD_ASSIGNMENT / "submission_secret.txt").write_text(
        "secret-of-good"
    )
    shutil.chown(course / "feedback", hub.course.grader, hub.course.grader)
    for path in (course / "feedback").rglob("*"):
        shutil.chown(path, hub.course.grader, hub.course.grader)
    try:
        done = hub.as_grader("nbgrader", "release_feedback", LOAD_ASSIGNMENT)
        log = done.stdout + done.stderr
        assert f"Feedback of '{broken}' not released" in log
        assert f"Releasing feedback for student '{good}'" in log
        released = list(
            (hub.layout.exchange / hub.course.course_id / "feedback").glob("*.html")
        )
        assert [p.read_text() for p in released] == [f"<p>feedback of {good}</p>"]
    finally:
        shutil.rmtree(course / "feedback")
        for path in (hub.layout.exchange / hub.course.course_id / "feedback").iterdir():
            path.unlink()


def pwd_home(name: str) -> str:
    """An account's home folder."""
    import pwd

    return pwd.getpwnam(name).pw_dir


def test_accounts_need_root(hub):
    """`squad hub accounts` run by a trainee: one line, exit status 2, nothing made."""
    result = run_as(
        hub.trainees[0],
        [str(hub.layout.scripts / "squad"), "hub", "accounts", str(hub.course.path)],
        scripts=hub.layout.scripts,
        env=hub.env("trainee"),
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().count("\n") == 0
    assert "needs root" in result.stderr


# --------------------------------------------------------------------------- limits
#: A runaway cell: 3 GiB at most, so it passes the 2 GiB limit yet stays bounded
#: on a hub that enforces nothing.
RUNAWAY = "chunks = []\nfor _ in range(48):\n    chunks.append(b'x' * (64 * 2**20))"
#: A fork bomb bounded by the test: forks until refused (or 400), then ends them all.
FORK_BOMB = """
import os, signal, time
children = []
try:
    for _ in range(400):
        pid = os.fork()
        if pid == 0:
            time.sleep(600)
            os._exit(0)
        children.append(pid)
except BlockingIOError:
    pass
for pid in children:
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
len(children)
"""


def _trainee(hub: Hub, name: str) -> Trainee:
    """A trainee logged in through the hub's form, with their own API token."""
    session = login(hub.url, name, hub.passwords[name])
    return Trainee(hub.url, name, own_token(session, hub.url, name))


def _processes_of(name: str) -> set[int]:
    import pwd

    import psutil

    uid = pwd.getpwnam(name).pw_uid
    return {p.pid for p in psutil.process_iter(["uids"]) if p.info["uids"].real == uid}


def test_runaway_kernel_is_stopped_while_another_trainee_keeps_answering(hub):
    """Under the course's default limits, enforced by a cgroup per trainee: a kernel
    that allocates without bound is killed for memory and its cell says why; a fork
    bomb is refused at the process cap; another trainee's kernel answers throughout;
    the cgroup goes when the server stops. Kernels use IPC sockets in the trainee's
    private runtime folder."""
    from squad.hub.cgroups import limit_files, members, person_cgroup
    from squad.hub.coursefile import DEFAULT_MAX_PROCESSES, DEFAULT_MEM_LIMIT
    from squad.hub.spawner import RUNTIME_ROOT

    runaway, bystander = (_trainee(hub, name) for name in hub.trainees[3:5])
    for trainee in (runaway, bystander):
        trainee.start_server()
    assert runaway.wait_ready() and bystander.wait_ready()

    # Each server and all it starts sit in the trainee's cgroup, under the limits.
    cgroup = person_cgroup(runaway.name, f"squad-{hub.course.course_id}")
    kernel = runaway.open_notebook("runaway.ipynb")
    other = bystander.open_notebook("steady.ipynb")
    assert _processes_of(runaway.name) <= members(cgroup)
    files = limit_files(cgroup.version, hub.course_limits)
    for controller, folder in cgroup.folders.items():
        for name, value in files[controller]:
            if (folder / name).exists():
                assert (folder / name).read_text().strip() == value, name

    # Kernels talk over Unix sockets in the trainee's runtime folder, not over TCP
    # ports and not in the notebook folder.
    runtime = RUNTIME_ROOT / runaway.name
    connection = json.loads((runtime / f"kernel-{kernel}.json").read_text())
    assert connection["transport"] == "ipc"
    assert connection["ip"] == f"{runtime}/kernel-{kernel}-ipc"
    # The grader's Formgrader is a service, with no such folder: its kernels keep TCP
    # (its home's runtime folder is too deep for a socket's path).
    grader = json.loads(
        (hub.layout.etc / "grader/jupyter_server_config.json").read_text()
    )
    assert "ServerKernelManager" not in grader
    steady = bystander.connect(other, protocol="")  # the JSON protocol
    assert steady.run("6 * 7")["result"] == "42"
    channel = runaway.connect(kernel, protocol=V1)  # JupyterLab's protocol
    assert channel.run("1 + 1", timeout=300)["result"] == "2"
    assert len(list(runtime.glob(f"kernel-{kernel}-ipc-*"))) == 5  # its 5 sockets
    assert not list(Path(pwd_home(runaway.name)).rglob("kernel-*-ipc*"))

    # The runaway is killed for memory; its cell says why, before the restart.
    cell = channel.execute(RUNAWAY)
    seen = channel.messages_until(
        lambda m: (
            m["header"]["msg_type"] == "status"
            and m["content"].get("execution_state") == "restarting"
        ),
        timeout=300,
    )
    told = [
        m["content"]["text"]
        for m in seen
        if m["header"]["msg_type"] == "stream"
        and m["parent_header"].get("msg_id") == cell
        and m["content"]["name"] == "stderr"
    ]
    limit = f"{DEFAULT_MEM_LIMIT / 2**30:g} GiB per person"
    assert any("ran out of memory" in text and limit in text for text in told), told
    assert f"Kernel {kernel} was stopped for memory" in hub.layout.log_file.read_text()

    # The other trainee's kernel answered all along and still does; the runaway's
    # kernel is back, empty, and meets the process cap when it forks without end.
    assert steady.run("sum(range(10))")["result"] == "45"
    assert channel.run("'chunks' in dir()", timeout=300)["result"] == "False"
    forks = channel.run(FORK_BOMB, timeout=300)["result"]
    assert forks is not None and 0 < int(forks) < DEFAULT_MAX_PROCESSES
    assert steady.run("2 ** 10")["result"] == "1024"
    FIGURES["fork_bomb_children_at_cap"] = int(forks)

    for trainee, socket in ((runaway, channel), (bystander, steady)):
        socket.close()
        trainee.stop_server()
    gone = [*cgroup.unique_folders(), runtime]  # the cgroup and the runtime folder
    assert wait_until(lambda: not any(f.exists() for f in gone), timeout=120)


# --------------------------------------------------------------------------- browser
class Person:
    """One person's browser (own cookies) on the hub."""

    def __init__(self, browser, hub: Hub, name: str) -> None:
        self.hub = hub
        self.name = name
        self.context = browser.new_context(viewport={"width": 1400, "height": 900})
        self.page = self.context.new_page()
        self.console = ConsoleLog(self.page)

    def login(self, password: str, next_path: str = "") -> None:
        """Log in through the hub's login page."""
        query = f"?next={next_path}" if next_path else ""
        self.page.goto(f"{self.hub.url}hub/login{query}")
        self.page.locator("#username_input").fill(self.name)
        self.page.locator("#password_input").fill(password)
        self.page.locator("#password_input").press("Enter")

    def shot(self, step: str) -> None:
        """Keep a screenshot of what this person sees at ``step``."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{step}-{self.name}.png"))

    def menu(self, top: str, item: str) -> None:
        """Choose ``top`` → ``item`` in JupyterLab's menu bar."""
        page = self.page
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{top}$")).click()
        label = re.compile(f"^{re.escape(item)}(…)?$")
        page.locator(".lm-Menu-itemLabel", has_text=label).click()

    def step(self, name: str):
        """Save artifacts if a step fails."""
        return artifacts_on_failure(
            f"hub-{name}-{self.name}",
            self.page,
            self.console,
            server_log=self.hub.layout.log_file,
            about=self.name,
        )


class Formgrader(Person):
    """The instructor, on the course's Formgrader in a tab of its own."""

    def open(self) -> None:
        self.page.goto(self.hub.server.formgrader_url)
        expect(
            self.page.get_by_role("heading", name="Manage Assignments")
        ).to_be_visible(timeout=120_000)

    def row(self):
        return self.page.locator(
            "tr", has=self.page.get_by_role("link", name=ASSIGNMENT, exact=True)
        )

    def press(self, column: str, message: str) -> None:
        """Press an action of the assignment's row; close the log it shows."""
        self.row().locator(f"td.{column} a").press("Enter")
        # Formgrader shows the log of the action in a dialog, "Success" or "Error".
        modal = self.page.locator(".modal.in")
        expect(modal).to_have_count(1, timeout=NOTEBOOK_TIMEOUT_MS)
        expect(modal).to_contain_text(message)
        modal.locator(".modal-footer button").press("Enter")
        expect(self.page.locator(".modal.in")).to_have_count(0)


def _trainee_rss(hub: Hub, name: str) -> dict[str, int]:
    """MB resident in a trainee's processes: their server and their kernels."""
    import pwd

    import psutil

    uid = pwd.getpwnam(name).pw_uid
    sizes = {"server": 0, "kernels": 0}
    for process in psutil.process_iter(["uids", "memory_info", "cmdline"]):
        if process.info["uids"].real == uid and process.info["memory_info"]:
            kind = (
                "kernels"
                if "ipykernel" in " ".join(process.info["cmdline"])
                else "server"
            )
            sizes[kind] += process.info["memory_info"].rss
    return {kind: round(size / 2**20) for kind, size in sizes.items()}


def _hub_overhead(hub: Hub) -> int:
    """MB resident in the hub, its proxy and culler, and the grader's Formgrader."""
    import pwd

    import psutil

    people = {pwd.getpwnam(n).pw_uid for n in hub.course.users}
    grader = pwd.getpwnam(hub.course.grader).pw_uid
    hub_process = psutil.Process(hub.server.process.pid)
    processes = [hub_process, *hub_process.children(recursive=True)]
    processes += [
        p for p in psutil.process_iter(["uids"]) if p.info["uids"].real == grader
    ]
    total = 0
    for process in {p.pid: p for p in processes}.values():
        with contextlib.suppress(psutil.Error):
            if process.uids().real not in people:
                total += process.memory_info().rss
    return round(total / 2**20)


def _upload(person: Person, path: str, notebook: Path) -> None:
    """Save a notebook into the trainee's server, as JupyterLab saves one."""
    content = json.loads(notebook.read_text(encoding="utf-8"))
    status = person.page.evaluate(
        """async ([base, path, content]) => {
            const xsrf = decodeURIComponent(
                (document.cookie.match(/_xsrf=([^;]+)/) || [])[1] || "");
            const response = await fetch(`${base}api/contents/${path}`, {
                method: "PUT",
                headers: {"Content-Type": "application/json", "X-XSRFToken": xsrf},
                body: JSON.stringify({type: "notebook", format: "json", content}),
            });
            return response.status;
        }""",
        [f"/user/{person.name}/", path, content],
    )
    assert status in (200, 201), f"saving {path} for {person.name} answered {status}"


def test_course_cycle_in_the_browser(hub, browser):
    """Release, fetch, answer, validate, submit, collect, grade, feedback: in Chromium."""
    from nbgrader.api import Gradebook

    instructor = Formgrader(browser, hub, hub.instructor)
    trainees = {
        kind: Person(browser, hub, name)
        for kind, name in zip(KINDS, hub.trainees, strict=False)
    }
    course_id = hub.course.course_id
    exchange = hub.layout.exchange / course_id

    # The instructor releases the assignment from Formgrader, in its own tab.
    with instructor.step("release"):
        instructor.login(
            hub.passwords[hub.instructor], f"/services/{course_id}/formgrader"
        )
        instructor.open()
        instructor.shot("01-formgrader")
        instructor.press("assign", "Successfully created the student version")
        instructor.press("release", f"Successfully released '{ASSIGNMENT}'")
        instructor.shot("02-released")
    assert (exchange / "outbound" / ASSIGNMENT / NOTEBOOK).is_file()

    # Three trainees log in at once; the hub starts a server for each.
    started = time.monotonic()
    for person in trainees.values():
        person.login(hub.passwords[person.name])
    menu_bar = ".lm-MenuBar-itemLabel"
    first = None
    for person in trainees.values():
        with person.step("login"):
            expect(person.page.locator(menu_bar).first).to_be_visible(timeout=300_000)
        first = first or round(time.monotonic() - started, 1)
        assert f"/user/{person.name}/lab" in person.page.url
    FIGURES["first_trainee_server_ready_s"] = first
    # Nothing asks a trainee about the software: the news question is answered.
    for person in trainees.values():
        answer = person.page.request.get(
            f"{hub.url}user/{person.name}/lab/api/settings/{NOTIFICATION}"
        )
        assert answer.ok, answer.status
        news = effective_settings(answer.json())
        assert (news["fetchNews"], news["checkForUpdates"]) == ("false", False)
    FIGURES["three_trainee_servers_ready_s"] = round(time.monotonic() - started, 1)
    trainees["full"].shot("03-trainee-lab")

    # Each fetches the assignment in the Assignment List.
    for person in trainees.values():
        with person.step("fetch"):
            person.menu("Nbgrader", "Assignment List")
            released = person.page.locator("#released_assignments_list")
            released.get_by_role("button", name="Fetch").press("Enter")
            fetched = person.page.locator("#fetched_assignments_list")
            expect(fetched).to_contain_text(ASSIGNMENT, timeout=120_000)
    trainees["full"].shot("04-fetched")
    for person in trainees.values():
        assert (Path(pwd_home(person.name)) / ASSIGNMENT / NOTEBOOK).is_file()

    # They answer (the course's sample answers), open the notebook and press Validate.
    path = f"{ASSIGNMENT}/{NOTEBOOK}"
    validate_started = time.monotonic()
    for kind, person in trainees.items():
        _upload(person, path, FIXTURES / ASSIGNMENT / f"{kind}.ipynb")
        with person.step("open"):
            person.menu("File", "Open from Path")
            dialog = person.page.locator(".jp-Dialog")
            dialog.locator("input").fill(path)
            dialog.get_by_role("button", name="Open").press("Enter")
            expect(dialog).to_have_count(0)
            panel = person.page.locator(".jp-NotebookPanel:visible")
            expect(panel.locator(".jp-Cell").first).to_be_visible(timeout=120_000)
            panel.locator(".jp-Toolbar").get_by_text("Validate", exact=True).click()
    expected_validation = {
        "full": "Success! Your notebook passes all the tests.",
        "partial": "The following cell failed:",
        "untouched": "You did not provide a response.",
    }
    for kind, person in trainees.items():
        with person.step("validate"):
            dialog = person.page.locator(".jp-Dialog")
            expect(dialog.get_by_text("Validation Results")).to_be_visible(
                timeout=NOTEBOOK_TIMEOUT_MS
            )
            expect(dialog).to_contain_text(expected_validation[kind])
            person.shot(f"05-validated-{kind}")
    FIGURES["open_and_validate_three_at_once_s"] = round(
        time.monotonic() - validate_started, 1
    )
    memory = {kind: _trainee_rss(hub, p.name) for kind, p in trainees.items()}
    FIGURES["hub_overhead_mb"] = _hub_overhead(hub)
    FIGURES["trainee_server_and_kernel_rss_mb"] = memory
    FIGURES["servers_at_once"] = len(trainees)
    for person in trainees.values():
        person.page.locator(".jp-Dialog").get_by_role("button", name="Ok").press(
            "Enter"
        )

    # ... and submit in the Assignment List.
    for person in trainees.values():
        with person.step("submit"):
            person.menu("Nbgrader", "Assignment List")
            fetched = person.page.locator("#fetched_assignments_list")
            row = fetched.locator(".list_item", has_text=ASSIGNMENT).first
            row.get_by_role("button", name="Submit").press("Enter")
            submitted = person.page.locator("#submitted_assignments_list")
            expect(
                submitted.locator(".list_item", has_text=ASSIGNMENT)
            ).not_to_have_count(0, timeout=120_000)
    trainees["partial"].shot("06-submitted")
    assert len(_submission_folders(hub, ASSIGNMENT)) == len(KINDS)

    # The instructor collects in Formgrader, grades with `squad grade` (sandboxed) in
    # the grader's account, as in a terminal of the Formgrader's JupyterLab.
    with instructor.step("collect"):
        instructor.open()
        instructor.press(
            "collect", f"Successfully collected submissions of '{ASSIGNMENT}'"
        )
    names = {p.name for p in (hub.layout.course / "submitted").iterdir()}
    assert {p.name for p in trainees.values()} <= names
    started = time.monotonic()
    hub.as_grader(
        "squad",
        "grade",
        ASSIGNMENT,
        "--course",
        str(hub.layout.course),
        "--student",
        f"{course_id}-t0[123]",
        "--no-progress",
    )
    FIGURES["squad_grade_three_s"] = round(time.monotonic() - started, 1)

    # ... grades the written answer of the full submission by hand in Formgrader.
    written_id = next(
        cell.metadata["nbgrader"]["grade_id"]
        for cell in nbformat.read(
            hub.layout.course / "source" / ASSIGNMENT / NOTEBOOK, as_version=4
        ).cells
        if cell.cell_type == "markdown"
        and cell.metadata.get("nbgrader", {}).get("grade")
        and cell.metadata["nbgrader"].get("solution")
    )
    full = trainees["full"].name
    page = instructor.page
    with instructor.step("manual-grade"):
        instructor.open()
        follow_formgrader_link(page, "Manual Grading", "Manual Grading")
        follow_formgrader_link(page, ASSIGNMENT, ASSIGNMENT)
        notebook_id = Path(NOTEBOOK).stem
        follow_formgrader_link(page, notebook_id, notebook_id)
        expect(page.locator("tbody tr")).to_have_count(len(KINDS), timeout=60_000)
        page.get_by_role("button", name="Show All Names").press("Enter")
        expect(page.get_by_role("button", name="Hide All Names")).to_be_visible()
        page.get_by_role("link", name=full).press("Enter")
        save_manual_score(page, page, lambda: page, written_id, MANUAL_SCORE)
        instructor.shot("07-manual-grade")

    # ... writes the feedback (`squad feedback`: no hidden tests in it) and releases it
    # from Formgrader.
    hub.as_grader("squad", "feedback", ASSIGNMENT, "--course", str(hub.layout.course))
    with instructor.step("release-feedback"):
        instructor.open()
        instructor.press(
            "release-feedback", f"Successfully released feedback of '{ASSIGNMENT}'"
        )
    db_url = f"sqlite:///{hub.layout.gradebook}"
    with Gradebook(db_url) as gradebook:
        scores = {
            kind: gradebook.find_submission(ASSIGNMENT, p.name).score
            for kind, p in trainees.items()
        }
    expected_scores = dict(AUTO_POINTS, full=AUTO_POINTS["full"] + MANUAL_SCORE)
    assert scores == expected_scores

    # Each trainee fetches the feedback and sees their own score, and nobody else's.
    for kind, person in trainees.items():
        with person.step("feedback"):
            person.menu("Nbgrader", "Assignment List")
            submitted = person.page.locator("#submitted_assignments_list")
            row = submitted.locator(".list_item", has_text=ASSIGNMENT).first
            row.get_by_role("button", name="Fetch Feedback").press("Enter")
            expect(submitted).to_contain_text("(view feedback)", timeout=120_000)
            pages = list(
                (Path(pwd_home(person.name)) / ASSIGNMENT / "feedback").glob(
                    "*/occupation-coding.html"
                )
            )
            assert len(pages) == 1, pages
            relative = pages[0].relative_to(pwd_home(person.name)).as_posix()
            person.page.goto(f"{hub.url}user/{person.name}/files/{relative}")
            body = person.page.locator("body")
            expect(body).to_contain_text(f"Student: {person.name}")
            expect(body).to_contain_text(
                re.compile(rf"Score for this assignment: {expected_scores[kind]:g} /")
            )
            others = [p.name for p in trainees.values() if p is not person]
            text = body.inner_text()
            assert not any(other in text for other in others)
            person.shot(f"08-feedback-{kind}")
            # Another trainee's files are refused by the hub.
            other = others[0]
            response = person.page.request.get(
                f"{hub.url}user/{other}/files/{ASSIGNMENT}/{NOTEBOOK}"
            )
            assert response.status == 403 or f"/user/{other}/" not in response.url
            assert "cells" not in response.text()

    for person in (instructor, *trainees.values()):
        person.context.close()


# --------------------------------------------------------------------------- logins
class LoginForm:
    """The hub's login form, posted from one client address (any 127.x.y.z is local).

    The hub counts failures per address the proxy saw: each test locks only its own.
    """

    def __init__(self, hub: Hub, address: str, forwarded_for: str = "") -> None:
        import requests
        from requests.adapters import HTTPAdapter

        class FromAddress(HTTPAdapter):
            def init_poolmanager(self, *args, **kwargs):
                kwargs["source_address"] = (address, 0)
                super().init_poolmanager(*args, **kwargs)

        self.session = requests.Session()
        self.session.mount("http://", FromAddress())
        if forwarded_for:  # what a reverse proxy adds
            self.session.headers["X-Forwarded-For"] = forwarded_for
        self.url = f"{hub.url}hub/login"

    def post(self, name: str, password: str) -> str:
        """'logged in', 'refused' (a wrong password) or 'locked' (too many failures)."""
        self.session.cookies.clear()  # a new visitor: the form's own xsrf token
        form = self.session.get(self.url, timeout=60)
        xsrf = re.search(r'name="_xsrf" value="([^"]+)"', form.text).group(1)
        answer = self.session.post(
            self.url,
            data={"_xsrf": xsrf, "username": name, "password": password},
            allow_redirects=False,
            timeout=60,
        )
        if answer.status_code == 302:
            return "logged in"
        if answer.status_code == 403 and "Invalid username or password" in answer.text:
            return "refused"
        if answer.status_code == 429 and "Too many failed logins" in answer.text:
            return "locked"
        return f"unexpected {answer.status_code}: {answer.text[:300]}"


def test_trainees_log_in_to_the_course_challenge_with_their_hub_account(hub):
    """The hub serves the course file's challenge: a trainee on its roster logs in
    with the hub account and lands on the team page; one off the roster is refused;
    the challenge's state, with its labels and uploads, is root's alone."""
    import requests

    site = f"{hub.url}services/challenge/"

    def answers() -> bool:
        with contextlib.suppress(requests.RequestException):
            page = requests.get(site, timeout=10)
            return page.status_code == 200 and "Course challenge" in page.text
        return False

    assert wait_until(answers, timeout=180), "the challenge service did not answer"
    member, outsider = hub.trainees[0], hub.trainees[CHALLENGE_TEAM]
    session = login(hub.url, member, hub.passwords[member])
    landed = session.get(f"{site}hub/login/", timeout=60)
    assert landed.status_code == 200, landed.text[:300]
    assert landed.url == f"{site}team/" and "Team red" in landed.text
    refused = login(hub.url, outsider, hub.passwords[outsider]).get(
        f"{site}hub/login/", timeout=60
    )
    assert refused.status_code == 403
    assert "not on this challenge's roster" in refused.text
    state = hub.layout.state / "challenge"
    info = state.stat()
    assert (info.st_uid, info.st_mode & 0o777) == (0, 0o700)
    # a trainee's own account cannot look inside
    looked = subprocess.run(
        ["runuser", "-u", member, "--", "ls", str(state)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert looked.returncode != 0 and "Permission denied" in looked.stderr


def test_each_password_logs_in_its_own_person_only(hub):
    """A trainee's password logs that trainee in; not another trainee, the grader,
    root, an instructor or a name off the roster (the real hub's login form)."""
    me, other = hub.trainees[9], hub.trainees[10]
    form = LoginForm(hub, "127.0.0.11")
    mine = hub.passwords[me]
    strangers = (other, hub.course.grader, "root", hub.instructor, "nobody")
    assert {name: form.post(name, mine) for name in strangers} == dict.fromkeys(
        strangers, "refused"
    )
    assert form.post(me, mine) == "logged in"
    assert form.post(hub.instructor, hub.passwords[hub.instructor]) == "logged in"


def test_failed_logins_lock_the_name_then_the_address(hub):
    """Five failures lock a name: its right password is then refused, from anywhere;
    failures spread over many names lock the address (the real hub's login form)."""
    from squad.hub.auth import FAILURES_PER_CLIENT, FAILURES_PER_NAME

    name, bystander, newcomer = hub.trainees[11:14]
    guesser = LoginForm(hub, "127.0.0.12")
    for _ in range(FAILURES_PER_NAME):
        assert guesser.post(name, "not-the-password") == "refused"
    assert guesser.post(name, hub.passwords[name]) == "locked"
    assert LoginForm(hub, "127.0.0.13").post(name, hub.passwords[name]) == "locked"
    assert guesser.post(bystander, hub.passwords[bystander]) == "logged in"

    spreader = LoginForm(hub, "127.0.0.14")
    for n in range(FAILURES_PER_CLIENT):
        assert spreader.post(f"guess{n}", "not-the-password") == "refused"
    assert spreader.post(newcomer, hub.passwords[newcomer]) == "locked"
    # A header of the client's own does not unlock it.
    spoofer = LoginForm(hub, "127.0.0.14", forwarded_for="192.0.2.99")
    assert spoofer.post(newcomer, hub.passwords[newcomer]) == "locked"
    # A reverse proxy on the hub's machine (nginx for HTTPS) passes on the address of
    # each of its clients: the locked one stays locked, others log in.
    via_proxy = LoginForm(hub, "127.0.0.1", forwarded_for="127.0.0.14")
    assert via_proxy.post(newcomer, hub.passwords[newcomer]) == "locked"
    for form in (
        LoginForm(hub, "127.0.0.1", forwarded_for="192.0.2.15"),
        LoginForm(hub, "127.0.0.15"),
    ):
        assert form.post(newcomer, hub.passwords[newcomer]) == "logged in"


_TOKEN_PROBE = r"""
import json, os, sys, urllib.error, urllib.request
results = {}
for name, (method, url, body) in json.loads(sys.argv[1]).items():
    request = urllib.request.Request(
        url,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": "token " + os.environ["JUPYTERHUB_API_TOKEN"]},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            results[name] = response.status
    except urllib.error.HTTPError as err:
        results[name] = err.code
print(json.dumps(results))
"""


def _server_environment(name: str) -> dict[str, str]:
    """The environment of ``name``'s running JupyterLab server (its hub token)."""
    import pwd

    import psutil

    uid = pwd.getpwnam(name).pw_uid
    for process in psutil.process_iter(["uids", "cmdline"]):
        with contextlib.suppress(psutil.Error):
            if process.info["uids"].real == uid and "singleuser" in " ".join(
                process.info["cmdline"]
            ):
                environment = process.environ()
                if environment.get("JUPYTERHUB_USER") == name:
                    return environment
    pytest.fail(f"{name} has no running server")


def test_instructor_server_token_cannot_administer_the_hub(hub, browser):
    """An instructor's Course List finds Formgrader; their server's token (which every
    kernel they run holds) cannot list users, stop a trainee's server, make a token or
    reach Formgrader's files: those are the admin page's, in the browser."""
    course_id = hub.course.course_id
    instructor = Person(browser, hub, hub.instructor)
    try:
        with instructor.step("course-list"):
            instructor.login(hub.passwords[hub.instructor])
            expect(
                instructor.page.locator(".lm-MenuBar-itemLabel").first
            ).to_be_visible(timeout=300_000)
            instructor.menu("Nbgrader", "Course List")
            link = instructor.page.locator("#formgrader_list .list_item a")
            expect(link).to_have_text(course_id, timeout=120_000)
            instructor.shot("course-list")
            with instructor.context.expect_page() as opened:
                link.click()
            formgrader = opened.value
            expect(formgrader.locator(".lm-MenuBar-itemLabel").first).to_be_visible(
                timeout=120_000
            )
            assert f"/services/{course_id}/lab" in formgrader.url

        environment = _server_environment(hub.instructor)
        api = environment["JUPYTERHUB_API_URL"]
        trainee = hub.trainees[0]
        calls = {
            "list users": ("GET", f"{api}/users", None),
            "stop a trainee's server": (
                "DELETE",
                f"{api}/users/{trainee}/server",
                None,
            ),
            "make a token": ("POST", f"{api}/users/{hub.instructor}/tokens", {}),
            "read the course in Formgrader": (
                "GET",
                f"{hub.url}services/{course_id}/api/contents/source",
                None,
            ),
            "read own groups": ("GET", f"{api}/users/{hub.instructor}", None),
            "list services": ("GET", f"{api}/services", None),
        }
        probe = run_as(
            hub.instructor,
            [str(hub.layout.scripts / "python"), "-c", _TOKEN_PROBE, json.dumps(calls)],
            scripts=hub.layout.scripts,
            env={"JUPYTERHUB_API_TOKEN": environment["JUPYTERHUB_API_TOKEN"]},
        )
        assert probe.returncode == 0, probe.stderr
        expected = dict.fromkeys(calls, 403)
        expected["read own groups"] = expected["list services"] = 200
        assert json.loads(probe.stdout) == expected
    finally:
        # The instructor stops their server from the hub's home page, as in the browser.
        with contextlib.suppress(Exception):
            instructor.page.goto(f"{hub.url}hub/home")
            instructor.page.evaluate(
                """async (url) => fetch(url, {method: "DELETE",
                    headers: {"X-XSRFToken": window.jhdata.xsrf_token}})""",
                f"/hub/api/users/{hub.instructor}/server",
            )
        instructor.context.close()


# --------------------------------------------------------------------------- restart
def _kept_state(hub: Hub) -> dict[str, object]:
    """What a restart must keep: the hub's users, every submission, every grade."""
    import hashlib
    import sqlite3

    from nbgrader.api import Gradebook

    with contextlib.closing(
        sqlite3.connect(hub.layout.state / "jupyterhub.sqlite")
    ) as db:
        users = sorted(name for (name,) in db.execute("SELECT name FROM users"))
    files = {}
    for folder in (hub.layout.exchange, hub.layout.course / "submitted"):
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                files[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    with Gradebook(f"sqlite:///{hub.layout.gradebook}") as gradebook:
        grades = sorted(
            (a.name, s.student.id, s.score)
            for a in gradebook.assignments
            for s in a.submissions
        )
    return {"users": users, "files": files, "grades": grades}


def _managed_services(hub: Hub) -> list:
    """The hub's Formgrader, idle culler and challenge server processes."""
    import psutil

    found = []
    for child in psutil.Process(hub.server.process.pid).children(recursive=True):
        with contextlib.suppress(psutil.Error):
            command = " ".join(child.cmdline())
            if (
                "jupyterhub_idle_culler" in command
                or (
                    "from squad.cli import main" in command and "--hub-login" in command
                )
                or (
                    "jupyterhub.singleuser" in command
                    and child.username() == hub.course.grader
                )
            ):
                found.append(child)
    return found


def _alive(process) -> bool:
    """Running, and not a zombie waiting to be reaped."""
    import psutil

    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def test_restart_keeps_users_submissions_and_grades(hub, load_run, browser):
    """Killed (``kill -9``) and started again from its course file, the hub has lost
    nothing, and its services did not outlive it.

    Runs after the load test and the browser cycle have left submissions and
    grades. A trainee logged in before the restart is still logged in after it (the
    cookie secret and the hub's database are kept); another logs in with their own
    password, unchanged. The Formgrader and the idle culler must stop with the hub:
    left running, they would hold their ports and the new hub's would not start.
    """
    import signal

    from squad.hub.server import start_hub

    before = _kept_state(hub)
    assert set(hub.trainees) <= set(before["users"])  # the roster is in the database
    assert before["files"] and before["grades"]
    stays, arrives = (Person(browser, hub, name) for name in hub.trainees[-2:])
    try:
        with stays.step("before-restart"):
            stays.login(hub.passwords[stays.name], "/hub/home")
            expect(stays.page).to_have_url(re.compile(r"/hub/home$"), timeout=60_000)
        services = _managed_services(hub)
        names = sorted(" ".join(p.cmdline())[-60:] for p in services)
        assert len(services) == 3, (
            f"expected the Formgrader, the culler and the challenge: {names}"
        )
        hub.server.process.send_signal(signal.SIGKILL)
        hub.server.stop()  # reaps it and stops the proxy it left behind
        assert wait_until(lambda: not any(map(_alive, services)), timeout=60)
        started = time.monotonic()
        hub.server = start_hub(hub.course)
        FIGURES["hub_restart_s"] = round(time.monotonic() - started, 1)
        assert _kept_state(hub) == before
        with stays.step("after-restart"):
            stays.page.goto(f"{hub.url}hub/home")
            expect(stays.page).to_have_url(re.compile(r"/hub/home$"), timeout=60_000)
            expect(stays.page.locator("body")).to_contain_text(stays.name)
        with arrives.step("after-restart"):
            arrives.login(hub.passwords[arrives.name], "/hub/home")
            expect(arrives.page).to_have_url(re.compile(r"/hub/home$"), timeout=60_000)
            expect(arrives.page.locator("body")).to_contain_text(arrives.name)
    finally:
        for person in (stays, arrives):
            person.context.close()


def test_shared_password_on_request(hub):
    """`--shared-password`: one password logs in every trainee on the roster, the
    instructors' own logs in instructors; nobody else, and per-person passwords wait.

    Runs last in this file: it starts the hub again with shared passwords.
    """
    from squad.hub.server import start_hub

    hub.server.stop()
    hub.server = start_hub(hub.course, shared_password=True)
    shared = json.loads(hub.layout.passwords.read_text())
    form = LoginForm(hub, "127.0.0.21")
    first, second = hub.trainees[14:16]
    for name in (first, second):
        assert form.post(name, shared["trainee"]) == "logged in"
    assert form.post(hub.instructor, shared["instructor"]) == "logged in"
    for name in (hub.instructor, hub.course.grader, "root"):
        assert form.post(name, shared["trainee"]) == "refused", name
    assert form.post(first, hub.passwords[first]) == "refused"
