"""A hostile member's run folders against the real `squad board check/build` and
`squad leaderboard`: nothing crashes, what `check` passes `build` builds, every problem
is one line naming its folder, and no escape sequence reaches the terminal.

Each folder is one attack from issue 27 (a board member's report of 46 crafted folders):
lone surrogates, absurd metric names, colliding columns, trees 1,100 levels deep, a
Parquet file that expands to 8 GB, runs with 100 parameters each, escape sequences and
newlines in names.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from squad.board import intake
from squad.board.intake import find_records
from squad.board.leaderboard import MAX_SHOWN_PARAMETERS, leaderboard_table
from tests.support.board_runs import (
    figure_png,
    file_entry,
    honest_record,
    scored_run,
    soc_predictions,
    write_honest_runs,
    write_run,
)

#: Characters that must never reach a terminal raw.
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
FORGED = "Run folder honest/bob/aa0000000003 disagrees: forged"


def _deep(root: Path, levels: int) -> Path:
    """Make ``root/d/d/.../d``, ``levels`` deep, one folder at a time (pathlib and
    os.makedirs recurse)."""
    folder = root
    folder.mkdir(parents=True, exist_ok=True)
    for _ in range(levels):
        folder = folder / "d"
        folder.mkdir()
    return folder


def _remove_deep(top: Path) -> None:
    """Remove a tree made by :func:`_deep` bottom-up, without recursion: pytest's own
    clean-up of old temporary folders (shutil.rmtree) recurses and would fail on it."""
    folder = top
    while (folder / "d").is_dir():
        folder = folder / "d"
    while True:
        for entry in folder.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)  # shallow: figures/ and the like
            else:
                entry.unlink()
        folder.rmdir()
        if folder == top:
            return
        folder = folder.parent


def _relist(folder: Path, *names: str) -> None:
    """Put the current sha256 of ``names`` in the folder's record (as a member would)."""
    record = json.loads((folder / "record.json").read_text())
    for name in names:
        record.setdefault("files", {})[name] = file_entry(folder / name)
    (folder / "record.json").write_text(json.dumps(record))


def _hostile(root: Path) -> dict[str, str]:
    """Write the hostile folders under ``root``; folder -> expected problem."""
    expected = {}
    # A lone surrogate in the member name (JSON allows "\ud800").
    folder = scored_run(root / "surrogate", "ss0000000001", "alice", 0.5, seed=11)
    text = (folder / "record.json").read_text().replace('"alice"', '"al\\ud800ice"')
    (folder / "record.json").write_text(text)
    expected["surrogate"] = "provenance/member holds a lone surrogate"
    # A nested metric named accuracy_level_<400 digits>.
    scored_run(
        root / "absurd",
        "ss0000000002",
        "bob",
        0.5,
        seed=12,
        metrics={"by": {"accuracy_level_" + "9" * 400: 0.5}},
    )
    expected["absurd"] = "record.json at metrics/by: "
    # Columns 'record_id' and ' record_id'.
    frame = soc_predictions(0.5, seed=13)
    frame.insert(1, " record_id", frame["record_id"])
    scored_run(root / "columns", "ss0000000003", "carol", 0.5, predictions=frame)
    expected["columns"] = "columns 'record_id' and ' record_id' are the same name"
    # A run folder 1,100 levels down.
    deep = _deep(root / "deep", 1100)
    scored_run(deep, "ss0000000004", "dave", 0.5, seed=14)
    # runs/hostile/deep/d/...: the 15th d is the 17th level below runs/
    expected["deep/" + "/".join(["d"] * 15)] = "more than 16 levels below"
    # An 800 kB Parquet file that expands to 8 GB.
    bomb = root / "bomb"
    scored_run(bomb, "ss0000000005", "erin", 0.5, seed=15)
    indices = pa.array(np.zeros(2_000_000, dtype=np.int32))
    column = pa.DictionaryArray.from_arrays(indices, pa.array(["1115" * 1000]))
    ids = pa.array(np.zeros(2_000_000, dtype=np.int64))
    pq.write_table(
        pa.table({"record_id": ids, "predicted": column}),
        bomb / "predictions.parquet",
    )
    _relist(bomb, "predictions.parquet")
    expected["bomb"] = "would take 8,0"
    # A record nested 900 deep (under the JSON reader's limit).
    nested = honest_record("ss0000000006", "frank", "nb", 1.0, 0.5)
    write_run(root / "nested", nested)
    text = json.dumps(nested).replace('"C": 1.0', '"C": ' + "[" * 900 + "]" * 900)
    (root / "nested" / "record.json").write_text(text)
    expected["nested"] = "nests more than 32 levels deep"
    return expected


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    """Honest runs, hostile folders, a wide and a terminal-writing run; every command."""
    tmp = tmp_path_factory.mktemp("hostile27")
    runs = tmp / "runs"
    try:
        write_honest_runs(runs / "honest")
        expected = _hostile(runs / "hostile")
        for i in range(2):  # two runs with 100 parameter names each
            params = {f"p{j:03d}_{i}": j for j in range(100)}
            scored_run(
                runs / f"wide{i}",
                f"ww000000000{i}",
                "wes",
                0.4,
                seed=20 + i,
                params=params,
            )
        terminal = scored_run(
            runs / "terminal",
            "tt0000000001",
            f"eve\n{FORGED}",
            0.45,
            seed=30,
            params={"model": "\x1b[2J\x1b]0;pwned\x07\x9b31m\u202eledom"},
        )
        claim = honest_record("cc0000000001", "alice", "tfidf", 1.0, 0.999)
        claim["provenance"]["dataset"] = {"name": "soc2010"}
        claim["metrics"] = {"accuracy": 0.999}
        write_run(runs / "claim", claim, figure_png(1))

        def squad(*args: str) -> subprocess.CompletedProcess:
            return subprocess.run(
                [sys.executable, "-m", "squad.cli", *args],
                capture_output=True,
                text=True,
                check=False,
            )

        cache = ["--cache-dir", str(tmp / "cache")]
        yield {
            "root": runs,
            "terminal": terminal,
            "expected": expected,
            "site": tmp / "site",
            "check": squad("board", "check", str(runs), *cache),
            "build": squad(
                "-v", "board", "build", str(runs), "--out", str(tmp / "site"), *cache
            ),
            "leaderboard": squad("leaderboard", str(runs)),
        }
    finally:
        if (runs / "hostile" / "deep").exists():
            _remove_deep(runs / "hostile" / "deep")


