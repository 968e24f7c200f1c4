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
