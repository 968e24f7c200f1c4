"""Per-person limits on the hub: cgroup paths and values (v1, v2), the spawners.

The paths and values are checked on fake cgroup folders; then, where the machine
allows (Linux, root, a writable cgroup filesystem), the same code makes real cgroups,
puts a real process in them and the kernel enforces the limits. The whole road, from
the course file to a trainee's runaway kernel, is in ``tests/hub/test_real_hub.py``.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from squad.hub.cgroups import (
    CONTROLLERS,
    Limits,
    create_cgroup,
    describe_limits,
    folders_without,
    join_cgroup,
    limit_files,
    oom_kills,
    own_cgroups,
    person_cgroup,
    procs_files,
    remove_cgroup,
)

LINUX_ROOT = sys.platform.startswith("linux") and os.geteuid() == 0
GIB = 2**30
#: /proc/self/cgroup of a hub on a cgroup v1 host whose memory cgroup is not the root.
V1_OWN = "9:name=systemd:/\n8:pids:/\n4:memory:/jobs/hub\n1:cpu,cpuacct:/\n0::/\n"
V2_OWN = "0::/hub.slice/hub.service\n"


def _fake_v1(root: Path, controllers=CONTROLLERS) -> Path:
    for name in controllers:
        (root / name).mkdir(parents=True)
    return root


def _fake_v2(root: Path, available: str = "cpuset cpu io memory pids") -> Path:
    base = root / "hub.slice" / "hub.service"
    for folder in (root, root / "hub.slice", base, base / "squad-cc"):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "cgroup.controllers").write_text(available + "\n")
        (folder / "cgroup.subtree_control").write_text("")
    return root


# --------------------------------------------------------------------------- values
@pytest.mark.parametrize(
    ("version", "limits", "expected"),
    [
        (
            1,
            Limits(2 * GIB, 1.0, 256),
            {
                "memory": [
                    ("memory.limit_in_bytes", "2147483648"),
                    ("memory.memsw.limit_in_bytes", "2147483648"),
                ],
                "cpu": [
                    ("cpu.cfs_period_us", "100000"),
                    ("cpu.cfs_quota_us", "100000"),
                ],
                "pids": [("pids.max", "256")],
            },
        ),
        (
            1,
            Limits(None, None, None),
            {
                "memory": [
                    ("memory.limit_in_bytes", "-1"),
                    ("memory.memsw.limit_in_bytes", "-1"),
                ],
                "cpu": [("cpu.cfs_period_us", "100000"), ("cpu.cfs_quota_us", "-1")],
                "pids": [("pids.max", "max")],
            },
        ),
        (
            2,
            Limits(512 * 2**20, 0.5, 64),
            {
                "memory": [("memory.max", "536870912"), ("memory.swap.max", "0")],
                "cpu": [("cpu.max", "50000 100000")],
                "pids": [("pids.max", "64")],
            },
        ),
        (
            2,
            Limits(None, None, None),
            {
                "memory": [("memory.max", "max"), ("memory.swap.max", "max")],
                "cpu": [("cpu.max", "max 100000")],
                "pids": [("pids.max", "max")],
            },
        ),
    ],
)
def test_limit_files_gives_each_version_its_files(version, limits, expected):
    """v1 and v2 name the same limits in their own files; None writes "no limit"."""
    assert limit_files(version, limits) == expected


def test_describe_limits_names_each_limit():
    """The log names what is (or is not) enforced in words."""
    assert describe_limits(Limits(GIB + GIB // 2, 0.5, None)) == (
        "memory 1.5 GiB, CPU 0.5, processes no limit"
    )


def test_own_cgroups_reads_v1_and_v2_lines():
    """Each v1 controller (comma-joined ones too) and v2's "" get their path."""
    assert own_cgroups(V1_OWN) == {
        "name=systemd": "/",
        "pids": "/",
        "memory": "/jobs/hub",
        "cpu": "/",
        "cpuacct": "/",
        "": "/",
    }


