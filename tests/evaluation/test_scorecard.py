"""Tests for squad.evaluation.scorecard: the model card and its renderings."""

from __future__ import annotations

import json
from importlib import metadata

import numpy as np
import pytest

from squad.evaluation.metrics import coding_report
from squad.evaluation.scorecard import Scorecard, scorecard

SHA = "ab" * 32


def _card(**overrides) -> Scorecard:
    report = coding_report(["11", "12", "21"], ["11", "12", "22"])
    kwargs = {
        "report": report,
        "dataset": "soc2010",
        "dataset_sha256": SHA,
        "seed": 7,
        "fit_seconds": 3.5,
        "predict_seconds": 0.5,
        "n_predicted": 1000,
        "packages": ["numpy", "pandas", "surely-not-installed-pkg"],
        "cost": "One CPU hour per retraining.",
        "explainability": "Linear model; top-weighted words per class are listed.",
    }
    kwargs.update(overrides)
    return scorecard("tfidf-logreg", **kwargs)


def test_scorecard_sections_hold_the_figures():
    """Accuracy comes from the report; timeliness and reproducibility are filled in."""
    card = _card()
    assert card.accuracy["accuracy"] == pytest.approx(2 / 3)
    assert card.accuracy["accuracy_level_1"] == 1.0
    assert "unseen_classes" in card.accuracy  # None is kept
    assert card.timeliness == {
        "fit_seconds": 3.5,
        "predict_seconds": 0.5,
        "n_predicted": 1000,
        "records_per_second": 2000.0,
    }
    repro = card.reproducibility
    assert (repro["seed"], repro["dataset"], repro["dataset_sha256"]) == (
        7,
        "soc2010",
        SHA,
    )
    assert repro["packages"]["numpy"] == metadata.version("numpy")
    assert repro["packages"]["surely-not-installed-pkg"] == "not installed"


def test_scorecard_to_dict_is_json_ready():
    """to_dict holds only JSON values; NaN and numpy scalars are converted."""
    card = _card(
        report={"log_loss": np.float64(0.25), "ece": float("nan"), "labels": ["a"]}
    )
    data = card.to_dict()
    assert data["accuracy"] == {"log_loss": 0.25, "ece": None}
    assert data["framework"] == "HLG-MOS Quality Framework for Statistical Algorithms"
    assert json.loads(json.dumps(data, allow_nan=False)) == data


def test_scorecard_to_markdown_has_every_dimension():
    """The Markdown has a section per quality dimension with the figures in tables."""
    text = _card(notes="Trained on the stratified split.").to_markdown()
    for heading in (
        "# Scorecard: tfidf-logreg",
        "## Accuracy",
        "## Timeliness",
        "## Reproducibility",
        "## Cost-effectiveness",
        "## Explainability",
        "## Notes",
    ):
        assert heading in text.splitlines(), heading
    assert "| accuracy | 0.6667 |" in text
    assert "| records_per_second | 2000 |" in text
    assert f"| dataset_sha256 | {SHA} |" in text
    assert "One CPU hour per retraining." in text


def test_scorecard_without_figures_says_so():
    """Missing sections read 'Not reported' or 'Not stated'."""
    text = scorecard("m", packages=[]).to_markdown()
    assert "Not reported." in text
    assert "Not stated." in text
    assert scorecard("m", predict_seconds=1.0).timeliness["records_per_second"] is None


def test_scorecard_save_json_and_markdown(tmp_path):
    """save writes JSON for .json and Markdown otherwise, leaving no temporary files."""
    card = _card()
    json_path = card.save(tmp_path / "out" / "card.json")
    assert json.loads(json_path.read_text()) == card.to_dict()
    md_path = card.save(tmp_path / "card.md")
    assert md_path.read_text() == card.to_markdown()
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == [
        "card.json",
        "card.md",
    ]


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        (
            {"fit_seconds": -1.0},
            r"fit_seconds must be a number of seconds >= 0; received -1.0",
        ),
        ({"predict_seconds": "fast"}, r"predict_seconds must be a number of seconds"),
        ({"n_predicted": 2.5}, r"n_predicted must be an integer >= 0; received 2.5"),
        (
            {"dataset_sha256": "abc"},
            r"dataset_sha256 must be 64 hexadecimal characters; "
            r"received 'abc'",
        ),
    ],
)
def test_scorecard_bad_input(overrides, match):
    """Bad timings and checksums raise ValueError with the value received."""
    with pytest.raises(ValueError, match=match):
        _card(**overrides)
