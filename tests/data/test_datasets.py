"""Tests for squad.data.datasets: catalogue, builds, cache, splits, schemas and errors."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import squad
from squad.data import datasets
from squad.data.catalogue import CardError, DatasetNotFoundError
from squad.data.sources import ChecksumError, SourceError, file_sha256

CATALOGUE = Path(__file__).resolve().parents[2] / "datasets"
ALL = ["ecoicop", "lfs_synthetic", "lfs_synthetic_missing", "soc2010"]


def _ids_hash(values) -> str:
    return hashlib.sha256(",".join(map(str, sorted(values))).encode()).hexdigest()


def test_list_datasets_names_the_catalogue():
    """The four built-in cards are listed, sorted."""
    assert squad.list_datasets() == ALL


@pytest.mark.parametrize("name", ALL)
def test_load_dataset_schema_matches_card(name):
    """Every column the card documents is in the table, and the split is train/test(/validation)."""
    info = squad.dataset_info(name)
    frame = squad.load_dataset(name)
    assert list(info["columns"]) == [c for c in frame.columns if c in info["columns"]]
    assert set(info["columns"]) <= set(frame.columns)
    assert not any(c.startswith("split:") for c in frame.columns)
    assert set(frame["split"].unique()) == {"train", "test"}
    assert len(frame) == info["n_rows"] or name == "ecoicop"
    for key in ("licence", "provenance", "checksum", "source_sha256"):
        assert info[key]


def test_soc2010_counts_and_columns():
    """28,521 coded entries in 369 unit groups; codes and prefixes are consistent strings."""
    frame = squad.load_dataset("soc2010")
    assert len(frame) == 28_521
    assert frame["soc2010"].nunique() == 369
    assert frame["soc2010"].str.fullmatch(r"\d{4}").all()
    assert (frame["soc2010_3"] == frame["soc2010"].str[:3]).all()
    assert (frame["soc2010_1"] == frame["soc2010"].str[:1]).all()
    assert frame["record_id"].is_unique
    row = frame.loc[frame["title"] == "Accountant, fund"].iloc[0]
    assert row["title_natural"] == "fund accountant"
    assert row["head_word"] == "accountant"
    assert row["unit_group_title"] != ""


def test_soc2010_stratified_split_is_pinned():
    """The default test split has a fixed size and a fixed set of record ids on every machine."""
    test = squad.load_dataset("soc2010", split="test")
    assert len(test) == 5709
    assert (
        _ids_hash(test["record_id"])
        == "3d85aaa2503f35779195c3fdcceb9cf4d45ab0e167ef400d6324ffdf04dba9a2"
    )
    train = squad.load_dataset("soc2010", split="train")
    assert set(test["soc2010"]) <= set(train["soc2010"])


def test_soc2010_head_word_protocol_keeps_head_words_apart():
    """Under the head-word protocol no head word is on both sides."""
    frame = squad.load_dataset("soc2010", protocol="head_word")
    sides = frame.groupby("head_word")["split"].nunique()
    assert (sides == 1).all()
    test = frame.loc[frame["split"] == "test"]
    assert 0.17 < len(test) / len(frame) < 0.23
    assert (
        _ids_hash(test["record_id"])
        == "f78a7bcffa599990d1065ac3f70ae9504a9c4c6f4fd897f6f8ca0c397fdb9043"
    )


def test_load_hierarchy_soc2010_levels():
    """9 major, 25 sub-major, 90 minor and 369 unit groups."""
    hierarchy = squad.load_hierarchy("soc2010")
    assert hierarchy.groupby("level").size().tolist() == [9, 25, 90, 369]
    assert set(hierarchy.columns) == {"code", "level", "title", "description"}


def test_soc2010_unit_group_descriptions_match_their_codes():
    """Volume 1's descriptions sit on their own unit groups: each names its group's job,
    none is an index title, and minor group 246 (two descriptions, three unit groups)
    gets none rather than a guess."""
    hierarchy = squad.load_hierarchy("soc2010").set_index("code")
    units = hierarchy.loc[hierarchy["level"] == 4, "description"]
    assert (units != "").sum() == 366
    assert units[["2461", "2462", "2463"]].tolist() == ["", "", ""]
    assert (hierarchy.loc[hierarchy["level"] < 4, "description"] == "").all()
    for code, start in {
        "2121": "civil engineers undertake research and design",
        "2216": "veterinarians diagnose and treat animal injuries",
        "3441": "professional sportsmen and women train and compete",
        "9279": "workers in this unit group perform a variety of elementary services",
        "1115": "this unit group includes those who head large enterprises",
    }.items():
        assert units[code].startswith(start)
    index_titles = set(squad.load_dataset("soc2010")["title_natural"])
    assert not index_titles & set(units[units != ""])


def test_load_hierarchy_without_one_raises():
    """A dataset without a hierarchy says which ones have one."""
    with pytest.raises(
        ValueError, match="'lfs_synthetic' has no classification hierarchy.*soc2010"
    ):
        squad.load_hierarchy("lfs_synthetic")


def test_ecoicop_shape_and_grouped_split():
    """17,099 products x 7 languages; a product and its same-name twins are on one side."""
    frame = squad.load_dataset("ecoicop")
    assert len(frame) == 17_099 * 7
    assert sorted(frame["language"].unique()) == [
        "de",
        "en",
        "es",
        "fr",
        "it",
        "nl",
        "pl",
    ]
    assert frame["category"].nunique() == 61
    assert (frame.groupby("product_id")["split"].nunique() == 1).all()
    assert (frame.groupby("product_id")["category"].nunique() == 1).all()
    polish = frame.loc[frame["language"] == "pl"].copy()
    from squad.data.builders.ecoicop import normalise_name

    polish["key"] = polish["text"].map(normalise_name)
    assert (polish.groupby("key")["split"].nunique() == 1).all()
    test_ids = polish.loc[polish["split"] == "test", "product_id"]
    assert len(test_ids) == 3448
    assert (
        _ids_hash(test_ids)
        == "b2d9bb7ea3983072eebcd0536c29f8527d069c8cf89e4db173f9e32c0b5b05db"
    )


def test_ecoicop_statistics_poland_protocol():
    """1,500 test and 1,500 validation products, as Statistics Poland published."""
    polish = squad.load_dataset("ecoicop", protocol="statistics_poland").query(
        "language == 'pl'"
    )
    assert polish["split"].value_counts().to_dict() == {
        "train": 14_099,
        "test": 1_500,
        "validation": 1_500,
    }
    val = squad.load_dataset(
        "ecoicop", split="validation", protocol="statistics_poland"
    )
    assert len(val) == 1_500 * 7


def test_lfs_synthetic_is_deterministic_and_plausible():
    """Same bytes for the same seed (pinned); the documented relationships hold."""
    assert (
        squad.dataset_checksum("lfs_synthetic")
        == "cd271aa8217939e9929c1c15809b4a9440acaecf799f4246113601f94e11f206"
    )
    frame = squad.load_dataset("lfs_synthetic")
    assert len(frame) >= 20_000
    employed = frame["status"] == "employed"
    assert frame.loc[~employed, "hourly_pay"].isna().all()
    assert frame.loc[~employed, "soc2010"].isna().all()
    assert (frame.loc[~employed, "hours_worked"] == 0).all()
    assert frame.loc[employed, "soc2010"].str.fullmatch(r"\d{4}").all()
    pay_by_major = (
        frame.loc[employed].groupby(frame["soc2010"].str[:1])["hourly_pay"].median()
    )
    assert pay_by_major["1"] > pay_by_major["9"] * 1.8
    weighted = (
        frame["weight"] * (frame["region"] == "Northern Ireland")
    ).sum() / frame["weight"].sum()
    unweighted = (frame["region"] == "Northern Ireland").mean()
    assert weighted < unweighted * 0.8  # over-sampled region: weights pull it down
    assert (frame.groupby("household_id")["split"].nunique() == 1).all()


def test_lfs_synthetic_ages_have_no_spike():
    """No age holds more than three times the persons of its neighbours (the mean of the
    ages either side; at 16 and 80, the one neighbour): no pile-up at the ends."""
    counts = (
        squad.load_dataset("lfs_synthetic")["age"]
        .value_counts()
        .reindex(range(16, 81), fill_value=0)
    )
    assert (counts > 0).all(), "every age from 16 to 80 should have persons"
    values = counts.to_numpy(dtype=float)
    neighbours = np.r_[values[1], (values[:-2] + values[2:]) / 2, values[-2]]
    ratio = pd.Series(values / neighbours, index=counts.index)
    assert ratio.max() <= 3, (
        f"age {ratio.idxmax()} holds {ratio.max():.1f}x its neighbours"
    )


def test_lfs_generator_same_seed_same_frame_other_seed_differs():
    """The generator itself is deterministic in its seed."""
    from squad.data.builders.lfs import generate_lfs

    structure = squad.load_hierarchy("soc2010")
    one = generate_lfs(structure, n_households=300, seed=7)
    two = generate_lfs(structure, n_households=300, seed=7)
    three = generate_lfs(structure, n_households=300, seed=8)
    pd.testing.assert_frame_equal(one, two)
    assert not one["age"].equals(three["age"]) or len(one) != len(three)


def test_lfs_synthetic_missing_keeps_truth():
    """Masked values are missing, their truth is kept, unmasked values are untouched."""
    assert (
        squad.dataset_checksum("lfs_synthetic_missing")
        == "a6fd8df2b37b582f9b9a9a67f6ea0c622b22ad1c2e0b3ad9e38a130fa591d2d3"
    )
    frame = squad.load_dataset("lfs_synthetic_missing")
    full = squad.load_dataset("lfs_synthetic")
    assert (frame["person_id"] == full["person_id"]).all()
    for column in ("hours_worked", "hourly_pay", "education", "soc2010"):
        mask = frame[f"{column}_missing"]
        assert 0.02 < mask.mean() < 0.15, column
        assert frame.loc[mask, column].isna().all()
        pd.testing.assert_series_equal(
            frame[f"{column}_true"], full[column], check_names=False
        )
        kept = ~mask
        pd.testing.assert_series_equal(frame.loc[kept, column], full.loc[kept, column])
    # MAR: the young lose their pay more often than the rest.
    employed = frame["status"] == "employed"
    young = frame["age"] < 30
    rate_young = frame.loc[employed & young, "hourly_pay_missing"].mean()
    rate_old = frame.loc[employed & ~young, "hourly_pay_missing"].mean()
    assert rate_young > rate_old + 0.05


def test_unknown_dataset_lists_known_ones():
    """An unknown name raises a KeyError subclass listing the catalogue."""
    with pytest.raises(
        DatasetNotFoundError,
        match="'lfs_2021' is not in the catalogue. Available: ecoicop, ",
    ):
        squad.load_dataset("lfs_2021")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"split": "validation"},
            "Invalid split 'validation' for dataset 'soc2010'.*Use one of: test, train",
        ),
        ({"split": "TEST"}, "Invalid split 'TEST'"),
        (
            {"protocol": "random"},
            "no split protocol 'random'. Available: stratified, head_word",
        ),
    ],
)
def test_load_dataset_invalid_split_or_protocol(kwargs, message):
    """Bad split or protocol values are rejected with the valid ones listed."""
    with pytest.raises(ValueError, match=message):
        squad.load_dataset("soc2010", **kwargs)


def test_get_data_home_env_and_argument(tmp_path, monkeypatch):
    """An explicit argument wins over SQUAD_DATA_HOME, which wins over the platform default."""
    monkeypatch.setenv("SQUAD_DATA_HOME", str(tmp_path / "env"))
    assert squad.get_data_home() == tmp_path / "env"
    assert squad.get_data_home(tmp_path / "arg") == tmp_path / "arg"
    monkeypatch.delenv("SQUAD_DATA_HOME")
    assert "squad" in str(squad.get_data_home())


# ----------------------------------------------------------------------- own cards and cache
def _write_table_card(
    folder: Path, source: Path, sha: str, *, name: str = "mytable", extra: str = ""
) -> Path:
    card = folder / f"{name}.yml"
    card.write_text(
        f"""name: {name}
