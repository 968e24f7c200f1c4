"""Tests for squad.tasks.models: the registry of named coding models."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin

from squad.errors import InvalidInputError
from squad.tasks.hierarchy import HierarchicalCoder, TitleAugmentedCoder
from squad.tasks.models import (
    FastTextClassifier,
    LookupCoder,
    ProbabilityAverage,
    normalise_text,
)
from squad.tasks.registry import (
    factory_settings,
    list_models,
    make_model,
    model_settings,
)

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


@pytest.mark.parametrize(
    ("name", "settings"),
    [
        ("lookup", ()),
        ("tfidf_logreg", ("C",)),
        ("complement_nb", ("alpha",)),
        ("fasttext_style", ("dim", "epochs", "learning_rate")),
        ("svc_fasttext", ("C", "temperature", "weight")),
    ],
)
def test_model_settings_are_the_factory_keyword_arguments(name, settings):
    """A registered model's settings are its factory's arguments but seed and dataset."""
    assert model_settings(name) == settings


def test_model_settings_of_the_hierarchy_model_leave_out_the_dataset():
    """svc_fasttext_hierarchy is given the dataset by make_model; it is no setting."""
    settings = model_settings("svc_fasttext_hierarchy")
    assert {"titles", "logreg_weight", "level_weight"} <= set(settings)
    assert "dataset" not in settings and "seed" not in settings


@pytest.mark.parametrize(
    ("name", "settings", "message"),
    [
        (
            "complement_nb",
            {"alpa": 0.1},
            r"^Model 'complement_nb' has no setting 'alpa'\. Its settings: alpha\. "
            r"Correct the name or leave it out\.$",
        ),
        (
            "tfidf_linear_svc",
            {"C": 1.0, "temp": 0.2, "max_iter": 50},
            r"^Model 'tfidf_linear_svc' has no settings 'temp', 'max_iter'\. Its "
            r"settings: C, temperature\. Correct the names or leave them out\.$",
        ),
        (
            "lookup",
            {"C": 1.0},
            r"^Model 'lookup' has no setting 'C'\. It takes none; leave its settings "
            r"empty\.$",
        ),
        (
            "svc_fasttext_hierarchy",
            {"title_repeats": 2},
            r"has no setting 'title_repeats'\. Its settings: C, temperature, weight, ",
        ),
    ],
)
def test_make_model_refuses_an_unknown_setting(name, settings, message):
    """A setting the model's factory does not take is refused, not silently ignored."""
    with pytest.raises(InvalidInputError, match=message):
        make_model(name, **settings)


def test_make_model_gives_the_dataset_only_to_factories_that_take_it():
    """Models that do not use the coded dataset are built with one given."""
    for name in list_models():
        assert make_model(name, dataset="ecoicop") is not None


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("def make(seed=0, alpha=1.0, *, C=2.0):\n    pass", ("alpha", "C")),
        ("def make(seed, /, alpha=1.0, *args):\n    pass", ("alpha",)),
        ("def make(seed=0, **options):\n    pass", None),
        ("class make:\n    def __init__(self, seed=0, dim=3):\n        pass", ("dim",)),
    ],
)
def test_factory_settings_reads_the_signature(source, expected):
    """Keyword arguments but seed are settings; **kwargs takes any (None)."""
    namespace: dict = {}
    exec(source, namespace)
    assert factory_settings(namespace["make"]) == expected


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


@pytest.mark.parametrize(
    ("column", "described"),
    [
        (pd.Series(["Head Chef", "nurse"]), "a pandas Series of 2 values"),
        (pd.Index(["Head Chef"]), "a pandas Index of 1 value"),
        (["Head Chef", "nurse", "waiter"], "a list of 3 values"),
        (np.array(["Head Chef", "nurse"]), "a numpy array of 2 values"),
        (("a", "b"), "a tuple of 2 values"),
    ],
)
def test_normalise_text_refuses_a_whole_column(column, described):
    """A column is refused with the way to clean each value (.map or .apply)."""
    with pytest.raises(TypeError, match=rf"received {described}\. .*\.map or \.apply"):
        normalise_text(column)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (np.str_("Head Chef"), "head chef"),
        (float("nan"), "nan"),
        (np.float64(2.5), "2 5"),
    ],
)
def test_normalise_text_takes_single_values(value, expected):
    """One value at a time still works, numpy scalars and missing values included."""
    assert normalise_text(value) == expected


