"""Tests for squad.records: recording inside and outside a sweep, and run records."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

import squad
from squad.records import (
    METRICS_FILE,
    RUN_DIR_ENV,
    RunRecord,
    read_metrics_log,
    read_record,
    to_json_value,
    write_record,
)

DATA = Path(__file__).parents[1] / "fixtures" / "notebooks"


@pytest.fixture
def run_dir(tmp_path, monkeypatch):
    """A run folder announced to squad.record as in a sweep."""
    folder = tmp_path / "run"
    monkeypatch.setenv(RUN_DIR_ENV, str(folder))
    return folder


def _lines(folder: Path) -> list[dict]:
    return [
        json.loads(line) for line in (folder / METRICS_FILE).read_text().splitlines()
    ]


def test_record_appends_metrics_in_a_sweep(run_dir):
    """Numbers, strings, lists, dicts, NumPy and pandas values become JSON lines."""
    squad.record("accuracy", 0.75)
    squad.record("model", "tfidf_logreg")
    squad.record("per_level", {"1": np.float64(0.9), "2": 0.8})
    squad.record("counts", np.array([1, 2, 3]))
    squad.record(
        "curve", pd.DataFrame({"automation_rate": [0.5, 1.0], "accuracy": [1.0, 0.75]})
    )
    squad.record("n", np.int64(12))
    squad.record("missing", float("nan"))
    lines = _lines(run_dir)
    assert [(e["kind"], e["name"]) for e in lines] == [
        ("metric", "accuracy"),
        ("metric", "model"),
        ("metric", "per_level"),
        ("metric", "counts"),
        ("metric", "curve"),
        ("metric", "n"),
        ("metric", "missing"),
    ]
    metrics, figures = read_metrics_log(run_dir)
    assert metrics == {
        "accuracy": 0.75,
        "model": "tfidf_logreg",
        "per_level": {"1": 0.9, "2": 0.8},
        "counts": [1, 2, 3],
        "curve": {"automation_rate": [0.5, 1.0], "accuracy": [1.0, 0.75]},
        "n": 12,
        "missing": None,
    }
    assert figures == {}
    assert all(line["time"].endswith("+00:00") for line in lines)


def test_record_saves_figures_as_png(run_dir):
    """A Figure (or its Axes) is saved under figures/ and listed as a figure."""
    fig = Figure(figsize=(2, 2))
    ax = fig.add_subplot()
    ax.plot([0, 1], [1, 0])
    squad.record("curve", fig)
    squad.record("axes", ax)
    png = (run_dir / "figures" / "curve.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 500
    assert (run_dir / "figures" / "axes.png").is_file()
    assert read_metrics_log(run_dir) == (
        {},
        {"curve": "figures/curve.png", "axes": "figures/axes.png"},
    )
    assert not list((run_dir / "figures").glob(".*"))  # no temporary files left


def test_record_last_value_wins(run_dir):
    """Recording a name twice keeps the later value."""
    squad.record("accuracy", 0.5)
    squad.record("accuracy", 0.6)
    assert read_metrics_log(run_dir)[0] == {"accuracy": 0.6}


@pytest.mark.parametrize(
    "name", ["", "has space", "../escape", "a/b", 3, "x" * 101, ".hidden"]
)
def test_record_rejects_bad_names(run_dir, name):
    """Names must be short and file-safe; nothing is written otherwise."""
    with pytest.raises(
        ValueError, match=r"Record name .* is not valid: use 1-100 letters"
    ):
        squad.record(name, 1)
    assert not (run_dir / METRICS_FILE).exists()


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (object(), r"Cannot record 'x' of type object"),
        ({"a": {1, 2}}, r"Cannot record 'x'\['a'\] of type set"),
        ([1, b"raw"], r"Cannot record 'x'\[1\] of type bytes"),
    ],
)
def test_record_rejects_values_that_are_not_json(run_dir, value, match):
    """Values that do not convert to JSON are rejected with their type."""
    with pytest.raises(ValueError, match=match):
        squad.record("x", value)


def test_record_outside_a_sweep_only_logs(tmp_path, monkeypatch, caplog):
    """Without SQUAD_RUN_DIR nothing is written; the value goes to the log."""
    monkeypatch.delenv(RUN_DIR_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    with caplog.at_level(logging.INFO, logger="squad"):
        squad.record("accuracy", 0.5)
        squad.record("fig", Figure())
    assert "record accuracy = 0.5" in caplog.text
    assert list(tmp_path.iterdir()) == []


def test_to_json_value_converts_nested_values():
    """Tuples, NumPy values, non-finite floats and non-string keys are made JSON."""
    value = {1: (np.float32(0.5), float("inf")), "s": pd.Series({"a": 1})}
    assert to_json_value(value) == {"1": [0.5, None], "s": {"a": 1}}


def test_read_metrics_log_skips_a_truncated_line(tmp_path, caplog):
    """A line cut by a dying kernel is skipped with a warning."""
    (tmp_path / METRICS_FILE).write_text(
        '{"kind": "metric", "name": "a", "value": 1}\n'
        '{"kind": "odd", "name": "b"}\n'
        '{"kind": "metric", "name": "c", "val'
    )
    with caplog.at_level(logging.WARNING, logger="squad"):
        assert read_metrics_log(tmp_path) == ({"a": 1}, {})
    assert "unreadable line 3" in caplog.text and "unknown kind 'odd'" in caplog.text
    assert read_metrics_log(tmp_path / "none") == ({}, {})


RECORD = {
    "experiment": "coding",
    "run_id": "0123456789ab",
    "parameters": {"model": "lookup"},
    "metrics": {"accuracy": 0.5},
    "status": "ok",
}


def test_write_record_round_trip(tmp_path):
    """A record is written whole (no temporary file left) and reads back equal."""
    path = write_record(tmp_path, RECORD)
    assert path == tmp_path / "record.json"
    assert read_record(tmp_path) == RunRecord.from_dict(RECORD)
    assert read_record(path).to_dict() == {**EMPTY_FIELDS, **RECORD}
    assert [p.name for p in tmp_path.iterdir()] == ["record.json"]


#: What a record that names only the required keys holds in its other fields.
EMPTY_FIELDS = {
    "schema": 1,
    "notebook": None,
    "notebook_sha256": None,
    "figures": {},
    "files": {},
    "error": None,
    "timings": {},
    "provenance": {},
    "fact_sheet": {},
}


def test_a_record_keeps_keys_it_does_not_know(tmp_path):
    """Keys a newer kit wrote survive reading and writing again; known keys win."""
    write_record(tmp_path, {**RECORD, "review": {"by": "ons"}})
    rec = read_record(tmp_path)
    assert rec.extra == {"review": {"by": "ons"}}
    write_record(tmp_path, rec.replace(metrics={"accuracy": 0.75}))
    again = json.loads((tmp_path / "record.json").read_text())
    assert again["review"] == {"by": "ons"} and again["metrics"] == {"accuracy": 0.75}


def test_the_schema_accepts_what_the_kit_writes_and_refuses_the_rest():
    """The JSON Schema the board checks against holds a record as RunRecord writes it,
    and refuses one with a wrong type, a bad run id or an unknown status."""
    from jsonschema import Draft202012Validator

    from squad.records.schema import RECORD_JSON_SCHEMA

    validator = Draft202012Validator(RECORD_JSON_SCHEMA)
    full = RunRecord(
        **{k: v for k, v in RECORD.items()},
        notebook="coding.ipynb",
        figures={"curve": "figures/curve.png"},
        files={"figures/curve.png": {"bytes": 10, "sha256": "0" * 64}},
        timings={"queued": "2026-01-01T10:00:00+00:00", "total_seconds": 3.5},
        provenance={"member": "ons", "dataset": {"name": "soc2010"}},
    ).to_dict()
    assert list(validator.iter_errors(full)) == []
    for bad in (
        {"metrics": []},
        {"run_id": "../up"},
        {"status": "finished"},
        {"metrics": {"accuracy": 1.5}},
    ):
        assert list(validator.iter_errors({**full, **bad})), bad


def test_write_record_interrupted_keeps_the_old_record(tmp_path, monkeypatch):
    """A write that fails after the new bytes are out leaves the old record whole."""
    write_record(tmp_path, RECORD)

    def disk_fails(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("squad._atomic.os.fsync", disk_fails)
    with pytest.raises(OSError, match="No space left"):
        write_record(tmp_path, {**RECORD, "metrics": {"accuracy": 0.75}})
    monkeypatch.undo()
    assert read_record(tmp_path) == RunRecord.from_dict(RECORD)
    assert [p.name for p in tmp_path.iterdir()] == ["record.json"]


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (
            {"status": "finished"},
            r"has status 'finished'; expected one of ok, error, timeout, kernel_died",
        ),
        ({"run_id": None}, None),
    ],
)
def test_write_record_checks_the_record(tmp_path, change, match):
    """Unknown statuses and missing keys are refused."""
    record = {**RECORD, **change}
    if match is None:
        del record["run_id"]
        match = r"lacks run_id; delete the run folder and rerun"
    with pytest.raises(ValueError, match=match):
        write_record(tmp_path, record)
    assert not (tmp_path / "record.json").exists()


def test_read_record_errors_name_the_file(tmp_path):
    """Missing, invalid and incomplete records are reported with their path."""
    with pytest.raises(
        FileNotFoundError,
        match=r"No run record at .*record\.json: run the notebook with `squad run`",
    ):
        read_record(tmp_path)
    (tmp_path / "record.json").write_text("{not json")
    with pytest.raises(
        ValueError, match=r"record\.json is not valid JSON .*; delete it and rerun"
    ):
        read_record(tmp_path)
    (tmp_path / "record.json").write_text("[]")
    with pytest.raises(ValueError, match=r"is not a JSON object"):
        read_record(tmp_path)


@pytest.mark.slow
def test_record_in_a_notebook_outside_a_sweep_displays(tmp_path, monkeypatch):
    """Run in a plain kernel (no sweep), record shows its values and writes no file."""
    from nbclient import NotebookClient

    monkeypatch.delenv(RUN_DIR_ENV, raising=False)
    shutil.copy(DATA / "ok.ipynb", tmp_path / "ok.ipynb")
    nb = nbformat.read(tmp_path / "ok.ipynb", as_version=4)
    NotebookClient(
        nb, timeout=120, resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    texts = [
        "".join(out.get("data", {}).get("text/plain", ""))
        for cell in nb.cells
        for out in cell.get("outputs", [])
    ]
    assert "accuracy: 0.55" in texts and "label: 'a'" in texts
    images = [
        out
        for cell in nb.cells
        for out in cell.get("outputs", [])
        if "image/png" in out.get("data", {})
    ]
    assert len(images) == 1  # the recorded figure, shown once
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.ipynb"]
