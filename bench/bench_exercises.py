"""Time every Coffee and Coding source notebook, run with its solutions, against 60 s.

Each assignment must run top to bottom with its solutions well inside nbgrader's limit
(``c.Execute.timeout = 60`` in ``exercises/nbgrader_config.py``), or a trainee's
correct answer could time out while the class is graded. The tests check that every
notebook runs clean; this script measures how long it takes.

Each notebook runs ``--repeats`` times, one at a time, in a fresh kernel started by
nbclient (what nbgrader's Execute step uses) in a copy of its folder. Prints the median
seconds per notebook and its share of the 60 s budget (goal: under 1.0, that is, the
whole notebook within what nbgrader allows a single cell). It never fails on timings;
it exits 0.

Run: ``.venv/bin/python bench/bench_exercises.py [--repeats 3] [ASSIGNMENT ...]`` (all
assignments when none is named).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "exercises" / "source").glob("*/*.ipynb"))
BUDGET = 60.0


def run_once(notebook: Path) -> float:
    """Execute ``notebook`` in a copy of its folder; return wall seconds."""
    import nbformat
    from jupyter_client import KernelManager
    from nbclient import NotebookClient

    with tempfile.TemporaryDirectory(prefix="squad-bench-") as work:
        folder = Path(work) / notebook.parent.name
        shutil.copytree(notebook.parent, folder)
        nb = nbformat.read(folder / notebook.name, as_version=4)
        manager = KernelManager(kernel_name="python3")
        client = NotebookClient(
            nb, km=manager, timeout=600, resources={"metadata": {"path": str(folder)}}
        )
        started = time.perf_counter()
        try:
            client.execute()
        finally:
            if manager.has_kernel:
                manager.shutdown_kernel(now=True)
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("assignments", nargs="*", help="assignments to time")
    args = parser.parse_args()
    wanted = [
        p for p in SOURCES if p.parent.name in args.assignments or not args.assignments
    ]
    print(f"{'assignment':32} {'median s':>9} {'of 60 s':>8}  runs")
    for notebook in wanted:
        times = [run_once(notebook) for _ in range(args.repeats)]
        median = statistics.median(times)
        runs = " ".join(f"{t:.1f}" for t in times)
        print(
            f"{notebook.parent.name:32} {median:9.1f} {median / BUDGET:8.2f}  {runs}",
            flush=True,
        )


if __name__ == "__main__":
    main()