class FixedProba(ClassifierMixin, BaseEstimator):
    """A stub classifier that gives every record the same probabilities, by class."""

    def __init__(self, table: dict | None = None):
        self.table = table

    def fit(self, X, y):
        self.classes_ = np.unique(np.asarray(y).astype(str))
        return self

    def predict_proba(self, X):
        row = np.array([self.table[c] for c in self.classes_], dtype=float)
        return np.tile(row / row.sum(), (len(X), 1))


CODES = ["1111", "1112", "2221"]
FINE = {"1111": 0.3, "1112": 0.3, "2221": 0.4}
COARSE = {"111": 0.9, "222": 0.1}


def test_hierarchy_coder_multiplies_unit_and_parent_probabilities():
    """p(code) is p_fine(code) * p_coarse(parent) ** weight, renormalised, rows summing to 1."""
    coder = HierarchicalCoder(FixedProba(FINE), FixedProba(COARSE), level=3, weight=1.0)
    proba = coder.fit([[0]] * 3, CODES).predict_proba([[0], [0]])
    expected = np.array([0.3 * 0.9, 0.3 * 0.9, 0.4 * 0.1])
    np.testing.assert_allclose(proba, np.tile(expected / expected.sum(), (2, 1)))
    # The minor group the coarse model favours wins; codes within one group keep their order.
    assert coder.predict([[0]]).tolist() == ["1111"]
    assert proba[0, 0] == pytest.approx(proba[0, 1])


def test_hierarchy_coder_with_zero_weight_is_the_fine_model():
    """weight=0 switches the coarse model off."""
    coder = HierarchicalCoder(FixedProba(FINE), FixedProba(COARSE), level=3, weight=0.0)
    proba = coder.fit([[0]] * 3, CODES).predict_proba([[0]])
    np.testing.assert_allclose(proba[0], [0.3, 0.3, 0.4])


def test_hierarchy_coder_rejects_codes_without_a_parent():
    """Non-hierarchical labels (too short for the level) are refused with a clear message."""
    coder = HierarchicalCoder(FixedProba(FINE), FixedProba(COARSE), level=3)
    with pytest.raises(InvalidInputError, match="longer than 3 characters"):
        coder.fit([[0]] * 2, ["Tea", "Coffee"])


def test_hierarchy_model_probabilities_sum_to_one_and_follow_the_parents():
    """The registered SOC coder: rows sum to 1 and raising the level weight moves mass
    towards the minor group the coarse SVM prefers."""
    x = ["fund accountant", "tax accountant", "baker", "nurse", "staff nurse"] * 3
    y = ["2421", "2422", "5432", "2231", "2232"] * 3
    probas = {}
    for level_weight in (0.0, 2.0):
        model = make_model(
            "svc_fasttext_hierarchy", level_weight=level_weight, titles=None
        )
        probas[level_weight] = model.fit(x, y).predict_proba(["accountant nurse"])
        np.testing.assert_allclose(probas[level_weight].sum(axis=1), 1.0)
    classes = np.asarray(model.classes_)
    coarse = model.named_steps["model"].coarse_
    favoured = coarse.classes_[
        coarse.predict_proba(
            model.named_steps["features"].transform(["accountant nurse"])
        ).argmax()
    ]
    in_favoured = np.char.startswith(classes.astype(str), favoured)
    assert probas[2.0][0, in_favoured].sum() > probas[0.0][0, in_favoured].sum()


