"""Build the grading fixture course and its classes of submissions.

Used by ``tests/grading/``, ``tests/test_cli.py`` and ``bench/bench_grading.py``. The
course is ``tests/fixtures/grading_course`` (assignment ``ps1``: three autograded
questions with visible and hidden tests, one question graded by hand, a data file).
Submissions are made from the release notebook by replacing the answer cells with one
of a few variants per question, so the class has full marks, partial marks, failures
and untouched notebooks. :func:`make_hostile` adds broken and hostile submissions.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

COURSE = Path(__file__).parents[1] / "fixtures" / "grading_course"
ASSIGNMENT = "ps1"
DUEDATE = dt.datetime(2024, 3, 1, 17, 0)
UNTOUCHED = None

MEAN = {
    "right": "def mean(values):\n    return sum(values) / len(values)",
    "statistics": "import statistics\n\n\ndef mean(values):\n"
    "    return statistics.mean(values)",
    "floor": "def mean(values):\n    return sum(values) // len(values)",
    "wrong": "def mean(values):\n    return sum(values) / (len(values) + 1)",
    "warns": "import warnings\n\n\ndef mean(values):\n"
    "    warnings.warn('computing a mean')\n    return sum(values) / len(values)",
    "untouched": UNTOUCHED,
}
READ = {
    "right": "def read_prices(path):\n    with open(path, newline='') as handle:\n"
    "        return [float(row['price']) for row in csv.DictReader(handle)]",
    "split": "def read_prices(path):\n    with open(path) as handle:\n"
    "        lines = handle.read().splitlines()[1:]\n"
    "    return [float(line.split(',')[1]) for line in lines]",
    "strings": "def read_prices(path):\n    with open(path, newline='') as handle:\n"
    "        return [row['price'] for row in csv.DictReader(handle)]",
    "short": "def read_prices(path):\n    with open(path, newline='') as handle:\n"
    "        return [float(row['price']) for row in csv.DictReader(handle)][:-1]",
    "untouched": UNTOUCHED,
}
NORMALISE = {
    "right": "def normalise(code):\n    cleaned = code.replace(' ', '').replace('-', '')\n"
    "    return cleaned if len(cleaned) == 4 and cleaned.isdigit() else None",
    "spaces": "def normalise(code):\n    cleaned = code.strip()\n"
    "    return cleaned if len(cleaned) == 4 and cleaned.isdigit() else None",
    "no_check": "def normalise(code):\n"
    "    return code.replace(' ', '').replace('-', '')",
    "identity": "def normalise(code):\n    print('normalising', code)\n    return code",
    "digits": "def normalise(code):\n    return code if code.isdigit() else None",
    "untouched": UNTOUCHED,
}
WRITTEN = {
    "answer": "Coffee at 9.50 is far above the rest; I would check the unit first.",
    "untouched": UNTOUCHED,
}
#: Each question's grade id and its answer variants.
QUESTIONS = (
    ("q1_mean", MEAN),
    ("q2_read", READ),
    ("q3_normalise", NORMALISE),
    ("q4_written", WRITTEN),
)
#: Student ids that are not plain ASCII words (nbgrader and squad must both cope).
ODD_IDS = ("ana maria", "José", "Łucja-K", "学生07")


def _run(
    module: str, *args: str, cwd: Path | None = None, path: str | None = None
) -> subprocess.CompletedProcess:
    """Run ``python -m MODULE ARGS`` with this interpreter's scripts first on PATH."""
    env = dict(os.environ)
    scripts = str(Path(sys.executable).parent)
    env["PATH"] = path if path is not None else scripts + os.pathsep + env["PATH"]
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    """Run ``nbgrader ARGS`` in the course folder with this interpreter."""
    return _run("nbgrader", *args, cwd=course)


def squad(*args: str, path: str | None = None) -> subprocess.CompletedProcess:
    """Run the real ``squad`` command; ``path`` replaces PATH (e.g. without bwrap)."""
    return _run("squad.cli", *args, path=path)


def grade_both(
    plain: Path, graded: Path, *squad_args: str
) -> subprocess.CompletedProcess:
    """Grade ``plain`` with ``nbgrader autograde`` and ``graded`` with ``squad grade``.

    Both run at once (nbgrader keeps one core busy, squad's workers share both);
    nbgrader must succeed. Returns squad's completed process.
    """
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:
        done = pool.submit(nbgrader, plain, "autograde", ASSIGNMENT)
        run = pool.submit(
            squad, "grade", ASSIGNMENT, "--course", str(graded), *squad_args
        )
        done, run = done.result(), run.result()
    if done.returncode != 0:
        raise RuntimeError(f"nbgrader autograde failed:\n{done.stderr[-3000:]}")
    return run


