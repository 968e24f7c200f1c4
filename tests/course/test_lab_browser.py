"""The kit's JupyterLab, used the way people use it: in a real browser.

One JupyterLab server per module, started by ``squad lab`` (the command behind
``make lab``) on a temporary copy of the course, and Debian's Chromium driven by
Playwright. Three people use it:

* a trainee answers a question of ``02-occupation-coding``, runs the notebook and
  presses Validate, once with a right and once with a wrong answer; with the model
  answers of ``03``, ``04``, ``06`` and ``07``, the notebook draws its figures, with
  their alt text;
* an instructor reviews an autograded class in Formgrader and grades the written answer
  by hand; the grade is in nbgrader's gradebook afterwards;
* a squad member opens an executed experiment run and the leaderboard page, and sees
  their plots.

The work the scenarios need (autograding the class, running the experiment) starts in
the background when the module starts, while the trainee works. On failure, screenshots
and logs are saved under ``test-artifacts/browser/``.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

import squad
from squad.course.build import run_nbgrader
from tests.support.browser_helpers import (
    ARTIFACTS,
    REPO,
    ConsoleLog,
    answer_notebook,
    artifacts_on_failure,
    background_popen,
    check_images,
    copy_course,
    follow_formgrader_link,
    read_json,
    save_manual_score,
    script_env,
    solutions,
    start_nbgrader,
    submit,
)

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture fails with what to install
    expect = None

pytestmark = pytest.mark.slow

ASSIGNMENT = "02-occupation-coding"
NOTEBOOK = "occupation-coding.ipynb"
#: The answer the trainee types, and a wrong one (trained on 100 titles, not 4,000).
RIGHT_ANSWER = (
    "word_vectorizer = TfidfVectorizer()\n"
    'X_words = word_vectorizer.fit_transform(train["text"])'
)
#: The edit that makes it wrong, typed before the last closing parenthesis.
WRONG_EDIT = ".head(100)"
WRONG_ANSWER_MESSAGE = re.compile(r"X_words has 100 rows, but train has \d+ entries")
#: Notebooks whose lesson is a figure, run with the model answers (their full sample),
#: and how the alt text of one of their figures begins.
FIGURES = {
    "03-evaluating-a-coder": "evaluating-a-coder.ipynb",
    "04-imputation": "imputation.ipynb",
    "06-quality-and-drift": "quality-and-drift.ipynb",
    "07-synthetic-data": "synthetic-data.ipynb",
}
FIGURE_ALT = {
    "03-evaluating-a-coder": "Automation curve",
    "04-imputation": "Dot plot",
    "06-quality-and-drift": "Reliability diagram",
    "07-synthetic-data": "Dot plot",
}
STUDENTS = {"trainee-full": "full", "trainee-untouched": "untouched"}
MANUAL_SCORE = 2
#: Seconds allowed for a whole-notebook step (Run All, Validate) on a busy machine.
NOTEBOOK_TIMEOUT_MS = 240_000
STDERR = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'
#: True in the page once Run All has finished: no cell waits ([*]), and every code
#: cell ran, or one failed (JupyterLab stops at the first error).
RUN_FINISHED = f"""() => {{
    const panel = document.querySelector(".jp-NotebookPanel:not(.lm-mod-hidden)");
    const prompts = [...panel.querySelectorAll(".jp-CodeCell .jp-InputPrompt")]
        .map(e => e.textContent);
    if (prompts.length === 0 || prompts.some(t => t.includes("*"))) return false;
    return prompts.every(t => /\\d/.test(t)) || !!panel.querySelector('{STDERR}');
}}"""


@dataclass
class Lab:
    """The running ``squad lab`` and the address it printed."""

    url: str
    token: str
    log: Path

    def address(self, path: str, *, reset: bool = True) -> str:
        """The address of ``path`` with the token; ``reset`` opens a clean workspace."""
        return f"{self.url}{path}?token={self.token}" + ("&reset" if reset else "")


@dataclass
class Kit:
    """The temporary kit, its JupyterLab, and the background work started on it."""

    root: Path
    course: Path
    trainee_notebook: Path
    logs: Path
    lab: Lab
    autograde: subprocess.Popen
    experiment: subprocess.Popen


def _submissions(course: Path) -> dict[str, Path]:
    """The class to autograde: the course's sample submissions, else built from source."""
    samples = REPO / "tests" / "fixtures" / "submissions" / ASSIGNMENT
    release = course / "release" / ASSIGNMENT / NOTEBOOK
    built = course.parent / "samples"
    notebooks = {}
    for student, kind in STUDENTS.items():
        sample = samples / f"{kind}.ipynb"
        if sample.exists():
            notebooks[student] = sample
        elif kind == "full":
            answers = solutions(course / "source" / ASSIGNMENT / NOTEBOOK)
            notebooks[student] = answer_notebook(release, answers, built / NOTEBOOK)
        else:
            notebooks[student] = release
    return notebooks


