"""Benchmark: `squad submit` on a predictions file of 24,136 rows, end to end.

The issue asks for a file of about 28,000 rows. soc2010 has 28,521 records, but only its
5,709 test records may be submitted (a file with every record is rejected for its train
ids), so the file timed here is the largest honest one the catalogue allows: the ecoicop
test split in all seven languages (3,448 products x 7 = 24,136 rows), with ``language``,
``confidence`` and the top-5 codes and probabilities, written as CSV. Each repeat runs
the real command in a new process (``python -m squad.cli submit``), so the time includes
starting Python, reading, validating and scoring the file, loading the labels from the
data cache and writing the run folder. Prints the median of 3; asserts nothing about
time (the machine is shared and noisy). Run with ``make bench``.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

import squad

REPEATS = 3


def _predictions(seed: int = 0) -> pd.DataFrame:
    test = squad.load_dataset("ecoicop", "test")
    rng = np.random.default_rng(seed)
    categories = np.array(sorted(test["category"].unique()))
    true = test["category"].to_numpy()
    guess = np.where(
        rng.random(len(test)) < 0.8, true, rng.choice(categories, len(test))
    )
    frame = pd.DataFrame(
        {
            "product_id": test["product_id"].to_numpy(),
            "language": test["language"].to_numpy(),
            "predicted": guess,
            "confidence": rng.uniform(0.3, 1.0, len(test)).round(6),
        }
    )
    for k in range(1, 6):
        frame[f"code_{k}"] = guess if k == 1 else rng.choice(categories, len(test))
        frame[f"proba_{k}"] = (frame["confidence"] / k).round(6)
    return frame


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "predictions.csv"
        frame = _predictions()
        frame.to_csv(file, index=False)
        times = []
        for i in range(REPEATS):
            command = [
                sys.executable,
                "-m",
                "squad.cli",
                "submit",
                str(file),
                "--dataset",
                "ecoicop",
                "--member",
                f"bench{i}",
                "--model-name",
                "bench",
                "--out",
                str(Path(tmp) / "runs"),
            ]
            start = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True)
            times.append(time.perf_counter() - start)
    print(
        f"squad submit, {len(frame):,}-row ecoicop file (7 languages): "
        f"median {statistics.median(times):.2f} s over {REPEATS}"
    )


if __name__ == "__main__":
    main()
