"""Tests for squad.board.site, squad.board.tasks and squad.board.cache: the board per task."""

from __future__ import annotations

import json
import logging
import re
import shutil

import pandas as pd
import pytest
from click.testing import CliRunner

from squad.board.cache import ScoreCache
from squad.board.collect import board_runs
from squad.board.intake import PNG_MAGIC
from squad.board.leaderboard import leaderboard_table, leaderboard_tables
from squad.board.site import build_site, check_board
from squad.board.tasks import Task, task_of
from squad.cli import main
from squad.data.datasets import load_dataset
from squad.records import RunRecord
from tests.support.board_runs import (
    HONEST,
    file_entry,
    honest_record,
    write_honest_runs,
    write_run,
)


def _task_run(
    root, run_id, dataset, acc, *, protocol=None, language=None, parameters=None
):
    record = honest_record(run_id, "ons", "nb", 1.0, acc)
    if parameters is not None:
        record["parameters"] = parameters
    record["metrics"] = {"accuracy": acc}
    record["figures"] = {}
    record["provenance"]["dataset"] = {
        "name": dataset,
        "protocol": protocol,
        "language": language,
    }
    return write_run(root / run_id, record)


def test_runs_of_different_tasks_are_never_ranked_together(tmp_path):
    """Dataset, protocol and language each make a task; a table holds one task."""
    _task_run(tmp_path, "aa0000000001", "soc2010", 0.6)
    _task_run(tmp_path, "aa0000000002", "soc2010", 0.5, protocol="stratified")
    _task_run(tmp_path, "aa0000000003", "soc2010", 0.3, protocol="head_word")
    _task_run(tmp_path, "aa0000000004", "ecoicop", 0.9)
    _task_run(tmp_path, "aa0000000005", "ecoicop", 0.8, language="en")
    tables = leaderboard_tables(tmp_path)
    assert [t.key for t in tables] == [
        "ecoicop/grouped/en",
        "ecoicop/grouped/pl",
        "soc2010/head_word",
        "soc2010/stratified",
    ]
    assert list(tables[Task("soc2010", "stratified")]["run_id"]) == [
        "aa0000000001",
        "aa0000000002",
    ]
    with pytest.raises(ValueError, match=r"belong to 4 tasks \(ecoicop/grouped/en, "):
        leaderboard_table(tmp_path)
    table = leaderboard_table(tmp_path, task="soc2010/head_word")
    assert list(table["run_id"]) == ["aa0000000003"]
    result = CliRunner().invoke(
        main, ["leaderboard", str(tmp_path), "--task", "ecoicop"]
    )
    assert result.exit_code == 0, result.output
    headings = [line for line in result.output.splitlines() if line.startswith("Task")]
    assert headings == [
        "Task ecoicop/grouped/en: 1 run(s), 1 member(s), 0 ranked by accuracy",
        "Task ecoicop/grouped/pl: 1 run(s), 1 member(s), 0 ranked by accuracy",
    ]
    bad = CliRunner().invoke(main, ["leaderboard", str(tmp_path), "--task", "lfs"])
    assert bad.exit_code == 2
    assert bad.output.startswith("Error: No task 'lfs' among the runs. Tasks: ")
    given = RunRecord("x", "a1", {"dataset": "ecoicop"}, {}, "ok")
    assert task_of(given) == Task("ecoicop", "grouped", "pl")


def test_a_language_that_does_not_apply_is_not_shown(tmp_path):
    """soc2010 has no languages: its runs show none, neither in the task key nor as a
    column, also those recorded before with the notebook's default 'pl'."""
    for run_id, language, model in [
        ("aa0000000001", "pl", "nb"),  # recorded before language was None on soc2010
        ("aa0000000002", None, "svc"),
        ("aa0000000003", "pl", "svc"),
    ]:
        params = {"dataset": "soc2010", "language": language, "model": model}
        _task_run(tmp_path, run_id, "soc2010", 0.5, parameters=params)
    for run_id, language in [("aa0000000004", "pl"), ("aa0000000005", "en")]:
        params = {"dataset": "ecoicop", "language": language, "model": "nb"}
        _task_run(
            tmp_path, run_id, "ecoicop", 0.9, language=language, parameters=params
        )
    tables = leaderboard_tables(tmp_path)
    soc = tables[Task("soc2010", "stratified")]
    assert "language" not in soc.columns and list(soc["model"]) == ["nb", "svc", "svc"]
    assert {r.record.parameters["language"] for r in soc.attrs["records"]} == {None}
    # One run, or runs alike: every parameter is shown, but not one that never applies.
    alike = leaderboard_table(tmp_path, task="soc2010", where={"model": "svc"})
    assert list(alike.attrs["parameters"]) == ["dataset", "model"]
    assert leaderboard_table(tmp_path, task="ecoicop/grouped/en")[
        "language"
    ].tolist() == ["en"]
    assert [t.key for t in leaderboard_tables(tmp_path, where={"language": "pl"})] == [
        "ecoicop/grouped/pl"
    ]
    result = CliRunner().invoke(
        main, ["leaderboard", str(tmp_path), "--task", "soc2010"]
    )
    assert result.exit_code == 0, result.output
    assert " pl" not in result.output and "null" not in result.output


