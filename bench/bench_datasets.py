"""Benchmark: building soc2010 from the ONS workbook (cold) versus loading it from the cache.

Run with ``make bench``. Prints medians of several repeats and their ratio; asserts nothing
about time (the machine is shared and noisy).
"""

from __future__ import annotations

import statistics
import tempfile
import time

import squad

REPEATS = 5


def main() -> None:
    cold, warm = [], []
    for _ in range(REPEATS):
        with tempfile.TemporaryDirectory() as home:
            start = time.perf_counter()
            squad.load_dataset("soc2010", data_home=home)
            cold.append(time.perf_counter() - start)
            start = time.perf_counter()
            squad.load_dataset("soc2010", data_home=home)
            warm.append(time.perf_counter() - start)
    cold_s, warm_s = statistics.median(cold), statistics.median(warm)
    ratio = cold_s / warm_s
    print(f"soc2010 cold build   median {cold_s:.3f} s over {REPEATS}")
    print(f"soc2010 cached load  median {warm_s:.3f} s over {REPEATS}")
    print(
        f"ratio cold/cached    {ratio:.1f}x  (goal >= 5x: {'MET' if ratio >= 5 else 'MISSED'})"
    )


if __name__ == "__main__":
    main()