def build_course(dest: Path) -> Path:
    """Copy the fixture course to ``dest``, release ``ps1`` and set its due date."""
    from nbgrader.api import Gradebook

    from squad.course.build import run_nbgrader

    shutil.copytree(COURSE, dest)
    dest.chmod(0o755)
    run_nbgrader(["generate_assignment", ASSIGNMENT, "--force"], course_dir=dest)
    db_url = "sqlite:///" + (dest / "gradebook.db").as_posix()
    with Gradebook(db_url, "squad-grading-fixture") as gb:
        gb.update_or_create_assignment(ASSIGNMENT, duedate=DUEDATE)
    return dest


def release_notebook(course: Path) -> nbformat.NotebookNode:
    return nbformat.read(course / "release" / ASSIGNMENT / "ps1.ipynb", as_version=4)


def cell(nb: nbformat.NotebookNode, grade_id: str) -> nbformat.NotebookNode:
    for item in nb.cells:
        if item.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            return item
    raise KeyError(grade_id)


def answer(course: Path, choice: dict[str, str]) -> nbformat.NotebookNode:
    """The release notebook with the chosen variant in each answer cell."""
    nb = release_notebook(course)
    for grade_id, table in QUESTIONS:
        source = table[choice.get(grade_id, next(iter(table)))]
        if source is not UNTOUCHED:
            cell(nb, grade_id).source = source
    return nb


def submit(
    course: Path,
    student: str,
    notebook: nbformat.NotebookNode | bytes | None,
    *,
    late: bool = False,
    name: str = "ps1.ipynb",
    extra: dict[str, bytes] | None = None,
) -> Path:
    """Write one submission folder (notebook, timestamp.txt, the data file)."""
    folder = course / "submitted" / student / ASSIGNMENT
    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(notebook, bytes):
        (folder / name).write_bytes(notebook)
    elif notebook is not None:
        nbformat.write(notebook, folder / name)
    stamp = DUEDATE + (dt.timedelta(hours=5) if late else -dt.timedelta(hours=5))
    (folder / "timestamp.txt").write_text(stamp.strftime("%Y-%m-%d %H:%M:%S.%f UTC"))
    shutil.copy(course / "release" / ASSIGNMENT / "prices.csv", folder / "prices.csv")
    for relative, data in (extra or {}).items():
        (folder / relative).write_bytes(data)
    return folder


def make_class(course: Path, n: int = 40, seed: int = 7) -> dict[str, dict]:
    """Write ``n`` honest submissions with varied answers; return their choices."""
    rng = random.Random(seed)
    order = [
        (grade_id, variant)
        for grade_id, table in QUESTIONS
        if grade_id != "q4_written"
        for variant in table
    ]
    ids = [*ODD_IDS, *(f"s{i:02d}" for i in range(n - len(ODD_IDS)))][:n]
    choices = {}
    for index, student in enumerate(ids):
        if index == 0:
            choice = {}  # full marks
        elif index == 1:
            choice = dict.fromkeys(
                ("q1_mean", "q2_read", "q3_normalise", "q4_written"), "untouched"
            )
        elif index < 2 + max(len(table) for _, table in QUESTIONS):
            # every variant of every question appears among the first few students:
            # the questions' variants are staggered so that each student mixes them
            choice = {
                grade_id: list(table)[(index - 2 + offset) % len(table)]
                for offset, (grade_id, table) in enumerate(QUESTIONS)
            }
        else:  # the combinations are shuffled
            choice = {
                grade_id: list(table)[(index + rng.randrange(len(table))) % len(table)]
                for grade_id, table in QUESTIONS
            }
            choice[order[index % len(order)][0]] = order[index % len(order)][1]
        choices[student] = choice
        submit(course, student, answer(course, choice), late=index % 13 == 6)
    return choices


def gradebook_scores(course: Path) -> dict[tuple[str, str], tuple]:
    """(student, cell) -> (auto_score, needs_manual_grade, manual_score)."""
    from nbgrader.api import Gradebook

    db_url = "sqlite:///" + (course / "gradebook.db").as_posix()
    found = {}
    with Gradebook(db_url, "squad-grading-fixture") as gb:
        for submission in gb.assignment_submissions(ASSIGNMENT):
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    found[(submission.student.id, grade.name)] = (
                        grade.auto_score,
                        grade.needs_manual_grade,
                        grade.manual_score,
                    )
                for comment in notebook.comments:
                    found[(submission.student.id, "comment:" + comment.name)] = (
                        comment.auto_comment,
                        comment.manual_comment,
                    )
                found[(submission.student.id, "late:" + notebook.name)] = (
                    notebook.late_submission_penalty,
                )
            found[(submission.student.id, "timestamp")] = (submission.timestamp,)
    return found


