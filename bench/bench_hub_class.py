"""A class at once: 30 trainees log in and open a notebook at the same moment.

Starts the course's hub for real (Unix accounts, `squad.hub.start_hub`, the course's
default limits), then, in each round, 30 trainees at once do what JupyterLab does: log
in through the hub's form, wait for their server, open a notebook (a session, which
starts a kernel) and run a first cell over the kernel's websocket. Rounds:

- ``ipc``: as the kit ships, kernels on Unix sockets in each trainee's runtime folder;
- ``tcp``: the same with the servers' kernels on TCP ports (jupyter_client's default,
  whose port race loses a kernel now and then: jupyter/jupyter_client#276);

by default in the order ipc, tcp, tcp, ipc, so that load which drifts during the run
(other work on a shared machine) weighs on both alike.

For each round it prints how many kernels answered, login-to-ready and first-cell
seconds (median, 95th percentile, slowest), the kernel restarts the hub's log shows,
and each trainee's memory (server and kernel, resident and unique) and CPU seconds
(which do not depend on what else the machine runs) as medians and 95th percentiles; then, over all rounds, the medians of each and their ratio tcp / ipc.
Between rounds every server is stopped. It never fails on timings; it exits 1 only
when a kernel of an ``ipc`` round did not answer.

Run (Linux, as root, after ``make install hub-proxy``):
``.venv/bin/python bench/bench_hub_class.py [--trainees 30] [--rounds ipc,tcp,tcp,ipc]``.
About 10 minutes on 2 cores; it needs about 8 GB of memory for 30 trainees.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pwd
import secrets
import shutil
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.hub_client import Trainee, login, own_token  # noqa: E402
from tests.support.waiting import wait_until  # noqa: E402

FIRST_CELL = "6 * 7"
READY_WITHIN_S = 60


def _load() -> str:
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except (AttributeError, OSError):
        return "n/a"


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _free_port_course(course):
    from squad.errors import ServiceError
    from squad.hub.server import check_ports

    for _ in range(50):
        candidate = replace(course, port=20000 + 4 * secrets.randbelow(3000))
        with contextlib.suppress(ServiceError):
            check_ports(candidate)
            return candidate
    raise SystemExit("no four free consecutive ports")


def _one_trainee(hub, name: str, barrier: threading.Barrier, out: dict) -> None:
    """Log in, wait for the server, open a notebook, run the first cell."""
    record: dict = {"answered": False}
    out[name] = record
    try:
        barrier.wait()
        start = time.monotonic()
        session = login(hub.url, name, hub.password)
        trainee = Trainee(hub.url, name, own_token(session, hub.url, name))
        trainee.start_server()
        if not trainee.wait_ready(timeout=300):
            record["error"] = "server not ready within 300 s"
            return
        ready = time.monotonic()
        record["login_to_ready_s"] = ready - start
        kernel = trainee.open_notebook("first.ipynb")
        channel = trainee.connect(kernel)
        try:
            answer = channel.run(FIRST_CELL, timeout=300)
        finally:
            channel.close()
        record["first_cell_s"] = time.monotonic() - ready
        record["login_to_answer_s"] = time.monotonic() - start
        record["answered"] = answer["result"] == "42"
        if not record["answered"]:
            record["error"] = f"first cell answered {answer['result']!r}"
    except Exception as err:  # reported per trainee, never stops the round
        record["error"] = f"{type(err).__name__}: {err}"


def _usage(names: list[str]) -> dict[str, list[float]]:
    """Each trainee's processes (server and kernel): resident and unique MB, and the
    CPU seconds they used (a figure that does not depend on the machine's load)."""
    import psutil

    uids = {pwd.getpwnam(n).pw_uid: n for n in names}
    usage = {key: dict.fromkeys(names, 0.0) for key in ("rss", "uss", "cpu")}
    for process in psutil.process_iter(["uids"]):
        name = uids.get(process.info["uids"].real)
        if name is None:
            continue
        with contextlib.suppress(psutil.Error):
            info = process.memory_full_info()
            times = process.cpu_times()
            usage["rss"][name] += info.rss / 2**20
            usage["uss"][name] += info.uss / 2**20
            usage["cpu"][name] += times.user + times.system
    return {key: list(values.values()) for key, values in usage.items()}


def _hub_cpu(hub) -> float:
    """CPU seconds of the hub and its proxy so far."""
    import psutil

    hub_process = psutil.Process(hub.server.process.pid)
    total = 0.0
    for process in [hub_process, *hub_process.children()]:
        with contextlib.suppress(psutil.Error):
            if process.uids().real == 0:  # not a trainee's server
                times = process.cpu_times()
                total += times.user + times.system
    return total


def _set_transport(layout, transport: str) -> None:
    """Point the trainees' servers' kernels at ``transport`` (read at server start)."""
    path = layout.etc / "trainee" / "jupyter_server_config.json"
    config = json.loads(path.read_text())
    config["ServerKernelManager"] = {"transport": transport}
    path.write_text(json.dumps(config, indent=2))


def _stop_all(hub, names: list[str]) -> None:
    """Stop every trainee's server and wait until none runs."""
    for name in names:
        with contextlib.suppress(Exception):
            hub.admin.delete(f"{hub.url}hub/api/users/{name}/server", timeout=120)

    def none_running() -> bool:
        users = hub.admin.get(f"{hub.url}hub/api/users", timeout=60).json()
        return not any(u["servers"] for u in users if u["name"] in names)

    wait_until(none_running, timeout=300, interval=1)


def _round(hub, names: list[str], transport: str) -> dict:
    _set_transport(hub.layout, transport)
    log_start = hub.layout.log_file.stat().st_size
    hub_cpu = _hub_cpu(hub)
    barrier = threading.Barrier(len(names))
    out: dict = {}
    threads = [
        threading.Thread(
            target=_one_trainee, args=(hub, name, barrier, out), daemon=True
        )
        for name in names
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    usage = _usage(names)
    hub_cpu = _hub_cpu(hub) - hub_cpu
    with open(hub.layout.log_file, "rb") as handle:
        handle.seek(log_start)
        log = handle.read().decode("utf-8", "replace")
    _stop_all(hub, names)
    return {
        "records": out,
        "usage": usage,
        "hub_cpu_per_trainee": hub_cpu / len(names),
        "restarts": log.count("restarting kernel"),
        "port_errors": log.count("Address already in use"),
    }


def _print_round(transport: str, result: dict, n: int) -> dict[str, float]:
    records = list(result["records"].values())
    answered = sum(r["answered"] for r in records)
    ready = [r["login_to_ready_s"] for r in records if "login_to_ready_s" in r]
    cell = [r["first_cell_s"] for r in records if "first_cell_s" in r]
    total = [r["login_to_answer_s"] for r in records if r["answered"]]
    rss, uss, cpu = (result["usage"][key] for key in ("rss", "uss", "cpu"))

    def stats(values: list[float], unit: str = "s") -> str:
        if not values:
            return "n/a"
        return (
            f"median {statistics.median(values):5.1f} {unit}, p95 "
            f"{_percentile(values, 0.95):5.1f}, max {max(values):5.1f}"
        )

    slowest = max(total) if total else float("nan")
    print(f"[{transport}] {answered}/{n} kernels answered the first cell")
    print(f"  login to server ready : {stats(ready)}")
    print(f"  first cell (kernel)   : {stats(cell)}")
    print(
        f"  login to answer       : {stats(total)}; all within {READY_WITHIN_S} s: "
        f"{'yes' if answered == n and slowest <= READY_WITHIN_S else 'no'}"
    )
    print(f"  memory per trainee    : resident {stats(rss, 'MB')}")
    print(f"                          unique   {stats(uss, 'MB')}")
    print(
        f"  CPU per trainee       : {stats(cpu, 's')}; the hub's share "
        f"{result['hub_cpu_per_trainee']:.1f} s"
    )
    print(
        f"  kernel restarts in the log: {result['restarts']}, 'Address already in "
        f"use': {result['port_errors']}   (load {_load()})"
    )
    errors = sorted(
        (r["error"], n) for n, r in result["records"].items() if "error" in r
    )
    for error, name in errors[:5]:
        print(f"  {name}: {error}")
    if len(errors) > 5:
        print(f"  ... and {len(errors) - 5} more")
    return {
        "answered": answered,
        "ready": statistics.median(ready) if ready else float("nan"),
        "cell": statistics.median(cell) if cell else float("nan"),
        "total": statistics.median(total) if total else float("nan"),
    }


def _print_ratios(pooled: dict[str, list[dict]]) -> None:
    """Medians over every round of a transport, and their ratios tcp / ipc."""

    def median(transport: str, key: str) -> float:
        values = [r[key] for r in pooled[transport] if key in r]
        return statistics.median(values) if values else float("nan")

    parts = []
    for key, label in (
        ("login_to_ready_s", "login to ready"),
        ("first_cell_s", "first cell"),
        ("login_to_answer_s", "login to answer"),
    ):
        ipc, tcp = median("ipc", key), median("tcp", key)
        parts.append(f"{label} {ipc:.1f} / {tcp:.1f} s, ratio {tcp / ipc:.2f}")
    lost = {t: sum(not r["answered"] for r in records) for t, records in pooled.items()}
    print("all rounds, medians ipc / tcp: " + "; ".join(parts))
    print(f"kernels that did not answer: ipc {lost['ipc']}, tcp {lost['tcp']}")


class _Hub:
    """The running hub, an instructor's session for the admin API, the password."""

    def __init__(self, server, instructor: str) -> None:
        passwords = json.loads(server.layout.passwords.read_text())
        self.server = server
        self.url = server.url
        self.layout = server.layout
        self.password = passwords["trainee"]
        session = login(self.url, instructor, passwords["instructor"])
        token = own_token(session, self.url, instructor)
        import requests

        self.admin = requests.Session()
        self.admin.headers["Authorization"] = f"token {token}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trainees", type=int, default=30)
    # ipc, tcp, tcp, ipc: load that drifts during the run weighs on both alike.
    parser.add_argument("--rounds", default="ipc,tcp,tcp,ipc")
    args = parser.parse_args()
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        print("bench_hub_class: needs Linux and root (it makes Unix accounts); skipped")
        return 0
    from squad.hub.accounts import create_accounts, remove_accounts
    from squad.hub.coursefile import read_course_file
    from squad.hub.server import start_hub

    prefix = "sqb" + secrets.token_hex(3)
    instructor = f"{prefix}-ins"
    names = [f"{prefix}-t{n:02d}" for n in range(1, args.trainees + 1)]
    base = Path(tempfile.mkdtemp(prefix="squad-bench-hub-", dir="/tmp"))
    base.chmod(0o755)
    course_file = base / "hub.yml"
    course_file.write_text(
        json.dumps(
            {
                "course_id": prefix,
                "course": str(REPO / "exercises"),
                "hub_dir": str(base / "hub"),
                "instructors": [instructor],
                "trainees": [*names, f"{prefix}-warm"],
                "idle_minutes": 60,
            }
        )
    )
    course = _free_port_course(read_course_file(course_file))
    server = None
    uids: set[int] = set()
    failed = 0
    try:
        create_accounts(course)
        uids = {pwd.getpwnam(n).pw_uid for n in (*course.users, course.grader)}
        server = start_hub(course)
        hub = _Hub(server, instructor)
        print(
            f"{len(names)} trainees at once on {os.cpu_count()} CPUs, load average "
            f"{_load()} at the start; first cell {FIRST_CELL!r}"
        )
        _round(hub, [f"{prefix}-warm"], "ipc")  # warm the page cache for both rounds
        pooled: dict[str, list[dict]] = {}
        for transport in args.rounds.split(","):
            result = _round(hub, names, transport)
            answered = _print_round(transport, result, len(names))["answered"]
            if transport == "ipc":
                failed += len(names) - answered
            pooled.setdefault(transport, []).extend(result["records"].values())
        if {"ipc", "tcp"} <= set(pooled):
            _print_ratios(pooled)
    finally:
        if server is not None:
            server.stop()
        _stop_processes(uids)
        remove_accounts(course)
        shutil.rmtree(base, ignore_errors=True)
    return 1 if failed else 0


def _stop_processes(uids: set[int]) -> None:
    import psutil

    found = [p for p in psutil.process_iter(["uids"]) if p.info["uids"].real in uids]
    for process in found:
        with contextlib.suppress(psutil.Error):
            process.kill()
    psutil.wait_procs(found, timeout=20)


if __name__ == "__main__":
    sys.exit(main())
