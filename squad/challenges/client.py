"""Uploading a predictions file to a challenge server (``squad submit --to``).

Plain HTTP from the standard library: one multipart POST to ``<url>/api/submissions/``
with ``Authorization: Bearer <token>``. The server decides the team from the token; the
client sends nothing else about who is submitting.
"""

from __future__ import annotations

import json
import secrets
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from squad.errors import InvalidInputError, MissingFileError, ServiceError

__all__ = ["submission_status", "upload_predictions"]


def _api(url: str, tail: str) -> str:
    if not url.startswith(("http://", "https://")):
        msg = f"Challenge URL {url!r} must start with http:// or https://."
        raise InvalidInputError(msg)
    return url.rstrip("/") + "/api/" + tail


def _call(request: urllib.request.Request, timeout: float) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as err:
        try:
            detail = json.loads(err.read().decode("utf-8")).get("error", "")
        except (ValueError, AttributeError):
            detail = ""
        msg = f"The challenge server refused the request ({err.code}): {detail}".strip()
        raise InvalidInputError(" ".join(msg.split())) from err
    except (urllib.error.URLError, OSError) as err:
        msg = f"Cannot reach the challenge server at {request.full_url} ({err})."
        raise ServiceError(msg) from err


def upload_predictions(
    path: str | Path, url: str, token: str, *, timeout: float = 60.0
) -> dict[str, Any]:
    """Upload a predictions file to a challenge server; return the queued submission.

    Parameters
    ----------
    path : path-like
        The ``.csv`` or ``.parquet`` file.
    url : str
        The server's address, e.g. ``https://challenge.example.org/``.
    token : str
        Your API token (from the organiser's accounts sheet).
    timeout : float, default=60
        Seconds to wait for the server.

    Returns
    -------
    dict
        The submission: ``id``, ``team``, ``status`` (``queued``), ``sha256``, ...

    Raises
    ------
    squad.errors.MissingFileError
        If the file does not exist.
    squad.errors.InvalidInputError
        If the server refuses it (bad token, caps, no open phase); the line says why.
    squad.errors.ServiceError
        If the server cannot be reached.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"Predictions file {path} does not exist.")
    boundary = "squad-" + secrets.token_hex(16)
    name = path.name.replace('"', "_").replace("\r", "_").replace("\n", "_")
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="{name}"\r\nContent-Type: application/octet-stream\r\n\r\n'
    ).encode()
    body = head + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(
        _api(url, "submissions/"),
        data=body,
        method="POST",
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        },
    )
    return _call(request, timeout)


def submission_status(
    url: str, token: str, submission_id: int, *, timeout: float = 30.0
) -> dict[str, Any]:
    """One submission of your team as the server sees it (status, public score)."""
    request = urllib.request.Request(
        _api(url, f"submissions/{int(submission_id)}/"),
        headers={"Authorization": f"Bearer {token}"},
    )
    return _call(request, timeout)
