"""Text normalisation shared by the coders and the coding exercises.

Kept apart from :mod:`squad.tasks.models` so that code which only cleans text does not
import scikit-learn (seconds at start-up in every fresh kernel).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping

__all__ = ["normalise_text"]

_NON_WORD = re.compile(r"[\W_]+")


def _refuse_many(text: object) -> None:
    """Raise if ``text`` is a whole column (Series, list, array) instead of one text."""
    if isinstance(text, str | bytes) or not isinstance(text, Iterable | Mapping):
        return
    kind = type(text).__name__
    module = type(text).__module__.split(".")[0]
    described = {"pandas": f"a pandas {kind}", "numpy": "a numpy array"}.get(
        module, f"a {kind}"
    )
    size = ""
    if hasattr(text, "__len__"):
        size = f" of {len(text)} value{'' if len(text) == 1 else 's'}"
    msg = (
        f"normalise_text cleans one text at a time, but it received {described}{size}. "
        "To clean every text of a column, apply it to each value with .map or .apply, "
        'for example df["clean"] = df["text"].map(normalise_text).'
    )
    raise TypeError(msg)


def normalise_text(text: str) -> str:
    """Lower-case, strip accents and punctuation, fold white space.

    Parameters
    ----------
    text : str
        One text (a value that is not a string is read as ``str(text)``, so a missing
        value gives ``"nan"``).

    Returns
    -------
    str
        The cleaned text.

    Raises
    ------
    TypeError
        If ``text`` is a whole column (a pandas Series or Index, a list, tuple or set, a
        numpy array): apply the function to each value, ``column.map(normalise_text)``.

    Examples
    --------
    >>> normalise_text("  Accountant, FUND (Café) ")
    'accountant fund cafe'
    >>> normalise_text(["Head Chef", "Nurse"])
    Traceback (most recent call last):
    ...
    TypeError: normalise_text cleans one text at a time, but it received a list of 2 values. To clean every text of a column, apply it to each value with .map or .apply, for example df["clean"] = df["text"].map(normalise_text).
    """
    _refuse_many(text)
    folded = unicodedata.normalize("NFKD", str(text).lower())
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch)).replace(
        "ł", "l"
    )
    return _NON_WORD.sub(" ", folded).strip()
