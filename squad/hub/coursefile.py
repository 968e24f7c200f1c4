"""The course file: who takes part in a course on the hub, and where its hub lives.

A short YAML file kept with the course (the kit's is ``exercises/hub.yml``)::

    course_id: coffee-and-coding     # the hub's service, groups and grader account
    course: .                        # the nbgrader course, relative to this file
    hub_dir: /srv/squad-hub          # ALL the hub's state: database, exchange, gradebook
    port: 8000
    instructors: [instructor1]
    trainees: [trainee01, trainee02]
    roster: roster.csv               # optional: trainees from an LMS CSV export
    datasets: [soc2010]              # built once for every trainee's kernel
    idle_minutes: 60                 # trainee servers idle this long are stopped
    mem_limit: 2G                    # each person's server and kernels, at most
    cpu_limit: 1                     # CPUs each person's server and kernels may use
    max_processes: 256               # processes and threads each person may run
    challenge: challenge.yml         # optional: a squad challenge, hub login (see below)

With ``challenge``, the hub also runs ``squad challenge serve --hub-login`` on that
challenge file as its service ``challenge`` (docs/challenges.md): everybody of the
course reaches it at ``/services/challenge/`` and logs in with their hub account.

Every name is a Unix account name on the hub's server. Everything in the file is input
from a person: it is checked, and a problem is reported in one line.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

from squad.errors import InvalidInputError, MissingFileError, NotFoundError

__all__ = [
    "CourseFile",
    "RESERVED_NAMES",
    "check_user_names",
    "parse_memory",
    "read_course_file",
    "read_roster_csv",
]

#: A portable Unix account name: lower case, starts with a letter, at most 32
#: characters (Debian's ``NAME_REGEX`` without ``$``, and without ``_``, which
#: nbgrader's zip route uses as its separator).
#: Names that are never a person on the hub (system accounts by uid are refused when
#: the hub starts; these are refused in the course file already).
RESERVED_NAMES = frozenset(
    {"root", "daemon", "bin", "sys", "sync", "nobody", "admin", "jupyterhub"}
)
_USER_NAME = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
#: The course id becomes ``formgrade-<id>``: a group name of at most 32 characters.
_COURSE_ID = re.compile(r"^[a-z][a-z0-9-]{0,21}$")
#: Column names that LMS exports use for the login name (lower case, compared after
#: stripping): Moodle "Username", Canvas "SIS Login ID"/"Login ID", Blackboard
#: "Username", generic "user"/"login".
_ROSTER_COLUMNS = ("username", "user name", "sis login id", "login id", "login", "user")

_KEYS = {
    "course_id",
    "course",
    "hub_dir",
    "port",
    "instructors",
    "trainees",
    "roster",
    "datasets",
    "idle_minutes",
    "mem_limit",
    "cpu_limit",
    "max_processes",
    "challenge",
}
#: Per-person limits when the course file names none: sized for a class server of
#: 2 cores and 24 GB (docs/hub.md, "Limits"). ``null`` in the file means no limit.
DEFAULT_MEM_LIMIT = 2 * 2**30
DEFAULT_CPU_LIMIT = 1.0
DEFAULT_MAX_PROCESSES = 256
#: Below these a person's JupyterLab server itself cannot run (it alone holds about
#: 180 MB, 40 threads and a share of a CPU).
_MIN_MEM_LIMIT = 512 * 2**20
_MIN_CPU_LIMIT = 0.1
_MIN_MAX_PROCESSES = 64
_BYTES = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class CourseFile:
    """A checked course file.

    Attributes
    ----------
    path : pathlib.Path
        The file it was read from.
    course_id : str
        The course's id on the hub (service, ``nbgrader-<id>`` and ``formgrade-<id>``
        groups, ``grader-<id>`` account).
    course_dir : pathlib.Path
        The nbgrader course (``nbgrader_config.py`` and ``source/``).
    hub_dir : pathlib.Path
        The one folder that holds all the hub's state.
    port : int
        The hub's public port.
    instructors, trainees : tuple of str
        Account names; nobody is both.
    datasets : tuple of str
        Datasets built once, before trainees' kernels read them.
    idle_minutes : int
        Trainee servers idle this long are stopped.
    mem_limit : int or None
        Bytes of memory each person's server and kernels may use together; ``None``
        for no limit.
    cpu_limit : float or None
        CPUs each person's server and kernels may use together; ``None`` for no limit.
    max_processes : int or None
        Processes and threads each person's server may run at once (kernels,
        terminals and what they start included); ``None`` for no limit.
    challenge : pathlib.Path or None
        A challenge file the hub serves as its service ``challenge``.
    """

    path: Path
    course_id: str
    course_dir: Path
    hub_dir: Path
    port: int = 8000
    instructors: tuple[str, ...] = ()
    trainees: tuple[str, ...] = ()
    datasets: tuple[str, ...] = ()
    idle_minutes: int = 60
    mem_limit: int | None = DEFAULT_MEM_LIMIT
    cpu_limit: float | None = DEFAULT_CPU_LIMIT
    max_processes: int | None = DEFAULT_MAX_PROCESSES
    challenge: Path | None = None

    @property
    def grader(self) -> str:
        """The grader account that runs the course's Formgrader."""
        return f"grader-{self.course_id}"

    @property
    def student_group(self) -> str:
        """The group of everybody who takes the course (nbgrader's ``nbgrader-<id>``)."""
        return f"nbgrader-{self.course_id}"

    @property
    def formgrade_group(self) -> str:
        """The group (and hub role) of the instructors who share the Formgrader."""
        return f"formgrade-{self.course_id}"

    @property
    def users(self) -> tuple[str, ...]:
        """Everybody who logs in: instructors, then trainees."""
        return self.instructors + self.trainees

    def with_trainees(self, trainees: Iterable[str]) -> CourseFile:
        """Return a copy with another trainee list (checked)."""
        names = tuple(trainees)
        check_user_names(names, where=str(self.path), taken=self.instructors)
        return CourseFile(**{**self.__dict__, "trainees": names})


