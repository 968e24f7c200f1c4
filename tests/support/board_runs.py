"""Small generated run folders for the board tests: honest runs and hostile ones.

Honest runs (:func:`write_honest_runs`) are scored soc2010 runs, as ``squad run``
writes them: predictions with confidences (so the board computes an automation curve
and accuracy by level), one real PNG figure, and every file listed in the record with
its sha256. Only scored runs rank. :func:`honest_record` alone is the record of a
self-reported run (no predictions), the base of the hostile folders of
``tests/board/test_intake.py``. :func:`scored_run` writes one scored run.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

from matplotlib.figure import Figure

#: (run id, member, model, C, accuracy): the honest runs, best first.
HONEST = [
    ("aa0000000003", "bob", "tfidf", 2.0, 0.8),
    ("aa0000000002", "alice", "nb", 1.0, 0.7),
    ("aa0000000001", "alice", "lookup", 0.5, 0.6),
]


def figure_png(seed: int) -> bytes:
    """A small real plot as PNG bytes (different for each seed)."""
    fig = Figure(figsize=(3, 2), dpi=60)
    ax = fig.add_subplot()
    ax.plot([0, 1, 2, 3], [seed, 3 - seed, seed * 2, 1], color=f"C{seed % 10}")
    ax.bar([0, 1], [1, seed + 1], color="C3")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def honest_record(run_id: str, member: str, model: str, c: float, acc: float) -> dict:
    """The record of an honest self-reported run."""
    return {
        "schema": 1,
        "experiment": "coding",
        "run_id": run_id,
        "parameters": {"model": model, "C": c},
        "metrics": {
            "accuracy": acc,
            "accuracy_level_1": min(1.0, acc + 0.2),
            "accuracy_level_2": min(1.0, acc + 0.1),
            "automation_curve": {
                "automation_rate": [0.1, 0.5, 1.0],
                "accuracy": [1.0, 0.9, acc],
            },
        },
        "figures": {"confusion": "figures/confusion.png"},
        "status": "ok",
        "timings": {"end": f"2026-01-0{run_id[-1]}T10:00:00+00:00"},
        "provenance": {"member": member, "platform": "Linux-6", "python": "3.11.7"},
        "fact_sheet": {"features": "word 1-2 grams", "hardware": "laptop, 4 cores"},
    }


def write_run(folder: Path, record: dict, figure: bytes | None = None) -> Path:
    """Write a run folder: ``record.json`` and, if given, ``figures/confusion.png``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "record.json").write_text(json.dumps(record), encoding="utf-8")
    if figure is not None:
        (folder / "figures").mkdir(exist_ok=True)
        (folder / "figures" / "confusion.png").write_bytes(figure)
    return folder


def write_honest_runs(root: Path, *, key=None) -> list[Path]:
    """The :data:`HONEST` runs, scored, one folder per member under ``root``.

    With ``key`` (a signing key), every run is signed.
    """
    folders = []
    for i, (run_id, member, model, c, acc) in enumerate(HONEST):
        folder = root / member / run_id
        record = honest_record(run_id, member, model, c, acc)
        write_run(folder, record, figure_png(i))
        soc_predictions(acc, seed=i, confidence=True).to_parquet(
            folder / "predictions.parquet", index=False
        )
        record["metrics"] = {"fit_seconds": 1.0 + i}  # the rest are scored
        record["provenance"]["dataset"] = {"name": "soc2010"}
        record["files"] = {
            rel: file_entry(folder / rel)
            for rel in ("predictions.parquet", "figures/confusion.png")
        }
        text = json.dumps(record, indent=2, sort_keys=True)
        (folder / "record.json").write_text(text, encoding="utf-8")
        if key is not None:
            from squad.board.signing import sign_run

            sign_run(folder, key)
        folders.append(folder)
    return folders


# --------------------------------------------------------------------------- scored runs
def soc_test():
    """The soc2010 test split (ids and true codes), in the dataset's order."""
    from squad.data.datasets import load_dataset

    return load_dataset("soc2010", "test").reset_index(drop=True)


def soc_predictions(accuracy: float, *, seed: int = 0, confidence: bool = False):
    """A soc2010 predictions table that scores ``accuracy`` (to 1/n), as a DataFrame.

    The wrong rows get another code of the classification; ``seed`` picks which rows.
    """
    import numpy as np
    import pandas as pd

    test = soc_test()
    truth = test["soc2010"].astype(str).to_numpy()
    n_wrong = round((1 - accuracy) * len(test))
    rng = np.random.default_rng(seed)
    wrong = np.zeros(len(test), dtype=bool)
    wrong[rng.choice(len(test), n_wrong, replace=False)] = True
    codes = np.unique(truth)
    other = codes[(np.searchsorted(codes, truth) + 1) % len(codes)]
    frame = pd.DataFrame(
        {"record_id": test["record_id"], "predicted": np.where(wrong, other, truth)}
    )
    if confidence:
        frame["confidence"] = np.where(wrong, 0.3, 0.9)
    return frame


def file_entry(path: Path) -> dict:
    """The ``files`` entry of a file, as the kit records it."""
    import hashlib

    data = path.read_bytes()
    return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def scored_run(
    folder: Path,
    run_id: str,
    member: str,
    accuracy: float,
    *,
    params: dict | None = None,
    metrics: dict | None = None,
    end: str = "2026-01-01T10:00:00+00:00",
    seed: int = 0,
    confidence: bool = False,
    predictions=None,
    key=None,
) -> Path:
    """Write a soc2010 run folder whose predictions score ``accuracy``.

    The record lists the predictions file with its sha256 (as ``squad run`` does) and
    records only ``metrics`` (metrics scoring does not compute are kept as reported).
    With ``key``, the run is signed.
    """
    folder.mkdir(parents=True, exist_ok=True)
    frame = (
        predictions
        if predictions is not None
        else soc_predictions(accuracy, seed=seed, confidence=confidence)
    )
    frame.to_parquet(folder / "predictions.parquet", index=False)
    record = {
        "schema": 1,
        "experiment": "coding",
        "run_id": run_id,
        "parameters": params if params is not None else {"model": run_id[:2]},
        "metrics": metrics or {},
        "figures": {},
        "files": {"predictions.parquet": file_entry(folder / "predictions.parquet")},
        "status": "ok",
        "timings": {"end": end},
        "provenance": {"member": member, "dataset": {"name": "soc2010"}},
    }
    text = json.dumps(record, indent=2, sort_keys=True)  # as write_record does
    (folder / "record.json").write_text(text, encoding="utf-8")
    if key is not None:
        from squad.board.signing import sign_run

        sign_run(folder, key)
    return folder
