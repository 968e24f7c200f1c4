"""Tests for squad.tasks.models: the registry of named coding models."""

from __future__ import annotations

import numpy as np
import pytest

from squad.tasks.models import LookupCoder, list_models, make_model, normalise_text

TRAIN_X = [
    "fund accountant",
    "tax accountant",
    "baker",
    "bread baker",
    "nurse",
    "staff nurse",
    "registered nurse",
] * 3
TRAIN_Y = ["2421", "2421", "5432", "5432", "2231", "2231", "2231"] * 3


@pytest.mark.parametrize("name", list_models())
def test_every_model_fits_predicts_and_gives_probabilities(name):
    """Each registered model learns an easy task and gives rows of probabilities summing to 1."""
    model = make_model(name, seed=0).fit(TRAIN_X, TRAIN_Y)
    assert list(model.classes_) == ["2231", "2421", "5432"]
    proba = model.predict_proba(["accountant", "baker of bread", "nurse"])
    assert proba.shape == (3, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)
    assert ((proba >= 0) & (proba <= 1)).all()
    predicted = np.asarray(model.classes_)[proba.argmax(axis=1)]
    assert predicted.tolist() == ["2421", "5432", "2231"]


def test_make_model_unknown_name_lists_models():
    """An unknown model name is rejected with the registered names."""
    with pytest.raises(
        ValueError, match="Unknown model 'bert'. Available: lookup, tfidf_logreg"
    ):
        make_model("bert")


def test_lookup_exact_match_beats_fuzzy_match():
    """An exact match has confidence = the share of its code; a fuzzy one ranks below it."""
    coder = LookupCoder().fit(
        ["owner", "owner", "owner", "baker"], ["1", "1", "2", "3"]
    )
    codes, conf = coder._match(["Owner", "bakers"])
    assert codes.tolist() == ["1", "3"]
    assert conf[0] == pytest.approx(2 / 3)
    assert 0 < conf[1] < 0.99


def test_normalise_text_folds_case_accents_and_punctuation():
    """Texts that a coder would treat as equal normalise to the same string."""
    assert normalise_text("Sok  Pomarańczowy!") == normalise_text("sok pomaranczowy")
