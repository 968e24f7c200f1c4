"""Tests for squad.board.leaderboard, squad.board.html and squad.board.mlflow_export."""

from __future__ import annotations

import base64
import logging
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from matplotlib.figure import Figure

from squad.board.collect import load_records
from squad.board.html import write_html
from squad.board.leaderboard import format_table, leaderboard_table, lower_is_better
from squad.board.mlflow_export import export_to_mlflow
from squad.board.site import build_site
from squad.cli import main
from squad.records import write_record
from squad.runs.executor import open_sweep_executor
from squad.runs.sweep import run_sweep
from tests.support.board_runs import scored_run

DATA = Path(__file__).parents[1] / "fixtures" / "notebooks"


def _write(
    folder: Path,
    run_id: str,
    *,
    member="statcan",
    status="ok",
    end="2026-01-01T10:00:00+00:00",
    dataset=None,
    **metrics,
):
    """Write a small run record by hand (as a run folder)."""
    params = metrics.pop("params", {"model": run_id[:2]})
    record = {
        "schema": 1,
        "experiment": "coding",
        "run_id": run_id,
        "parameters": params,
        "metrics": metrics,
        "figures": {},
        "status": status,
        "error": None if status == "ok" else {"ename": "ValueError", "evalue": "bad"},
        "timings": {"end": end},
        "provenance": {"member": member},
    }
    if dataset is not None:
        record["provenance"]["dataset"] = {"name": dataset}
    write_record(folder / run_id, record)
    return record


def test_leaderboard_ranks_by_accuracy_and_drops_failed(tmp_path):
    """Higher accuracy ranks first; failed runs are listed only on request."""
    scored_run(tmp_path / "a", "aa0000000001", "statcan", 0.61)
    scored_run(tmp_path / "b", "bb0000000002", "statcan", 0.74, seed=1)
    scored_run(tmp_path / "c", "cc0000000003", "statcan", 0.70, seed=2)
    _write(tmp_path, "dd0000000004", status="error", dataset="soc2010")
    table = leaderboard_table(tmp_path)
    assert list(table["run_id"]) == ["bb0000000002", "cc0000000003", "aa0000000001"]
    assert list(table["rank"]) == [1, 2, 3]
    assert list(table.columns[:3]) == ["rank", "accuracy", "accuracy_level_4"]
    assert {"model", "member", "date"} <= set(table.columns)
    assert table["date"].iloc[0] == "2026-01-01 10:00"
    assert set(table["check"]) == {"verified"}
    with_failed = leaderboard_table(tmp_path, include_failed=True)
    assert list(with_failed["status"]) == ["ok", "ok", "ok", "error"]
    assert with_failed["rank"].isna().tolist() == [False, False, False, True]


