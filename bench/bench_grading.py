"""Time ``nbgrader autograde`` against ``squad grade --jobs 2`` on the same class.

Builds the grading fixture course (``tests/data/grading_course``) with a class of 40
honest submissions (full, partial and zero marks, late ones, odd student ids), copies
it twice, then times, per repeat and on fresh copies:

- nbgrader: ``nbgrader autograde ps1`` (one process, one submission after another);
- the kit: ``squad grade ps1 --jobs 2`` (two workers, every kernel sandboxed).

Prints the medians, the ratio nbgrader / squad (goal: at least 2x faster) and whether
every gradebook value (scores, comments, late penalties, timestamps) is identical, with
the load average: on a machine busy with other work the ratio understates the gain
(two workers need two free cores). It never fails on timings; it exits 0.

Run: ``.venv/bin/python bench/bench_grading.py [--repeats 1] [--students 40]``.
One repeat takes a few minutes on two cores.
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import grading_class as gc  # noqa: E402

GOAL = 2.0


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--students", type=int, default=40)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="squad-bench-grading-") as folder:
        base = Path(folder)
        base.chmod(0o755)
        pristine = gc.build_course(base / "pristine")
        gc.make_class(pristine, args.students)
        times: dict[str, list[float]] = {"nbgrader": [], "squad": []}
        identical = True
        for repeat in range(args.repeats):
            a, b = base / f"a{repeat}", base / f"b{repeat}"
            shutil.copytree(pristine, a)
            shutil.copytree(pristine, b)
            env = dict(os.environ)
            env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env["PATH"]
            seconds, code_a = _time(
                [sys.executable, "-m", "nbgrader", "autograde", "ps1"], cwd=a, env=env
            )
            times["nbgrader"].append(seconds)
            seconds, code_b = _time(
                [
                    sys.executable,
                    "-m",
                    "squad.cli",
                    "grade",
                    "ps1",
                    "--course",
                    str(b),
                    "--jobs",
                    str(args.jobs),
                    "--no-progress",
                ]
            )
            times["squad"].append(seconds)
            same = gc.gradebook_scores(a) == gc.gradebook_scores(b)
            identical = identical and same and code_a == 0 and code_b == 0
            print(
                f"repeat {repeat + 1}: nbgrader {times['nbgrader'][-1]:.1f} s, "
                f"squad {times['squad'][-1]:.1f} s, identical scores: {same}, "
                f"load average {_load()}",
                flush=True,
            )
    nbgrader = statistics.median(times["nbgrader"])
    squad = statistics.median(times["squad"])
    ratio = nbgrader / squad
    print(f"{args.students} submissions, median of {args.repeats} run(s)")
    print(f"  nbgrader autograde        {nbgrader:7.1f} s")
    print(f"  squad grade --jobs {args.jobs}      {squad:7.1f} s")
    print(f"  speed-up                  {ratio:7.2f}x (goal >= {GOAL:g}x)")
    print(f"  scores identical          {identical}")
    print(f"{'PASS' if ratio >= GOAL and identical else 'MISS'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
