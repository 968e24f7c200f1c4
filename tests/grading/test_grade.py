"""Tests for squad.grading.grade: the same results as nbgrader, faster, with safe writes.

The slow tests share one class of 11 honest submissions, every answer variant among them, (plus one honest twin and two
that monkeypatch builtins) graded once by ``nbgrader autograde`` and once by the real
``squad grade`` command.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner

from squad.cli import main
from squad.grading.grade import GradingResult, SubmissionOutcome, grade_assignment
from tests.support import grading_class as gc

#: Enough for every answer variant to appear (``gc.make_class``); the benchmark grades 40.
N_CLASS = 11
TAMPERED = ("h-monkey-builtins", "h-shadow-builtins")
_PATHS = re.compile(r"/tmp/ipykernel_\d+/\d+\.py|/[^\s:]*/ipykernel_\d+/\d+\.py")


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The class graded by nbgrader (``a``) and by ``squad grade --jobs 2`` (``b``).

    Timings are not compared here (both run at once); see ``bench/bench_grading.py``.
    """
    base = tmp_path_factory.mktemp("grading")
    base.chmod(0o755)
    pristine = gc.build_course(base / "pristine")
    students = gc.make_class(pristine, N_CLASS)
    gc.make_hostile(pristine, 1, only={"h-twin-wrong", *TAMPERED})
    a, b = base / "a", base / "b"
    shutil.copytree(pristine, a, symlinks=True)
    shutil.copytree(pristine, b, symlinks=True)
    run = gc.grade_both(a, b, "--jobs", "2")
    return {
        "pristine": pristine,
        "a": a,
        "b": b,
        "students": sorted([*students, "h-twin-wrong"]),
        "choices": students,
        "run": run,
    }


@pytest.mark.slow
def test_class_holds_every_answer_variant(graded):
    """Each question's every answer variant is in the class both graders grade."""
    for grade_id, table in gc.QUESTIONS:
        default = next(iter(table))  # what a student who was given no choice writes
        given = {choice.get(grade_id, default) for choice in graded["choices"].values()}
        assert given == set(table), grade_id


def _notebook_digest(path: Path) -> list[tuple]:
    """What grading depends on in an autograded notebook, with kernel paths removed."""
    nb = nbformat.read(path, as_version=4)
    digest = []
    for cell in nb.cells:
        outputs = []
        for out in cell.get("outputs", []):
            text = _PATHS.sub("<cell>", out.get("text", ""))
            value = out.get("data", {}).get("text/plain", "")
            last = outputs[-1] if outputs else None
            if (
                out.output_type == "stream"
                and last
                and last[:2] == ("stream", out.name)
            ):
                # How a kernel splits its printed text into messages depends on timing;
                # the text is what counts.
                outputs[-1] = (*last[:3], last[3] + text, last[4])
                continue
            outputs.append(
                (out.output_type, out.get("name"), out.get("ename"), text, value)
            )
        grade = cell.metadata.get("nbgrader", {})
        digest.append(
            (
                cell.cell_type,
                cell.source,
                cell.get("execution_count"),
                grade.get("grade_id"),
                grade.get("checksum"),
                outputs,
            )
        )
    return digest


@pytest.mark.parametrize("pattern", ["../x", "a/b", "..", "a\\b", " "])
def test_grade_assignment_rejects_path_patterns(pattern):
    """A student pattern that names a path is refused before anything runs."""
    with pytest.raises(ValueError, match="is not a student id or glob"):
        grade_assignment("ps1", course=gc.COURSE, student=pattern)


def test_grade_cli_prints_one_line_for_bad_student():
    """The CLI turns a bad --student into one line and exit status 2."""
    result = CliRunner().invoke(
        main, ["grade", "ps1", "--course", str(gc.COURSE), "--student", "../x"]
    )
    assert result.exit_code == 2
    assert result.output.strip().startswith("Error: Student pattern '../x'")
    assert result.output.count("\n") == 1
    assert isinstance(result.exception, SystemExit)  # handled, not a crash


