"""The instructor's workflow for the Coffee and Coding course, run end to end.

Temporary copies of ``exercises/`` go through the real ``nbgrader`` commands:
``generate_assignment`` -> submissions (copied in place, and for one assignment collected
from an LMS-style zip with ``zip_collect``) -> ``autograde`` -> ``generate_feedback`` ->
``export``, and a trainee runs ``nbgrader validate``. Every sample submission in
``tests/fixtures/submissions`` is graded once and its exact score is read back from the
gradebook; every typical mistake in them must fail a check the trainee can see, with a
message that names it. To use both cores, two copies run side by side. Each grades its
submissions as an instructor of the course does, with ``squad grade`` (sandboxed, one
kernel at a time per copy), except the assignment collected from the zip, which plain
``nbgrader autograde`` grades; that run then finds the others graded and leaves them as
``squad grade`` wrote them, so the feedback and export read one gradebook.
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

ROOT = Path(__file__).resolve().parents[2]
EXERCISES = ROOT / "exercises"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "submissions"
COURSE_ID = "squad-coffee-and-coding"
#: The assignment whose submissions arrive as one zip downloaded from an LMS.
ZIP_ASSIGNMENT = "02-occupation-coding"

#: For each assignment: the autograded points stated in the notebook, and for each
#: sample submission with mistakes, the points it earns on each test cell (what it gets
#: wrong is said in the comment and, cell by cell, in the notebook's "mistake" entries).
EXPECTED = {
    "00a-from-spss-to-python": (
        9,
        {
            # ages 17 to 23 (q2), counts rows instead of summing weights (q4), an
            # unweighted crosstab (q5); q3 is right for the `young` it made
            "partial": {
                "q1-test": 1,
                "q2-test": 0,
                "q3-test": 2,
                "q4-test": 0,
                "q5-test": 0,
            },
            # columns in another order (q1), weights in the unweighted table (q3), the
            # mean of the weights (q4), aggfunc="mean" in the crosstab (q5, hidden test)
            "mistakes": {
                "q1-test": 0,
                "q2-test": 2,
                "q3-test": 0,
                "q4-test": 0,
                "q5-test": 0,
            },
        },
    ),
    "00b-first-look-at-coding": (
        10,
        {
            # counts index entries instead of codes (q2), lower case only (q4); q5 is
            # right for the clean texts it made
            "partial": {
                "q1-test": 2,
                "q2-test": 0,
                "q3-test": 2,
                "q4-test": 0,
                "q5-test": 2,
            },
            # normalise_text given the whole column (q4): the cell stops, q5 cannot run
            "mistake-whole-column": {
                "q1-test": 2,
                "q2-test": 2,
                "q3-test": 2,
                "q4-test": 0,
                "q5-test": 0,
            },
            # a Series for one code (q1), the share not coded (q3), punctuation kept (q4),
            # titles looked up in lookup instead of the index (q5)
            "mistakes": {
                "q1-test": 0,
                "q2-test": 2,
                "q3-test": 0,
                "q4-test": 0,
                "q5-test": 0,
            },
        },
    ),
    "01-survey-microdata": (
        13,
        {
            # ages 17 to 63 (q2), counts rows (q3), unweighted rates (q4), forgets to
            # divide by the sum of weights (q6)
            "partial": {
                "q1-test": 2,
                "q2-test": 0,
                "q3-test": 0,
                "q4-test": 0,
                "q5-test": 2,
                "q6-test": 0,
            },
            # household_id counted with repeats (q1), everyone's weights (q3), rates
            # rounded (q4, hidden test), both shares weighted (q5), no weights (q6)
            "mistakes": {
                "q1-test": 0,
                "q2-test": 2,
                "q3-test": 0,
                "q4-test": 0,
                "q5-test": 0,
                "q6-test": 0,
            },
        },
    ),
    "02-occupation-coding": (
        12,
        {
            # analyzer="char" (q2 part 1, so the typo's character features of part 2
            # are wrong too), codes with the word model (q4), no answer to q5
            "partial": {
                "q1-test": 2,
                "q2a-test": 0,
                "q2b-test": 0,
                "q3a-test": 2,
                "q3b-test": 1,
                "q4-test": 0,
                "q5-test": 0,
            },
            # word features fitted on the test set (q1; the typo has no known word either
            # way, so q2 part 2 is right), accuracy on the training entries (q3 part 2),
            # titles swapped (q5)
            "mistakes": {
                "q1-test": 0,
                "q2a-test": 2,
                "q2b-test": 1,
                "q3a-test": 2,
                "q3b-test": 0,
                "q4-test": 2,
                "q5-test": 0,
            },
        },
    ),
    "03-evaluating-a-coder": (
        13,
        {
            # sorts probabilities the wrong way (q3), ">" instead of ">=" (q4 part 2)
            "partial": {
                "q1-test": 3,
                "q2-test": 2,
                "q3-test": 0,
                "q4a-test": 1,
                "q4b-test": 0,
                "q5-test": 2,
            },
            # whole codes at every level (q1; q2 then differs from squad.metrics), levels
            # indexed 0 to 3 (q2), the last row of the curve (q5)
            "mistakes": {
                "q1-test": 0,
                "q2-test": 0,
                "q3-test": 3,
                "q4a-test": 1,
                "q4b-test": 2,
                "q5-test": 0,
            },
        },
    ),
    "04-imputation": (
        15,
        {
            # classes by major group only (q3), overwrites observed values (q4); q5 and q6
            # are right for the Series it made
            "partial": {
                "q1-test": 2,
                "q2-test": 2,
                "q3-test": 0,
                "q4-test": 0,
                "q5-test": 2,
                "q6-test": 3,
            },
            # missing pay among all persons (q1), zeros (q2; q5 and q6 then use them),
            # RMSE over every person (q5), unweighted regional means (q6)
            "mistakes": {
                "q1-test": 0,
                "q2-test": 0,
                "q3-test": 3,
                "q4-test": 3,
                "q5-test": 0,
                "q6-test": 0,
            },
        },
    ),
    "05-reproducible-pipelines": (
        14,
        {
            # no random_state (q3), no papermill run (q5), sys.version for python (q6)
            "partial": {
                "q1-test": 3,
                "q2-test": 2,
                "q3-test": 0,
                "q4-test": 2,
                "q5-test": 0,
                "q6-test": 0,
            },
            # transformers in the other order (q1), fitted on the test data (q2), every
            # cell tagged (q4), the untagged template run (q5)
            "mistakes": {
                "q1-test": 0,
                "q2-test": 0,
                "q3-test": 2,
                "q4-test": 0,
                "q5-test": 0,
                "q6-test": 2,
            },
        },
    ),
    "06-quality-and-drift": (
        11,
        {
            # bins not weighted by size (q2 part 2), calibrates on the holdout half (q3)
            "partial": {
                "q1-test": 3,
                "q2a-test": 1,
                "q2b-test": 0,
                "q3-test": 0,
                "q4a-test": 1,
                "q4b-test": 2,
            },
            # groups by the predicted code (q1), empty bins kept (q2 part 1), accuracy
            # against SOC 2000 (q4 part 1), the crosswalk the wrong way round (q4 part 2)
            "mistakes": {
                "q1-test": 0,
                "q2a-test": 0,
                "q2b-test": 2,
                "q3-test": 2,
                "q4a-test": 0,
                "q4b-test": 0,
            },
        },
    ),
    "07-synthetic-data": (
        13,
        {
            # draws whole rows of real (q1; q2 part 2 then finds no gap), scores the
            # models on the files they were trained on (q3), no answer to q5
            "partial": {
                "q1-test": 0,
                "q2a-test": 1,
                "q2b-test": 0,
                "q3-test": 0,
                "q4-test": 3,
                "q5a-test": 0,
                "q5b-test": 0,
            },
            # all ages (q2 part 1), signed differences (q2 part 2), every match counted
            # (q4), distance on every column (q5 part 1), matches to anyone (q5 part 2)
            "mistakes": {
                "q1-test": 2,
                "q2a-test": 0,
                "q2b-test": 0,
                "q3-test": 3,
                "q4-test": 0,
                "q5a-test": 0,
                "q5b-test": 0,
            },
        },
    ),
}


def _students(assignment: str) -> tuple[str, ...]:
    """The sample submissions of an assignment: a notebook each in its fixture folder.

    ``full`` and ``untouched`` are in every folder; ``partial``, ``mistakes`` and
    ``mistake-*`` hold typical mistakes, and each answer cell that holds one says which
    (``metadata["mistake"]``).
    """
    return tuple(sorted(p.stem for p in (FIXTURES / assignment).glob("*.ipynb")))


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
#: Graded by plain `nbgrader autograde`; `squad grade` grades every other assignment
#: before it runs (and it then skips them).
NBGRADER_GRADED = ZIP_ASSIGNMENT
#: Whose `squad grade` logs the tests read.
SQUAD_GRADED = "00a-from-spss-to-python"


#: A line of the log of a kernel that an answer itself starts (papermill's, in ``05``):
#: it writes its log to its stderr, which the grading kernel passes to the cell.
NESTED_KERNEL_LOG = re.compile(r"^\[IPKernelApp\] (WARNING|ERROR) \| ")


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
                for student in _students(assignment):
                    source = FIXTURES / assignment / f"{student}.ipynb"
                    zf.write(source, f"{student}_{notebook}.ipynb")
            run_nbgrader(["zip_collect", assignment], course_dir=root)
            continue
        for student in _students(assignment):
            target = root / "submitted" / student / assignment / f"{notebook}.ipynb"
            target.parent.mkdir(parents=True)
            shutil.copy(FIXTURES / assignment / f"{student}.ipynb", target)
    outputs: dict = {"squad_grade": {}}
    for assignment in assignments:
        if assignment == NBGRADER_GRADED:
            continue
        # one kernel at a time: the other copy uses the second core
        result = grade_assignment(assignment, course=root, jobs=1, progress=False)
        outputs["squad_grade"][assignment] = {o.student: o for o in result.outcomes}
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
        k: v
        for result in results
        for k, v in result.items()
        if k not in ("autograde_log", "squad_grade")
    }
    outputs["autograde_log"] = "".join(r.get("autograde_log", "") for r in results)
    outputs["squad_grade"] = {
        a: o for r in results for a, o in r["squad_grade"].items()
    }
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
    """The table of expected scores covers every assignment, sample and test cell."""
    assert sorted(EXPECTED) == sorted(
        p.name for p in (EXERCISES / "source").iterdir() if p.is_dir()
    )
    for assignment, (total, samples) in EXPECTED.items():
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
        assert set(samples) | {"full", "untouched"} == set(_students(assignment))
        for student, scores in samples.items():
            assert set(scores) == tests, (assignment, student)


def test_zip_collect_files_each_student(course):
    """zip_collect puts each file of the LMS zip under submitted/<student>/<assignment>/."""
    notebook = _notebook_name(ZIP_ASSIGNMENT)
    for student in _students(ZIP_ASSIGNMENT):
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


SAMPLES = [
    (assignment, student)
    for assignment, (_, samples) in sorted(EXPECTED.items())
    for student in samples
]


@pytest.mark.parametrize(("assignment", "student"), SAMPLES)
def test_sample_submission_scores_exactly(course, assignment, student):
    """The partly wrong answers earn exactly the points of the tests they pass."""
    grades = _grades(course, assignment, student)
    _, samples = EXPECTED[assignment]
    assert {n: g["auto_score"] for n, g in _auto(grades).items()} == samples[student]


def _outputs(cell) -> tuple[str, str]:
    """What a trainee sees under a cell: its printed text, and its error's last line."""
    printed = "".join(o.get("text", "") for o in cell.get("outputs", []))
    errors = [o for o in cell.get("outputs", []) if o.output_type == "error"]
    said = f"{errors[0].ename}: {errors[0].evalue}" if errors else ""
    return printed, said


