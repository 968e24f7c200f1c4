"""Tests for squad.kernels.sandbox.command: mounts, arguments and environment.

Nothing here starts a process: the command lines are only built and read.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

import squad
from squad.kernels.sandbox import SandboxCapabilities, SandboxPolicy, build_kernel_env
from squad.kernels.sandbox.command import (
    LIMITS_PROGRAM,
    bwrap_args,
    bwrap_mounts,
    bwrap_namespaces,
    limit_args,
    sandbox_command,
)

MB = 1024 * 1024
posix_only = pytest.mark.skipif(os.name != "posix", reason="setrlimit is POSIX-only")


@pytest.fixture
def folders(tmp_path):
    """A kernel's working and runtime folders."""
    work, runtime = tmp_path / "work", tmp_path / "runtime"
    work.mkdir()
    runtime.mkdir()
    return work, runtime


def _caps(is_root: bool = False) -> SandboxCapabilities:
    limits = ("RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_NPROC", "RLIMIT_FSIZE")
    return SandboxCapabilities(
        "linux", is_root, "/usr/bin/bwrap", "/usr/bin/unshare", limits, "bwrap"
    )


def _pairs(args: list[str], flag: str) -> list[tuple[str, str]]:
    """The (source, target) of every ``flag SOURCE TARGET`` in ``args``."""
    return [(args[i + 1], args[i + 2]) for i, arg in enumerate(args) if arg == flag]


def _after(args: list[str], flag: str) -> list[str]:
    """The value of every ``flag VALUE`` in ``args``."""
    return [args[i + 1] for i, arg in enumerate(args) if arg == flag]


def test_build_kernel_env_keeps_only_allowed_names():
    """Secrets are dropped, allowed names kept, HOME moved to the workdir."""
    parent = {"PATH": "/usr/bin", "LC_ALL": "C", "GITHUB_TOKEN": "x", "AWS_KEY": "y"}
    policy = SandboxPolicy(env={"NBGRADER_EXECUTION": "autograde"})
    env = build_kernel_env(policy, "/w", "/r", environ=parent)
    assert "GITHUB_TOKEN" not in env and "AWS_KEY" not in env
    assert env["LC_ALL"] == "C"
    assert env["PATH"].endswith("/usr/bin")
    assert env["HOME"] == "/w"
    assert env["NBGRADER_EXECUTION"] == "autograde"


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"PATH": "/usr/bin"}, [str(Path(sys.executable).parent), "/usr/bin"]),
        ({"PATH": ""}, [str(Path(sys.executable).parent)]),
        ({}, [str(Path(sys.executable).parent), *os.defpath.split(os.pathsep)]),
    ],
)
def test_build_kernel_env_puts_this_python_first_on_path(environ, expected):
    """The kernel finds the grader's Python before anything else on PATH."""
    env = build_kernel_env(SandboxPolicy(), "/w", "/r", environ=environ)
    assert env["PATH"].split(os.pathsep) == expected


def test_build_kernel_env_points_caches_into_the_runtime_folder():
    """Temporary, IPython, matplotlib and XDG folders live in the runtime folder."""
    env = build_kernel_env(SandboxPolicy(), "/w", "/r", environ={})
    runtime = Path("/r")
    for name in ("TMPDIR", "TEMP", "TMP"):
        assert Path(env[name]) == runtime / "tmp"
    assert Path(env["IPYTHONDIR"]) == runtime / "ipython"
    assert Path(env["MPLCONFIGDIR"]) == runtime / "matplotlib"
    assert Path(env["XDG_CACHE_HOME"]) == runtime / "cache"
    assert env["USER"] == env["LOGNAME"] == "sandbox"
    assert env["OMP_NUM_THREADS"] == env["MALLOC_ARENA_MAX"] == "1"


def test_build_kernel_env_lets_the_policy_have_the_last_word():
    """The policy's own variables win over the allow-list and the sandbox's values."""
    policy = SandboxPolicy(
        env={"MPLBACKEND": "module://x", "TZ": "UTC"}, env_allow=["TZ"]
    )
    env = build_kernel_env(policy, "/w", "/r", environ={"TZ": "Europe/London"})
    assert env["MPLBACKEND"] == "module://x" and env["TZ"] == "UTC"


def test_build_kernel_env_matches_allowed_names_exactly():
    """Allow-list patterns are case-sensitive globs: LC_* lets LC_ALL through only."""
    parent = {"LC_ALL": "C", "lc_all": "C", "LANGUAGE": "en", "LANG_X": "y"}
    env = build_kernel_env(SandboxPolicy(), "/w", "/r", environ=parent)
    assert "LC_ALL" in env and "LANGUAGE" in env
    assert "lc_all" not in env and "LANG_X" not in env