def test_grade_needs_a_gradebook(tmp_path):
    """A course that was never released has no gradebook: say which command to run."""
    course = tmp_path / "course"
    shutil.copytree(gc.COURSE, course)
    with pytest.raises(
        FileNotFoundError, match="Run `nbgrader generate_assignment ps1`"
    ):
        grade_assignment("ps1", course=course, progress=False)
    assert not (course / "gradebook.db").exists()
    result = CliRunner().invoke(main, ["grade", "ps1", "--course", str(course)])
    assert result.exit_code == 2
    assert result.output.startswith("Error: Gradebook ")


def test_grade_cli_rejects_jobs_with_scheduler():
    """--jobs and --scheduler are two ways of running, not one."""
    result = CliRunner().invoke(
        main, ["grade", "ps1", "--jobs", "2", "--scheduler", "tcp://h:1"]
    )
    assert result.exit_code == 2
    assert "not both" in result.output


def test_grading_result_exit_code_and_summary():
    """Any submission that could not be graded makes the exit code non-zero."""
    outcomes = [
        SubmissionOutcome("ana", "graded"),
        SubmissionOutcome("ben", "skipped"),
        SubmissionOutcome("cy", "memory", "killed for using more than 512 MB"),
    ]
    result = GradingResult("ps1", outcomes, Path("reports"), 3.0)
    assert result.exit_code == 1
    assert result.counts()["memory"] == 1
    assert "cy: memory: killed for using more than 512 MB" in result.summary()
    assert GradingResult("ps1", outcomes[:2], Path("r")).exit_code == 0


@pytest.mark.slow
def test_squad_grade_command_grades_the_class(graded):
    """The real command grades the whole class, logs a line per submission, exits 0."""
    run = graded["run"]
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]
    n = len(graded["students"]) + len(TAMPERED)
    summary = json.loads((graded["b"] / "reports/ps1/summary.json").read_text())
    assert summary["counts"]["graded"] == n
    assert f"ps1: {n} submission(s)" in run.stdout
    # Strict isolation is the Linux default; the summary, JSON and logs say so.
    assert "isolation: strict (sandbox mode bwrap)" in run.stdout
    assert summary["isolation"]["level"] == "strict"
    log = (graded["b"] / "reports/ps1/logs/s05.log").read_text().split("\n\n")[0]
    assert "isolation: strict (sandbox mode bwrap); active: " in log
    # Not a terminal: one progress line per submission, no redrawn bar.
    progress = [line for line in run.stderr.splitlines() if "] grading ps1: " in line]
    assert [line.split("]")[0] for line in progress] == [
        f"[{i}/{n}" for i in range(1, n + 1)
    ]
    assert "\r" not in run.stderr


@pytest.mark.slow
def test_scores_equal_nbgrader_cell_by_cell(graded):
    """Every gradebook value of every honest submission equals nbgrader's."""
    ours = gc.gradebook_scores(graded["b"])
    theirs = gc.gradebook_scores(graded["a"])
    honest = set(graded["students"])
    keys = {k for k in theirs if k[0] in honest}
    assert len(keys) == len(honest) * 10  # 4 grades, 4 comments, late, timestamp
    different = {k: (theirs[k], ours.get(k)) for k in keys if theirs[k] != ours.get(k)}
    assert different == {}
    assert {k for k in ours if k[0] in honest} == keys
    scores = {theirs[(s, "q3_tests")][0] for s in honest}
    assert {0.0, 0.5, 1.0, 1.5, 2.0} <= scores  # the class has every partial score
    assert any(theirs[(s, "late:ps1")][0] for s in honest)  # and late penalties


@pytest.mark.slow
def test_autograded_notebooks_equal_nbgrader(graded):
    """The autograded notebooks have the same cells, counts and outputs."""
    for student in graded["students"]:
        path = Path("autograded", student, "ps1", "ps1.ipynb")
        assert _notebook_digest(graded["b"] / path) == _notebook_digest(
            graded["a"] / path
        ), student
        assert (graded["b"] / path.parent / "prices.csv").read_bytes() == (
            graded["a"] / path.parent / "prices.csv"
        ).read_bytes()


