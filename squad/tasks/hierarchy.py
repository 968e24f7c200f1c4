"""Coders that use the structure of a hierarchical classification, not only its examples.

Hierarchical codes such as SOC 2010 unit groups ("2421") nest by prefix: the first three digits
are the minor group ("242"), the first two the sub-major group. A classifier trained on the
minor groups sees ten times more examples per class than one trained on unit groups, so its
opinion is a useful prior on which unit groups are plausible (:class:`HierarchicalCoder`).
The classification also publishes a title for every code ("Occupational therapists"), which
a coding index need not repeat among its entries, and a description of what its jobholders do
("veterinarians diagnose and treat animal injuries ..."), which names jobs in other words
(:class:`TitleAugmentedCoder`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone

from squad.errors import InvalidInputError

__all__ = ["HierarchicalCoder", "TitleAugmentedCoder"]


def _singular(title: str) -> str:
    """Lower-case ``title`` with English plurals crudely made singular."""
    return " ".join(
        re.sub(r"(?<=[a-z]{3})s$", "", w) if not w.endswith("ss") else w
        for w in title.lower().split()
    )


def _log(p: np.ndarray) -> np.ndarray:
    return np.log(np.clip(np.asarray(p, dtype=float), 1e-12, 1.0))


class HierarchicalCoder(ClassifierMixin, BaseEstimator):
    """Combine p(unit group) with p(parent group) from a classifier at a coarser level.

    The combined probability of a code ``c`` with parent ``c[:level]`` is
    ``p_fine(c) * p_coarse(c[:level]) ** weight``, renormalised over codes. With
    ``weight=0`` it is the fine model alone; larger weights let the coarse model overrule
    the fine one more often.

    Parameters
    ----------
    fine : estimator
        Classifier over the full codes, with ``predict_proba`` and ``classes_``.
    coarse : estimator
        Classifier fitted on the first ``level`` characters of the codes.
    level : int, default=3
        Length of the parent code (3: SOC minor group).
    weight : float, default=0.25
        Exponent of the coarse probability.

    Examples
    --------
    >>> from sklearn.dummy import DummyClassifier
    >>> coder = HierarchicalCoder(DummyClassifier(), DummyClassifier(), level=1)
    >>> coder.fit([[0], [0], [0]], ["11", "12", "21"]).classes_.tolist()
    ['11', '12', '21']
    """

    def __init__(self, fine: Any, coarse: Any, level: int = 3, weight: float = 0.25):
        self.fine = fine
        self.coarse = coarse
        self.level = level
        self.weight = weight

    def fit(self, X: Any, y: Any) -> HierarchicalCoder:
        codes = np.asarray(y).astype(str)
        short = sorted({c for c in codes if len(c) <= self.level})
        if short:
            raise InvalidInputError(
                f"HierarchicalCoder(level={self.level}) needs codes longer than {self.level} "
                f"characters, whose first {self.level} name the parent group; got "
                f"{', '.join(short[:5])}. Use it for hierarchical codes such as SOC unit groups."
            )
        parents = np.array([c[: self.level] for c in codes])
        self.fine_ = clone(self.fine).fit(X, codes)
        self.coarse_ = clone(self.coarse).fit(X, parents)
        self.classes_ = np.asarray(self.fine_.classes_)
        # Column of each code's parent in the coarse model's output.
        self.parent_index_ = np.searchsorted(
            np.asarray(self.coarse_.classes_),
            [str(c)[: self.level] for c in self.classes_],
        )
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Probabilities of the codes in ``classes_``; each row sums to 1."""
        score = _log(self.fine_.predict_proba(X))
        score += (
            self.weight * _log(self.coarse_.predict_proba(X))[:, self.parent_index_]
        )
        score -= score.max(axis=1, keepdims=True)
        np.exp(score, out=score)
        return score / score.sum(axis=1, keepdims=True)

    def predict(self, X: Any) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


