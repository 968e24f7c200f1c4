"""Shared by the challenge server's tests: files, sites, clusters and servers."""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

EVIL_TEAM = "<b>blue</b><script>alert(1)</script>"
#: Every test of a challenge site runs on each of these databases.
DATABASES = ["sqlite", "postgresql"]


def write_challenge(
    folder: Path, *, daily: int = 3, total: int = 5, task: str = "dataset: soc2010"
) -> Path:
    """A challenge file and its roster in ``folder``; the phase is open until 2099.

    ``task`` is the line naming what is coded: a catalogue ``dataset:`` or ``labels:``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    roster = folder / "roster.csv"
    with roster.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["user", "name", "email", "team"])
        writer.writerow(["organiser", "Org Aniser", "org@example.org", ""])
        writer.writerow(["alice", "Alice A", "alice@example.org", "red"])
        writer.writerow(["bob", "Bob B", "bob@example.org", "red"])
        writer.writerow(["carol", "Carol C", "carol@example.org", EVIL_TEAM])
        writer.writerow(["dave", "Dave D", "dave@example.org", "green"])
    path = folder / "CHALLENGE.yml"
    path.write_text(
        textwrap.dedent(
            f"""\
            title: Test challenge
            {task}
            metric: accuracy
            tie_breakers: [f1_macro]
            phases:
              - name: main
                opens: 2020-01-01T00:00:00Z
                closes: 2099-01-01T00:00:00Z
            caps: {{per_day: {daily}, total: {total}}}
            team_size: 3
            final_picks: 1
            public_fraction: 0.3
            seed: 7
            roster: roster.csv
            organisers: [organiser]
            """
        ),
        encoding="utf-8",
    )
    return path


#: The labels of the organiser's own file (:func:`write_own_labels`): values that are
#: never an id nor a text, so a page showing one of them shows a label.
OWN_LABELS = ("K101", "K102", "K103", "K104", "K105", "K106")
OWN_TASK = "labels: {file: answers.csv, id: rid, text: [title, place], label: code}"


def write_own_labels(folder: Path, *, n: int = 200, name: str = "answers.csv") -> Path:
    """The organiser's labelled file: ids ``r0001``.., two text columns, a label."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["rid", "title", "place", "code"])
        for i in range(n):
            label = OWN_LABELS[(i * 7) % len(OWN_LABELS)]
            writer.writerow(
                [f"r{i:04d}", f"worker {i}, grade {i % 9}", "Warsaw", label]
            )
    return path


def own_answers(path: Path) -> list[tuple[str, str]]:
    """The (id, label) pairs of an organiser's labelled file, in its order."""
    with path.open(newline="", encoding="utf-8") as handle:
        return [(row["rid"], row["code"]) for row in csv.DictReader(handle)]


def own_predictions_csv(pairs: list[tuple[str, str]], *, wrong: int = 0) -> bytes:
    """A predictions file for an own-labels challenge, the first ``wrong`` changed."""
    lines = ["record_id,predicted"]
    for i, (rid, label) in enumerate(pairs):
        if i < wrong:
            label = OWN_LABELS[(OWN_LABELS.index(label) + 1) % len(OWN_LABELS)]
        lines.append(f"{rid},{label}")
    return ("\n".join(lines) + "\n").encode()


class Site:
    """The challenge of this process: config, state folder and issued credentials."""

    def __init__(
        self, config, state: Path, credentials: dict[str, dict], database: str
    ) -> None:
        self.config = config
        self.state = state
        self.credentials = credentials
        self.database = database

    def client(self, user: str | None = None, *, form: bool = False, **kwargs):
        """A Django test client logged in as ``user`` (through the form if ``form``)."""
        from django.contrib.auth.models import User
        from django.test import Client

        client = Client(**kwargs)
        if user is not None and not form:
            client.force_login(User.objects.get(username=user))
        elif user is not None:
            response = client.post(
                "/login/",
                {"username": user, "password": self.credentials[user]["password"]},
            )
            assert response.status_code == 302, response.content[:300]
        return client

    def token(self, user: str) -> str:
        return self.credentials[user]["token"]


def site_routes() -> list[str]:
    """Every URL pattern of the challenge site."""
    from django.urls import URLPattern, URLResolver, get_resolver

    def walk(patterns, prefix=""):
        for p in patterns:
            if isinstance(p, URLResolver):
                yield from walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern):
                yield prefix + str(p.pattern)

    return list(walk(get_resolver().url_patterns))


def fetch_every_route(client, token: str) -> dict[tuple[str, bool], tuple[int, str]]:
    """GET every route with every submission and team id, with and without the token.

    Returns ``{(path, with_token): (status, body)}``.
    """
    from squad.challenges.models import Submission, Team

    ids = [str(s) for s in Submission.objects.values_list("id", flat=True)]
    ids += [str(t) for t in Team.objects.values_list("id", flat=True)]
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    bodies = {}
    for route in site_routes():
        for value in ids if "<int:" in route else [None]:
            path = "/" + route
            if value is not None:
                path = path.split("<int:")[0] + value + "/" + path.split(">/", 1)[1]
            for extra in ({}, headers):
                response = client.get(path, **extra)
                body = b"".join(response) if response.streaming else response.content
                bodies[(path, bool(extra))] = (response.status_code, body.decode())
    return bodies


