"""Hidden tests stay hidden from student code that tries to carry them into feedback.

Each route below is a submission to the fixture course's ``ps1`` whose answers read
hidden-test code from the kernel and put it in an error message or output. The control:
graded by plain ``nbgrader autograde``, every route does carry hidden code into the
graded notebook. Graded by ``squad grade``, no hidden line reaches a feedback page, and
the routes across cells (history, line cache) find nothing in the kernel at all.
"""

from __future__ import annotations

import html
import shutil

import nbformat
import pytest

from squad.grading.hidden import WITHHELD, hidden_lines
from tests.support import grading_class as gc

pytestmark = pytest.mark.slow

# q2's visible test calls len() on the answer: a list whose len() raises with a secret.
_LEAKY_LIST = (
    "def read_prices(path):\n"
    "    class Prices(list):\n"
    "        def __len__(self):\n"
    "            raise AssertionError({secret})\n"
    "    return Prices([1.0] * 6)\n"
)
# q1's hidden tests call mean() with one value: mean() then reads its caller's code.
_CALLER = (
    "import linecache, sys\n\n\n"
    "def mean(values):\n"
    "    if len(values) == 1:\n"
    "        lines = linecache.getlines(sys._getframe(1).f_code.co_filename)\n"
    "        hidden = [x for x in lines if 'assert' in x and 'one value' in x]\n"
    "        {action}\n"
    "    return sum(values) / len(values)\n"
)
ROUTES = {
    # The example: the input history holds every earlier cell.
    "history": {
        "q2_read": _LEAKY_LIST.format(secret="'\\n'.join(get_ipython().user_ns['_ih'])")
    },
    "raw-history": {
        "q2_read": _LEAKY_LIST.format(
            secret="'\\n'.join(get_ipython().history_manager.input_hist_raw)"
        )
    },
    "linecache": {
        "q2_read": "import linecache\n\n\n"
        + _LEAKY_LIST.format(
            secret="''.join(''.join(e[2]) for e in list(linecache.cache.values()) "
            "if len(e) == 4 and e[2])"
        )
    },
    "frame-repr": {
        "q1_mean": _CALLER.format(action="raise AssertionError(repr(hidden))")
    },
    "frame-stderr": {
        "q1_mean": _CALLER.format(action="print(hidden[0], file=sys.stderr)")
    },
}
CROSS_CELL = ("history", "raw-history", "linecache")


def _hidden() -> list[str]:
    source = nbformat.read(gc.COURSE / "source/ps1/ps1.ipynb", as_version=4)
    return hidden_lines(cell.source for cell in source.cells)


def _q1_hidden() -> list[str]:
    return [line for line in _hidden() if "mean(" in line]


def _outputs_text(nb: nbformat.NotebookNode, grade_id: str) -> str:
    cell = gc.cell(nb, grade_id)
    parts = []
    for output in cell.get("outputs", []):
        parts.append(output.get("text", "") or "")
        parts.append(str(output.get("evalue", "")))
        parts.extend(output.get("traceback", []) or [])
        parts.extend(str(v) for v in output.get("data", {}).values())
    return "\n".join(parts)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The routes graded by nbgrader (``plain``) and by squad with feedback (``squad``)."""
    base = tmp_path_factory.mktemp("hidden")
    base.chmod(0o755)
    pristine = gc.build_course(base / "pristine")
    for route, choice in ROUTES.items():
        nb = gc.answer(pristine, {})
        for grade_id, source in choice.items():
            gc.cell(nb, grade_id).source = source
        gc.submit(pristine, route, nb)
    plain, squad = base / "plain", base / "squad"
    shutil.copytree(pristine, plain, symlinks=True)
    shutil.copytree(pristine, squad, symlinks=True)
    run = gc.grade_both(plain, squad, "--feedback")
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]
    return {"plain": plain, "squad": squad, "stderr": run.stderr}


def _autograded(course, route) -> nbformat.NotebookNode:
    path = course / "autograded" / route / gc.ASSIGNMENT / "ps1.ipynb"
    return nbformat.read(path, as_version=4)


@pytest.mark.parametrize("route", list(ROUTES))
def test_route_leaks_under_plain_nbgrader(graded, route):
    """Control: the route really carries q1's hidden code out of the kernel."""
    grade_id = "q2_tests" if "q2_read" in ROUTES[route] else "q1_tests"
    text = _outputs_text(_autograded(graded["plain"], route), grade_id)
    assert any(line in text or repr(line)[1:-1] in text for line in _q1_hidden()), text[
        :2000
    ]


@pytest.mark.parametrize("route", list(ROUTES))
def test_feedback_page_shows_no_hidden_line(graded, route):
    page = (graded["squad"] / "feedback" / route / "ps1" / "ps1.html").read_text()
    for line in _hidden():
        assert line not in page and html.escape(line) not in page
    assert "BEGIN HIDDEN" not in page


@pytest.mark.parametrize("route", CROSS_CELL)
def test_routes_across_cells_find_nothing_in_the_kernel(graded, route):
    """After q1's test ran, its hidden code is gone from history and line cache."""
    text = _outputs_text(_autograded(graded["squad"], route), "q2_tests")
    assert "Error" in text or "error" in text  # the route ran
    for line in _q1_hidden():
        assert line not in text and repr(line)[1:-1] not in text


def test_withheld_messages_are_said_and_logged(graded):
    """Where a message quoted hidden code, the page says it was withheld, and why."""
    page = (
        graded["squad"] / "feedback" / "frame-repr" / "ps1" / "ps1.html"
    ).read_text()
    assert html.escape(WITHHELD) in page
    assert "quoted hidden test code and was withheld" in graded["stderr"]


def test_scores_are_those_of_plain_nbgrader(graded):
    """Closing the channels changes no score."""
    plain, squad = (
        gc.gradebook_scores(graded["plain"]),
        gc.gradebook_scores(graded["squad"]),
    )
    keys = [k for k in plain if k[1].endswith("_tests")]
    assert keys
    assert {k: plain[k] for k in keys} == {k: squad[k] for k in keys}
