"""A coder that lets a coarser level of a hierarchical classification vote on the unit group.

Hierarchical codes such as SOC 2010 unit groups ("2421") nest by prefix: the first three digits
are the minor group ("242"), the first two the sub-major group. A classifier trained on the
minor groups sees ten times more examples per class than one trained on unit groups, so its
opinion is a useful prior on which unit groups are plausible.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone

from squad.errors import InvalidInputError

__all__ = ["HierarchicalCoder"]


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
