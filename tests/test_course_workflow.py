"""The instructor's workflow for the Coffee and Coding course, run end to end.

Temporary copies of ``exercises/`` go through the real ``nbgrader`` commands:
``generate_assignment`` -> submissions (copied in place, and for one assignment collected
from an LMS-style zip with ``zip_collect``) -> ``autograde`` -> ``generate_feedback`` ->
``export``, and a trainee runs ``nbgrader validate``. Every sample submission in
``tests/fixtures/submissions`` is graded once and its exact score is read back from the
gradebook. To use both cores, two copies run side by side; each grades its submissions
in a single ``autograde`` run, except one assignment graded with ``squad grade``
(sandboxed), which writes the same gradebook.
"""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from squad.course.build import (
    assignment_points,
    build_course,
    nbgrader_command,
    nbgrader_env,
    run_nbgrader,
)
from squad.grading.grade import grade_assignment

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
EXERCISES = ROOT / "exercises"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "submissions"
COURSE_ID = "squad-coffee-and-coding"
STUDENTS = ("full", "partial", "untouched")
#: The assignment whose submissions arrive as one zip downloaded from an LMS.
ZIP_ASSIGNMENT = "02-occupation-coding"

#: For each assignment: the autograded points stated in the notebook, and the points the
#: partly wrong submission earns on each test cell (what it gets wrong is described in
#: the comment).
EXPECTED = {
    "00a-from-spss-to-python": (
        9,
        # ages 17 to 23 (q2, hidden test), counts rows instead of summing weights (q4);
        # q3 and q5 are right for the `young` it made
        {"q1-test": 1, "q2-test": 0, "q3-test": 2, "q4-test": 0, "q5-test": 2},
    ),
    "00b-first-look-at-coding": (
        10,
        # counts index entries instead of codes (q2, hidden test), lower case only (q4);
        # q5 is right for the clean texts it made
        {"q1-test": 2, "q2-test": 0, "q3-test": 2, "q4-test": 0, "q5-test": 2},
    ),
    "01-survey-microdata": (
        13,
        # counts rows instead of summing weights (q3), unweighted rates (q4, caught only
        # by a hidden test), forgets to divide by the sum of weights (q6)
        {
            "q1-test": 2,
            "q2-test": 2,
            "q3-test": 0,
            "q4-test": 0,
            "q5-test": 2,
            "q6-test": 0,
        },
    ),
    "02-occupation-coding": (
        12,
        # analyzer="char" instead of "char_wb" (q2), codes with the word model (q4, hidden
        # test), no answer to q5
        {"q1-test": 2, "q2-test": 0, "q3-test": 3, "q4-test": 0, "q5-test": 0},
    ),
    "03-evaluating-a-coder": (
        13,
        # sorts probabilities the wrong way (q3), ">" instead of ">=" (q4, hidden test)
        {"q1-test": 3, "q2-test": 2, "q3-test": 0, "q4-test": 0, "q5-test": 2},
    ),
    "04-imputation": (
        15,
        # classes by major group only (q3, hidden test), overwrites observed values (q4);
        # q5 and q6 are right for the Series it made
        {
            "q1-test": 2,
            "q2-test": 2,
            "q3-test": 0,
            "q4-test": 0,
            "q5-test": 2,
            "q6-test": 3,
        },
    ),
    "05-reproducible-pipelines": (
        14,
        # no random_state (q3), no papermill run (q5), sys.version for python (q6, hidden)
        {
            "q1-test": 3,
            "q2-test": 2,
            "q3-test": 0,
            "q4-test": 2,
            "q5-test": 0,
            "q6-test": 0,
        },
    ),
    "06-quality-and-drift": (
        11,
        # bins not weighted by size (q2, hidden test), calibrates on the holdout half (q3,
        # hidden test)
        {"q1-test": 3, "q2-test": 0, "q3-test": 0, "q4-test": 3},
    ),
    "07-synthetic-data": (
        13,
        # draws whole rows of real (q1, hidden test), scores the models on the files they
        # were trained on (q3, hidden test), no answer to q5
        {"q1-test": 0, "q2-test": 3, "q3-test": 0, "q4-test": 3, "q5-test": 0},
    ),
}


#: Two copies of the course run the workflow at the same time, one per core; each copy
#: is a complete course with its own gradebook.
HALVES = (
    (
        "00a-from-spss-to-python",
        "00b-first-look-at-coding",
        "01-survey-microdata",
        "02-occupation-coding",
        "03-evaluating-a-coder",
    ),
    (
        "04-imputation",
        "05-reproducible-pipelines",
        "06-quality-and-drift",
        "07-synthetic-data",
    ),
)
#: Graded with `squad grade` before `nbgrader autograde` runs (which then skips it).
SQUAD_GRADED = "00a-from-spss-to-python"


