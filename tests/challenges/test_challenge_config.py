"""The challenge file, the labels' cut, subset scores and standings: no server."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from squad.challenges.config import parse_challenge
from squad.challenges.labels import HeldLabels, private_digest, split_keys
from squad.challenges.scoring import subset_scores
from squad.challenges.settings import database_settings
from squad.challenges.standings import final_board, public_board
from squad.errors import InvalidInputError

PHASE = {"name": "main", "opens": "2026-01-01T00:00Z", "closes": "2026-01-02T00:00Z"}
GOOD = {"title": "T", "dataset": "soc2010", "phases": [PHASE]}


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"title": ""}, "give the challenge a title"),
        ({"dataset": "lfs"}, "dataset 'lfs' has no coding task"),
        ({"metric": "auc"}, "metric 'auc' is unknown"),
        ({"tie_breakers": ["log_loss"]}, "metric 'log_loss' is unknown"),
        ({"public_fraction": 1.5}, "public_fraction must be between 0 and 1"),
        ({"caps": {"per_day": 0}}, r"caps.per_day: expected a whole number >= 1"),
        ({"caps": {"weekly": 3}}, "caps takes per_day and total"),
        ({"team_size": "four"}, "team_size: expected a whole number"),
        ({"colour": "red"}, "unknown key"),
        ({"phases": []}, "list at least one phase"),
        (
            {"phases": [{**PHASE, "closes": "2025-01-01T00:00Z"}]},
            "closes .* is not after opens",
        ),
        ({"phases": [{**PHASE, "opens": "2026-01-01T00:00"}]}, "has no time zone"),
        ({"phases": [{**PHASE, "opens": "monday"}]}, "is not an ISO time"),
        ({"phases": [PHASE, PHASE]}, "opens before the previous phase closes"),
        ({"language": "pl"}, "language applies to the ecoicop dataset only"),
    ],
)
def test_parse_challenge_refuses_with_one_line(change, match):
    """Each wrong setting is one line naming it."""
    with pytest.raises(InvalidInputError, match=match) as info:
        parse_challenge({**GOOD, **change})
    assert "\n" not in str(info.value)


def test_parse_challenge_defaults():
    """A minimal file gets the documented defaults."""
    config = parse_challenge(GOOD)
    assert (config.metric, config.daily_cap, config.total_cap) == ("accuracy", 5, 100)
    assert (config.final_picks, config.public_fraction, config.seed) == (2, 0.3, 0)
    assert config.phases[0].opens.utcoffset().total_seconds() == 0


def test_split_keys_is_seeded_and_sized():
    """The same seed gives the same cut in any order of keys; another seed another."""
    keys = pd.Index([str(i) for i in range(1000)])
    first = split_keys(keys, 0.3, 11)
    assert first.sum() == 300
    shuffled = keys[::-1]
    again = split_keys(shuffled, 0.3, 11)
    assert set(shuffled[again]) == set(keys[first])
    assert set(keys[split_keys(keys, 0.3, 12)]) != set(keys[first])


def test_private_digest_covers_private_labels_only():
    """The digest is the sha256 of the sorted private id,label CSV."""
    held = HeldLabels(
        pd.Series(["x", "y", "z"], index=["3", "1", "2"]),
        np.array([True, False, False]),
    )
    expected = hashlib.sha256(b"id,label\n1,y\n2,z\n").hexdigest()
    assert private_digest(held) == expected


def test_subset_scores_scores_each_part():
    """Public and private accuracies are computed on their own records."""
    y_true = np.array(["a", "b", "c", "d", "e"])
    y_pred = np.array(["a", "b", "x", "x", "e"])
    public = np.array([True, True, False, False, False])
    pub, priv = subset_scores(y_true, y_pred, public, ("accuracy", "f1_macro"))
    assert pub["accuracy"] == 1.0
    assert priv["accuracy"] == pytest.approx(1 / 3)
    assert pub["f1_macro"] == 1.0


def test_subset_scores_perfect_prediction_is_best():
    """A perfect prediction scores 1 on both parts, whatever the cut."""
    y = np.array(list("abcabcabca"))
    mask = split_keys(pd.Index([str(i) for i in range(10)]), 0.4, 3)
    for part in subset_scores(y, y, mask, ("accuracy", "f1_macro", "f1_weighted")):
        assert set(part.values()) == {1.0}


def _row(team, created, public, private, picked=False):
    return {
        "team": team,
        "created": created,
        "public_scores": {"accuracy": public},
        "private_scores": {"accuracy": private},
        "picked": picked,
    }


def test_public_board_best_per_team_earliest_wins_ties():
    """Each team once, at its best public score; a tie goes to the earlier one."""
    rows = [
        _row("a", 1, 0.5, 0.9),
        _row("b", 2, 0.8, 0.1),
        _row("a", 3, 0.8, 0.2),
        _row("c", 0, 0.8, 0.3),
    ]
    ranked = public_board(rows, ["accuracy"])
    assert [(r["rank"], r["team"]) for r in ranked] == [(1, "c"), (2, "b"), (3, "a")]


def test_final_board_uses_picks_else_best_public():
    """A team's picks stand; without picks, its best public submissions do."""
    rows = [
        _row("a", 1, 0.9, 0.5),
        _row("a", 2, 0.6, 0.95, picked=True),
        _row("b", 3, 0.9, 0.7),
        _row("b", 4, 0.5, 0.99),
    ]
    ranked = final_board(rows, ["accuracy"], 1)
    assert [(r["team"], r["private_scores"]["accuracy"]) for r in ranked] == [
        ("a", 0.95),
        ("b", 0.7),
    ]


