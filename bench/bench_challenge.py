"""Benchmark: 200 participants submit to a real challenge server within one minute.

A challenge of soc2010 with 200 participants in 50 teams of 4 is served by the real
command (``python -m squad.cli challenge serve``, waitress and 2 scoring processes) on a
free port, once on SQLite and once on PostgreSQL (a throwaway cluster, as the tests
start it; ``--db sqlite`` or ``--db postgresql`` runs one). Each participant uploads one predictions file (5,709 rows, a different
share of wrong codes each) through the token API, as ``squad submit --to`` does, at a
moment drawn uniformly (seeded) within one minute, from 32 client threads. The benchmark
then waits until every submission has left the queue and reads the database:

- none lost: 200 uploads answered 201 and 200 rows, each ``scored``;
- none scored twice: every row was claimed once (``n_scorings == 1``);
- latency from upload to score (the server's own timestamps): median and p95;
- throughput: scored submissions per second from the first upload to the last score
  (bounded by the arrival rate, 200 a minute, when the queue keeps up).

Creating the 200 accounts (Django's password hashing) is timed apart. Asserts nothing
about time (the machine is shared and noisy), only about the counts. Run with
``make bench``.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import csv
import datetime as dt
import os
import random
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import squad  # noqa: E402
from squad.challenges.client import upload_predictions  # noqa: E402

N_PARTICIPANTS = 200
TEAM_SIZE = 4
WINDOW = 60.0  # seconds in which every participant submits once
CLIENT_THREADS = 32


def _write_challenge(folder: Path) -> Path:
    with (folder / "roster.csv").open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["user", "name", "email", "team"])
        for i in range(N_PARTICIPANTS):
            team = f"team{i // TEAM_SIZE:03d}"
            writer.writerow([f"p{i:03d}", f"P {i}", f"p{i}@example.org", team])
    path = folder / "CHALLENGE.yml"
    path.write_text(
        textwrap.dedent(
            f"""\
            title: Bench challenge
            dataset: soc2010
            phases:
              - name: main
                opens: 2020-01-01T00:00:00Z
                closes: 2099-01-01T00:00:00Z
            caps: {{per_day: 10, total: 10}}
            team_size: {TEAM_SIZE}
            roster: roster.csv
            """
        )
    )
    return path


def _files(folder: Path) -> list[Path]:
    test = squad.load_dataset("soc2010", "test")
    codes = test["soc2010"].astype(str).tolist()
    ids = test["record_id"].tolist()
    rng = random.Random(0)
    files = []
    for i in range(N_PARTICIPANTS):
        wrong = rng.randrange(0, len(codes) // 2)
        rows = [
            f"{r},{'1115' if k < wrong else c}"
            for k, (r, c) in enumerate(zip(ids, codes, strict=True))
        ]
        path = folder / f"p{i:03d}.csv"
        path.write_text("record_id,predicted\n" + "\n".join(rows) + "\n")
        files.append(path)
    return files


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


_QUERY = "SELECT status, created, scored, n_scorings FROM challenges_submission"


def _rows(db: Path | str) -> list[tuple]:
    if isinstance(db, str):  # a PostgreSQL URL
        import psycopg

        with psycopg.connect(db) as conn:
            return conn.execute(_QUERY).fetchall()
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        return conn.execute(_QUERY).fetchall()


def _time(value: str | dt.datetime) -> dt.datetime:
    return value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--db", choices=["sqlite", "postgresql", "both"], default="both"
    )
    args = parser.parse_args()
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    for kind in kinds:
        if kind == "sqlite":
            bench(None)
            continue
        from tests.support.challenges import PostgresCluster

        cluster = PostgresCluster()
        try:
            bench(cluster.create_database("bench"))
        finally:
            cluster.stop()


def bench(db_url: str | None) -> None:
    """Run the benchmark on SQLite (``db_url`` None) or the PostgreSQL database given."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        challenge = _write_challenge(folder)
        files = _files(folder)
        state, port = folder / "state", _free_port()
        url = f"http://127.0.0.1:{port}/"
        log = (folder / "server.log").open("wb")
        started = time.monotonic()
        server = subprocess.Popen(
            [sys.executable, "-m", "squad.cli", "challenge", "serve", str(challenge)]
            + ["--state", str(state), "--port", str(port), "--jobs", "2"]
            + (["--db", db_url] if db_url else []),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 600
            while not _answers(url):
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"The server did not start; see {log.name}")
                time.sleep(0.5)
            setup = time.monotonic() - started
            (sheet,) = state.glob("accounts-*.csv")
            with sheet.open(newline="") as handle:
                tokens = [r["token"] for r in csv.DictReader(handle)]
            rng = random.Random(1)
            moments = sorted(rng.uniform(0, WINDOW) for _ in range(N_PARTICIPANTS))
            begin = time.monotonic()

            def send(i: int) -> int:
                time.sleep(max(0.0, begin + moments[i] - time.monotonic()))
                return upload_predictions(files[i], url, tokens[i], timeout=120)["id"]

            with cf.ThreadPoolExecutor(CLIENT_THREADS) as pool:
                ids = list(pool.map(send, range(N_PARTICIPANTS)))
            sent_in = time.monotonic() - begin
            db = db_url or state / "challenge.sqlite3"
            deadline = time.monotonic() + 900
            while any(r[0] in ("queued", "scoring") for r in _rows(db)):
                if time.monotonic() > deadline:
                    raise SystemExit("Submissions were still queued after 15 minutes.")
                time.sleep(0.5)
            rows = _rows(db)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=120)
            log.close()
    assert len(set(ids)) == N_PARTICIPANTS, "an upload was not answered with its own id"
    assert len(rows) == N_PARTICIPANTS, f"{len(rows)} rows for {N_PARTICIPANTS} uploads"
    statuses = {r[0] for r in rows}
    assert statuses == {"scored"}, f"statuses: {statuses}"
    twice = [r for r in rows if r[3] != 1]
    assert not twice, f"{len(twice)} submissions were scored more than once"
    latencies = sorted((_time(r[2]) - _time(r[1])).total_seconds() for r in rows)
    first = min(_time(r[1]) for r in rows)
    last = max(_time(r[2]) for r in rows)
    p95 = latencies[max(0, round(0.95 * len(latencies)) - 1)]
    print(
        f"challenge server on {'PostgreSQL' if db_url else 'SQLite'}: "
        f"{N_PARTICIPANTS} participants in "
        f"{N_PARTICIPANTS // TEAM_SIZE} teams, set-up with accounts {setup:.0f} s"
    )
    print(
        f"  {N_PARTICIPANTS} uploads sent in {sent_in:.1f} s; none lost, none scored "
        "twice"
    )
    print(
        f"  upload-to-score latency: median {statistics.median(latencies):.2f} s, "
        f"p95 {p95:.2f} s, max {latencies[-1]:.2f} s"
    )
    throughput = N_PARTICIPANTS / (last - first).total_seconds()
    print(
        f"  throughput: {throughput:.2f} submissions scored per second "
        f"(arrivals: {N_PARTICIPANTS / WINDOW:.2f} per second)"
    )


if __name__ == "__main__":
    os.environ.setdefault("MPLBACKEND", "Agg")
    main()