def _notebook_name(assignment: str) -> str:
    [path] = sorted((EXERCISES / "source" / assignment).glob("*.ipynb"))
    return path.stem


def _run_workflow(root: Path, assignments: tuple[str, ...]) -> dict[str, str]:
    """Run the instructor's workflow on a new course holding ``assignments``."""
    root.mkdir(parents=True)
    shutil.copy(EXERCISES / "nbgrader_config.py", root)
    for assignment in assignments:
        shutil.copytree(EXERCISES / "source" / assignment, root / "source" / assignment)
    build_course(root)
    for assignment in assignments:
        notebook = _notebook_name(assignment)
        if assignment == ZIP_ASSIGNMENT:
            archive = root / "downloaded" / assignment / "archive"
            archive.mkdir(parents=True)
            with zipfile.ZipFile(archive / "lms-download.zip", "w") as zf:
                for student in STUDENTS:
                    source = FIXTURES / assignment / f"{student}.ipynb"
                    zf.write(source, f"{student}_{notebook}.ipynb")
            run_nbgrader(["zip_collect", assignment], course_dir=root)
            continue
        for student in STUDENTS:
            target = root / "submitted" / student / assignment / f"{notebook}.ipynb"
            target.parent.mkdir(parents=True)
            shutil.copy(FIXTURES / assignment / f"{student}.ipynb", target)
    outputs: dict = {}
    if SQUAD_GRADED in assignments:
        # one kernel at a time: the other copy uses the second core
        result = grade_assignment(SQUAD_GRADED, course=root, jobs=1, progress=False)
        outputs["squad_grade"] = {o.student: o for o in result.outcomes}
    autograde = run_nbgrader(["autograde", "*"], course_dir=root)
    outputs["autograde_log"] = autograde.stdout + autograde.stderr
    run_nbgrader(["generate_feedback", "*"], course_dir=root)
    run_nbgrader(["export"], course_dir=root)
    if ZIP_ASSIGNMENT not in assignments:
        return outputs
    # The trainee's side: validate the notebook handed out, then a finished one.
    trainee = root.parent / "trainee"
    trainee.mkdir()
    notebook = _notebook_name(ZIP_ASSIGNMENT)
    shutil.copy(
        root / "release" / ZIP_ASSIGNMENT / f"{notebook}.ipynb", trainee / "a.ipynb"
    )
    shutil.copy(FIXTURES / ZIP_ASSIGNMENT / "full.ipynb", trainee / "b.ipynb")
    validated = subprocess.run(
        nbgrader_command(["validate", "a.ipynb", "b.ipynb"]),
        cwd=trainee,
        env=nbgrader_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    return {**outputs, "validate": validated.stdout}


@pytest.fixture(scope="module")
def workflow(tmp_path_factory) -> dict:
    """Both course copies after the whole workflow has run once."""
    base = tmp_path_factory.mktemp("courses")
    roots = [base / f"half{i}" / "exercises" for i in range(len(HALVES))]
    with ThreadPoolExecutor(max_workers=len(HALVES)) as pool:
        results = list(pool.map(_run_workflow, roots, HALVES))
    courses = {a: root for root, half in zip(roots, HALVES, strict=True) for a in half}
    outputs = {
        k: v for result in results for k, v in result.items() if k != "autograde_log"
    }
    outputs["autograde_log"] = "".join(r.get("autograde_log", "") for r in results)
    return {"courses": courses, "roots": roots, **outputs}


@pytest.fixture(scope="module")
def course(workflow) -> dict[str, Path]:
    """The course folder that graded each assignment."""
    return workflow["courses"]


def _grades(course: dict[str, Path], assignment: str, student: str) -> dict[str, dict]:
    db_url = "sqlite:///" + (course[assignment] / "gradebook.db").as_posix()
    with Gradebook(db_url, COURSE_ID) as gb:
        submission = gb.find_submission_notebook(
            _notebook_name(assignment), assignment, student
        )
        return {grade.name: grade.to_dict() for grade in submission.grades}


def _auto(grades: dict[str, dict]) -> dict[str, dict]:
    return {name: g for name, g in grades.items() if g["cell_type"] == "code"}


def test_release_notebooks_generated(course):
    """generate_assignment writes one release notebook per assignment."""
    for assignment in EXPECTED:
        released = (
            course[assignment]
            / "release"
            / assignment
            / f"{_notebook_name(assignment)}.ipynb"
        )
        assert released.is_file(), f"no release notebook for {assignment}"


def test_stated_points_match_expectations():
    """The table of expected scores covers every assignment and every test cell."""
    assert sorted(EXPECTED) == sorted(
        p.name for p in (EXERCISES / "source").iterdir() if p.is_dir()
    )
    for assignment, (total, partial) in EXPECTED.items():
        source = (
            EXERCISES / "source" / assignment / f"{_notebook_name(assignment)}.ipynb"
        )
        assert assignment_points(source)["auto"] == total, assignment
        nb = nbformat.read(source, as_version=4)
        tests = {
            c.metadata["nbgrader"]["grade_id"]
            for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("grade")
            and not c.metadata["nbgrader"].get("solution")
        }
        assert set(partial) == tests, assignment


def test_zip_collect_files_each_student(course):
    """zip_collect puts each file of the LMS zip under submitted/<student>/<assignment>/."""
    notebook = _notebook_name(ZIP_ASSIGNMENT)
    for student in STUDENTS:
        collected = (
            course[ZIP_ASSIGNMENT]
            / "submitted"
            / student
            / ZIP_ASSIGNMENT
            / f"{notebook}.ipynb"
        )
        assert collected.is_file(), f"zip_collect did not collect {student}'s notebook"
        expected = (FIXTURES / ZIP_ASSIGNMENT / f"{student}.ipynb").read_bytes()
        assert collected.read_bytes() == expected


@pytest.mark.parametrize("assignment", sorted(EXPECTED))
def test_untouched_submission_scores_zero(course, assignment):
    """A release notebook handed back unchanged earns no point at all."""
    grades = _grades(course, assignment, "untouched")
    total, _ = EXPECTED[assignment]
    assert sum(g["max_score"] for g in _auto(grades).values()) == total
    assert {name: g["auto_score"] for name, g in grades.items()} == dict.fromkeys(
        grades, 0.0
    )
    assert not any(g["needs_manual_grade"] for g in grades.values())


@pytest.mark.parametrize("assignment", sorted(EXPECTED))
def test_full_submission_scores_stated_total(course, assignment):
    """The model answers earn every autograded point; written answers await a grader."""
    grades = _grades(course, assignment, "full")
    total, _ = EXPECTED[assignment]
    auto = _auto(grades)
    assert {n: g["auto_score"] for n, g in auto.items()} == {
        n: g["max_score"] for n, g in auto.items()
    }
    assert sum(g["auto_score"] for g in auto.values()) == total
    written = {n: g for n, g in grades.items() if g["cell_type"] == "markdown"}
    assert written, f"{assignment} has no written answer graded by hand"
    assert all(
        g["needs_manual_grade"] and g["auto_score"] is None for g in written.values()
    )


@pytest.mark.parametrize("assignment", sorted(EXPECTED))
def test_partial_submission_scores_exactly(course, assignment):
    """The partly wrong answers earn exactly the points of the tests they pass."""
    grades = _grades(course, assignment, "partial")
    _, expected = EXPECTED[assignment]
    assert {n: g["auto_score"] for n, g in _auto(grades).items()} == expected


@pytest.mark.parametrize("assignment", sorted(EXPECTED))
def test_model_answers_run_clean(course, assignment):
    """With its solutions, each notebook runs without error or stderr under autograde.

    The full-marks sample holds the source's solutions (checked in
    ``tests/test_exercises.py``) and autograde restores the hidden tests, so its
    autograded copy is the source notebook run top to bottom. A write to stderr would
    zero a test cell under nbgrader.
    """
    notebook = _notebook_name(assignment)
    path = course[assignment] / "autograded" / "full" / assignment / f"{notebook}.ipynb"
    problems = []
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type != "code":
            continue
        meta = cell.metadata.get("nbgrader", {})
        name = meta.get("grade_id", cell.get("id"))
        for output in cell.outputs:
            if output.output_type == "error":
                problems.append(f"{name}: {output.ename}: {output.evalue}")
            elif output.output_type == "stream" and output.name == "stderr":
                problems.append(f"{name} wrote to stderr: {output.text.strip()[:300]}")
        if meta.get("grade") and not meta.get("solution"):
            text = "".join(o.get("text", "") for o in cell.outputs)
            if "Visible tests passed." not in text:
                problems.append(f"{name}: the visible tests did not report success")
    assert problems == []


def test_hidden_tests_run_at_autograde(course):
    """A wrong answer that passes the visible tests is caught by the restored hidden tests."""
    assignment = "01-survey-microdata"
    path = course[assignment] / "autograded" / "partial" / assignment
    nb = nbformat.read(path / "survey-microdata.ipynb", as_version=4)
    [cell] = [c for c in nb.cells if c.get("id") == "q4-test"]
    assert "### BEGIN HIDDEN TESTS" in cell.source
    [error] = [o for o in cell.outputs if o.output_type == "error"]
    assert error.ename == "AssertionError"
    assert "weighted totals" in error.evalue
    text = "".join(o.get("text", "") for o in cell.outputs)
    assert "Visible tests passed." in text


def test_feedback_written_for_every_submission(course):
    """generate_feedback writes an HTML report with the score for every submission."""
    for assignment, (_total, partial) in EXPECTED.items():
        notebook = _notebook_name(assignment)
        for student in STUDENTS:
            report = (
                course[assignment]
                / "feedback"
                / student
                / assignment
                / f"{notebook}.html"
            )
            assert report.is_file(), f"no feedback for {student}/{assignment}"
        html = (
            course[assignment]
            / "feedback"
            / "partial"
            / assignment
            / f"{notebook}.html"
        ).read_text(encoding="utf-8")
        assert re.search(rf"Score:\s*{sum(partial.values())}(\.0)?\s*/", html), (
            assignment
        )


def test_export_csv_has_every_score(workflow):
    """nbgrader export writes one row per student and assignment with its total score."""
    rows = []
    for root in workflow["roots"]:
        with open(root / "grades.csv", newline="", encoding="utf-8") as fh:
            rows += list(csv.DictReader(fh))
    scores = {(r["assignment"], r["student_id"]): float(r["score"]) for r in rows}
    expected = {}
    for assignment, (total, partial) in EXPECTED.items():
        expected[(assignment, "full")] = float(total)
        expected[(assignment, "partial")] = float(sum(partial.values()))
        expected[(assignment, "untouched")] = 0.0
    assert scores == expected
    max_scores = {r["assignment"]: float(r["max_score"]) for r in rows}
    for assignment in EXPECTED:
        source = (
            EXERCISES / "source" / assignment / f"{_notebook_name(assignment)}.ipynb"
        )
        assert max_scores[assignment] == assignment_points(source)["total"]


def test_squad_grade_grades_every_submission(workflow, course):
    """`squad grade` grades each sample submission in its sandbox, as nbgrader would."""
    by_student = workflow["squad_grade"]
    total, partial = EXPECTED[SQUAD_GRADED]
    assert sorted(by_student) == sorted(STUDENTS)
    for student, outcome in by_student.items():
        assert outcome.status == "graded", (student, outcome.message)
        assert outcome.tampering == [], student
    scores = {s: by_student[s].score for s in STUDENTS}
    assert scores == {"full": total, "partial": sum(partial.values()), "untouched": 0}
    # A hidden test's own message reaches the trainee, even on a line of its own (the
    # partly wrong answer misses the persons aged exactly 16 and 24); its code does not.
    log = course[SQUAD_GRADED] / "reports" / SQUAD_GRADED / "logs" / "partial.log"
    lost = [line for line in log.read_text().splitlines() if "q2-test" in line]
    assert lost[0].startswith("lost: q2-test: 0/2 failed (AssertionError: young "), lost
    assert "are the persons aged exactly 16 and exactly 24 in it?" in lost[0]
    assert "_lfs" not in log.read_text()
    # nbgrader autograde, run afterwards, found them graded and left them alone: the
    # gradebook rows the other tests check are those squad grade wrote
    for student in STUDENTS:
        skipped = course[SQUAD_GRADED] / "autograded" / student / SQUAD_GRADED
        assert f"Skipping existing assignment: {skipped}" in workflow["autograde_log"]


def test_validate_shows_trainee_which_visible_tests_pass(workflow):
    """nbgrader validate fails an untouched release notebook and passes a finished one."""
    stdout = workflow["validate"]
    # a.ipynb is reported first: its five test cells fail and its written answer is empty.
    assert "VALIDATION FAILED ON 6 CELL(S)" in stdout
    assert stdout.count("NameError") >= 5
    assert "You did not provide a response." in stdout
    assert stdout.count("Success! Your notebook passes all the tests.") == 1
    assert stdout.rstrip().endswith("Success! Your notebook passes all the tests.")