def test_build_site_writes_index_task_and_run_pages(tmp_path):
    """Index with leader, runs and members; a page per task and run; PNG files only."""
    runs = tmp_path / "runs"
    write_honest_runs(runs)
    _task_run(runs / "other", "ff0000000001", "ecoicop", 0.5)
    result = build_site(runs, tmp_path / "site")
    assert (result.tasks, result.runs, result.rejected) == (2, 4, [])
    assert result.figures_drawn == 3
    index = (tmp_path / "site" / "index.html").read_text()
    row = re.search(
        r'<a href="(tasks/soc2010-stratified-[0-9a-f]{8}\.html)">soc2010 · stratified',
        index,
    )
    assert row is not None
    assert ">bob (tfidf)</a></td>\n<td>0.8000</td><td>3</td><td>2</td>" in index
    task = (tmp_path / "site" / row.group(1)).read_text()
    for title in (
        "Runs ranked by accuracy",
        "Automation curves",
        "Accuracy by hierarchy level",
        "Metric against parameters",
    ):
        assert f"<h2>{title}</h2>" in task
    links = re.findall(r'href="\.\./runs/([^"]+)">(aa\d+)</a>', task)
    assert [run_id for _, run_id in links] == [r[0] for r in HONEST]
    page = (tmp_path / "site" / "runs" / links[0][0]).read_text()
    assert "<h1>Run aa0000000003 by bob</h1>" in page
    for fact in (
        "<dt>model</dt><dd>tfidf</dd>",
        "<dt>features</dt><dd>word 1-2 grams</dd>",
        "<dt>hardware</dt><dd>laptop, 4 cores</dd>",
    ):
        assert fact in page
    assert "<figcaption>confusion</figcaption>" in page
    images = list((tmp_path / "site" / "img").glob("*.png"))
    assert len(images) == 6  # 3 task figures, 3 run figures
    assert all(p.read_bytes().startswith(PNG_MAGIC) for p in images)
    # A rebuild draws nothing again; a run taken away takes its pages with it.
    shutil.rmtree(runs / "other")
    again = build_site(runs, tmp_path / "site")
    assert (again.tasks, again.runs, again.figures_drawn) == (1, 3, 0)
    assert len(list((tmp_path / "site" / "runs").iterdir())) == 3
    assert len(list((tmp_path / "site" / "tasks").iterdir())) == 1
    assert "ecoicop" not in (tmp_path / "site" / "index.html").read_text()


@pytest.fixture(scope="module")
def soc_run(tmp_path_factory):
    """A soc2010 run folder with its predictions (one wrong code of every ten)."""
    test = load_dataset("soc2010", "test").reset_index(drop=True)
    predicted = test["soc2010"].astype(str).copy()
    predicted[::10] = predicted[::10].map(lambda c: "1116" if c != "1116" else "1115")
    folder = tmp_path_factory.mktemp("soc") / "runs" / "ons" / "ab0000000001"
    record = honest_record("ab0000000001", "ons", "rules", 1.0, 0.5)
    record["metrics"] = {"accuracy": float((predicted == test["soc2010"]).mean())}
    record["figures"] = {}
    record["provenance"]["dataset"] = {"name": "soc2010"}
    folder.mkdir(parents=True)
    pd.DataFrame({"record_id": test["record_id"], "predicted": predicted}).to_parquet(
        folder / "predictions.parquet"
    )
    record["files"] = {
        "predictions.parquet": file_entry(folder / "predictions.parquet")
    }
    write_run(folder, record)
    return folder


def test_scoring_cache_scores_each_predictions_file_once(soc_run, tmp_path):
    """A second pass reads scores from the cache; new predictions are scored again."""
    runs = tmp_path / "runs"
    shutil.copytree(soc_run, runs / "ab0000000001")
    cache = ScoreCache(tmp_path / "cache")
    first = board_runs(runs, cache=cache).runs[0]
    assert (cache.misses, cache.hits, first.check) == (1, 0, "verified")
    second = board_runs(runs, cache=cache).runs[0]
    assert (cache.misses, cache.hits) == (1, 1)
    assert second.metrics == first.metrics
    frame = pd.read_parquet(runs / "ab0000000001" / "predictions.parquet")
    frame.loc[1, "predicted"] = (
        "1116" if frame.loc[1, "predicted"] != "1116" else "1115"
    )
    folder = runs / "ab0000000001"
    frame.to_parquet(folder / "predictions.parquet")
    record = json.loads((folder / "record.json").read_text())
    record["files"]["predictions.parquet"] = file_entry(folder / "predictions.parquet")
    (folder / "record.json").write_text(json.dumps(record))
    third = board_runs(runs, cache=cache).runs[0]
    assert cache.misses == 2
    assert third.metrics["accuracy"] < first.metrics["accuracy"]
    assert third.check == "disagrees"


