"""The `squad` command line: each command's success, and user errors as one exact line.

A user error (`squad.errors.UserError`) prints one line and exits 2; anything else is a
bug: one line saying so, exit 1, the traceback with ``-v``.
"""

from __future__ import annotations

import json
import logging
import shutil
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from squad.cli import main
from squad.data.datasets import list_datasets, load_dataset
from tests.support import grading_class as gc

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str):
    return CliRunner().invoke(main, list(args))


def _one_line_error(result, exit_code: int = 2) -> str:
    assert result.exit_code == exit_code, result.output
    assert isinstance(result.exception, SystemExit)  # handled, not a crash
    lines = result.output.splitlines()
    assert len(lines) == 1, result.output
    return lines[0]


# --------------------------------------------------------------------------- datasets
def test_datasets_list_names_every_dataset():
    """`squad datasets list` prints one line per catalogue dataset, name first."""
    result = _run("datasets", "list")
    assert result.exit_code == 0, result.output
    names = [line.split()[0] for line in result.output.splitlines()]
    assert names == list_datasets()


def test_datasets_info_prints_the_card():
    """`squad datasets info NAME` shows rows, checksum and licence."""
    result = _run("datasets", "info", "soc2010")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("soc2010: ")
    assert lines[1].split() == ["rows", "28,521"]
    assert lines[2].startswith("  checksum  sha256:")


def test_datasets_info_unknown_name_is_one_line():
    """An unknown dataset name lists the catalogue."""
    line = _one_line_error(_run("datasets", "info", "lfs_2021"))
    assert line == (
        "Error: Dataset 'lfs_2021' is not in the catalogue. Available: "
        f"{', '.join(list_datasets())}. Run `squad datasets list`."
    )


def test_datasets_load_writes_the_split(tmp_path):
    """`squad datasets load` writes exactly the rows `load_dataset` returns."""
    out = tmp_path / "test.csv"
    result = _run("datasets", "load", "soc2010", "--split", "test", "--to", str(out))
    assert result.exit_code == 0, result.output
    expected = load_dataset("soc2010", split="test")
    assert result.output.strip() == f"Wrote {len(expected):,} rows of soc2010 to {out}"
    written = pd.read_csv(out, dtype=str)
    assert written["record_id"].tolist() == expected["record_id"].astype(str).tolist()


def test_datasets_load_bad_file_type_is_one_line(tmp_path):
    """An output name the kit cannot write says which it can."""
    out = tmp_path / "test.xlsx"
    line = _one_line_error(_run("datasets", "load", "soc2010", "--to", str(out)))
    assert line == f"Error: Cannot write '{out}': use a .csv or .parquet file name."
    assert not out.exists()


# --------------------------------------------------------------------------- feedback
def test_feedback_unknown_assignment_is_one_line(tmp_path):
    """Feedback for an assignment never graded says to grade it first."""
    course = tmp_path / "course"
    shutil.copytree(gc.COURSE, course)
    line = _one_line_error(_run("feedback", "ps9", "--course", str(course)))
    assert line == (
        f"Error: Assignment 'ps9' is not in the gradebook of '{course}'. "
        "Run `squad grade` first."
    )


# --------------------------------------------------------------------------- grade
def test_grade_unknown_assignment_says_it_does_not_exist():
    """`squad grade nosuch` names the missing folder and the assignments there are."""
    line = _one_line_error(_run("grade", "nosuch", "--course", str(gc.COURSE)))
    assert line == (
        "Error: Assignment 'nosuch' does not exist: there is no folder "
        f"{(gc.COURSE / 'source' / 'nosuch').resolve()}. Available: ps1."
    )


def test_grade_broken_course_config_is_one_line(tmp_path):
    """A course configuration that raises is the user's file to fix, not a bug."""
    course = tmp_path / "course"
    shutil.copytree(gc.COURSE, course)
    (course / "nbgrader_config.py").write_text("c = get_config()\n1 / 0\n")
    line = _one_line_error(_run("grade", "ps1", "--course", str(course)))
    assert line == (
        f"Error: The course configuration '{course / 'nbgrader_config.py'}' could not "
        "be read: ZeroDivisionError: division by zero. Fix that file."
    )


