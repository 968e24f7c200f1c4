"""Tests for squad.kernels.sandbox.policy: the policy's checks and the modes' gaps."""

from __future__ import annotations

from pathlib import Path

import pytest

from squad.kernels.sandbox import SandboxCapabilities, SandboxPolicy

ALL_LIMITS = ("RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_NPROC", "RLIMIT_FSIZE")


@pytest.mark.parametrize(
    ("field", "value"),
    [("memory_mb", 100), ("cpu_seconds", 0), ("max_processes", -1), ("tmp_size_mb", 0)],
)
def test_sandbox_policy_rejects_bad_limits(field, value):
    """A limit below its floor is a ValueError that names it."""
    with pytest.raises(ValueError, match=f"{field}={value}"):
        SandboxPolicy(**{field: value})


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("memory_mb", True, "memory_mb=True is not valid"),
        ("cpu_seconds", 1.5, r"Use an integer >= 1 or None\."),
        ("tmp_size_mb", None, r"tmp_size_mb=None is not valid\. Use an integer >= 1\."),
    ],
)
def test_sandbox_policy_rejects_non_integers(field, value, match):
    """Booleans and floats are no limits; only the tmpfs size cannot be None."""
    with pytest.raises(ValueError, match=match):
        SandboxPolicy(**{field: value})


def test_sandbox_policy_accepts_no_limits():
    """None switches a limit off."""
    policy = SandboxPolicy(
        memory_mb=None, cpu_seconds=None, max_processes=None, max_output_file_mb=None
    )
    assert policy.memory_mb is None and policy.max_output_file_mb is None


def test_sandbox_policy_rejects_unknown_isolation():
    """An unknown isolation mode is a ValueError listing the known ones."""
    with pytest.raises(ValueError, match="'docker' is unknown.*bwrap"):
        SandboxPolicy(isolation="docker")


def test_sandbox_policy_resolves_paths(tmp_path, monkeypatch):
    """Paths become absolute tuples, a single path included; env is copied."""
    monkeypatch.chdir(tmp_path)
    env = {"A": "1"}
    policy = SandboxPolicy(
        readable_paths="data",
        hidden_paths=["course", tmp_path / "other"],
        workdir="work",
        env=env,
        env_allow=["PATH"],
    )
    env["A"] = "2"
    assert policy.readable_paths == (tmp_path.resolve() / "data",)
    assert policy.hidden_paths == (
        tmp_path.resolve() / "course",
        tmp_path.resolve() / "other",
    )
    assert policy.workdir == tmp_path.resolve() / "work"
    assert policy.env == {"A": "1"} and policy.env_allow == ("PATH",)
    assert SandboxPolicy(readable_paths=["~"]).readable_paths == (
        Path.home().resolve(),
    )


def test_sandbox_policy_is_hashable():
    """Equal policies hash alike (grading kernels are keyed by their policy)."""
    one = SandboxPolicy(memory_mb=512, env={"A": "1"})
    two = SandboxPolicy(memory_mb=512, env={"A": "2"})
    assert hash(one) == hash(two) and one != two


def test_capabilities_missing_names_inactive_protections():
    """Each weaker mode names what it cannot protect."""
    caps = SandboxCapabilities(
        "linux", True, None, "/usr/bin/unshare", ("RLIMIT_AS",), "unshare"
    )
    missing = " ".join(caps.missing())
    assert "filesystem isolation" in missing and "PID namespace" in missing
    assert "network isolation" not in missing
    assert "RLIMIT_CPU limit" in missing and "RLIMIT_AS limit" not in missing
    assert caps.missing("bwrap") == (
        "RLIMIT_CPU limit",
        "RLIMIT_NPROC limit",
        "RLIMIT_FSIZE limit",
    )


@pytest.mark.parametrize(
    ("mode", "network", "limits"),
    [
        ("bwrap", True, 0),
        ("unshare", True, 0),
        ("rlimits", False, 0),
        ("none", False, 4),
    ],
)
def test_capabilities_missing_by_mode(mode, network, limits):
    """Only bwrap isolates files and PIDs, only bwrap and unshare the network, and
    mode none sets no limit even where setrlimit works."""
    caps = SandboxCapabilities("linux", False, "/b", "/u", ALL_LIMITS, "bwrap")
    missing = caps.missing(mode)
    assert any("filesystem isolation" in m for m in missing) == (mode != "bwrap")
    assert ("network isolation" not in missing) == network
    assert sum(m.startswith("RLIMIT_") for m in missing) == limits


def test_capabilities_missing_says_macos_ignores_rlimit_as():
    """macOS accepts RLIMIT_AS but does not enforce it: said in every mode but none."""
    caps = SandboxCapabilities("darwin", False, None, None, ALL_LIMITS, "rlimits")
    assert "RLIMIT_AS limit (macOS does not enforce it)" in caps.missing()
    assert "RLIMIT_AS limit (macOS does not enforce it)" not in caps.missing("none")
