"""Suite-wide checks: no process outlives the suite; the notebooks' results are right.

**No survivors.** Every process the tests start inherits the ``SQUAD_TEST_SESSION``
environment variable set here (sandboxed kernels, whose environment is cleared, die with
their parent by construction and are checked by their own tests). When the session ends,
processes that still carry it are survivors: servers, kernels or workers that a test or
the kit failed to stop. The session then fails, naming them.

**Notebook results.** nbval runs every experiment notebook top to bottom;

``--nbval-lax`` only proves that a notebook runs: the committed notebooks carry no
outputs to compare with. So each notebook runs inside a run folder of its own (the
kernel finds it in ``SQUAD_RUN_DIR``, exactly as under ``squad run``), and after its last
cell one more test item, ``<notebook>::results``, reads what the notebook recorded:

* every expected metric is present, finite and inside its range (the ranges hold the
  default configuration's figures with room for library versions, and fail for a model
  that codes at random, a broken split or an imputation that fills in nonsense);
* for the coding notebook, the saved test-set predictions are scored again from the
  shared labels by the leaderboard's own scorer, and must agree with the recorded
  metrics; the recorded dataset checksum must be the catalogue's.
"""

from __future__ import annotations

import math
import os
import shutil
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import pytest

NOTEBOOKS = Path(__file__).parent / "notebooks"

#: Test data (notebooks nbval must not run as tests) and `make run`'s output.
collect_ignore = ["tests/data", "runs"]
#: JupyterHub's spawners (systemdspawner, pwd) import on Linux only, like the hub.
if not sys.platform.startswith("linux"):
    collect_ignore += ["squad/hub/spawner.py"]
#: The challenge server's Django modules import only once Django is configured (by the
#: server, or by the fixtures of tests/challenges/); their doctests are not collected.
collect_ignore += [
    f"squad/challenges/{name}"
    for name in ("api.py", "apps.py", "console.py", "migrations", "models.py")
] + [f"squad/challenges/{name}" for name in ("urls.py", "views.py")]
SESSION_VARIABLE = "SQUAD_TEST_SESSION"

#: Helpers of Python's multiprocessing that end with the test process itself.
_EXITS_WITH_PYTEST = ("multiprocessing.forkserver", "multiprocessing.resource_tracker")


_OPENED = pytest.StashKey[list]()


def _open_checkout_for_all_accounts() -> list[tuple[Path, int]]:
    """Let every account pass through the folders above the checkout and its venv.

    The hub tests run the kit as real Unix accounts, which must reach this checkout. A
    checkout under a private folder (``/root``, a CI workspace) is opened for passing
    through (``o+x``, no listing) for the whole run, before any test starts, so every
    test sees the same permissions; :func:`pytest_unconfigure` closes it again.
    """
    import stat
    import sysconfig

    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return []
    opened = []
    for path in (Path(__file__).parent, Path(sysconfig.get_path("purelib"))):
        for folder in [*reversed(path.resolve().parents), path.resolve()]:
            mode = stat.S_IMODE(folder.stat().st_mode)
            if not mode & stat.S_IXOTH:
                folder.chmod(mode | stat.S_IXOTH)
                opened.append((folder, mode))
    return opened


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # the controller, before any worker starts
        config.stash[_OPENED] = _open_checkout_for_all_accounts()


def pytest_unconfigure(config: pytest.Config) -> None:
    for folder, mode in reversed(config.stash.get(_OPENED, [])):
        folder.chmod(mode)


def _survivors(marker: str) -> list[Any]:
    """Processes other than this one and its own helpers that carry ``marker``."""
    import psutil

    me = psutil.Process()
    found = []
    for process in psutil.process_iter(["pid", "ppid", "cmdline"]):
        if process.pid == me.pid:
            continue
        try:
            if process.environ().get(SESSION_VARIABLE) != marker:
                continue
        except (psutil.Error, OSError):
            continue
        command = " ".join(process.info["cmdline"] or [])
        if process.info["ppid"] == me.pid and any(
            helper in command for helper in _EXITS_WITH_PYTEST
        ):
            continue
        found.append(process)
    return found


@pytest.fixture(scope="session", autouse=True)
def no_process_outlives_the_suite():
    """Mark every process the suite starts; fail the session if one is left running."""
    import psutil

    marker = uuid.uuid4().hex
    previous = os.environ.get(SESSION_VARIABLE)
    os.environ[SESSION_VARIABLE] = marker
    yield
    try:
        # Stopping takes a moment (kernels shut down, workers exit): wait for it.
        _, alive = psutil.wait_procs(_survivors(marker), timeout=60)
        if alive:
            lines = []
            for process in alive:
                try:
                    command = " ".join(process.cmdline())
                except psutil.Error:
                    continue  # ended after all
                lines.append(f"pid {process.pid}: {command[:300]}")
            if lines:
                survivors = "\n".join(lines)
                pytest.fail(f"processes started by the suite still run:\n{survivors}")
    finally:
        if previous is None:
            os.environ.pop(SESSION_VARIABLE, None)
        else:
            os.environ[SESSION_VARIABLE] = previous