def check_user_names(
    names: Iterable[str], *, where: str, taken: Iterable[str] = ()
) -> None:
    """Check account names: valid, no duplicates, none already used by ``taken``.

    Raises
    ------
    InvalidInputError
        Naming the first bad name.

    Examples
    --------
    >>> check_user_names(["ana", "bo-2"], where="x")
    >>> check_user_names(["ana", "ana"], where="roster.csv")
    Traceback (most recent call last):
    ...
    squad.errors.InvalidInputError: User name 'ana' appears twice in roster.csv. ...
    >>> check_user_names(["Ana"], where="hub.yml")
    Traceback (most recent call last):
    ...
    squad.errors.InvalidInputError: User name 'Ana' in hub.yml is not a valid account ...
    """
    seen = set(taken)
    for name in names:
        if not isinstance(name, str) or not _USER_NAME.match(name):
            msg = (
                f"User name {name!r} in {where} is not a valid account name: use 1 to "
                "32 lower-case letters, digits or '-', starting with a letter."
            )
            raise InvalidInputError(msg)
        if name in RESERVED_NAMES or name.startswith("grader-"):
            msg = (
                f"User name {name!r} in {where} is reserved (root, system and grader "
                "accounts never log in to the hub): pick another name."
            )
            raise InvalidInputError(msg)
        if name in seen:
            msg = (
                f"User name {name!r} appears twice in {where}. Each person needs one "
                "entry, either as instructor or as trainee."
            )
            raise InvalidInputError(msg)
        seen.add(name)


