"""The challenge site through Django's test client, on a real SQLite file.

The checks an attacker would try: read the labels from any route, pass the caps, submit
for another team, read private scores early, inject HTML, skip CSRF, guess a token.
"""

from __future__ import annotations

import csv
import io
import zipfile

import pytest

from tests.support.challenges import (
    EVIL_TEAM,
    chmod_state,
    close_challenge,
    fetch_every_route,
    held_test_split,
    predictions_csv,
    score_queued,
    upload,
)


def _submit(client, name="p.csv", content=None, **extra):
    content = predictions_csv() if content is None else content
    return client.post("/submit/", {"file": upload(name, content), **extra})


def _team_id(name):
    from squad.challenges.models import Team

    return Team.objects.get(name=name).pk


def test_state_folder_and_sheet_are_private(site):
    """The state folder is 0700; the accounts sheet 0600; passwords stored hashed."""
    from django.contrib.auth.models import User
    from django.db import connection

    assert connection.vendor == site.database

    from squad.challenges.models import ApiToken

    assert chmod_state(site.state) == 0o700
    sheets = list(site.state.glob("accounts-*.csv"))
    assert sheets and all(s.stat().st_mode & 0o777 == 0o600 for s in sheets)
    alice = User.objects.get(username="alice")
    assert alice.password.startswith("pbkdf2_sha256$")
    assert site.credentials["alice"]["password"] not in alice.password
    digests = set(ApiToken.objects.values_list("digest", flat=True))
    assert site.token("alice") not in digests and len(digests) == 5


def test_submit_is_scored_on_both_parts(fresh):
    """A perfect file scores 1.0 public and private; a wrong one less on some part."""
    from squad.challenges.models import Submission

    client = fresh.client("alice")
    assert _submit(client).status_code == 302
    assert _submit(client, content=predictions_csv(wrong=2000)).status_code == 302
    assert score_queued(fresh) == 2
    perfect, wrong = Submission.objects.order_by("id")
    assert (perfect.status, perfect.public_score, perfect.private_score) == (
        "scored",
        1.0,
        1.0,
    )
    assert wrong.public_score < 1.0 and wrong.private_score < 1.0
    assert perfect.team.name == "red" and perfect.user.username == "alice"
    assert set(perfect.public_scores) == {"accuracy", "f1_macro"}


def _private_pairs(n=40):
    from django.conf import settings

    from squad.challenges.labels import held_labels
    from squad.challenges.models import Challenge  # noqa: F401 - Django is set up

    held = held_labels(settings.SQUAD_CHALLENGE)
    private = held.labels[~held.public]
    return list(zip(private.index[:n], private.to_numpy()[:n], strict=True)), held


def test_no_route_gives_a_participant_the_labels(fresh):
    """Every route, fetched by a participant with every id we know, shows no label."""
    alice = fresh.client("alice")
    dave = fresh.client("dave")
    _submit(alice)
    _submit(dave, content=predictions_csv(wrong=100))
    score_queued(fresh)
    pairs, held = _private_pairs()
    bodies = fetch_every_route(alice, fresh.token("alice"))
    assert len(bodies) > 20
    texts = bodies[("/data/texts.csv", False)]
    assert texts[0] == 200
    for (path, _), (status, body) in bodies.items():
        for key, label in pairs:
            for shape in (f"{key},{label}", f"{key};{label}", f'"{label}"'):
                assert shape not in body, (path, status, shape)
        assert "soc2010_" not in body and "unit_group_title" not in body, path
    table = list(csv.DictReader(io.StringIO(texts[1])))
    assert len(table) == len(held.labels)
    labels = dict(zip(held.labels.index, held.labels.to_numpy(), strict=True))
    for column in table[0]:
        same = sum(row[column] == labels[row["record_id"]] for row in table)
        assert same < len(table) / 10, column
    assert "record_id" in table[0] and "title" in table[0]


def test_private_digest_is_published(fresh):
    """The overview page shows the sha256 of the private labels."""
    from squad.challenges.labels import held_labels, private_digest

    digest = private_digest(held_labels(fresh.config))
    assert digest in fresh.client().get("/").content.decode()


