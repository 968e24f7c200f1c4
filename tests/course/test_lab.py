"""Tests for squad.course.lab: the kit's project-local JupyterLab configuration.

The browser scenarios that use a running server are in ``test_lab_browser.py``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from squad.cli import main
from squad.course.lab import (
    LAB_PLUGINS,
    SERVER_EXTENSIONS,
    lab_environment,
    prepare_lab,
)
from tests.support.browser_helpers import effective_settings

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def kit(tmp_path, monkeypatch):
    """A kit folder holding a copy of the course's configuration."""
    monkeypatch.delenv("SQUAD_COURSE_DIR", raising=False)
    course = tmp_path / "exercises"
    (course / "source").mkdir(parents=True)
    shutil.copy2(REPO / "exercises" / "nbgrader_config.py", course)
    return tmp_path


def test_prepare_lab_enables_nbgrader(kit):
    """The server and lab configuration switch every nbgrader extension on."""
    lab = prepare_lab(kit)
    server = json.loads((lab / "config" / "jupyter_server_config.json").read_text())
    extensions = server["ServerApp"]["jpserver_extensions"]
    assert all(extensions[name] is True for name in SERVER_EXTENSIONS)
    assert extensions["jupyterlab"] is True
    page = json.loads((lab / "config" / "labconfig" / "page_config.json").read_text())
    assert page["disabledExtensions"] == {name: False for name in LAB_PLUGINS}


def test_prepare_lab_creates_exchange_and_ignores_itself(kit):
    """The course's exchange exists afterwards; .jupyter/ keeps itself out of git."""
    lab = prepare_lab(kit)
    assert (kit / "exercises" / "exchange").is_dir()
    assert (lab / ".gitignore").read_text() == "*\n"
    assert {p.name for p in lab.iterdir()} >= {"config", "data", "runtime", "ipython"}


def test_prepare_lab_sets_defaults_not_user_choices(kit):
    """The news question is answered by a default; the user's own settings are theirs."""
    lab = prepare_lab(kit)
    server = json.loads((lab / "config" / "jupyter_server_config.json").read_text())
    folder = Path(server["LabApp"]["app_settings_dir"])
    overrides = json.loads((folder / "overrides.json").read_text())
    notification = overrides["@jupyterlab/apputils-extension:notification"]
    assert notification == {"fetchNews": "false", "checkForUpdates": False}
    assert not (lab / "config" / "lab" / "user-settings").exists()


def test_prepare_lab_refuses_course_outside_root(kit, tmp_path_factory):
    """Formgrader cannot open notebooks above the server's root: refused with a hint."""
    other = tmp_path_factory.mktemp("elsewhere")
    (other / "source").mkdir()
    (other / "nbgrader_config.py").write_text("c = get_config()\n")
    with pytest.raises(ValueError, match=r"is not inside the kit folder .* --root"):
        prepare_lab(kit, course_dir=other)


def test_prepare_lab_missing_course(tmp_path, monkeypatch):
    """A folder without the course names what is missing."""
    monkeypatch.delenv("SQUAD_COURSE_DIR", raising=False)
    with pytest.raises(FileNotFoundError, match=r"has no nbgrader_config\.py"):
        prepare_lab(tmp_path)


def test_lab_cli_error_is_one_line(tmp_path, monkeypatch):
    """`squad lab` outside a kit prints one line and exits with status 2."""
    monkeypatch.delenv("SQUAD_COURSE_DIR", raising=False)
    result = CliRunner().invoke(main, ["lab", "--root", str(tmp_path), "--no-browser"])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1
    assert result.output.startswith("Error: Course folder")


@pytest.mark.slow
def test_nbgrader_reads_course_through_lab_config(kit):
    """nbgrader started in the kit's root with the lab's environment uses the course."""
    prepare_lab(kit)
    env = dict(os.environ) | lab_environment(kit)
    code = (
        "from nbgrader.apps.baseapp import NbGrader\n"
        "app = NbGrader()\n"
        "app.load_config_file()\n"
        "print(app.config.CourseDirectory.root)\n"
        "print(app.config.Exchange.root)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=kit,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    root, exchange = result.stdout.split()
    assert Path(root) == kit / "exercises"
    assert Path(exchange) == kit / "exercises" / "exchange"


def test_prepare_lab_broken_course_config(kit):
    """A course configuration that fails is reported as a ValueError naming the file."""
    (kit / "exercises" / "nbgrader_config.py").write_text("c = get_config()\n1 / 0\n")
    with pytest.raises(
        ValueError, match=r"nbgrader_config\.py' could not be read: Zero"
    ):
        prepare_lab(kit)


def _start_kernel(url: str, token: str) -> None:
    """Start a kernel on the server through its REST API, as JupyterLab does."""
    request = urllib.request.Request(
        f"{url}api/kernels",
        data=b"{}",
        method="POST",
        headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        assert response.status == 201


def _lab_setting(url: str, token: str, plugin: str) -> dict:
    """A plugin's settings as the page reads them, through the settings API."""
    request = urllib.request.Request(
        f"{url}lab/api/settings/{plugin}", headers={"Authorization": f"token {token}"}
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        return effective_settings(json.loads(response.read()))


@pytest.mark.slow
@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGKILL"])
def test_lab_server_and_kernels_end_with_squad_lab(kit, signal_name):
    """However `squad lab` is stopped, its server and the server's kernels stop too."""
    import psutil

    lab = subprocess.Popen(
        [sys.executable, "-m", "squad.cli", "lab", "--no-browser", "--port", "0"],
        cwd=kit,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        address = next(line for line in lab.stdout if line.strip().startswith("http"))
        match = re.match(r"\s*(http://\S+/)lab\?token=(\w+)", address)
        assert match, address
        news = _lab_setting(
            match.group(1),
            match.group(2),
            "@jupyterlab/apputils-extension:notification",
        )
        assert news["fetchNews"] == "false" and news["checkForUpdates"] is False
        _start_kernel(match.group(1), match.group(2))
        started = psutil.Process(lab.pid).children(recursive=True)
        kernels = [p for p in started if "ipykernel" in " ".join(p.cmdline())]
        assert len(started) >= 2 and kernels, started

        lab.send_signal(getattr(signal, signal_name))
        lab.wait(120)
        _, alive = psutil.wait_procs(started, timeout=120)
        assert alive == [], f"still running after {signal_name}: {alive}"
    finally:
        if lab.poll() is None:
            lab.kill()
            lab.wait()
        lab.stdout.close()
