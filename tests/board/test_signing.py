"""Tests for squad.board.signing and squad.board.identity: runs signed by keys.

Signatures are checked against OpenSSH itself (``ssh-keygen -Y sign/verify``) where it
is installed; keys, signers files, and who owns a run on the board.
"""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from squad.board.collect import board_runs
from squad.board.intake import load_runs
from squad.board.leaderboard import leaderboard_table
from squad.board.signing import (
    SIGNATURE_FILE,
    SignatureError,
    key_fingerprint,
    load_key,
    new_key,
    public_key_line,
    read_signers,
    sign_bytes,
    sign_run,
    verify_bytes,
)
from squad.cli import main
from squad.errors import FileProblemError, InvalidInputError
from tests.support.board_runs import file_entry, scored_run, write_honest_runs

SSH_KEYGEN = shutil.which("ssh-keygen")
needs_ssh_keygen = pytest.mark.skipif(
    SSH_KEYGEN is None, reason="OpenSSH's ssh-keygen is not installed"
)


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """Ed25519 keys of three members (as `squad keys new` makes them) and a signers file."""
    folder = tmp_path_factory.mktemp("keys")
    made = {name: load_key(new_key(folder / name)) for name in ("alice", "bob", "eve")}
    signers = folder / "allowed_signers"
    signers.write_text(
        "# the group's members\n"
        + "".join(public_key_line(made[n], n) + "\n" for n in ("alice", "bob"))
    )
    return {"folder": folder, "signers": signers, **made}


def _verify_as_alice(keys, folder: Path, data: bytes) -> subprocess.CompletedProcess:
    """`ssh-keygen -Y verify` of ``data`` against the run folder's signature, as alice."""
    signature = str(folder / SIGNATURE_FILE)
    signers = str(keys["signers"])
    return _ssh_keygen(
        *("-Y", "verify", "-f", signers, "-I", "alice", "-n", "squad-run"),
        *("-s", signature),
        stdin=data,
    )


def _ssh_keygen(*args, stdin: bytes = b"") -> subprocess.CompletedProcess:
    return subprocess.run(
        [SSH_KEYGEN, *args], input=stdin, capture_output=True, check=False
    )


@needs_ssh_keygen
def test_a_signed_run_verifies_with_ssh_keygen(keys, tmp_path):
    """`ssh-keygen -Y verify` accepts the run's signature, and refuses a changed record."""
    folder = scored_run(tmp_path / "run", "aa0000000001", "alice", 0.6)
    sign_run(folder, keys["alice"])
    record = (folder / "record.json").read_bytes()
    good = _verify_as_alice(keys, folder, record)
    assert good.returncode == 0, good.stderr
    assert b'Good "squad-run" signature for alice' in good.stdout
    bad = _verify_as_alice(keys, folder, record.replace(b"alice", b"mallo"))
    assert bad.returncode != 0


@needs_ssh_keygen
@pytest.mark.parametrize("kind", ["ed25519", "ecdsa", "rsa"])
def test_signatures_made_by_ssh_keygen_verify(kind, tmp_path):
    """A member can sign with the SSH key they sign commits with (ssh-keygen -Y sign)."""
    key = tmp_path / f"id_{kind}"
    made = _ssh_keygen("-q", "-t", kind, "-N", "", "-f", str(key))
    assert made.returncode == 0, made.stderr
    message = tmp_path / "record.json"
    message.write_bytes(b'{"run_id": "aa0000000001"}')
    signed = _ssh_keygen(
        "-Y", "sign", "-q", "-n", "squad-run", "-f", str(key), str(message)
    )
    assert signed.returncode == 0, signed.stderr
    armored = (tmp_path / "record.json.sig").read_text()
    public = verify_bytes(armored, message.read_bytes())
    listed = _ssh_keygen("-l", "-f", f"{key}.pub").stdout.decode().split()[1]
    assert key_fingerprint(public) == listed
    with pytest.raises(SignatureError, match="does not match the record"):
        verify_bytes(armored, b'{"run_id": "aa0000000002"}')
    (tmp_path / "record.json.sig").unlink()
    other = _ssh_keygen("-Y", "sign", "-q", "-n", "git", "-f", str(key), str(message))
    assert other.returncode == 0
    with pytest.raises(SignatureError, match="namespace 'git'"):
        verify_bytes((tmp_path / "record.json.sig").read_text(), message.read_bytes())


