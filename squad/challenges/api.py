"""The token API that ``squad submit --to URL --token TOKEN`` talks to.

``Authorization: Bearer <token>`` names the user; the user's membership names the team.
Nothing in the request body or the URL can name another team: a submission of another
team answers 404, as one that does not exist. Without cookies there is nothing for a
forged cross-site request to ride on, so these routes take no CSRF token.
"""

from __future__ import annotations

from django.conf import settings
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from squad.challenges.accounts import user_for_token
from squad.challenges.intake import Refused, accept_upload, check_body_size
from squad.challenges.models import Submission
from squad.challenges.views import final_board_open, public_scores_told

__all__ = ["submission", "submissions"]


def _user(request):
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return user_for_token(token.strip())


def _unauthorised() -> JsonResponse:
    response = JsonResponse({"error": "A valid API token is needed."}, status=401)
    response["WWW-Authenticate"] = 'Bearer realm="squad challenge"'
    return response


def _as_json(row: Submission, show_private: bool, told: dict | None) -> dict:
    out = {
        "id": row.pk,
        "team": row.team.name,
        "user": row.user.username,
        "phase": row.phase.name,
        "file": row.filename,
        "sha256": row.sha256,
        "status": row.status,
        "error": row.error,
        "public_score": row.public_score if told is None else told.get(row.pk),
        "ladder": told is not None,
        "created": row.created.isoformat(),
        "scored": row.scored.isoformat() if row.scored else None,
        "counted": row.counted,
    }
    if show_private:
        out["private_score"] = row.private_score
    return out


@csrf_exempt
@require_http_methods(["GET", "POST"])
def submissions(request):
    """POST a file (field ``file``) for the token's team; GET the team's submissions."""
    user = _user(request)
    if user is None:
        return _unauthorised()
    participant = getattr(user, "participant", None)
    if participant is None:
        return JsonResponse({"error": "Only members of a team can submit."}, status=403)
    team = participant.team
    now = timezone.now()
    show_private = final_board_open(team.challenge, now)
    if request.method == "GET":
        rows = team.submissions.select_related("team", "user", "phase")
        told = public_scores_told(team)
        return JsonResponse(
            {"submissions": [_as_json(r, show_private, told) for r in rows]}
        )
    try:
        check_body_size(request, settings.SQUAD_CHALLENGE)
    except Refused as err:
        return JsonResponse({"error": str(err)}, status=err.status)
    upload = request.FILES.get("file")
    if upload is None:
        return JsonResponse({"error": "Send the file in the field 'file'."}, status=400)
    try:
        row = accept_upload(
            user,
            upload,
            config=settings.SQUAD_CHALLENGE,
            state_dir=settings.SQUAD_STATE,
            now=now,
        )
    except Refused as err:
        return JsonResponse({"error": str(err)}, status=err.status)
    queue = getattr(settings, "SQUAD_QUEUE", None)
    if queue is not None:
        queue.wake()
    return JsonResponse(
        _as_json(row, show_private, public_scores_told(team)), status=201
    )


@csrf_exempt
@require_GET
def submission(request, submission_id: int):
    """One submission of the token's team (its status and public score)."""
    user = _user(request)
    if user is None:
        return _unauthorised()
    participant = getattr(user, "participant", None)
    row = (
        Submission.objects.select_related("team", "user", "phase")
        .filter(pk=submission_id, team=getattr(participant, "team", None))
        .first()
    )
    if participant is None or row is None:
        return JsonResponse({"error": "No such submission of your team."}, status=404)
    show_private = final_board_open(row.team.challenge, timezone.now())
    return JsonResponse(_as_json(row, show_private, public_scores_told(row.team)))
