"""Tests for squad.kernels.sandbox.processes: handing files over, finding leftovers.

No process is started: only files change owner and ``/proc`` is read.
"""

from __future__ import annotations

import os

import pytest

from squad.kernels.sandbox.processes import chown_tree, kill_marked
from squad.kernels.sandbox.session import UID_BASE

as_root = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="chown needs root"
)


@as_root
def test_chown_tree_hands_the_tree_over_without_following_links(tmp_path):
    """Every file and folder goes to the sandbox user; a link's target stays put."""
    uid = UID_BASE + 5
    outside = tmp_path / "gradebook.db"
    outside.write_text("grades")
    tree = tmp_path / "work"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "a.txt").write_text("a")
    (tree / "link").symlink_to(outside)
    chown_tree(tree, uid)
    for path in (tree, tree / "sub", tree / "sub" / "a.txt", tree / "link"):
        info = path.lstat()
        assert (info.st_uid, info.st_gid) == (uid, uid), path
    assert outside.stat().st_uid == os.getuid()


def test_kill_marked_leaves_unmarked_processes_alone():
    """A marker no process carries kills nothing (this test process included)."""
    assert kill_marked(os.urandom(8).hex()) == 0