def test_svm_temperature_lowers_overconfident_probabilities():
    """A higher softmax temperature (the cross-validated 0.2) keeps every prediction and
    lowers the SVM's confidence, which is too high on soc2010 (ECE 0.25 at 0.1)."""
    queries = ["accountant", "baker of bread", "nurse", "tax baker"]
    sharp = make_model("tfidf_linear_svc").fit(TRAIN_X, TRAIN_Y)
    calibrated = make_model("tfidf_linear_svc", temperature=0.2).fit(TRAIN_X, TRAIN_Y)
    p_sharp, p_cal = sharp.predict_proba(queries), calibrated.predict_proba(queries)
    np.testing.assert_array_equal(p_sharp.argmax(axis=1), p_cal.argmax(axis=1))
    assert (p_cal.max(axis=1) < p_sharp.max(axis=1)).all()


def test_probability_average_weighs_members_and_aligns_columns():
    """The blend is the weighted mean of its members' rows, whatever their class order."""
    avg = ProbabilityAverage(
        [
            ("a", FixedProba({"x": 1.0, "y": 0.0})),
            ("b", FixedProba({"x": 0.0, "y": 1.0})),
        ],
        weights=[0.75, 0.25],
    )
    proba = avg.fit([[0], [0]], ["y", "x"]).predict_proba([[0]])
    assert avg.classes_.tolist() == ["x", "y"]
    np.testing.assert_allclose(proba, [[0.75, 0.25]])


def test_fasttext_is_reproducible_and_seeded():
    """The same seed gives the same probabilities; another seed another initialisation."""
    X = sparse.random(60, 40, density=0.2, random_state=0, format="csr")
    y = np.array(list("abc") * 20)
    first = FastTextClassifier(dim=8, epochs=3, seed=1).fit(X, y).predict_proba(X)
    again = FastTextClassifier(dim=8, epochs=3, seed=1).fit(X, y).predict_proba(X)
    other = FastTextClassifier(dim=8, epochs=3, seed=2).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)
    np.testing.assert_allclose(first.sum(axis=1), 1.0, rtol=1e-6)


def test_geometric_pooling_is_the_normalised_weighted_geometric_mean():
    """pooling="geometric" gives prod p_i ** w_i (weights summing to 1), renormalised; unlike
    the mean it demotes a class that one member rules out."""
    members = [
        ("a", FixedProba({"x": 0.90, "y": 0.09, "z": 0.01})),
        ("b", FixedProba({"x": 0.01, "y": 0.50, "z": 0.49})),
    ]
    mean = ProbabilityAverage(members).fit([[0]] * 3, ["x", "y", "z"])
    geo = ProbabilityAverage(members, weights=[3.0, 1.0], pooling="geometric")
    proba = geo.fit([[0]] * 3, ["x", "y", "z"]).predict_proba([[0]])[0]
    expected = (
        np.array([0.90, 0.09, 0.01]) ** 0.75 * np.array([0.01, 0.50, 0.49]) ** 0.25
    )
    np.testing.assert_allclose(proba, expected / expected.sum())
    equal = ProbabilityAverage(members, pooling="geometric").fit(
        [[0]] * 3, ["x", "y", "z"]
    )
    assert mean.predict([[0]]).tolist() == ["x"]
    assert equal.predict([[0]]).tolist() == ["y"]
    with pytest.raises(InvalidInputError, match="Unknown pooling 'median'"):
        ProbabilityAverage(members, pooling="median").fit([[0]] * 3, ["x", "y", "z"])


