"""The hub's course file and its checks: bad input gets one line, nothing half-done."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from squad.cli import main
from squad.errors import InvalidInputError, NotFoundError, ServiceError
from squad.hub.coursefile import read_course_file, read_roster_csv
from squad.hub.prepare import HubLayout, keep_students_with_work
from squad.hub.server import check_ports

REPO = Path(__file__).resolve().parents[2]


def _course_file(tmp_path: Path, **changes) -> Path:
    data = {
        "course_id": "cc",
        "course": str(REPO / "exercises"),
        "hub_dir": str(tmp_path / "hub"),
        "port": 8000,
        "instructors": ["ana"],
        "trainees": ["bo", "cy"],
    }
    data.update(changes)
    lines = [f"{key}: {value!r}" for key, value in data.items() if value is not None]
    path = tmp_path / "hub.yml"
    path.write_text("\n".join(lines).replace("'", '"') + "\n")
    return path


def test_read_course_file_reads_people_and_folders(tmp_path):
    """A valid file gives the course, its people and its accounts' names."""
    course = read_course_file(_course_file(tmp_path))
    assert course.users == ("ana", "bo", "cy")
    assert course.course_dir == (REPO / "exercises").resolve()
    assert (course.grader, course.student_group, course.formgrade_group) == (
        "grader-cc",
        "nbgrader-cc",
        "formgrade-cc",
    )


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"course": "/no/such/course"}, NotFoundError, "Unknown course"),
        ({"trainees": ["bo", "bo"]}, InvalidInputError, "'bo' appears twice"),
        ({"trainees": ["ana"]}, InvalidInputError, "'ana' appears twice"),
        ({"trainees": ["Bo Smith"]}, InvalidInputError, "not a valid account name"),
        ({"trainees": ["bo_1"]}, InvalidInputError, "not a valid account name"),
        ({"trainees": ["grader-cc"]}, InvalidInputError, "grader account"),
        ({"course_id": "Coffee and Coding"}, InvalidInputError, "course_id"),
        ({"port": 70000}, InvalidInputError, "'port'"),
        ({"instructors": None}, InvalidInputError, "no instructors"),
        ({"colour": "blue"}, InvalidInputError, "unknown key"),
        ({"mem_limit": "lots"}, InvalidInputError, "'mem_limit' .* such as 2G"),
        ({"mem_limit": "100M"}, InvalidInputError, "'mem_limit' '100M' .* too small"),
        ({"cpu_limit": "one"}, InvalidInputError, "'cpu_limit' .* 0.1 or more"),
        ({"cpu_limit": 0}, InvalidInputError, "'cpu_limit' .* got 0"),
        ({"max_processes": 10}, InvalidInputError, "'max_processes' .* got 10"),
        ({"max_processes": 1.5}, InvalidInputError, "'max_processes' .* whole"),
    ],
)
def test_read_course_file_rejects_bad_input_in_one_line(
    tmp_path, changes, error, message
):
    """Each mistake is named in one line."""
    with pytest.raises(error, match=message) as caught:
        read_course_file(_course_file(tmp_path, **changes))
    assert "\n" not in str(caught.value)


def test_read_course_file_limits_have_defaults_and_null_means_none(tmp_path):
    """No limits in the file: 2 GiB, 1 CPU, 256 processes; null lifts one."""
    course = read_course_file(_course_file(tmp_path))
    assert (course.mem_limit, course.cpu_limit, course.max_processes) == (
        2 * 2**30,
        1.0,
        256,
    )
    path = _course_file(tmp_path, mem_limit="1.5G", cpu_limit=0.5)
    path.write_text(path.read_text() + "max_processes: null\n")
    course = read_course_file(path)
    assert (course.mem_limit, course.cpu_limit, course.max_processes) == (
        3 * 2**29,
        0.5,
        None,
    )


def test_read_roster_csv_reads_lms_exports(tmp_path):
    """Moodle's and Canvas's exports: the login column, lower-cased, blanks skipped."""
    moodle = tmp_path / "moodle.csv"
    moodle.write_text(
        "\ufeffFirst name,Last name,Username,Email address\n"
        "Ana,Lee,ALEE,a@x.org\nBo,Ng,bng,b@x.org\n,,,\n",
        encoding="utf-8",
    )
    canvas = tmp_path / "canvas.csv"
    canvas.write_text("Student;ID;SIS Login ID;Section\nLee, Ana;1;alee;A\n")
    assert read_roster_csv(moodle) == ["alee", "bng"]
    assert read_roster_csv(canvas) == ["alee"]