title: A member's table
description: Test data.
licence: CC0
provenance: made in a test
sources:
  - name: {source.name}
    path: {source}
    sha256: {sha}
builder: table
columns:
  id: {{dtype: int64, description: id}}
  label: {{dtype: str, description: label}}
task: {{type: classification, target: label}}
split:
  default: strat
  protocols:
    strat: {{method: stratified, id: id, stratify: label, test_size: 0.25, seed: 1}}
{extra}""",
        encoding="utf-8",
    )
    return card


@pytest.fixture
def own_catalogue(tmp_path, monkeypatch):
    """A member's own catalogue folder with one CSV-backed card."""
    folder = tmp_path / "cards"
    folder.mkdir()
    source = tmp_path / "table.csv"
    pd.DataFrame({"id": range(40), "label": ["a", "b", "c", "d"] * 10}).to_csv(
        source, index=False
    )
    _write_table_card(folder, source, file_sha256(source))
    monkeypatch.setenv("SQUAD_CATALOGUE", str(folder))
    return folder, source, tmp_path / "home"


def test_own_card_is_listed_and_loaded(own_catalogue):
    """A card added in SQUAD_CATALOGUE is listed and built from its local path."""
    folder, _, home = own_catalogue
    assert "mytable" in squad.list_datasets()
    test = squad.load_dataset("mytable", split="test", data_home=home)
    assert len(test) == 12  # 25 % of each of 4 labels with 10 rows, rounded: 2.5 -> 3
    assert test.groupby("label").size().tolist() == [3, 3, 3, 3]


