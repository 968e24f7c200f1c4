"""Time ``nbgrader autograde`` against ``squad grade --jobs 2`` on the same class.

Builds the grading fixture course (``tests/fixtures/grading_course``) with classes of
honest submissions (full, partial and zero marks, late ones, odd student ids), copies
it twice, then times, per repeat and on fresh copies:

- nbgrader: ``nbgrader autograde ps1`` (one process, one submission after another);
- the kit: ``squad grade ps1 --jobs 2`` (two workers, every kernel sandboxed).

Per class size (40 and 120 by default), prints the medians, the seconds per submission,
the ratio nbgrader / squad (goal: at least 2.5x faster), the median time of each step
of squad's workers (from their logs) and whether
every gradebook value (scores, comments, late penalties, timestamps) is identical, with
the load average: on a machine busy with other work the ratio understates the gain
(two workers need two free cores). It never fails on timings; it exits 0.

Run: ``.venv/bin/python bench/bench_grading.py [--repeats 1] [--students 40,120]``.
One repeat of both sizes takes about ten minutes on two cores.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support import grading_class as gc  # noqa: E402

GOAL = 2.5


def _load() -> str:
    """The 1-minute load average, where the OS reports one."""
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except (AttributeError, OSError):
        return "n/a"


def _time(
    command: list[str], cwd: Path | None = None, env: dict | None = None
) -> tuple[float, int]:
    """Wall-clock seconds of a command, and its exit status."""
    started = time.perf_counter()
    done = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        print(done.stdout[-2000:], done.stderr[-2000:], file=sys.stderr)
    return seconds, done.returncode


def _steps(course: Path) -> dict[str, float]:
    """Median seconds per worker step, from the per-submission logs squad writes."""
    found: dict[str, list[float]] = {}
    for log in (course / "reports" / "ps1" / "logs").glob("*.log"):
        for line in log.read_text("utf-8", "replace").splitlines():
            if "Kernel started" in line and "waited" in line:
                waited = line.rsplit("waited ", 1)[1].split(" s")[0]
                found.setdefault("kernel wait", []).append(float(waited))
            if "Steps: " in line:
                for part in line.split("Steps: ", 1)[1].split(", "):
                    name, value, _ = part.rsplit(" ", 2)
                    found.setdefault(name, []).append(float(value))
    return {name: statistics.median(values) for name, values in found.items()}


def _compare(base: Path, students: int, repeats: int, jobs: int) -> bool:
    """Time both graders on one class size; print the medians and the ratio."""
    pristine = gc.build_course(base / f"pristine{students}")
    gc.make_class(pristine, students)
    times: dict[str, list[float]] = {"nbgrader": [], "squad": []}
    identical = True
    steps: dict[str, float] = {}
    for repeat in range(repeats):
        a, b = base / f"a{students}-{repeat}", base / f"b{students}-{repeat}"
        shutil.copytree(pristine, a)
        shutil.copytree(pristine, b)
        env = dict(os.environ)
        env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env["PATH"]
        seconds, code_a = _time(
            [sys.executable, "-m", "nbgrader", "autograde", "ps1"], cwd=a, env=env
        )
        times["nbgrader"].append(seconds)
        squad_cmd = [sys.executable, "-m", "squad.cli", "grade", "ps1"]
        squad_cmd += ["--course", str(b), "--jobs", str(jobs), "--no-progress"]
        seconds, code_b = _time(squad_cmd)
        times["squad"].append(seconds)
        same = gc.gradebook_scores(a) == gc.gradebook_scores(b)
        identical = identical and same and code_a == 0 and code_b == 0
        steps = _steps(b)
        print(
            f"{students} submissions, repeat {repeat + 1}: nbgrader "
            f"{times['nbgrader'][-1]:.1f} s, squad {times['squad'][-1]:.1f} s, "
            f"identical gradebooks: {same}, load average {_load()}",
            flush=True,
        )
        shutil.rmtree(a)
        shutil.rmtree(b)
    nbgrader = statistics.median(times["nbgrader"])
    squad = statistics.median(times["squad"])
    ratio = nbgrader / squad
    print(f"{students} submissions, median of {repeats} run(s)")
    print(
        f"  nbgrader autograde        {nbgrader:7.1f} s  "
        f"({nbgrader / students:.2f} s per submission)"
    )
    print(
        f"  squad grade --jobs {jobs}      {squad:7.1f} s  "
        f"({squad / students:.2f} s per submission)"
    )
    print(f"  speed-up                  {ratio:7.2f}x (goal >= {GOAL:g}x)")
    print(f"  gradebooks identical      {identical}")
    profile = ", ".join(f"{name} {value:.2f} s" for name, value in steps.items())
    print(f"  squad worker steps (median per submission): {profile}")
    passed = ratio >= GOAL and identical
    print(f"  {'PASS' if passed else 'MISS'}", flush=True)
    return passed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument(
        "--students",
        default="40,120",
        help="Class sizes, comma-separated (default: 40,120).",
    )
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    sizes = [int(size) for size in args.students.split(",")]
    with tempfile.TemporaryDirectory(prefix="squad-bench-grading-") as folder:
        base = Path(folder)
        base.chmod(0o755)
        for students in sizes:
            _compare(base, students, args.repeats, args.jobs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
