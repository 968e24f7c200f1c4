"""Who made each run as the board shows it, and what happens to copies and clashes.

**Identity.** With a group's signers file (``--signers``), a run belongs to the name
that file gives the key that signed it; the member a record names is never shown. A run
that is unsigned, or signed by a key the file does not list, is *unverified*: it is
listed apart and never ranked. Without a signers file the board shows the member the
record names, NFKC-normalised with invisible characters escaped
(:func:`squad.board.names.display_name`).

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
from collections.abc import Iterable
from pathlib import Path

from squad.board.names import confusable_groups, display_name, normalize_name
from squad.board.run import BoardRun, Identity, RunSignature
from squad.board.safety import one_line
from squad.records import RunRecord

__all__ = [
    "UNKNOWN_MEMBER",
    "UNSIGNED",
    "claimed_member",
    "flag_confusable_names",
    "flag_shared_predictions",
    "identify",
    "resolve_copies",
    "run_content",
]

#: Shown for runs whose record names no member (``--member`` / ``SQUAD_MEMBER``).
UNKNOWN_MEMBER = "(unknown)"
#: Shown, with a signers file, for runs that carry no signature.
UNSIGNED = "(unsigned)"


def claimed_member(rec: RunRecord) -> str:
    """The member a record names (its own text, unverified), or ``""``.

    Examples
    --------
    >>> claimed_member(RunRecord("demo", "a1", {}, {}, "ok",
    ...                          provenance={"member": "ons"}))
    'ons'
    """
    return str(rec.member or "")


def run_content(rec: RunRecord) -> str:
    """What makes two copies of a run the same run (not where or when it was copied)."""
    keep = {
        "parameters": rec.parameters,
        "metrics": rec.metrics,
        "status": rec.status,
        "files": rec.files,
    }
    return json.dumps(keep, sort_keys=True, default=str)


def identify(
    rec: RunRecord,
    signature: RunSignature | None,
    *,
    with_signers: bool,
) -> Identity:
    """Who a run belongs to on the board.

    Returns
    -------
    Identity
        The name shown, what copies are grouped by, and whether the run may be ranked
        (always without a signers file; with one, only if a listed key signed it).

    Examples
    --------
    >>> rec = RunRecord("demo", "a1", {}, {}, "ok", provenance={"member": "o\\u200bns"})
    >>> identify(rec, None, with_signers=False).name
    'o\\\\u200bns'
    >>> identify(rec, None, with_signers=True).name
    '(unsigned)'
    """
    claimed = normalize_name(claimed_member(rec))
    if not with_signers:
        name = display_name(claimed) if claimed else UNKNOWN_MEMBER
        return Identity(name, ("member", claimed), True, signature)
    if signature is not None and signature.name is not None:
        name = normalize_name(signature.name)
        return Identity(display_name(name), ("key", name), True, signature)
    shown = signature.label if signature is not None else UNSIGNED
    return Identity(shown, ("unverified", claimed), False, signature)


def _where(run: BoardRun, root: Path | None) -> str:
    folder = run.folder
    if folder is None:
        return "(records)"
    if root is not None and folder.is_relative_to(root):
        folder = folder.relative_to(root)
    return one_line(str(folder), 120)


def _signed(run: BoardRun) -> bool:
    return run.signature is not None


def _end(run: BoardRun) -> str:
    return run.record.end


def _dedupe(
    run_id: str, group: list[BoardRun], root: Path | None
) -> tuple[list[BoardRun], list[tuple[BoardRun, str]]]:
    """One owner's copies of one run id: (kept, [(left out, why)])."""
    if len({run_content(r.record) for r in group}) == 1:
        return [max(group, key=lambda r: (_signed(r), _end(r)))], []
    who = one_line(group[0].member, 60)
    signed = [r for r in group if _signed(r)]
    keys = {r.signature.key for r in signed if r.signature is not None}
    if (
        len(keys) == 1
        and len({run_content(r.record) for r in signed}) == 1
        and len(signed) < len(group)
    ):
        winner = max(signed, key=_end)
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
    for run in group:
        others = ", ".join(_where(o, root) for o in group if o is not run)
        out.append(
            (
                run,
                f"run id {run_id} of {who} is also used by a different run in {others}",
            )
        )
    return [], out


