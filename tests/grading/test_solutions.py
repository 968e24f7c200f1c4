"""Solutions released after the deadline: model answers and rubrics, no hidden test."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner
from nbclient import NotebookClient

from squad.cli import main
from squad.grading.hidden import hidden_lines
from squad.grading.solutions import solutions_notebook, write_solutions

ROOT = Path(__file__).resolve().parents[2]
EXERCISES = ROOT / "exercises"
SOURCES = sorted((EXERCISES / "source").glob("*/*.ipynb"))
IDS = [p.parent.name for p in SOURCES]
ASSIGNMENT = "00a-from-spss-to-python"


def _text(cell) -> str:
    return (
        "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
    )


@pytest.mark.parametrize("path", SOURCES, ids=IDS)
def test_solutions_keep_answers_visible_tests_and_rubrics_only(path):
    """Model answers, visible tests and rubrics stay; hidden tests and metadata go."""
    source = json.loads(path.read_text(encoding="utf-8"))
    nb = solutions_notebook(source)
    nbformat.validate(nbformat.from_dict(nb))
    text = "\n".join(_text(c) for c in nb["cells"])
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN", "END HIDDEN"):
        assert marker not in text
    shown = {line.strip() for line in text.splitlines()}
    hidden = hidden_lines(_text(c) for c in source["cells"])
    assert hidden and [line for line in hidden if line in shown] == []
    assert all("nbgrader" not in c["metadata"] for c in nb["cells"])
    assert all(c.get("outputs", []) == [] for c in nb["cells"])
    assert "Visible tests passed." in text and "Rubric for the grader" in text
    for cell in source["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        if meta.get("solution") and cell["cell_type"] == "code":
            for line in _text(cell).splitlines():
                if "### BEGIN SOLUTION" not in line and "### END SOLUTION" not in line:
                    assert line in text, f"{meta['grade_id']}: {line!r} is missing"
    assert len(nb["cells"]) == len(source["cells"]) + 1  # the note on top


@pytest.fixture
def course(tmp_path) -> Path:
    """A course with one assignment and no gradebook yet."""
    root = tmp_path / "exercises"
    (root / "source").mkdir(parents=True)
    shutil.copy(EXERCISES / "nbgrader_config.py", root)
    shutil.copytree(EXERCISES / "source" / ASSIGNMENT, root / "source" / ASSIGNMENT)
    return root


def _set_due_date(root: Path, due: dt.datetime) -> None:
    from nbgrader.api import Gradebook

    from squad._imports import read_gradebook_revision_in_process

    read_gradebook_revision_in_process()  # a new gradebook, without the alembic command
    db_url = "sqlite:///" + (root / "gradebook.db").as_posix()
    with Gradebook(db_url, "squad-coffee-and-coding") as gb:
        gb.update_or_create_assignment(ASSIGNMENT, duedate=due)


def test_write_solutions_without_a_gradebook(course):
    """A course with no gradebook has no due date: the solutions are written, and no
    gradebook is made."""
    [path] = write_solutions(ASSIGNMENT, course=course)
    assert (
        path
        == course / "solutions" / ASSIGNMENT / "from-spss-to-python-solutions.ipynb"
    )
    assert not (course / "gradebook.db").exists()
    assert nbformat.read(path, as_version=4).cells[0].source.startswith("**Solutions**")


def test_write_solutions_waits_for_the_due_date(course, tmp_path):
    """Before the gradebook's due date the solutions are refused, unless asked for."""
    due = dt.datetime(2030, 5, 1, 17, 0)
    _set_due_date(course, due)
    with pytest.raises(
        ValueError, match=r"is due on 2030-05-01 17:00 UTC: release its"
    ):
        write_solutions(
            ASSIGNMENT,
            course=course,
            now=dt.datetime(2030, 5, 1, 16, 59, tzinfo=dt.UTC),
        )
    assert not (course / "solutions").exists()
    after = dt.datetime(2030, 5, 1, 17, 1, tzinfo=dt.UTC)
    assert write_solutions(ASSIGNMENT, course=course, now=after)
    early = write_solutions(
        ASSIGNMENT, course=course, out=tmp_path / "mine", before_deadline=True
    )
    assert early[0].parent == tmp_path / "mine"


def test_cli_course_solutions(course):
    """The command prints the notebooks written; an unknown assignment is one line."""
    result = CliRunner().invoke(
        main, ["course", "solutions", ASSIGNMENT, "--course", str(course)]
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith("from-spss-to-python-solutions.ipynb")
    result = CliRunner().invoke(
        main, ["course", "solutions", "09-nothing", "--course", str(course)]
    )
    assert result.exit_code == 2
    assert result.output.startswith("Error: Assignment '09-nothing' is not in ")
    assert result.output.count("\n") == 1
    _set_due_date(course, dt.datetime(2999, 1, 1))
    result = CliRunner().invoke(
        main, ["course", "solutions", ASSIGNMENT, "--course", str(course)]
    )
    assert result.exit_code == 2 and "pass --before-deadline" in result.output


@pytest.mark.slow
def test_solutions_notebook_runs_and_passes_its_visible_tests(course):
    """A trainee can run the solutions from the top: every test says it passed."""
    [path] = write_solutions(ASSIGNMENT, course=course)
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3").execute(cwd=str(course))
    tests = [
        c
        for c in nb.cells
        if c.cell_type == "code" and "Visible tests passed." in c.source
    ]
    assert len(tests) == 5
    for cell in tests:
        printed = "".join(o.get("text", "") for o in cell.outputs)
        assert "Visible tests passed." in printed