# --------------------------------------------------------------------------- paths
def test_person_cgroup_v1_sits_below_the_hubs_cgroup_per_controller(tmp_path):
    """v1: one folder per controller, under the hub's own cgroup of that controller."""
    root = _fake_v1(tmp_path)
    cgroup = person_cgroup("ana", "squad-cc", root=root, own=V1_OWN)
    assert cgroup.version == 1
    assert cgroup.folders == {
        "memory": root / "memory/jobs/hub/squad-cc/ana",
        "cpu": root / "cpu/squad-cc/ana",
        "pids": root / "pids/squad-cc/ana",
    }
    assert cgroup.missing == {}


def test_person_cgroup_v1_names_a_missing_controller(tmp_path):
    """A v1 host without the pids controller: the rest still works, pids is named."""
    root = _fake_v1(tmp_path, ("memory", "cpu"))
    cgroup = person_cgroup("ana", "squad-cc", root=root, own=V1_OWN)
    assert set(cgroup.folders) == {"memory", "cpu"}
    assert cgroup.missing == {"pids": f"no pids controller at {root / 'pids'}"}


def test_person_cgroup_v2_is_one_folder_below_the_hubs(tmp_path):
    """v2: a single folder for every controller, under the hub's own cgroup."""
    root = _fake_v2(tmp_path)
    cgroup = person_cgroup("ana", "squad-cc", root=root, own=V2_OWN)
    folder = root / "hub.slice/hub.service/squad-cc/ana"
    assert (cgroup.version, cgroup.unique_folders()) == (2, [folder])
    assert cgroup.parents == (folder.parent,)


def test_person_cgroup_without_a_cgroup_filesystem_is_none(tmp_path):
    """No cgroup filesystem (a container without it, not Linux): None, no error."""
    assert person_cgroup("ana", "squad-cc", root=tmp_path, own=V2_OWN) is None


# --------------------------------------------------------------------------- writing
def test_create_cgroup_v1_writes_the_limits(tmp_path):
    """v1 on a fake root: each controller's files hold the limits; no swap file, no
    swap limit (swap accounting is optional)."""
    root = _fake_v1(tmp_path)
    cgroup = person_cgroup("ana", "squad-cc", root=root, own=V1_OWN)
    assert create_cgroup(cgroup, Limits(2 * GIB, 1.5, 256)) == {}
    memory, cpu, pids = (cgroup.folders[c] for c in CONTROLLERS)
    assert (memory / "memory.limit_in_bytes").read_text() == str(2 * GIB)
    assert not (memory / "memory.memsw.limit_in_bytes").exists()
    assert (cpu / "cpu.cfs_quota_us").read_text() == "150000"
    assert (cpu / "cpu.cfs_period_us").read_text() == "100000"
    assert (pids / "pids.max").read_text() == "256"


def test_create_cgroup_v2_enables_controllers_and_names_a_missing_one(tmp_path):
    """v2: controllers are passed down to the person's folder; one the kernel does not
    offer (cpu here) is reported, the others are written."""
    root = _fake_v2(tmp_path, available="memory pids")
    cgroup = person_cgroup("ana", "squad-cc", root=root, own=V2_OWN)
    problems = create_cgroup(cgroup, Limits(GIB, 1.0, 100))
    assert list(problems) == ["cpu"]
    assert "cpu controller is not available" in problems["cpu"]
    folder = cgroup.unique_folders()[0]
    assert (folder / "memory.max").read_text() == str(GIB)
    assert (folder / "pids.max").read_text() == "100"
    assert not (folder / "cpu.max").exists()
    hub = root / "hub.slice/hub.service"
    assert (hub / "cgroup.subtree_control").read_text() == "+pids"  # the last written


def test_oom_kills_reads_v1_and_v2_counters(tmp_path):
    """The OOM killer's count of the calling process's memory cgroup, v1 and v2."""
    v1 = _fake_v1(tmp_path / "v1")
    (v1 / "memory/jobs/hub").mkdir(parents=True)
    (v1 / "memory/jobs/hub/memory.oom_control").write_text(
        "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n"
    )
    v2 = _fake_v2(tmp_path / "v2")
    (v2 / "hub.slice/hub.service/memory.events").write_text(
        "low 0\nhigh 0\nmax 12\noom 2\noom_kill 2\n"
    )
    assert oom_kills(v1, V1_OWN) == 3
    assert oom_kills(v2, V2_OWN) == 2
    assert oom_kills(tmp_path / "none", V2_OWN) is None


