"""Each person's own hub password: issued once, stored hashed, handed out on a sheet."""

from __future__ import annotations

import csv
import json
import os
import stat
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from squad.cli import main
from squad.errors import FileProblemError, NotFoundError
from squad.hub.coursefile import read_course_file
from squad.hub.passwords import (
    generate_password,
    hash_password,
    issue_passwords,
    list_sheets,
    read_password_hashes,
    verify_password,
)
from squad.hub.prepare import hub_layout

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def course(tmp_path):
    """A course file with one instructor and two trainees, its hub folder in tmp."""
    path = tmp_path / "hub.yml"
    path.write_text(
        json.dumps(
            {
                "course_id": "cc",
                "course": str(REPO / "exercises"),
                "hub_dir": str(tmp_path / "hub"),
                "instructors": ["ana"],
                "trainees": ["bo", "cy"],
            }
        )
    )
    return read_course_file(path)


def _sheet(path: Path) -> dict[str, tuple[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return {
            row["name"]: (row["role"], row["password"])
            for row in csv.DictReader(handle)
        }


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_issue_passwords_gives_each_person_their_own_on_a_private_sheet(course):
    """Everybody gets a password; the hub keeps hashes; the sheet is 0600."""
    layout = hub_layout(course)
    issued = issue_passwords(course, layout)
    assert issued.names == ("ana", "bo", "cy")
    sheet = _sheet(issued.sheet)
    assert {name: role for name, (role, _) in sheet.items()} == {
        "ana": "instructor",
        "bo": "trainee",
        "cy": "trainee",
    }
    passwords = {name: password for name, (_, password) in sheet.items()}
    assert len(set(passwords.values())) == 3
    hashes = read_password_hashes(layout.password_hashes)
    assert sorted(hashes) == ["ana", "bo", "cy"]
    for name, password in passwords.items():
        assert password not in layout.password_hashes.read_text()
        assert verify_password(password, hashes[name])
    page = issued.page.read_text(encoding="utf-8")
    assert all(
        name in page and password in page for name, password in passwords.items()
    )
    for path in (issued.sheet, issued.page, layout.password_hashes):
        assert _mode(path) == 0o600, path
    assert _mode(layout.password_sheets) == _mode(layout.state) == 0o700
    assert list_sheets(layout) == [issued.sheet]


def test_issue_passwords_keeps_existing_ones_and_adds_new_people(course):
    """A second issue changes nothing; a trainee added later gets a sheet of their own."""
    layout = hub_layout(course)
    first = issue_passwords(course, layout)
    before = read_password_hashes(layout.password_hashes)
    again = issue_passwords(course, layout)
    assert (again.names, again.sheet) == ((), None)
    assert "has a password" in again.summary()
    later = issue_passwords(course.with_trainees(["bo", "cy", "dee"]), layout)
    assert later.names == ("dee",)
    assert set(_sheet(later.sheet)) == {"dee"}
    after = read_password_hashes(layout.password_hashes)
    assert {n: after[n] for n in before} == before
    assert list_sheets(layout) == [first.sheet, later.sheet]


def test_issue_passwords_reset_replaces_one_password(course):
    """--reset NAME: a new password for NAME only; the old one stops working."""
    layout = hub_layout(course)
    old = _sheet(issue_passwords(course, layout).sheet)
    before = read_password_hashes(layout.password_hashes)
    issued = issue_passwords(course, layout, reset=["bo"])
    assert issued.names == ("bo",)
    new_password = _sheet(issued.sheet)["bo"][1]
    hashes = read_password_hashes(layout.password_hashes)
    assert verify_password(new_password, hashes["bo"])
    assert not verify_password(old["bo"][1], hashes["bo"])
    assert {hashes["ana"], hashes["cy"]} == {before["ana"], before["cy"]}


def test_issue_passwords_refuses_a_name_off_the_course_file(course):
    """Resetting someone who is not on the course file names the file and the remedy."""
    with pytest.raises(
        NotFoundError, match=r"'root' is not on the course file .*hub.yml"
    ):
        issue_passwords(course, hub_layout(course), reset=["root"])


@pytest.mark.parametrize(
    ("password", "stored", "expected"),
    [
        ("k7mq-2xwp-9hcv", "same", True),
        ("k7mq-2xwp-9hcw", "same", False),
        ("", "same", False),
        ("k7mq-2xwp-9hcv", "scrypt$1$2$3", False),
        ("k7mq-2xwp-9hcv", "md5$16384$8$1$AAAA$AAAA", False),
        ("k7mq-2xwp-9hcv", "", False),
    ],
)
def test_verify_password_accepts_only_the_password_it_was_made_from(
    password, stored, expected
):
    """Right password: True; wrong, empty or a malformed hash: False, never an error."""
    if stored == "same":
        stored = hash_password("k7mq-2xwp-9hcv")
    assert verify_password(password, stored) is expected


def test_hash_password_salts_each_hash():
    """The same password hashes differently twice (a salt of its own)."""
    assert hash_password("k7mq-2xwp-9hcv") != hash_password("k7mq-2xwp-9hcv")


def test_generate_password_is_new_each_time():
    """Generated passwords are not repeated and use only unambiguous characters."""
    passwords = {generate_password() for _ in range(200)}
    assert len(passwords) == 200
    assert not set("".join(passwords)) & set("01lio_")


def test_read_password_hashes_refuses_a_file_that_is_not_the_kits(tmp_path):
    """A broken password file: one line naming it and the command that reissues."""
    path = tmp_path / "password-hashes.json"
    path.write_text("[1, 2]")
    with pytest.raises(FileProblemError, match=r"not a table.*squad hub passwords"):
        read_password_hashes(path)
    assert read_password_hashes(tmp_path / "missing.json") == {}


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="the command needs root"
)
def test_hub_passwords_command_prints_the_sheet_and_refuses_unknown_names(course):
    """`squad hub passwords`: the sheet's path; --reset of a stranger: one line, exit 2."""
    runner = CliRunner()
    result = runner.invoke(main, ["hub", "passwords", str(course.path)])
    assert result.exit_code == 0, result.output
    sheet = list_sheets(hub_layout(course))[0]
    assert f"Passwords for 3 person(s) on the sheet {sheet}" in result.output
    result = runner.invoke(
        main, ["hub", "passwords", str(course.path), "--reset", "grader-cc"]
    )
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0
    assert "'grader-cc' is not on the course file" in result.output


@pytest.mark.parametrize("shared", [False, True])
def test_hub_start_command_says_where_the_passwords_are(course, monkeypatch, shared):
    """`squad hub start`: new sheets by path; with --shared-password, the shared file."""
    import squad.hub.server

    def fake_start_hub(course, *, ip, shared_password):
        assert shared_password is shared
        layout = hub_layout(course)
        if not shared_password:
            issue_passwords(course, layout)
        process = SimpleNamespace(wait=lambda: 0)
        return SimpleNamespace(
            url="http://127.0.0.1:8000/",
            formgrader_url="http://127.0.0.1:8000/services/cc/formgrader",
            layout=layout,
            process=process,
            stop=lambda: None,
        )

    monkeypatch.setattr(squad.hub.server, "start_hub", fake_start_hub)
    monkeypatch.setattr("squad.cli.hub.stop_on_signals", lambda: None)
    options = ["--shared-password"] if shared else []
    result = CliRunner().invoke(main, ["hub", "start", str(course.path), *options])
    assert result.exit_code == 0, result.output
    layout = hub_layout(course)
    if shared:
        assert (
            f"Shared passwords (trainee, instructor): {layout.passwords}"
            in result.output
        )
    else:
        sheet = list_sheets(layout)[0]
        assert f"New passwords to hand out: {sheet}" in result.output