TWIN_WRONG = {"q1_mean": "wrong", "q2_read": "strings", "q3_normalise": "identity"}
TAMPER = {
    "h-monkey-assert": "import builtins\n"
    "builtins.AssertionError = type('AssertionError', (Exception,), {})\n"
    "get_ipython().set_custom_exc((Exception,), lambda *args, **kwargs: None)",
    "h-monkey-builtins": "import builtins\n"
    "builtins.all = lambda x: True\nbuiltins.abs = lambda x: 0\n"
    "builtins.sum = lambda values, start=0: 23.75 if type(values) is list else 4",
    "h-shadow-builtins": "len = lambda x: 6\nall = lambda x: True\n"
    "abs = lambda x: 0\nsum = lambda *a, **k: 4",
    "h-monkey-traceback": "from IPython.core.interactiveshell import InteractiveShell\n"
    "InteractiveShell.showtraceback = lambda *a, **k: None\n"
    "InteractiveShell._showtraceback = lambda *a, **k: None\n"
    "import sys\nsys.excepthook = lambda *a: None",
    "h-monkey-ipython": "def _blank(lines):\n"
    "    text = ''.join(lines)\n"
    "    return ['pass\\n'] if 'assert' in text or 'passed' in text else lines\n"
    "get_ipython().input_transformers_cleanup.append(_blank)",
    "h-monkey-thread": "import threading, time\n"
    "def _blank(lines):\n"
    "    text = ''.join(lines)\n"
    "    return ['pass\\n'] if 'assert' in text or 'passed' in text else lines\n"
    "def _keep():\n"
    "    hooks = get_ipython().input_transformers_cleanup\n"
    "    while True:\n"
    "        if _blank not in hooks:\n"
    "            hooks.append(_blank)\n"
    "        time.sleep(0.0005)\n"
    "threading.Thread(target=_keep, daemon=True).start()",
}


def _with(
    nb: nbformat.NotebookNode, grade_id: str, extra: str
) -> nbformat.NotebookNode:
    target = cell(nb, grade_id)
    target.source = target.source + "\n\n" + extra
    return nb