def test_caps_refuse_and_failed_files_do_not_count(fresh):
    """3 a day: the 4th is refused (429); failed files free their slot."""
    from squad.challenges.models import Submission

    client = fresh.client("alice")
    bad = b"record_id,wrong\n1,2\n"
    for _ in range(2):
        assert _submit(client, name="bad.csv", content=bad).status_code == 302
    score_queued(fresh)
    failed = Submission.objects.filter(status="failed")
    assert failed.count() == 2 and not any(failed.values_list("counted", flat=True))
    assert "missing column 'predicted'" in failed.first().error
    for _ in range(3):
        assert _submit(client).status_code == 302
    refused = _submit(client)
    assert refused.status_code == 429
    assert b"has used its submissions" in refused.content
    bob = fresh.client("bob")  # the same team: the same cap
    assert _submit(bob).status_code == 429
    api = fresh.client().post(
        "/api/submissions/",
        {"file": upload("p.csv", predictions_csv())},
        HTTP_AUTHORIZATION=f"Bearer {fresh.token('bob')}",
    )
    assert api.status_code == 429
    assert Submission.objects.filter(team__name="red", counted=True).count() == 3


def test_total_cap_holds_across_days(fresh):
    """5 in all: earlier days' submissions count toward the total."""
    import datetime as dt

    from squad.challenges.models import Submission

    client = fresh.client("dave")
    for _ in range(3):
        assert _submit(client).status_code == 302
    Submission.objects.update(created=dt.datetime(2021, 1, 1, tzinfo=dt.UTC))
    for _ in range(2):
        assert _submit(client).status_code == 302
    assert _submit(client).status_code == 429


def test_organiser_reset_frees_the_caps(fresh):
    """After the organiser's reset the team may submit again; scores are kept."""
    client = fresh.client("alice")
    for _ in range(3):
        _submit(client)
    assert _submit(client).status_code == 429
    organiser = fresh.client("organiser")
    assert organiser.post(f"/console/reset/{_team_id('red')}/").status_code == 302
    assert _submit(client).status_code == 302


def test_team_comes_from_the_login_never_the_form(fresh):
    """A crafted team field or another team's id changes nothing; others' rows are 404."""
    from squad.challenges.models import Submission

    alice = fresh.client("alice")
    green = _team_id("green")
    response = _submit(alice, team=str(green), team_id=str(green), user="dave")
    assert response.status_code == 302
    row = Submission.objects.get()
    assert (row.team.name, row.user.username) == ("red", "alice")
    dave_api = fresh.client().get(
        f"/api/submissions/{row.pk}/",
        HTTP_AUTHORIZATION=f"Bearer {fresh.token('dave')}",
    )
    assert dave_api.status_code == 404
    own = fresh.client().get(
        f"/api/submissions/{row.pk}/",
        HTTP_AUTHORIZATION=f"Bearer {fresh.token('bob')}",
    )
    assert own.status_code == 200 and own.json()["team"] == "red"
    api = fresh.client().post(
        "/api/submissions/",
        {"file": upload("p.csv", predictions_csv()), "team": str(green)},
        HTTP_AUTHORIZATION=f"Bearer {fresh.token('alice')}",
    )
    assert api.status_code == 201 and api.json()["team"] == "red"
    assert fresh.client("dave").get("/team/").content.count(b"p.csv") == 0


def test_private_scores_hidden_until_close(fresh):
    """Before the close no page or API shows a private score; after, the final board."""
    from squad.challenges.models import Submission

    alice = fresh.client("alice")
    _submit(alice, content=predictions_csv(wrong=1500))
    score_queued(fresh)
    row = Submission.objects.get()
    private = f"{row.private_score:.4f}"
    assert f"{row.public_score:.4f}" != private
    token = {"HTTP_AUTHORIZATION": f"Bearer {fresh.token('alice')}"}
    pages = [alice.get(p).content.decode() for p in ("/board/", "/team/", "/")]
    api = alice.get("/api/submissions/", **token).json()["submissions"][0]
    assert all(private not in page for page in pages)
    assert "private_score" not in api
    assert "Public board" in pages[0]
    close_challenge()
    board = alice.get("/board/").content.decode()
    assert "Final board" in board and private in board
    assert alice.get("/api/submissions/", **token).json()["submissions"][0][
        "private_score"
    ] == pytest.approx(row.private_score)


