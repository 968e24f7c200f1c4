"""The experiment notebooks' results are right, not only their cells.

nbval runs every experiment notebook top to bottom; ``--nbval-lax`` only proves that a
notebook runs: the committed notebooks carry no outputs to compare with. So each
notebook runs inside a run folder of its own (the kernel finds it in ``SQUAD_RUN_DIR``,
exactly as under ``squad run``), and after its last cell one more test item,
``<notebook>::results``, reads what the notebook recorded:

* every expected metric is present, finite and inside its range (the ranges hold the
  default configuration's figures with room for library versions, and fail for a model
  that codes at random, a broken split or an imputation that fills in nonsense);
* for the coding notebook, the saved test-set predictions are scored again from the
  shared labels by the leaderboard's own scorer, and must agree with the recorded
  metrics; the recorded dataset checksum must be the catalogue's.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

#: Expected results of each notebook with its default parameters: metric -> (low, high).
#: A dotted name looks inside a recorded dict (``hourly_pay.rmse``).
EXPECTED: dict[str, dict[str, tuple[float, float]]] = {
    # soc2010, stratified split, complement_nb (0.477 accuracy here); 369 unit groups,
    # so coding at random scores about 0.003 and the commonest group about 0.02.
    "coding.ipynb": {
        "n": (5709, 5709),
        "accuracy": (0.44, 0.52),
        "accuracy_level_1": (0.60, 0.70),
        "top_5_accuracy": (0.75, 0.85),
        "automation_rate_95": (0.0, 0.05),
    },
    # lfs_synthetic_missing, hot_deck. Complete cases miss 14 % of the pay total; the
    # imputed total is within 1 %; domain means and totals stay within a few per cent.
    "imputation.ipynb": {
        "pay_rmse": (10.0, 20.0),
        "pay_domain_error": (0.0, 0.03),
        "hourly_pay.relative_error_weighted_total": (-0.03, 0.03),
        "hours_worked.relative_error_weighted_total": (-0.02, 0.02),
        "domain_total_hours.mean_absolute_relative_error": (0.0, 0.01),
        "education.accuracy": (0.25, 0.45),
    },
}

_RUN_DIRS: dict[str, Path] = {}


def _notebook_name(item: pytest.Item) -> str | None:
    path = getattr(item, "path", None)
    notebooks = item.config.rootpath / "notebooks"
    if path is None or path.suffix != ".ipynb" or path.parent != notebooks:
        return None
    return path.name


class NotebookResults(pytest.Item):
    """Checks what one notebook recorded while nbval ran it."""

    def __init__(self, *, expected: dict[str, tuple[float, float]], **kwargs):
        super().__init__(**kwargs)
        self.expected = expected

    def runtest(self) -> None:
        from squad.records import read_metrics_log

        run_dir = _RUN_DIRS.get(self.parent.path.name)
        assert run_dir is not None, "the notebook's cells did not run"
        metrics, _ = read_metrics_log(run_dir)
        problems = []
        for name, (low, high) in self.expected.items():
            value: Any = metrics
            for key in name.split("."):
                value = value.get(key) if isinstance(value, dict) else None
            if not isinstance(value, int | float) or not math.isfinite(value):
                problems.append(f"{name} was not recorded as a number: {value!r}")
            elif not low <= value <= high:
                problems.append(f"{name} = {value:.4f} is outside [{low}, {high}]")
        if self.parent.path.name == "coding.ipynb":
            problems += _check_coding_run(run_dir, metrics)
        assert problems == [], "\n".join(problems)

    def reportinfo(self) -> tuple[Any, int, str]:
        return self.path, 0, f"{self.parent.path.name}: recorded results"


def _check_coding_run(run_dir: Path, metrics: dict[str, Any]) -> list[str]:
    """The predictions score as recorded, on the catalogue's own data."""
    import pandas as pd

    from squad.board.scoring import compare_metrics, score_predictions
    from squad.data.datasets import dataset_checksum

    dataset = metrics.get("dataset") or {}
    problems = []
    if dataset.get("sha256") != dataset_checksum(dataset.get("name", "soc2010")):
        problems.append(f"recorded dataset {dataset!r} is not the catalogue's")
    predictions = run_dir / "predictions.parquet"
    if not predictions.is_file():
        return [*problems, "no predictions were saved in the run folder"]
    scored = score_predictions(
        pd.read_parquet(predictions),
        dataset["name"],
        protocol=dataset.get("protocol") or None,
    )
    differ = compare_metrics(metrics, scored)
    if differ:
        problems.append(f"recorded metrics disagree with the predictions: {differ}")
    return problems


def pytest_collection_modifyitems(session, config, items) -> None:
    """Add a results check after the last cell of each expected notebook."""
    last: dict[str, int] = {}
    for index, item in enumerate(items):
        name = _notebook_name(item)
        if name in EXPECTED:
            last[name] = index
    for name, index in sorted(last.items(), key=lambda kv: -kv[1]):
        notebook = items[index].parent
        check = NotebookResults.from_parent(
            notebook, name="results", expected=EXPECTED[name]
        )
        items.insert(index + 1, check)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before a notebook's kernel starts, give it a run folder of its own."""
    name = _notebook_name(item)
    if name in EXPECTED and name not in _RUN_DIRS:
        _RUN_DIRS[name] = Path(
            tempfile.mkdtemp(prefix=f"squad-nbval-{Path(name).stem}-")
        )
        os.environ["SQUAD_RUN_DIR"] = str(_RUN_DIRS[name])


def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """After the results check, forget the run folder."""
    if isinstance(item, NotebookResults):
        os.environ.pop("SQUAD_RUN_DIR", None)
        run_dir = _RUN_DIRS.get(item.parent.path.name)
        if run_dir is not None:
            shutil.rmtree(run_dir, ignore_errors=True)
