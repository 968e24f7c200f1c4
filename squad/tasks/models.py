"""A small registry of named text-coding models, shared by every squad member.

Each name builds the same scikit-learn estimator on every machine, so that a leaderboard row
"tfidf_logreg on soc2010" means one thing. Every model takes an iterable of strings and
exposes ``fit``, ``predict``, ``predict_proba`` and ``classes_``; ``predict_proba`` gives the
confidence used for automation rates.

``lookup``
    The classic rule-based coder of statistical offices: an exact match of the normalised text
    against the coding index (confidence: the share of the matched code among identical index
    texts), otherwise the closest index text by character-trigram cosine similarity (confidence:
    that similarity). The reference baseline.
``tfidf_logreg``
    Word 1-2-grams and character 2-5-grams, TF-IDF, multinomial logistic regression.
``tfidf_linear_svc``
    The same features, a linear SVM; confidences are a softmax of the margins.
``char_ngram_sgd``
    Character 2-5-grams, TF-IDF, a linear model trained by SGD with the modified Huber loss.
``complement_nb``
    Word 1-2-grams, TF-IDF, Complement Naive Bayes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.naive_bayes import ComplementNB
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.svm import LinearSVC

from squad.tasks.text import normalise_text

__all__ = [
    "MODELS",
    "LookupCoder",
    "SoftmaxLinearSVC",
    "list_models",
    "make_model",
    "normalise_text",
]


def _words(min_df: int = 1) -> TfidfVectorizer:
    return TfidfVectorizer(
        preprocessor=normalise_text,
        ngram_range=(1, 2),
        sublinear_tf=True,
        min_df=min_df,
    )


def _chars() -> TfidfVectorizer:
    return TfidfVectorizer(
        preprocessor=normalise_text,
        analyzer="char_wb",
        ngram_range=(2, 5),
        sublinear_tf=True,
        min_df=2,
    )


class LookupCoder(ClassifierMixin, BaseEstimator):
    """Exact-then-fuzzy lookup against the training texts, as NSO coding tools do.

    Parameters
    ----------
    min_similarity : float, default=0.0
        Fuzzy matches below this cosine similarity still get a code, with that low confidence.

    Examples
    --------
    >>> coder = LookupCoder().fit(["fund accountant", "baker", "bakery baker"], ["2421", "5432", "5432"])
    >>> coder.predict(["fund accountant", "bakr"]).tolist()
    ['2421', '5432']
    """

    def __init__(self, min_similarity: float = 0.0):
        self.min_similarity = min_similarity

    def fit(self, X: Iterable[str], y: Iterable[str]) -> LookupCoder:
        texts = pd.Series([normalise_text(t) for t in X])
        labels = pd.Series(list(y), dtype=str)
        self.classes_ = np.array(sorted(labels.unique()))
        counts = pd.crosstab(texts, labels)
        self._exact_code = counts.idxmax(axis=1).to_dict()
        self._exact_conf = (counts.max(axis=1) / counts.sum(axis=1)).to_dict()
        self._vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 3))
        unique_texts = counts.index.to_list()
        self._index = self._vectorizer.fit_transform(unique_texts)
        self._index_codes = np.array([self._exact_code[t] for t in unique_texts])
        return self

    def _match(self, X: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
        texts = [normalise_text(t) for t in X]
        codes = np.array([self._exact_code.get(t, "") for t in texts], dtype=object)
        conf = np.array([self._exact_conf.get(t, 0.0) for t in texts], dtype=float)
        todo = np.flatnonzero(codes == "")
        for start in range(
            0, todo.size, 2048
        ):  # bounded memory for the similarity block
            rows = todo[start : start + 2048]
            sims = self._vectorizer.transform([texts[i] for i in rows]) @ self._index.T
            sims = sparse.csr_matrix(sims)
            best = np.asarray(sims.argmax(axis=1)).ravel()
            score = np.asarray(sims.max(axis=1).todense()).ravel()
            codes[rows] = self._index_codes[best]
            conf[rows] = (
                np.clip(score, 0.0, 1.0) * 0.99
            )  # an exact match always ranks higher
        return codes.astype(str), conf

    def predict(self, X: Iterable[str]) -> np.ndarray:
        return self._match(X)[0]

    def predict_proba(self, X: Iterable[str]) -> np.ndarray:
        """One-hot on the matched code, scaled by the match confidence; rest spread evenly."""
        codes, conf = self._match(X)
        n_classes = len(self.classes_)
        proba = np.repeat(
            ((1.0 - conf) / max(n_classes - 1, 1))[:, None], n_classes, axis=1
        )
        proba[np.arange(len(codes)), np.searchsorted(self.classes_, codes)] = conf
        return proba


class SoftmaxLinearSVC(LinearSVC):
    """A linear SVM whose ``predict_proba`` is a softmax of its margins.

    The margins are not calibrated probabilities, but their softmax orders records by how
    clearly the best class wins, which is what an automation rate needs.
    """

    def __init__(self, C: float = 0.5, temperature: float = 0.1, max_iter: int = 2000):
        super().__init__(C=C, max_iter=max_iter)
        self.temperature = temperature

    def predict_proba(self, X) -> np.ndarray:
        scores = self.decision_function(X) / self.temperature
        scores -= scores.max(axis=1, keepdims=True)
        np.exp(scores, out=scores)
        return scores / scores.sum(axis=1, keepdims=True)


def _features() -> FeatureUnion:
    return FeatureUnion([("words", _words()), ("chars", _chars())])


def _tfidf_logreg(seed: int, C: float = 10.0, **_: Any) -> Pipeline:
    return Pipeline(
        [
            ("features", _features()),
            (
                "model",
                LogisticRegression(C=C, max_iter=100, tol=1e-3, random_state=seed),
            ),
        ]
    )


def _tfidf_linear_svc(seed: int, C: float = 0.5, **_: Any) -> Pipeline:
    return Pipeline([("features", _features()), ("model", SoftmaxLinearSVC(C=C))])


def _char_ngram_sgd(seed: int, alpha: float = 1e-5, **_: Any) -> Pipeline:
    model = SGDClassifier(
        loss="modified_huber", alpha=alpha, max_iter=50, tol=1e-4, random_state=seed
    )
    return Pipeline([("features", _chars()), ("model", model)])


def _complement_nb(seed: int, alpha: float = 0.3, **_: Any) -> Pipeline:
    return Pipeline([("features", _words()), ("model", ComplementNB(alpha=alpha))])


def _lookup(seed: int, **_: Any) -> LookupCoder:
    return LookupCoder()


#: model name -> factory(seed, **settings)
MODELS: dict[str, Callable[..., Any]] = {
    "lookup": _lookup,
    "tfidf_logreg": _tfidf_logreg,
    "tfidf_linear_svc": _tfidf_linear_svc,
    "char_ngram_sgd": _char_ngram_sgd,
    "complement_nb": _complement_nb,
}


def list_models() -> list[str]:
    """Return the registered model names.

    Examples
    --------
    >>> list_models()[:2]
    ['lookup', 'tfidf_logreg']
    """
    return list(MODELS)


def make_model(name: str, *, seed: int = 0, **settings: Any):
    """Build the registered model ``name``.

    Parameters
    ----------
    name : str
        One of :func:`list_models`, a member's ``path/to/file.py:factory`` or an
        installed ``squad.models`` entry point (see :mod:`squad.tasks.member_models`).
    seed : int, default=0
        Random state for models that use one.
    **settings
        Model settings (``C`` for the linear models, ``alpha`` for SGD and naive Bayes);
        unknown settings are ignored by models that do not use them.

    Returns
    -------
    estimator
        An unfitted scikit-learn-compatible classifier over strings.

    Raises
    ------
    ValueError
        If ``name`` is none of these.

    Examples
    --------
    >>> type(make_model("complement_nb")).__name__
    'Pipeline'
    """
    if name in MODELS:
        return MODELS[name](seed, **settings)
    from squad.tasks.member_models import member_factory

    return member_factory(name)(seed=seed, **settings)
