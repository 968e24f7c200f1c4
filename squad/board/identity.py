"""Who made each run as the board shows it, and what happens to copies and clashes.

**Identity.** With a group's signers file (``--signers``), a run belongs to the name
that file gives the key that signed it; the member a record names is never shown. A run
that is unsigned, or signed by a key the file does not list, is *unverified*: it is
listed apart and never ranked. Without a signers file the board shows the member the
record names, NFKC-normalised with invisible characters escaped
(:func:`squad.board.names.display_name`), as it always did.

**Copies.** Members merge runs by copying folders, so one run may be there twice. Runs
with the same run id are grouped by owner (the signer's name, or without a signers file
the member the record names):

- copies with the same content (parameters, metrics, status and files with their
  sha256) are one run, kept once (a signed copy first, then the latest);
- with a signers file, when a run id has a copy signed by a listed key, every unsigned
  or unknown-key copy of it is named and left out: the copy signed by the key's owner
  wins;
- different content under one owner is a conflict: when exactly one key signed the
  differing copies, its copy wins and the unsigned ones are left out; otherwise every
  copy is left out (which is genuine cannot be told), each named.

Two owners may share a run id (the kit derives ids from the notebook and parameters).

**Clashes.** :func:`flag_shared_predictions` flags every run whose predictions code the
test records exactly as a run of another owner does (a copy under another name), on
both rows; :func:`flag_confusable_names` flags runs whose owners' names are different
but look alike (:func:`squad.board.names.confusable_groups`). ``squad board check``
fails on both.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from squad.board.names import confusable_groups, display_name, normalize_name
from squad.board.safety import one_line

__all__ = [
    "UNKNOWN_MEMBER",
    "UNSIGNED",
    "RunSignature",
    "claimed_member",
    "end_time",
    "flag_confusable_names",
    "flag_shared_predictions",
    "identify",
    "member_name",
    "resolve_copies",
    "run_content",
]

#: Shown for runs whose record names no member (``--member`` / ``SQUAD_MEMBER``).
UNKNOWN_MEMBER = "(unknown)"
#: Shown, with a signers file, for runs that carry no signature.
UNSIGNED = "(unsigned)"


@dataclass(frozen=True)
class RunSignature:
    """A run's verified signature: the key that made it and its name, if listed."""

    key: str  # the public key, base64 of its SSH wire format
    fingerprint: str  # SHA256:... as ssh-keygen -l shows it
    name: str | None = None  # from the signers file

    @property
    def label(self) -> str:
        """How the board shows an unlisted key: ``(unknown key SHA256:abcd1234)``."""
        return f"(unknown key {self.fingerprint[:19]})"


def claimed_member(rec: Mapping[str, Any]) -> str:
    """The member a record names (its own text, unverified), or ``""``.

    Examples
    --------
    >>> claimed_member({"provenance": {"member": "ons"}})
    'ons'
    """
    provenance = rec.get("provenance")
    member = provenance.get("member") if isinstance(provenance, Mapping) else None
    return str(member or "")


def end_time(rec: Mapping[str, Any]) -> str:
    """A record's end time (ISO 8601 text), or ``""``."""
    timings = rec.get("timings")
    end = timings.get("end") if isinstance(timings, Mapping) else None
    return str(end or "")


def run_content(rec: Mapping[str, Any]) -> str:
    """What makes two copies of a run the same run (not where or when it was copied)."""
    keep = ("parameters", "metrics", "status", "files")
    return json.dumps({k: rec.get(k) for k in keep}, sort_keys=True, default=str)


def identify(
    rec: Mapping[str, Any],
    signature: RunSignature | None,
    *,
    with_signers: bool,
) -> dict[str, Any]:
    """The identity fields the board adds to a record.

    Returns
    -------
    dict
        ``_signature`` (the :class:`RunSignature` or None), ``_identity`` (the name
        shown), ``_owner`` (what copies are grouped by) and ``_identified`` (whether
        the run may be ranked: always without a signers file; with one, only if a
        listed key signed it).

    Examples
    --------
    >>> identify({"provenance": {"member": "o\\u200bns"}}, None, with_signers=False)[
    ...     "_identity"]
    'o\\\\u200bns'
    >>> identify({"provenance": {"member": "ons"}}, None, with_signers=True)["_identity"]
    '(unsigned)'
    """
    claimed = normalize_name(claimed_member(rec))
    if not with_signers:
        return {
            "_signature": signature,
            "_identity": display_name(claimed) if claimed else UNKNOWN_MEMBER,
            "_owner": ("member", claimed),
            "_identified": True,
        }
    if signature is not None and signature.name is not None:
        name = normalize_name(signature.name)
        return {
            "_signature": signature,
            "_identity": display_name(name),
            "_owner": ("key", name),
            "_identified": True,
        }
    return {
        "_signature": signature,
        "_identity": signature.label if signature is not None else UNSIGNED,
        "_owner": ("unverified", claimed),
        "_identified": False,
    }


def member_name(rec: Mapping[str, Any]) -> str:
    """The name the board shows for a run (see :func:`identify`).

    Examples
    --------
    >>> member_name({"provenance": {"member": "statcan"}})
    'statcan'
    >>> member_name({"provenance": {}})
    '(unknown)'
    """
    if "_identity" in rec:
        return str(rec["_identity"])
    claimed = normalize_name(claimed_member(rec))
    return display_name(claimed) if claimed else UNKNOWN_MEMBER