@pytest.mark.slow
def test_monkeypatched_builtins_earn_no_points(graded):
    """nbgrader gives patched builtins points; squad gives the honest twin's score."""
    ours = gc.gradebook_scores(graded["b"])
    theirs = gc.gradebook_scores(graded["a"])
    for student in TAMPERED:
        twin = [ours[("h-twin-wrong", q)][0] for q in ("q1_tests", "q2_tests")]
        assert [ours[(student, q)][0] for q in ("q1_tests", "q2_tests")] == twin
        assert ours[(student, "q3_tests")] == ours[("h-twin-wrong", "q3_tests")]
        assert theirs[(student, "q2_tests")][0] == 3.0  # nbgrader was fooled
        assert theirs[(student, "q3_tests")][0] == 2.0
    summary = json.loads((graded["b"] / "reports/ps1/summary.json").read_text())
    flagged = {o["student"] for o in summary["outcomes"] if o["tampering"]}
    assert flagged == set(TAMPERED)


@pytest.mark.slow
def test_parallel_writes_lose_and_duplicate_nothing(graded):
    """One writer: one submission, 4 grades and 4 comments per student; no lock errors."""
    import sqlite3

    db = sqlite3.connect(graded["b"] / "gradebook.db")
    n = len(graded["students"]) + len(TAMPERED)
    rows = dict(
        db.execute(
            "SELECT 'submissions', count(*) FROM submitted_assignment UNION ALL "
            "SELECT 'grades', count(*) FROM grade UNION ALL "
            "SELECT 'comments', count(*) FROM comment UNION ALL "
            "SELECT 'students', count(*) FROM student UNION ALL "
            "SELECT 'unscored', count(*) FROM grade g JOIN grade_cells c "
            "ON g.cell_id = c.id WHERE c.cell_type = 'code' AND g.auto_score IS NULL"
        ).fetchall()
    )
    pairs = db.execute(
        "SELECT count(*) FROM (SELECT DISTINCT notebook_id, cell_id FROM grade)"
    ).fetchone()[0]
    db.close()
    assert rows == {
        "submissions": n,
        "grades": 4 * n,
        "comments": 4 * n,
        "students": n,
        "unscored": 0,
    }
    assert pairs == 4 * n
    logs = list((graded["b"] / "reports/ps1/logs").glob("*.log"))
    assert len(logs) == n
    assert not any("database is locked" in p.read_text() for p in logs)
    assert "database is locked" not in graded["run"].stderr


@pytest.mark.slow
def test_grades_csv_equals_nbgrader_export(graded):
    """grades.csv has nbgrader's columns and the same rows as its export."""
    from nbgrader.api import Gradebook
    from nbgrader.plugins import CsvExportPlugin

    theirs = graded["a"] / "nbgrader-grades.csv"
    url = "sqlite:///" + (graded["a"] / "gradebook.db").as_posix()
    with Gradebook(url, "squad-grading-fixture") as gb:
        CsvExportPlugin(to=str(theirs), assignment=["ps1"]).export(gb)
    with open(graded["b"] / "reports/ps1/grades.csv", newline="") as handle:
        ours = list(csv.DictReader(handle))
    with open(theirs, newline="") as handle:
        expected = list(csv.DictReader(handle))
    assert list(ours[0]) == list(expected[0])
    honest = set(graded["students"])
    assert sorted(
        (r for r in ours if r["student_id"] in honest), key=lambda r: r["student_id"]
    ) == sorted(
        (r for r in expected if r["student_id"] in honest),
        key=lambda r: r["student_id"],
    )


