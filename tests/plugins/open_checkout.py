"""Open the checkout to the Unix accounts the hub tests run the kit as.

The hub tests (``tests/hub/``) run the kit as real Unix accounts, which must reach this
checkout and its virtual environment. Run as root, the controller process opens every
folder above them for passing through (``o+x``, no listing) before any test starts, and
closes them again when the session ends.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

_OPENED = pytest.StashKey[list]()


def _open_checkout_for_all_accounts(checkout: Path) -> list[tuple[Path, int]]:
    """Let every account pass through the folders above the checkout and its venv.

    The hub tests run the kit as real Unix accounts, which must reach this checkout. A
    checkout under a private folder (``/root``, a CI workspace) is opened for passing
    through (``o+x``, no listing) for the whole run, before any test starts, so every
    test sees the same permissions; :func:`pytest_unconfigure` closes it again.
    """
    import stat
    import sysconfig

    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return []
    opened = []
    for path in (checkout, Path(sysconfig.get_path("purelib"))):
        for folder in [*reversed(path.resolve().parents), path.resolve()]:
            mode = stat.S_IMODE(folder.stat().st_mode)
            if not mode & stat.S_IXOTH:
                folder.chmod(mode | stat.S_IXOTH)
                opened.append((folder, mode))
    return opened


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # the controller, before any worker starts
        config.stash[_OPENED] = _open_checkout_for_all_accounts(config.rootpath)


def pytest_unconfigure(config: pytest.Config) -> None:
    for folder, mode in reversed(config.stash.get(_OPENED, [])):
        folder.chmod(mode)
