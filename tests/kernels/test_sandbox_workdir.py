"""Tests for squad.kernels.sandbox.workdir: one submission's fresh working folder."""

from __future__ import annotations

import pytest

from squad.kernels.sandbox import prepare_workdir


def test_prepare_workdir_copies_only_notebooks_and_data(tmp_path):
    """Only the submission's notebooks and the data files reach the workdir."""
    sub = tmp_path / "sub"
    (sub / "part2").mkdir(parents=True)
    (sub / ".ipynb_checkpoints").mkdir()
    (sub / "ps1.ipynb").write_text("{}")
    (sub / "part2" / "ps2.ipynb").write_text("{}")
    (sub / ".ipynb_checkpoints" / "ps1-checkpoint.ipynb").write_text("{}")
    (sub / "notes.txt").write_text("x")
    (tmp_path / "gradebook.db").write_text("secret")
    (sub / "link.ipynb").symlink_to(tmp_path / "gradebook.db")
    data = tmp_path / "prices.csv"
    data.write_text("a,b\n1,2\n")
    work = prepare_workdir(sub, {"data/prices.csv": data}, tmp_path / "work")
    found = sorted(
        p.relative_to(work).as_posix() for p in work.rglob("*") if p.is_file()
    )
    assert found == ["data/prices.csv", "part2/ps2.ipynb", "ps1.ipynb"]


def test_prepare_workdir_copies_data_folders_and_other_patterns(tmp_path):
    """A data folder is copied whole under its own name; patterns choose the files."""
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "ps1.ipynb").write_text("{}")
    (sub / "helper.py").write_text("x = 1")
    data = tmp_path / "inputs"
    (data / "deep").mkdir(parents=True)
    (data / "deep" / "a.csv").write_text("a")
    work = prepare_workdir(sub, data, tmp_path / "work", patterns=("*.py",))
    found = sorted(
        p.relative_to(work).as_posix() for p in work.rglob("*") if p.is_file()
    )
    assert found == ["helper.py", "inputs/deep/a.csv"]


@pytest.mark.parametrize(
    ("data", "dest", "error", "match"),
    [
        ({"../x.csv": "prices.csv"}, None, ValueError, "must be relative"),
        ({"/abs.csv": "prices.csv"}, None, ValueError, "must be relative"),
        (["missing.csv"], None, FileNotFoundError, "missing.csv' does not exist"),
        ([], "full", FileExistsError, "is not empty"),
    ],
)
def test_prepare_workdir_rejects_bad_input(tmp_path, data, dest, error, match):
    """Escaping names, missing data and a used destination are refused."""
    sub = tmp_path / "sub"
    sub.mkdir()
    (tmp_path / "prices.csv").write_text("a")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "old.txt").write_text("x")
    if isinstance(data, dict):
        data = {k: tmp_path / v for k, v in data.items()}
    else:
        data = [tmp_path / d for d in data]
    with pytest.raises(error, match=match):
        prepare_workdir(sub, data, tmp_path / dest if dest else None)


def test_prepare_workdir_rejects_missing_submission(tmp_path):
    """A submission folder that does not exist is a NotADirectoryError."""
    with pytest.raises(NotADirectoryError, match="does not exist"):
        prepare_workdir(tmp_path / "nobody")
