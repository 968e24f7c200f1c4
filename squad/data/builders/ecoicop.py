"""Build ``ecoicop`` from Statistics Poland's open ECOICOP workbook (UNECE HLG-MOS ML project).

The workbook has seven row-aligned sheets, one per language, each with the product name and
its category in that language. The kit stacks them into one row per product and language,
with the English category name as the label shared by every language.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd

from squad.data.splits import grouped_split, seeded_permutation_split
from squad.errors import InvalidInputError

__all__ = ["build", "normalise_name", "LANGUAGES", "VERSION"]

VERSION = "1"

#: Workbook sheet -> ISO 639-1 code.
LANGUAGES = {
    "Polish": "pl",
    "English": "en",
    "French": "fr",
    "Spanish": "es",
    "Italian": "it",
    "German": "de",
    "Dutch": "nl",
}
_NON_WORD = re.compile(r"[\W_]+")


def normalise_name(name: str) -> str:
    """Normalise a product name for grouping: case, accents and punctuation removed.

    Examples
    --------
    >>> normalise_name("Sok  Pomarańczowy, 1L!")
    'sok pomaranczowy 1l'
    """
    text = unicodedata.normalize("NFKD", str(name).lower())
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).replace("ł", "l")
    return _NON_WORD.sub(" ", text).strip()


def build(card, sources: dict[str, Path]) -> dict[str, pd.DataFrame]:
    """Build the stacked multilingual product table.

    Parameters
    ----------
    card : squad.data.catalogue.Card
        The ``ecoicop`` card.
    sources : dict
        ``{"Stats Poland ECOICOP data.xlsx": Path}``, verified.

    Returns
    -------
    dict
        ``"data"``: one row per product and language.
    """
    path = sources["Stats Poland ECOICOP data.xlsx"]
    sheets = pd.read_excel(path, sheet_name=list(LANGUAGES), engine="calamine")
    lengths = {name: len(frame) for name, frame in sheets.items()}
    if len(set(lengths.values())) != 1:
        raise InvalidInputError(
            f"ecoicop: the sheets are not row-aligned ({lengths}); the workbook changed?"
        )
    english = sheets["English"].iloc[:, 1].astype(str).str.strip()
    polish = sheets["Polish"].iloc[:, 0].astype(str).str.strip()
    n = len(english)
    product_id = np.arange(1, n + 1, dtype=np.int64)

    protocols = card.protocols
    grouped = protocols["grouped"]
    polish_key = polish.map(normalise_name)
    side_grouped = grouped_split(
        polish_key,
        test_size=float(grouped["test_size"]),
        seed=int(grouped["seed"]),
        strata=english,
    ).to_numpy()
    published = protocols["statistics_poland"]
    side_published = seeded_permutation_split(
        n,
        seed=int(published["seed"]),
        n_test=int(published["n_test"]),
        n_validation=int(published["n_validation"]),
    )

    frames = []
    for sheet, code in LANGUAGES.items():
        frame = sheets[sheet]
        frames.append(
            pd.DataFrame(
                {
                    "product_id": product_id,
                    "language": code,
                    "text": frame.iloc[:, 0].astype(str).str.strip().to_numpy(),
                    "category": english.to_numpy(),
                    "category_local": frame.iloc[:, 1]
                    .astype(str)
                    .str.strip()
                    .to_numpy(),
                    "split:grouped": side_grouped,
                    "split:statistics_poland": side_published,
                }
            )
        )
    data = pd.concat(frames, ignore_index=True)
    return {"data": data}