@pytest.mark.parametrize(("assignment", "student"), SAMPLES)
def test_each_mistake_fails_a_visible_check_that_names_it(course, assignment, student):
    """Every typical mistake in the samples is caught before grading, and named.

    The answer cell of each mistake says what it gets wrong and the words the trainee
    must read (``metadata["mistake"]``: ``what``, ``message``, a regular expression).
    Its test cell must stop with an error *before* printing "Visible tests passed.",
    and the message the trainee sees (the test's, or the answer cell's own error, such
    as normalise_text refusing a whole column) must match. The sample is the release
    notebook with answers (``tests/course/test_exercises.py::test_fixtures_match_release``);
    autograde restores the hidden tests after the visible ones, so what runs before
    "Visible tests passed." is exactly what the trainee runs. A slip that only an exact
    value can show says ``"caught": "hidden"``: its visible tests pass and a hidden
    test names it.
    """
    notebook = _notebook_name(assignment)
    path = course[assignment] / "autograded" / student / assignment
    graded = nbformat.read(path / f"{notebook}.ipynb", as_version=4).cells
    sample = nbformat.read(FIXTURES / assignment / f"{student}.ipynb", as_version=4)
    by_id = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in graded}
    declared = [c for c in sample.cells if "mistake" in c.metadata]
    assert declared, f"{assignment}/{student}.ipynb declares no mistake"
    problems = []
    for cell in declared:
        answer_id = cell.metadata["nbgrader"]["grade_id"]
        mistake = cell.metadata["mistake"]
        test_id = answer_id.replace("-answer", "-test")
        printed, said = _outputs(by_id[test_id])
        _, answer_said = _outputs(by_id[answer_id])
        named = re.compile(mistake["message"], re.IGNORECASE)
        if mistake.get("caught") == "hidden":
            if "Visible tests passed." not in printed or not named.search(said):
                problems.append(
                    f"{test_id} ({mistake['what']}): hidden test said {said!r}"
                )
            continue
        if not said or "Visible tests passed." in printed:
            problems.append(f"{test_id} ({mistake['what']}): passed the visible tests")
        elif not (named.search(said) or named.search(answer_said)):
            problems.append(
                f"{test_id} ({mistake['what']}): the message {said!r} does not name it "
                f"(expected /{mistake['message']}/)"
            )
    assert problems == []


