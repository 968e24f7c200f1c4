"""A member's own coder, run in the squad's sweeps without editing the kit.

    squad run notebooks/coding.ipynb -p dataset ecoicop -p model notebooks/my_coder.py:make_coder

``make_coder(seed=..., **settings)`` returns an unfitted object with ``fit(texts, codes)``,
``predict_proba(texts)`` and, once fitted, ``classes_``: here a fastText-style linear
model (hashed word and character n-grams, logistic loss, trained by SGD), built from
scikit-learn alone. Settings come from the notebook's ``settings`` parameter, e.g.
``-p settings '{alpha: 1e-5}'``. The sha256 of this file is part of every run id, so
an edited file gives new runs on the board.
"""

from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
from sklearn.linear_model import SGDClassifier
from sklearn.pipeline import FeatureUnion, Pipeline

from squad.tasks.text import normalise_text


def make_coder(seed: int = 0, alpha: float = 2e-6, epochs: int = 5):
    """Hashed word 1-2-grams and character 2-5-grams, TF-IDF, SGD with log loss."""
    n_features = 2**18
    words = HashingVectorizer(
        preprocessor=normalise_text,
        ngram_range=(1, 2),
        n_features=n_features,
        alternate_sign=False,
    )
    chars = HashingVectorizer(
        preprocessor=normalise_text,
        analyzer="char_wb",
        ngram_range=(2, 5),
        n_features=n_features,
        alternate_sign=False,
    )
    return Pipeline(
        [
            ("features", FeatureUnion([("words", words), ("chars", chars)])),
            ("tfidf", TfidfTransformer(sublinear_tf=True)),
            (
                "model",
                # A fixed number of passes over the data, as fastText's epochs.
                SGDClassifier(
                    loss="log_loss",
                    alpha=alpha,
                    max_iter=epochs,
                    tol=None,
                    random_state=seed,
                ),
            ),
        ]
    )
