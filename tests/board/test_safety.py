"""Tests for squad.board.safety, squad.board.names and squad.board.parquet_limits.

Text from run folders printed safely, names compared as they look, and predictions
files measured before they are read.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from squad.board import parquet_limits
from squad.board.names import confusable_groups, display_name, normalize_name
from squad.board.parquet_limits import read_predictions_file
from squad.board.predictions import check_predictions
from squad.board.safety import find_surrogate, json_depth, one_line, visible
from squad.errors import FileProblemError, InvalidInputError


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("plain O'Brien ü", "plain O'Brien ü"),
        ("a\nb", "a\\nb"),  # a newline cannot start a forged line
        ("\x1b[2J\x1b[31mred", "\\x1b[2J\\x1b[31mred"),  # clear screen, colour
        ("\x1b]0;pwned\x07", "\\x1b]0;pwned\\x07"),  # window title (OSC)
        ("\x9b31m", "\\x9b31m"),  # C1 CSI
        ("\u202eecila", "\\u202eecila"),  # right-to-left override
        ("ali\u200bce", "ali\\u200bce"),  # zero-width space
        ("a\u2028b", "a\\u2028b"),  # line separator
        ("al\ud800ice", "al\\ud800ice"),  # lone surrogate
        ("tab\there", "tab\\there"),
    ],
)
def test_visible_shows_every_unprintable_character_as_an_escape(text, shown):
    """Controls, escapes, bidi and invisible characters become visible, on one line."""
    assert visible(text) == shown
    assert visible(shown) == shown  # idempotent
    assert shown.isprintable() and len(shown.splitlines()) == 1


def test_one_line_shortens_after_escaping():
    """The limit applies to what is printed."""
    assert one_line("\x1b" * 100, limit=10) == "\\x1b\\x1..."


def test_find_surrogate_and_depth_walk_without_recursion():
    """A list nested 100,000 deep is measured, and its surrogate found, without recursion."""
    deep: list = ["x\udc80"]
    for _ in range(100_000):
        deep = [deep]
    assert json_depth({"a": deep}) == 100_002
    assert find_surrogate({"a": deep}).startswith("a/0/0/0")
    assert find_surrogate({"k\ud800": 1}) == "k\\ud800 (a key)"
    assert find_surrogate({"a": ["fine", 1.5, None]}) is None


@pytest.mark.parametrize(
    ("names", "groups"),
    [
        (["alice", "\u0430lice"], [["alice", "\u0430lice"]]),  # Cyrillic a
        (["alice", "alice\u200b"], [["alice", "alice\u200b"]]),  # zero-width space
        (["alice", "\u202eecila"], [["alice", "\u202eecila"]]),  # shown reversed
        (["alice", "Alice"], [["Alice", "alice"]]),  # case
        (["mary", "rnary"], [["mary", "rnary"]]),
        (["ian", "Ian", "lan"], [["Ian", "ian", "lan"]]),  # I and l
        (["alice", "bob", "statcan", "istat"], []),
        (["alice", "\uff41\uff4c\uff49\uff43\uff45"], []),  # fullwidth: NFKC, same name
    ],
)
def test_confusable_groups_flags_names_that_look_alike(names, groups):
    """TR39 skeletons (after NFKC) group look-alike names; different names stay apart."""
    assert confusable_groups(names) == groups


def test_display_name_is_nfkc_with_invisible_characters_escaped():
    """Names are normalised and can never print like another name."""
    assert normalize_name(" \uff41lice ") == "alice"
    assert display_name("alice\u200b") == "alice\\u200b"
    assert display_name("\u202eecila") == "\\u202eecila"


# ------------------------------------------------------------------ predictions files
def _write(table: pa.Table, path, **options) -> str:
    pq.write_table(table, path, **options)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_dictionary_bomb_is_measured_and_refused_before_it_is_decoded(tmp_path):
    """2 million copies of a 4 kB string: a small file, 8 GB decoded; refused unread."""
    indices = pa.array(np.zeros(2_000_000, dtype=np.int32))
    bomb = pa.DictionaryArray.from_arrays(indices, pa.array(["x" * 4000]))
    ids = pa.array(np.zeros(2_000_000, dtype=np.int64))
    path = tmp_path / "predictions.parquet"
    sha = _write(pa.table({"record_id": ids, "predicted": bomb}), path)
    assert path.stat().st_size < 1_000_000
    with pytest.raises(
        InvalidInputError, match=r"would take 8,0\d\d,\d{3},\d{3} bytes"
    ):
        read_predictions_file(path, sha256=sha)


def test_uncompressed_size_over_the_ceiling_is_refused_from_metadata(
    tmp_path, monkeypatch
):
    """A column that compresses well is refused by its uncompressed size, unread."""
    monkeypatch.setattr(parquet_limits, "MEMORY_CEILING", 1_000_000)
    text = pa.array(["y" * 4000 + str(i) for i in range(500)])
    path = tmp_path / "predictions.parquet"
    sha = _write(
        pa.table({"predicted": text}), path, use_dictionary=False, compression="zstd"
    )
    assert path.stat().st_size < 100_000
    with pytest.raises(InvalidInputError, match=r"bytes uncompressed; the limit is"):
        read_predictions_file(path, sha256=sha)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (pa.table({"nested": pa.array([[1, 2]])}), "nested or binary types"),
        (pa.table({f"c{i}": [1] for i in range(51)}), "51 columns"),
    ],
)
def test_odd_predictions_files_are_refused(tmp_path, table, message):
    """Nested columns and too many columns are refused from the schema alone."""
    path = tmp_path / "p.parquet"
    sha = _write(table, path)
    with pytest.raises(InvalidInputError, match=message):
        read_predictions_file(path, sha256=sha)


def test_predictions_that_differ_from_their_sha256_are_not_read(tmp_path):
    """The bytes read must be the ones the record's sha256 names."""
    path = tmp_path / "p.parquet"
    _write(pa.table({"record_id": [1], "predicted": ["1115"]}), path)
    with pytest.raises(FileProblemError, match="differs from the sha256"):
        read_predictions_file(path, sha256="0" * 64)
    with pytest.raises(InvalidInputError, match="not a Parquet file"):
        (tmp_path / "x.parquet").write_bytes(b"PAR1 not really")
        read_predictions_file(tmp_path / "x.parquet")