@pytest.mark.slow
def test_grade_locked_gradebook_is_one_line(tmp_path):
    """A gradebook another program holds locked is a user error with what to do."""
    course = gc.build_course(tmp_path / "course")
    gc.submit(course, "ana", gc.answer(course, {}))
    holder = sqlite3.connect(course / "gradebook.db", timeout=0)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        result = _run("grade", "ps1", "--course", str(course))
    finally:
        holder.rollback()
        holder.close()
    line = _one_line_error(result)
    assert line.startswith("Error: The gradebook sqlite:///")
    assert line.endswith(
        "is locked by another program (Formgrader, another nbgrader or squad "
        "command). Let it finish, then grade again."
    )


# --------------------------------------------------------------------------- submit
def test_submit_missing_file_says_it_does_not_exist(tmp_path):
    """A predictions file that is not there is named as missing, not as unreadable."""
    missing = tmp_path / "missing.parquet"
    result = _run(
        "submit",
        str(missing),
        "--dataset",
        "soc2010",
        "--member",
        "NSO",
        "--model-name",
        "coder",
        "--out",
        str(tmp_path / "runs"),
    )
    line = _one_line_error(result)
    assert line == (
        f"Error: Predictions file {missing} does not exist. Check the path and "
        "submit again."
    )


# --------------------------------------------------------------------------- leaderboard
def test_leaderboard_skips_a_record_with_list_parameters(tmp_path, caplog):
    """A run record whose parameters are a list is left out with a warning, not a crash."""
    runs = tmp_path / "runs" / "coding"
    for run_id, parameters in (("0123456789ab", []), ("ba9876543210", {"x": 1})):
        (runs / run_id).mkdir(parents=True)
        record = {
            "experiment": "coding",
            "run_id": run_id,
            "parameters": parameters,
            "metrics": {"accuracy": 0.5},
            "status": "ok",
        }
        (runs / run_id / "record.json").write_text(json.dumps(record))
    with caplog.at_level(logging.WARNING, logger="squad"):
        result = _run("leaderboard", str(runs))
    assert result.exit_code == 0, result.output
    assert (
        "Skipping run folder 0123456789ab: record.json at parameters: [] is not of "
        "type 'object'"
    ) in caplog.messages
    assert "ba9876543210" in result.output and "0123456789ab" not in result.output


# --------------------------------------------------------------------------- bugs
def _broken_info(name: str) -> dict:
    return {}["n_rows"]  # a bug: a missing key


def test_a_bug_is_one_line_with_exit_1_and_a_hint(monkeypatch):
    """A bug is not dressed up as a user error: one line, exit 1, how to see more."""
    monkeypatch.setattr("squad.data.datasets.dataset_info", _broken_info)
    line = _one_line_error(_run("datasets", "info", "soc2010"), exit_code=1)
    assert line == (
        "Error: this is a bug in squad (KeyError: 'n_rows'); run with -v for the "
        "traceback, and please report it."
    )


def test_a_bug_shows_its_traceback_with_verbose(monkeypatch):
    """`squad -v` prints the traceback of a bug."""
    monkeypatch.setattr("squad.data.datasets.dataset_info", _broken_info)
    result = _run("-v", "datasets", "info", "soc2010")
    assert result.exit_code == 1
    assert "Traceback (most recent call last)" in result.output
    assert "in _broken_info" in result.output
    assert result.output.strip().endswith(
        "Error: this is a bug in squad (KeyError: 'n_rows'); the traceback is above, "
        "and please report it."
    )


def test_grade_memory_default_is_the_sandbox_default():
    """`squad grade --memory` defaults to the kernels' own default, written twice."""
    from squad.cli.grading import grade
    from squad.kernels.sandbox.policy import DEFAULT_MEMORY_MB

    [option] = [p for p in grade.params if p.name == "memory_mb"]
    assert option.default == DEFAULT_MEMORY_MB