def test_read_roster_csv_rejects_a_file_without_logins(tmp_path):
    """No login column: the error lists what was looked for and what is there."""
    path = tmp_path / "export.csv"
    path.write_text("Name,Email\nAna,a@x.org\n")
    with pytest.raises(InvalidInputError, match="no login column"):
        read_roster_csv(path)


def test_course_file_takes_the_roster(tmp_path):
    """``roster:`` adds the LMS export's trainees; a repeated name is refused."""
    (tmp_path / "export.csv").write_text("Username\ndee\nbo\n")
    with pytest.raises(InvalidInputError, match="'bo' appears twice"):
        read_course_file(_course_file(tmp_path, roster="export.csv"))
    (tmp_path / "export.csv").write_text("Username\ndee\n")
    course = read_course_file(_course_file(tmp_path, roster="export.csv"))
    assert course.trainees == ("bo", "cy", "dee")


def test_check_ports_names_the_port_in_use(tmp_path):
    """A busy port is refused before anything starts, in one line."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        course = read_course_file(_course_file(tmp_path, port=port - 1))
        with pytest.raises(
            ServiceError, match=f"Port {port} .the hub's API. is in use"
        ):
            check_ports(course)


def test_hub_start_with_a_port_in_use_prints_one_line(tmp_path):
    """`squad hub start` stops at the busy port: exit 2, one line, no hub folder."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        path = _course_file(tmp_path, port=port)
        result = CliRunner().invoke(main, ["hub", "start", str(path)])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1
    assert f"Port {port}" in result.output
    assert not (tmp_path / "hub").exists()


def test_roster_never_grows_from_folders_a_trainee_can_make(tmp_path, caplog):
    """Inbound folder names are never read; a collected folder whose name is not a
    course account is named in a warning and not let in."""
    course = read_course_file(_course_file(tmp_path))
    layout = HubLayout(course.hub_dir)
    inbound = layout.exchange / "cc" / "inbound"
    inbound.mkdir(parents=True)
    for name in ("eve", "root", "grader-cc", "Bad_Name"):
        (inbound / f"{name}+01-survey-microdata+2026-01-01 10:00:00 UTC+abc").mkdir()
    (layout.course / "submitted" / "squad-no-such-account").mkdir(parents=True)
    with caplog.at_level(logging.WARNING, logger="squad"):
        kept = keep_students_with_work(course, layout)
    assert kept.trainees == ("bo", "cy")
    assert "submitted/squad-no-such-account is not a trainee" in caplog.text
    assert "eve" not in caplog.text and "root" not in caplog.text


@pytest.mark.parametrize("name", ["root", "grader-other", "nobody"])
def test_reserved_names_are_refused_in_the_course_file(tmp_path, name):
    """Root, system and grader accounts are never on a roster."""
    with pytest.raises(InvalidInputError, match=f"'{name}' in .* is reserved"):
        read_course_file(_course_file(tmp_path, trainees=["bo", name]))


@pytest.mark.parametrize("probe", ["hub", "lab"])
def test_readiness_probe_reads_a_non_http_answer_as_not_ready(probe):
    """A port that answers with its own request (a TCP self-connect) is not ready yet.

    A probe of a port nothing listens on yet, inside the ephemeral port range, can
    connect to itself and read back its own request line: the wait goes on.
    """
    import threading

    from squad.course.lab import _responds
    from squad.hub.server import _answers

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)

        def echo() -> None:
            connection, _ = listener.accept()
            with connection:
                connection.sendall(connection.recv(65536))  # the request, as an answer

        thread = threading.Thread(target=echo, daemon=True)
        thread.start()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/"
        ready = _answers(url) if probe == "hub" else _responds(url, "token")
        thread.join(timeout=30)
    assert ready is False


def test_course_file_challenge_needs_a_file_and_a_fifth_port(tmp_path):
    """``challenge:`` names a file that exists; the hub then checks a fifth port."""
    from squad.errors import MissingFileError
    from squad.hub.server import hub_ports

    with pytest.raises(MissingFileError, match="challenge file .* does not exist"):
        read_course_file(_course_file(tmp_path, challenge="nowhere.yml"))
    (tmp_path / "challenge.yml").write_text("title: T\n")
    course = read_course_file(_course_file(tmp_path, challenge="challenge.yml"))
    assert course.challenge == (tmp_path / "challenge.yml").resolve()
    assert hub_ports(course) == [8000, 8001, 8002, 8003, 8004]
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        course = read_course_file(
            _course_file(tmp_path, port=port - 4, challenge="challenge.yml")
        )
        with pytest.raises(
            ServiceError, match=f"Port {port} .the challenge. is in use"
        ):
            check_ports(course)
