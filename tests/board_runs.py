"""Small generated run folders for the board tests: honest runs and hostile ones.

Honest runs are self-reported (no predictions file) so that building a board from them
takes no scoring; each has an automation curve, accuracy by level and one real PNG
figure, so every kind of figure of the site is drawn. The hostile folders are in
``tests/test_board_intake.py``.
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


def write_honest_runs(root: Path) -> list[Path]:
    """The :data:`HONEST` runs, one folder per member under ``root``."""
    return [
        write_run(
            root / member / run_id,
            honest_record(run_id, member, model, c, acc),
            figure_png(i),
        )
        for i, (run_id, member, model, c, acc) in enumerate(HONEST)
    ]