#: Expected results of each notebook with its default parameters: metric -> (low, high).
#: A dotted name looks inside a recorded dict (``hourly_pay.rmse``).
EXPECTED: dict[str, dict[str, tuple[float, float]]] = {
    # soc2010, stratified split, complement_nb (0.477 accuracy here); 369 unit groups,
    # so coding at random scores about 0.003 and the commonest group about 0.02.
    "coding.ipynb": {
        "n": (5709, 5709),
        "accuracy": (0.44, 0.52),
        "accuracy_level_1": (0.60, 0.70),
        "top_5_accuracy": (0.75, 0.85),
        "automation_rate_95": (0.0, 0.05),
    },
    # lfs_synthetic_missing, hot_deck. Complete cases miss 14 % of the pay total; the
    # imputed total is within 1 %; domain means and totals stay within a few per cent.
    "imputation.ipynb": {
        "pay_rmse": (10.0, 20.0),
        "pay_domain_error": (0.0, 0.03),
        "hourly_pay.relative_error_weighted_total": (-0.03, 0.03),
        "hours_worked.relative_error_weighted_total": (-0.02, 0.02),
        "domain_total_hours.mean_absolute_relative_error": (0.0, 0.01),
        "education.accuracy": (0.25, 0.45),
    },
}

_RUN_DIRS: dict[str, Path] = {}


def _notebook_name(item: pytest.Item) -> str | None:
    path = getattr(item, "path", None)
    if path is None or path.suffix != ".ipynb" or path.parent != NOTEBOOKS:
        return None
    return path.name


class NotebookResults(pytest.Item):
    """Checks what one notebook recorded while nbval ran it."""

    def __init__(self, *, expected: dict[str, tuple[float, float]], **kwargs):
        super().__init__(**kwargs)
        self.expected = expected

    def runtest(self) -> None:
        from squad.record import read_metrics_log

        run_dir = _RUN_DIRS.get(self.parent.path.name)
        assert run_dir is not None, "the notebook's cells did not run"
        metrics, _ = read_metrics_log(run_dir)
        problems = []
        for name, (low, high) in self.expected.items():
            value: Any = metrics
            for key in name.split("."):
                value = value.get(key) if isinstance(value, dict) else None
            if not isinstance(value, int | float) or not math.isfinite(value):
                problems.append(f"{name} was not recorded as a number: {value!r}")
            elif not low <= value <= high:
                problems.append(f"{name} = {value:.4f} is outside [{low}, {high}]")
        if self.parent.path.name == "coding.ipynb":
            problems += _check_coding_run(run_dir, metrics)
        assert problems == [], "\n".join(problems)

    def reportinfo(self) -> tuple[Any, int, str]:
        return self.path, 0, f"{self.parent.path.name}: recorded results"


def _check_coding_run(run_dir: Path, metrics: dict[str, Any]) -> list[str]:
    """The predictions score as recorded, on the catalogue's own data."""
    import pandas as pd

    from squad.board.scoring import compare_metrics, score_predictions
    from squad.data.datasets import dataset_checksum

    dataset = metrics.get("dataset") or {}
    problems = []
    if dataset.get("sha256") != dataset_checksum(dataset.get("name", "soc2010")):
        problems.append(f"recorded dataset {dataset!r} is not the catalogue's")
    predictions = run_dir / "predictions.parquet"
    if not predictions.is_file():
        return [*problems, "no predictions were saved in the run folder"]
    scored = score_predictions(
        pd.read_parquet(predictions),
        dataset["name"],
        protocol=dataset.get("protocol") or None,
    )
    differ = compare_metrics(metrics, scored)
    if differ:
        problems.append(f"recorded metrics disagree with the predictions: {differ}")
    return problems


#: The test files that take longest (seconds of one worker, measured on a quiet 2-core
#: machine with `--durations`), longest first. pytest-xdist hands out whole files in
#: collection order (``--dist loadfile --no-loadscope-reorder``): starting with the long
#: ones lets the short ones fill in at the end, so both workers finish together instead
#: of one running the hub or the course workflow alone for the last minutes.
LONGEST_FIRST = (
    "tests/test_hub.py",
    "tests/test_course_workflow.py",
    "tests/test_browser.py",
    "tests/test_grading.py",
    "tests/test_grading_hostile.py",
    "tests/test_experiments.py",
    "tests/test_readme.py",
    "tests/test_hidden_tests.py",
    "tests/test_cli.py",
    "tests/test_lab.py",
    "tests/test_leaderboard.py",
    "tests/test_grading_isolation.py",
    "tests/test_sandbox.py",
)


def _longest_first(item: pytest.Item) -> int:
    relative = item.path.relative_to(Path(__file__).parent).as_posix()
    try:
        return LONGEST_FIRST.index(relative)
    except ValueError:
        return len(LONGEST_FIRST)


def pytest_collection_modifyitems(session, config, items) -> None:
    """Put the longest files first; add a results check after each expected notebook."""
    items.sort(key=_longest_first)  # stable: each file keeps its own order
    last: dict[str, int] = {}
    for index, item in enumerate(items):
        name = _notebook_name(item)
        if name in EXPECTED:
            last[name] = index
    for name, index in sorted(last.items(), key=lambda kv: -kv[1]):
        notebook = items[index].parent
        check = NotebookResults.from_parent(
            notebook, name="results", expected=EXPECTED[name]
        )
        items.insert(index + 1, check)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before a notebook's kernel starts, give it a run folder of its own."""
    name = _notebook_name(item)
    if name in EXPECTED and name not in _RUN_DIRS:
        _RUN_DIRS[name] = Path(
            tempfile.mkdtemp(prefix=f"squad-nbval-{Path(name).stem}-")
        )
        os.environ["SQUAD_RUN_DIR"] = str(_RUN_DIRS[name])


def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """After the results check, forget the run folder."""
    if isinstance(item, NotebookResults):
        os.environ.pop("SQUAD_RUN_DIR", None)
        run_dir = _RUN_DIRS.get(item.parent.path.name)
        if run_dir is not None:
            shutil.rmtree(run_dir, ignore_errors=True)
