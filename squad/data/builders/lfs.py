"""A seeded generator of Labour-Force-Survey-style microdata (``lfs_synthetic``).

No real person is in it: every value is drawn from documented distributions, so the data can be
shared with anyone. The relationships are the ones a labour-market statistician expects, so
that estimation and imputation exercises behave like the real thing:

* households of 1-5 persons aged 16-80 in 12 regions; small regions are over-sampled, so the
  design weights differ by region (the weighted and unweighted estimates differ);
* ages follow a smooth adult age pyramid (:func:`age_profile`): nearly as many persons at
  each age from 16 to 55, then fewer at each older age, down to about 58 % as many at 80; no
  age is piled up at the ends of the range;
* education depends on age (younger cohorts more tertiary) and region (London more tertiary);
* activity status depends on age (students and retirees inactive) and education (lower
  education, more unemployment);
* the employed have an occupation (a SOC 2010 unit group from the ONS structure, its major group
  depending on education), usual weekly hours (part-time more common for women and over-60s)
  and an hourly pay that rises with the occupation's major group, education, age (a concave
  profile) and full-time work; the unemployed and inactive have no occupation or pay and 0 hours.

``lfs_synthetic_missing`` adds item non-response to the same persons: MCAR holes in hours,
pay and education, and MAR holes (pay more often missing for the young, for London and for
high earners' major groups; occupation more often missing for lower education), with the true
values kept in ``<column>_true`` and the mask in ``<column>_missing``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from squad.data.builders.soc2010 import read_structure
from squad.data.splits import grouped_split

__all__ = [
    "AGE_PROFILE",
    "age_profile",
    "generate_lfs",
    "mask_lfs",
    "build_lfs_synthetic",
    "build_lfs_synthetic_missing",
    "VERSION",
]

VERSION = "2"

#: region -> (population share, sampling rate relative to the average)
REGIONS = {
    "North East": (0.040, 1.3),
    "North West": (0.111, 1.0),
    "Yorkshire and The Humber": (0.083, 1.0),
    "East Midlands": (0.073, 1.0),
    "West Midlands": (0.089, 1.0),
    "East of England": (0.094, 1.0),
    "London": (0.135, 0.8),
    "South East": (0.138, 0.9),
    "South West": (0.085, 1.0),
    "Wales": (0.047, 1.6),
    "Scotland": (0.082, 1.3),
    "Northern Ireland": (0.029, 2.0),
}
EDUCATION = ["none", "secondary", "post_secondary", "tertiary"]
#: log hourly pay premium of each SOC 2010 major group (1 = managers ... 9 = elementary).
MAJOR_GROUP_PAY = {
    "1": 0.75,
    "2": 0.65,
    "3": 0.40,
    "4": 0.15,
    "5": 0.20,
    "6": 0.0,
    "7": 0.0,
    "8": 0.05,
    "9": -0.10,
}
#: probability of each major group for each education level (rows sum to 1).
MAJOR_GROUP_BY_EDUCATION = {
    "none": [0.02, 0.01, 0.04, 0.08, 0.17, 0.15, 0.13, 0.15, 0.25],
    "secondary": [0.06, 0.05, 0.11, 0.14, 0.14, 0.12, 0.11, 0.11, 0.16],
    "post_secondary": [0.10, 0.14, 0.20, 0.14, 0.12, 0.09, 0.07, 0.06, 0.08],
    "tertiary": [0.15, 0.42, 0.20, 0.08, 0.03, 0.04, 0.04, 0.02, 0.02],
}
POPULATION = 28_000_000  # persons aged 16-80 that the weights sum to
AGES = np.arange(16, 81)


def age_profile(ages: np.ndarray = AGES) -> np.ndarray:
    """Relative number of persons at each age: a smooth adult age pyramid.

    Nearly flat from 16 to 55 (within 2 %), then falling smoothly (a logistic curve
    centred on age 82) to 58 % of the youngest ages' size at 80, as mortality thins the
    oldest cohorts of a national population. Neighbouring ages differ by less than 7 %.

    Parameters
    ----------
    ages : numpy.ndarray, default=AGES
        Ages in years.

    Returns
    -------
    numpy.ndarray
        Probabilities of drawing each age; they sum to 1.

    Examples
    --------
    >>> p = age_profile()
    >>> round(float(p.sum()), 6), round(float(p[-1] / p[0]), 2)
    (1.0, 0.58)
    """
    shape = 1.0 / (1.0 + np.exp((np.asarray(ages, dtype=float) - 82.0) / 6.0))
    return shape / shape.sum()


AGE_PROFILE = age_profile()


def generate_lfs(
    structure: pd.DataFrame, *, n_households: int = 9_000, seed: int = 2010
) -> pd.DataFrame:
    """Generate the synthetic LFS persons table.

    Parameters
    ----------
    structure : DataFrame
        The SOC 2010 structure (``code``, ``level``, ``title``) that occupations are drawn from.
    n_households : int, default=9000
        Number of sampled households (about 2.3 persons each).
    seed : int, default=2010
        Seed of the ``numpy.random.default_rng`` stream; the same seed gives the same bytes.

    Returns
    -------
    DataFrame
        One row per person.
    """
    rng = np.random.default_rng(seed)
    names = list(REGIONS)
    share = np.array([REGIONS[r][0] for r in names])
    rate = np.array([REGIONS[r][1] for r in names])
    sample_p = share * rate / (share * rate).sum()
    hh_region = rng.choice(len(names), size=n_households, p=sample_p)
    hh_size = rng.choice(
        [1, 2, 3, 4, 5], size=n_households, p=[0.29, 0.35, 0.16, 0.14, 0.06]
    )
    person_hh = np.repeat(np.arange(n_households), hh_size)
    n = person_hh.size
    region_idx = hh_region[person_hh]

    # Ages from a smooth pyramid. (A normal draw clipped to 16-80 piled everyone below 16
    # on age 16 and everyone above 80 on age 80.)
    age = rng.choice(AGES, size=n, p=AGE_PROFILE)
    sex = np.where(rng.random(n) < 0.51, "female", "male")

    # Education: a latent score rising for younger cohorts and in London.
    latent = (
        rng.normal(0, 1, n)
        + (60 - age) / 40
        + np.where(np.array(names)[region_idx] == "London", 0.4, 0.0)
    )
    edu_idx = np.digitize(latent, [-1.6, 0.0, 0.8])
    education = np.array(EDUCATION)[edu_idx]

    # Activity status.
    p_inactive = np.where(
        age < 20,
        0.6,
        np.where(
            age < 25, 0.3, np.where(age < 55, 0.13, np.where(age < 65, 0.35, 0.85))
        ),
    )
    inactive = rng.random(n) < p_inactive
    p_unemployed = np.array([0.12, 0.06, 0.04, 0.025])[edu_idx] * np.where(
        age < 25, 2.0, 1.0
    )
    unemployed = ~inactive & (rng.random(n) < p_unemployed)
    employed = ~inactive & ~unemployed
    status = np.where(
        employed, "employed", np.where(unemployed, "unemployed", "inactive")
    )

    # Occupation: major group by education, then a unit group uniformly within it.
    units = structure.loc[structure["level"] == 4, "code"].to_numpy()
    units_by_major = {
        m: units[np.char.startswith(units.astype(str), m)] for m in MAJOR_GROUP_PAY
    }
    major = np.empty(n, dtype=object)
    for level, probs in MAJOR_GROUP_BY_EDUCATION.items():
        idx = np.flatnonzero(education == level)
        major[idx] = rng.choice(list(MAJOR_GROUP_PAY), size=idx.size, p=probs)
    soc = np.empty(n, dtype=object)
    for m, pool in units_by_major.items():
        idx = np.flatnonzero(major == m)
        soc[idx] = rng.choice(pool, size=idx.size)
    soc = np.where(employed, soc, None)

    # Hours: part-time more likely for women and over-60s.
    p_part = 0.12 + 0.25 * (sex == "female") + 0.2 * (age >= 60)
    part_time = rng.random(n) < p_part
    hours = np.where(part_time, rng.normal(19, 6, n), rng.normal(39, 5, n))
    hours = np.where(employed, np.clip(hours, 2, 75).round(1), 0.0)

    # Hourly pay (GBP): log-linear in major group, education, a concave age profile, full time.
    major_premium = np.array([MAJOR_GROUP_PAY.get(str(m), 0.0) for m in major])
    log_pay = (
        np.log(8.0)
        + major_premium
        + 0.08 * edu_idx
        + 0.035 * (age - 16)
        - 0.0006 * (age - 16) ** 2
        + 0.08 * ~part_time
        - 0.06 * (sex == "female")
        + np.where(np.array(names)[region_idx] == "London", 0.18, 0.0)
        + rng.normal(0, 0.28, n)
    )
    pay = np.where(employed, np.exp(log_pay).round(2), np.nan)

    # Design weight: population share over sample share of the region, with a small
    # household-level non-response adjustment.
    region_sample_share = np.bincount(region_idx, minlength=len(names)) / n
    base = share[region_idx] / region_sample_share[region_idx] * POPULATION / n
    adjust = rng.uniform(0.85, 1.15, n_households)[person_hh]
    weight = (base * adjust).round(2)

    frame = pd.DataFrame(
        {
            "person_id": np.arange(1, n + 1, dtype=np.int64),
            "household_id": person_hh.astype(np.int64) + 1,
            "region": np.array(names)[region_idx],
            "age": age.astype(np.int64),
            "sex": sex,
            "education": education,
            "status": status,
            "hours_worked": hours.astype(np.float64),
            "hourly_pay": pay.astype(np.float64),
            "soc2010": soc,
            "weight": weight.astype(np.float64),
        }
    )
    return frame


def mask_lfs(frame: pd.DataFrame, *, seed: int = 2011) -> pd.DataFrame:
    """Add documented item non-response to an LFS table, keeping the true values.

    MCAR: 5 % of ``hours_worked`` (employed), 5 % of ``hourly_pay`` (employed) and 4 % of
    ``education`` are set missing at random. MAR: ``hourly_pay`` is further missing with a
    probability of 4 % + 10 % if aged under 30 + 8 % in London + 6 % in major groups 1-2
    (a known pattern: high earners and the young refuse income questions), and ``soc2010`` is
    missing with 3 % + 7 % for education ``none``/``secondary``.

    Parameters
    ----------
    frame : DataFrame
        Output of :func:`generate_lfs`.
    seed : int, default=2011
        Seed of the masking stream.

    Returns
    -------
    DataFrame
        ``frame`` with holes, plus ``<column>_true`` and ``<column>_missing`` for each masked
        column.
    """
    rng = np.random.default_rng(seed)
    out = frame.copy()
    employed = (out["status"] == "employed").to_numpy()
    n = len(out)
    young = (out["age"] < 30).to_numpy()
    london = (out["region"] == "London").to_numpy()
    top_major = (
        out["soc2010"].str[:1].isin(["1", "2"]).fillna(False).to_numpy(dtype=bool)
    )
    low_edu = out["education"].isin(["none", "secondary"]).to_numpy(dtype=bool)
    masks = {
        "hours_worked": employed & (rng.random(n) < 0.05),
        "hourly_pay": employed
        & (
            (rng.random(n) < 0.05)
            | (rng.random(n) < 0.04 + 0.10 * young + 0.08 * london + 0.06 * top_major)
        ),
        "education": rng.random(n) < 0.04,
        "soc2010": employed & (rng.random(n) < 0.03 + 0.07 * low_edu),
    }
    for column, mask in masks.items():
        out[f"{column}_true"] = out[column]
        out[f"{column}_missing"] = mask
        out.loc[mask, column] = None if out[column].dtype == object else np.nan
    return out


def _protocol(card) -> dict:
    return card.protocols["households"]


def _split(frame: pd.DataFrame, card) -> pd.Series:
    proto = _protocol(card)
    return grouped_split(
        frame["household_id"],
        test_size=float(proto["test_size"]),
        seed=int(proto["seed"]),
    )


def build_lfs_synthetic(card, sources: dict[str, Path]) -> dict[str, pd.DataFrame]:
    """Build ``lfs_synthetic`` (generator settings from the card's ``generator`` field)."""
    settings = card.data.get("generator", {})
    structure = read_structure(sources["ONS_index.xls"])
    frame = generate_lfs(
        structure,
        n_households=int(settings.get("n_households", 9_000)),
        seed=int(settings.get("seed", 2010)),
    )
    frame["split:households"] = _split(frame, card)
    return {"data": frame}


def build_lfs_synthetic_missing(
    card, sources: dict[str, Path]
) -> dict[str, pd.DataFrame]:
    """Build ``lfs_synthetic_missing``: ``lfs_synthetic`` with documented item non-response."""
    settings = card.data.get("generator", {})
    structure = read_structure(sources["ONS_index.xls"])
    frame = generate_lfs(
        structure,
        n_households=int(settings.get("n_households", 9_000)),
        seed=int(settings.get("seed", 2010)),
    )
    frame = mask_lfs(frame, seed=int(settings.get("mask_seed", 2011)))
    frame["split:households"] = _split(frame, card)
    return {"data": frame}