def test_cached_load_does_not_rebuild_and_card_change_rebuilds(own_catalogue):
    """A second load reads the cache; editing the card makes a new cache entry."""
    folder, source, home = own_catalogue
    squad.load_dataset("mytable", data_home=home)
    entries = list((home / "mytable").iterdir())
    assert len(entries) == 1
    meta_time = (entries[0] / "meta.json").stat().st_mtime_ns
    squad.load_dataset("mytable", data_home=home)
    assert (entries[0] / "meta.json").stat().st_mtime_ns == meta_time
    card = folder / "mytable.yml"
    card.write_text(card.read_text().replace("seed: 1", "seed: 2"))
    squad.load_dataset("mytable", data_home=home)
    after = list((home / "mytable").iterdir())
    assert len(after) == 1 and after[0].name != entries[0].name


def test_corrupt_cache_is_rebuilt(own_catalogue):
    """A cached Parquet whose sha256 no longer matches is rebuilt, not trusted."""
    _, _, home = own_catalogue
    first = squad.load_dataset("mytable", data_home=home)
    entry = next((home / "mytable").iterdir())
    (entry / "data.parquet").write_bytes(b"garbage")
    again = squad.load_dataset("mytable", data_home=home)
    pd.testing.assert_frame_equal(first, again)


def test_interrupted_build_leaves_no_cache_entry(own_catalogue, monkeypatch):
    """A build that fails half-way leaves nothing that a later load would trust."""
    _, _, home = own_catalogue
    from squad.data.builders import table

    def failing(card, sources):
        raise KeyboardInterrupt

    monkeypatch.setattr(table, "build", failing)
    with pytest.raises(KeyboardInterrupt):
        squad.load_dataset("mytable", data_home=home)
    leftovers = [
        p for p in home.rglob("*") if p.is_file() and p.parent.name != "downloads"
    ]
    assert leftovers == []