@pytest.mark.parametrize(
    ("url", "engine", "name"),
    [
        ("", "sqlite3", "/srv/state/challenge.sqlite3"),
        ("sqlite:///c.db", "sqlite3", "/srv/state/c.db"),
        ("sqlite:////var/c.db", "sqlite3", "/var/c.db"),
        ("postgresql://u:p@db:5433/squad", "postgresql", "squad"),
    ],
)
def test_database_settings_reads_urls(url, engine, name, tmp_path):
    """SQLite paths relative to the state folder; PostgreSQL's parts."""
    from pathlib import Path

    out = database_settings(url, Path("/srv/state"))
    assert out["ENGINE"].endswith(engine)
    assert out["NAME"] == name


def _ecoicop_config(tmp_path, language="en"):
    from squad.challenges.config import read_challenge

    path = tmp_path / "c.yml"
    path.write_text(
        "title: T\ndataset: ecoicop\n"
        f"language: {language}\n"
        "phases:\n  - {name: main, opens: 2020-01-01T00:00Z, closes: 2099-01-01T00:00Z}\n"
    )
    return read_challenge(path)


def test_score_upload_ecoicop_one_language(tmp_path):
    """An ecoicop challenge scores its language; another language is one clear line."""
    from squad.challenges.labels import texts_csv
    from squad.challenges.scoring import score_upload
    from squad.data.datasets import load_dataset

    config = _ecoicop_config(tmp_path)
    test = load_dataset("ecoicop", "test")
    english = test[test["language"] == "en"]
    perfect = tmp_path / "p.csv"
    english.assign(predicted=english["category"])[
        ["product_id", "language", "predicted"]
    ].to_csv(perfect, index=False)
    result = score_upload(perfect, config)
    assert result["public"]["accuracy"] == result["private"]["accuracy"] == 1.0
    polish = test[test["language"] == "pl"]
    other = tmp_path / "pl.csv"
    polish.assign(predicted=polish["category"])[
        ["product_id", "language", "predicted"]
    ].to_csv(other, index=False)
    assert score_upload(other, config) == {
        "error": "Predict the en records only (the file has pl)."
    }
    texts = texts_csv(config).decode()
    assert texts.splitlines()[0] == "product_id,language,text"
    assert len(texts.splitlines()) == len(english) + 1


@pytest.mark.parametrize(
    ("url", "match"),
    [("sqlite:///", "names no file"), ("mysql://db/x", "is not supported")],
)
def test_database_settings_refuses(url, match):
    """A URL without a file, or of another database, is one line."""
    from pathlib import Path

    with pytest.raises(InvalidInputError, match=match):
        database_settings(url, Path("/srv/state"))


def test_example_challenge_file_is_valid():
    """The example shipped with the package reads as documented."""
    from pathlib import Path

    import squad.challenges
    from squad.challenges import read_challenge

    example = Path(squad.challenges.__file__).parent / "example.yml"
    config = read_challenge(example)
    assert (config.dataset, config.metrics) == ("soc2010", ("accuracy", "f1_macro"))
    assert config.roster == example.parent / "roster.csv"
    assert config.organisers == ("organiser",)
    assert [(p.name, p.fact_sheet) for p in config.phases] == [
        ("main", False),
        ("final", True),
    ]


