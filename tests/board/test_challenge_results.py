"""Challenge results files on the static site: the format's checks and the pages.

A results file reaches the board's maintainer from someone else: every test here hands
``squad board build --challenge`` a file written by hand, some of them hostile.
"""

from __future__ import annotations

import copy
import json
import re
from html.parser import HTMLParser

import pytest
from click.testing import CliRunner

from squad.board.challenge_results import read_results
from squad.board.site import build_site
from squad.cli import main
from squad.errors import InvalidInputError
from tests.support.board_runs import write_honest_runs

SHA = "ab" * 32
SCRIPT = "<script>alert(1)</script>"


def _results(**changes):
    """A tiny results file's content: two teams, the second with a fact sheet."""
    data = {
        "format": "squad-challenge-results",
        "version": 1,
        "title": "Spring coding",
        "dataset": "soc2010",
        "protocol": "",
        "metrics": ["accuracy", "f1_macro"],
        "private_sha256": SHA,
        "n_public": 600,
        "n_private": 1400,
        "closed_at": "2026-03-01T12:00:00+00:00",
        "teams": [
            {
                "rank": 1,
                "team": "red",
                "private_scores": {"accuracy": 0.91, "f1_macro": 0.8},
                "public_scores": {"accuracy": 0.9, "f1_macro": 0.79},
                "n_submissions": 4,
            },
            {
                "rank": 2,
                "team": "green",
                "private_scores": {"accuracy": 0.5, "f1_macro": 0.4},
                "public_scores": {"accuracy": 0.55, "f1_macro": 0.45},
                "n_submissions": 1,
                "method": "tf-idf and a linear SVM",
                "code_url": "https://example.org/green/svm",
            },
        ],
    }
    data.update(changes)
    return data