def test_html_in_team_and_file_names_is_escaped(fresh):
    """A team named with HTML and a file named with a script show as text."""
    carol = fresh.client("carol")
    name = '<img src=x onerror="alert(1)">.csv'
    assert _submit(carol, name=name).status_code == 302
    score_queued(fresh)
    pages = [carol.get("/team/"), carol.get("/board/")]
    pages.append(fresh.client("organiser").get("/console/"))
    for page in pages:
        body = page.content.decode()
        assert EVIL_TEAM not in body and "<img src=x" not in body
        assert "&lt;b&gt;blue&lt;/b&gt;" in body
        assert "<script" not in body
        assert "script-src" not in page["Content-Security-Policy"]
        assert "default-src 'none'" in page["Content-Security-Policy"]


def test_csrf_missing_is_refused(fresh):
    """Forms without the CSRF token answer 403, logged in or not."""
    from django.contrib.auth.models import User

    client = fresh.client(enforce_csrf_checks=True)
    client.force_login(User.objects.get(username="alice"))
    assert _submit(client).status_code == 403
    assert client.post("/team/picks/", {"pick": "1"}).status_code == 403
    assert client.post("/logout/").status_code == 403
    anonymous = fresh.client(enforce_csrf_checks=True)
    login = {"username": "alice", "password": fresh.credentials["alice"]["password"]}
    assert anonymous.post("/login/", login).status_code == 403


@pytest.mark.parametrize("header", ["", "Bearer nope", "Token x", "Bearer "])
def test_api_without_a_valid_token_is_401(fresh, header):
    """A missing or wrong token is 401, and nothing is queued."""
    from squad.challenges.models import Submission

    extra = {"HTTP_AUTHORIZATION": header} if header else {}
    client = fresh.client()
    posted = client.post(
        "/api/submissions/", {"file": upload("p.csv", predictions_csv())}, **extra
    )
    assert posted.status_code == 401
    assert client.get("/api/submissions/", **extra).status_code == 401
    assert not Submission.objects.exists()


def test_login_form_logs_in(fresh):
    """The right password logs in through the form; the session opens the team page."""
    client = fresh.client("alice", form=True)
    assert b"Team red" in client.get("/team/").content


def test_login_is_rate_limited(fresh):
    """After 5 wrong passwords even the right one is refused for a while."""
    client = fresh.client()
    for _ in range(5):
        wrong = client.post("/login/", {"username": "bob", "password": "guess"})
        assert wrong.status_code == 401
    right = {"username": "bob", "password": fresh.credentials["bob"]["password"]}
    refused = client.post("/login/", right)
    assert refused.status_code == 429
    assert fresh.client().post(
        "/login/", {**right, "username": "alice"}
    ).status_code in (
        401,
        429,
    )


def test_console_is_for_organisers_only(fresh):
    """Participants get 403 from the console; the organiser gets the queue and a zip."""
    alice = fresh.client("alice")
    _submit(alice)
    for path in ("/console/", "/console/submissions.zip"):
        assert alice.get(path).status_code == 403
    assert alice.post("/console/rescore/").status_code == 403
    assert fresh.client().get("/console/").status_code == 302  # to the login page
    organiser = fresh.client("organiser")
    assert b"queued" in organiser.get("/console/").content
    archive = zipfile.ZipFile(
        io.BytesIO(organiser.get("/console/submissions.zip").content)
    )
    assert [n.split("/")[1] for n in archive.namelist()] == [
        n.split("/")[1] for n in archive.namelist() if n.endswith("-p.csv")
    ]
    assert archive.read(archive.namelist()[0]) == predictions_csv()


def test_rescore_and_restart_requeue(fresh):
    """Rescore queues every row again; rows left 'scoring' are queued at restart."""
    from squad.challenges.models import Submission
    from squad.challenges.worker import claim_next, requeue_unfinished

    _submit(fresh.client("alice"))
    score_queued(fresh)
    fresh.client("organiser").post("/console/rescore/")
    assert Submission.objects.get().status == "queued"
    claimed = claim_next()
    assert claimed.status == "scoring" and claim_next() is None
    assert requeue_unfinished() == 1
    assert score_queued(fresh) == 1
    row = Submission.objects.get()
    assert (row.status, row.n_scorings, row.public_score) == ("scored", 3, 1.0)