def resolve_copies(
    runs: Iterable[BoardRun], root: Path | None = None
) -> tuple[list[BoardRun], list[tuple[BoardRun, str]]]:
    """Keep one copy of each run; name the copies left out (see the module docstring).

    Parameters
    ----------
    runs : iterable of BoardRun
        Checked runs with their identity.
    root : pathlib.Path, optional
        Folders in messages are shown relative to it.

    Returns
    -------
    kept : list of BoardRun
    left_out : list of (BoardRun, str)
        Each run left out with the reason.
    """
    by_id: dict[str, list[BoardRun]] = {}
    for run in runs:
        by_id.setdefault(run.run_id, []).append(run)
    kept: list[BoardRun] = []
    left_out: list[tuple[BoardRun, str]] = []
    for run_id, copies in by_id.items():
        signed = [r for r in copies if r.identity.owner[0] == "key"]
        pool = copies
        if signed:
            names = sorted({r.member for r in signed})
            place = ", ".join(sorted({_where(r, root) for r in signed})[:3])
            for run in copies:
                if run.identity.owner[0] != "key":
                    what = "unsigned" if not _signed(run) else "unknown-key"
                    left_out.append(
                        (
                            run,
                            f"run id {run_id} is signed by {', '.join(names)} in "
                            f"{place}; this {what} copy is left out",
                        )
                    )
            pool = signed
        owners: dict[tuple[str, str], list[BoardRun]] = {}
        for run in pool:
            owners.setdefault(run.identity.owner, []).append(run)
        for group in owners.values():
            won, lost = _dedupe(run_id, group, root)
            kept += won
            left_out += lost
    return kept, left_out


def flag_shared_predictions(runs: Iterable[BoardRun], root: Path | None = None) -> int:
    """Flag runs of different owners whose predictions are the same; return how many.

    A run's scoring digest (see :func:`squad.board.scoring.predictions_digest`) says
    what it predicts; runs without one are not compared.
    """
    groups: dict[str, list[BoardRun]] = {}
    for run in runs:
        digest = run.scoring.digest if run.scoring is not None else ""
        if digest:
            groups.setdefault(digest, []).append(run)
    flagged = 0
    for group in groups.values():
        if len({r.identity.owner for r in group}) < 2:
            continue
        for run in group:
            others = [o for o in group if o.identity.owner != run.identity.owner]
            shown = "; ".join(
                f"run {o.run_id} by {one_line(o.member, 60)} in {_where(o, root)}"
                for o in others[:3]
            )
            run.flag(f"same predictions as {shown}")
            flagged += 1
    return flagged


def flag_confusable_names(
    runs: Iterable[BoardRun], names: Iterable[str] = ()
) -> list[list[str]]:
    """Flag runs whose owner's name looks like another owner's; return the groups.

    Parameters
    ----------
    runs : iterable of BoardRun
        Runs with their identity.
    names : iterable of str, optional
        More names to compare (e.g. every name of the signers file).

    Returns
    -------
    list of list of str
        The groups of look-alike names (normalised), as
        :func:`squad.board.names.confusable_groups`.
    """
    runs = list(runs)
    owned = [r.identity.owner[1] for r in runs if r.identity.owner[0] != "unverified"]
    groups = confusable_groups([n for n in [*owned, *names] if n])
    alike = {name: group for group in groups for name in group}
    for run in runs:
        kind, name = run.identity.owner
        if kind != "unverified" and name in alike:
            others = ", ".join(f"'{display_name(n)}'" for n in alike[name] if n != name)
            run.flag(f"the name '{display_name(name)}' looks like {others}")
    return groups