def _where(rec: Mapping[str, Any], root: Path | None) -> str:
    folder = rec.get("_dir")
    if folder is None:
        return "(records)"
    folder = Path(folder)
    if root is not None and folder.is_relative_to(root):
        folder = folder.relative_to(root)
    return one_line(str(folder), 120)


def _signed(rec: Mapping[str, Any]) -> bool:
    return rec.get("_signature") is not None


def _dedupe(
    run_id: str, group: list[dict[str, Any]], root: Path | None
) -> tuple[list[dict[str, Any]], list[tuple[dict[str, Any], str]]]:
    """One owner's copies of one run id: (kept, [(left out, why)])."""
    if len({run_content(r) for r in group}) == 1:
        return [max(group, key=lambda r: (_signed(r), end_time(r)))], []
    who = one_line(member_name(group[0]), 60)
    signed = [r for r in group if _signed(r)]
    keys = {r["_signature"].key for r in signed}
    if (
        len(keys) == 1
        and len({run_content(r) for r in signed}) == 1
        and len(signed) < len(group)
    ):
        winner = max(signed, key=end_time)
        place = _where(winner, root)
        return [winner], [
            (
                r,
                f"run id {run_id} of {who} is signed in {place}; this unsigned copy "
                "differs from it and is left out",
            )
            for r in group
            if not _signed(r)
        ]
    out = []
    for rec in group:
        others = ", ".join(_where(o, root) for o in group if o is not rec)
        out.append(
            (
                rec,
                f"run id {run_id} of {who} is also used by a different run in {others}",
            )
        )
    return [], out


def resolve_copies(
    records: Iterable[dict[str, Any]], root: Path | None = None
) -> tuple[list[dict[str, Any]], list[tuple[dict[str, Any], str]]]:
    """Keep one copy of each run; name the copies left out (see the module docstring).

    Parameters
    ----------
    records : iterable of dict
        Checked records with the fields of :func:`identify`.
    root : pathlib.Path, optional
        Folders in messages are shown relative to it.

    Returns
    -------
    kept : list of dict
    left_out : list of (dict, str)
        Each record left out with the reason.
    """
    by_id: dict[str, list[dict[str, Any]]] = {}
    for rec in records:
        by_id.setdefault(rec["run_id"], []).append(rec)
    kept: list[dict[str, Any]] = []
    left_out: list[tuple[dict[str, Any], str]] = []
    for run_id, copies in by_id.items():
        signed = [r for r in copies if r["_owner"][0] == "key"]
        pool = copies
        if signed:
            names = sorted({member_name(r) for r in signed})
            place = ", ".join(sorted({_where(r, root) for r in signed})[:3])
            for rec in copies:
                if rec["_owner"][0] != "key":
                    what = "unsigned" if not _signed(rec) else "unknown-key"
                    left_out.append(
                        (
                            rec,
                            f"run id {run_id} is signed by {', '.join(names)} in "
                            f"{place}; this {what} copy is left out",
                        )
                    )
            pool = signed
        owners: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for rec in pool:
            owners.setdefault(rec["_owner"], []).append(rec)
        for group in owners.values():
            won, lost = _dedupe(run_id, group, root)
            kept += won
            left_out += lost
    return kept, left_out


def _add_flag(rec: dict[str, Any], text: str) -> None:
    flags = rec.setdefault("_flags", [])
    if text not in flags:
        flags.append(text)


def flag_shared_predictions(
    runs: Iterable[dict[str, Any]], root: Path | None = None
) -> int:
    """Flag runs of different owners whose predictions are the same; return how many.

    A run's ``_digest`` (see :func:`squad.board.scoring.predictions_digest`) says what
    it predicts; runs without one are not compared.
    """
    groups: dict[str, list[dict[str, Any]]] = {}
    for rec in runs:
        if rec.get("_digest"):
            groups.setdefault(rec["_digest"], []).append(rec)
    flagged = 0
    for group in groups.values():
        if len({r["_owner"] for r in group}) < 2:
            continue
        for rec in group:
            others = [o for o in group if o["_owner"] != rec["_owner"]]
            shown = "; ".join(
                f"run {o['run_id']} by {one_line(member_name(o), 60)} in "
                f"{_where(o, root)}"
                for o in others[:3]
            )
            _add_flag(rec, f"same predictions as {shown}")
            flagged += 1
    return flagged


def flag_confusable_names(
    runs: Iterable[dict[str, Any]], names: Iterable[str] = ()
) -> list[list[str]]:
    """Flag runs whose owner's name looks like another owner's; return the groups.

    Parameters
    ----------
    runs : iterable of dict
        Records with the fields of :func:`identify`.
    names : iterable of str, optional
        More names to compare (e.g. every name of the signers file).

    Returns
    -------
    list of list of str
        The groups of look-alike names (normalised), as
        :func:`squad.board.names.confusable_groups`.
    """
    runs = list(runs)
    owned = [r["_owner"][1] for r in runs if r["_owner"][0] != "unverified"]
    groups = confusable_groups([n for n in [*owned, *names] if n])
    alike = {name: group for group in groups for name in group}
    for rec in runs:
        kind, name = rec["_owner"]
        if kind != "unverified" and name in alike:
            others = ", ".join(f"'{display_name(n)}'" for n in alike[name] if n != name)
            _add_flag(rec, f"the name '{display_name(name)}' looks like {others}")
    return groups
