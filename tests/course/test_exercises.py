"""The Coffee and Coding notebooks: metadata, release safety and execution.

Every source notebook must carry valid nbgrader metadata and state its points; its release
version must hold no solution and no hidden test; and its full-marks sample submission
must hold its solutions, so that autograding that sample (in
``tests/course/test_workflow.py``) runs the source notebook top to bottom.
"""

from __future__ import annotations

import ast
import contextlib
import os
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner
from traitlets.config import Config

from squad.cli import main
from squad.course.build import (
    assignment_points,
    build_course,
    check_release,
    check_source_metadata,
    find_course_dir,
    list_assignments,
    nbgrader_command,
    run_nbgrader,
)

ROOT = Path(__file__).resolve().parents[2]
EXERCISES = ROOT / "exercises"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "submissions"
SOURCES = sorted((EXERCISES / "source").glob("*/*.ipynb"))
IDS = [p.parent.name for p in SOURCES]
TIME_LIMIT = 60.0  # seconds a cell may take under nbgrader (c.Execute.timeout)


def _nb(path: Path):
    return nbformat.read(path, as_version=4)


def _meta(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def _is_test(cell) -> bool:
    return bool(_meta(cell).get("grade")) and not _meta(cell).get("solution")


def _config() -> tuple[Config, dict]:
    """Read exercises/nbgrader_config.py as nbgrader does."""
    config = Config()
    namespace = {
        "get_config": lambda: config,
        "__file__": str(EXERCISES / "nbgrader_config.py"),
    }
    code = (EXERCISES / "nbgrader_config.py").read_text(encoding="utf-8")
    exec(compile(code, "nbgrader_config.py", "exec"), namespace)  # noqa: S102
    return config, namespace


def test_config_lists_every_assignment():
    """nbgrader_config.py names the course, its folders and the assignments in source/."""
    config, namespace = _config()
    assert namespace["ASSIGNMENTS"] == list_assignments(EXERCISES)
    assert len(namespace["ASSIGNMENTS"]) >= 9
    # the beginner on-ramp comes before 01 in the course order
    assert namespace["ASSIGNMENTS"][:3] == [
        "00a-from-spss-to-python",
        "00b-first-look-at-coding",
        "01-survey-microdata",
    ]
    assert config.CourseDirectory.course_id == "squad-coffee-and-coding"
    assert Path(config.CourseDirectory.root) == EXERCISES
    assert (
        config.CourseDirectory.db_url
        == "sqlite:///" + (EXERCISES / "gradebook.db").as_posix()
    )
    assert Path(config.Exchange.root) == EXERCISES / "exchange"
    assert 0 < config.Execute.timeout <= TIME_LIMIT
    assert "ExecutePreprocessor" not in config, (
        "nbgrader 0.9 ignores ExecutePreprocessor.timeout"
    )
    regexp = re.compile(config.FileNameCollectorPlugin.named_regexp)
    match = regexp.match(str(Path("/lms/download/trainee07_occupation-coding.ipynb")))
    assert match and match.group("student_id") == "trainee07"
    assert match.group("file_id") == "occupation-coding.ipynb"


def test_generated_folders_are_git_ignored():
    """release/, submitted/, autograded/, feedback/, the gradebook... never reach git."""
    ignored = (EXERCISES / ".gitignore").read_text(encoding="utf-8").split()
    for name in (
        "release/",
        "submitted/",
        "autograded/",
        "feedback/",
        "downloaded/",
        "exchange/",
        "gradebook.db",
    ):
        assert name in ignored


def test_assignments_rise_from_beginner_to_advanced():
    """At least nine assignments, numbered in order, rising in level."""
    levels = []
    for path in SOURCES:
        intro = _nb(path).cells[0].source
        found = re.search(r"\*\*Level:\*\* (beginner|intermediate|advanced)", intro)
        assert found, f"{path.name}: the first cell should state the level"
        levels.append(["beginner", "intermediate", "advanced"].index(found.group(1)))
    assert len(SOURCES) >= 9
    assert levels == sorted(levels) and levels[:3] == [0, 0, 0] and levels[-1] == 2


@pytest.mark.parametrize("path", SOURCES, ids=IDS)
def test_source_metadata_is_valid(path):
    """Unique grade ids, points on graded cells, locked tests, schema version 3."""
    nb = _nb(path)
    nbformat.validate(nb)
    assert check_source_metadata(nb) == []
    ids = [_meta(c)["grade_id"] for c in nb.cells if _meta(c)]
    assert len(ids) == len(set(ids))
    assert any(
        _meta(c).get("locked") and c.cell_type == "code" and not _is_test(c)
        for c in nb.cells
    ), "the data-loading cell should be read-only"


@pytest.mark.parametrize("path", SOURCES, ids=IDS)
def test_source_outputs_are_stripped(path):
    """Source notebooks are committed without outputs or execution counts."""
    for cell in _nb(path).cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


@pytest.mark.parametrize("path", SOURCES, ids=IDS)
def test_notebook_shape(path):
    """Title, level, time, prerequisites, 3-5 objectives, a squad import, key points."""
    nb = _nb(path)
    intro = nb.cells[0].source
    assert intro.startswith("# Coffee and Coding ")
    for label in (
        "**Level:**",
        "**Time:**",
        "**Prerequisites:**",
        "## Learning objectives",
    ):
        assert label in intro, f"{path.name}: the first cell has no {label}"
    objectives = re.findall(
        r"^\d\. \*\*\w+", intro.split("## Learning objectives")[1], re.M
    )
    assert 3 <= len(objectives) <= 5, (
        f"{path.name}: {len(objectives)} learning objectives"
    )
    first_code = next(c for c in nb.cells if c.cell_type == "code")
    assert "import squad" in first_code.source
    assert "## Key points" in nb.cells[-1].source
    assert nb.metadata.kernelspec.name == "python3"


_POINTS = re.compile(r"\*\*\((\d+) points?")
_PART = re.compile(r"^### Part \d+ \*\*\((\d+) points?\)\*\*$", re.M)
_MINUTES = re.compile(r"^\*About (\d+) minutes\.\*$", re.M)


def _questions(nb) -> list[dict]:
    """Each question: its heading's points and minutes, its parts' points, its graded cells."""
    found: list[dict] = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown" and cell.source.startswith("## Question"):
            heading = cell.source.splitlines()[0]
            stated = _POINTS.search(heading)
            minutes = _MINUTES.search(cell.source)
            found.append(
                {
                    "heading": heading,
                    "points": int(stated.group(1)) if stated else None,
                    "minutes": int(minutes.group(1)) if minutes else None,
                    "parts": [],
                    "graded": [],
                }
            )
        if not found:
            continue
        if cell.cell_type == "markdown":
            found[-1]["parts"] += [int(p) for p in _PART.findall(cell.source)]
        if _meta(cell).get("grade"):
            found[-1]["graded"].append((index, cell))
    return found


@pytest.mark.parametrize("path", SOURCES, ids=IDS)
def test_points_are_stated(path):
    """Each question states its points, and each of its parts the points of its test cell.

    A question in parts (``### Part 1 **(2 points)**``) gives each part a test cell, so
    that a trainee who gets one part right earns its points.
    """
    nb = _nb(path)
    for question in _questions(nb):
        heading, graded = question["heading"], question["graded"]
        assert question["points"] is not None, f"{path.name}: no points in '{heading}'"
        assert graded, f"{path.name}: '{heading}' has no graded cell"
        points = [_meta(cell)["points"] for _, cell in graded]
        assert sum(points) == question["points"], heading
        if question["parts"]:
            assert question["parts"] == points, (
                f"{path.name}: '{heading}': parts state {question['parts']}, "
                f"test cells give {points}"
            )
        else:
            assert len(graded) == 1, f"{path.name}: '{heading}' has several test cells"
        for index, cell in graded:
            meta = _meta(cell)
            if meta.get("solution"):
                assert "graded by hand" in heading and cell.cell_type == "markdown"
            else:  # a visible test cell comes right after its answer cell
                assert _meta(nb.cells[index - 1]).get("solution"), meta["grade_id"]
    points = assignment_points(nb)
    totals = re.search(
        r"\*\*Points:\*\* (\d+) autograded \+ (\d+) graded by hand", nb.cells[0].source
    )
    assert totals, f"{path.name}: the intro should state the points"
    assert (int(totals.group(1)), int(totals.group(2))) == (
        points["auto"],
        points["manual"],
    )
    assert points["manual"] > 0, f"{path.name}: no written answer graded by hand"


@pytest.mark.parametrize("path", SOURCES, ids=IDS)
def test_minutes_per_question_fit_the_time(path):
    """Each question says how many minutes it takes; together they fit the stated time."""
    nb = _nb(path)
    minutes = {q["heading"]: q["minutes"] for q in _questions(nb)}
    assert None not in minutes.values(), (
        f"{path.name}: no '*About N minutes.*' line under "
        f"{[h for h, m in minutes.items() if m is None]}"
    )
    stated = re.search(r"\*\*Time:\*\* about (\d+) minutes", nb.cells[0].source)
    assert stated, f"{path.name}: the intro should state the time"
    assert sum(minutes.values()) <= int(stated.group(1)), (
        f"{path.name}: the questions take {sum(minutes.values())} minutes, the intro "
        f"says {stated.group(1)}"
    )


@pytest.mark.parametrize("path", SOURCES, ids=IDS)
def test_one_optional_task_before_the_key_points(path):
    """Exactly one 'Going further' task, marked optional and ungraded, with a free cell."""
    nb = _nb(path)
    found = [
        i
        for i, c in enumerate(nb.cells)
        if c.cell_type == "markdown" and c.source.startswith("## Going further")
    ]
    assert len(found) == 1, f"{path.name}: {len(found)} 'Going further' sections"
    [index] = found
    assert nb.cells[index].source.startswith("## Going further (optional, not graded)")
    task = nb.cells[index : len(nb.cells) - 1]
    assert all(not _meta(c) for c in task), "the optional task must not be graded"
    assert any(c.cell_type == "code" for c in task), "give the task a code cell"
    assert index > max(i for i, c in enumerate(nb.cells) if _meta(c).get("grade"))


_RUBRIC = re.compile(
    r"\n---\n\n\*\*Rubric for the grader\*\* \((\d+) points?;[^)]*\)\.\n"
)


@pytest.mark.parametrize("path", SOURCES, ids=IDS)
def test_written_answers_carry_a_rubric(path):
    """Below each model answer, a rubric for the grader: points per criterion, adding up.

    The whole cell is the solution, so the release replaces it with 'YOUR ANSWER HERE'
    (``test_release_has_no_solutions_or_hidden_tests`` checks that no line leaks).
    """
    written = [
        c
        for c in _nb(path).cells
        if _meta(c).get("solution") and c.cell_type == "markdown"
    ]
    assert written
    for cell in written:
        grade_id, points = _meta(cell)["grade_id"], _meta(cell)["points"]
        found = _RUBRIC.search(cell.source)
        assert found, f"{path.name}: '{grade_id}' has no rubric for the grader"
        assert int(found.group(1)) == points, grade_id
        model = cell.source[: found.start()].strip()
        assert len(model.split()) > 30, f"{grade_id}: no model answer above the rubric"
        criteria = re.findall(
            r"^\* \*\*(\d+) points?:\*\*", cell.source[found.end() :], re.M
        )
        assert sum(map(int, criteria)) == points and len(criteria) >= 2, (
            f"{path.name}: the rubric of '{grade_id}' gives {criteria} for {points} points"
        )


#: Assignments whose learning objectives ask the trainee to read a figure.
FIGURES = (
    "03-evaluating-a-coder",
    "04-imputation",
    "06-quality-and-drift",
    "07-synthetic-data",
)


@pytest.mark.parametrize("path", SOURCES, ids=IDS)
def test_figures_come_from_the_kit_and_say_what_to_look_at(path):
    """A figure is drawn by a read-only cell with squad.plots, after a sentence in bold
    that says what to look at; the notebooks whose lesson is a figure have one."""
    nb = _nb(path)
    drawn = [
        i
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code" and ".plot_" in c.source
    ]
    drawn = [i for i in drawn if not _meta(nb.cells[i]).get("solution")]
    if path.parent.name in FIGURES:
        assert drawn, f"{path.name}: no figure"
    for index in drawn:
        cell, before = nb.cells[index], nb.cells[index - 1]
        assert _meta(cell).get("locked") and not _meta(cell).get("grade"), cell.id
        assert "squad.plots.plot_" in cell.source, f"{cell.id}: draw with squad.plots"
        assert (
            before.cell_type == "markdown" and "**look at" in before.source.lower()
        ), f"{path.name}: say in the cell before '{cell.id}' what to look at"


@pytest.mark.parametrize("path", SOURCES, ids=IDS)
def test_tests_carry_messages_and_hidden_checks(path):
    """Every assert has a message; every test cell ends with hidden tests."""
    for cell in _nb(path).cells:
        if not _is_test(cell):
            continue
        asserts = [
            n for n in ast.walk(ast.parse(cell.source)) if isinstance(n, ast.Assert)
        ]
        assert asserts, _meta(cell)["grade_id"]
        bare = [ast.unparse(n.test) for n in asserts if n.msg is None]
        assert bare == [], f"{_meta(cell)['grade_id']}: assert without a message"
        assert "### BEGIN HIDDEN TESTS" in cell.source, _meta(cell)["grade_id"]
        assert cell.source.rstrip().endswith("### END HIDDEN TESTS")


@pytest.fixture(scope="module")
def released(tmp_path_factory) -> Path:
    """The release folder, generated by `squad course build` from a copy of source/."""
    root = tmp_path_factory.mktemp("release") / "exercises"
    root.mkdir()
    shutil.copy(EXERCISES / "nbgrader_config.py", root)
    shutil.copytree(EXERCISES / "source", root / "source")
    result = CliRunner().invoke(main, ["course", "build", "--course", str(root)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == f"Built {len(SOURCES)} release notebook(s)"
    return root / "release"


def test_find_course_dir_needs_a_course(tmp_path):
    """A folder without nbgrader_config.py is refused with the next step to take."""
    with pytest.raises(FileNotFoundError, match="has no nbgrader_config.py"):
        find_course_dir(tmp_path)


def test_build_course_rejects_unknown_assignment():
    """An unknown assignment is a KeyError that lists the available ones."""
    with pytest.raises(KeyError, match="Available: 00a-from-spss-to-python, 00b-first"):
        build_course(EXERCISES, assignments=["07-nothing"])


def test_cli_course_build_reports_user_error_in_one_line():
    """`squad course build` prints one line and exits 2 on an unknown assignment."""
    result = CliRunner().invoke(
        main, ["course", "build", "07-nothing", "--course", str(EXERCISES)]
    )
    assert result.exit_code == 2
    assert result.output.count("\n") == 1
    assert result.output.startswith("Error: Assignment '07-nothing' is not in")


def test_check_release_finds_solutions():
    """check_release reports what a source notebook would leak if handed out."""
    problems = check_release(SOURCES[0])
    assert any("### BEGIN SOLUTION" in p for p in problems)
    assert any("### BEGIN HIDDEN TESTS" in p for p in problems)
    assert any("is not the 'YOUR ANSWER HERE' stub" in p for p in problems)


def test_check_source_metadata_finds_bad_cells():
    """Duplicate grade ids, missing points and unlocked tests are reported."""
    nb = _nb(SOURCES[0])
    tests = [c for c in nb.cells if _is_test(c)]
    tests[1].metadata.nbgrader["grade_id"] = _meta(tests[0])["grade_id"]
    del tests[2].metadata.nbgrader["points"]
    tests[3].metadata.nbgrader["locked"] = False
    problems = check_source_metadata(nb)
    assert f"grade_id '{_meta(tests[0])['grade_id']}' is used twice" in problems
    assert (
        f"graded cell '{_meta(tests[2])['grade_id']}' has no positive 'points'"
        in problems
    )
    assert (
        f"test cell '{_meta(tests[3])['grade_id']}' must be a locked code cell"
        in problems
    )


@pytest.mark.slow
def test_run_nbgrader_failure_is_one_line(tmp_path):
    """A failing nbgrader command raises ChildProcessError naming the command."""
    (tmp_path / "source").mkdir()
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\n")
    with pytest.raises(ChildProcessError, match="nbgrader autograde missing failed"):
        run_nbgrader(["autograde", "missing"], course_dir=tmp_path)


def test_new_gradebook_gets_the_schema_revision_without_the_alembic_command(tmp_path):
    """The kit's nbgrader stamps a new gradebook as nbgrader does, with no alembic."""
    import io
    import sqlite3

    from alembic import command
    from alembic.config import Config
    from nbgrader.dbutil import _temp_alembic_ini

    from squad._imports import alembic_head

    # nbgrader's own way: `alembic heads` with its alembic.ini (here without a process)
    printed = io.StringIO()
    with _temp_alembic_ini("sqlite:///" + str(tmp_path / "x.db")) as ini:
        command.heads(Config(ini, stdout=printed))
    assert printed.getvalue().split() == [alembic_head(), "(head)"]
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\n")
    done = subprocess.run(
        nbgrader_command(["db", "student", "add", "ana"]),
        cwd=tmp_path,
        env={**os.environ, "PATH": os.defpath},  # no scripts folder: no `alembic`
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    with contextlib.closing(sqlite3.connect(tmp_path / "gradebook.db")) as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [
            (alembic_head(),)
        ]
        assert db.execute("SELECT id FROM student").fetchall() == [("ana",)]


@pytest.mark.slow
@pytest.mark.parametrize("path", SOURCES, ids=IDS)
def test_release_has_no_solutions_or_hidden_tests(released, path):
    """Release notebooks hold stubs where the source holds solutions and hidden tests."""
    release = _nb(released / path.parent.name / path.name)
    assert check_release(release) == []
    source = _nb(path)
    secret, public = set(), []
    for cell in source.cells:
        inside = False
        for line in cell.source.splitlines():
            marker = line.strip()
            if marker in ("### BEGIN SOLUTION", "### BEGIN HIDDEN TESTS"):
                inside = True
            elif marker in ("### END SOLUTION", "### END HIDDEN TESTS"):
                inside = False
            elif inside or (
                _meta(cell).get("solution") and cell.cell_type == "markdown"
            ):
                secret.add(marker)
            else:
                public.append(line)
    # a secret line may also be part of the instructions; only the others must not leak
    secret = {
        line for line in secret if len(line) > 12 and line not in "\n".join(public)
    }
    text = "\n".join(c.source for c in release.cells)
    assert [line for line in secret if line in text] == []
    assert [c.get("id") for c in release.cells] == [c.get("id") for c in source.cells]


def _students(assignment: str) -> list[str]:
    return sorted(p.stem for p in (FIXTURES / assignment).glob("*.ipynb"))


@pytest.mark.slow
@pytest.mark.parametrize("path", SOURCES, ids=IDS)
def test_fixtures_match_release(released, path):
    """The sample submissions are this release: untouched is it, the others fill answers."""
    release = _nb(released / path.parent.name / path.name)
    students = _students(path.parent.name)
    assert {"untouched", "partial", "full"} <= set(students)
    for student in students:
        fixture = _nb(FIXTURES / path.parent.name / f"{student}.ipynb")
        assert len(fixture.cells) == len(release.cells), student
        for ours, theirs in zip(fixture.cells, release.cells, strict=True):
            if student == "untouched" or not _meta(theirs).get("solution"):
                assert ours.source == theirs.source, (
                    f"tests/fixtures/submissions/{path.parent.name}/{student}.ipynb is out "
                    f"of date in cell '{theirs.get('id')}': run "
                    "tests/fixtures/submissions/refresh.py"
                )
                assert ours.metadata == theirs.metadata, student


def _without_solution_markers(source: str) -> str:
    """A solution cell as the model answer reads: the nbgrader markers taken out."""
    return "\n".join(
        line
        for line in source.splitlines()
        if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION")
    )


@pytest.mark.parametrize("path", SOURCES, ids=IDS)
def test_full_marks_submission_is_the_model_answer(path):
    """The full-marks sample holds the source's solutions, code cell by code cell.

    The course workflow test autogrades that sample, which then runs exactly the source
    notebook (autograde restores the hidden tests), and checks it runs clean: see
    ``tests/course/test_workflow.py::test_model_answers_run_clean``.
    """
    full = {
        _meta(c)["grade_id"]: c.source
        for c in _nb(FIXTURES / path.parent.name / "full.ipynb").cells
        if _meta(c).get("solution")
    }
    for cell in _nb(path).cells:
        if cell.cell_type == "code" and _meta(cell).get("solution"):
            grade_id = _meta(cell)["grade_id"]
            assert full[grade_id].strip() == (
                _without_solution_markers(cell.source).strip()
            ), (
                f"tests/fixtures/submissions/{path.parent.name}/full.ipynb differs from "
                f"the source's solution in cell '{grade_id}': copy the solution into it"
            )


@pytest.mark.parametrize("path", SOURCES, ids=IDS)
def test_sample_mistakes_are_declared(path):
    """In the samples with mistakes, each answer that is neither the model answer nor left
    empty says what it gets wrong and the words its visible check must say.

    ``tests/course/test_workflow.py`` then checks that each one fails a visible check
    with that message, so a mistake cannot be added to a sample without its check.
    """
    folder = FIXTURES / path.parent.name
    model = {
        _meta(c)["grade_id"]: _without_solution_markers(c.source).strip()
        for c in _nb(path).cells
        if _meta(c).get("solution") and c.cell_type == "code"
    }
    stub = {
        _meta(c)["grade_id"]: c.source.strip()
        for c in _nb(folder / "untouched.ipynb").cells
        if _meta(c).get("solution")
    }
    samples = [
        p for p in sorted(folder.glob("*.ipynb")) if p.stem not in ("full", "untouched")
    ]
    assert samples, f"{folder} has no sample with mistakes"
    for sample in samples:
        declared = 0
        for cell in _nb(sample).cells:
            if not _meta(cell).get("solution") or cell.cell_type != "code":
                continue
            grade_id, source = _meta(cell)["grade_id"], cell.source.strip()
            mistake = cell.metadata.get("mistake")
            if source in (model[grade_id], stub[grade_id]):
                assert mistake is None, f"{sample.name}: {grade_id} is not a mistake"
                continue
            assert mistake, f"{sample.name}: say what {grade_id} gets wrong"
            assert set(mistake) <= {"what", "message", "caught"}, mistake
            assert mistake["what"] and re.compile(mistake["message"])
            assert mistake.get("caught", "visible") in ("visible", "hidden")
            declared += 1
        assert declared, f"{sample.name} declares no mistake"