def test_checksum_mismatch_names_expected_actual_and_path(own_catalogue):
    """A source whose bytes changed is refused with both checksums and the path."""
    _, source, home = own_catalogue
    expected = file_sha256(source)
    source.write_text("id,label\n1,a\n")
    actual = file_sha256(source)
    with pytest.raises(
        ChecksumError,
        match=f"Checksum mismatch for {source}.*expected sha256 {expected}, got {actual}",
    ):
        squad.load_dataset("mytable", data_home=home)


def test_missing_source_file(own_catalogue):
    """A missing local source says where it was expected."""
    _, source, home = own_catalogue
    source.unlink()
    with pytest.raises(
        SourceError, match=f"Source file {source} of dataset 'mytable' does not exist"
    ):
        squad.load_dataset("mytable", data_home=home)


def test_unreadable_source_file(own_catalogue):
    """A source that exists but cannot be read is reported as unreadable."""
    _, source, home = own_catalogue
    if os.geteuid() == 0:
        source.unlink()
        source.mkdir()  # root reads any file; a folder in its place is unreadable as a file
    else:
        source.chmod(0)
    with pytest.raises(SourceError, match="cannot be read"):
        squad.load_dataset("mytable", data_home=home)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace("licence: CC0\n", ""), "field 'licence' is missing"),
        (
            lambda t: t.replace("name: mytable", "name: other"),
            "field 'name' is 'other' but the file is named 'mytable.yml'",
        ),
        (
            lambda t: t.replace("sha256: ", "sha256: zz"),
            r"field 'sources\[0\].sha256' must be 64 lowercase hex digits",
        ),
        (
            lambda t: t.replace("default: strat", "default: nope"),
            "field 'split.default' must name one of",
        ),
        (lambda t: t.replace("title: A", "title: [A"), "is not valid YAML at line"),
        (
            lambda t: t.replace(
                "  label: {dtype: str, description: label}",
                "  grade: {dtype: str, description: x}",
            ),
            "field 'columns' lists \\['grade'\\]",
        ),
    ],
)
def test_invalid_card_names_field_and_file(own_catalogue, edit, message):
    """A broken card is reported with the field and the file."""
    folder, _, home = own_catalogue
    card = folder / "mytable.yml"
    card.write_text(edit(card.read_text()))
    with pytest.raises(CardError, match=message):
        squad.load_dataset("mytable", data_home=home)