@posix_only
@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (
            SandboxPolicy(),
            {
                "RLIMIT_AS": 3072 * MB,
                "RLIMIT_CPU": 600,
                "RLIMIT_NPROC": 64,
                "RLIMIT_FSIZE": 100 * MB,
                "RLIMIT_CORE": 0,
            },
        ),
        (
            SandboxPolicy(memory_mb=None, cpu_seconds=5, max_output_file_mb=None),
            {"RLIMIT_CPU": 5, "RLIMIT_NPROC": 64, "RLIMIT_CORE": 0},
        ),
    ],
)
def test_limit_args_sets_each_limit_in_bytes_or_units(policy, expected):
    """Megabytes become bytes, None leaves a limit out, core files are always off."""
    args = limit_args(policy, "rlimits")
    assert dict(zip(args[::2], map(int, args[1::2]), strict=True)) == expected


@posix_only
@pytest.mark.parametrize("mode", ["bwrap", "unshare", "rlimits"])
def test_limit_args_are_the_same_in_every_limiting_mode(mode):
    """Every mode but none sets the same limits."""
    assert limit_args(SandboxPolicy(), mode) == limit_args(SandboxPolicy(), "rlimits")


def test_limit_args_sets_nothing_in_mode_none():
    """Mode none is a clean environment only."""
    assert limit_args(SandboxPolicy(), "none") == []


@pytest.mark.parametrize(
    ("is_root", "network", "present", "absent"),
    [
        (False, False, ["--unshare-all", "--disable-userns"], ["--share-net"]),
        (False, True, ["--unshare-all", "--share-net"], []),
        (True, False, ["--unshare-net", "--cap-drop"], ["--unshare-user"]),
        (True, True, ["--unshare-pid"], ["--unshare-net", "--unshare-user"]),
    ],
)
def test_bwrap_namespaces(is_root, network, present, absent):
    """Root keeps only the uid-switching capabilities and no user namespace; the
    network is cut unless the policy allows it."""
    args = bwrap_namespaces(is_root, network=network)
    assert set(present) <= set(args) and not set(absent) & set(args)
    assert args[-2:] == ["--die-with-parent", "--new-session"]
    if is_root:
        assert _after(args, "--cap-add") == ["CAP_SETUID", "CAP_SETGID"]


def test_bwrap_mounts_nest_no_folder_in_its_own_kind(folders, tmp_path):
    """site-packages inside a mounted prefix is not mounted again, and only folders
    that bubblewrap creates in its own tmpfs get their mode set."""
    work, runtime = folders
    prefix = tmp_path / "prefix"
    (prefix / "lib" / "site").mkdir(parents=True)
    policy = SandboxPolicy(readable_paths=(prefix, prefix / "lib" / "site"))
    mounts = bwrap_mounts(policy, work, runtime)
    assert mounts[prefix] == "ro" and prefix / "lib" / "site" not in mounts
    args = bwrap_args(policy, "bwrap", work, runtime, is_root=True)
    chmods = {folder for _, folder in _pairs(args, "--chmod")}
    assert str(prefix / "lib") not in chmods
    assert str(tmp_path) in chmods  # made by bubblewrap inside the private /tmp


def test_bwrap_mounts_the_most_specific_path_wins(folders, tmp_path):
    """A readable folder inside a hidden one is visible; writable beats readable."""
    work, runtime = folders
    course = tmp_path / "course"
    (course / "public").mkdir(parents=True)
    shared = tmp_path / "shared"
    shared.mkdir()
    policy = SandboxPolicy(
        hidden_paths=[course],
        readable_paths=[course / "public", shared],
        writable_paths=[shared],
    )
    mounts = bwrap_mounts(policy, work, runtime)
    assert mounts[course] == "hide"
    assert mounts[course / "public"] == "ro"
    assert mounts[shared] == "rw"
    assert mounts[work] == mounts[runtime] == "rw"
    assert mounts[Path("/tmp")] == "tmp"
    depths = [len(path.parts) for path in mounts]
    assert depths == sorted(depths), "outer mounts come first"


def test_bwrap_mounts_show_python_and_the_kit_unless_hidden(folders):
    """The interpreter and the squad package are readable; hiding the package wins."""
    work, runtime = folders
    kit = Path(squad.__file__).resolve().parent
    python = Path(sys.executable).resolve()
    mounts = bwrap_mounts(SandboxPolicy(), work, runtime)

    def kind(path: Path) -> str | None:
        above = [m for m in mounts if m == path or m in path.parents]
        return mounts[max(above, key=lambda m: len(m.parts))] if above else None

    assert kind(python) == "ro"
    assert kind(kit) == "ro"
    hidden = bwrap_mounts(SandboxPolicy(hidden_paths=[kit]), work, runtime)
    assert hidden[kit] == "hide"
    assert not [m for m in hidden if kit in m.parents]


def test_bwrap_mounts_leave_out_paths_that_do_not_exist(folders, tmp_path):
    """bubblewrap cannot mount what is not there."""
    work, runtime = folders
    policy = SandboxPolicy(
        readable_paths=[tmp_path / "nothing"], hidden_paths=[tmp_path / "gone"]
    )
    mounts = bwrap_mounts(policy, work, runtime)
    assert tmp_path / "nothing" not in mounts and tmp_path / "gone" not in mounts