def test_a_claimed_score_never_leads(tmp_path):
    """A run without predictions claiming 0.999 is listed apart, unranked, below every
    scored run, in the table, the terminal and the site's index."""
    scored_run(tmp_path / "bob", "bb0000000002", "bob", 0.6)
    _write(
        tmp_path / "alice",
        "aa0000000001",
        member="alice",
        accuracy=0.999,
        params={"model": "bb"},
        dataset="soc2010",
    )
    table = leaderboard_table(tmp_path)
    assert list(table["run_id"]) == ["bb0000000002", "aa0000000001"]
    assert table["rank"].tolist()[0] == 1 and pd.isna(table["rank"].tolist()[1])
    assert list(table["check"]) == ["verified", "self-reported"]
    result = CliRunner().invoke(main, ["leaderboard", str(tmp_path)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].endswith("1 ranked by accuracy")
    assert lines[2].split()[0] == "1" and "bob" in lines[2]
    assert lines[3].startswith("Not ranked (1): self-reported")
    assert lines[5].split()[:2] == ["-", "0.9990"]
    site = build_site(tmp_path, tmp_path / "site")
    index = (site.out / "index.html").read_text()
    assert ">bob (bb)</a>" in index and "0.9990" not in index and "alice" not in index


def test_only_self_reported_runs_leave_the_task_without_a_leader(tmp_path):
    """A task whose runs all lack predictions has no leader on the index."""
    _write(tmp_path, "aa0000000001", accuracy=0.99)
    site = build_site(tmp_path, tmp_path / "site")
    index = (site.out / "index.html").read_text()
    assert "statcan" not in index and "0.9900" not in index


def test_leaderboard_lower_is_better_metrics_rank_ascending(tmp_path):
    """Losses and errors rank smallest first; runs without the metric come last."""
    scored_run(tmp_path / "a", "aa0000000001", "ons", 0.5, metrics={"log_loss": 0.9})
    scored_run(tmp_path / "b", "bb0000000002", "ons", 0.5, metrics={"log_loss": 0.3})
    scored_run(tmp_path / "c", "cc0000000003", "ons", 0.5)
    table = leaderboard_table(tmp_path, "log_loss")
    assert list(table["run_id"]) == ["bb0000000002", "aa0000000001", "cc0000000003"]
    assert list(table["rank"]) == [1, 2, 3]
    assert lower_is_better("expected_calibration_error") and lower_is_better("rmse")
    assert not lower_is_better("top_5_accuracy")


def test_leaderboard_finds_metrics_inside_recorded_dicts(tmp_path):
    """A recorded report dict is flattened; a bare name matches its unique key."""
    report = {"kappa": 0.8, "n_classes": 10, "labels": ["a"]}
    scored_run(tmp_path / "a", "aa0000000001", "ons", 0.5, metrics={"report": report})
    report = {"kappa": 0.9, "n_classes": 10}
    scored_run(tmp_path / "b", "bb0000000002", "ons", 0.5, metrics={"report": report})
    table = leaderboard_table(tmp_path, "kappa")
    assert table.attrs["metric"] == "report.kappa"
    assert list(table["report.kappa"]) == [0.9, 0.8]


def test_leaderboard_unknown_metric_lists_the_recorded_ones(tmp_path):
    """Asking for a metric no run has names the ones there are."""
    _write(tmp_path, "aa0000000001", accuracy=0.5, f1_macro=0.4)
    with pytest.raises(
        ValueError,
        match=r"recorded metric 'top_5_accuracy'\. Metrics recorded: accuracy, f1_macro\. Pass --metric NAME\.",
    ):
        leaderboard_table(tmp_path, "top_5_accuracy")
    with pytest.raises(FileNotFoundError, match=r"No runs folder at .*nowhere"):
        leaderboard_table(tmp_path / "nowhere")


def test_load_records_merges_members_and_dedupes_copies(tmp_path, caplog):
    """Copies of one member's run count once; the same run by two members twice."""
    _write(tmp_path / "statcan", "aa0000000001", member="statcan", accuracy=0.5)
    _write(
        tmp_path / "copy",
        "aa0000000001",
        member="statcan",
        accuracy=0.5,
        end="2026-01-02T10:00:00+00:00",
    )
    _write(tmp_path / "istat", "aa0000000001", member="istat", accuracy=0.5)
    _write(
        tmp_path / ".aa0000000009.tmp-1234", "aa0000000009", accuracy=1.0
    )  # half-written
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "record.json").write_text("{")
    with caplog.at_level(logging.WARNING, logger="squad"):
        records = load_records(tmp_path)
    assert sorted((r.run_id, r.record.member) for r in records) == [
        ("aa0000000001", "istat"),
        ("aa0000000001", "statcan"),
    ]
    statcan = next(r for r in records if r.record.member == "statcan")
    assert statcan.folder == tmp_path / "copy" / "aa0000000001"  # the latest copy
    assert "broken" in caplog.text