def test_example_own_labels_file_is_valid(tmp_path):
    """The own-labels example reads, and serves a generated answers file beside it."""
    import shutil
    from pathlib import Path

    import squad.challenges
    from squad.challenges import read_challenge
    from squad.challenges.labels import held_labels, texts_csv

    source = Path(squad.challenges.__file__).parent / "example-own-labels.yml"
    example = tmp_path / source.name
    shutil.copy(source, example)
    answers = pd.DataFrame(
        {"record_id": range(10), "title": [f"job {i}" for i in range(10)]}
    ).assign(code=lambda f: ["A1", "B2"] * 5)
    answers.to_csv(tmp_path / "answers.csv", index=False)
    config = read_challenge(example)
    assert config.dataset is None and config.labels.file == tmp_path / "answers.csv"
    assert config.metrics == ("f1_macro", "accuracy")
    assert held_labels(config).n_public == 3
    assert b"A1" not in texts_csv(config) and b"job 9" in texts_csv(config)


OWN = {
    "title": "T",
    "labels": {"file": "answers.csv", "id": "rid", "text": ["title"], "label": "code"},
    "phases": [PHASE],
}


def _own(**labels):
    return {**OWN, "labels": {**OWN["labels"], **labels}}


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        ({**OWN, "dataset": "soc2010"}, "give exactly one of dataset .* or labels"),
        ({"title": "T", "phases": [PHASE]}, "give exactly one of dataset .* or labels"),
        ({**OWN, "labels": "answers.csv"}, "labels must be a mapping"),
        (_own(file="../x.csv"), r"labels.file '\.\./x\.csv' must be a path inside"),
        (_own(file="/srv/x.csv"), r"labels.file '/srv/x\.csv' must be a path inside"),
        (_own(file="a/../../x.csv"), "must be a path inside"),
        (_own(file="answers.xlsx"), "must be a .csv or .parquet file"),
        (_own(text=[]), "labels.text .* must list the text columns"),
        (_own(label=""), "labels.label '' must name a column"),
        (_own(label="title"), "must be different columns"),
        (_own(text=["record_id"]), "labels.text names 'record_id'"),
        (_own(sha256="abc"), "labels.sha256 'abc' is not a sha256"),
        (
            _own(sha256=10**63),
            "labels.sha256 was read as .*, not text; put the sha256 in quotes",
        ),
        (_own(colour="red"), "unknown: colour"),
        ({**OWN, "labels": {"file": "a.csv"}}, "missing: id, label, text"),
        ({**OWN, "protocol": "random"}, "protocol applies to a catalogue dataset"),
    ],
)
def test_labels_entry_refuses_with_one_line(raw, match):
    """Each wrong labels setting is one line naming the key, the value and the fix."""
    with pytest.raises(InvalidInputError, match=match) as info:
        parse_challenge(raw)
    assert "\n" not in str(info.value)


def test_labels_entry_is_read():
    """A text column may be given alone; the sha256 is kept in lower case."""
    config = parse_challenge(_own(text="title", sha256="A" * 64))
    assert config.dataset is None
    assert config.labels.text == ("title",)
    assert config.labels.sha256 == "a" * 64


def _write(folder, labels: dict):
    import yaml

    path = folder / "CHALLENGE.yml"
    raw = {**OWN, "labels": {**OWN["labels"], **labels}}
    raw["phases"] = [{k: str(v) for k, v in PHASE.items()}]
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def test_read_challenge_refuses_a_labels_file_leading_out(tmp_path):
    """A symlink inside the folder that leads out of it is refused; one inside is not."""
    from squad.challenges.config import read_challenge

    outside = tmp_path / "elsewhere.csv"
    outside.write_text("rid,title,code\n1,a,b\n")
    folder = tmp_path / "challenge"
    folder.mkdir()
    (folder / "answers.csv").symlink_to(outside)
    with pytest.raises(InvalidInputError, match="leads out of the challenge") as info:
        read_challenge(_write(folder, {}))
    assert "\n" not in str(info.value)
    (folder / "answers.csv").unlink()
    (folder / "data").mkdir()
    (folder / "data" / "real.csv").write_text("rid,title,code\n1,a,b\n")
    (folder / "answers.csv").symlink_to(folder / "data" / "real.csv")
    config = read_challenge(_write(folder, {}))
    assert config.labels.file == folder / "data" / "real.csv"
    with pytest.raises(InvalidInputError, match=r"labels.file '\.\./x\.csv'"):
        read_challenge(_write(folder, {"file": "../x.csv"}))