def make_hostile(course: Path, port: int, only: set[str] | None = None) -> list[str]:
    """Write the broken and hostile submissions (and their honest twins).

    ``only`` keeps just these students. Returns the student ids written.
    """
    full = lambda: answer(course, {})  # noqa: E731
    wrong = lambda: answer(course, TWIN_WRONG)  # noqa: E731
    made = {
        "h-twin": full(),
        "h-twin-wrong": wrong(),
        "h space id": full(),
        "h-ñandú": full(),
        "h-loop": _with(full(), "q1_mean", "while True:\n    pass"),
        "h-loop-stubborn": _with(
            full(),
            "q1_mean",
            "import time\nwhile True:\n    try:\n        time.sleep(100)\n"
            "    except KeyboardInterrupt:\n        pass",
        ),
        "h-memory": _with(full(), "q1_mean", "hog = bytearray(8 * 1024**3)"),
        "h-memory-forks": _with(
            full(),
            "q2_read",
            "import os, time\nfor _ in range(4):\n    if os.fork() == 0:\n"
            "        block = bytearray(300 * 1024**2)\n"
            "        for i in range(0, len(block), 4096):\n            block[i] = 1\n"
            "        time.sleep(60)\n        os._exit(0)\ntime.sleep(30)",
        ),
        "h-fork-bomb": _with(
            full(), "q3_normalise", "import os\nwhile True:\n    os.fork()"
        ),
        "h-sys-exit": _with(full(), "q3_normalise", "import sys\nsys.exit(3)"),
        "h-os-exit": _with(full(), "q2_read", "import os\nos._exit(0)"),
        "h-segfault": _with(full(), "q2_read", "import ctypes\nctypes.string_at(0)"),
        "h-output": _with(
            full(),
            "q1_mean",
            # 20 MB: twenty times what a cell may keep, printed well within the cell's
            # time limit even on a busy machine.
            "for _ in range(20):\n    print('x' * 1_000_000, flush=True)",
        ),
        "h-edited-test": wrong(),
        "h-edited-hidden": wrong(),
        "h-cell-type": full(),
        "h-duplicate-ids": wrong(),
        "h-nbformat3": full(),
        "h-extra-files": full(),
        # Files beside the notebook: a kernel launcher that would run before the
        # grader's guard (it ends the kernel), and a helper module the answer imports.
        "h-launcher": wrong(),
        "h-helper-import": full(),
    }
    cell(made["h-helper-import"], "q1_mean").source = "from helper_mean import mean"
    cell(made["h-edited-test"], "q1_tests").source = "assert True"
    made["h-edited-hidden"] = answer(course, {**TWIN_WRONG, "q2_read": "right"})
    cell(
        made["h-edited-hidden"], "q2_read"
    ).source = "def read_prices(path):\n    return [1.0] * 6"
    cell(made["h-edited-hidden"], "q2_tests").source += "\nprint('edited by me')"
    made["h-cell-type"].cells[
        made["h-cell-type"].cells.index(cell(made["h-cell-type"], "q1_tests"))
    ] = nbformat.v4.new_markdown_cell(
        "assert True", metadata=cell(made["h-cell-type"], "q1_tests").metadata
    )
    fake = nbformat.v4.new_code_cell(
        "assert True",
        metadata=json.loads(
            json.dumps(cell(made["h-duplicate-ids"], "q1_tests").metadata)
        ),
    )
    made["h-duplicate-ids"].cells.append(fake)
    for name, code in TAMPER.items():
        made[name] = _with(wrong(), "q1_mean", code)
    made["h-snoop"] = _with(full(), "q1_mean", snoop_code(course, port, "h-twin"))
    deleted = full()
    deleted.cells.remove(cell(deleted, "q2_tests"))
    made["h-deleted-test"] = deleted
    broken = {
        "h-renamed": None,
        "h-invalid-json": b'{"cells": [',
        "h-empty": b"",
        "h-link": None,
    }
    keep = set(made) | set(broken) if only is None else set(only)
    made = {k: v for k, v in made.items() if k in keep}
    for student, nb in made.items():
        if student == "h-nbformat3":
            v3 = nbformat.writes(nbformat.convert(nb, 3)).encode()
            submit(course, student, v3)
        elif student == "h-extra-files":
            folder = submit(
                course,
                student,
                nb,
                extra={
                    "helper.py": b"VALUE = 1\n",
                    "notes.txt": b"my notes",
                    "prices.csv": b"item,price\nbread,1.00\n",
                },
            )
            (folder / "gradebook.db").symlink_to(course / "gradebook.db")
            (folder / "course").symlink_to(course, target_is_directory=True)
        elif student == "h-launcher":
            launcher = b"import os\nos._exit(3)\n"
            submit(course, student, nb, extra={"ipykernel_launcher.py": launcher})
        elif student == "h-helper-import":
            helper = MEAN["right"].encode() + b"\n"
            submit(course, student, nb, extra={"helper_mean.py": helper})
        else:
            submit(course, student, nb)
    for student, data in broken.items():
        if student not in keep:
            continue
        if student == "h-renamed":
            submit(course, student, full(), name="ps1 (1).ipynb")
        elif student == "h-link":  # a student folder that leads out of submitted/
            (course / "submitted" / student).symlink_to(course / "source")
        else:
            submit(course, student, data)
    return sorted(k for k in [*made, *broken] if k in keep)


def snoop_code(course: Path, port: int, other: str) -> str:
    """Code that tries to read and write the course, reach the network and escape."""
    targets = {
        "gradebook": course / "gradebook.db",
        "source": course / "source" / ASSIGNMENT / "ps1.ipynb",
        "other": course / "submitted" / other / ASSIGNMENT / "ps1.ipynb",
    }
    return (
        "import json as _json, os as _os, signal as _signal, socket as _socket\n"
        "import subprocess as _subprocess\n"
        f"_targets = {json.dumps({k: str(v) for k, v in targets.items()})}\n"
        "_found = {}\n"
        "for _key, _path in _targets.items():\n"
        "    try:\n"
        "        with open(_path, 'rb') as _handle:\n"
        "            _found['read_' + _key] = len(_handle.read())\n"
        "    except OSError as _err:\n"
        "        _found['read_' + _key] = type(_err).__name__\n"
        "    try:\n"
        "        with open(_path, 'ab') as _handle:\n"
        "            _handle.write(b'tampered')\n"
        "        _found['write_' + _key] = 'written'\n"
        "    except OSError as _err:\n"
        "        _found['write_' + _key] = type(_err).__name__\n"
        "try:\n"
        f"    _socket.create_connection(('127.0.0.1', {port}), timeout=2).close()\n"
        "    _found['network'] = 'connected'\n"
        "except OSError as _err:\n"
        "    _found['network'] = type(_err).__name__\n"
        "_found['secret'] = _os.environ.get('SQUAD_TEST_SECRET', 'absent')\n"
        "try:\n"
        "    _os.kill(_os.getppid(), _signal.SIGKILL)\n"
        "    _found['kill_parent'] = 'sent'\n"
        "except OSError as _err:\n"
        "    _found['kill_parent'] = type(_err).__name__\n"
        "_subprocess.Popen(['sleep', '317'], start_new_session=True)\n"
        "print('SNOOP ' + _json.dumps(_found))"
    )