def test_organiser_scores_a_stuck_submission_again(fresh):
    """A row a hung worker left 'scoring' is queued again from the console, by an
    organiser only, and scored once more from its file."""
    from squad.challenges.models import Submission
    from squad.challenges.worker import claim_next

    _submit(fresh.client("alice"))
    stuck = claim_next()  # a worker took it and never answered
    assert stuck.status == "scoring"
    console = fresh.client("organiser").get("/console/").content.decode()
    assert f'action="/console/rerun/{stuck.pk}/"' in console
    for participant in ("alice", "dave"):
        refused = fresh.client(participant).post(f"/console/rerun/{stuck.pk}/")
        assert refused.status_code in (302, 403)
        assert Submission.objects.get().status == "scoring"
    answer = fresh.client("organiser").post(f"/console/rerun/{stuck.pk}/")
    assert answer.status_code == 302
    assert Submission.objects.get().status == "queued"
    assert score_queued(fresh) == 1
    row = Submission.objects.get()
    assert (row.status, row.n_scorings, row.public_score) == ("scored", 2, 1.0)


def test_final_picks_choose_the_final_submission(fresh):
    """A team's pick stands on the final board even when its public score is lower."""
    from squad.challenges.models import Submission

    alice = fresh.client("alice")
    _submit(alice)
    _submit(alice, content=predictions_csv(wrong=3000))
    score_queued(fresh)
    weaker = Submission.objects.order_by("public_score").first()
    assert alice.post("/team/picks/", {"pick": [str(weaker.pk)]}).status_code == 302
    other = Submission.objects.exclude(pk=weaker.pk).get()
    too_many = alice.post("/team/picks/", {"pick": [str(weaker.pk), str(other.pk)]})
    assert too_many.status_code == 400
    dave = fresh.client("dave")
    _submit(dave)
    score_queued(fresh)
    stolen = dave.post("/team/picks/", {"pick": [str(weaker.pk)]})
    assert stolen.status_code == 400
    close_challenge()
    board = alice.get("/board/").content.decode()
    assert f"{weaker.private_score:.4f}" in board


def test_upload_limits(fresh):
    """Wrong kinds of file and closed phases are refused."""
    client = fresh.client("alice")
    assert _submit(client, name="p.exe").status_code == 400
    close_challenge()
    assert _submit(client).status_code == 403
    assert len(held_test_split()) > 1000


def test_upload_over_the_size_limit_is_413(fresh, monkeypatch):
    """A file larger than max_upload_mb is refused before it is queued."""
    import dataclasses

    from django.conf import settings

    from squad.challenges.models import Submission

    small = dataclasses.replace(settings.SQUAD_CHALLENGE, max_upload_mb=0.01)
    monkeypatch.setattr(settings, "SQUAD_CHALLENGE", small)
    response = _submit(fresh.client("alice"))
    assert response.status_code == 413
    assert not Submission.objects.exists()


def test_body_over_the_limit_is_refused_before_it_is_read(fresh):
    """A Content-Length over the limit is 413 before Django parses the upload."""
    from django.test import RequestFactory

    from squad.challenges.intake import Refused, check_body_size

    big = RequestFactory().post("/submit/", CONTENT_LENGTH=str(22 * 1024 * 1024))
    with pytest.raises(Refused, match="larger than 20 MB") as info:
        check_body_size(big, fresh.config)
    assert info.value.status == 413
    small = RequestFactory().post("/submit/", CONTENT_LENGTH="1000")
    check_body_size(small, fresh.config)


def test_simultaneous_uploads_cannot_pass_the_cap(fresh):
    """Eight uploads at once for one team: exactly the daily cap (3) is accepted."""
    import threading

    from django.db import connection

    from squad.challenges.models import Submission

    barrier = threading.Barrier(8)
    statuses = []

    def send(user):
        try:
            client = fresh.client()
            barrier.wait(timeout=60)
            response = client.post(
                "/api/submissions/",
                {"file": upload("p.csv", predictions_csv())},
                HTTP_AUTHORIZATION=f"Bearer {fresh.token(user)}",
            )
            statuses.append(response.status_code)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=send, args=("alice" if i % 2 else "bob",))
        for i in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(statuses) == [201] * 3 + [429] * 5
    assert Submission.objects.filter(team__name="red").count() == 3


def test_committed_migrations_match_the_models(site):
    """`makemigrations --check` finds nothing to write: the migrations are committed."""
    from django.core.management import call_command

    call_command("makemigrations", "challenges", "--check", "--dry-run", verbosity=0)
