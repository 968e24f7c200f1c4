"""Hostile and broken submissions, graded in one batch with honest ones.

Every case has an asserted outcome; the honest twins (``h-twin`` with full marks,
``h-twin-wrong`` with wrong answers) fix the scores the others must get, so a hostile
submission neither earns points it did not earn honestly nor changes anyone else's.
"""

from __future__ import annotations

import hashlib
import json
import socket
from pathlib import Path

import nbformat
import pytest

from squad.grading.grade import grade_assignment
from tests.support import grading_class as gc
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow
QUESTIONS = ("q1_tests", "q2_tests", "q3_tests")
SECRET = "squad-test-secret-1f6c"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _sleepers() -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if b"317" in (entry / "cmdline").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """All hostile cases and their twins, graded together with ``--jobs 2``."""
    base = tmp_path_factory.mktemp("hostile")
    base.chmod(0o755)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    listener.settimeout(0.2)
    course = gc.build_course(base / "course")
    names = gc.make_hostile(course, listener.getsockname()[1])
    guarded = {
        "gradebook": course / "gradebook.db",
        "source": course / "source/ps1/ps1.ipynb",
        "other": course / "submitted/h-twin/ps1/ps1.ipynb",
    }
    before = {k: _digest(p) for k, p in guarded.items() if k != "gradebook"}
    mp = pytest.MonkeyPatch()
    mp.setenv("SQUAD_TEST_SECRET", SECRET)
    try:
        result = grade_assignment(
            "ps1",
            course=course,
            jobs=2,
            # Generous for the honest cells on a busy machine (a 20 MB print needs
            # seconds); the endless loops still meet these limits.
            cell_timeout=15,
            notebook_timeout=40,
            memory_mb=512,
            progress=False,
        )
    finally:
        mp.undo()
    try:
        listener.accept()[0].close()
        connected = True
    except OSError:
        connected = False
    listener.close()
    return {
        "course": course,
        "names": names,
        "result": result,
        "outcomes": {o.student: o for o in result.outcomes},
        "scores": gc.gradebook_scores(course),
        "before": before,
        "guarded": guarded,
        "connected": connected,
    }


def _scores(batch, student: str) -> list:
    return [batch["scores"].get((student, q), (None,))[0] for q in QUESTIONS]


def test_every_submission_has_an_outcome_and_a_log(batch):
    """One batch, every case an outcome and a log file; not graded means exit 1."""
    outcomes, result = batch["outcomes"], batch["result"]
    assert sorted(outcomes) == batch["names"]
    for outcome in outcomes.values():
        assert Path(outcome.log_file).is_file(), outcome.student
        assert f"status: {outcome.status}" in Path(outcome.log_file).read_text()
    assert result.exit_code == 1
    counts = result.counts()
    assert counts["timeout"] >= 1 and counts["memory"] >= 1 and counts["rejected"] >= 5


@pytest.mark.parametrize(
    ("student", "twin"),
    [
        ("h space id", "h-twin"),
        ("h-ñandú", "h-twin"),
        ("h-loop", "h-twin"),
        ("h-memory", "h-twin"),
        ("h-sys-exit", "h-twin"),
        ("h-output", "h-twin"),
        ("h-cell-type", "h-twin"),
        ("h-nbformat3", "h-twin"),
        ("h-extra-files", "h-twin"),
        ("h-helper-import", "h-twin"),
        ("h-launcher", "h-twin-wrong"),
        ("h-snoop", "h-twin"),
        ("h-edited-test", "h-twin-wrong"),
        ("h-edited-hidden", "h-twin-wrong"),
        ("h-monkey-assert", "h-twin-wrong"),
        ("h-monkey-builtins", "h-twin-wrong"),
        ("h-shadow-builtins", "h-twin-wrong"),
        ("h-monkey-traceback", "h-twin-wrong"),
        ("h-monkey-ipython", "h-twin-wrong"),
    ],
)
def test_graded_cases_score_like_their_honest_twin(batch, student, twin):
    """Graded, with exactly the twin's scores: no point gained, none lost."""
    assert batch["outcomes"]["h-twin"].score == 7.0
    assert _scores(batch, "h-twin-wrong") == [0.0, 0.0, 0.5]
    outcome = batch["outcomes"][student]
    assert outcome.status == "graded", outcome.message
    assert _scores(batch, student) == _scores(batch, twin)


@pytest.mark.parametrize(
    "student",
    [
        "h-monkey-assert",
        "h-monkey-builtins",
        "h-shadow-builtins",
        "h-monkey-traceback",
        "h-monkey-ipython",
    ],
)
def test_monkeypatching_is_undone_and_reported(batch, student):
    """What student code changed is put back before tests, and reported."""
    tampering = batch["outcomes"][student].tampering
    assert any(item.startswith("restored ") for item in tampering)
    assert not any("not reported as failing" in item for item in tampering)