def test_columns_that_collide_once_trimmed_are_named(tmp_path):
    """'record_id' and ' record_id' become one name: refused in one line, not a crash."""
    table = pa.table(
        [pa.array([1]), pa.array([1]), pa.array(["1115"])],
        names=["record_id", " record_id", "predicted"],
    )
    path = tmp_path / "p.parquet"
    _write(table, path)
    frame = read_predictions_file(path)
    assert list(frame.columns) == ["record_id", " record_id", "predicted"]
    with pytest.raises(InvalidInputError, match="columns 'record_id' and ' record_id'"):
        check_predictions(frame, "soc2010")
    same = pd.DataFrame([[1, 1, "1115"]], columns=["record_id", "record_id", "p"])
    with pytest.raises(InvalidInputError, match="are the same name"):
        check_predictions(same, "soc2010")


def test_the_fast_schema_check_never_accepts_what_jsonschema_refuses():
    """Records at the edges of the schema: the fast path accepts none that jsonschema,
    the reference, refuses."""
    import copy

    from squad.board import intake

    base = {
        "experiment": "coding",
        "run_id": "aa01",
        "parameters": {},
        "metrics": {},
        "status": "ok",
    }
    changes = [
        {"metrics": {"accuracy": True}},
        {"metrics": {"n": True}},
        {"metrics": {"n": 1.0}},
        {"metrics": {"fit_seconds": -1}},
        {"metrics": {"automation_curve": {"accuracy": [2]}}},
        {"metrics": {"by": {"a b": 1}}},
        {"metrics": {"by": {"accuracy_level_" + "9" * 400: 0.5}}},
        {"provenance": {"member": "\U0001f600" * 100}},
        {"provenance": {"member": "a" * 101}},
        {"provenance": {"dataset": {"name": "a/b"}}},
        {"parameters": {f"p{i}": i for i in range(101)}},
        {"parameters": {"a\x01": 1}},
        {"parameters": {"a": "x" * 10_001}},
        {"run_id": "../x"},
        {"experiment": "a\u0663"},
        {"status": "great"},
        {"schema": 2},
        {"timings": {"end": "2026<script>"}},
        {"timings": {"x": -1}},
        {"files": {"a": {"sha256": "xyz"}}},
        {"figures": {"a b": "x.png"}},
        {"fact_sheet": {"x": "a\x1b"}},
        {"error": {f"k{i}": i for i in range(21)}},
    ]
    refused = 0
    for change in changes:
        record = {**copy.deepcopy(base), **change}
        reference = intake._validator().is_valid(record)
        assert intake._fast_valid(record) <= reference, change
        assert (intake._schema_problem(record) is None) == reference, change
        refused += not reference
    assert refused >= 20
