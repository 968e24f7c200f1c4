"""Tests for squad.kernels.sandbox.session: one kernel's runtime folder and uid.

No kernel is started: a session is opened and closed around nothing.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from squad.kernels.sandbox import SandboxCapabilities, SandboxPolicy
from squad.kernels.sandbox.command import sandbox_command
from squad.kernels.sandbox.session import UID_BASE, first_closed_folder, open_sandbox

LIMITS = ("RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_NPROC", "RLIMIT_FSIZE")
OTHER = UID_BASE + 1


@pytest.fixture
def closed(tmp_path):
    """A folder only its owner may enter, with a folder inside it."""
    tmp_path.chmod(0o755)
    folder = tmp_path / "closed"
    (folder / "inner").mkdir(parents=True)
    folder.chmod(0o700)
    yield folder
    folder.chmod(0o755)


def _outside(tmp_path: Path) -> dict[Path, str]:
    """Mounts that make every folder above ``tmp_path`` bubblewrap's own."""
    return {Path(*tmp_path.parts[:2]): "tmp", tmp_path: "rw"}


def _caps(is_root: bool = False) -> SandboxCapabilities:
    return SandboxCapabilities("linux", is_root, "bwrap", "unshare", LIMITS, "bwrap")


@pytest.fixture
def workdir(tmp_path):
    """A kernel's working folder."""
    work = tmp_path / "work"
    work.mkdir()
    return work


def test_first_closed_folder_finds_a_folder_others_cannot_enter(closed, tmp_path):
    """Another account stops at the closed folder; its owner and the grader do not."""
    mounts = _outside(tmp_path)
    assert first_closed_folder(closed / "inner", OTHER, mounts) == closed
    assert first_closed_folder(closed / "inner", closed.stat().st_uid, mounts) is None
    assert first_closed_folder(closed / "inner", None) is None


def test_first_closed_folder_skips_folders_bubblewrap_makes(closed, tmp_path):
    """A closed folder hidden behind a tmpfs is not on the kernel's way."""
    mounts = {**_outside(tmp_path), closed: "hide"}
    assert first_closed_folder(closed / "inner", OTHER, mounts) is None


def test_first_closed_folder_reports_a_missing_folder(tmp_path):
    """A folder that does not exist cannot be entered either."""
    tmp_path.chmod(0o755)
    missing = tmp_path / "gone"
    assert first_closed_folder(missing / "x", OTHER, _outside(tmp_path)) == missing


def test_open_sandbox_makes_a_private_runtime_folder(workdir):
    """The runtime folder holds IPython's, matplotlib's and temporary files; closing
    removes it, and closing again is harmless."""
    policy = SandboxPolicy()
    sandbox = open_sandbox(policy, workdir, "rlimits", _caps())
    runtime = sandbox.runtime
    assert sorted(p.name for p in runtime.iterdir()) == [
        "cache",
        "config",
        "ipython",
        "matplotlib",
        "tmp",
    ]
    assert sandbox.uid is None and not sandbox.closed
    assert len(sandbox.token) == 16
    assert sandbox.command(["k"]) == sandbox_command(
        ["k"],
        policy=policy,
        mode="rlimits",
        caps=_caps(),
        uid=None,
        workdir=workdir,
        runtime=runtime,
    )
    assert sandbox.close() == 0
    assert sandbox.closed and not runtime.exists()
    assert sandbox.close() == 0


def test_open_sandbox_gives_each_kernel_its_own_marker(workdir):
    """Two kernels never share a runtime folder or a marker."""
    one = open_sandbox(SandboxPolicy(), workdir, "none", _caps())
    two = open_sandbox(SandboxPolicy(), workdir, "none", _caps())
    try:
        assert one.runtime != two.runtime and one.token != two.token
    finally:
        one.close()
        two.close()


@pytest.mark.parametrize(
    ("mode", "lacking"),
    [
        ("bwrap", None),
        ("unshare", "Kernel sandbox (unshare) lacks: filesystem isolation"),
        ("rlimits", "network isolation"),
    ],
)
def test_open_sandbox_logs_what_its_mode_lacks(workdir, caplog, mode, lacking):
    """The log names every protection the kernel goes without."""
    with caplog.at_level(logging.WARNING, logger="squad"):
        open_sandbox(SandboxPolicy(), workdir, mode, _caps()).close()
    if lacking is None:
        assert "lacks" not in caplog.text
    else:
        assert lacking in caplog.text


@pytest.mark.parametrize(("mode", "noted"), [("rlimits", True), ("none", False)])
def test_open_sandbox_as_root_says_when_the_kernel_stays_root(
    workdir, caplog, mode, noted
):
    """Without privileges dropped, a root grader's kernel escapes RLIMIT_NPROC."""
    policy = SandboxPolicy(drop_privileges=False)
    with caplog.at_level(logging.WARNING, logger="squad"):
        sandbox = open_sandbox(policy, workdir, mode, _caps(is_root=True))
    sandbox.close()
    assert sandbox.uid is None
    note = "unprivileged kernel user (RLIMIT_NPROC is not enforced for root)"
    assert (note in caplog.text) == noted


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root"
)
def test_open_sandbox_as_root_keeps_root_where_python_is_closed(workdir, caplog):
    """A fresh uid that could not start Python is not used; the log says why."""
    from squad.kernels.sandbox import interpreter_closed_to_others

    blocked = interpreter_closed_to_others()
    if blocked is None:
        pytest.skip("this Python is open to other accounts")
    with caplog.at_level(logging.WARNING, logger="squad"):
        sandbox = open_sandbox(SandboxPolicy(), workdir, "rlimits", _caps(True))
    sandbox.close()
    assert sandbox.uid is None
    assert f"('{blocked}' is closed to other users)" in caplog.text