def test_board_check_names_a_disagreeing_run(soc_run, tmp_path):
    """`squad board check` exits 1 naming a run whose recorded accuracy is inflated."""
    runs = tmp_path / "runs"
    write_honest_runs(runs)
    shutil.copytree(soc_run, runs / "ons" / "ab0000000001")
    clean = CliRunner().invoke(main, ["board", "check", str(runs)])
    assert clean.exit_code == 0, clean.output
    assert clean.output == "4 run(s) in 1 task(s): every run folder passes.\n"
    record = json.loads((runs / "ons" / "ab0000000001" / "record.json").read_text())
    true_accuracy = record["metrics"]["accuracy"]
    record["metrics"]["accuracy"] = 0.99
    (runs / "ons" / "ab0000000001" / "record.json").write_text(json.dumps(record))
    _, problems = check_board(runs)
    assert problems == [
        "Run folder ons/ab0000000001 disagrees: run ab0000000001 (ons): recorded "
        f"accuracy=0.99 but its predictions give {true_accuracy}"
    ]
    result = CliRunner().invoke(main, ["board", "check", str(runs)])
    assert result.exit_code == 1
    assert "Run folder ons/ab0000000001 disagrees" in result.output


def test_submit_fact_sheet_is_shown_on_the_run_page(soc_run, tmp_path):
    """`squad submit --description --fact` becomes the run page's method description."""
    pd.read_parquet(soc_run / "predictions.parquet").to_csv(
        tmp_path / "p.csv", index=False
    )
    runs = tmp_path / "runs"
    result = CliRunner().invoke(
        main,
        [
            "submit",
            str(tmp_path / "p.csv"),
            "--member",
            "statcan",
            "--model-name",
            "sas_rules",
            "--description",
            "Keyword rules <b>written</b> in SAS",
            "--fact",
            "fit time=none (rules)",
            "--fact",
            "hardware=a desktop",
            "--out",
            str(runs),
        ],
    )
    assert result.exit_code == 0, result.output
    [folder] = (runs / "coding").iterdir()
    facts = json.loads((folder / "record.json").read_text())["fact_sheet"]
    assert facts == {
        "model": "sas_rules",
        "fit_time": "none (rules)",
        "hardware": "a desktop",
        "description": "Keyword rules <b>written</b> in SAS",
    }
    build_site(runs, tmp_path / "site")
    [page] = (tmp_path / "site" / "runs").iterdir()
    text = page.read_text()
    assert text.count("<dt>fit time</dt>") == 1
    assert "<dt>fit time</dt><dd>none (rules)</dd>" in text
    assert "<dd>Keyword rules &lt;b&gt;written&lt;/b&gt; in SAS</dd>" in text
    bad = CliRunner().invoke(
        main,
        ["submit", str(tmp_path / "p.csv"), "--member", "a", "--model-name", "b"]
        + ["--fact", "no equals sign", "--out", str(runs)],
    )
    assert bad.exit_code == 2 and "is not NAME=VALUE" in bad.output


def test_sweep_records_the_login_when_no_member_is_given(monkeypatch, caplog):
    """Without --member or SQUAD_MEMBER a run is recorded for the login, with a warning."""
    import getpass

    from squad.runs.sweep import _member

    monkeypatch.delenv("SQUAD_MEMBER", raising=False)
    with caplog.at_level(logging.WARNING, logger="squad"):
        assert _member(None) == getpass.getuser()
    assert "Pass --member NAME or set SQUAD_MEMBER" in caplog.text
    monkeypatch.setenv("SQUAD_MEMBER", "istat")
    assert _member(None) == "istat" and _member("gus") == "gus"


def test_fact_sheet_given_entries_replace_derived_ones():
    """A recorded entry wins over the one derived from the run; none is listed twice."""
    from squad.board.pages import fact_sheet

    record = RunRecord(
        experiment="coding",
        run_id="a1",
        status="ok",
        parameters={"model": "tfidf_linear_svc", "settings": {"C": 0.5}},
        metrics={"fit_seconds": 12.25},
        provenance={
            "dataset": {"name": "soc2010", "protocol": "stratified", "n_train": 22812},
            "platform": "Linux-6",
        },
        fact_sheet={"training_data": "train split, deduplicated"},
    )
    assert fact_sheet(record) == [
        ("model", 'tfidf_linear_svc {"C":0.5}'),
        ("training data", "train split, deduplicated"),
        ("fit time", "12.2 s (as reported)"),
        ("hardware", "platform Linux-6"),
    ]