def test_unrestorable_tampering_zeroes_the_tests(batch):
    """A thread that keeps patching IPython defeats restoring; the canary catches it."""
    outcome = batch["outcomes"]["h-monkey-thread"]
    assert outcome.status == "graded"
    assert _scores(batch, "h-monkey-thread") == [0.0, 0.0, 0.0]
    assert any("not reported as failing" in item for item in outcome.tampering)
    nb = nbformat.read(
        batch["course"] / "autograded/h-monkey-thread/ps1/ps1.ipynb", as_version=4
    )
    enames = [
        o.get("ename")
        for c in nb.cells
        if c.metadata.get("nbgrader", {}).get("grade_id") in QUESTIONS
        for o in c.get("outputs", [])
    ]
    assert enames.count("SquadTamperingDetected") == 3


@pytest.mark.parametrize(
    ("student", "status", "words"),
    [
        ("h-loop-stubborn", "timeout", "time limit"),
        ("h-memory-forks", "memory", "more than 512 MB"),
        ("h-os-exit", "rejected", "the kernel died"),
        ("h-segfault", "rejected", "the kernel died"),
        ("h-renamed", "rejected", "it has: ps1 (1).ipynb"),
        ("h-invalid-json", "rejected", "not valid JSON"),
        ("h-empty", "rejected", "empty file"),
        (
            "h-duplicate-ids",
            "rejected",
            "several cells with the nbgrader id 'q1_tests'",
        ),
        ("h-link", "rejected", "symbolic link"),
    ],
)
def test_ungradable_cases_are_reported_not_crashed(batch, student, status, words):
    """Each gets its own status and a message that says what happened."""
    outcome = batch["outcomes"][student]
    assert outcome.status == status
    assert words in outcome.message
    assert not (batch["course"] / "autograded" / student).exists()


def test_fork_bomb_is_contained(batch):
    """The process limit stops the bomb; whichever limit trips, it gains nothing.

    Which limit trips first depends on timing: the process limit (the cell fails and
    the notebook is graded), the memory of ~50 copies of the kernel (killed for
    memory) or the CPU they use (the kernel stops answering: timed out).
    """
    outcome = batch["outcomes"]["h-fork-bomb"]
    seen = (outcome.status, outcome.message, _scores(batch, "h-fork-bomb"))
    assert outcome.status in ("graded", "memory", "timeout"), seen
    if outcome.status == "graded":
        assert _scores(batch, "h-fork-bomb") == _scores(batch, "h-twin"), seen


def test_deleted_test_cell_scores_zero(batch):
    """A deleted test cell gets no points and waits for a grader, as in nbgrader."""
    scores = batch["scores"]
    assert scores[("h-deleted-test", "q2_tests")][:2] == (None, True)
    assert scores[("h-deleted-test", "q1_tests")] == scores[("h-twin", "q1_tests")]
    assert batch["outcomes"]["h-deleted-test"].score == 4.0
    lost = " ".join(batch["outcomes"]["h-deleted-test"].lost)
    assert "q2_tests: 0/3 missing" in lost


def test_output_flood_is_cut(batch):
    """20 MB of output leaves a small notebook with a note in the same stream."""
    path = batch["course"] / "autograded/h-output/ps1/ps1.ipynb"
    assert path.stat().st_size < 3_000_000
    assert "dropped by the grader" in path.read_text()


def test_extra_files_are_kept_but_data_and_links_are_not(batch):
    """Extra files stay; data files come from source/; links are never followed."""
    folder = batch["course"] / "autograded/h-extra-files/ps1"
    assert (folder / "helper.py").read_bytes() == b"VALUE = 1\n"
    assert (folder / "prices.csv").read_bytes() == (
        batch["course"] / "source/ps1/prices.csv"
    ).read_bytes()
    assert not (folder / "gradebook.db").exists()
    assert not (folder / "course").exists()
    assert (
        "skipped symbolic link 'gradebook.db'"
        in batch["outcomes"]["h-extra-files"].notes
    )


def test_snooping_finds_nothing_and_changes_nothing(batch):
    """Course files unreadable and unwritable, no network, no secrets, no daemons."""
    nb = nbformat.read(
        batch["course"] / "autograded/h-snoop/ps1/ps1.ipynb", as_version=4
    )
    text = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    found = json.loads(text.split("SNOOP ", 1)[1].splitlines()[0])
    for key in ("gradebook", "source", "other"):
        assert isinstance(found["read_" + key], str), found  # an error name
        assert found["write_" + key] != "written", found
    assert found["network"] != "connected" and not batch["connected"]
    assert found["secret"] == "absent"
    after = {k: _digest(p) for k, p in batch["guarded"].items() if k != "gradebook"}
    assert after == batch["before"]
    assert not batch["guarded"]["gradebook"].read_bytes().endswith(b"tampered")
    # The daemon's sandbox is torn down with its kernel; that takes a moment.
    assert wait_until(lambda: _sleepers() == [], timeout=60), _sleepers()


def test_path_student_pattern_is_refused(batch):
    """``--student ../x`` names a path, not a student."""
    with pytest.raises(ValueError, match="names a path"):
        grade_assignment("ps1", course=batch["course"], student="../x")
