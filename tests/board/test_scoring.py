"""Tests for squad.board.scoring and the leaderboard's use of it: runs scored from predictions."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from squad.board.html import write_html
from squad.board.leaderboard import leaderboard_table
from squad.board.predictions import SCORED_DATASETS
from squad.board.scoring import compare_metrics, score_predictions, score_run
from squad.cli import main
from squad.records import read_record, write_record
from squad.tasks import coding
from tests.support.board_runs import file_entry

ROOT = Path(__file__).resolve().parents[2]


def _kit_run(runs: Path, run_id: str, *, model: str = "complement_nb") -> Path:
    """Write a run folder as notebooks/coding.ipynb does: record + saved predictions."""
    task = coding.load_coding_task("ecoicop")
    result = coding.fit_and_evaluate(task, model)
    folder = runs / "coding" / run_id
    coding.save_predictions(coding.predictions_frame(task, result), folder)
    metrics = dict(result.report)
    metrics["automation_curve"] = result.curve(task.y_test)
    write_record(
        folder,
        {
            "schema": 1,
            "experiment": "coding",
            "run_id": run_id,
            "parameters": {"dataset": "ecoicop", "model": model},
            "metrics": metrics,
            "files": {  # as squad run lists what the notebook wrote
                name: file_entry(folder / name)
                for name in ("predictions.parquet", "predictions.csv")
            },
            "status": "ok",
            "timings": {"end": "2026-01-01T10:00:00+00:00"},
            "provenance": {"member": "gus", "dataset": task.provenance()},
        },
    )
    return folder


@pytest.fixture(scope="module")
def kit_runs(tmp_path_factory):
    """One kit-style ecoicop run folder (complement_nb, Polish)."""
    runs = tmp_path_factory.mktemp("runs")
    _kit_run(runs, "aa0000000001")
    return runs


def test_scored_datasets_agree_with_coding_tasks():
    """Scoring's copy of the coding task columns matches squad.tasks.coding's."""
    for name, spec in SCORED_DATASETS.items():
        task = coding.CODING_DATASETS[name]
        assert (spec["id"], spec["target"], spec["levels"]) == (
            task["id"],
            task["target"],
            task["levels"],
        )
        assert spec.get("languages") == task.get("languages")


def test_score_run_recomputes_kit_metrics_from_predictions(kit_runs):
    """Every scored metric of a kit run equals the one its notebook recorded."""
    folder = kit_runs / "coding" / "aa0000000001"
    recorded = read_record(folder).metrics
    scored = score_run(folder)
    assert scored.status == "verified", scored.disagreements
    for name in (
        "accuracy",
        "f1_macro",
        "f1_weighted",
        "top_3_accuracy",
        "top_5_accuracy",
        "automation_rate_90",
        "automation_rate_95",
        "expected_calibration_error",
        "n_unseen_classes",
    ):
        assert scored.metrics[name] == pytest.approx(recorded[name], abs=1e-6), name
    assert scored.metrics["n"] == recorded["n"] == 3448
    assert "log_loss" not in scored.metrics and "fit_seconds" not in scored.metrics
    curve = scored.metrics["automation_curve"]  # from confidences rounded to 1e-6
    assert curve["automation_rate"][-1] == 1.0
    assert curve["accuracy"][-1] == pytest.approx(recorded["accuracy"], abs=1e-6)


def test_tampered_record_metric_is_flagged_on_board_page_and_terminal(
    kit_runs, tmp_path
):
    """Raising a recorded accuracy flags the run; the board shows the computed value."""
    runs = tmp_path / "runs"
    source = kit_runs / "coding" / "aa0000000001"
    folder = runs / "coding" / "aa0000000001"
    folder.mkdir(parents=True)
    for file in source.iterdir():
        (folder / file.name).write_bytes(file.read_bytes())
    record = json.loads((folder / "record.json").read_text())
    true_accuracy = record["metrics"]["accuracy"]
    record["metrics"]["accuracy"] = 0.99
    (folder / "record.json").write_text(json.dumps(record))
    table = leaderboard_table(runs)
    assert table["accuracy"].iloc[0] == pytest.approx(true_accuracy)
    assert table["check"].iloc[0] == "DISAGREES"
    [flagged] = table.attrs["flagged"]
    assert flagged.scoring.disagreements["accuracy"][0] == 0.99
    page = write_html(runs, tmp_path / "board.html").read_text()
    assert "<h2>Flagged runs</h2>" in page and "recorded accuracy=0.99" in page
    result = CliRunner().invoke(main, ["leaderboard", str(runs)])
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if "Warning" in line]
    assert warnings == [
        "Warning: run aa0000000001 (gus): recorded accuracy=0.99 but its "
        f"predictions give {true_accuracy}"
    ]


def test_run_without_predictions_is_self_reported(tmp_path):
    """A run with no predictions file keeps its recorded metrics, marked unverified."""
    write_record(
        tmp_path / "r1",
        {
            "experiment": "imputation",
            "run_id": "r1",
            "parameters": {},
            "metrics": {"rmse": 2.5},
            "status": "ok",
        },
    )
    scored = score_run(tmp_path / "r1")
    assert (scored.status, scored.metrics) == ("self-reported", {"rmse": 2.5})
    table = leaderboard_table(tmp_path, "rmse")
    assert list(table["check"]) == ["self-reported"]


def test_invalid_predictions_in_a_run_are_left_out(kit_runs, tmp_path, caplog):
    """A run whose predictions lost rows is not scored: left out with one warning."""
    folder = tmp_path / "coding" / "bb0000000002"
    source = kit_runs / "coding" / "aa0000000001"
    folder.mkdir(parents=True)
    pd.read_parquet(source / "predictions.parquet").iloc[10:].to_parquet(
        folder / "predictions.parquet"
    )
    record = json.loads((source / "record.json").read_text())
    record["files"] = {
        "predictions.parquet": file_entry(folder / "predictions.parquet")
    }
    (folder / "record.json").write_text(json.dumps(record))
    scored = score_run(folder)
    assert scored.status == "invalid" and scored.metrics == {}
    assert "10 test ids missing" in scored.reason
    write_record(
        tmp_path / "coding" / "cc0000000003",
        {
            "experiment": "coding",
            "run_id": "cc0000000003",
            "parameters": {"model": "from_r"},
            "metrics": {"accuracy": 0.5},
            "status": "ok",
        },
    )
    with caplog.at_level(logging.WARNING, logger="squad"):
        table = leaderboard_table(tmp_path)
    assert list(table["check"]) == ["self-reported"]
    assert list(table["run_id"]) == ["cc0000000003"]
    assert table.attrs["flagged"] == []
    [warning] = [r.getMessage() for r in caplog.records]
    assert warning.startswith(
        "Skipping run folder coding/bb0000000002: predictions cannot be scored: "
        "predictions.parquet is not a valid ecoicop predictions file: 10 test ids"
    )


def test_compare_metrics_tolerates_rounding_only():
    """Differences up to 1e-6 are rounding; larger ones and None vs number are not."""
    scored = {"accuracy": 0.5, "threshold_98": None, "top_5_accuracy": 0.9}
    assert (
        compare_metrics(
            {"accuracy": 0.5000004, "threshold_98": None, "top_5_accuracy": 0.9}, scored
        )
        == {}
    )
    assert compare_metrics(
        {"accuracy": 0.500002, "threshold_98": 0.99, "log_loss": 1.0}, scored
    ) == {"accuracy": (0.500002, 0.5), "threshold_98": (0.99, None)}


def test_score_predictions_perfect_and_one_wrong_soc2010():
    """Perfect codes score 1.0 at every level; one wrong code scores (n - 1) / n."""
    from squad.data.datasets import load_dataset

    test = load_dataset("soc2010", "test")
    frame = pd.DataFrame({"record_id": test["record_id"], "predicted": test["soc2010"]})
    perfect = score_predictions(frame, "soc2010")
    assert perfect["accuracy"] == 1.0 and perfect["accuracy_level_1"] == 1.0
    n = len(test)
    wrong = frame.copy()
    wrong.loc[wrong.index[0], "predicted"] = (
        "1116" if wrong["predicted"].iloc[0] != "1116" else "1115"
    )
    assert score_predictions(wrong, "soc2010")["accuracy"] == (n - 1) / n


@pytest.mark.slow
def test_real_coding_run_is_verified_and_joins_a_submission(tmp_path):
    """A real `squad run` of the coding notebook is scored from its predictions."""
    from squad.board.submit import submit_predictions
    from squad.runs.sweep import run_sweep

    result = run_sweep(
        ROOT / "notebooks" / "coding.ipynb",
        grid={"grid": {"dataset": ["ecoicop"], "model": ["complement_nb"]}},
        out=tmp_path / "runs",
        member="gus",
        jobs=1,
        progress=False,
    )
    assert result.exit_code == 0, result.summary()
    [folder] = [p.parent for p in (tmp_path / "runs").rglob("record.json")]
    assert {"predictions.parquet", "predictions.csv"} <= set(read_record(folder).files)
    scored = score_run(folder)
    assert scored.status == "verified", scored.disagreements
    recorded = read_record(folder).metrics
    assert scored.metrics["accuracy"] == pytest.approx(recorded["accuracy"], abs=1e-9)
    saved = pd.read_parquet(folder / "predictions.parquet")
    saved.to_csv(tmp_path / "copy.csv", index=False)
    submit_predictions(
        tmp_path / "copy.csv",
        dataset="ecoicop",
        member="istat",
        model_name="complement_nb",
        out=tmp_path / "runs",
    )
    table = leaderboard_table(tmp_path / "runs" / "coding")
    assert list(table["check"]) == ["verified", "verified"]
    assert table["accuracy"].iloc[0] == table["accuracy"].iloc[1]
    # The same predictions under two members: a copy, flagged on both rows.
    assert all(f.startswith("same predictions as run") for f in table["flags"])


def test_scores_from_worker_processes_equal_scores_made_in_process(
    tmp_path, monkeypatch
):
    """A board large enough to score on workers ranks exactly as one scored serially."""
    from squad.board import prescore
    from squad.board.collect import board_runs
    from tests.support.board_runs import scored_run

    for i, acc in enumerate([0.5, 0.7, 0.6]):
        scored_run(tmp_path / str(i), f"aa000000000{i}", "ons", acc, seed=i)
    bad = scored_run(tmp_path / "bad", "bb0000000001", "ons", 0.5, seed=9)
    pd.read_parquet(bad / "predictions.parquet").iloc[5:].to_parquet(
        bad / "predictions.parquet"
    )
    record = json.loads((bad / "record.json").read_text())
    record["files"]["predictions.parquet"] = file_entry(bad / "predictions.parquet")
    (bad / "record.json").write_text(json.dumps(record))
    monkeypatch.setattr(prescore, "MIN_RUNS", 2)
    handed = []
    original = prescore.prescore
    monkeypatch.setattr(
        prescore,
        "prescore",
        lambda records, cache, **kw: handed.append(original(records, cache, jobs=2)),
    )
    parallel = board_runs(tmp_path, warn=False)
    assert handed == [4]
    board_runs(tmp_path, warn=False, jobs=1)  # one process: no workers
    assert handed == [4]
    monkeypatch.setattr(prescore, "MIN_RUNS", 10**9)
    serial = board_runs(tmp_path, warn=False)
    for a, b in zip(parallel.runs, serial.runs, strict=True):
        assert (a.run_id, a.metrics, a.scoring.digest) == (
            b.run_id,
            b.metrics,
            b.scoring.digest,
        )
    assert [r.line(tmp_path) for r in parallel.rejected] == [
        r.line(tmp_path) for r in serial.rejected
    ]
    assert "5 test ids missing" in parallel.rejected[0].problem
