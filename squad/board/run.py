"""A run as the board sees it: its record, and what the board learned about it.

:class:`BoardRun` wraps a :class:`~squad.records.RunRecord` with the facts the board
adds while it builds: the folder it was read from and the figures that may be shown
(:mod:`squad.board.intake`), who owns it (:class:`Identity`, from
:mod:`squad.board.identity`), how its predictions scored (:class:`Scoring`, from
:mod:`squad.board.scoring`), and its task, rank and flags
(:mod:`squad.board.leaderboard`). The record itself is never changed: it is what the
member's folder holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from squad.records import RunRecord

__all__ = ["BoardRun", "Identity", "RunSignature", "Scoring"]


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


@dataclass(frozen=True)
class Identity:
    """Who a run belongs to on the board (see :func:`squad.board.identity.identify`).

    Attributes
    ----------
    name : str
        The name shown.
    owner : tuple of (str, str)
        What copies are grouped by: ``("member", name)`` without a signers file,
        ``("key", name)`` for a run signed by a listed key, ``("unverified", claimed
        name)`` otherwise.
    identified : bool
        Whether the run may rank: always without a signers file; with one, only if a
        listed key signed it.
    signature : RunSignature or None
        The run's verified signature.
    """

    name: str
    owner: tuple[str, str]
    identified: bool = True
    signature: RunSignature | None = None


@dataclass(frozen=True)
class Scoring:
    """How a run's predictions scored (see :func:`squad.board.scoring.score_run`).

    Attributes
    ----------
    check : str
        ``verified``, ``disagrees``, ``self-reported`` (no predictions) or
        ``invalid``.
    metrics : dict
        The metrics the board shows: computed from the predictions, with the
        recorded metrics scoring does not compute (see ``reported``); the recorded
        ones for a self-reported run.
    reported : list of str
        Metrics shown as the run recorded them (timings, ``log_loss``).
    disagreements : dict
        Metric → (recorded, computed) where they differ.
    reason : str
        Why the predictions cannot be scored (``invalid``).
    digest : str
        What the predictions predict (:func:`squad.board.scoring.predictions_digest`).
    """

    check: str
    metrics: dict[str, Any]
    reported: list[str] = field(default_factory=list)
    disagreements: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    reason: str = ""
    digest: str = ""


@dataclass
class BoardRun:
    """One run on the board.

    Attributes
    ----------
    record : RunRecord
        The run's record as its folder holds it.
    identity : Identity
        Who it belongs to.
    folder : pathlib.Path or None
        The run folder it was read from (None for records given as data).
    figures : dict
        Name → path (relative to ``folder``) of the figures that may be shown.
    scoring : Scoring or None
        How its predictions scored (None: not scored, e.g. a failed run).
    task : object or None
        Its :class:`squad.board.tasks.Task`.
    ranked : bool
        Whether it takes a place in its task's ranking.
    flags : list of str
        Why it is flagged (same predictions as another owner's run, a look-alike
        name).
    """

    record: RunRecord
    identity: Identity
    folder: Path | None = None
    figures: dict[str, str] = field(default_factory=dict)
    scoring: Scoring | None = None
    task: Any = None
    ranked: bool = False
    flags: list[str] = field(default_factory=list)

    @property
    def run_id(self) -> str:
        """The record's run id."""
        return self.record.run_id

    @property
    def metrics(self) -> dict[str, Any]:
        """The metrics shown: scored where the predictions were scored, else recorded."""
        if self.scoring is not None and self.scoring.check != "invalid":
            return self.scoring.metrics
        return self.record.metrics

    @property
    def check(self) -> str | None:
        """The scoring's check label, or None if the run was not scored."""
        return self.scoring.check if self.scoring is not None else None

    @property
    def member(self) -> str:
        """The name the board shows for the run's owner."""
        return self.identity.name

    @property
    def signature(self) -> RunSignature | None:
        """The run's verified signature, if it has one."""
        return self.identity.signature

    def flag(self, text: str) -> None:
        """Add a flag (once)."""
        if text not in self.flags:
            self.flags.append(text)
