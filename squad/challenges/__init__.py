"""The challenge server: held-back labels, phases, teams, caps and a live board.

An organiser writes a challenge file (``CHALLENGE.yml``: a coding task of the catalogue,
its metric, phases, caps, team size and the public share of the test records) and a
roster, and runs ``squad challenge serve CHALLENGE.yml``. Teams download the test texts,
upload predictions from the browser or with ``squad submit FILE --to URL --token
TOKEN``, and see their public score on a live board; the private scores rank the final
board once the last phase closes. See ``docs/challenges.md``.

One job per module:

- ``config``: reading and checking the challenge file (no Django).
- ``labels``: the test split, its public/private cut, the published digest, the texts.
- ``scoring``: one upload scored on each part, in a worker process.
- ``standings``: the public and the final board from scored rows; ``results``: the
  final board as a file for the board's static site, once the challenge has closed.
- ``settings``: Django's settings built in code; ``models`` and ``migrations``: tables.
- ``accounts``: roster, passwords, tokens; ``intake``: caps and uploads.
- ``worker``: the queue in the database; ``server``: starting it all.
- ``views``, ``api``, ``console``, ``urls``, ``templates/``: the site.

Django is imported only when a server or a ``squad challenge`` command starts.
"""

from __future__ import annotations

from squad.challenges.config import ChallengeConfig, Phase, read_challenge

__all__ = ["ChallengeConfig", "Phase", "read_challenge"]