def test_url_source_uses_mirror_and_verifies(tmp_path, monkeypatch):
    """A URL source is read from SQUAD_DATA_MIRROR under its upstream name, and verified."""
    folder = tmp_path / "cards"
    folder.mkdir()
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    src = mirror / "my table.csv"
    pd.DataFrame({"id": range(8), "label": ["x", "y"] * 4}).to_csv(src, index=False)
    card = _write_table_card(folder, src, file_sha256(src))
    card.write_text(
        card.read_text().replace(
            f"path: {src}", "url: https://example.invalid/data/my%20table.csv"
        )
    )
    monkeypatch.setenv("SQUAD_CATALOGUE", str(folder))
    monkeypatch.setenv("SQUAD_DATA_MIRROR", str(mirror))
    assert len(squad.load_dataset("mytable", data_home=tmp_path / "home")) == 8
    src.write_text("id,label\n")
    shutil.rmtree(tmp_path / "home")
    with pytest.raises(ChecksumError, match="Checksum mismatch"):
        squad.load_dataset("mytable", data_home=tmp_path / "home")


def test_dataset_checksum_changes_with_content(own_catalogue):
    """Different data give a different checksum; the same data the same one."""
    folder, source, home = own_catalogue
    first = squad.dataset_checksum("mytable", data_home=home)
    assert first == squad.dataset_checksum("mytable", data_home=home)
    pd.DataFrame({"id": range(40), "label": ["a", "b", "c", "e"] * 10}).to_csv(
        source, index=False
    )
    card = folder / "mytable.yml"
    card.write_text(
        card.read_text().replace(
            card.read_text().split("sha256: ")[1].split()[0], file_sha256(source)
        )
    )
    assert squad.dataset_checksum("mytable", data_home=home) != first


def test_datasets_module_reexported():
    """The public functions are available from the top-level package."""
    for name in datasets.__all__:
        if name[0].islower():
            assert getattr(squad, name) is getattr(datasets, name)
