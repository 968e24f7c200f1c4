"""The challenge server's routes."""

from __future__ import annotations

from django.urls import path

from squad.challenges import api, console, hub_login, views

__all__ = ["urlpatterns"]

urlpatterns = [
    path("", views.overview, name="overview"),
    path("login/", views.login_view, name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("hub/login/", hub_login.start, name="hub-login"),
    path("oauth_callback", hub_login.callback, name="hub-callback"),
    path("data/", views.data, name="data"),
    path("data/texts.csv", views.texts, name="texts"),
    path("submit/", views.submit, name="submit"),
    path("team/", views.team, name="team"),
    path("team/picks/", views.picks, name="picks"),
    path("team/factsheet/", views.factsheet, name="factsheet"),
    path("board/", views.board, name="board"),
    path("style.css", views.stylesheet, name="style"),
    path("console/", console.console, name="console"),
    path("console/reset/<int:team_id>/", console.reset_caps, name="reset"),
    path("console/rescore/", console.rescore, name="rescore"),
    path("console/rerun/<int:submission_id>/", console.rerun, name="rerun"),
    path("console/submissions.zip", console.download_all, name="download-all"),
    path("api/submissions/", api.submissions, name="api-submissions"),
    path("api/submissions/<int:submission_id>/", api.submission, name="api-submission"),
]