def test_format_table_prints_parameters_as_given(tmp_path):
    """Metrics get four decimals; parameter values print as they are."""
    _write(tmp_path, "aa0000000001", accuracy=0.61234, params={"C": 1.0, "model": "a"})
    _write(tmp_path, "bb0000000002", accuracy=0.5, params={"C": 0.5, "model": "a"})
    text = format_table(leaderboard_table(tmp_path))
    lines = text.splitlines()
    assert lines[0].split() == [
        "rank",
        "accuracy",
        "C",
        "member",
        "date",
        "run_id",
        "check",
    ]
    assert lines[1].split()[:3] == ["-", "0.6123", "1.0"]  # no predictions: no rank
    assert lines[1].split()[-1] == "self-reported"
    assert format_table(leaderboard_table(tmp_path).iloc[0:0]) == "(no runs)"


def _images(page: str) -> list[bytes]:
    return [base64.b64decode(d) for d in re.findall(r"base64,([A-Za-z0-9+/=]+)", page)]


def test_write_html_embeds_curves_levels_parameters_and_figures(tmp_path):
    """The page is self-contained: table plus PNG figures inline."""
    runs = tmp_path / "runs"
    for i, (model, acc) in enumerate([("lookup", 0.6), ("tfidf", 0.7), ("nb", 0.65)]):
        scored_run(
            runs / f"{i:012d}",
            f"{i:012d}",
            "statcan",
            acc,
            params={"model": model, "C": float(i)},
            confidence=True,
            seed=i,
        )
    fig = Figure()
    fig.add_subplot().plot([1, 2])
    best = runs / "000000000001"
    (best / "figures").mkdir()
    fig.savefig(best / "figures" / "confusion.png")
    record = (
        (best / "record.json")
        .read_text()
        .replace('"figures": {}', '"figures": {"confusion": "figures/confusion.png"}')
    )
    (best / "record.json").write_text(record)
    page = write_html(runs, tmp_path / "board.html").read_text()
    for title in (
        "Runs ranked by accuracy",
        "Automation curves",
        "Accuracy by hierarchy level",
        "Metric against parameters",
        "Figures of the best run (C=1.0, model=tfidf (statcan))",
    ):
        assert f"<h2>{title}</h2>" in page
    images = _images(page)
    assert len(images) == 4 and all(i.startswith(b"\x89PNG") for i in images)
    assert "http://" not in page and "https://" not in page and "<script" not in page
    assert page.index("tfidf") < page.index("lookup")  # ranked order in the table


