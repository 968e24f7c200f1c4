"""Each person's own password on the hub: generated, stored hashed, handed out on a sheet.

Every trainee and instructor on the course file gets a password of their own, made
once. The hub keeps only its hash, in ``state/password-hashes.json`` (0600, root), as
scrypt with a salt of its own (``hashlib.scrypt``; the parameters are those of
Django's scrypt hasher and are stored with each hash). The passwords themselves are
written once, to a sheet for the instructor to print and hand out:
``state/password-sheets/issued-<date>-<time>-<n>.csv`` (``name,role,password``, 0600) and an
HTML page beside it with one slip per person. People added to the course file later
get theirs at the next ``squad hub accounts`` or ``squad hub start``, on a sheet of
their own; everybody else keeps theirs. ``squad hub passwords --reset NAME`` issues a
new one. The hub checks them with `squad.hub.auth.SquadPasswordAuthenticator`.

The hub's process imports this module: it imports only the standard library and the
kit's errors.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import html
import io
import json
import os
import secrets
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from squad.errors import FileProblemError, NotFoundError

if TYPE_CHECKING:
    from squad.hub.coursefile import CourseFile
    from squad.hub.layout import HubLayout

__all__ = [
    "IssuedPasswords",
    "generate_password",
    "hash_password",
    "issue_passwords",
    "list_sheets",
    "read_password_hashes",
    "verify_password",
]

#: scrypt's cost (n), block size (r) and parallelism (p): Django's ScryptPasswordHasher.
_SCRYPT = (2**14, 8, 1)
_SCRYPT_MAXMEM = 64 * 2**20
#: Letters and digits that cannot be mistaken for each other on a printed slip.
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
#: Three groups of four: 59 bits, ``k7mq-2xwp-9hcv``.
_GROUPS, _GROUP_SIZE = 3, 4


@dataclass(frozen=True)
class IssuedPasswords:
    """What `issue_passwords` did.

    Attributes
    ----------
    names : tuple of str
        The people who got a new password, in the course file's order.
    sheet : pathlib.Path or None
        The CSV sheet with their passwords (``None`` when nobody got one).
    page : pathlib.Path or None
        The printable HTML page beside it.
    """

    names: tuple[str, ...] = ()
    sheet: Path | None = None
    page: Path | None = None

    def summary(self) -> str:
        """One line for the command line."""
        if not self.names:
            return (
                "Every person on the course file has a password; "
                "`squad hub passwords --reset NAME` issues a new one."
            )
        return (
            f"Passwords for {len(self.names)} person(s) on the sheet {self.sheet} "
            f"(printable: {self.page}); hand them out, then delete both files: the "
            "hub keeps only their hashes."
        )


def generate_password() -> str:
    """A new random password, easy to read off a printed slip (59 bits).

    Examples
    --------
    >>> password = generate_password()
    >>> len(password), password.count("-")
    (14, 2)
    """
    groups = (
        "".join(secrets.choice(_ALPHABET) for _ in range(_GROUP_SIZE))
        for _ in range(_GROUPS)
    )
    return "-".join(groups)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str) -> str:
    """The stored form of ``password``: scrypt with a new random salt.

    Returns
    -------
    str
        ``scrypt$<n>$<r>$<p>$<salt>$<hash>`` (salt and hash in base64).

    Examples
    --------
    >>> stored = hash_password("k7mq-2xwp-9hcv")
    >>> stored.startswith("scrypt$16384$8$1$"), verify_password("k7mq-2xwp-9hcv", stored)
    (True, True)
    """
    n, r, p = _SCRYPT
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=_SCRYPT_MAXMEM
    )
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` is the one ``stored`` (from `hash_password`) was made from.

    The digests are compared in constant time. A malformed ``stored`` never matches.

    Examples
    --------
    >>> verify_password("wrong", hash_password("right")), verify_password("x", "junk")
    (False, False)
    """
    try:
        kind, n, r, p, salt, expected = stored.split("$")
        if kind != "scrypt":
            return False
        digest = hashlib.scrypt(
            password.encode("utf-8"),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            maxmem=_SCRYPT_MAXMEM,
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(digest, base64.b64decode(expected))


def read_password_hashes(path: str | os.PathLike[str]) -> dict[str, str]:
    """The hashes of ``path`` (``state/password-hashes.json``), by person.

    A missing file means nobody has a password yet.

    Raises
    ------
    FileProblemError
        When the file is not the kit's, with the command that issues passwords.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        msg = (
            f"The password file {path} could not be read ({err}). Restore it from a "
            "backup, or move it away and run `squad hub passwords COURSE_FILE` to "
            "issue everybody a new password."
        )
        raise FileProblemError(msg) from err
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        msg = (
            f"The password file {path} is not a table of names and hashes. Move it "
            "away and run `squad hub passwords COURSE_FILE` to issue new passwords."
        )
        raise FileProblemError(msg)
    return data


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` at mode 0600, atomically (never readable by others)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _new_sheet_path(folder: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    for n in range(1, 100):  # two sheets in one second: -01, -02 (they sort in order)
        path = folder / f"issued-{stamp}-{n:02d}.csv"
        if not path.exists():
            return path
    msg = f"Too many password sheets issued at {stamp} in {folder}."  # pragma: no cover
    raise FileProblemError(msg)  # pragma: no cover


def _sheet_csv(rows: list[tuple[str, str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["name", "role", "password"])
    writer.writerows(rows)
    return buffer.getvalue()


def _sheet_html(course_id: str, rows: list[tuple[str, str, str]]) -> str:
    slips = "\n".join(
        '<div class="slip"><p class="course">Course '
        f"{html.escape(course_id)} &middot; {html.escape(role)}</p>"
        f"<p>User name: <b>{html.escape(name)}</b></p>"
        f"<p>Password: <code>{html.escape(password)}</code></p></div>"
        for name, role, password in rows
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Passwords of course {html.escape(course_id)}</title>
<style>
body {{ font-family: sans-serif; margin: 1cm; }}
.slip {{ border: 1px dashed #555; padding: 0.4cm 0.6cm; margin: 0 0 0.3cm;
         break-inside: avoid; }}
.slip p {{ margin: 0.15cm 0; }}
.course {{ color: #555; font-size: 0.9em; }}
code {{ font-size: 1.3em; letter-spacing: 0.05em; }}
</style></head><body>
<h1>Hub passwords: course {html.escape(course_id)}</h1>
<p>Cut along the lines; give each person their own slip. Keep this page private.</p>
{slips}
</body></html>
"""


def list_sheets(layout: HubLayout) -> list[Path]:
    """The password sheets (CSV) issued for this hub, oldest first."""
    folder = layout.password_sheets
    return sorted(folder.glob("issued-*.csv")) if folder.is_dir() else []


def issue_passwords(
    course: CourseFile, layout: HubLayout, *, reset: Iterable[str] = ()
) -> IssuedPasswords:
    """Give every person on ``course`` without a password one; write the sheet.

    Idempotent: people who have a password keep it, unless named in ``reset``.

    Parameters
    ----------
    course : CourseFile
        Its instructors and trainees get passwords.
    layout : HubLayout
        The hub's folder: the hashes go to ``layout.password_hashes``, the sheet into
        ``layout.password_sheets``.
    reset : iterable of str, default=()
        People who get a new password even if they have one.

    Returns
    -------
    IssuedPasswords

    Raises
    ------
    NotFoundError
        When a name in ``reset`` is not on the course file.
    """
    reset = list(dict.fromkeys(reset))
    unknown = [name for name in reset if name not in course.users]
    if unknown:
        shown = ", ".join(course.users[:10]) + (
            ", ..." if len(course.users) > 10 else ""
        )
        msg = (
            f"'{unknown[0]}' is not on the course file {course.path} (people: "
            f"{shown}). Add them there and run `squad hub accounts` first."
        )
        raise NotFoundError(msg)
    layout.state.mkdir(parents=True, exist_ok=True)
    os.chmod(layout.state, 0o700)
    hashes = read_password_hashes(layout.password_hashes)
    chosen = [n for n in course.users if n not in hashes or n in reset]
    if not chosen:
        return IssuedPasswords()
    rows = []
    for name in chosen:
        password = generate_password()
        hashes[name] = hash_password(password)
        role = "instructor" if name in course.instructors else "trainee"
        rows.append((name, role, password))
    folder = layout.password_sheets
    folder.mkdir(exist_ok=True)
    os.chmod(folder, 0o700)
    sheet = _new_sheet_path(folder)
    page = sheet.with_suffix(".html")
    _write_private(sheet, _sheet_csv(rows))
    _write_private(page, _sheet_html(course.course_id, rows))
    # The hashes last: a sheet that failed to be written never leaves anyone with a
    # password nobody was told.
    _write_private(layout.password_hashes, json.dumps(hashes, indent=1) + "\n")
    return IssuedPasswords(tuple(chosen), sheet, page)