# --------------------------------------------------------------------------- real
def _real_root(version: int) -> Path | None:
    """A writable cgroup filesystem of ``version`` on this machine, if any."""
    if not LINUX_ROOT:
        return None
    from squad.hub.cgroups import cgroup_version

    for root in (Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/unified")):
        if cgroup_version(root) == version and os.access(root, os.W_OK):
            return root
    return None


@pytest.fixture
def real_cgroup(request):
    """A person's cgroup on this machine's cgroup filesystem; removed afterwards."""
    import secrets

    root = _real_root(request.param)
    if root is None:
        pytest.skip(f"no writable cgroup v{request.param} filesystem here (needs root)")
    cgroup = person_cgroup("probe", f"squad-test-{secrets.token_hex(3)}", root=root)
    yield cgroup
    remove_cgroup(cgroup)
    assert not any(f.exists() for f in [*cgroup.unique_folders(), *cgroup.parents])


def _start_in(cgroup, code: str) -> subprocess.Popen:
    files = procs_files(cgroup)
    return subprocess.Popen(
        [sys.executable, "-c", code],
        preexec_fn=lambda: join_cgroup(files),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


@pytest.mark.parametrize("real_cgroup", [1], indirect=True)
def test_real_v1_cgroup_holds_the_process_and_enforces_its_limits(real_cgroup):
    """cgroup v1 here: the process joins before exec; the kernel stops a memory hog
    (OOM kill, counted) and refuses the fork past pids.max."""
    cgroup = real_cgroup
    assert create_cgroup(cgroup, Limits(64 * 2**20, 0.5, 16)) == {}
    assert (cgroup.folders["cpu"] / "cpu.cfs_quota_us").read_text().strip() == "50000"

    hog = _start_in(cgroup, "b = [bytearray(2**20) for _ in range(1024)]")
    assert hog.wait(timeout=60) == -9
    own = f"4:memory:/{cgroup.folders['memory'].relative_to('/sys/fs/cgroup/memory')}\n"
    assert oom_kills(Path("/sys/fs/cgroup"), own) >= 1

    forks = _start_in(
        cgroup,
        "import os, time\n"
        "n = 0\n"
        "try:\n"
        "    for n in range(64):\n"
        "        if os.fork() == 0:\n"
        "            os.closerange(0, 3); time.sleep(300); os._exit(0)\n"
        "except BlockingIOError:\n"
        "    print('refused after', n)\n",
    )
    out, _ = forks.communicate(timeout=60)
    assert out.startswith("refused after"), out
    assert int(out.split()[-1]) < 16
    assert folders_without(cgroup, forks.pid) == cgroup.unique_folders()  # it ended
    assert len(remove_cgroup(cgroup)) >= 1  # the sleeping children were stopped


@pytest.mark.parametrize("real_cgroup", [2], indirect=True)
def test_real_v2_cgroup_holds_the_process_and_names_what_it_lacks(real_cgroup):
    """cgroup v2 here (a host's unified tree, or the hybrid one's): the process joins
    before exec and is stopped with the cgroup; limits are written where the kernel
    offers the controller, and each one it does not offer is named."""
    cgroup = real_cgroup
    folder = cgroup.unique_folders()[0]
    available = (folder.parent.parent / "cgroup.controllers").read_text().split()
    problems = create_cgroup(cgroup, Limits(256 * 2**20, 1.0, 32))
    assert set(problems) == {c for c in CONTROLLERS if c not in available}
    if "pids" not in problems:
        assert (folder / "pids.max").read_text().strip() == "32"
    sleeper = _start_in(cgroup, "import time; time.sleep(60)")
    own = Path(f"/proc/{sleeper.pid}/cgroup").read_text().splitlines()
    assert f"0::/{folder.relative_to(_real_root(2))}" in own
    assert folders_without(cgroup, sleeper.pid) == []
    assert remove_cgroup(cgroup) == {sleeper.pid}
    assert sleeper.wait(timeout=30) == -9


# --------------------------------------------------------------------------- spawners
def _user(name: str = "nobody") -> SimpleNamespace:
    return SimpleNamespace(name=name, id=7, url=f"/user/{name}/", escaped_name=name)


def test_spawner_class_is_systemds_where_systemd_booted(tmp_path):
    """systemd as PID 1 (``/run/systemd/system``): systemd's spawner; else cgroups."""
    from squad.hub.spawner import spawner_class

    assert spawner_class(tmp_path) == "squad.hub.spawner.CourseSpawner"
    (tmp_path / "run/systemd/system").mkdir(parents=True)
    assert spawner_class(tmp_path) == "squad.hub.spawner.CourseSystemdSpawner"


@pytest.mark.skipif(not LINUX_ROOT, reason="the spawner runs on Linux, as root")
def test_course_spawner_warns_naming_limits_it_cannot_enforce(tmp_path, caplog):
    """No cgroup filesystem: the server still starts; the log names every limit."""
    from squad.hub.spawner import CourseSpawner

    spawner = CourseSpawner(
        user=_user(),
        cgroup_root=str(tmp_path),
        mem_limit="2G",
        cpu_limit=1.0,
        max_processes=256,
    )
    spawner.log = logging.getLogger("squad.test.spawner")
    with caplog.at_level(logging.WARNING, "squad.test.spawner"):
        spawner._prepare_cgroup()
    assert spawner._cgroup is None
    assert caplog.messages == [
        "Limits NOT enforced for nobody's server: memory 2 GiB, CPU 1, processes 256 "
        f"(no cgroup filesystem at {tmp_path})."
    ]


@pytest.mark.skipif(not LINUX_ROOT, reason="the runtime folder is made by root")
def test_ensure_runtime_dir_is_the_persons_and_private(tmp_path):
    """The person's runtime folder: theirs, 0700, in a folder only root can write."""
    import pwd

    from squad.hub.spawner import RUNTIME_ROOT, ensure_runtime_dir

    nobody = pwd.getpwnam("nobody")
    folder = ensure_runtime_dir(tmp_path / "run", "nobody")
    info = folder.stat()
    assert (info.st_uid, info.st_mode & 0o777) == (nobody.pw_uid, 0o700)
    # A kernel's socket of the longest account name fits a Unix socket's 107 bytes.
    longest = RUNTIME_ROOT / ("a" * 32) / f"kernel-{'0' * 36}-ipc-5"
    assert len(str(longest)) < 107

    open_root = tmp_path / "open"
    open_root.mkdir(mode=0o777)
    open_root.chmod(0o777)
    with pytest.raises(OSError, match="only root can write"):
        ensure_runtime_dir(open_root, "nobody")
    (tmp_path / "run" / "nobody").rmdir()
    (tmp_path / "run" / "nobody").symlink_to(tmp_path)
    with pytest.raises(OSError, match="is not a folder"):
        ensure_runtime_dir(tmp_path / "run", "nobody")


@pytest.mark.skipif(not LINUX_ROOT, reason="systemd's spawner runs on Linux")
def test_systemd_spawner_asks_systemd_for_the_limits(monkeypatch):
    """Where systemd runs, the unit gets MemoryMax, CPUQuota, TasksMax, keeps running
    when a kernel is killed for memory, and has a private runtime folder."""
    import asyncio

    from jupyterhub.spawner import Spawner
    from systemdspawner import systemd

    from squad.hub.spawner import CourseSystemdSpawner

    started = {}

    async def running(unit):
        return bool(started)

    async def failed(unit):
        return False

    async def start(unit, **kwargs):
        started.update(kwargs, unit=unit)

    monkeypatch.setattr(systemd, "service_running", running)
    monkeypatch.setattr(systemd, "service_failed", failed)
    monkeypatch.setattr(systemd, "start_transient_service", start)
    monkeypatch.setattr(Spawner, "get_env", lambda self: {})
    spawner = CourseSystemdSpawner(
        user=_user(), mem_limit="2G", cpu_limit=1.0, max_processes=256
    )
    asyncio.run(spawner.start())
    properties = started["properties"]
    assert {key: properties[key] for key in ("MemoryMax", "CPUQuota", "TasksMax")} == {
        "MemoryMax": 2 * GIB,
        "CPUQuota": "100%",
        "TasksMax": "256",
    }
    assert properties["OOMPolicy"] == "continue"
    assert properties["RuntimeDirectory"] == "squad-hub/nobody"
    env = started["environment_variables"]
    assert env["JUPYTER_RUNTIME_DIR"] == "/run/squad-hub/nobody"
    assert env["SQUAD_HUB_MEM_LIMIT"] == str(2 * GIB)