def close_challenge() -> None:
    """Move the close of every phase to the past, as if the challenge had ended."""
    from django.utils import timezone

    from squad.challenges.models import Phase

    Phase.objects.update(closes=timezone.now() - dt.timedelta(seconds=1))


def score_queued(site: Site) -> int:
    """Score every queued submission with the queue's own steps; return how many."""
    from squad.challenges.scoring import score_upload
    from squad.challenges.worker import claim_next, record_result

    n = 0
    while (row := claim_next()) is not None:
        path = site.state / "uploads" / row.stored
        record_result(row.pk, score_upload(path, site.config), site.config.metric)
        n += 1
    return n


@functools.lru_cache(maxsize=1)
def held_test_split():
    """The soc2010 test split (ids and labels), as the organiser's server holds it."""
    from squad.data.datasets import load_dataset

    frame = load_dataset("soc2010")
    return frame[frame["split"] == "test"].reset_index(drop=True)


@functools.lru_cache(maxsize=8)
def predictions_csv(*, wrong: int = 0) -> bytes:
    """A valid predictions file: the test labels, the first ``wrong`` ones changed."""
    test = held_test_split()
    predicted = test["soc2010"].astype(str).copy()
    other = "1115" if predicted.iloc[0] != "1115" else "1116"
    predicted.iloc[:wrong] = other
    buffer = io.StringIO()
    buffer.write("record_id,predicted\n")
    for rid, code in zip(test["record_id"], predicted, strict=True):
        buffer.write(f"{rid},{code}\n")
    return buffer.getvalue().encode()


def upload(name: str, content: bytes):
    """A file as a form upload."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, content, content_type="text/csv")


def chmod_state(state: Path) -> int:
    """The permission bits of the state folder (0700 expected)."""
    return os.stat(state).st_mode & 0o777


def _postgres_bin() -> Path:
    """Debian's newest PostgreSQL programs (15 on Debian 12), where they are."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0,
    )
    return found[-1].parent if found else Path("/usr/lib/postgresql/15/bin")


PG_BIN = _postgres_bin()


class PostgresCluster:
    """A throwaway PostgreSQL cluster (15 on Debian 12): data and unix socket in one temporary folder.

    PostgreSQL refuses to run as root, so as root (CI) every server command runs as the
    ``postgres`` system account (``runuser -u postgres --``), and the folder is its.
    """

    def __init__(self) -> None:
        import shutil
        import socket
        import subprocess
        import tempfile

        self.folder = Path(tempfile.mkdtemp(prefix="squad-pg-"))
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.folder, "postgres", "postgres")
        os.chmod(self.folder, 0o700)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self._run(
            [PG_BIN / "initdb", "-D", self.folder / "data", "-A", "trust"]
            + ["-U", "postgres", "--no-sync", "-E", "UTF8", "--locale", "C"]
        )
        options = f"-k {self.folder} -p {self.port} -c listen_addresses='' -F"
        self._run(
            [PG_BIN / "pg_ctl", "-D", self.folder / "data", "-o", options, "-w"]
            + ["-l", self.folder / "server.log", "start"]
        )
        self._subprocess = subprocess

    def _run(self, command: list) -> None:
        import subprocess

        prefix = ["runuser", "-u", "postgres", "--"] if self.as_root else []
        subprocess.run(
            [*prefix, *map(str, command)], check=True, capture_output=True, timeout=120
        )

    def create_database(self, name: str) -> str:
        """Create a database; return its URL for ``--db``."""
        self._run(
            [PG_BIN / "createdb", "-h", self.folder, "-p", self.port]
            + ["-U", "postgres", name]
        )
        return f"postgresql://postgres@localhost:{self.port}/{name}?host={self.folder}"

    def stop(self) -> None:
        """Stop the server and remove its folder."""
        import shutil

        try:
            self._run(
                [PG_BIN / "pg_ctl", "-D", self.folder / "data", "-m", "fast", "stop"]
            )
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


def use_database(url: str, state: Path) -> None:
    """Point this process's Django at another database (tests only)."""
    from squad.challenges.settings import database_settings

    use_database_settings(database_settings(url, state))


def use_database_settings(entry: dict) -> None:
    """Point this process's Django at the database ``entry`` describes (tests only)."""
    from django.conf import settings
    from django.db import connections

    connections.close_all()
    settings.DATABASES["default"] = entry
    connections.__dict__.pop("settings", None)  # re-read DATABASES
    try:
        del connections["default"]
    except AttributeError:  # not opened since the last switch
        pass


# --------------------------------------------------------------------------- servers
SQUAD = [sys.executable, "-m", "squad.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition, timeout: float, what: str):
    """Poll ``condition`` until it returns a true value, failing after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    value = condition()
    assert value, f"{what} did not happen within {timeout} s"
    return value


def http_get(url: str, token: str | None = None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(
            urllib.request.Request(url, headers=headers), timeout=10
        ) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()
    except OSError:
        return None, b""


def start_server(
    challenge: Path, state: Path, port: int, log: Path, db: str
) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen(
            [*SQUAD, "challenge", "serve", str(challenge), "--state", str(state)]
            + ["--port", str(port), "--jobs", "1", "--db", db],
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def stop_server(process: subprocess.Popen) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=60)
