"""The board's static site in a real browser: Debian's Chromium driven by Playwright.

The site is built from small generated runs and opened from disk (``file://``), as a
member who downloads it would. The test follows links with the keyboard (nothing is
clicked that could be covered) and checks that every image loads and shows a picture.
"""

from __future__ import annotations

import re

import pytest

from squad.board.site import build_site
from tests.support.board_runs import HONEST, write_honest_runs
from tests.support.browser_helpers import (
    ConsoleLog,
    artifacts_on_failure,
    check_images,
    launch_chromium,
)

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # the test fails below with what to install
    expect = sync_playwright = None

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A board site of the honest runs (one task, three runs, two members)."""
    root = tmp_path_factory.mktemp("board")
    write_honest_runs(root / "runs")
    build_site(root / "runs", root / "site")
    return root / "site"


def _follow(page, name: str) -> None:
    """Follow the link called ``name`` with the keyboard."""
    link = page.get_by_role("link", name=name, exact=True)
    link.focus()
    page.keyboard.press("Enter")


def test_member_opens_the_board_from_disk_and_follows_a_task_and_a_run(site):
    """Index -> task page -> run page; every image loads and is not blank."""
    assert sync_playwright is not None, "Install Playwright for Python: make install"
    best, member = HONEST[0][0], HONEST[0][1]
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = browser.new_page(viewport={"width": 1300, "height": 1000})
        console = ConsoleLog(page)
        with artifacts_on_failure("board", page, console):
            page.goto((site / "index.html").as_uri())
            expect(page.locator("h1")).to_have_text("Squad board")
            row = page.locator("tbody tr")
            expect(row).to_have_count(1)
            expect(row.first).to_contain_text(f"{member} (tfidf)")

            _follow(page, "soc2010 · stratified")
            expect(page).to_have_url(
                re.compile(r"/tasks/soc2010-stratified-[0-9a-f]{8}\.html$")
            )
            expect(page.locator("h1")).to_have_text("Task soc2010 · stratified")
            images = page.locator("img")
            expect(images).to_have_count(3)  # curves, levels, metric vs parameters
            check_images(images, "the task page")

            _follow(page, best)
            expect(page).to_have_url(
                re.compile(rf"/runs/{best}-{member}-[0-9a-f]{{8}}\.html$")
            )
            expect(page.locator("h1")).to_have_text(f"Run {best} by {member}")
            expect(page.locator("dl.facts")).to_contain_text("word 1-2 grams")
            images = page.locator("img")
            expect(images).to_have_count(1)
            check_images(images, "the run page")

            _follow(page, "All tasks")
            expect(page.locator("h1")).to_have_text("Squad board")
        browser.close()
    errors = [
        line for line in console.lines if line.startswith(("[error]", "[pageerror]"))
    ]
    assert errors == []
