"""Logging in through a real JupyterHub: the challenge server as one of its services.

A JupyterHub (its own database, its proxy, the dummy authenticator with one password)
starts ``squad challenge serve --hub-login`` as a managed service, as the course hub
would. People log in at the hub; the challenge takes who they are from the hub's OAuth,
never from the request: a roster member lands on their own team's page, someone the
hub knows but the roster does not is refused, and a callback the server did not start
is refused.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.challenges import SQUAD, free_port, wait_for, write_challenge

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform == "win32", reason="JupyterHub runs on Unix"),
]

HUB_PASSWORD = "hub-password-for-tests"


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    """A JupyterHub with the challenge as its service ``challenge``: its public URL."""
    from squad.hub.config import find_proxy

    folder = tmp_path_factory.mktemp("hub-login")
    challenge = write_challenge(folder / "challenge")
    ports = [free_port() for _ in range(4)]
    passed = {k: v for k, v in os.environ.items() if k.startswith("SQUAD_")}
    passed |= {"PATH": os.environ.get("PATH", ""), "HOME": str(folder)}
    service = [
        *SQUAD,
        "challenge",
        "serve",
        str(challenge),
        "--hub-login",
        "--port",
        str(ports[3]),
        "--jobs",
        "1",
        "--state",
        str(folder / "state"),
    ]
    config = folder / "jupyterhub_config.py"
    config.write_text(
        f"""
c = get_config()  # noqa: F821
c.JupyterHub.bind_url = "http://127.0.0.1:{ports[0]}"
c.JupyterHub.hub_bind_url = "http://127.0.0.1:{ports[1]}"
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{ports[2]}"
c.ConfigurableHTTPProxy.command = [{str(find_proxy())!r}]
c.JupyterHub.db_url = "sqlite:///{folder / "hub.sqlite"}"
c.JupyterHub.cookie_secret_file = {str(folder / "cookie_secret")!r}
c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = {HUB_PASSWORD!r}
c.Authenticator.allow_all = True
c.JupyterHub.load_roles = [
    {{"name": "user", "scopes": ["self", "access:services!service=challenge"]}},
]
c.JupyterHub.services = [
    {{
        "name": "challenge",
        "url": "http://127.0.0.1:{ports[3]}",
        "command": {service!r},
        "environment": {passed!r},
        "oauth_no_confirm": True,
    }},
]
""",
        encoding="utf-8",
    )
    log = folder / "jupyterhub.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "jupyterhub", "-f", str(config)],
            cwd=folder,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{ports[0]}"
    try:
        import requests

        def answers():
            if process.poll() is not None:
                pytest.fail(f"JupyterHub exited: {log.read_text()[-3000:]}")
            try:
                page = requests.get(f"{url}/services/challenge/", timeout=5)
            except requests.ConnectionError:
                return False
            return page.status_code == 200 and "Test challenge" in page.text

        wait_for(answers, 180, "the hub and its challenge service answering")
        yield url
    finally:
        os.killpg(process.pid, 15)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()


def _hub_session(url: str, name: str):
    """A browser-like session logged in at the hub as ``name``."""
    import requests

    session = requests.Session()
    session.get(f"{url}/hub/login")
    xsrf = session.cookies.get("_xsrf", "")
    answer = session.post(
        f"{url}/hub/login?next=%2Fhub%2Fhome",
        data={"username": name, "password": HUB_PASSWORD, "_xsrf": xsrf},
    )
    assert answer.ok, answer.status_code
    return session


def test_a_roster_member_logs_in_with_the_hub_account(hub):
    """alice logs in at the hub, follows the challenge's hub login, lands on her team."""
    session = _hub_session(hub, "alice")
    login_page = session.get(f"{hub}/services/challenge/login/").text
    assert "Log in with the course hub" in login_page
    landed = session.get(f"{hub}/services/challenge/hub/login/")
    assert landed.status_code == 200, landed.text[:500]
    assert landed.url == f"{hub}/services/challenge/team/"
    assert "Team red" in landed.text
    # the hops went through the hub's OAuth with a state and a PKCE challenge
    authorize = next(r.url for r in landed.history if "/oauth2/authorize" in r.url)
    assert re.search(r"[?&]state=[\w-]{20,}", authorize)
    assert "code_challenge_method=S256" in authorize


def test_a_hub_user_off_the_roster_is_refused(hub):
    """The hub knows mallory; the challenge's roster does not: no account is made."""
    session = _hub_session(hub, "mallory")
    answer = session.get(f"{hub}/services/challenge/hub/login/")
    assert answer.status_code == 403
    assert "not on this challenge's roster" in answer.text
    assert (
        session.get(
            f"{hub}/services/challenge/team/", allow_redirects=False
        ).status_code
        == 302
    )


def test_a_callback_the_server_did_not_start_is_refused(hub):
    """A code and state from elsewhere (a link sent to alice) do not log her in."""
    session = _hub_session(hub, "alice")
    forged = session.get(
        f"{hub}/services/challenge/oauth_callback?code=stolen&state=guessed"
    )
    assert forged.status_code == 403
    assert "not one this server started" in forged.text
    assert (
        session.get(
            f"{hub}/services/challenge/team/", allow_redirects=False
        ).status_code
        == 302
    )


def test_hub_login_without_the_hub_is_one_line(tmp_path):
    """`--hub-login` outside a hub says what is missing and what to do."""
    challenge = write_challenge(tmp_path / "c")
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTERHUB_")}
    done = subprocess.run(
        [*SQUAD, "challenge", "serve", str(challenge), "--hub-login", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "--hub-login needs JUPYTERHUB_API_TOKEN" in lines[0]
    assert not (Path(challenge).parent / "state").exists()
