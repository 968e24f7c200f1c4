"""The organiser's console: the queue, resetting a team's caps, rescoring, the files.

Only organisers (Django staff accounts, named under ``organisers`` in the challenge
file) reach these pages; anyone else gets 403. Changes are POSTed forms with a CSRF
token.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db.models import Count, F, Q
from django.http import HttpResponse, HttpResponseForbidden
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from squad.challenges.models import Challenge, Submission, Team

__all__ = ["console", "download_all", "rescore", "reset_caps"]


def _organiser(view):
    def wrapped(request, *args, **kwargs):
        if not request.user.is_staff:
            return HttpResponseForbidden("Organisers only.")
        return view(request, *args, **kwargs)

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return login_required(wrapped)


@_organiser
@require_GET
def console(request):
    """The queue's state, every team with its counted submissions, and the actions."""
    counts = dict(
        Submission.objects.values_list("status").annotate(n=Count("id")).order_by()
    )
    teams = Team.objects.annotate(
        n_counted=Count("submissions", filter=Q(submissions__counted=True)),
        n_all=Count("submissions"),
        fact_sheet_method=F("fact_sheet__method"),
        fact_sheet_code_url=F("fact_sheet__code_url"),
    )
    recent = Submission.objects.select_related("team", "user")[:50]
    context = {
        "challenge": Challenge.objects.get(),
        "config": settings.SQUAD_CHALLENGE,
        "counts": [(s, counts.get(s, 0)) for s, _ in Submission.STATUSES],
        "teams": teams,
        "recent": recent,
    }
    return render(request, "challenges/console.html", context)


@_organiser
@require_POST
def reset_caps(request, team_id: int):
    """Stop a team's earlier submissions counting toward its caps (scores are kept)."""
    team = get_object_or_404(Team, pk=team_id)
    team.submissions.update(counted=False)
    return redirect("console")


@_organiser
@require_POST
def rescore(request):
    """Queue every scored or failed submission again (after a fix to the labels)."""
    Submission.objects.filter(status__in=[Submission.SCORED, Submission.FAILED]).update(
        status=Submission.QUEUED
    )
    queue = getattr(settings, "SQUAD_QUEUE", None)
    if queue is not None:
        queue.wake()
    return redirect("console")


@_organiser
@require_POST
def rerun(request, submission_id: int):
    """Queue one submission again: one left ``scoring`` by a worker that hangs, or one
    that failed for the server's own reasons. It is scored again from its file."""
    row = get_object_or_404(Submission, pk=submission_id)
    Submission.objects.filter(pk=row.pk).update(status=Submission.QUEUED, error="")
    queue = getattr(settings, "SQUAD_QUEUE", None)
    if queue is not None:
        queue.wake()
    return redirect("console")


@_organiser
@require_GET
def download_all(request):
    """Every uploaded file, as ``<team>/<id>-<file name>`` in one zip."""
    buffer = io.BytesIO()
    uploads = Path(settings.SQUAD_STATE) / "uploads"
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        rows = Submission.objects.select_related("team").order_by("id")
        for row in rows:
            source = uploads / row.stored
            if row.stored and source.is_file():
                team = row.team.name.replace("/", "_")
                name = row.filename.replace("/", "_")
                archive.write(source, f"team-{row.team_id}-{team}/{row.pk}-{name}")
    response = HttpResponse(buffer.getvalue(), content_type="application/zip")
    response["Content-Disposition"] = 'attachment; filename="submissions.zip"'
    return response
