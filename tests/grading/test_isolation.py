"""Isolation levels of ``squad grade``: strict refuses without bubblewrap, weak warns.

A machine without bubblewrap is simulated by a PATH that holds only this interpreter's
scripts (no ``bwrap``, no ``unshare``), for the real ``squad`` command.
"""

from __future__ import annotations

import json
import logging
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from squad.errors import InvalidInputError, MissingToolError
from squad.grading.isolation import resolve_isolation
from squad.kernels import sandbox
from tests.support import grading_class as gc

LINUX = sys.platform.startswith("linux")


def _squad_without_bwrap(*args: str) -> subprocess.CompletedProcess:
    """Run the real ``squad`` command with a PATH that has no bubblewrap."""
    return gc.squad(*args, path=str(Path(sys.executable).parent))


def _rows(course: Path) -> list[tuple]:
    with sqlite3.connect(course / "gradebook.db") as conn:
        return conn.execute("SELECT * FROM grade ORDER BY id").fetchall()


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """The fixture course with one full-marks submission and one untouched one."""
    base = tmp_path_factory.mktemp("isolation")
    base.chmod(0o755)
    course = gc.build_course(base / "course")
    gc.submit(course, "full", gc.answer(course, {}))
    untouched = dict.fromkeys(("q1_mean", "q2_read", "q3_normalise"), "untouched")
    gc.submit(course, "none", gc.answer(course, untouched))
    return course


@pytest.fixture
def no_bwrap(monkeypatch):
    """This process's PATH without bubblewrap; probed again afterwards."""
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))
    yield
    monkeypatch.undo()
    sandbox.sandbox_capabilities(refresh=True)


def test_unknown_level_is_refused():
    with pytest.raises(InvalidInputError, match="'paranoid' is unknown.*strict, weak"):
        resolve_isolation("paranoid")


@pytest.mark.skipif(not LINUX, reason="bubblewrap is Linux-only")
def test_strict_without_bubblewrap_is_a_user_error(no_bwrap):
    with pytest.raises(MissingToolError, match="apt-get install bubblewrap"):
        resolve_isolation("strict")
    with pytest.raises(MissingToolError, match="--isolation weak"):
        resolve_isolation(None)  # strict is the Linux default


@pytest.mark.skipif(not LINUX, reason="bubblewrap is Linux-only")
def test_strict_is_the_default_and_lists_its_protections():
    found = resolve_isolation(None)
    assert (found.requested, found.level, found.mode) == ("strict", "strict", "bwrap")
    assert any("course folder hidden" in item for item in found.active)
    assert "no network" in found.active and "PID namespace" in found.active
    assert not any("course folder" in item for item in found.lacking)


def test_none_warns_that_nothing_is_isolated(caplog):
    with caplog.at_level(logging.WARNING, logger="squad"):
        found = resolve_isolation("none")
    assert (found.level, found.mode) == ("none", "none")
    assert "network isolation" in found.lacking
    assert "Grading with none isolation" in caplog.text
    assert "hidden tests" in caplog.text


@pytest.mark.skipif(not LINUX, reason="bubblewrap is Linux-only")
def test_squad_grade_refuses_strict_without_bubblewrap_before_grading(course):
    """One line, exit 2, and nothing graded, written or reported."""
    before = _rows(course)
    run = _squad_without_bwrap("grade", gc.ASSIGNMENT, "--course", str(course))
    assert run.returncode == 2, run.stdout + run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("Error: Strict isolation needs bubblewrap")
    assert "apt-get install bubblewrap" in lines[0] and "--isolation weak" in lines[0]
    assert not (course / "autograded").exists()
    assert not (course / "reports" / gc.ASSIGNMENT / "summary.json").exists()
    assert _rows(course) == before


