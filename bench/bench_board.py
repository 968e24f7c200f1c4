"""Benchmark: `squad board build` on 1,000 generated runs, cold against warm.

Generates a tree of run folders by several members on two tasks (soc2010 stratified,
ecoicop grouped Polish), each with its own predictions file (a different share of wrong
codes and random confidences), a record and one figure. Then times the real command in a
new process each time (``python -m squad.cli board build``):

- cold: the plain build, every run scored from its predictions (``--no-cache``), into
  an empty site folder;
- warm: one new run added to the tree, rebuilt into the existing site with the scoring
  cache filled by an earlier build (the case of a shared repository's CI after one
  contribution).

Prints the median of each over the repeats and their ratio; asserts nothing about time
(the machine is shared and noisy). Run with ``make bench`` or
``python bench/bench_board.py --runs 200 --repeats 1`` for a quick look.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

import squad

TASKS = {
    "soc2010": ("record_id", "soc2010", {"name": "soc2010", "protocol": "stratified"}),
    "ecoicop": (
        "product_id",
        "category",
        {"name": "ecoicop", "protocol": "grouped", "language": "pl"},
    ),
}
MEMBERS = ("ons", "statcan", "istat", "gus", "insee")


def _figure() -> bytes:
    fig = Figure(figsize=(3, 2), dpi=60)
    fig.add_subplot().plot([0, 1, 2], [1, 0, 2])
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def _write_run(root: Path, index: int, tests: dict, figure: bytes) -> None:
    dataset = list(TASKS)[index % len(TASKS)]
    id_column, target, provenance = TASKS[dataset]
    test = tests[dataset]
    rng = np.random.default_rng(index)
    truth = test[target].astype(str).to_numpy()
    codes = np.unique(truth)
    wrong = rng.random(len(test)) < rng.uniform(0.05, 0.6)
    predicted = np.where(wrong, rng.choice(codes, len(test)), truth)
    frame = pd.DataFrame(
        {
            "record_id": test[id_column].to_numpy(),
            "predicted": predicted,
            "confidence": np.where(wrong, rng.uniform(0, 0.8, len(test)), 0.9).round(6),
        }
    )
    if dataset == "ecoicop":
        frame.insert(1, "language", "pl")
    member = MEMBERS[index % len(MEMBERS)]
    run_id = f"b{index:011d}"
    folder = root / member / run_id
    (folder / "figures").mkdir(parents=True)
    frame.to_parquet(folder / "predictions.parquet", index=False)
    (folder / "figures" / "plot.png").write_bytes(figure)
    record = {
        "schema": 1,
        "experiment": "coding",
        "run_id": run_id,
        "parameters": {"dataset": dataset, "model": f"m{index % 7}", "C": index % 5},
        "metrics": {"accuracy": float((predicted == truth).mean())},
        "figures": {"plot": "figures/plot.png"},
        "status": "ok",
        "timings": {"end": f"2026-01-01T10:{index % 60:02d}:00+00:00"},
        "provenance": {"member": member, "dataset": provenance},
    }
    (folder / "record.json").write_text(json.dumps(record))


def _build(runs: Path, site: Path, *extra: str) -> float:
    command = [sys.executable, "-m", "squad.cli", "board", "build", str(runs)]
    start = time.perf_counter()
    subprocess.run(
        [*command, "--out", str(site), *extra], check=True, capture_output=True
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    tests = {
        name: squad.load_dataset(name, "test", protocol=spec[2]["protocol"])
        for name, spec in TASKS.items()
    }
    tests["ecoicop"] = tests["ecoicop"][tests["ecoicop"]["language"] == "pl"]
    figure = _figure()
    with tempfile.TemporaryDirectory() as tmp:
        runs, cache = Path(tmp) / "runs", Path(tmp) / "cache"
        for index in range(args.runs):
            _write_run(runs, index, tests, figure)
        cold, warm = [], []
        for repeat in range(args.repeats):
            site = Path(tmp) / f"site-cold-{repeat}"
            cold.append(_build(runs, site, "--no-cache"))
            shutil.rmtree(site)
        site = Path(tmp) / "site"
        _build(runs, site, "--cache-dir", str(cache))  # fills the cache
        for repeat in range(args.repeats):
            _write_run(runs, args.runs + repeat, tests, figure)  # one new run
            warm.append(_build(runs, site, "--cache-dir", str(cache)))
    cold_s, warm_s = statistics.median(cold), statistics.median(warm)
    print(
        f"squad board build, {args.runs:,} runs in 2 tasks: cold (no cache, empty site) "
        f"median {cold_s:.1f} s; warm (one new run, cache and site kept) median "
        f"{warm_s:.1f} s over {args.repeats}; warm/cold = {warm_s / cold_s:.2f}"
    )


if __name__ == "__main__":
    main()
