"""The challenge server's tables (Django models; migrations in ``migrations/``).

One challenge per server. Participants are Django's own users (passwords hashed by
Django); each belongs to one team through `Participant`. API tokens are stored as
their sha256 only. A `Submission` row is also the scoring queue: a worker claims a
``queued`` row by changing its status in one ``UPDATE``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

__all__ = [
    "ApiToken",
    "Challenge",
    "FactSheet",
    "LoginAttempt",
    "Participant",
    "Phase",
    "Submission",
    "Team",
]


class Challenge(models.Model):
    """The challenge this server runs (one row), with its published digest."""

    title = models.CharField(max_length=200)
    dataset = models.CharField(max_length=50)
    protocol = models.CharField(max_length=50, blank=True)
    private_sha256 = models.CharField(max_length=64, blank=True)
    n_public = models.PositiveIntegerField(default=0)
    n_private = models.PositiveIntegerField(default=0)


class Phase(models.Model):
    """A phase: submissions are taken from ``opens`` to ``closes``; with
    ``needs_fact_sheet``, only from teams that have filled in their fact sheet."""

    challenge = models.ForeignKey(Challenge, on_delete=models.CASCADE)
    name = models.CharField(max_length=100)
    position = models.PositiveIntegerField()
    opens = models.DateTimeField()
    closes = models.DateTimeField()
    needs_fact_sheet = models.BooleanField(default=False)

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["challenge", "name"], name="phase_name")
        ]


class Team(models.Model):
    """A team; its members are `Participant` rows, at most ``size_limit`` of them."""

    challenge = models.ForeignKey(Challenge, on_delete=models.CASCADE)
    name = models.CharField(max_length=100)
    size_limit = models.PositiveIntegerField()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["challenge", "name"], name="team_name")
        ]


class Participant(models.Model):
    """A user's membership of a team: the only thing that says who submits for whom."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="participant"
    )
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="members")


class FactSheet(models.Model):
    """A team's fact sheet (see :mod:`squad.challenges.factsheets`): one per team."""

    team = models.OneToOneField(
        Team, on_delete=models.CASCADE, related_name="fact_sheet"
    )
    method = models.TextField(max_length=2000)
    code_url = models.CharField(max_length=300)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    updated = models.DateTimeField(auto_now=True)


class ApiToken(models.Model):
    """An API token of a user, stored as the sha256 of its value."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tokens"
    )
    digest = models.CharField(max_length=64, unique=True)
    created = models.DateTimeField(auto_now_add=True)
    last_used = models.DateTimeField(null=True, blank=True)


class LoginAttempt(models.Model):
    """A failed login, counted to slow down password guessing."""

    username = models.CharField(max_length=150, db_index=True)
    address = models.CharField(max_length=64, db_index=True)
    at = models.DateTimeField(auto_now_add=True, db_index=True)


class Submission(models.Model):
    """One uploaded predictions file, its place in the queue and its scores."""

    QUEUED, SCORING, SCORED, FAILED = "queued", "scoring", "scored", "failed"
    STATUSES = [(s, s) for s in (QUEUED, SCORING, SCORED, FAILED)]

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="submissions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    phase = models.ForeignKey(Phase, on_delete=models.PROTECT)
    filename = models.CharField(max_length=200)
    stored = models.CharField(max_length=200, blank=True)
    sha256 = models.CharField(max_length=64)
    status = models.CharField(max_length=10, choices=STATUSES, default=QUEUED)
    error = models.CharField(max_length=500, blank=True)
    public_score = models.FloatField(null=True, blank=True)
    private_score = models.FloatField(null=True, blank=True)
    public_scores = models.JSONField(default=dict, blank=True)
    private_scores = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    started = models.DateTimeField(null=True, blank=True)
    scored = models.DateTimeField(null=True, blank=True)
    n_scorings = models.PositiveIntegerField(default=0)
    counted = models.BooleanField(default=True)
    picked = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [models.Index(fields=["status", "id"], name="queue")]
