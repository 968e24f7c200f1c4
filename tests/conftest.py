"""Fixtures shared by test files in more than one folder of ``tests/``.

Fixtures
--------
- ``browser``: Debian's Chromium through Playwright, one per test module; fails (never
  skips) when it cannot start. Used by ``course/test_lab_browser.py`` and
  ``hub/test_real_hub.py``.

Helpers that are not fixtures are in ``tests/support/``; a fixture one file uses stays
in that file.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium through Playwright; fails (never skips) when it cannot start."""
    from tests.support.browser_helpers import INSTALL_HINT, launch_chromium

    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail(f"Playwright for Python is not installed. {INSTALL_HINT}")
    with sync_playwright() as playwright:
        try:
            chromium = launch_chromium(playwright)
        except RuntimeError as err:
            pytest.fail(str(err), pytrace=False)
        yield chromium
        chromium.close()