def test_own_signatures_verify_and_resist_tampering(keys):
    """The signature binds the exact bytes and the namespace."""
    armored = sign_bytes(keys["alice"], b"record")
    assert verify_bytes(armored, b"record")
    for message, text in [
        (b"record ", armored),
        (b"record", armored.replace("A", "B", 1)),
    ]:
        with pytest.raises(SignatureError):
            verify_bytes(text, message)
    with pytest.raises(SignatureError, match="namespace"):
        verify_bytes(sign_bytes(keys["alice"], b"x", namespace="file"), b"x")
    with pytest.raises(SignatureError, match="not an SSH signature"):
        verify_bytes("hello", b"x")


def test_new_key_is_private_and_never_overwritten(tmp_path, monkeypatch):
    """`squad keys new` writes a 0600 key in a 0700 folder and prints its signers line."""
    monkeypatch.setenv("SQUAD_SIGNING_KEY", str(tmp_path / "keys" / "id_ed25519"))
    bad = CliRunner().invoke(main, ["keys", "new", "--name", "stat can\n"])
    assert bad.exit_code == 2 and "cannot be a signers-file principal" in bad.output
    assert not (tmp_path / "keys").exists()  # nothing written for a bad name
    result = CliRunner().invoke(main, ["keys", "new", "--name", "statcan"])
    assert result.exit_code == 0, result.output
    key = tmp_path / "keys" / "id_ed25519"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    line = result.output.splitlines()[-1]
    assert line.startswith("statcan ssh-ed25519 AAAA")
    again = CliRunner().invoke(main, ["keys", "new", "--name", "statcan"])
    assert again.exit_code == 2 and "already exists" in again.output
    shown = CliRunner().invoke(main, ["keys", "show", "--name", "statcan"])
    assert shown.output.strip() == line
    key.chmod(0o644)
    with pytest.raises(FileProblemError, match="readable by others"):
        load_key(key)


@pytest.mark.parametrize(
    ("lines", "names", "problem"),
    [
        (["alice,alice@ons {alice}"], ["alice"], None),
        (['"bob smith" {alice}'], ["bob smith"], None),
        (['alice namespaces="git" {alice}'], [], None),  # not for squad-run
        (['alice namespaces="git,squad-run" {alice}'], ["alice"], None),
        (['alice valid-before="20000101" {alice}'], [], None),  # expired
        (["alice cert-authority {alice}"], [], None),  # left out with a note
        (["alice*", "{alice}"], None, "line 1"),
        (["alice* {alice}"], None, "must be a plain name"),
        (["alice {alice}", "bob {alice}"], None, "already listed for 'alice'"),
        (["alice ssh-ed25519 AAAA!!"], None, "line 1: the base64 key is broken"),
        (["alice bogus=1 {alice}"], None, "unknown option bogus"),
    ],
)
def test_read_signers_takes_git_allowed_signers_lines(
    keys, tmp_path, lines, names, problem
):
    """Principals, options and errors of the allowed-signers format, one line named."""
    key = " ".join(public_key_line(keys["alice"], "x").split()[1:])
    path = tmp_path / "signers"
    path.write_text("\n".join(line.replace("{alice}", key) for line in lines) + "\n")
    if problem is not None:
        with pytest.raises(InvalidInputError, match=problem):
            read_signers(path)
        return
    assert sorted(read_signers(path).names.values()) == names


# ------------------------------------------------------------------ owners on the board
def test_with_signers_a_run_shows_under_its_key_s_name_never_its_own_text(
    keys, tmp_path
):
    """The record says 'alice'; eve's key signed it: shown as unknown key, not ranked;
    bob's key signed a run whose record says 'ons': shown as bob, ranked."""
    scored_run(tmp_path / "a", "aa0000000001", "alice", 0.9, key=keys["eve"])
    scored_run(tmp_path / "b", "bb0000000002", "ons", 0.6, key=keys["bob"], seed=1)
    scored_run(tmp_path / "c", "cc0000000003", "alice", 0.8, seed=2)  # unsigned
    signers = read_signers(keys["signers"])
    table = leaderboard_table(board_runs(tmp_path, signers=signers))
    assert list(table["run_id"]) == ["bb0000000002", "aa0000000001", "cc0000000003"]
    assert table["rank"].tolist()[0] == 1 and table["rank"].isna().tolist()[1:] == [
        True,
        True,
    ]
    assert table["member"].tolist()[0] == "bob"
    assert table["member"].tolist()[1].startswith("(unknown key SHA256:")
    assert table["member"].tolist()[2] == "(unsigned)"
    assert list(table["check"]) == ["verified", "unknown key", "unsigned"]
    assert "alice" not in table["member"].to_string() + table.to_string()
    # Without a signers file: as before, the record's member, every scored run ranked.
    plain = leaderboard_table(tmp_path)
    assert list(plain["member"]) == ["alice", "alice", "ons"]
    assert list(plain["rank"]) == [1, 2, 3]


