"""Time ``squad run --jobs 2`` against a sequential loop of the ``papermill`` CLI.

Both run the same 8-run grid (``seed`` 0-7) of the small fixture notebook
``tests/fixtures/notebooks/small.ipynb``, interleaved and repeated:

- the kit: one ``squad run NOTEBOOK --jobs 2`` command (a new process, as a user runs
  it, into a fresh output folder each repeat);
- papermill: ``papermill NOTEBOOK OUT -p seed S`` eight times, one after the other.

Prints the median wall times, the speed-up (goal: at least 2x) and the per-run overhead
of ``squad run`` beyond the notebook's own cell execution time (goal: under 0.3 s),
computed from the run records two ways:

- in the worker: median over runs of ``total_seconds - cells_seconds`` (kernel hand-over,
  parameter injection, collecting the run's files);
- overall: ``wall time x jobs / runs - mean cells_seconds``, which also spreads the
  command's start-up (Python, worker processes, the first kernels) over the runs.

It never fails on timings; it exits 0.

Run: ``.venv/bin/python bench/bench_runner.py [--repeats 3]`` (about 1 minute per repeat
on a 2-core machine).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "tests" / "fixtures" / "notebooks" / "small.ipynb"
BIN = Path(sys.executable).parent
RUNS = 8
JOBS = 2
SPEEDUP_GOAL = 2.0
OVERHEAD_GOAL = 0.3


def run_squad(work: Path, repeat: int) -> tuple[float, list[dict]]:
    """One `squad run` of the grid; return wall seconds and the run records."""
    out = work / f"runs-{repeat}"
    cmd = [
        str(BIN / "squad"),
        "run",
        str(work / NOTEBOOK.name),
        "--jobs",
        str(JOBS),
        "--out",
        str(out),
        "--no-progress",
    ]
    started = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - started
    records = [
        json.loads(path.read_text())
        for path in sorted((out / NOTEBOOK.stem).glob("*/record.json"))
    ]
    if len(records) != RUNS or any(r["status"] != "ok" for r in records):
        sys.exit(f"squad run did not give {RUNS} ok runs in {out}")
    return wall, records


def run_papermill(work: Path, repeat: int) -> float:
    """Eight papermill CLI runs one after the other; return wall seconds."""
    out = work / f"papermill-{repeat}"
    out.mkdir()
    started = time.perf_counter()
    for seed in range(RUNS):
        cmd = [
            str(BIN / "papermill"),
            str(work / NOTEBOOK.name),
            str(out / f"small-{seed}.ipynb"),
            "-p",
            "seed",
            str(seed),
            "--cwd",
            str(work),
            "--no-progress-bar",
        ]
        subprocess.run(cmd, check=True, capture_output=True, text=True)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    squad_walls, papermill_walls, worker_overheads, overall_overheads = [], [], [], []
    with tempfile.TemporaryDirectory(prefix="squad-bench-") as tmp:
        work = Path(tmp)
        shutil.copy(NOTEBOOK, work / NOTEBOOK.name)
        (work / f"{NOTEBOOK.stem}.grid.yml").write_text(
            f"grid:\n  seed: {list(range(RUNS))}\n"
        )
        for repeat in range(args.repeats):
            wall, records = run_squad(work, repeat)
            squad_walls.append(wall)
            cells = [r["timings"]["cells_seconds"] for r in records]
            worker_overheads += [
                r["timings"]["total_seconds"] - r["timings"]["cells_seconds"]
                for r in records
            ]
            overall_overheads.append(wall * JOBS / RUNS - statistics.mean(cells))
            papermill_walls.append(run_papermill(work, repeat))
            print(
                f"repeat {repeat + 1}: squad run {wall:.1f} s, "
                f"papermill loop {papermill_walls[-1]:.1f} s"
            )
    squad_wall = statistics.median(squad_walls)
    papermill_wall = statistics.median(papermill_walls)
    ratio = papermill_wall / squad_wall
    worker = statistics.median(worker_overheads)
    overall = statistics.median(overall_overheads)
    print(f"\n{RUNS} runs of {NOTEBOOK.name}, medians of {args.repeats} repeats")
    speed = "PASS" if ratio >= SPEEDUP_GOAL else "MISS"
    lean = "PASS" if worker < OVERHEAD_GOAL else "MISS"
    rows = [
        (f"squad run --jobs {JOBS}", f"{squad_wall:7.1f} s", ""),
        ("papermill CLI loop", f"{papermill_wall:7.1f} s", ""),
        ("speed-up", f"{ratio:7.2f} x", f"{speed}, goal >= {SPEEDUP_GOAL:g}x"),
        ("overhead per run, worker", f"{worker:7.3f} s", f"{lean}, goal < 0.3 s"),
        ("overhead per run, overall", f"{overall:7.3f} s", "with start-up"),
    ]
    for label, value, note in rows:
        print(f"  {label:<27}{value}  {f'({note})' if note else ''}".rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
