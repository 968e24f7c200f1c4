"""Benchmark: `squad board build` on 2,000 signed runs, cold against warm.

Generates a tree of run folders by five members on two tasks (soc2010 stratified,
ecoicop grouped Polish), each with its own predictions file (a different share of wrong
codes and random confidences), one figure, and a record that lists both files with
their sha256, signed with its member's key (as ``squad run`` writes them); the members'
keys are in a signers file. Then times the real command in a new process each time
(``python -m squad.cli board build --signers ...``):

- cold: the plain build, every run scored from its predictions (``--no-cache``), into
  an empty site folder;
- warm: one new run added to the tree, rebuilt into the existing site with the scoring
  cache filled by an earlier build (the case of a shared repository's CI after one
  contribution).

Each build's peak memory is the largest sum of the resident sets of its process and
the scoring workers it starts, sampled every 50 ms. Prints the median of each over the repeats,
their ratio, and the issue's targets (cold <= 60 s, warm <= 3 s, peak <= 500 MB);
asserts nothing about time (the machine is shared and noisy). Run with ``make bench``
or ``python bench/bench_board.py --runs 200 --repeats 1`` for a quick look.
"""

from __future__ import annotations

import argparse
import hashlib
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
import psutil
from matplotlib.figure import Figure

import squad
from squad.board.signing import load_key, new_key, public_key_line, sign_run

TASKS = {
    "soc2010": ("record_id", "soc2010", {"name": "soc2010", "protocol": "stratified"}),
    "ecoicop": (
        "product_id",
        "category",
        {"name": "ecoicop", "protocol": "grouped", "language": "pl"},
    ),
}
MEMBERS = ("ons", "statcan", "istat", "gus", "insee")
keys: dict = {}  # member -> signing key, made by main()


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
    files = {
        rel: {
            "bytes": (folder / rel).stat().st_size,
            "sha256": hashlib.sha256((folder / rel).read_bytes()).hexdigest(),
        }
        for rel in ("predictions.parquet", "figures/plot.png")
    }
    record = {
        "schema": 1,
        "experiment": "coding",
        "run_id": run_id,
        "parameters": {"dataset": dataset, "model": f"m{index % 7}", "C": index % 5},
        "metrics": {"accuracy": float((predicted == truth).mean())},
        "figures": {"plot": "figures/plot.png"},
        "files": files,
        "status": "ok",
        "timings": {"end": f"2026-01-01T10:{index % 60:02d}:00+00:00"},
        "provenance": {"member": member, "dataset": provenance},
    }
    (folder / "record.json").write_text(json.dumps(record))
    sign_run(folder, keys[member])


def _build(runs: Path, site: Path, signers: Path, *extra: str) -> tuple[float, int]:
    """(seconds, peak bytes) of one `squad board build` in a new process.

    The peak is the largest sum of the resident sets of the build and every process it
    starts (its scoring workers), sampled every 50 ms.
    """
    command = [sys.executable, "-m", "squad.cli", "board", "build", str(runs)]
    command += ["--out", str(site), "--signers", str(signers), *extra]
    start = time.perf_counter()
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    watched, peak = psutil.Process(process.pid), 0
    while process.poll() is None:
        try:
            tree = [watched, *watched.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree))
        except psutil.Error:
            pass
        time.sleep(0.05)
    seconds = time.perf_counter() - start
    if process.returncode:
        raise SystemExit(process.stderr.read()[-2000:])
    return seconds, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000)
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
        signers = Path(tmp) / "allowed_signers"
        for member in MEMBERS:
            keys[member] = load_key(new_key(Path(tmp) / "keys" / member))
        signers.write_text("".join(public_key_line(keys[m], m) + "\n" for m in MEMBERS))
        for index in range(args.runs):
            _write_run(runs, index, tests, figure)
        cold, warm = [], []
        for repeat in range(args.repeats):
            site = Path(tmp) / f"site-cold-{repeat}"
            cold.append(_build(runs, site, signers, "--no-cache"))
            shutil.rmtree(site)
        site = Path(tmp) / "site"
        _build(runs, site, signers, "--cache-dir", str(cache))  # fills the cache
        for repeat in range(args.repeats):
            _write_run(runs, args.runs + repeat, tests, figure)  # one new run
            warm.append(_build(runs, site, signers, "--cache-dir", str(cache)))
    cold_s = statistics.median(s for s, _ in cold)
    warm_s = statistics.median(s for s, _ in warm)
    cold_mb = statistics.median(m for _, m in cold) / 1e6
    warm_mb = statistics.median(m for _, m in warm) / 1e6
    print(
        f"squad board build --signers, {args.runs:,} signed runs in 2 tasks, medians "
        f"over {args.repeats}: cold (no cache, empty site) {cold_s:.1f} s, peak "
        f"{cold_mb:.0f} MB; warm (one new run, cache and site kept) {warm_s:.1f} s, "
        f"peak {warm_mb:.0f} MB; warm/cold = {warm_s / cold_s:.2f}"
    )
    print(
        f"targets: cold <= 60 s {'met' if cold_s <= 60 else 'MISSED'}, warm <= 3 s "
        f"{'met' if warm_s <= 3 else 'MISSED'}, peak <= 500 MB "
        f"{'met' if max(cold_mb, warm_mb) <= 500 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
