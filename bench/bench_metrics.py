"""Time ``squad.evaluation.metrics.coding_report`` against the equivalent scikit-learn calls.

Builds seeded synthetic coding results (100,000 records, 400 hierarchical four-digit
codes, a probability matrix), then times, interleaved and repeated:

- the kit: one ``coding_report(y_true, y_pred, proba=..., classes=...)`` call;
- scikit-learn: ``accuracy_score``, ``f1_score`` (macro and weighted),
  ``top_k_accuracy_score`` (k=3 and k=5), ``log_loss`` and ``accuracy_score`` on the
  code prefixes for hierarchy levels 1-4.

The kit's report also gives automation rates and the calibration error, which have no
scikit-learn counterpart; they are included in its time. Prints the medians, the ratio
kit / scikit-learn and a PASS/MISS line against the goal of at most 1.5x. It never fails
on timings; it exits 0.

Run: ``.venv/bin/python bench/bench_metrics.py [--repeats 2] [--records 100000]``.
The scikit-learn sequence takes about 15-20 s per repeat on 100,000 x 400, so two
repeats keep the whole run near 45 s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from squad.evaluation.metrics import coding_report

GOAL = 1.5
LEVELS = (1, 2, 3, 4)


def make_data(
    n: int, n_classes: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return y_true, y_pred, proba and the (sorted) classes."""
    rng = np.random.default_rng(seed)
    codes = rng.choice(np.arange(1000, 10000), size=n_classes, replace=False)
    classes = np.array(sorted(str(c) for c in codes), dtype=object)
    popularity = 1.0 / np.arange(1, n_classes + 1) ** 0.8
    popularity = rng.permutation(popularity / popularity.sum())
    true_idx = rng.choice(n_classes, size=n, p=popularity)
    logits = rng.normal(size=(n, n_classes))
    logits[np.arange(n), true_idx] += rng.gamma(2.0, 1.5, size=n)
    logits -= logits.max(axis=1, keepdims=True)
    proba = np.exp(logits)
    proba /= proba.sum(axis=1, keepdims=True)
    y_true = classes[true_idx]
    y_pred = classes[proba.argmax(axis=1)]
    return y_true, y_pred, proba, classes


def run_kit(y_true, y_pred, proba, classes) -> dict:
    return coding_report(y_true, y_pred, proba=proba, classes=classes, levels=LEVELS)


def run_sklearn(y_true, y_pred, proba, classes) -> dict:
    out = {
        "accuracy": skm.accuracy_score(y_true, y_pred),
        "f1_macro": skm.f1_score(y_true, y_pred, average="macro"),
        "f1_weighted": skm.f1_score(y_true, y_pred, average="weighted"),
        "top_3_accuracy": skm.top_k_accuracy_score(y_true, proba, k=3, labels=classes),
        "top_5_accuracy": skm.top_k_accuracy_score(y_true, proba, k=5, labels=classes),
        "log_loss": skm.log_loss(y_true, proba, labels=classes),
    }
    true_s, pred_s = pd.Series(y_true), pd.Series(y_pred)
    for level in LEVELS:
        out[f"accuracy_level_{level}"] = skm.accuracy_score(
            true_s.str[:level], pred_s.str[:level]
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--classes", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--seed", type=int, default=20240601)
    args = parser.parse_args(argv)

    start = time.perf_counter()
    data = make_data(args.records, args.classes, args.seed)
    print(
        f"data: {args.records:,} records x {args.classes} classes, seed {args.seed} "
        f"({time.perf_counter() - start:.1f} s to build)"
    )
    kit_times, sk_times = [], []
    kit = sk = {}
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        kit = run_kit(*data)
        kit_times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        sk = run_sklearn(*data)
        sk_times.append(time.perf_counter() - t0)

    worst = max(abs(kit[key] - value) for key, value in sk.items())
    print(f"largest difference between kit and scikit-learn figures: {worst:.2e}")
    kit_median = statistics.median(kit_times)
    sk_median = statistics.median(sk_times)
    ratio = kit_median / sk_median
    print(f"repeats: {args.repeats} (interleaved)")
    print(f"kit coding_report       median {kit_median:8.3f} s  {_all(kit_times)}")
    print(f"scikit-learn sequence   median {sk_median:8.3f} s  {_all(sk_times)}")
    print(f"ratio kit / scikit-learn: {ratio:.3f} (goal <= {GOAL})")
    print(
        f"{'PASS' if ratio <= GOAL else 'MISS'}: coding_report is {ratio:.2f}x the time"
    )
    return 0


def _all(times: list[float]) -> str:
    return "[" + ", ".join(f"{t:.3f}" for t in times) + "]"


if __name__ == "__main__":
    sys.exit(main())
