"""A challenge in a real browser: Debian's Chromium driven by Playwright.

The organiser opens the challenge, one team submits from the browser, another with
``squad submit --to``; the cap holds; the public board shows and the private scores stay
hidden until the phase's close time (moved in the database) has passed.
"""

from __future__ import annotations

import csv
import os
import re
import sqlite3
import subprocess

import pytest

from tests.support.browser_helpers import (
    ConsoleLog,
    artifacts_on_failure,
    launch_chromium,
)
from tests.support.challenges import (
    SQUAD,
    free_port,
    http_get,
    predictions_csv,
    start_server,
    stop_server,
    wait_for,
    write_challenge,
)

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # the test fails below with what to install
    expect = sync_playwright = None

pytestmark = pytest.mark.slow


def _log_in(page, url: str, user: str, password: str) -> None:
    page.goto(url + "login/")
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def _upload(page, url: str, path) -> None:
    page.goto(url + "submit/")
    page.locator("input[type=file]").set_input_files(str(path))
    page.get_by_role("button", name="Upload").click()


def test_teams_submit_and_the_final_board_waits_for_the_close(tmp_path):
    """Browser and CLI submissions, the cap, the public board, then the final board."""
    assert sync_playwright is not None, "Install Playwright for Python: make install"
    challenge = write_challenge(tmp_path / "c", daily=2, total=5)
    state, log, port = tmp_path / "state", tmp_path / "server.log", free_port()
    url = f"http://127.0.0.1:{port}/"
    good, fair = tmp_path / "good.csv", tmp_path / "fair.csv"
    good.write_bytes(predictions_csv(wrong=300))
    fair.write_bytes(predictions_csv(wrong=1200))
    server = start_server(challenge, state, port, log, "")
    try:
        wait_for(lambda: http_get(url)[0] == 200, 120, "the server answering")
        (sheet,) = state.glob("accounts-*.csv")
        with sheet.open(newline="") as handle:
            people = {r["user"]: r for r in csv.DictReader(handle)}
        sent = subprocess.run(
            [*SQUAD, "submit", str(fair), "--to", url, "--token"]
            + [people["dave"]["token"]],
            capture_output=True,
            text=True,
            timeout=120,
            env=dict(os.environ),
        )
        assert sent.returncode == 0, sent.stderr
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            organiser = browser.new_context().new_page()
            console = ConsoleLog(organiser)
            with artifacts_on_failure(
                "challenge-organiser", organiser, console, server_log=log
            ):
                _log_in(organiser, url, "organiser", people["organiser"]["password"])
                organiser.goto(url)
                expect(organiser.locator("h1")).to_have_text("Test challenge")
                expect(organiser.locator("code.digest")).to_have_text(
                    re.compile("^[0-9a-f]{64}$")
                )
                organiser.get_by_role("link", name="Console").click()
                expect(organiser.locator("h2")).to_have_text("Organiser console")

            page = browser.new_context().new_page()
            console = ConsoleLog(page)
            with artifacts_on_failure("challenge-team", page, console, server_log=log):
                _log_in(page, url, "alice", people["alice"]["password"])
                expect(page.locator("h2")).to_have_text("Team red")
                _upload(page, url, good)
                expect(page.locator("h2")).to_have_text("Team red")

                def scored() -> bool:
                    page.reload()
                    return page.locator("td", has_text="scored").count() == 1

                wait_for(scored, 180, "the browser's submission being scored")
                _upload(page, url, good)
                expect(page.locator("h2")).to_have_text("Team red")
                _upload(page, url, good)  # the third of the day: over the cap
                expect(page.locator("p.error")).to_contain_text(
                    "has used its submissions"
                )

                def both_on_board() -> bool:
                    page.goto(url + "board/")
                    return page.locator("tbody tr").count() == 2

                wait_for(both_on_board, 180, "both teams on the public board")
                expect(page.locator("h2")).to_have_text("Public board")
                first = page.locator("tbody tr").first
                expect(first).to_contain_text("red")
                public_board = page.content()
                page.goto(url + "team/")
                expect(page.locator("th", has_text="Private accuracy")).to_have_count(0)

                with sqlite3.connect(state / "challenge.sqlite3") as db:
                    db.execute(
                        "UPDATE challenges_phase SET closes = '2000-01-01 00:00'"
                    )
                page.goto(url + "board/")
                expect(page.locator("h2")).to_have_text("Final board: private scores")
                final_board = page.content()
                assert final_board != public_board
                page.goto(url + "team/")
                expect(page.locator("th", has_text="Private accuracy")).to_have_count(1)
                assert not [line for line in console.lines if "Refused" in line]
            browser.close()
    finally:
        if server.poll() is None:
            assert stop_server(server) == 0, log.read_text()[-2000:]