@pytest.mark.slow
@pytest.mark.skipif(not LINUX, reason="bubblewrap is Linux-only")
def test_squad_grade_weak_warns_and_states_the_level_everywhere(course):
    """Weak isolation grades, warns, and the summary, report and logs say so."""
    run = _squad_without_bwrap(
        "grade", gc.ASSIGNMENT, "--course", str(course), "--isolation", "weak"
    )
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]
    assert "Grading with weak isolation" in run.stderr
    assert "can read its assignment's hidden tests" in run.stderr
    assert "isolation: weak (sandbox mode rlimits)" in run.stdout
    reports = course / "reports" / gc.ASSIGNMENT
    summary = json.loads((reports / "summary.json").read_text())
    assert summary["counts"]["graded"] == 2
    assert summary["isolation"]["level"] == "weak"
    assert "PID namespace" in " ".join(summary["isolation"]["lacking"])
    assert "<strong>Isolation: weak</strong>" in (reports / "report.html").read_text()
    for log in ("full", "none"):
        head = (reports / "logs" / f"{log}.log").read_text().split("\n\n")[0]
        assert "isolation: weak (sandbox mode rlimits)" in head
    scores = gc.gradebook_scores(course)
    assert scores[("full", "q1_tests")][0] > 0
    assert scores[("none", "q1_tests")][0] == 0


def _kernel_spec(folder: Path, argv: list[str]) -> Path:
    """A ``python3`` kernel spec in ``folder`` (put first on JUPYTER_PATH)."""
    spec = folder / "kernels" / "python3"
    spec.mkdir(parents=True)
    kernel = {"argv": argv, "display_name": "Python 3", "language": "python"}
    (spec / "kernel.json").write_text(json.dumps(kernel))
    return folder


@pytest.mark.slow
@pytest.mark.skipif(not LINUX, reason="bubblewrap is Linux-only")
def test_squad_grade_refuses_a_kernel_the_sandbox_cannot_start(
    course, tmp_path, monkeypatch
):
    """A kernel whose interpreter the sandbox hides (here under /tmp) stops the command
    before any submission is graded, in one line naming the interpreter."""
    hidden = Path(tempfile.mkdtemp(prefix="squad-elsewhere ")) / "python"
    hidden.symlink_to(sys.executable)
    argv = [str(hidden), "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    monkeypatch.setenv("JUPYTER_PATH", str(_kernel_spec(tmp_path, argv)))
    before = _rows(course)
    try:
        run = gc.squad("grade", gc.ASSIGNMENT, "--course", str(course), "--force")
    finally:
        shutil.rmtree(hidden.parent)
    assert run.returncode == 2, run.stdout + run.stderr[-3000:]
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert (
        f"The kernel's Python '{hidden}' does not start in the bwrap sandbox"
        in (lines[0])
    )
    assert "No such file or directory" in lines[0] and "/opt/squad" in lines[0]
    assert _rows(course) == before


@pytest.mark.slow
def test_a_kernel_that_cannot_start_is_the_graders_error(tmp_path, monkeypatch):
    """The outcome names the kernel's own last error line and blames the set-up, not
    the submission (a kernel that died before printing anything is tried once more)."""
    tmp_path.chmod(0o755)
    course = gc.build_course(tmp_path / "course")
    gc.submit(course, "full", gc.answer(course, {}))
    argv = [sys.executable, "-c", "import squad_no_such_module", "{connection_file}"]
    monkeypatch.setenv("JUPYTER_PATH", str(_kernel_spec(tmp_path / "jp", argv)))
    run = gc.squad("grade", gc.ASSIGNMENT, "--course", str(course), "--jobs", "1")
    assert run.returncode != 0, run.stdout
    summary = json.loads(
        (course / "reports" / gc.ASSIGNMENT / "summary.json").read_text()
    )
    [outcome] = summary["outcomes"]
    assert outcome["status"] == "error"
    assert "No module named 'squad_no_such_module'" in outcome["message"]
    assert "not the submission's" in outcome["message"]
    assert "grade this submission again" not in outcome["message"]
    log = (course / "reports" / gc.ASSIGNMENT / "logs" / "full.log").read_text()
    assert log.count("graded again") <= 1