def test_title_augmented_coder_learns_a_code_from_its_title():
    """A code whose training records never use its title's words is still found from the
    title; codes absent from the training labels get no record, so classes_ is unchanged."""
    x = ["fund accountant", "tax accountant", "baker", "bread baker", "ward helper"] * 3
    y = ["2421", "2421", "5432", "5432", "2222"] * 3
    titles = {
        "2222": "Occupational therapists",
        "2421": "Chartered and certified accountants",
        "9999": "Code not in the training labels",
    }
    query = ["occupational therapist"]
    plain = make_model("tfidf_linear_svc").fit(x, y)
    coder = TitleAugmentedCoder(make_model("tfidf_linear_svc"), titles=titles)
    coder.fit(x, y)
    assert plain.predict(query).tolist() != ["2222"]
    assert coder.predict(query).tolist() == ["2222"]
    assert coder.classes_.tolist() == ["2222", "2421", "5432"]
    assert coder.n_titles_ == 2
    np.testing.assert_allclose(coder.predict_proba(query).sum(axis=1), 1.0)
    # singular=True also adds "occupational therapist"; repeat multiplies both records.
    recorder = TitleAugmentedCoder(_Recorder(), titles=titles, repeat=2, singular=True)
    recorder.fit(["ward helper"], ["2222"])
    assert (
        recorder.estimator_.seen_
        == ["ward helper"]
        + [
            "Occupational therapists",
            "occupational therapist",
        ]
        * 2
    )


def test_title_augmented_coder_adds_the_unit_group_descriptions():
    """With description_repeat, each labelled unit group's Volume 1 description is added
    that many times after its titles; codes without a description (2461-2463) add none,
    and description_repeat=0 adds no description at all."""
    recorder = TitleAugmentedCoder(
        _Recorder(), titles="soc2010", repeat=1, description_repeat=2
    )
    recorder.fit(["vet", "quality engineer"], ["2216", "2461"])
    seen = recorder.estimator_.seen_
    assert seen[:4] == [
        "vet",
        "quality engineer",
        "Veterinarians",
        "Quality control and planning engineers",
    ]
    assert len(seen) == 6 and seen[4] == seen[5]
    assert seen[4].startswith("veterinarians diagnose and treat animal injuries")
    assert recorder.n_titles_ == 2 and recorder.n_descriptions_ == 1
    bare = TitleAugmentedCoder(_Recorder(), titles="soc2010").fit(["vet"], ["2216"])
    assert bare.estimator_.seen_ == ["vet", "Veterinarians"]
    assert bare.n_descriptions_ == 0


class _Recorder(ClassifierMixin, BaseEstimator):
    """Records the training texts it is fitted on."""

    def fit(self, X, y):
        self.seen_ = list(X)
        self.classes_ = np.unique(np.asarray(y).astype(str))
        return self


def test_registered_hierarchy_model_adds_the_soc_unit_group_titles():
    """svc_fasttext_hierarchy reads the titles of the dataset it codes (SOC 2010's unit
    groups) and pools the SVM and fastText geometrically; titles=None switches the titles
    off, and so does a dataset without a classification hierarchy."""
    model = make_model("svc_fasttext_hierarchy", dataset="soc2010")
    assert isinstance(model, TitleAugmentedCoder)
    assert model.titles == "soc2010" and model.repeat == 3 and model.singular
    assert model.estimator.named_steps["model"].fine.pooling == "geometric"
    assert model.description_repeat == 3
    pool = model.estimator.named_steps["model"].fine
    assert [name for name, _ in pool.members] == ["svc", "fasttext"]
    with_logreg = (
        make_model("svc_fasttext_hierarchy", dataset="soc2010", logreg_weight=0.3)
        .estimator.named_steps["model"]
        .fine
    )
    assert [name for name, _ in with_logreg.members] == ["svc", "fasttext", "logreg"]
    np.testing.assert_allclose(with_logreg.weights, [0.4, 0.3, 0.3])
    model.fit(TRAIN_X, TRAIN_Y)
    assert model.n_titles_ == 3
    assert model.n_descriptions_ == 3
    assert model.predict(["registered nurse", "fund accountant"]).tolist() == [
        "2231",
        "2421",
    ]
    for untitled in (
        make_model("svc_fasttext_hierarchy", dataset="soc2010", titles=None),
        make_model("svc_fasttext_hierarchy", dataset="ecoicop"),
        make_model("svc_fasttext_hierarchy"),
    ):
        assert not isinstance(untitled, TitleAugmentedCoder)