def _labels_file(folder, text: str, **labels):
    from squad.challenges.config import read_challenge

    folder.mkdir(exist_ok=True)
    (folder / "answers.csv").write_text(text, encoding="utf-8")
    return read_challenge(_write(folder, labels)).labels


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("rid,title\n1,a\n", r"has no column 'code' \(found: rid, title\)"),
        ("rid,title,code\n", "has 0 records"),
        (
            "rid,title,code\n1,a,x\n1,b,y\n",
            r"1 ids repeated in column 'rid' \(e.g. '1'\)",
        ),
        (
            "rid,title,code\n1,a,x\n ,b,y\n",
            r"1 empty ids in column 'rid' \(e.g. data rows 2\)",
        ),
        (
            "rid,title,code\n1,a,x\n2,b,\n",
            r"1 empty labels in column 'code' \(e.g. ids '2'\)",
        ),
    ],
)
def test_labels_file_problems_are_one_line(tmp_path, text, match):
    """A missing column, a repeated or empty id, an empty label: one line each."""
    from squad.challenges.labels import read_labels_file

    spec = _labels_file(tmp_path / "c", text)
    with pytest.raises(InvalidInputError, match=match) as info:
        read_labels_file(spec)
    assert "\n" not in str(info.value)


def test_labels_file_row_limit(tmp_path, monkeypatch):
    """More records than the limit are refused."""
    from squad.challenges import labels

    monkeypatch.setattr(labels, "MAX_LABEL_ROWS", 2)
    spec = _labels_file(tmp_path / "c", "rid,title,code\n1,a,x\n2,b,y\n3,c,z\n")
    with pytest.raises(InvalidInputError, match="has 3 records; a challenge needs"):
        labels.read_labels_file(spec)


def test_labels_file_sha256_is_checked(tmp_path):
    """The right sha256 reads; a wrong one is refused naming both digests."""
    from squad.challenges.labels import read_labels_file

    text = "rid,title,code\n1,a,x\n2,b,y\n"
    right = hashlib.sha256(text.encode()).hexdigest()
    spec = _labels_file(tmp_path / "c", text, sha256=right)
    assert list(read_labels_file(spec)["code"]) == ["x", "y"]
    spec = _labels_file(tmp_path / "c", text, sha256="0" * 64)
    with pytest.raises(InvalidInputError, match=f"has sha256 {right}, not 0000"):
        read_labels_file(spec)


def test_parquet_labels_file_is_read_as_text(tmp_path):
    """A Parquet file with numeric ids and labels gives text ids and labels."""
    from squad.challenges.config import read_challenge
    from squad.challenges.labels import held_labels, texts_csv

    folder = tmp_path / "c"
    folder.mkdir()
    frame = pd.DataFrame(
        {"rid": [3, 1, 2], "title": ["a", "b", "c"], "code": [7, 8, 9]}
    )
    frame.to_parquet(folder / "answers.parquet")
    config = read_challenge(_write(folder, {"file": "answers.parquet"}))
    held = held_labels(config)
    assert list(held.labels.index) == ["3", "1", "2"]
    assert list(held.labels) == ["7", "8", "9"]
    assert texts_csv(config) == b"record_id,title\n3,a\n1,b\n2,c\n"


def test_check_own_predictions():
    """Problems are listed on one line; a good file is aligned with the held ids."""
    from squad.challenges.scoring import check_own_predictions

    ids = pd.Index(["a", "b", "c"])
    good = pd.DataFrame({"predicted": ["y", "x", "z"], "record_id": ["b", "a", "c"]})
    assert list(check_own_predictions(good, ids)) == ["x", "y", "z"]
    with pytest.raises(InvalidInputError, match="missing column 'predicted'"):
        check_own_predictions(pd.DataFrame({"record_id": ["a"]}), ids)
    blank = good.assign(predicted=["y", "", "z"])
    with pytest.raises(
        InvalidInputError, match=r"1 ids without a prediction \(e.g. a\)"
    ):
        check_own_predictions(blank, ids)