def _wait(
    process: subprocess.Popen, log: Path, what: str, timeout: float = 600
) -> None:
    """Wait for a background step; fail with its log if it failed."""
    try:
        status = process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail(f"{what} did not finish in {timeout:.0f} s; log: {log}")
    if status != 0:
        pytest.fail(f"{what} failed (status {status}):\n{log.read_text()[-3000:]}")


def _read_address(process: subprocess.Popen, log: Path) -> Lab:
    """Read the address `squad lab` prints; fail with its log if it prints none."""
    printed = []
    for line in process.stdout:
        printed.append(line)
        if line.strip().startswith("http"):
            break
    match = re.match(
        r"\s*(http://\S+/)lab\?token=(\w+)", printed[-1] if printed else ""
    )
    if match is None:
        process.kill()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / "squad-lab.log").write_bytes(log.read_bytes())
        pytest.fail(f"`squad lab` printed no address: {''.join(printed)!r}; log: {log}")
    return Lab(match.group(1), match.group(2), log)


def _stop(process: subprocess.Popen) -> None:
    """Stop `squad lab` as a person does, with Ctrl+C; it stops the server and kernels."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT if os.name == "posix" else signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    """A copy of the course served by ``squad lab``; the class and a run in progress."""
    base = tmp_path_factory.mktemp("browser")
    root = base / "kit"
    logs = base / "logs"
    logs.mkdir()
    course = copy_course(root)

    background: list[subprocess.Popen] = []
    lab = None
    lab_log = logs / "squad-lab.log"
    lab_log_handle = open(lab_log, "wb")  # closed at teardown
    try:
        # One run of the coding experiment, for the squad member.
        grid = base / "one-run.grid.yml"
        grid.write_text("base: {dataset: ecoicop, model: complement_nb}\n")
        with open(logs / "squad-run.log", "wb") as handle:
            experiment = background_popen(
                [sys.executable, "-m", "squad.cli", "run", "notebooks/coding.ipynb"]
                + ["--grid", str(grid), "--out", str(root / "runs")]
                + ["--jobs", "1", "--no-progress"],
                cwd=REPO,
                stdout=handle,
            )
        background.append(experiment)

        # `squad lab --no-browser --port 0` in the kit: the same path as `make lab`.
        # It starts while the course is prepared.
        lab = subprocess.Popen(
            [sys.executable, "-m", "squad.cli", "lab", "--no-browser", "--port", "0"],
            cwd=root,
            env=script_env(),
            stdout=subprocess.PIPE,
            stderr=lab_log_handle,
            text=True,
        )

        # Several kernels read soc2010 at once below: build it once first (on a fresh
        # machine), not in each of them.
        squad.load_dataset("soc2010")
        squad.load_hierarchy("soc2010")
        run_nbgrader(["generate_assignment", ASSIGNMENT, "--force"], course_dir=course)
        release = course / "release" / ASSIGNMENT / NOTEBOOK
        source = course / "source" / ASSIGNMENT / NOTEBOOK

        # The trainee has answered every question but the first; the copy sits where
        # the Assignment List's Fetch puts it: <root>/<assignment>/.
        answers = solutions(source)
        del answers["q1-answer"]
        trainee = answer_notebook(release, answers, root / ASSIGNMENT / NOTEBOOK)
        # Trainees who answered every question of the notebooks with figures.
        for assignment, notebook in FIGURES.items():
            (root / assignment).mkdir()
            sample = REPO / "tests" / "fixtures" / "submissions" / assignment
            shutil.copy(sample / "full.ipynb", root / assignment / notebook)

        # The class: two sample submissions, autograded by nbgrader.
        for student, notebook in _submissions(course).items():
            submit(course, ASSIGNMENT, student, notebook, NOTEBOOK)
        autograde = start_nbgrader(
            course, "autograde", ASSIGNMENT, log=logs / "autograde.log"
        )
        background.append(autograde)

        address = _read_address(lab, lab_log)
        yield Kit(root, course, trainee, logs, address, autograde, experiment)
    finally:
        if lab is not None:
            _stop(lab)
        lab_log_handle.close()
        for process in background:
            if process.poll() is None:
                process.kill()
                process.wait()


class Tab:
    """One browser tab on the kit's JupyterLab, shared by the scenarios.

    JupyterLab loads once; each scenario opens its documents from the menus, as a
    person would, and closes them when done. After a failed scenario the next one
    starts from a freshly loaded, empty workspace.
    """

    def __init__(self, page, lab: Lab) -> None:
        self.page = page
        self.lab = lab
        self.console = ConsoleLog(page)
        self.clean = False

    def start(self) -> None:
        """Make sure JupyterLab is loaded with no leftovers of a failed scenario."""
        if not self.clean:
            self.page.goto(self.lab.address("lab"))
            expect(self.page.locator(".lm-MenuBar-itemLabel").first).to_be_visible(
                timeout=120_000
            )
            self.clean = True

    @contextlib.contextmanager
    def scenario(self, name: str):
        """Run a scenario; on failure save artifacts and reload before the next one."""
        try:
            with artifacts_on_failure(
                name, self.page, self.console, server_log=self.lab.log
            ):
                self.start()
                yield self.page
        except BaseException:
            self.clean = False
            raise

    def menu(self, top: str, item: str) -> None:
        """Choose ``top`` → ``item`` in JupyterLab's menu bar."""
        page = self.page
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{top}$")).click()
        label = re.compile(f"^{re.escape(item)}(…)?$")
        page.locator(".lm-Menu-itemLabel", has_text=label).click()

    def open_path(self, path: str) -> None:
        """File → Open from Path…, as a person opens a file they know the path of."""
        self.menu("File", "Open from Path")
        dialog = self.page.locator(".jp-Dialog")
        dialog.locator("input").fill(path)
        dialog.get_by_role("button", name="Open").click()
        expect(dialog).to_have_count(0)

    def close_tab(self) -> None:
        """File → Close Tab."""
        self.menu("File", "Close Tab")


