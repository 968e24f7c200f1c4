"""Helpers for the browser tests: a kit copy, a Chromium browser and failure artifacts.

Used by ``tests/course/test_lab_browser.py`` and the board's and the hub's browser
tests. The browser is Debian's Chromium driven by Playwright for Python (Playwright's
own browser download is not used). When a step fails, the page's screenshot, its HTML,
the browser console and the server's log are saved under ``test-artifacts/browser/``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nbformat
import numpy as np

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "browser"
CHROMIUM = Path(os.environ.get("SQUAD_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
INSTALL_HINT = (
    "Install the browser with `make browser-deps` (Debian/Ubuntu: `sudo apt-get install "
    "chromium`; elsewhere set SQUAD_CHROMIUM to a Chromium or Chrome executable) and "
    "Playwright for Python with `make install`."
)

_SOLUTION_MARKER = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$")


# --------------------------------------------------------------------------- the kit copy
def copy_course(destination: Path) -> Path:
    """Copy the kit's course (configuration and sources only) to ``destination/exercises``."""
    course = destination / "exercises"
    course.mkdir(parents=True)
    shutil.copy2(REPO / "exercises" / "nbgrader_config.py", course)
    shutil.copytree(
        REPO / "exercises" / "source",
        course / "source",
        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"),
    )
    return course


def script_env() -> dict[str, str]:
    """This process's environment with this interpreter's scripts first on PATH.

    nbgrader's gradebook runs the ``alembic`` command, found on PATH.
    """
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join(
        [str(Path(sys.executable).parent), env.get("PATH", "")]
    )
    return env


def nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    """Run ``nbgrader ARGS`` in ``course`` with this interpreter; fail with its log."""
    result = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=course,
        env=script_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        msg = f"nbgrader {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
        raise AssertionError(msg)
    return result


def _lower_priority() -> None:
    os.nice(10)


def background_popen(command: list[str], **options) -> subprocess.Popen:
    """Start work the browser scenarios need later, at a lower CPU priority.

    The server, its kernels and the browser, which a scenario waits on, come first.
    Standard error goes with standard output.
    """
    if os.name == "posix":
        options["preexec_fn"] = _lower_priority
    return subprocess.Popen(
        command, env=script_env(), stderr=subprocess.STDOUT, **options
    )


def start_nbgrader(course: Path, *args: str, log: Path) -> subprocess.Popen:
    """Start ``nbgrader ARGS`` in ``course`` in the background, logging to ``log``."""
    with open(log, "wb") as handle:
        return background_popen(
            [sys.executable, "-m", "nbgrader", *args], cwd=course, stdout=handle
        )


def solutions(source_notebook: Path) -> dict[str, str]:
    """Map each answer cell's ``grade_id`` to the solution written in the source notebook."""
    notebook = nbformat.read(source_notebook, as_version=4)
    answers = {}
    for cell in notebook.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            lines = cell.source.splitlines()
            kept = [line for line in lines if not _SOLUTION_MARKER.match(line)]
            answers[meta["grade_id"]] = "\n".join(kept)
    return answers


def answer_notebook(
    release_notebook: Path,
    answers: dict[str, str],
    destination: Path,
) -> Path:
    """Write a copy of a release notebook with some answer cells filled in."""
    notebook = nbformat.read(release_notebook, as_version=4)
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = answers[grade_id]
    destination.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, destination)
    return destination


def submit(
    course: Path, assignment: str, student: str, notebook: Path, name: str
) -> Path:
    """Place ``notebook`` as ``student``'s submission ``name`` of ``assignment``."""
    folder = course / "submitted" / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    shutil.copy2(notebook, target)
    (folder / "timestamp.txt").write_text("2024-03-01 12:00:00.000000 UTC\n")
    return target


# --------------------------------------------------------------------------- the browser
def launch_chromium(playwright):
    """Start Debian's Chromium headless; fail with what to install when it cannot start."""
    if not CHROMIUM.exists():
        msg = f"Chromium is not installed at {CHROMIUM}. {INSTALL_HINT}"
        raise RuntimeError(msg)
    try:
        return playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
    except Exception as err:  # Playwright raises its own Error type
        first = str(err).strip().splitlines()[0] if str(err).strip() else repr(err)
        msg = f"Chromium at {CHROMIUM} could not be started: {first}. {INSTALL_HINT}"
        raise RuntimeError(msg) from err


class ConsoleLog:
    """Collect a page's console messages and uncaught errors."""

    def __init__(self, page) -> None:
        self.lines: list[str] = []
        page.on("console", lambda m: self.lines.append(f"[{m.type}] {m.text}"))
        page.on("pageerror", lambda e: self.lines.append(f"[pageerror] {e}"))

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