@pytest.mark.slow
def test_class_report_has_plots_totals_and_hardest_questions(graded):
    """report.html: a plot, every question ranked, every student's total."""
    page = (graded["b"] / "reports/ps1/report.html").read_text()
    assert "<strong>Isolation: strict</strong> (sandbox mode bwrap)" in page
    assert "data:image/png;base64," in page
    hardest = page.split("Questions most students lost points on")[1]
    order = [hardest.index(q) for q in ("q1_tests", "q2_tests", "q3_tests")]
    assert all(i > 0 for i in order)
    assert "q4_written" in hardest
    for student in graded["students"]:
        assert f"<td>{student}</td>" in page.replace("&#x27;", "'")


@pytest.mark.slow
def test_feedback_command_writes_one_page_per_student(graded, tmp_path):
    """`squad feedback ASSIGNMENT --student ID` writes that student's page and says so."""
    course = tmp_path / "course"
    shutil.copytree(graded["b"], course, symlinks=True)
    result = CliRunner().invoke(
        main, ["feedback", "ps1", "--course", str(course), "--student", "s05"]
    )
    assert result.exit_code == 0, result.output
    assert result.output == "Wrote 1 feedback page(s)\n"
    pages = list((course / "feedback").rglob("*.html"))
    assert [p.relative_to(course / "feedback").parts[:2] for p in pages] == [
        ("s05", "ps1")
    ]


@pytest.mark.slow
def test_feedback_shows_results_but_not_hidden_code(graded, tmp_path):
    """Feedback pages list hidden tests' results and messages, never their code."""
    from squad.grading.feedback import write_feedback

    pages = write_feedback(graded["b"], "ps1")
    assert len(pages) == len(graded["students"]) + len(TAMPERED)
    source = nbformat.read(gc.COURSE / "source/ps1/ps1.ipynb", as_version=4)
    hidden = []
    for cell in source.cells:
        inside = False
        for line in cell.source.splitlines():
            if "BEGIN HIDDEN TESTS" in line:
                inside = True
            elif "END HIDDEN TESTS" in line:
                inside = False
            elif inside:
                hidden.append(line.strip())
    assert hidden
    for page in pages:
        text = page.read_text()
        for line in hidden:
            assert line.replace('"', "&quot;") not in text and line not in text
        assert "BEGIN HIDDEN" not in text
    full = (graded["b"] / "feedback/José/ps1/ps1.html").read_text()
    assert "<td>q1_tests</td>" in full and "passed" in full
    partial = (graded["b"] / "feedback/h-twin-wrong/ps1/ps1.html").read_text()
    assert "AssertionError" in partial  # the hidden-test cell's error is named
    assert "assert len(prices) == 6" in partial  # visible test code is shown


@pytest.mark.slow
def test_unknown_assignment_is_a_key_error(graded, tmp_path):
    """An assignment the gradebook does not know: KeyError naming the next step."""
    course = tmp_path / "course"
    shutil.copytree(graded["b"], course, symlinks=True)
    # In source/ but never released: known to the course, not to the gradebook.
    shutil.copytree(course / "source" / "ps1", course / "source" / "ps9")
    with pytest.raises(KeyError, match="Assignment 'ps9' is not in the gradebook"):
        grade_assignment("ps9", course=course, progress=False)


@pytest.mark.slow
def test_assignment_without_source_does_not_exist(graded):
    """An assignment with no source folder is named as missing, with those there are."""
    with pytest.raises(KeyError, match="Assignment 'ps9' does not exist: .* ps1"):
        grade_assignment("ps9", course=graded["b"], progress=False)


@pytest.mark.slow
def test_ungraded_submissions_are_skipped_without_force(graded):
    """Grading again without force skips graded submissions and exits 0."""
    result = grade_assignment(
        "ps1", course=graded["b"], student="s0[0-2]", progress=False
    )
    assert [o.status for o in result.outcomes] == ["skipped"] * 3
    assert result.exit_code == 0


