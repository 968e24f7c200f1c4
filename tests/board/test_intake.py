"""Tests for squad.board.intake: hostile run folders are left out, nothing of the machine leaks.

A tree of honest runs gets crafted hostile run folders added (path traversal, absolute
paths, symlinks out, huge and fake PNGs, wrong types, NaN and infinite numbers, HTML and
script in text fields, conflicting run ids, predictions of another task, ...). The real
``squad board build``, ``squad board check`` and ``squad leaderboard --html`` run on it:
each hostile folder is skipped with one warning naming it, the honest runs rank as
without them, and no byte of the sentinel files outside the tree reaches any output.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from squad.board.collect import board_runs
from squad.board.intake import PNG_MAGIC, load_runs, read_png, resolve_inside
from squad.board.leaderboard import leaderboard_table
from squad.board.limits import FIGURE_MAX_BYTES
from squad.cli import main
from tests.support.board_runs import (
    HONEST,
    figure_png,
    file_entry,
    honest_record,
    write_honest_runs,
    write_run,
)

SECRET = "SENTINEL-7f3c9d2e-the-machine-s-own-file"
SCRIPT = "<script>alert(1)</script><img src=x onerror=alert(2)>"


def _plain(record: dict) -> dict:
    """A record without curves or levels (no figures to draw for its task)."""
    record["metrics"] = {"accuracy": record["metrics"]["accuracy"]}
    return record


def _bad(run_id: str, **changes) -> dict:
    record = honest_record(run_id, "mallory", "evil", 9.0, 0.99)
    record.update(changes)
    return record


def _hostile(root: Path, outside: Path) -> dict[str, str]:
    """Write the hostile folders under ``root/hostile``; name -> expected problem."""
    sentinel_png = outside / "sentinel.png"
    base = root / "hostile"
    expected = {}

    def case(name: str, problem: str, record: dict | None, figure=b"") -> Path:
        folder = base / name
        if record is not None:
            write_run(folder, record, figure_png(7) if figure == b"" else figure)
        expected[name] = problem
        return folder

    case(
        "traversal",
        "figure 'confusion' path '../../../outside/sentinel.png' goes up with '..'",
        _bad("bb0000000001", figures={"confusion": "../../../outside/sentinel.png"}),
    )
    case(
        "absolute",
        "is absolute",
        _bad("bb0000000002", figures={"confusion": str(sentinel_png)}),
    )
    link = case("symlink-figure", "leads outside its run folder", _bad("bb0000000003"))
    (link / "figures" / "confusion.png").unlink()
    (link / "figures" / "confusion.png").symlink_to(sentinel_png)
    record = case("symlink-record", "record.json is a symlink", None)
    record.mkdir(parents=True)
    (outside / "record.json").write_text(json.dumps(_bad("bb0000000004")))
    (record / "record.json").symlink_to(outside / "record.json")
    (base / "symlink-folder").parent.mkdir(parents=True, exist_ok=True)
    (base / "symlink-folder").symlink_to(outside / "run", target_is_directory=True)
    expected["symlink-folder"] = "the folder is a symlink"
    case(
        "files-traversal",
        "goes up with '..'",
        _bad("bb0000000005", files={"../../../outside/sentinel.txt": {"bytes": 1}}),
    )
    huge = PNG_MAGIC + b"\x00\x00\x00\rIHDR" + b"\x00" * (FIGURE_MAX_BYTES + 10)
    case("huge-figure", "the limit is 2,000,000", _bad("bb0000000006"), huge)
    case(
        "not-png",
        "figure 'confusion' is not a PNG image",
        _bad("bb0000000007"),
        f"<html>{SCRIPT}</html>".encode(),
    )
    bomb = bytearray(figure_png(8))
    bomb[16:24] = (100_000).to_bytes(4, "big") * 2
    case("png-bomb", "claims 100000x100000 pixels", _bad("bb0000000008"), bytes(bomb))
    case(
        "wrong-type",
        "record.json at metrics/accuracy: 'high' is not of type 'number', 'null'",
        _bad("bb0000000009", metrics={"accuracy": "high"}),
    )
    case(
        "list-parameters",
        "record.json at parameters: [] is not of type 'object'",
        _bad("bb0000000010", parameters=[]),
    )
    case(
        "out-of-range",
        "record.json at metrics/accuracy: 1.5 is greater than the maximum of 1",
        _bad("bb0000000011", metrics={"accuracy": 1.5}),
    )
    nan = case("nan", "NaN is not a number JSON allows", None)
    nan.mkdir(parents=True)
    text = json.dumps(_bad("bb0000000012")).replace(
        '"accuracy": 0.99', '"accuracy": NaN'
    )
    (nan / "record.json").write_text(text)
    inf = case("infinite", "number 1e999 is not finite", None)
    inf.mkdir(parents=True)
    text = json.dumps(_bad("bb0000000013")).replace(
        '"accuracy": 0.99', '"accuracy": 1e999'
    )
    (inf / "record.json").write_text(text)
    every = _bad(SCRIPT, experiment=SCRIPT, parameters={SCRIPT: SCRIPT})
    every["provenance"]["member"] = SCRIPT
    big = case("huge-integer", "has more than 18 digits", None)
    big.mkdir(parents=True)
    text = json.dumps(_bad("bb0000000018")).replace('"C": 9.0', '"C": ' + "9" * 400)
    (big / "record.json").write_text(text)
    case("html-everywhere", "record.json at run_id: ", every)
    case("too-big", "record.json has", _bad("bb0000000014", padding="x" * 1_100_000))
    deep = case("deep", "record.json is nested too deeply", None)
    deep.mkdir(parents=True)
    text = (
        json.dumps(_bad("bb0000000015"))[:-1]
        + ', "x": '
        + "[" * 100_000
        + "]" * 100_000
        + "}"
    )
    (deep / "record.json").write_text(text)
    # One member's run id on two different runs: neither can be trusted (board check
    # names both, so a shared repository's CI refuses the contribution).
    for name, acc in (("conflict-a", 0.5), ("conflict-b", 0.95)):
        case(
            name,
            "run id ee0000000001 of carol is also used by a different run in hostile/",
            honest_record("ee0000000001", "carol", "nb", 1.0, acc),
        )
    # Predictions of another task: ecoicop products in a soc2010 run.
    from squad.data.datasets import load_dataset

    eco = load_dataset("ecoicop", "test")
    wrong = case(
        "wrong-task",
        "predictions cannot be scored: predictions.parquet is not a valid soc2010",
        _bad(
            "bb0000000016",
            provenance={"member": "mallory", "dataset": {"name": "soc2010"}},
            metrics={"accuracy": 0.99},
        ),
    )
    pd.DataFrame(
        {"record_id": eco["product_id"], "predicted": eco["category"]}
    ).to_parquet(wrong / "predictions.parquet")
    listed = json.loads((wrong / "record.json").read_text())
    listed["files"] = {"predictions.parquet": file_entry(wrong / "predictions.parquet")}
    (wrong / "record.json").write_text(json.dumps(listed))
    linked = case(
        "symlink-predictions",
        "predictions file path 'predictions.parquet' leads outside its run folder",
        _bad(
            "bb0000000017", provenance={"member": "m", "dataset": {"name": "soc2010"}}
        ),
    )
    (linked / "predictions.parquet").symlink_to(outside / "sentinel.txt")
    return expected


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    """Honest and hostile runs, the site, the check and the one-page board, built once."""
    tmp = tmp_path_factory.mktemp("hostile")
    outside = tmp / "outside"
    (outside / "run").mkdir(parents=True)
    (outside / "sentinel.txt").write_text(SECRET)
    (outside / "sentinel.png").write_bytes(figure_png(5) + SECRET.encode())
    write_run(outside / "run", _bad("bb0000000099"), figure_png(6))
    honest, runs = tmp / "honest", tmp / "runs"
    write_honest_runs(honest)
    write_honest_runs(runs)
    # Text fields full of HTML in an otherwise valid run: kept, shown escaped.
    marked = _plain(honest_record("cc0000000001", SCRIPT, SCRIPT, 1.0, 0.5))
    marked["experiment"] = "notes"
    marked["parameters"][SCRIPT] = f"javascript:{SCRIPT}"
    marked["fact_sheet"] = {"description": SCRIPT, "model": SCRIPT}
    marked["provenance"]["platform"] = SCRIPT
    write_run(runs / "notes" / "cc0000000001", marked, figure_png(3))
    # Two members may share a run id (the kit derives ids from the parameters).
    for member, acc in (("alice", 0.4), ("bob", 0.45)):
        record = _plain(honest_record("dd0000000001", member, "nb", 1.0, acc))
        record["experiment"] = "shared"
        write_run(runs / "shared" / member, record, figure_png(4))
    expected = _hostile(runs, outside)
    site, page = tmp / "site", tmp / "board.html"

    def squad(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "squad.cli", *args],
            capture_output=True,
            text=True,
            check=False,
        )

    return {
        "root": runs,
        "honest": honest,
        "outside": outside,
        "expected": expected,
        "site": site,
        "page": page,
        "build": squad("board", "build", str(runs), "--out", str(site)),
        "check": CliRunner().invoke(main, ["board", "check", str(runs)]),
        "leaderboard": CliRunner().invoke(
            main, ["leaderboard", str(runs), "--html", str(page)]
        ),
    }


def _tags(page: str) -> list[tuple[str, dict[str, str]]]:
    """Every start tag of a page with its attributes, as a browser's parser sees them."""
    from html.parser import HTMLParser

    found: list[tuple[str, dict[str, str]]] = []

    class Parser(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append((tag, {k: v or "" for k, v in attrs}))

    Parser().feed(page)
    return found


def _warnings(stderr: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in stderr.splitlines():
        match = re.match(
            r"WARNING squad: Skipping run folder (hostile/[^:]+): (.*)$", line
        )
        if match:
            found.setdefault(match.group(1), []).append(match.group(2))
    return found


@pytest.mark.slow
def test_each_hostile_folder_is_left_out_with_one_warning(board):
    """Every hostile folder gets exactly one warning naming it and its problem."""
    assert board["build"].returncode == 0, board["build"].stderr
    warnings = _warnings(board["build"].stderr)
    expected = {f"hostile/{name}": text for name, text in board["expected"].items()}
    assert len(expected) >= 12
    assert sorted(warnings) == sorted(expected)
    for folder, lines in warnings.items():
        assert len(lines) == 1, (folder, lines)
        assert expected[folder] in lines[0], (folder, lines[0])
    assert "Traceback" not in board["build"].stderr
    assert board["build"].stdout.startswith(
        f"Wrote {board['site'] / 'index.html'}: 3 task(s)"
    )


@pytest.mark.slow
def test_honest_runs_rank_as_without_the_hostile_ones(board):
    """The honest task's ranking is the one the honest runs alone give."""
    alone = leaderboard_table(board["honest"])
    mixed = leaderboard_table(board["root"], task="soc2010")
    assert list(mixed["run_id"]) == list(alone["run_id"]) == [r[0] for r in HONEST]
    assert list(mixed["accuracy"]) == list(alone["accuracy"])
    assert list(mixed["member"]) == ["bob", "alice", "alice"]
    assert list(mixed["rank"]) == [1, 2, 3]
    task_pages = list((board["site"] / "tasks").glob("soc2010-*.html"))
    assert len(task_pages) == 1
    text = task_pages[0].read_text()
    ranked = [text.index(f">{run_id}<") for run_id, *_ in HONEST]
    assert ranked == sorted(ranked)


@pytest.mark.slow
def test_nothing_of_the_machine_reaches_any_output(board):
    """No sentinel byte, plain or base64, is in the site, the page or the messages."""
    sentinel_png = (board["outside"] / "sentinel.png").read_bytes()
    middle = len(sentinel_png) // 2  # its header is like any other plot's
    needles = [SECRET.encode(), sentinel_png[middle : middle + 64]]
    for data in (SECRET.encode(), sentinel_png[middle:]):
        for shift in range(3):  # base64 of the data at any alignment
            needles.append(base64.b64encode(data[shift:])[4:40])
    outputs = [p for p in board["site"].rglob("*") if p.is_file()] + [board["page"]]
    assert len(outputs) > 10
    for path in outputs:
        content = path.read_bytes()
        for needle in needles:
            assert needle not in content, path
    assert SECRET not in board["build"].stdout + board["build"].stderr
    assert SECRET not in board["check"].output + board["leaderboard"].output
    assert "bb0000000099" not in (board["site"] / "index.html").read_text()


@pytest.mark.slow
def test_text_from_records_is_escaped_on_every_page(board):
    """HTML and script in a run's text fields show as text; no page runs a script."""
    pages = list(board["site"].rglob("*.html")) + [board["page"]]
    for path in pages:
        tags = _tags(path.read_text())
        assert not [t for t, _ in tags if t in ("script", "iframe", "object")], path
        for tag, attrs in tags:
            assert not [a for a in attrs if a.startswith("on")], (path, tag, attrs)
            link = attrs.get("href") or attrs.get("src") or ""
            assert not link.lower().startswith("javascript"), (path, link)
            assert "://" not in link, (path, link)  # nothing loaded from elsewhere
        assert ("meta", {"http-equiv": "Content-Security-Policy"}) in [
            (t, {"http-equiv": a.get("http-equiv")}) for t, a in tags
        ]
    [run_page] = [p for p in (board["site"] / "runs").glob("cc0000000001-*.html")]
    text = run_page.read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert (
        text.count("&lt;script&gt;") >= 5
    )  # member, model, parameter, facts, platform


@pytest.mark.slow
def test_check_names_every_bad_folder_and_leaderboard_keeps_going(board):
    """`squad board check` exits 1 naming each; `squad leaderboard` ranks the rest."""
    check = board["check"]
    assert check.exit_code == 1
    for name in board["expected"]:
        assert f"Skipping run folder hostile/{name}: " in check.stderr, name
    assert check.stderr.endswith(
        f"{len(board['expected'])} problem(s); 6 run(s) in 3 task(s) pass "
        "(3 listed apart, not ranked).\n"
    )
    result = board["leaderboard"]
    assert result.exit_code == 0, result.output
    assert (
        "Task soc2010/stratified: 3 run(s), 2 member(s), 3 ranked by accuracy"
        in result.output
    )
    assert "mallory" not in result.output and "bb00000000" not in result.output


@pytest.mark.slow
def test_two_members_sharing_a_run_id_get_a_page_each(board):
    """The same run id from two members: both ranked, neither page overwrites the other."""
    table = leaderboard_table(board["root"], task="shared")
    assert list(zip(table["run_id"], table["member"], strict=True)) == [
        ("dd0000000001", "alice"),
        ("dd0000000001", "bob"),
    ]
    pages = sorted((board["site"] / "runs").glob("dd0000000001-*.html"))
    assert len(pages) == 2
    assert "by alice" in pages[0].read_text() and "by bob" in pages[1].read_text()


def test_resolve_inside_refuses_every_way_out(tmp_path):
    """Absolute, drive, backslash, '..' and symlinked paths are refused; plain ones kept."""
    run = tmp_path / "run"
    (run / "figures").mkdir(parents=True)
    (tmp_path / "secret.png").write_bytes(figure_png(1))
    (run / "figures" / "out.png").symlink_to(tmp_path / "secret.png")
    (run / "figures" / "ok.png").write_bytes(figure_png(2))
    for rel, problem in [
        ("/etc/passwd", "is absolute"),
        ("C:/x.png", "has a backslash, colon or NUL"),
        ("figures\\..\\..\\x", "has a backslash, colon or NUL"),
        ("figures/../../secret.png", "goes up with '..'"),
        ("figures/out.png", "leads outside its run folder"),
        ("", "is not a file name"),
        (["figures/ok.png"], "is not a file name"),
    ]:
        with pytest.raises(Exception, match=re.escape(problem)):
            resolve_inside(run, rel, "figure")
    assert (
        resolve_inside(run, "figures/ok.png", "figure")
        == (run / "figures" / "ok.png").resolve()
    )
    assert read_png(run, "figures/ok.png", "ok").startswith(PNG_MAGIC)


def test_copies_of_one_run_are_kept_once_without_warning(tmp_path, caplog):
    """The same run copied twice (different end time) is one run, the latest."""
    record = honest_record("aa0000000001", "alice", "nb", 1.0, 0.5)
    write_run(tmp_path / "a" / "aa0000000001", record, figure_png(1))
    record["timings"] = {"end": "2026-02-01T10:00:00+00:00"}
    write_run(tmp_path / "b" / "aa0000000001", record, figure_png(1))
    intake = load_runs(tmp_path)
    assert intake.rejected == []
    assert [r.folder for r in intake.runs] == [tmp_path / "b" / "aa0000000001"]
    assert len(board_runs(tmp_path).runs) == 1