def test_bwrap_args_hide_folders_and_files_and_bind_the_rest(folders, tmp_path):
    """A hidden folder is an empty read-only tmpfs, a hidden file /dev/null; readable
    and writable paths are bound read-only and read-write."""
    work, runtime = folders
    course = tmp_path / "course"
    course.mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text("x")
    policy = SandboxPolicy(hidden_paths=[course, secret], tmp_size_mb=8)
    args = bwrap_args(policy, "/usr/bin/bwrap", work, runtime, is_root=False)
    assert args[0] == "/usr/bin/bwrap" and args[-1] == "--"
    assert str(course) in _after(args, "--tmpfs")
    assert str(course) in _after(args, "--remount-ro")
    assert ("/dev/null", str(secret)) in _pairs(args, "--ro-bind")
    assert (str(work), str(work)) in _pairs(args, "--bind")
    assert ("/", "/") in _pairs(args, "--ro-bind")
    assert _after(args, "--hostname") == ["sandbox"]
    assert str(8 * MB) in _after(args, "--size")
    assert ("JPY_PARENT_PID", "1") in _pairs(args, "--setenv")


def test_bwrap_args_follow_the_policy_network(folders):
    """Network access is cut unless the policy allows it."""
    work, runtime = folders
    closed = bwrap_args(SandboxPolicy(), "bwrap", work, runtime, is_root=False)
    open_ = bwrap_args(
        SandboxPolicy(network=True), "bwrap", work, runtime, is_root=False
    )
    assert "--share-net" not in closed and "--share-net" in open_


def test_sandbox_command_in_mode_none_is_the_kernel_itself(folders):
    """Mode none runs the kernel as it is, in its working folder."""
    work, runtime = folders
    cmd, popen = sandbox_command(
        ["python", "-m", "ipykernel_launcher"],
        policy=SandboxPolicy(),
        mode="none",
        caps=_caps(),
        uid=None,
        workdir=work,
        runtime=runtime,
    )
    assert cmd == ["python", "-m", "ipykernel_launcher"]
    assert popen == {"cwd": str(work)}


@pytest.mark.parametrize(
    ("mode", "is_root", "uid", "prefix"),
    [
        ("rlimits", False, None, []),
        ("rlimits", True, 1_900_000_123, []),
        ("unshare", False, None, ["/usr/bin/unshare", "-r", "-n", "--"]),
        ("unshare", True, 1_900_000_123, ["/usr/bin/unshare", "-n", "--"]),
    ],
)
def test_sandbox_command_runs_the_limits_program_first(
    folders, mode, is_root, uid, prefix
):
    """The limits program switches uid, sets the limits and execs the kernel, inside
    ``unshare`` where asked (bringing up the namespace's loopback interface first);
    the kernel starts in its working folder."""
    work, runtime = folders
    policy = SandboxPolicy()
    kernel = ["python", "-m", "ipykernel_launcher", "-f", "k.json"]
    cmd, popen = sandbox_command(
        kernel,
        policy=policy,
        mode=mode,
        caps=_caps(is_root),
        uid=uid,
        workdir=work,
        runtime=runtime,
    )
    program = [sys.executable, "-I", "-S", "-c", LIMITS_PROGRAM]
    drop = ["uid", str(uid)] if uid is not None else []
    if mode == "unshare":
        drop = ["lo", "up", *drop]
    limits = limit_args(policy, mode)
    assert cmd == [*prefix, *program, *drop, *limits, "--", *kernel]
    assert popen == {"cwd": str(work)}


def test_sandbox_command_under_bwrap_enters_the_workdir_as_the_sandbox_user(folders):
    """bubblewrap starts in /; the limits program enters the working folder after it
    has become the sandbox user."""
    work, runtime = folders
    policy = SandboxPolicy()
    kernel = ["python", "-m", "ipykernel_launcher"]
    cmd, popen = sandbox_command(
        kernel,
        policy=policy,
        mode="bwrap",
        caps=_caps(is_root=True),
        uid=1_900_000_007,
        workdir=work,
        runtime=runtime,
    )
    prefix = bwrap_args(policy, "/usr/bin/bwrap", work, runtime, is_root=True)
    assert cmd[: len(prefix)] == prefix
    rest = cmd[len(prefix) :]
    assert rest[:5] == [sys.executable, "-I", "-S", "-c", LIMITS_PROGRAM]
    assert rest[5:9] == ["uid", "1900000007", "cwd", str(work)]
    assert rest[-len(kernel) - 1 :] == ["--", *kernel]
    assert popen == {"cwd": "/"}


def test_limits_program_is_valid_python():
    """The program bubblewrap runs compiles (a typo would only show in a kernel)."""
    compile(LIMITS_PROGRAM, "<limits>", "exec")