@pytest.fixture(scope="module")
def tab(browser, kit):
    """The shared JupyterLab tab."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    yield Tab(context.new_page(), kit.lab)
    context.close()


def graded_cells(notebook: Path) -> tuple[int, int, str]:
    """Return (autograded points, total points, grade id of the written answer)."""
    auto = total = 0
    written = ""
    for cell in nbformat.read(notebook, as_version=4).cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade"):
            total += meta["points"]
            if cell.cell_type == "code":
                auto += meta["points"]
            elif meta.get("solution"):
                written = meta["grade_id"]
    return auto, total, written


# --------------------------------------------------------------------------- trainee
def test_trainee_answers_runs_and_validates(tab, kit):
    """A trainee types an answer, runs all cells, and Validate says if it passes."""
    n_cells = len(nbformat.read(kit.trainee_notebook, as_version=4).cells)
    n_tests = sum(
        1
        for cell in nbformat.read(kit.trainee_notebook, as_version=4).cells
        if cell.metadata.get("nbgrader", {}).get("grade") and cell.cell_type == "code"
    )
    with tab.scenario("trainee") as page:
        tab.open_path(f"{ASSIGNMENT}/{NOTEBOOK}")
        panel = page.locator(".jp-NotebookPanel:visible")
        cells = panel.locator(".jp-Notebook .jp-Cell")
        expect(cells).to_have_count(n_cells, timeout=90_000)
        index = cells.evaluate_all(
            "els => els.findIndex(e => e.textContent.includes('YOUR CODE HERE'))"
        )
        assert index >= 0, "the trainee's notebook has no unanswered code cell"
        answer = cells.nth(index)

        editor = answer.locator(".cm-content")
        editor.focus()
        page.keyboard.press("ControlOrMeta+A")
        page.keyboard.type(RIGHT_ANSWER)
        expect(editor).to_contain_text(RIGHT_ANSWER.splitlines()[-1])
        tab.menu("Run", "Run All Cells")
        page.wait_for_function(RUN_FINISHED, timeout=NOTEBOOK_TIMEOUT_MS)
        passed = panel.locator(
            ".jp-OutputArea-output", has_text="Visible tests passed."
        )
        expect(passed).to_have_count(n_tests)
        # Nothing went to stderr: no error, no warning (nbgrader zeroes such tests).
        expect(panel.locator(STDERR)).to_have_count(0)

        validate = panel.locator(".jp-Toolbar").get_by_text("Validate", exact=True)
        dialog = page.locator(".jp-Dialog")
        results = dialog.get_by_text("Validation Results")
        validate.click()
        expect(results).to_be_visible(timeout=NOTEBOOK_TIMEOUT_MS)
        expect(dialog).to_contain_text("Success! Your notebook passes all the tests.")
        dialog.get_by_role("button", name="Ok").click()
        expect(dialog).to_have_count(0)

        # Now a wrong answer: fitted on the first 100 titles only.
        editor.focus()
        page.keyboard.press("ControlOrMeta+End")
        page.keyboard.press("ArrowLeft")
        page.keyboard.type(WRONG_EDIT)
        expect(editor).to_contain_text('train["text"].head(100))')
        validate.click()
        expect(results).to_be_visible(timeout=NOTEBOOK_TIMEOUT_MS)
        expect(dialog).to_contain_text("The following cell failed:")
        expect(dialog).to_contain_text(WRONG_ANSWER_MESSAGE)
        dialog.get_by_role("button", name="Ok").click()

        # Validate saved the notebook: it closes without a question.
        tab.menu("Kernel", "Shut Down Kernel")
        tab.close_tab()
        expect(page.locator(".jp-NotebookPanel:visible")).to_have_count(0)


@pytest.mark.parametrize("assignment", sorted(FIGURES))
def test_trainee_sees_the_figures_with_alt_text(tab, kit, assignment):
    """Run All draws each figure: loaded, not blank, with alt text that says what it
    shows (read by screen readers), and nothing on stderr."""
    notebook = FIGURES[assignment]
    cells_in = nbformat.read(kit.root / assignment / notebook, as_version=4).cells
    n_figures = sum(
        1 for c in cells_in if c.cell_type == "code" and "squad.plots.plot_" in c.source
    )
    with tab.scenario(f"figures-{assignment}") as page:
        tab.open_path(f"{assignment}/{notebook}")
        panel = page.locator(".jp-NotebookPanel:visible")
        expect(panel.locator(".jp-Notebook .jp-Cell")).to_have_count(
            len(cells_in), timeout=90_000
        )
        tab.menu("Run", "Run All Cells")
        page.wait_for_function(RUN_FINISHED, timeout=NOTEBOOK_TIMEOUT_MS)
        expect(panel.locator(STDERR)).to_have_count(0)
        images = panel.locator(".jp-OutputArea-output img")
        expect(images).to_have_count(n_figures)
        check_images(images, assignment)
        alts = images.evaluate_all("els => els.map(e => e.alt)")
        assert all(len(alt) > 80 and alt != "Image" for alt in alts), alts
        assert any(alt.startswith(FIGURE_ALT[assignment]) for alt in alts), alts
        tab.menu("Kernel", "Shut Down Kernel")
        tab.close_tab()
        # Run All changed the notebook: leave the trainee's file as it was.
        page.locator(".jp-Dialog").get_by_role("button", name="Discard").click()
        expect(page.locator(".jp-NotebookPanel:visible")).to_have_count(0)


# --------------------------------------------------------------------------- instructor
def test_instructor_grades_written_answer_in_formgrader(tab, kit):
    """An instructor reviews the autograded class and grades the written answer."""
    from nbgrader.api import Gradebook

    from squad.course.build import list_assignments

    auto_points, total_points, written_id = graded_cells(
        kit.course / "source" / ASSIGNMENT / NOTEBOOK
    )
    notebook_id = Path(NOTEBOOK).stem
    _wait(kit.autograde, kit.logs / "autograde.log", "nbgrader autograde")
    with tab.scenario("instructor") as page:
        tab.menu("Nbgrader", "Formgrader")
        formgrader = page.frame_locator('iframe[src*="formgrader"]')
        heading = formgrader.get_by_role("heading", name="Manage Assignments")
        expect(heading).to_be_visible(timeout=90_000)
        for assignment in list_assignments(kit.course):
            expect(formgrader.get_by_role("link", name=assignment)).to_be_visible()
        expect(formgrader.locator("body")).not_to_contain_text("does not exist")

        follow_formgrader_link(formgrader, "Manual Grading", "Manual Grading")
        follow_formgrader_link(formgrader, ASSIGNMENT, ASSIGNMENT)
        rows = formgrader.locator("tbody tr")
        full = rows.filter(has_text="trainee-full")

        def show_submissions() -> None:
            follow_formgrader_link(formgrader, notebook_id, notebook_id)
            expect(rows).to_have_count(len(STUDENTS), timeout=30_000)
            formgrader.get_by_role("button", name="Show All Names").press("Enter")
            expect(
                formgrader.get_by_role("button", name="Hide All Names")
            ).to_be_visible()

        show_submissions()
        for student in STUDENTS:
            expect(formgrader.get_by_role("link", name=student)).to_be_visible()
        expect(full).to_contain_text(f"{auto_points} / {total_points}")
        formgrader.get_by_role("link", name="trainee-full").press("Enter")

        save_manual_score(
            page,
            formgrader,
            lambda: next(f for f in page.frames if "/submissions/" in f.url),
            written_id,
            MANUAL_SCORE,
        )
        # Then read the gradebook the server has written.

        db_url = f"sqlite:///{(kit.course / 'gradebook.db').as_posix()}"
        with Gradebook(db_url) as gradebook:
            score = gradebook.find_grade(
                written_id, notebook_id, ASSIGNMENT, "trainee-full"
            ).manual_score
            total = gradebook.find_submission_notebook(
                notebook_id, ASSIGNMENT, "trainee-full"
            ).score
        assert score == MANUAL_SCORE, f"the gradebook has manual score {score!r}"
        assert total == auto_points + MANUAL_SCORE

        show_submissions()
        expect(full).to_contain_text(f"{auto_points + MANUAL_SCORE} / {total_points}")
        tab.close_tab()


# --------------------------------------------------------------------------- squad member
def test_member_sees_run_and_leaderboard_plots(tab, kit):
    """A squad member opens an executed run and the leaderboard page: plots are drawn."""
    _wait(kit.experiment, kit.logs / "squad-run.log", "squad run")
    runs = kit.root / "runs" / "coding"
    records = [read_json(path) for path in sorted(runs.glob("*/record.json"))]
    assert [record["status"] for record in records] == ["ok"]
    run_dir = next(runs.glob("*/record.json")).parent
    n_figures = len(list((run_dir / "figures").glob("*.png")))
    assert n_figures >= 1
    result = subprocess.run(
        [sys.executable, "-m", "squad.cli", "leaderboard", str(runs)]
        + ["--html", str(runs / "leaderboard.html")],
        env=script_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr

    with tab.scenario("member") as page:
        tab.open_path(f"{run_dir.relative_to(kit.root).as_posix()}/coding.ipynb")
        images = page.locator(".jp-NotebookPanel:visible .jp-OutputArea-output img")
        expect(images.first).to_be_visible(timeout=90_000)
        # The page draws its outputs one after another: wait for the last figure.
        expect(images.nth(n_figures - 1)).to_be_visible(timeout=90_000)
        check_images(images, "the executed notebook")

        tab.open_path("runs/coding/leaderboard.html")
        viewer = page.frame_locator(".jp-HTMLViewer:visible iframe")
        images = viewer.locator("img")
        expect(images.first).to_be_visible(timeout=60_000)
        expect(images.nth(n_figures - 1)).to_be_visible(timeout=60_000)
        check_images(images, "the leaderboard page")
