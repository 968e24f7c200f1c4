"""Starting a challenge: the database, the held labels, the accounts, the server.

:func:`open_challenge` configures Django for a challenge file, applies the migrations,
writes the challenge and its phases (the file decides their times), publishes the
private labels' digest and creates the roster's new accounts. :func:`serve` then runs
the site with waitress (a production WSGI server) and the scoring queue beside it until
it is stopped (Ctrl+C or SIGTERM), and waits for the files being scored.
"""

from __future__ import annotations

import logging
import signal
from pathlib import Path
from typing import Any

from squad.challenges.config import ChallengeConfig

__all__ = ["open_challenge", "serve"]

logger = logging.getLogger("squad")


def open_challenge(
    config: ChallengeConfig,
    *,
    state_dir: str | Path,
    db_url: str = "",
    data_home: str | None = None,
    secure_cookies: bool = False,
    hub_login=None,
) -> dict[str, Any]:
    """Set up the challenge's database and accounts; return what was done.

    Parameters
    ----------
    config : ChallengeConfig
        The challenge.
    state_dir : path-like
        The server's folder.
    db_url : str, default=""
        See :func:`squad.challenges.settings.database_settings`.
    data_home : str, default=None
        See :func:`squad.get_data_home`.
    secure_cookies : bool, default=False
        See :func:`squad.challenges.settings.configure`.
    hub_login : squad.challenges.hub_login.HubLogin, optional
        See :func:`squad.challenges.settings.configure`.

    Returns
    -------
    dict
        ``sheet`` (the new credentials' file, or None), ``n_accounts`` (created now),
        ``private_sha256``.
    """
    from squad.challenges.labels import held_labels, private_digest
    from squad.challenges.settings import configure

    held = held_labels(config, data_home)  # a bad labels file stops here, first
    configure(
        config,
        state_dir=state_dir,
        db_url=db_url,
        data_home=data_home,
        secure_cookies=secure_cookies,
        hub_login=hub_login,
    )
    from django.core.management import call_command
    from django.db import transaction

    from squad.challenges.accounts import load_roster, write_sheet
    from squad.challenges.models import Challenge, Phase

    call_command("migrate", interactive=False, verbosity=0)
    with transaction.atomic():
        challenge = Challenge.objects.first() or Challenge()
        challenge.title = config.title
        challenge.dataset = config.dataset or ""
        challenge.protocol = config.protocol or ""
        challenge.private_sha256 = private_digest(held)
        challenge.n_public = held.n_public
        challenge.n_private = len(held.labels) - held.n_public
        challenge.save()
        for position, phase in enumerate(config.phases):
            Phase.objects.update_or_create(
                challenge=challenge,
                name=phase.name,
                defaults={
                    "position": position,
                    "opens": phase.opens,
                    "closes": phase.closes,
                    "needs_fact_sheet": phase.fact_sheet,
                },
            )
    issued = load_roster(config, challenge)
    sheet = write_sheet(Path(state_dir), issued)
    return {
        "sheet": sheet,
        "n_accounts": len(issued),
        "private_sha256": challenge.private_sha256,
    }


def serve(
    config: ChallengeConfig,
    *,
    state_dir: str | Path,
    db_url: str = "",
    host: str = "127.0.0.1",
    port: int = 8000,
    jobs: int = 2,
    threads: int = 8,
    data_home: str | None = None,
    secure_cookies: bool = False,
    hub_login=None,
    ready=None,
) -> None:
    """Run the challenge's site and its scoring queue until stopped.

    Parameters
    ----------
    config : ChallengeConfig
        The challenge.
    state_dir, db_url, data_home, secure_cookies, hub_login
        As :func:`open_challenge` (which is called first). With ``hub_login`` the
        site answers under the hub's prefix for it (``/services/<name>/``).
    host : str, default="127.0.0.1"
        Address to listen on (behind a reverse proxy, keep the loopback).
    port : int, default=8000
        Port; 0 picks a free one.
    jobs : int, default=2
        Worker processes that score submissions.
    threads : int, default=8
        Threads that answer requests.
    ready : callable, optional
        Called with the server's URL once it listens.
    """
    import waitress
    from django.conf import settings
    from django.core.wsgi import get_wsgi_application

    from squad.challenges.worker import ScoringQueue

    opened = open_challenge(
        config,
        state_dir=state_dir,
        db_url=db_url,
        data_home=data_home,
        secure_cookies=secure_cookies,
        hub_login=hub_login,
    )
    if opened["sheet"] is not None:
        logger.warning(
            "%s new account(s); their passwords and tokens are in %s",
            opened["n_accounts"],
            opened["sheet"],
        )
    application = get_wsgi_application()
    queue = ScoringQueue(config, Path(state_dir), jobs=jobs, data_home=data_home)
    settings.SQUAD_QUEUE = queue
    server = waitress.create_server(
        application,
        host=host,
        port=port,
        threads=threads,
        ident="squad",
        url_prefix=hub_login.prefix.rstrip("/") if hub_login else "",
        max_request_body_size=int((config.max_upload_mb + 2) * 1024 * 1024),
    )

    def stop(signum, frame):  # SIGTERM ends the server as Ctrl+C does
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    queue.start()
    try:
        url = f"http://{host}:{server.effective_port}{hub_login.prefix if hub_login else '/'}"
        if ready is not None:
            ready(url)
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        queue.stop()
        signal.signal(signal.SIGTERM, previous)
