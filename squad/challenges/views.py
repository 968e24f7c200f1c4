"""The participants' pages: overview, data, submit, my team, the board, logging in.

Every page is a Django template (autoescaped) over values read here; the team is always
the logged-in user's. Private scores appear only once the last phase has closed.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib.auth import authenticate, login, logout
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, HttpResponseForbidden
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from squad.board.style import CSS
from squad.challenges import standings
from squad.challenges.factsheets import MAX_CODE_URL, MAX_METHOD, check_fact_sheet
from squad.challenges.intake import (
    Refused,
    accept_upload,
    check_body_size,
    current_phase,
    slots_left,
)
from squad.challenges.models import (
    Challenge,
    FactSheet,
    LoginAttempt,
    Submission,
)
from squad.errors import InvalidInputError

__all__ = [
    "board",
    "data",
    "factsheet",
    "final_board_open",
    "login_view",
    "logout_view",
    "overview",
    "picks",
    "public_scores_told",
    "stylesheet",
    "submit",
    "team",
    "texts",
]

#: Failed logins allowed per user name, and per address, in `LOGIN_WINDOW`.
LOGIN_FAILURES_PER_USER = 5
LOGIN_FAILURES_PER_ADDRESS = 20
LOGIN_WINDOW = dt.timedelta(minutes=15)

_EXTRA_CSS = """header { display: flex; gap: 1em; align-items: baseline; }
header form { display: inline; }
.error { color: #a00; }
code.digest { word-break: break-all; }
"""


def _page(request, template: str, status: int = 200, **context):
    challenge = Challenge.objects.get()
    context.update(challenge=challenge, config=settings.SQUAD_CHALLENGE)
    return render(request, f"challenges/{template}", context, status=status)


def final_board_open(challenge, now: dt.datetime) -> bool:
    """Whether the last phase has closed, so private scores may be shown."""
    last = challenge.phase_set.order_by("-closes").first()
    return last is not None and now >= last.closes


def _team_of(request):
    participant = getattr(request.user, "participant", None)
    return None if participant is None else participant.team


@require_GET
def overview(request):
    """The challenge: task, phases, rules, and the private labels' digest once open."""
    now = timezone.now()
    challenge = Challenge.objects.get()
    phases = list(challenge.phase_set.all())
    opened = bool(phases) and now >= phases[0].opens
    return _page(
        request,
        "overview.html",
        phases=phases,
        phase=current_phase(challenge, now),
        opened=opened,
        closed=final_board_open(challenge, now),
    )


@require_http_methods(["GET", "POST"])
def login_view(request):
    """Log in with a user name and password; repeated failures are refused a while."""
    error = ""
    status = 200
    if request.method == "POST":
        username = request.POST.get("username", "")[:150]
        password = request.POST.get("password", "")
        address = request.META.get("REMOTE_ADDR", "")[:64]
        since = timezone.now() - LOGIN_WINDOW
        recent = LoginAttempt.objects.filter(at__gte=since)
        if (
            recent.filter(username=username).count() >= LOGIN_FAILURES_PER_USER
            or recent.filter(address=address).count() >= LOGIN_FAILURES_PER_ADDRESS
        ):
            error = "Too many failed logins; wait 15 minutes and try again."
            status = 429
        else:
            user = authenticate(request, username=username, password=password)
            if user is not None:
                login(request, user)
                return redirect("team" if hasattr(user, "participant") else "overview")
            LoginAttempt.objects.create(username=username, address=address)
            error = "Unknown user name or wrong password."
            status = 401
    hub_login = getattr(settings, "SQUAD_HUB_LOGIN", None) is not None
    return _page(request, "login.html", status=status, error=error, hub_login=hub_login)


@require_POST
def logout_view(request):
    """Log out (a form with its CSRF token, never a link)."""
    logout(request)
    return redirect("overview")


@login_required
@require_GET
def data(request):
    """Where participants download the test texts, and what to upload."""
    return _page(request, "data.html")


@login_required
@require_GET
def texts(request):
    """The test records without labels, as CSV."""
    from squad.challenges.labels import texts_csv

    body = texts_csv(settings.SQUAD_CHALLENGE, settings.SQUAD_DATA_HOME)
    response = HttpResponse(body, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="test_texts.csv"'
    return response


@login_required
@require_http_methods(["GET", "POST"])
def submit(request):
    """The upload form, and taking an upload for the user's own team."""
    config = settings.SQUAD_CHALLENGE
    team = _team_of(request)
    if team is None:
        return HttpResponseForbidden("Only members of a team can submit.")
    now = timezone.now()
    error = ""
    status = 200
    if request.method == "POST":
        try:
            check_body_size(request, config)
        except Refused as err:
            return HttpResponse(str(err), status=err.status)
        upload = request.FILES.get("file")
        if upload is None:
            error, status = "Choose a predictions file to upload.", 400
        else:
            try:
                accept_upload(
                    request.user,
                    upload,
                    config=config,
                    state_dir=settings.SQUAD_STATE,
                    now=now,
                )
            except Refused as err:
                error, status = str(err), err.status
            else:
                _wake_queue()
                return redirect("team")
    left = slots_left(team, now, config.daily_cap, config.total_cap)
    return _page(
        request, "submit.html", status=status, error=error, team=team, left=left
    )


def _wake_queue() -> None:
    queue = getattr(settings, "SQUAD_QUEUE", None)
    if queue is not None:
        queue.wake()


@login_required
@require_GET
def team(request):
    """The user's team: its submissions, their status and scores, its final picks."""
    config = settings.SQUAD_CHALLENGE
    own = _team_of(request)
    if own is None:
        return HttpResponseForbidden("Only members of a team have a team page.")
    now = timezone.now()
    challenge = Challenge.objects.get()
    submissions = list(own.submissions.select_related("user", "phase"))
    told = public_scores_told(own)
    for row in submissions:
        row.told_public = row.public_score if told is None else told.get(row.pk)
    return _page(
        request,
        "team.html",
        team=own,
        submissions=submissions,
        show_private=final_board_open(challenge, now),
        left=slots_left(own, now, config.daily_cap, config.total_cap),
        sheet=FactSheet.objects.filter(team=own).first(),
        sheet_needed=_phases_needing_sheets(challenge),
    )


def _phases_needing_sheets(challenge) -> list[str]:
    return list(
        challenge.phase_set.filter(needs_fact_sheet=True).values_list("name", flat=True)
    )


@login_required
@require_http_methods(["GET", "POST"])
def factsheet(request):
    """The team's fact sheet: method and code link; any member edits it until close."""
    own = _team_of(request)
    if own is None:
        return HttpResponseForbidden("Only members of a team have a fact sheet.")
    challenge = Challenge.objects.get()
    closed = final_board_open(challenge, timezone.now())
    sheet = FactSheet.objects.filter(team=own).first()
    method = sheet.method if sheet else ""
    code_url = sheet.code_url if sheet else ""
    error, status = "", 200
    if request.method == "POST":
        if closed:
            return HttpResponseForbidden(
                "The challenge has closed; fact sheets are final."
            )
        method = request.POST.get("method", "")[: 2 * MAX_METHOD]
        code_url = request.POST.get("code_url", "")[: 2 * MAX_CODE_URL]
        try:
            fields = check_fact_sheet(method, code_url)
        except InvalidInputError as err:
            error, status = str(err), 400
        else:
            FactSheet.objects.update_or_create(
                team=own,
                defaults={
                    "method": fields.method,
                    "code_url": fields.code_url,
                    "by": request.user,
                },
            )
            return redirect("team")
    return _page(
        request,
        "factsheet.html",
        status=status,
        error=error,
        team=own,
        method=method,
        code_url=code_url,
        closed=closed,
        sheet_needed=_phases_needing_sheets(challenge),
        max_method=MAX_METHOD,
        max_code_url=MAX_CODE_URL,
    )


@login_required
@require_POST
def picks(request):
    """Set the team's final picks: at most ``final_picks`` of its scored submissions."""
    config = settings.SQUAD_CHALLENGE
    own = _team_of(request)
    if own is None:
        return HttpResponseForbidden("Only members of a team can pick.")
    if final_board_open(Challenge.objects.get(), timezone.now()):
        return HttpResponseForbidden("The challenge has closed; picks are final.")
    try:
        chosen = {int(v) for v in request.POST.getlist("pick")}
    except ValueError:
        return HttpResponse("Picks are submission numbers.", status=400)
    scored = own.submissions.filter(status=Submission.SCORED)
    if len(chosen) > config.final_picks or scored.filter(pk__in=chosen).count() != len(
        chosen
    ):
        msg = f"Pick at most {config.final_picks} of your team's scored submissions."
        return HttpResponse(msg, status=400)
    own.submissions.update(picked=False)
    scored.filter(pk__in=chosen).update(picked=True)
    return redirect("team")


def board_rows(challenge, team=None) -> list[dict]:
    """Every scored submission (of ``team``, if given) as a plain row for
    :mod:`squad.challenges.standings`."""
    rows = Submission.objects.filter(
        team__challenge=challenge, status=Submission.SCORED
    )
    if team is not None:
        rows = rows.filter(team=team)
    rows = rows.values(
        "id", "team__name", "created", "public_scores", "private_scores", "picked"
    )
    return [{**r, "team": r["team__name"]} for r in rows]


def public_scores_told(team) -> dict | None:
    """Under the Ladder, the public score ``team`` is told after each submission
    (submission id -> score); None without the Ladder, when scores are told as they
    are."""
    config = settings.SQUAD_CHALLENGE
    if config.ladder is None:
        return None
    rows = board_rows(team.challenge, team)
    return standings.ladder_scores(rows, config.metric, config.ladder)


def _shown(scores: dict, metric: str) -> str:
    value = scores.get(metric)
    return "–" if value is None else f"{value:.4f}"


@require_GET
def board(request):
    """The live public board; after the close, the final board with private scores."""
    config = settings.SQUAD_CHALLENGE
    challenge = Challenge.objects.get()
    closed = final_board_open(challenge, timezone.now())
    rows = board_rows(challenge)
    if closed:
        ranked = standings.final_board(rows, config.metrics, config.final_picks)
        field = "private_scores"
    elif config.ladder is not None:
        ranked = standings.ladder_board(rows, config.metric, config.ladder)
        field = "public_scores"
    else:
        ranked = standings.public_board(rows, config.metrics)
        field = "public_scores"
    # methods stay the teams' own until the close
    sheets = (
        {s.team.name: s for s in FactSheet.objects.select_related("team")}
        if closed
        else {}
    )
    table = [
        {
            "rank": r["rank"],
            "team": r["team"],
            "scores": [_shown(r[field], m) for m in config.metrics],
            "created": r["created"],
            "sheet": sheets.get(r["team"]),
        }
        for r in ranked
    ]
    return _page(request, "board.html", closed=closed, table=table)


@require_GET
def stylesheet(request):
    """The board site's stylesheet, served so that no page needs inline style."""
    response = HttpResponse(CSS + _EXTRA_CSS, content_type="text/css; charset=utf-8")
    response["Cache-Control"] = "max-age=3600"
    return response
