"""The Django application of the challenge server (its models, templates, migrations)."""

from __future__ import annotations

from django.apps import AppConfig

__all__ = ["ChallengesConfig"]


class ChallengesConfig(AppConfig):
    """The ``challenges`` application: ``squad.challenges`` seen by Django."""

    name = "squad.challenges"
    label = "challenges"
    verbose_name = "squad challenges"
    default_auto_field = "django.db.models.BigAutoField"