def test_a_broken_signature_leaves_the_run_out(keys, tmp_path):
    """A record changed after it was signed is left out, naming the folder."""
    folder = scored_run(tmp_path / "a", "aa0000000001", "alice", 0.6, key=keys["alice"])
    record = json.loads((folder / "record.json").read_text())
    record["parameters"]["model"] = "better"
    (folder / "record.json").write_text(json.dumps(record))
    intake = load_runs(tmp_path, signers=read_signers(keys["signers"]))
    assert intake.runs == []
    [left] = intake.rejected
    assert left.line(tmp_path) == (
        "Skipping run folder a: record.json.sig is not a valid signature of "
        "record.json: the signature does not match the record"
    )


def test_sign_run_refuses_a_run_whose_files_changed(keys, tmp_path):
    """A run is never signed over files that differ from its record."""
    folder = scored_run(tmp_path / "a", "aa0000000001", "alice", 0.6)
    (folder / "predictions.parquet").write_bytes(b"changed")
    with pytest.raises(FileProblemError, match="differs from the sha256"):
        sign_run(folder, keys["alice"])
    assert not (folder / SIGNATURE_FILE).exists()


def test_the_copy_signed_by_the_key_s_owner_wins(keys, tmp_path):
    """Alice's signed run, copied with other predictions and a later end time: the
    copy is named and left out; alice's run keeps its row, verified."""
    signers = read_signers(keys["signers"])
    original = scored_run(
        tmp_path / "alice" / "r", "aa0000000001", "alice", 0.7, key=keys["alice"]
    )
    # 1. the copy keeps alice's record and signature; only the predictions differ
    swapped = tmp_path / "copy1" / "r"
    shutil.copytree(original, swapped)
    scored_run(tmp_path / "x", "aa0000000001", "alice", 0.99).joinpath(
        "predictions.parquet"
    ).replace(swapped / "predictions.parquet")
    # 2. the copy's record lists the new predictions, later end time, no signature
    rewritten = tmp_path / "copy2" / "r"
    shutil.copytree(swapped, rewritten)
    record = json.loads((rewritten / "record.json").read_text())
    record["files"]["predictions.parquet"] = file_entry(
        rewritten / "predictions.parquet"
    )
    record["timings"]["end"] = "2027-01-01T00:00:00+00:00"
    (rewritten / "record.json").write_text(json.dumps(record))
    (rewritten / SIGNATURE_FILE).unlink()
    shutil.rmtree(tmp_path / "x")
    for given in (signers, None):
        runs = board_runs(tmp_path, signers=given, warn=False)
        assert [(r.folder, r.check) for r in runs.runs] == [(original, "verified")]
        lines = sorted(item.line(tmp_path) for item in runs.rejected)
        assert lines[0] == (
            "Skipping run folder copy1/r: predictions.parquet differs from the sha256 "
            "record.json gives it"
        )
        assert lines[1].startswith("Skipping run folder copy2/r: run id aa0000000001 ")
        assert "alice/r" in lines[1] and "left out" in lines[1]


def test_same_predictions_under_two_identities_are_flagged_and_fail_the_check(
    keys, tmp_path
):
    """Eve re-signs a copy of bob's run with her own key: both rows are flagged."""
    signers_file = tmp_path / "signers"
    signers_file.write_text(
        keys["signers"].read_text() + public_key_line(keys["eve"], "eve") + "\n"
    )
    source = scored_run(
        tmp_path / "runs" / "bob" / "r", "bb0000000001", "bob", 0.6, key=keys["bob"]
    )
    copy = tmp_path / "runs" / "eve" / "r"
    shutil.copytree(source, copy)
    sign_run(copy, keys["eve"])
    signers = read_signers(signers_file)
    table = leaderboard_table(board_runs(tmp_path / "runs", signers=signers))
    assert sorted(table["member"]) == ["bob", "eve"]
    assert all(
        f.startswith("same predictions as run bb0000000001 by ") for f in table["flags"]
    )
    result = CliRunner().invoke(
        main, ["board", "check", str(tmp_path / "runs"), "--signers", str(signers_file)]
    )
    assert result.exit_code == 1
    flagged = [line for line in result.stderr.splitlines() if "is flagged" in line]
    assert (
        len(flagged) == 2
        and "same predictions as run bb0000000001 by bob" in flagged[1]
    )