def read_roster_csv(
    path: str | os.PathLike[str], *, column: str | None = None
) -> list[str]:
    """Read trainees' account names from a learning management system's CSV export.

    Parameters
    ----------
    path : path-like
        The CSV file (UTF-8, with or without a byte-order mark; comma or semicolon).
    column : str, default=None
        The column with the login names; ``None`` finds the first of "Username",
        "User name", "SIS Login ID", "Login ID", "Login", "User" (any case).

    Returns
    -------
    list of str
        The names, lower-cased, in file order; blank cells are skipped. Names are
        checked with `check_user_names`.

    Raises
    ------
    MissingFileError
        If the file does not exist.
    InvalidInputError
        If no login column is found, or a name is invalid or repeated.

    Examples
    --------
    >>> import tempfile
    >>> csv_path = Path(tempfile.mkdtemp()) / "export.csv"
    >>> _ = csv_path.write_text("First name;Surname;Username\\nAna;Lee;ALEE\\n")
    >>> read_roster_csv(csv_path)
    ['alee']
    """
    csv_path = Path(path)
    if not csv_path.is_file():
        msg = (
            f"Roster file '{csv_path}' does not exist. Export the participants as CSV."
        )
        raise MissingFileError(msg)
    text = csv_path.read_text(encoding="utf-8-sig", errors="replace")
    try:
        dialect = csv.Sniffer().sniff(text.split("\n", 1)[0], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    rows = list(csv.reader(text.splitlines(), dialect))
    if not rows:
        msg = f"Roster file '{csv_path}' is empty."
        raise InvalidInputError(msg)
    header = [cell.strip().lower() for cell in rows[0]]
    wanted = [column.strip().lower()] if column else list(_ROSTER_COLUMNS)
    index = next((header.index(name) for name in wanted if name in header), None)
    if index is None:
        msg = (
            f"Roster file '{csv_path}' has no login column: looked for "
            f"{', '.join(repr(w) for w in wanted)} in {rows[0][:8]!r}. Pass the column."
        )
        raise InvalidInputError(msg)
    names = [
        row[index].strip().lower()
        for row in rows[1:]
        if len(row) > index and row[index].strip()
    ]
    check_user_names(names, where=str(csv_path))
    return names


def _as_names(value: object, key: str, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        msg = f"'{key}' in {where} must be a list of account names, got {value!r}."
        raise InvalidInputError(msg)
    return tuple(str(v) if isinstance(v, int) else v for v in value)


def parse_memory(value: object) -> int:
    """Read an amount of memory: bytes, or a number with K, M, G or T (powers of 1024).

    Raises
    ------
    ValueError
        If ``value`` is not such an amount.

    Examples
    --------
    >>> parse_memory("2G"), parse_memory("512M"), parse_memory("1.5GiB")
    (2147483648, 536870912, 1610612736)
    >>> parse_memory(1048576)
    1048576
    """
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int):
        return value
    match = _BYTES.match(str(value))
    if not match:
        raise ValueError(value)
    number, unit = match.groups()
    return int(float(number) * 1024 ** " KMGT".index(unit.upper() or " "))


def _read_limits(data: dict, where: str) -> dict[str, int | float | None]:
    """The per-person limits of a course file: defaults where absent, None for null."""
    limits: dict[str, int | float | None] = {
        "mem_limit": DEFAULT_MEM_LIMIT,
        "cpu_limit": DEFAULT_CPU_LIMIT,
        "max_processes": DEFAULT_MAX_PROCESSES,
    }
    if "mem_limit" in data and data["mem_limit"] is None:
        limits["mem_limit"] = None
    elif "mem_limit" in data:
        value = data["mem_limit"]
        try:
            limits["mem_limit"] = parse_memory(value)
        except ValueError:
            msg = (
                f"'mem_limit' in {where} must be an amount of memory such as 2G or "
                f"512M, or null for no limit, got {value!r}."
            )
            raise InvalidInputError(msg) from None
        if limits["mem_limit"] < _MIN_MEM_LIMIT:
            msg = (
                f"'mem_limit' {value!r} in {where} is too small: a person's JupyterLab "
                "server alone needs about 180 MB; give 512M or more."
            )
            raise InvalidInputError(msg)
    if "cpu_limit" in data:
        value = data["cpu_limit"]
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if value is not None and (not number or value < _MIN_CPU_LIMIT):
            msg = (
                f"'cpu_limit' in {where} must be a number of CPUs of 0.1 or more "
                f"(1 is one core), or null for no limit, got {value!r}."
            )
            raise InvalidInputError(msg)
        limits["cpu_limit"] = None if value is None else float(value)
    if "max_processes" in data:
        value = data["max_processes"]
        number = isinstance(value, int) and not isinstance(value, bool)
        if value is not None and (not number or value < _MIN_MAX_PROCESSES):
            msg = (
                f"'max_processes' in {where} must be a whole number of "
                f"{_MIN_MAX_PROCESSES} or more (a JupyterLab server and a kernel run "
                f"about 40 threads), or null for no limit, got {value!r}."
            )
            raise InvalidInputError(msg)
        limits["max_processes"] = value
    return limits


def read_course_file(path: str | os.PathLike[str]) -> CourseFile:
    """Read and check a course file.

    Parameters
    ----------
    path : path-like
        The YAML course file.

    Returns
    -------
    CourseFile

    Raises
    ------
    MissingFileError
        If the file does not exist.
    NotFoundError
        If the course it names is not an nbgrader course (unknown course).
    InvalidInputError
        For anything else that is wrong: unknown keys, a bad course id or port,
        invalid or duplicate user names, a limit that is not one.
    """
    from squad.course.build import find_course_dir

    file = Path(path).expanduser().absolute()
    if not file.is_file():
        msg = (
            f"Course file '{file}' does not exist. Copy exercises/hub.yml and edit it."
        )
        raise MissingFileError(msg)
    where = str(file)
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        msg = f"Course file '{file}' is not valid YAML: {first}."
        raise InvalidInputError(msg) from err
    if not isinstance(data, dict):
        msg = f"Course file '{file}' must hold a mapping of keys, got {type(data).__name__}."
        raise InvalidInputError(msg)
    unknown = sorted(set(map(str, data)) - _KEYS)
    if unknown:
        msg = (
            f"Course file '{file}' has unknown key(s) {', '.join(unknown)}. Known: "
            f"{', '.join(sorted(_KEYS))}."
        )
        raise InvalidInputError(msg)

    course_id = data.get("course_id")
    if not isinstance(course_id, str) or not _COURSE_ID.match(course_id):
        msg = (
            f"course_id {course_id!r} in {where} is not valid: 1 to 22 lower-case "
            "letters, digits or '-', starting with a letter."
        )
        raise InvalidInputError(msg)
    course_value = data.get("course", ".")
    course_dir = (file.parent / str(course_value)).resolve()
    try:
        course_dir = find_course_dir(course_dir)
    except MissingFileError as err:
        msg = (
            f"Unknown course {course_value!r} in {where}: '{course_dir}' is not an "
            "nbgrader course (no nbgrader_config.py and source/). Point 'course' at it."
        )
        raise NotFoundError(msg) from err

    hub_value = data.get("hub_dir")
    if not isinstance(hub_value, str) or not hub_value.strip():
        msg = f"'hub_dir' in {where} must name the hub's folder, e.g. /srv/squad-hub."
        raise InvalidInputError(msg)
    hub_dir = (file.parent / Path(hub_value).expanduser()).resolve()

    port = data.get("port", 8000)
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        msg = f"'port' in {where} must be a number from 1 to 65535, got {port!r}."
        raise InvalidInputError(msg)
    idle = data.get("idle_minutes", 60)
    if isinstance(idle, bool) or not isinstance(idle, int) or idle < 1:
        msg = f"'idle_minutes' in {where} must be a whole number of minutes, got {idle!r}."
        raise InvalidInputError(msg)

    instructors = _as_names(data.get("instructors"), "instructors", where)
    if not instructors:
        msg = f"Course file '{file}' names no instructors: add at least one."
        raise InvalidInputError(msg)
    trainees = _as_names(data.get("trainees"), "trainees", where)
    roster = data.get("roster")
    if roster:
        trainees += tuple(read_roster_csv(file.parent / str(roster)))
    check_user_names(instructors + trainees, where=where)
    reserved = {f"grader-{course_id}"}
    clash = reserved.intersection(instructors + trainees)
    if clash:
        msg = f"User name {clash.pop()!r} in {where} is the course's grader account."
        raise InvalidInputError(msg)
    datasets = _as_names(data.get("datasets"), "datasets", where)
    limits = _read_limits(data, where)
    challenge = data.get("challenge")
    if challenge is not None:
        if not isinstance(challenge, str) or not challenge.strip():
            msg = (
                f"'challenge' in {where} must name a challenge file, got {challenge!r}."
            )
            raise InvalidInputError(msg)
        challenge = (file.parent / Path(challenge).expanduser()).resolve()
        if not challenge.is_file():
            msg = f"The challenge file '{challenge}' named in {where} does not exist."
            raise MissingFileError(msg)
    return CourseFile(
        path=file,
        course_id=course_id,
        course_dir=course_dir,
        hub_dir=hub_dir,
        port=port,
        instructors=instructors,
        trainees=trainees,
        datasets=datasets,
        idle_minutes=idle,
        challenge=challenge,
        **limits,
    )