@contextlib.contextmanager
def artifacts_on_failure(
    name: str,
    page,
    console: ConsoleLog,
    *,
    server_log: Path | None = None,
    about: str | None = None,
) -> Iterator[None]:
    """On an exception, save a screenshot, the page's HTML, the console and server logs.

    With ``about``, the server log's last lines that name it, or that warn or fail,
    are added to the exception as a note: CI shows the report, not the saved files.
    """
    try:
        yield
    except BaseException as err:
        if about is not None and server_log is not None and server_log.exists():
            err.add_note(log_lines_about(server_log, about))
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(Exception):
            page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        with contextlib.suppress(Exception):
            (ARTIFACTS / f"{name}.html").write_text(page.content(), encoding="utf-8")
        (ARTIFACTS / f"{name}.console.log").write_text(console.text(), encoding="utf-8")
        if server_log is not None and server_log.exists():
            shutil.copy2(server_log, ARTIFACTS / f"{name}.server.log")
        raise


def log_lines_about(log: Path, about: str, last: int = 40) -> str:
    """The last ``last`` lines of ``log`` that name ``about``, warn, fail or trace back."""
    marks = (about, "[W ", "[E ", "[C ", "Traceback", "Error")
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    picked = [line for line in lines if any(mark in line for mark in marks)]
    return f"{log.name}, lines about {about} or trouble:\n" + "\n".join(picked[-last:])


def image_content(png: bytes) -> tuple[int, float]:
    """Return (distinct colours, share of pixels unlike the commonest colour)."""
    from PIL import Image

    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).reshape(-1, 3)
    colours, counts = np.unique(pixels, axis=0, return_counts=True)
    return len(colours), 1.0 - counts.max() / counts.sum()


def check_images(images, where: str) -> None:
    """Every image has loaded (natural width > 0) and shows a picture, not a blank."""
    # decode() resolves once the picture is loaded and decoded (and fails if it is
    # broken): a condition to wait on, where naturalWidth alone races the loading.
    sizes = [
        images.nth(index).evaluate(
            "e => e.decode().then(() => [e.naturalWidth, e.naturalHeight])"
        )
        for index in range(images.count())
    ]
    for index, (width, height) in enumerate(sizes):
        assert width > 0 and height > 0, f"image {index} in {where} did not load"
        n_colours, drawn = image_content(images.nth(index).screenshot())
        assert n_colours >= 16 and drawn >= 0.02, (
            f"image {index} in {where} looks empty: {n_colours} colours, "
            f"{drawn:.1%} of pixels drawn"
        )


def follow_formgrader_link(scope, link: str, arrives_at: str) -> None:
    """Follow a link of Formgrader's pages and wait until the page it leads to shows.

    The link is followed with the keyboard: a click can land on Formgrader's fixed
    navbar when the page has scrolled under it. The step ends only when the new page's
    breadcrumb reads ``arrives_at``: the page being left may hold a link of the same
    name (Manage Assignments links each assignment to its source folder), so the next
    step must not start there.
    """
    from playwright.sync_api import expect

    scope.get_by_role("link", name=link, exact=True).press("Enter")
    active = scope.locator(".breadcrumb li.active")
    expect(active).to_have_text(arrives_at, timeout=60_000)


def save_manual_score(page, scope, grading_frame, grade_id: str, score: float) -> None:
    """Type a score into Formgrader's grading page and wait until Formgrader saved it.

    ``scope`` holds the page's elements (the page, or a frame locator when Formgrader
    sits in JupyterLab's tab); ``grading_frame()`` returns the frame that runs its
    script, once the page shows. The page fills the
    score boxes from the gradebook once it has loaded; a score typed before that would
    be overwritten. The box then gets the event Formgrader saves on, its ``change``
    event (what leaving the box fires), and the page's own save request must be
    answered. Nothing is clicked: the page scrolls to the box, and whatever sits near
    it may be under Formgrader's fixed navbar. (Escape, Formgrader's "defocus" key, is
    bound only to inputs that existed when its page script started.)
    """
    from playwright.sync_api import expect

    box = scope.locator(f"input.score#{grade_id}")
    expect(box).to_be_visible(timeout=60_000)
    grading_frame().wait_for_function(
        "() => window.formgrader && formgrader.grades && formgrader.grades.loaded",
        timeout=60_000,
    )
    with page.expect_response(
        lambda r: "/api/grade/" in r.url and r.request.method == "PUT",
        timeout=60_000,
    ) as saved:
        box.fill(str(score))
        box.dispatch_event("change")
    assert saved.value.ok, f"saving the grade answered {saved.value.status}"


def read_json(path: Path) -> dict:
    """Read a JSON file."""
    return json.loads(path.read_text(encoding="utf-8"))


#: JupyterLab's plugin that asks about Jupyter news and update checks.
NOTIFICATION = "@jupyterlab/apputils-extension:notification"


def effective_settings(answer: dict) -> dict:
    """A plugin's settings as JupyterLab's page reads them from the settings API: the
    user's own over the defaults (the schema's, with the server's overrides applied)."""
    schema = answer["schema"]["properties"]
    defaults = {name: spec.get("default") for name, spec in schema.items()}
    return defaults | answer["settings"]