@pytest.mark.parametrize("assignment", sorted(EXPECTED))
def test_model_answers_run_clean(course, assignment):
    """With its solutions, each notebook runs without error or stderr under autograde.

    The full-marks sample holds the source's solutions (checked in
    ``tests/course/test_exercises.py``) and autograde restores the hidden tests, so its
    autograded copy is the source notebook run top to bottom. A write to stderr would
    zero a test cell under nbgrader.

    Outside the test cells, the log of a kernel that the answer itself starts
    (papermill's, in ``05``) is expected: that it runs over TCP on loopback, and, when
    it is interrupted on shutdown while still handling a message, that it caught the
    interrupt. The grading kernel passes its children's stderr to the cell, as
    JupyterLab's does.
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
                said = [
                    line
                    for line in output.text.splitlines()
                    if not (meta.get("solution") and NESTED_KERNEL_LOG.match(line))
                ]
                if said:
                    problems.append(f"{name} wrote to stderr: {said[0][:300]}")
        if meta.get("grade") and not meta.get("solution"):
            text = "".join(o.get("text", "") for o in cell.outputs)
            if "Visible tests passed." not in text:
                problems.append(f"{name}: the visible tests did not report success")
    assert problems == []


@pytest.mark.parametrize("assignment", sorted(EXPECTED))
def test_model_answers_draw_their_figures(course, assignment):
    """Each figure cell of the model answers shows a picture with its alt text (an
    ``<img alt>`` for JupyterLab and feedback pages, and the plain PNG beside it)."""
    notebook = _notebook_name(assignment)
    path = course[assignment] / "autograded" / "full" / assignment / f"{notebook}.ipynb"
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type != "code" or "squad.plots.plot_" not in cell.source:
            continue
        [shown] = [
            o
            for o in cell.outputs
            if o.output_type in ("display_data", "execute_result")
        ]
        assert "image/png" in shown.data, cell.get("id")
        alt = re.search(
            r'<img src="data:image/png;base64,[^"]+" alt="([^"]+)">',
            shown.data["text/html"],
        )
        assert alt and len(alt.group(1)) > 80, cell.get("id")


def test_hidden_tests_run_at_autograde(course):
    """A slip that passes the visible tests is caught by the restored hidden tests."""
    assignment = "01-survey-microdata"
    path = course[assignment] / "autograded" / "mistakes" / assignment
    nb = nbformat.read(path / "survey-microdata.ipynb", as_version=4)
    [cell] = [c for c in nb.cells if c.get("id") == "q4-test"]
    assert "### BEGIN HIDDEN TESTS" in cell.source
    [error] = [o for o in cell.outputs if o.output_type == "error"]
    assert error.ename == "AssertionError"
    assert "the rates are rounded" in error.evalue
    text = "".join(o.get("text", "") for o in cell.outputs)
    assert "Visible tests passed." in text


def test_feedback_written_for_every_submission(course):
    """generate_feedback writes an HTML report with the score for every submission."""
    for assignment, (_total, samples) in EXPECTED.items():
        notebook = _notebook_name(assignment)
        for student in _students(assignment):
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
        score = sum(samples["partial"].values())
        assert re.search(rf"Score:\s*{score}(\.0)?\s*/", html), assignment


def test_export_csv_has_every_score(workflow):
    """nbgrader export writes one row per student and assignment with its total score."""
    rows = []
    for root in workflow["roots"]:
        with open(root / "grades.csv", newline="", encoding="utf-8") as fh:
            rows += list(csv.DictReader(fh))
    scores = {(r["assignment"], r["student_id"]): float(r["score"]) for r in rows}
    expected = {}
    for assignment, (total, samples) in EXPECTED.items():
        expected[(assignment, "full")] = float(total)
        expected[(assignment, "untouched")] = 0.0
        for student, by_cell in samples.items():
            expected[(assignment, student)] = float(sum(by_cell.values()))
    # nbgrader lists every student of the gradebook under every assignment: a student
    # with no submission to it scores 0
    assert {k: v for k, v in scores.items() if k in expected} == expected
    assert all(v == 0.0 for k, v in scores.items() if k not in expected)
    max_scores = {r["assignment"]: float(r["max_score"]) for r in rows}
    for assignment in EXPECTED:
        source = (
            EXERCISES / "source" / assignment / f"{_notebook_name(assignment)}.ipynb"
        )
        assert max_scores[assignment] == assignment_points(source)["total"]


@pytest.mark.parametrize("assignment", sorted(set(EXPECTED) - {NBGRADER_GRADED}))
def test_squad_grade_grades_every_submission(workflow, course, assignment):
    """`squad grade` grades each sample submission in its sandbox, as nbgrader would;
    `nbgrader autograde`, run afterwards, finds them graded and leaves them alone."""
    by_student = workflow["squad_grade"][assignment]
    total, samples = EXPECTED[assignment]
    students = _students(assignment)
    assert sorted(by_student) == sorted(students)
    for student, outcome in by_student.items():
        assert outcome.status == "graded", (student, outcome.message)
        assert outcome.tampering == [], student
    scores = {s: by_student[s].score for s in students}
    assert scores == {
        "full": total,
        "untouched": 0,
        **{s: sum(by_cell.values()) for s, by_cell in samples.items()},
    }
    # the gradebook rows the other tests check are those squad grade wrote
    for student in students:
        skipped = course[assignment] / "autograded" / student / assignment
        assert f"Skipping existing assignment: {skipped}" in workflow["autograde_log"]


def test_squad_grade_reports_what_each_test_said(course):
    """The log of a graded submission tells the instructor why each point was lost."""
    logs = course[SQUAD_GRADED] / "reports" / SQUAD_GRADED / "logs"
    # A visible test's message reaches the trainee (the partly wrong answer misses the
    # persons aged exactly 16 and 24) ...
    lost = [
        ln for ln in (logs / "partial.log").read_text().splitlines() if "q2-test" in ln
    ]
    assert lost[0].startswith(
        "lost: q2-test: 0/2 failed (AssertionError: the youngest "
    ), lost
    assert "are both ends of the range included" in lost[0]
    # ... and so does a hidden test's own message, even on a line of its own (the
    # crosstab averages the weights), but not its code.
    log = (logs / "mistakes.log").read_text()
    lost = [ln for ln in log.splitlines() if "q5-test" in ln]
    assert lost[0].startswith("lost: q5-test: 0/2 failed (AssertionError: the row "), (
        lost
    )
    assert "did you add up the design weights" in lost[0]
    assert "_lfs" not in log and "_expected" not in log


def test_plain_nbgrader_autograde_grades_the_zip_assignment(workflow, course):
    """The assignment left to `nbgrader autograde` was graded by it, not skipped."""
    log = workflow["autograde_log"]
    for student in _students(NBGRADER_GRADED):
        graded = course[NBGRADER_GRADED] / "autograded" / student / NBGRADER_GRADED
        assert f"Skipping existing assignment: {graded}" not in log
        assert graded.is_dir(), student
    assert NBGRADER_GRADED not in workflow["squad_grade"]


def test_validate_shows_trainee_which_visible_tests_pass(workflow):
    """nbgrader validate fails an untouched release notebook and passes a finished one."""
    stdout = workflow["validate"]
    # a.ipynb is reported first: its seven test cells fail and its written answer is
    # empty.
    assert "VALIDATION FAILED ON 8 CELL(S)" in stdout
    assert stdout.count("NameError") >= 7
    assert "You did not provide a response." in stdout
    assert stdout.count("Success! Your notebook passes all the tests.") == 1
    assert stdout.rstrip().endswith("Success! Your notebook passes all the tests.")
