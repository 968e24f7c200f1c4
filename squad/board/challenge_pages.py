"""What the static site shows of a challenge's final results.

:func:`challenge_view` turns a checked results file (see
:mod:`squad.board.challenge_results`) into the values of its page
(``challenges/<slug>.html``) and of its row in the index. Every text of the file is
still untrusted: the templates escape it, characters that are not printable are shown
as visible escapes (a right-to-left override cannot make one team look like another),
and a team's code link is a link only when it is an ``http`` or ``https`` URL.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from typing import Any
from urllib.parse import urlsplit

from squad.board.safety import visible

__all__ = ["challenge_slug", "challenge_view", "code_href"]


def challenge_slug(results: dict[str, Any]) -> str:
    """File name (without ``.html``) of a challenge's page: title and a digest.

    Examples
    --------
    >>> slug = challenge_slug({"title": "Coding <SOC>!", "private_sha256": "0" * 64})
    >>> slug.rsplit("-", 1)[0], len(slug.rsplit("-", 1)[1])
    ('coding-soc', 8)
    """
    text = re.sub(r"[^a-z0-9]+", "-", results["title"].lower()).strip("-")[:40]
    key = f"{results['title']}\0{results['private_sha256']}"
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:8]
    return f"{text.strip('-') or 'challenge'}-{digest}"


def code_href(url: str) -> str | None:
    """``url`` if it is an absolute ``http(s)`` URL fit for a link, else None.

    Examples
    --------
    >>> code_href("https://example.org/team/repo")
    'https://example.org/team/repo'
    >>> code_href("javascript:alert(1)") is None, code_href("//evil") is None
    (True, True)
    """
    if not url.isprintable() or any(ch.isspace() or ch == "\\" for ch in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return url


def _score(scores: dict[str, float], metric: str) -> str:
    value = scores.get(metric)
    return "-" if value is None else f"{value:.4f}"


def _closed(text: str) -> str:
    when = dt.datetime.fromisoformat(text).astimezone(dt.UTC)
    return when.strftime("%Y-%m-%d %H:%M UTC")


def _row(team: dict[str, Any], metrics: list[str]) -> dict[str, Any]:
    url = team.get("code_url") or ""
    return {
        "rank": team["rank"],
        "team": visible(team["team"]),
        "private": [_score(team["private_scores"], m) for m in metrics],
        "public": [_score(team["public_scores"], m) for m in metrics],
        "n_submissions": team["n_submissions"],
        "method": " ".join(
            visible(line) for line in (team.get("method") or "").splitlines()
        ),
        "code_href": code_href(url),
        "code_text": visible(url),
    }


def challenge_view(results: dict[str, Any]) -> dict[str, Any]:
    """The values of a challenge's page and of its row in the index.

    Parameters
    ----------
    results : dict
        A results file checked by :func:`squad.board.challenge_results.check_results`.

    Returns
    -------
    dict
        ``slug``, ``title``, ``closed``, ``metrics``, ``rows``, ``has_method``,
        ``has_code``, ``facts`` (name, value pairs) and ``index`` (the index row).
    """
    metrics = list(results["metrics"])
    rows = [_row(team, metrics) for team in results["teams"]]
    slug = challenge_slug(results)
    closed = _closed(results["closed_at"])
    title = visible(results["title"])
    facts = [
        ("closed", closed),
        ("dataset", visible(results["dataset"]) or "-"),
        ("protocol", visible(results["protocol"]) or "-"),
        ("ranked by", ", then ".join(metrics)),
        ("public records", f"{results['n_public']:,}"),
        ("private records", f"{results['n_private']:,}"),
    ]
    leader = rows[0] if rows else None
    return {
        "slug": slug,
        "title": title,
        "closed": closed,
        "metrics": metrics,
        "rows": rows,
        "has_method": any(r["method"] for r in rows),
        "has_code": any(r["code_text"] for r in rows),
        "facts": facts,
        "private_sha256": results["private_sha256"],
        "index": {
            "href": f"challenges/{slug}.html",
            "title": title,
            "winner": leader["team"] if leader else "-",
            "value": leader["private"][0] if leader else "-",
            "metric": metrics[0],
            "n_teams": len(rows),
            "closed": closed,
        },
    }