def test_cli_leaderboard_prints_and_writes_html(tmp_path):
    """`squad leaderboard` prints the table, writes the page, and reports bad metrics in one line."""
    scored_run(tmp_path / "runs" / "a", "aa0000000001", "statcan", 0.5)
    scored_run(tmp_path / "runs" / "b", "bb0000000002", "statcan", 0.75)
    html = tmp_path / "board.html"
    result = CliRunner().invoke(
        main, ["leaderboard", str(tmp_path / "runs"), "--html", str(html)]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == (
        "Task soc2010/stratified: 2 run(s), 1 member(s), 2 ranked by accuracy"
    )
    assert [line.split()[0] for line in lines[2:4]] == ["1", "2"]
    assert [float(line.split()[1]) for line in lines[2:4]] == pytest.approx(
        [0.75, 0.5], abs=1e-3
    )
    assert lines[-1] == f"Wrote {html}"
    assert html.read_text().startswith("<!DOCTYPE html>")
    bad = CliRunner().invoke(
        main, ["leaderboard", str(tmp_path / "runs"), "--metric", "f2"]
    )
    assert bad.exit_code == 2
    assert (
        bad.output.startswith(
            "Error: No ok run of task soc2010/stratified recorded metric "
        )
        and len(bad.output.splitlines()) == 1
    )


# ------------------------------------------------------------- real runs by two members


@pytest.fixture(scope="module")
def merged_runs(tmp_path_factory):
    """Two members run overlapping grids on their 'own machines'; folders are merged."""
    root = tmp_path_factory.mktemp("members")
    notebook = root / "ok.ipynb"
    shutil.copy(DATA / "ok.ipynb", notebook)
    results = {}
    # One pool for both sweeps: its workers keep kernels started between them.
    with open_sweep_executor(jobs=2, kernel_name="python3", cwd=str(root)) as executor:
        for member, xs in (("alice", [1, 2]), ("bob", [2, 3])):
            results[member] = run_sweep(
                notebook,
                grid={"grid": {"x": xs}},
                out=root / member,
                member=member,
                progress=False,
                executor=executor,
            )
    board = root / "board"
    for member in results:
        shutil.copytree(root / member / "ok", board / "ok" / member)
    return board / "ok", results


@pytest.mark.slow
def test_records_from_two_members_merge(merged_runs, tmp_path):
    """Each member's runs appear once; the shared run has one id on both machines."""
    board, results = merged_runs
    assert all(r.exit_code == 0 for r in results.values())
    shared = set(results["alice"].ok) & set(results["bob"].ok)
    assert len(shared) == 1  # x=2 was run by both, with the same id
    table = leaderboard_table(board)
    assert len(table) == 4
    assert sorted(zip(table["x"], table["member"], strict=True)) == [
        (1, "alice"),
        (2, "alice"),
        (2, "bob"),
        (3, "bob"),
    ]
    # The notebook saves no predictions: every run is listed, none ranked.
    assert table["rank"].isna().all() and set(table["check"]) == {"self-reported"}
    page = write_html(board, tmp_path / "board.html").read_text()
    assert page.count(">self-reported</td>") == 4
    assert "<h2>Automation curves</h2>" not in page


@pytest.mark.slow
def test_export_to_mlflow_logs_each_record_once(merged_runs, tmp_path, monkeypatch):
    """Every record becomes an MLflow run with params, metrics and artifacts; re-export adds none."""
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    board, _ = merged_runs
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    result = CliRunner().invoke(main, ["leaderboard", str(board), "--to-mlflow"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "Logged 4 run(s) to MLflow"
    assert export_to_mlflow(board, tracking_uri=uri) == 0
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("ok")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 4
    bob3 = next(
        r
        for r in runs
        if r.data.tags["squad.member"] == "bob" and r.data.params["x"] == "3"
    )
    assert bob3.data.params == {"x": "3", "scale": "1.0", "label": "a"}
    assert bob3.data.metrics["accuracy"] == pytest.approx(0.65)
    assert bob3.info.status == "FINISHED"
    artifacts = {a.path for a in client.list_artifacts(bob3.info.run_id)}
    assert {"ok.ipynb", "record.json", "figures"} <= artifacts


def test_leaderboard_where_keeps_matching_runs(tmp_path):
    """`where` keeps runs of one dataset; an unknown parameter is a KeyError."""
    _write(tmp_path, "aa0000000001", accuracy=0.9, params={"dataset": "ecoicop"})
    _write(tmp_path, "bb0000000002", accuracy=0.6, params={"dataset": "soc2010"})
    _write(tmp_path, "cc0000000003", accuracy=0.5, params={"dataset": "soc2010"})
    table = leaderboard_table(tmp_path, where={"dataset": "soc2010"})
    assert list(table["run_id"]) == ["bb0000000002", "cc0000000003"]
    with pytest.raises(
        KeyError, match=r"No run has a parameter 'set_name'\. Parameters: dataset\."
    ):
        leaderboard_table(tmp_path, where={"set_name": "soc2010"})
    result = CliRunner().invoke(
        main, ["leaderboard", str(tmp_path), "--where", "dataset=ecoicop"]
    )
    assert result.exit_code == 0 and "aa0000000001" in result.output
    assert "bb0000000002" not in result.output
    bad = CliRunner().invoke(main, ["leaderboard", str(tmp_path), "--where", "dataset"])
    assert bad.exit_code == 2
    assert (
        bad.output
        == "Error: Filter 'dataset' is not NAME=VALUE (e.g. dataset=soc2010).\n"
    )