def test_look_alike_names_in_the_signers_file_fail_the_check(keys, tmp_path):
    """'alice' and 'аlice' (Cyrillic а) for two keys: the check names both."""
    signers_file = tmp_path / "signers"
    signers_file.write_text(
        public_key_line(keys["alice"], "alice")
        + "\n"
        + public_key_line(keys["eve"], "\u0430lice")
        + "\n"
    )
    write_honest_runs(tmp_path / "runs", key=keys["alice"])
    scored_run(
        tmp_path / "runs" / "e", "ee0000000001", "x", 0.5, seed=9, key=keys["eve"]
    )
    result = CliRunner().invoke(
        main, ["board", "check", str(tmp_path / "runs"), "--signers", str(signers_file)]
    )
    assert result.exit_code == 1
    assert "the names 'alice', 'аlice' look alike" in result.stderr
    runs = board_runs(tmp_path / "runs", signers=read_signers(signers_file))
    assert {r.member for r in runs.runs} == {"alice", "\u0430lice"}
    assert all(any("looks like" in f for f in r.flags) for r in runs.runs)


def test_submit_signs_with_the_member_s_key(keys, tmp_path, monkeypatch):
    """`squad submit` signs the run it writes with $SQUAD_SIGNING_KEY's key."""
    from tests.support.board_runs import soc_predictions

    soc_predictions(0.7).to_csv(tmp_path / "p.csv", index=False)
    monkeypatch.setenv("SQUAD_SIGNING_KEY", str(keys["folder"] / "bob"))
    result = CliRunner().invoke(
        main,
        ["submit", str(tmp_path / "p.csv"), "--member", "someone", "--model-name", "m"]
        + ["--out", str(tmp_path / "runs")],
    )
    assert result.exit_code == 0, result.output
    [run] = load_runs(tmp_path / "runs", signers=read_signers(keys["signers"])).runs
    assert run.member == "bob"
    monkeypatch.setenv("SQUAD_SIGNING_KEY", str(tmp_path / "no-key"))
    unsigned = CliRunner().invoke(
        main,
        ["submit", str(tmp_path / "p.csv"), "--member", "other", "--model-name", "m"]
        + ["--out", str(tmp_path / "more")],
    )
    assert unsigned.exit_code == 0 and "Note: unsigned" in unsigned.output
    assert not list((tmp_path / "more").rglob(SIGNATURE_FILE))


@pytest.mark.slow
@needs_ssh_keygen
def test_squad_run_signs_every_run_and_its_notebook(keys, tmp_path):
    """A real sweep: each run's record lists the executed notebook, and the signature
    over the record verifies with ssh-keygen."""
    from pathlib import Path

    notebook = tmp_path / "ok.ipynb"
    shutil.copy(
        Path(__file__).parents[1] / "fixtures" / "notebooks" / "ok.ipynb", notebook
    )
    result = CliRunner().invoke(
        main,
        ["run", str(notebook), "-p", "x", "1", "-p", "x", "2", "--jobs", "1"]
        + ["--out", str(tmp_path / "runs"), "--no-progress", "--member", "alice"]
        + ["--key", str(keys["folder"] / "alice")],
    )
    assert result.exit_code == 0, result.output
    records = sorted((tmp_path / "runs").rglob("record.json"))
    assert len(records) == 2
    for record in records:
        data = json.loads(record.read_text())
        assert data["files"]["ok.ipynb"] == file_entry(record.parent / "ok.ipynb")
        verified = _verify_as_alice(keys, record.parent, record.read_bytes())
        assert verified.returncode == 0, verified.stderr
    runs = load_runs(tmp_path / "runs", signers=read_signers(keys["signers"])).runs
    assert {r.member for r in runs} == {"alice"}
