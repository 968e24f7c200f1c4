"""Logging in through the course's JupyterHub: the server as one of the hub's services.

Run by the hub (``challenge:`` in the course file, or a ``c.JupyterHub.services`` entry
that starts ``squad challenge serve --hub-login``), the server learns from the
``JUPYTERHUB_*`` variables the hub sets where the hub is, its OAuth client id and
secret, and the URL prefix it is served under (``/services/<name>/``). A person who
follows "Log in with the course hub" is sent to the hub, logs in there if they have not
yet, and comes back with a code; the server trades the code for a token (with PKCE and
a state kept in the session, so a code or a callback link from elsewhere is refused)
and asks the hub who the token's user is. Who someone is comes from the hub, never from
the request: the hub's user name must be an account of the challenge's roster, and only
that account is logged in.
"""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass
from urllib.parse import urlencode

from squad.errors import InvalidInputError

__all__ = ["HUB_VARIABLES", "HubLogin", "hub_login_from_environment"]

logger = logging.getLogger(__name__)

#: What the hub sets for a service that logs people in with its OAuth.
HUB_VARIABLES = (
    "JUPYTERHUB_API_TOKEN",
    "JUPYTERHUB_API_URL",
    "JUPYTERHUB_CLIENT_ID",
    "JUPYTERHUB_OAUTH_CALLBACK_URL",
    "JUPYTERHUB_SERVICE_PREFIX",
)


@dataclass(frozen=True)
class HubLogin:
    """Where the hub is and who the server is to it (from ``JUPYTERHUB_*``)."""

    prefix: str

    def oauth(self):
        """JupyterHub's own OAuth client for services (reads ``JUPYTERHUB_*``)."""
        from jupyterhub.services.auth import HubOAuth

        return HubOAuth(cache_max_age=0)


def hub_login_from_environment(environ=os.environ) -> HubLogin:
    """The hub login the hub set this process up for.

    Raises
    ------
    InvalidInputError
        If a variable is missing: the server was not started by the hub.

    Examples
    --------
    >>> env = dict.fromkeys(HUB_VARIABLES, "x") | {
    ...     "JUPYTERHUB_SERVICE_PREFIX": "/services/challenge/"}
    >>> hub_login_from_environment(env).prefix
    '/services/challenge/'
    """
    missing = [name for name in HUB_VARIABLES if not environ.get(name)]
    if missing:
        msg = (
            f"--hub-login needs {', '.join(missing)}, which the hub sets for a service "
            "it runs: add challenge: to the course file (docs/challenges.md), or run "
            "the server without --hub-login."
        )
        raise InvalidInputError(msg)
    prefix = environ["JUPYTERHUB_SERVICE_PREFIX"]
    if not prefix.startswith("/") or not prefix.endswith("/"):
        msg = f"JUPYTERHUB_SERVICE_PREFIX {prefix!r} must start and end with '/'."
        raise InvalidInputError(msg)
    return HubLogin(prefix=prefix)


def start(request):
    """Send the person to the hub's OAuth page, with a fresh state and PKCE challenge."""
    from django.conf import settings
    from django.http import HttpResponseNotFound
    from django.shortcuts import redirect

    hub = getattr(settings, "SQUAD_HUB_LOGIN", None)
    if hub is None:
        return HttpResponseNotFound("This challenge does not log in through a hub.")
    oauth = hub.oauth()
    verifier, challenge, method = oauth.generate_pkce_code_challenge()
    state = secrets.token_urlsafe(24)
    request.session["hub_oauth"] = {"state": state, "verifier": verifier}
    query = urlencode(
        {"state": state, "code_challenge": challenge, "code_challenge_method": method}
    )
    url = oauth.login_url
    return redirect(f"{url}{'&' if '?' in url else '?'}{query}")


def callback(request):
    """Finish the hub's OAuth: the hub's user, if on the roster, is logged in."""
    from django.conf import settings
    from django.contrib.auth import login
    from django.contrib.auth.models import User
    from django.http import HttpResponseForbidden, HttpResponseNotFound
    from django.shortcuts import redirect

    hub = getattr(settings, "SQUAD_HUB_LOGIN", None)
    if hub is None:
        return HttpResponseNotFound("This challenge does not log in through a hub.")
    expected = request.session.pop("hub_oauth", None) or {}
    state, code = request.GET.get("state", ""), request.GET.get("code", "")
    if (
        not expected
        or not code
        or not secrets.compare_digest(state, expected.get("state", ""))
    ):
        return HttpResponseForbidden(
            "This login link is not one this server started: log in again."
        )
    oauth = hub.oauth()
    try:
        token = oauth.token_for_code(code, code_verifier=expected["verifier"])
        model = oauth.user_for_token(token, use_cache=False)
    except Exception as err:  # the hub refused the code, or did not answer
        logger.warning("Hub login failed: %s", err)
        return HttpResponseForbidden("The hub did not confirm the login: try again.")
    name = str((model or {}).get("name", ""))
    user = User.objects.filter(username=name, is_active=True).first()
    if user is None:
        return HttpResponseForbidden(
            "Your hub account is not on this challenge's roster: ask an organiser."
        )
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    return redirect("team" if hasattr(user, "participant") else "overview")
