"""Text normalisation shared by the coders and the coding exercises.

Kept apart from :mod:`squad.tasks.models` so that code which only cleans text does not
import scikit-learn (seconds at start-up in every fresh kernel).
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["normalise_text"]

_NON_WORD = re.compile(r"[\W_]+")


def normalise_text(text: str) -> str:
    """Lower-case, strip accents and punctuation, fold white space.

    Examples
    --------
    >>> normalise_text("  Accountant, FUND (Café) ")
    'accountant fund cafe'
    """
    folded = unicodedata.normalize("NFKD", str(text).lower())
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch)).replace(
        "ł", "l"
    )
    return _NON_WORD.sub(" ", folded).strip()