@pytest.mark.slow
def test_check_names_every_hostile_folder_and_build_builds_the_rest(board):
    """What used to abort the build is one line naming the folder, in check and build."""
    check, build = board["check"], board["build"]
    assert check.returncode == 1, check.stderr
    assert build.returncode == 0, build.stderr
    for output in (check.stderr, build.stderr):
        assert "bug in squad" not in output and "Traceback" not in output
        for folder, problem in board["expected"].items():
            [line] = [
                line
                for line in output.splitlines()
                if f"Skipping run folder hostile/{folder}: " in line
            ]
            assert problem in line, line
    assert build.stdout.startswith(f"Wrote {board['site'] / 'index.html'}: ")


@pytest.mark.slow
def test_no_escape_reaches_the_terminal_and_no_line_is_forged(board):
    """Escape sequences, C1 controls, bidi overrides and newlines from records are shown
    as visible escapes: one record, one line."""
    for result in (board["check"], board["build"], board["leaderboard"]):
        for stream in (result.stdout, result.stderr):
            assert not RAW.search(stream.replace("\n", "").replace("\t", ""))
            assert not any(line.startswith(FORGED) for line in stream.splitlines())
    lines = board["check"].stderr.splitlines()
    *problems, summary = lines
    assert summary.startswith(f"{len(problems)} problem(s); ")
    assert all(
        line.startswith(("Skipping run folder ", "Run folder ")) for line in problems
    )
    table = [
        line
        for line in board["leaderboard"].stdout.splitlines()
        if "tt0000000001" in line
    ]
    assert (
        len(table) == 1 and "\\x1b]0;pwned\\x07" in table[0] and "eve\\nRun" in table[0]
    )


@pytest.mark.slow
def test_a_claimed_score_never_leads_the_hostile_board(board):
    """The unscored 0.999 'alice' run is listed apart; bob's scored run leads."""
    table = leaderboard_table(board["root"], task="soc2010")
    assert table["run_id"].iloc[0] == "aa0000000003" and table["rank"].iloc[0] == 1
    claim = table[table["run_id"] == "cc0000000001"]
    assert claim["rank"].isna().all() and list(claim["check"]) == ["self-reported"]
    index = (board["site"] / "index.html").read_text()
    assert "0.9990" not in index and ">bob (tfidf)</a>" in index


@pytest.mark.slow
def test_wide_runs_show_at_most_twenty_parameters(board):
    """200 parameter names over two runs: 20 columns, 20 panels at most."""
    table = leaderboard_table(board["root"], task="soc2010")
    shown = table.attrs["parameters"]
    assert len(shown) == MAX_SHOWN_PARAMETERS and set(shown) <= set(table.columns)
    assert {"model", "C"} <= set(shown)  # the parameters most runs have come first


def test_a_tree_1100_levels_deep_is_walked_without_recursion(tmp_path, monkeypatch):
    """With the depth limit lifted, the walk reaches a record 1,100 folders down
    (a recursive walk stops at Python's recursion limit)."""
    monkeypatch.setattr(intake, "FOLDER_MAX_DEPTH", 5000)
    deep = _deep(tmp_path / "top", 1100)
    (deep / "record.json").write_text("{}")
    try:
        found, skipped = find_records(tmp_path)
        assert found == [deep / "record.json"] and skipped == []
        monkeypatch.setattr(intake, "FOLDER_MAX_DEPTH", 16)
        found, skipped = find_records(tmp_path)
        assert found == []
        assert [s.folder for s in skipped] == [tmp_path / "top" / Path(*["d"] * 16)]
    finally:
        _remove_deep(tmp_path / "top")


@pytest.mark.slow
def test_mlflow_export_takes_every_record_the_board_accepts(tmp_path, monkeypatch):
    """O'Brien, '../../evil', 'a<b' and 'a>b': every run is logged, keys kept apart."""
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    from squad.board.mlflow_export import export_to_mlflow

    runs = tmp_path / "runs"
    params = {"../../evil": 1, "a<b": 2, "a>b": 3, "/abs": 4, "ok": "O'Brien's"}
    scored_run(runs / "a", "aa0000000001", "O'Brien", 0.5, params=params)
    scored_run(runs / "b", "bb0000000002", "x' or '1'='1", 0.6, seed=1)
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert export_to_mlflow(runs, tracking_uri=uri) == 2
    assert export_to_mlflow(runs, tracking_uri=uri) == 0  # found again, not doubled
    client = MlflowClient(tracking_uri=uri)
    logged = client.search_runs([client.get_experiment_by_name("coding").experiment_id])
    obrien = next(r for r in logged if r.data.tags["squad.member"] == "O'Brien")
    keys = set(obrien.data.params)
    assert len(keys) == 5 and "ok" in keys
    assert not any(".." in k or k.startswith("/") for k in keys)
    assert {v for k, v in obrien.data.params.items() if k.startswith("a_b")} == {
        "2",
        "3",
    }