@pytest.mark.slow
def test_manual_grades_survive_regrading_like_nbgrader(graded):
    """Manual scores and comments stay; every other value matches nbgrader's regrade."""
    from nbgrader.api import Gradebook

    students = ("s05", "s06")
    for course in (graded["a"], graded["b"]):
        url = "sqlite:///" + (course / "gradebook.db").as_posix()
        with Gradebook(url, "squad-grading-fixture") as gb:
            for student in students:
                grade = gb.find_grade("q4_written", "ps1", "ps1", student)
                grade.manual_score = 1.5
                override = gb.find_grade("q1_tests", "ps1", "ps1", student)
                override.manual_score = 0.5
                override.extra_credit = 0.25
                comment = gb.find_comment("q1_mean", "ps1", "ps1", student)
                comment.manual_comment = "Good use of sum()."
            gb.db.commit()
    done = gc.nbgrader(
        graded["a"], "autograde", "ps1", "--force", "--student", "s0[56]"
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = grade_assignment(
        "ps1", course=graded["b"], student="s0[56]", force=True, jobs=1, progress=False
    )
    assert [o.status for o in result.outcomes] == ["graded", "graded"]
    ours = gc.gradebook_scores(graded["b"])
    theirs = gc.gradebook_scores(graded["a"])
    for student in students:
        assert ours[(student, "q4_written")][2] == 1.5
        assert ours[(student, "q1_tests")][2] == 0.5
        assert ours[(student, "comment:q1_mean")][1] == "Good use of sum()."
        assert ours[(student, "q1_tests")][1] is True  # overridden: needs a look
        for key in theirs:
            if key[0] == student:
                assert ours[key] == theirs[key], key
    url = "sqlite:///" + (graded["b"] / "gradebook.db").as_posix()
    with Gradebook(url, "squad-grading-fixture") as gb:
        assert gb.find_grade("q1_tests", "ps1", "ps1", "s05").extra_credit == 0.25


@pytest.mark.slow
def test_grade_on_a_dask_cluster_matches_nbgrader(graded, tmp_path):
    """--scheduler: a real local scheduler and two worker processes give the same."""
    from distributed import LocalCluster

    course = tmp_path / "dask"
    shutil.copytree(graded["pristine"], course, symlinks=True)
    picked = ["José", "s03", "s04", "h-twin-wrong"]
    for folder in (course / "submitted").iterdir():
        if folder.name not in picked:
            shutil.rmtree(folder)
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        result = grade_assignment(
            "ps1", course=course, scheduler=cluster.scheduler_address, progress=False
        )
    assert [o.status for o in result.outcomes] == ["graded"] * 4
    ours = gc.gradebook_scores(course)
    theirs = gc.gradebook_scores(graded["a"])
    for key, value in ours.items():
        assert value == theirs[key], key
    assert len(ours) == 4 * 10


@pytest.mark.slow
def test_kernels_start_without_the_debugger_yet_student_code_can_import_it(tmp_path):
    """Grading kernels skip ipykernel's debugger (CPU), and nothing else changes:
    ``debugpy`` imports, ``sys.argv`` is ipykernel's own, the answers score."""
    tmp_path.chmod(0o755)
    course = gc.build_course(tmp_path / "course")
    probe = (
        "import sys\n"
        "print('preloaded:', any(m.startswith('_pydevd') for m in sys.modules))\n"
        "print('argv0:', sys.argv[0].rsplit('/', 1)[-1])\n"
        "import debugpy\n"
        "print('imported:', debugpy.__name__)"
    )
    gc.submit(course, "probe", gc._with(gc.answer(course, {}), "q1_mean", probe))
    result = grade_assignment("ps1", course=course, jobs=1, progress=False)
    [outcome] = result.outcomes
    assert (outcome.status, outcome.score) == ("graded", 7.0), outcome.lost
    graded = nbformat.read(course / "autograded/probe/ps1/ps1.ipynb", as_version=4)
    printed = "".join(o.get("text", "") for o in gc.cell(graded, "q1_mean").outputs)
    assert "preloaded: False" in printed
    assert "argv0: ipykernel_launcher.py" in printed
    assert "imported: debugpy" in printed
