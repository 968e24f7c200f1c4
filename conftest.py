"""The suite's root: what pytest leaves out, and the suite-wide plugins.

Each plugin in ``tests/plugins/`` does one job for the whole suite (``squad/`` doctests
and ``notebooks/`` included):

* ``open_checkout``: lets the Unix accounts of the hub tests reach the checkout;
* ``survivors``: fails the session if a process the tests started outlives it;
* ``notebook_results``: after nbval runs an experiment notebook, checks what it
  recorded (``<notebook>::results``);
* ``longest_first``: hands the longest test files to the workers first.

pytest allows ``pytest_plugins`` only here, in the root conftest. Fixtures shared by
test files in more than one folder are in ``tests/conftest.py``.
"""

from __future__ import annotations

import sys

pytest_plugins = [
    "tests.plugins.open_checkout",
    "tests.plugins.survivors",
    "tests.plugins.notebook_results",
    # Registered last, so its collection hook runs first: files are sorted before the
    # results checks are placed after each notebook.
    "tests.plugins.longest_first",
]

#: Test data (notebooks nbval must not run as tests) and `make run`'s output.
collect_ignore = ["tests/fixtures", "runs"]
#: JupyterHub's spawners (systemdspawner, pwd) import on Linux only, like the hub.
if not sys.platform.startswith("linux"):
    collect_ignore += ["squad/hub/spawner.py"]
#: The challenge server's Django modules import only once Django is configured (by the
#: server, or by the fixtures of tests/challenges/); their doctests are not collected.
collect_ignore += [
    f"squad/challenges/{name}"
    for name in (
        "api.py",
        "apps.py",
        "console.py",
        "migrations",
        "models.py",
        "urls.py",
        "views.py",
    )
]