class TitleAugmentedCoder(ClassifierMixin, BaseEstimator):
    """Fit a text coder on its training records plus the classification's title of each code.

    Every code present in the training labels that has a title in ``titles`` adds
    ``repeat`` records (its title, coded to it) to the training data; predictions are the
    wrapped coder's. A code is then learnt from its official wording too, e.g. the SOC 2010
    unit group 2222's "Occupational therapists" when no index entry of that unit group in
    the training split says "occupational therapist". The titles are published
    classification metadata, not records of the test split.

    Parameters
    ----------
    estimator : estimator
        A coder over strings (``fit``, ``predict_proba``, ``classes_``), e.g. a Pipeline.
    titles : str or mapping
        Code -> title, or the name of a dataset whose classification hierarchy
        (:func:`squad.data.datasets.load_hierarchy`) gives them, read when fitting.
    repeat : int, default=1
        Records added per titled code.
    singular : bool, default=False
        Also add each title with its English plurals made singular (a trailing "s" of
        words of four or more letters dropped, except after "s": "Occupational
        therapists" -> "occupational therapist"), since index entries name one job and
        titles name the group; ``repeat`` times too.
    description_repeat : int, default=0
        Records added per code from its description, when ``titles`` names a dataset whose
        hierarchy table has a ``description`` column (SOC 2010: the unit-group
        descriptions of Volume 1); codes without one add none.

    Attributes
    ----------
    estimator_ : estimator
        The fitted clone of ``estimator``.
    n_titles_ : int
        Codes of the training labels that got a title record.
    n_descriptions_ : int
        Codes of the training labels that got a description record.

    Examples
    --------
    >>> from sklearn.dummy import DummyClassifier
    >>> coder = TitleAugmentedCoder(DummyClassifier(), titles={"2222": "Occupational therapists"})
    >>> coder.fit([[0], [0]], ["2221", "2221"]).classes_.tolist(), coder.n_titles_
    (['2221'], 0)
    >>> coder.fit(["a", "b"], ["2221", "2222"]).n_titles_
    1
    """

    def __init__(
        self,
        estimator: Any,
        titles: Any,
        repeat: int = 1,
        singular: bool = False,
        description_repeat: int = 0,
    ):
        self.estimator = estimator
        self.titles = titles
        self.repeat = repeat
        self.singular = singular
        self.description_repeat = description_repeat

    def _tables(self) -> tuple[Mapping[str, str], Mapping[str, str]]:
        """Code -> title, and code -> description ({} when there are none)."""
        if isinstance(self.titles, Mapping):
            return {str(k): str(v) for k, v in self.titles.items()}, {}
        from squad.data.datasets import load_hierarchy

        table = load_hierarchy(str(self.titles))
        codes = table["code"].astype(str)
        titles = dict(zip(codes, table["title"].astype(str), strict=True))
        if "description" not in table:
            return titles, {}
        described = table["description"].fillna("").astype(str)
        return titles, {c: d for c, d in zip(codes, described, strict=True) if d}

    def fit(self, X: Iterable[Any], y: Any) -> TitleAugmentedCoder:
        codes = np.asarray(y).astype(str)
        table, descriptions = self._tables()
        labels = [str(c) for c in np.unique(codes)]
        titled = [c for c in labels if c in table]
        extra = [(table[c], c) for c in titled]
        if self.singular:
            extra += [(_singular(table[c]), c) for c in titled]
        extra *= int(self.repeat)
        described = [c for c in labels if c in descriptions]
        extra += [(descriptions[c], c) for c in described] * int(
            self.description_repeat
        )
        x = list(X)
        if extra:
            x += [text for text, _ in extra]
            codes = np.concatenate([codes, np.array([code for _, code in extra])])
        self.estimator_ = clone(self.estimator).fit(x, codes)
        self.classes_ = np.asarray(self.estimator_.classes_)
        self.n_titles_ = len(titled) if self.repeat > 0 else 0
        self.n_descriptions_ = len(described) if self.description_repeat > 0 else 0
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """The wrapped coder's probabilities of the codes in ``classes_``."""
        return self.estimator_.predict_proba(X)

    def predict(self, X: Any) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]