def _write(path, data):
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _tags(page: str) -> list[tuple[str, dict[str, str]]]:
    """Every start tag of a page with its attributes, as a browser's parser sees them."""
    found: list[tuple[str, dict[str, str]]] = []

    class Parser(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append((tag, {k: v or "" for k, v in attrs}))

    Parser().feed(page)
    return found


def _build(tmp_path, *results):
    runs = tmp_path / "runs"
    runs.mkdir(exist_ok=True)
    return CliRunner().invoke(
        main,
        ["board", "build", str(runs), "--out", str(tmp_path / "site"), "--no-cache"]
        + [arg for path in results for arg in ("--challenge", str(path))],
    )


def test_build_site_links_a_page_per_challenge_from_the_index(tmp_path):
    """The index lists the challenge; its page shows the final board and the digest."""
    write_honest_runs(tmp_path / "runs")
    path = _write(tmp_path / "results.json", _results())
    result = build_site(tmp_path / "runs", tmp_path / "site", challenges=[path])
    assert result.challenges == 1 and result.tasks == 1
    index = (tmp_path / "site" / "index.html").read_text()
    assert "<h2>Tasks</h2>" in index and "<h2>Challenges</h2>" in index
    (href,) = re.findall(r'href="(challenges/[^"]+)">Spring coding</a>', index)
    assert re.fullmatch(r"challenges/spring-coding-[0-9a-f]{8}\.html", href)
    page = (tmp_path / "site" / href).read_text()
    assert "<h1>Challenge Spring coding</h1>" in page
    headers = re.findall(r"<th[^>]*>([^<]+)</th>", page)
    assert headers[:4] == ["rank", "team", "accuracy", "f1_macro"]
    assert "public accuracy" in headers and "method" in headers and "code" in headers
    rows = re.findall(r"<tr><td>(\d)</td><td class=\"text\">(\w+)</td>", page)
    assert rows == [("1", "red"), ("2", "green")]
    assert "<td>0.9100</td>" in page and "<td>0.4000</td>" in page
    assert f"<code>{SHA}</code>" in page and "2026-03-01 12:00 UTC" in page
    links = [a["href"] for tag, a in _tags(page) if tag == "a"]
    assert links == ["../index.html", "https://example.org/green/svm"]
    assert "tf-idf and a linear SVM" in page


def test_stale_challenge_pages_are_removed_and_build_works_without(tmp_path):
    """A build with no --challenge keeps no challenge page and no Challenges section."""
    path = _write(tmp_path / "results.json", _results())
    first = _build(tmp_path, path)
    assert first.exit_code == 0, first.output
    assert "1 challenge(s)" in first.output
    assert len(list((tmp_path / "site" / "challenges").iterdir())) == 1
    second = _build(tmp_path)
    assert second.exit_code == 0, second.output
    assert list((tmp_path / "site" / "challenges").iterdir()) == []
    assert "Challenges" not in (tmp_path / "site" / "index.html").read_text()


def test_hostile_text_is_escaped_and_only_http_code_urls_are_links(tmp_path):
    """Script tags in names and methods show as text; a javascript: URL is no link."""
    data = _results(title=f"Evil {SCRIPT}", dataset='"><img src=x onerror=alert(1)>')
    red, green = data["teams"]
    red.update(team=f"<b>red</b>{SCRIPT}", method=f"{SCRIPT}\nline two")
    red["code_url"] = "javascript:alert(document.cookie)"
    green.update(team="green\u202eder", code_url='https://x.org/" onmouseover="a()')
    path = _write(tmp_path / "results.json", data)
    result = _build(tmp_path, path)
    assert result.exit_code == 0, result.output
    index = (tmp_path / "site" / "index.html").read_text()
    (page,) = (tmp_path / "site" / "challenges").iterdir()
    html = page.read_text()
    for text in (index, html):
        assert "<script" not in text and "<img" not in text and "<b>" not in text
        tags = _tags(text)
        assert {tag for tag, _ in tags} <= {
            *"html head meta title style body nav a h1 h2 p table thead tbody tr".split(),
            *"th td dl dt dd code".split(),
        }
        assert all(not k.startswith("on") for _, attrs in tags for k in attrs)
    assert "&lt;b&gt;red&lt;/b&gt;&lt;script&gt;" in html
    hrefs = [a["href"] for tag, a in _tags(html) if tag == "a"]
    assert hrefs == ["../index.html"]
    assert "javascript:alert(document.cookie)</td>" in html
    assert "green\\u202eder" in html and "\u202e" not in html
    assert "line two" in html


def _refused(tmp_path, data=None, *, raw=None):
    path = tmp_path / "results.json"
    if raw is None:
        _write(path, data)
    else:
        path.write_bytes(raw)
    result = _build(tmp_path, path)
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1, result.output
    assert f"Challenge results file '{path}' is refused: " in result.output
    assert not (tmp_path / "site" / "index.html").exists()
    return result.output


def _team(**changes):
    team = copy.deepcopy(_results()["teams"][0])
    team.update(changes)
    return team


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_results(version=2), "it is of version 2, and this kit reads version 1 only"),
        (_results(version="1"), "it is of version '1'"),
        (_results(format="other"), "its format is 'other'"),
        ([1, 2], "it is not a JSON object"),
        (_results(title=["x"]), "at title: ['x'] is not of type 'string'"),
        (_results(title="t" * 201), "at title: "),
        (_results(teams=[_team(team="x" * 10_000)]), "at teams/0/team: "),
        (_results(teams=[_team(rank="1")]), "at teams/0/rank: '1' is not of type"),
        (_results(teams=[_team(rank=True)]), "at teams/0/rank: True is not of type"),
        (_results(teams=[_team(n_submissions=-1)]), "at teams/0/n_submissions: "),
        (_results(teams=[_team(code_url=5)]), "at teams/0/code_url: 5 is not of"),
        (_results(teams=[_team(extra=1)]), "'extra' was unexpected"),
        (_results(extra=1), "'extra' was unexpected"),
        (_results(teams=[_team(rank=2)]), "at teams/0: rank 2 where 1 was expected"),
        (_results(teams=[_team(), _team(rank=2)]), "the team name appears twice"),
        (
            _results(teams=[_team(private_scores={"recall": 0.5})]),
            "'recall' is not one of metrics",
        ),
        (_results(closed_at="yesterday, noon"), "closed_at is not an ISO 8601 time"),
        (_results(closed_at="2026-03-01T12:00:00"), "with its time zone"),
        (_results(private_sha256="AB" * 32), "at private_sha256: "),
        (_results(teams=[_team(team="x\ud800")]), "teams/0/team: a lone surrogate"),
    ],
)
def test_a_wrong_results_file_is_refused_in_one_line(tmp_path, data, message):
    """Wrong types, lengths, versions and meanings: one line naming file and problem."""
    assert message in _refused(tmp_path, data)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            json.dumps(_results()).replace("0.91", "NaN").encode(),
            "NaN is not a number JSON allows",
        ),
        (json.dumps(_results()).replace("0.91", "1e999").encode(), "is not finite"),
        (b'{"format": 1, "format": 2}', "appears twice"),
        (b"\xff\xfe", "it is not UTF-8"),
        (b"{" * 100_000, "not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ],
)
def test_a_results_file_that_is_not_finite_json_is_refused(tmp_path, raw, message):
    """NaN, infinities, duplicate keys, other encodings and deep nesting are refused."""
    assert message in _refused(tmp_path, raw=raw)


def test_a_huge_results_file_is_refused_without_being_read(tmp_path, monkeypatch):
    """A file over the limit is refused by its size."""
    from squad.board import challenge_results

    monkeypatch.setattr(challenge_results, "RESULTS_MAX_BYTES", 1000)
    path = _write(tmp_path / "big.json", _results(title="t" * 2000))
    with pytest.raises(InvalidInputError, match="is larger than 1,000 bytes"):
        read_results(path)


def test_the_same_challenge_twice_is_refused(tmp_path):
    """Two results files of one challenge would share a page: refused."""
    first = _write(tmp_path / "a.json", _results())
    second = _write(tmp_path / "b.json", _results())
    result = _build(tmp_path, first, second)
    assert result.exit_code == 2
    assert "are of the same challenge" in result.output
