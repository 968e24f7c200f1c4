"""Grade a large class: seconds per submission at 1 and 2 workers and on Dask, memory.

Builds the grading fixture course (``tests/fixtures/grading_course``) with a class of honest
submissions (300 by default), then grades a fresh copy of it with

- ``squad grade --jobs 1`` (one local worker),
- ``squad grade --jobs 2`` (two local workers),
- ``squad grade --scheduler ADDRESS`` on a local Dask cluster of 2 worker processes
  (one thread each), started by this script;

and prints, for each: the wall time, the seconds per submission, the grader process's
resident memory when a quarter, half and 90 % of the class was graded (a flat line means
memory does not grow with the class; the report's libraries load after that) and its
peak, and whether every gradebook
value is identical to the first mode's. It never fails on timings; it exits 0.

Run: ``.venv/bin/python bench/bench_grading_scale.py [--students 300]
[--modes 1,2,dask]``. On two cores, 300 submissions take about 15 minutes in all.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support import grading_class as gc  # noqa: E402


def _load() -> str:
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except (AttributeError, OSError):
        return "n/a"


def _grade(course: Path, n: int, extra: list[str]) -> dict:
    """Run one ``squad grade``; sample its memory against its progress."""
    command = [sys.executable, "-m", "squad.cli", "grade", "ps1", "--course"]
    command += [str(course), "--no-progress", *extra]
    logs = course / "reports" / "ps1" / "logs"
    started = time.perf_counter()
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    watched = psutil.Process(process.pid)
    samples: list[tuple[int, int]] = []  # (submissions done, resident bytes)
    while process.poll() is None:
        try:
            rss = watched.memory_info().rss
        except psutil.Error:
            break
        done = sum(1 for _ in logs.glob("*.log")) if logs.is_dir() else 0
        samples.append((done, rss))
        time.sleep(0.5)
    _, err = process.communicate()
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        print(err[-2000:], file=sys.stderr)

    def at(share: float) -> float:
        wanted = [rss for done, rss in samples if done >= share * n]
        return (wanted[0] if wanted else samples[-1][1]) / 2**20 if samples else 0.0

    return {
        "seconds": seconds,
        "code": process.returncode,
        # 90 %, not 100 %: the grader loads the class report's libraries (pandas,
        # matplotlib: about 70 MB) while the last submissions grade.
        "rss": [at(0.25), at(0.5), at(0.9)],
        "peak": max((rss for _, rss in samples), default=0) / 2**20,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=300)
    parser.add_argument("--modes", default="1,2,dask")
    args = parser.parse_args()
    n = args.students
    with tempfile.TemporaryDirectory(prefix="squad-bench-scale-") as folder:
        base = Path(folder)
        base.chmod(0o755)
        pristine = gc.build_course(base / "pristine")
        gc.make_class(pristine, n)
        first = None
        print(f"{n} submissions of ps1, load average {_load()} at the start")
        print(
            "mode        wall s   s/submission    grader MB at 25/50/90 %   peak  same"
        )
        for mode in args.modes.split(","):
            course = base / f"course-{mode}"
            shutil.copytree(pristine, course)
            if mode == "dask":
                from distributed import LocalCluster

                with LocalCluster(
                    n_workers=2,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                ) as cluster:
                    result = _grade(
                        course, n, ["--scheduler", cluster.scheduler_address]
                    )
            else:
                result = _grade(course, n, ["--jobs", mode])
            scores = gc.gradebook_scores(course)
            first = scores if first is None else first
            same = scores == first and result["code"] == 0
            label = "dask x2" if mode == "dask" else f"jobs {mode}"
            rss = " / ".join(f"{value:.0f}" for value in result["rss"])
            print(
                f"{label:10} {result['seconds']:7.1f}   {result['seconds'] / n:12.3f}"
                f"   {rss:>24}   {result['peak']:4.0f}  {same}   (load {_load()})",
                flush=True,
            )
            shutil.rmtree(course)
    return 0


if __name__ == "__main__":
    sys.exit(main())
