"""The audit log (issue 6): every mutating command appends an encrypted record, hash-chained
per host; `s3vault audit` lists them (JSON lines for a SIEM) and detects a record deleted from
inside or the end of a chain, or rewritten."""

from __future__ import annotations

import json
import os
import shutil
import socket
from pathlib import Path

import pytest

from s3vault.ops.audit import audit_log, record
from tests.conftest import PASSWORD, RepoHandle, RunCli, write_file


def audit(run_cli: RunCli, url: str, *args: str) -> tuple[int, list[dict[str, object]]]:
    done = run_cli("-r", url, "--json", "audit", *args)
    return done.code, [json.loads(line) for line in done.stdout.splitlines()]


def records(lines: list[dict[str, object]]) -> list[dict[str, object]]:
    return [line for line in lines if line["message_type"] == "audit_record"]


def chains(lines: list[dict[str, object]]) -> list[dict[str, object]]:
    return [line for line in lines if line["message_type"] == "audit_chain"]


def record_files(url: str) -> list[Path]:
    return sorted((Path(url) / "audit").glob("*/*"))


def test_mutating_commands_are_recorded_and_chained(
    tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    url = str(tmp_path / "repo")
    init = ("init", "--kdf-cost", "minimum", "--no-recovery-key")
    assert run_cli("-r", url, *init).code == 0
    src = tmp_path / "src"
    write_file(src / "a.txt", b"a" * 1000)
    assert run_cli("-r", url, "backup", str(src), "--tag", "first").code == 0
    write_file(src / "b.txt", os.urandom(5000))
    secret_command = "echo " + PASSWORD
    no_pw = {k: v for k, v in cli_env.items() if k != "S3VAULT_PASSWORD"}
    assert (
        run_cli("-r", url, "--password-command", secret_command, "backup", str(src), env=no_pw).code
        == 0
    )
    assert run_cli("-r", url, "backup", "--dry-run", str(src)).code == 0  # changes nothing
    assert run_cli("-r", url, "snapshots").code == 0  # reads only
    assert run_cli("-r", url, "forget", "--keep-last", "1").code == 0
    env = {**cli_env, "S3VAULT_NEW_PASSWORD": "second"}
    assert run_cli("-r", url, "key", "add", "--kdf-cost", "minimum", env=env).code == 0
    listed = json.loads(run_cli("-r", url, "--json", "key", "list").stdout)
    mine = next(k["id"] for k in listed if k["current"])
    refused = run_cli("-r", url, "key", "remove", mine)  # the key in use: refused, exit 2
    assert refused.code == 2
    assert run_cli("-r", url, "prune").code == 0
    assert run_cli("-r", url, "unlock").code == 0

    code, lines = audit(run_cli, url)
    assert code == 0, lines
    got = records(lines)
    assert [r["operation"] for r in got] == [
        "init",
        "backup",
        "backup",
        "forget",
        "key add",
        "key remove",
        "prune",
        "unlock",
    ]
    assert [r["seq"] for r in got] == list(range(1, 9))
    assert all(r["hostname"] == socket.gethostname() and r["key_id"] for r in got)
    assert got[1]["details"]["snapshot_id"] and got[1]["details"]["files_processed"] == 1
    assert got[3]["details"]["removed"]  # the first snapshot's id
    assert got[5]["exit_code"] == 2 and "--force" in str(got[5]["result"])
    assert "<scrubbed>" in got[2]["arguments"]
    assert PASSWORD not in json.dumps(lines)
    (chain,) = chains(lines)
    assert chain["intact"] is True and chain["records"] == 8
    # the stored records are encrypted: neither the operation nor the host appears in them
    for path in record_files(url):
        raw = path.read_bytes()
        assert b"backup" not in raw and b'"hostname":' not in raw  # (a 2-letter host name
        # could occur in random ciphertext; the JSON key cannot, by chance)
    code, lines = audit(run_cli, url, "--since", "1h", "--host", socket.gethostname())
    assert code == 0 and len(records(lines)) == 8
    code, lines = audit(run_cli, url, "--host", "elsewhere")
    assert code == 0 and records(lines) == []


def test_deleted_or_rewritten_records_break_the_chain(
    tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    url = str(tmp_path / "repo")
    assert run_cli("-r", url, "init", "--kdf-cost", "minimum", "--no-recovery-key").code == 0
    src = tmp_path / "src"
    for i in range(4):
        write_file(src / f"{i}.txt", os.urandom(100))
        assert run_cli("-r", url, "backup", str(src)).code == 0
    files = record_files(url)
    assert len(files) == 5
    saved = tmp_path / "saved"
    shutil.copy(files[2], saved)

    files[2].unlink()  # from inside the chain
    code, lines = audit(run_cli, url)
    (chain,) = chains(lines)
    assert code == 13 and chain["intact"] is False
    assert "record(s) 3 missing (deleted)" in chain["problems"]
    shutil.copy(saved, files[2])
    assert audit(run_cli, url)[0] == 0

    files[2].write_bytes(files[3].read_bytes())  # rewritten: another record's bytes
    code, lines = audit(run_cli, url)
    assert code == 13
    assert any("does not match its name" in p for p in chains(lines)[0]["problems"])  # type: ignore[union-attr]
    shutil.copy(saved, files[2])

    files[4].unlink()  # from the end: only this host's local state can tell
    code, lines = audit(run_cli, url)
    assert code == 13
    assert any("deleted from its end" in p for p in chains(lines)[0]["problems"])  # type: ignore[union-attr]
    assert run_cli("-r", url, "--no-cache", "audit").code == 0  # no local state: undetectable
    # the next record continues after the end this host remembers: the gap stays visible
    assert run_cli("-r", url, "backup", str(src)).code == 0
    code, lines = audit(run_cli, url, "--no-cache")
    assert code == 13
    assert "record(s) 5 missing (deleted)" in chains(lines)[0]["problems"]  # type: ignore[operator]


def test_each_host_has_its_own_chain(
    local_repo: RepoHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = local_repo.open()
    setup_host = socket.gethostname()  # the fixture's init is audited too (ops/audit.py)
    setup_chains = {p.parent.name for p in record_files(local_repo.url)}
    for host in ("web1", "db1", "web1", "web1", "db1"):
        monkeypatch.setattr(socket, "gethostname", lambda host=host: host)
        record(repo, "backup", arguments=["backup", "/srv"], exit_code=0, result="ok")
    report = audit_log(repo)
    chains = {c.hostname: len(c.records) for c in report.chains if c.hostname != setup_host}
    assert chains == {"db1": 2, "web1": 3}
    assert not report.broken
    names = {p.parent.name for p in record_files(local_repo.url)} - setup_chains
    assert len(names) == 2 and not names & {"web1", "db1"}  # host names are keyed hashes
    assert [r.hostname for r in audit_log(repo, host="db1").records] == ["db1", "db1"]


def test_two_runs_appending_at_once_leave_a_chain_that_is_intact(
    tmp_path: Path, run_cli: RunCli
) -> None:
    """Two runs of one host (two users, two cache directories, --no-cache) that append at once
    both see the same end and both write its next number, each linking to the record before.
    `audit` said the log was tampered with (exit 13), for good. Made here without a race: the
    first run's record is set aside while the second appends, then put back."""
    url = str(tmp_path / "repo")
    assert run_cli("-r", url, "init", "--kdf-cost", "minimum", "--no-recovery-key").code == 0
    src = tmp_path / "src"
    write_file(src / "a", b"a")
    assert run_cli("-r", url, "--no-cache", "backup", str(src)).code == 0
    (first,) = [p for p in record_files(url) if p.name.startswith("0000000002-")]
    aside = tmp_path / "aside"
    shutil.move(first, aside)
    assert run_cli("-r", url, "--no-cache", "backup", str(src)).code == 0
    shutil.move(aside, first)
    twos = [p for p in record_files(url) if p.name.startswith("0000000002-")]
    assert len(twos) == 2
    assert run_cli("-r", url, "--no-cache", "backup", str(src)).code == 0  # links to one of them
    code, lines = audit(run_cli, url, "--no-cache")
    (chain,) = chains(lines)
    assert code == 0 and chain["intact"] is True, chain
    assert chain["notes"] == ["record 2 was appended by two runs at once"]
    assert len(records(lines)) == 4  # init, then three backups
    # the one record 3 links to, deleted: that is still a break
    third = next(p for p in record_files(url) if p.name.startswith("0000000003-"))
    linked = [p for p in twos if p.name.split("-")[1] == max(q.name.split("-")[1] for q in twos)]
    linked[0].unlink()
    code, lines = audit(run_cli, url, "--no-cache")
    assert code == 13
    assert "record 3 does not link to record 2" in chains(lines)[0]["problems"]  # type: ignore[operator]
    assert third.exists()


def test_a_damaged_local_chain_state_makes_no_gap(
    tmp_path: Path, run_cli: RunCli, cli_env: dict[str, str]
) -> None:
    """A digit changed in audit-chains.json (the host's cache, on a failing disk) made the
    next record skip numbers: a gap that `audit` reports as deleted records, for good. The file
    carries a keyed MAC now: a damaged one is said and ignored."""
    url = str(tmp_path / "repo")
    assert run_cli("-r", url, "init", "--kdf-cost", "minimum", "--no-recovery-key").code == 0
    src = tmp_path / "src"
    write_file(src / "a", b"a")
    assert run_cli("-r", url, "backup", str(src)).code == 0
    (state,) = Path(cli_env["XDG_CACHE_HOME"]).rglob("audit-chains-*.json")  # its location's
    data = json.loads(state.read_text())
    assert set(data) == {"ends", "mac"}
    (end,) = data["ends"].values()
    end["seq"] += 40  # the damage
    state.write_text(json.dumps(data))
    done = run_cli("-r", url, "backup", str(src))
    assert done.code == 0, done.stderr
    assert f"{state.name} does not check" in done.stderr
    code, lines = audit(run_cli, url)
    (chain,) = chains(lines)
    assert code == 0 and chain["intact"] is True, chain
    assert [r["seq"] for r in records(lines)] == [1, 2, 3]


def test_commands_on_a_byte_copy_leave_no_gap_in_the_original(
    tmp_path: Path, run_cli: RunCli
) -> None:
    """A byte copy of a repository (a DR copy, a replica) has its id: the records this host
    wrote into the copy had moved the end it remembers for the original, whose audit then
    reported records deleted that were never there (exit 13, for good)."""
    url, copy = str(tmp_path / "repo"), str(tmp_path / "copy")
    assert run_cli("-r", url, "init", "--kdf-cost", "minimum", "--no-recovery-key").code == 0
    src = tmp_path / "src"
    write_file(src / "a", b"a")
    assert run_cli("-r", url, "backup", str(src)).code == 0
    shutil.copytree(url, copy)
    for _ in range(2):
        assert run_cli("-r", copy, "backup", str(src)).code == 0
    assert run_cli("-r", url, "backup", str(src)).code == 0
    for where, seqs in ((url, [1, 2, 3]), (copy, [1, 2, 3, 4])):
        code, lines = audit(run_cli, where)
        (chain,) = chains(lines)
        assert code == 0 and chain["intact"] is True, (where, chain)
        assert [r["seq"] for r in records(lines)] == seqs, where


def test_a_deleted_tail_is_found_whatever_the_spelling_of_the_location(
    tmp_path: Path, run_cli: RunCli
) -> None:
    """Chain ends kept by location must not open a hole: the store reached through a link,
    a ``..`` or the first time under a new name still shows the deleted tail, and a record
    written again in the deleted one's place is not taken for it (an attack pass on the
    change, 2026-12-07)."""
    url = tmp_path / "repo"
    assert run_cli("-r", str(url), "init", "--kdf-cost", "minimum", "--no-recovery-key").code == 0
    src = tmp_path / "src"
    write_file(src / "a", b"a")
    for _ in range(2):
        assert run_cli("-r", str(url), "backup", str(src)).code == 0
    (tmp_path / "link").symlink_to(url)
    record_files(str(url))[-1].unlink()  # the tail: record 3
    for spelling in (url, tmp_path / "link", src / ".." / "repo"):
        code, lines = audit(run_cli, str(spelling))
        (chain,) = chains(lines)
        assert code == 13 and chain["intact"] is False, (spelling, chain)
    assert run_cli("-r", str(tmp_path / "link"), "backup", str(src)).code == 0  # a new 3
    code, lines = audit(run_cli, str(url))
    (chain,) = chains(lines)
    assert code == 13 and chain["intact"] is False, chain


def test_a_command_that_exits_13_without_an_error_is_not_recorded_as_interrupted(
    tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    """A restore that lists damaged files and exits 13 (it recorded "interrupted": an attack
    pass, 2026-12-07)."""
    url = str(tmp_path / "repo")
    assert run_cli("-r", url, "init", "--kdf-cost", "minimum", "--no-recovery-key").code == 0
    write_file(tmp_path / "src" / "a.bin", os.urandom(200_000))
    assert run_cli("-r", url, "backup", str(tmp_path / "src")).code == 0
    for pack in Path(url, "data").glob("*/*"):
        body = bytearray(pack.read_bytes())
        body[len(body) // 3] ^= 0xFF
        pack.write_bytes(bytes(body))
    assert run_cli("-r", url, "restore", "latest", "--target", str(tmp_path / "out")).code == 13
    assert run_cli("-r", url, "verify", "--read-data").code == 13
    code, lines = audit(run_cli, url)
    assert code == 0
    got = {r["operation"]: (r["exit_code"], r["result"]) for r in records(lines)}
    assert got["restore"][0] == got["verify"][0] == 13
    assert str(got["restore"][1]).startswith("damage found: 1 not restored"), got
    assert str(got["verify"][1]).startswith("damage found"), got


def test_a_command_that_exits_3_is_recorded_with_what_it_left_out(
    tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    """A backup that could not read a source path, and a restore whose filter matched
    nothing, exit 3: their records said "ok" (an attack pass, 2026-12-07)."""
    url = str(tmp_path / "repo")
    assert run_cli("-r", url, "init", "--kdf-cost", "minimum", "--no-recovery-key").code == 0
    write_file(tmp_path / "src" / "a.txt", b"a")
    gone = str(tmp_path / "not-there")
    assert run_cli("-r", url, "backup", str(tmp_path / "src"), gone).code == 3
    out = str(tmp_path / "out")
    assert run_cli("-r", url, "restore", "latest", "-t", out, "-i", "/nothing").code == 3
    assert run_cli("-r", url, "backup", str(tmp_path / "src")).code == 0
    code, lines = audit(run_cli, url)
    assert code == 0
    got = [(r["operation"], r["exit_code"], str(r["result"])) for r in records(lines)]
    (_, _, partial_backup), (_, _, restored), (_, _, whole) = got[1:]
    assert [(op, exit_code) for op, exit_code, _ in got[1:]] == [
        ("backup", 3),
        ("restore", 3),
        ("backup", 0),
    ]
    assert partial_backup.startswith("1 source problem(s): saved without them (first: ")
    assert gone in partial_backup, partial_backup
    assert restored.startswith("1 warning(s) (first: /: nothing in snapshot "), restored
    assert whole == "ok"
    table = run_cli("-r", url, "audit").stdout.splitlines()
    shown = [line for line in table if " backup " in line or " restore " in line]
    assert "exit 3: 1 source problem(s)" in shown[0] and shown[2].endswith(" ok"), table


@pytest.mark.parametrize("junk", ["0000000000", "0000000007-zz"])
def test_a_junk_name_among_a_hosts_records_leaves_its_log_on(
    tmp_path: Path, run_cli: RunCli, junk: str
) -> None:
    """One object named like a record but without an id (all digits, or digits and junk)
    turned off the host's audit log for good ("the audit record was not written: not an
    object id", exit 0) and made `s3vault audit` fail as a usage error (exit 2): whoever can
    write one object silenced every later record (an attack pass, 2026-12-08)."""
    url = str(tmp_path / "repo")
    assert run_cli("-r", url, "init", "--kdf-cost", "minimum", "--no-recovery-key").code == 0
    src = write_file(tmp_path / "src" / "a", b"a").parent
    assert run_cli("-r", url, "backup", str(src)).code == 0
    (first,) = record_files(url)[1:]
    write_file(first.parent / junk, b"x")
    done = run_cli("-r", url, "backup", str(src))
    assert done.code == 0 and "not written" not in done.stderr, done.stderr
    code, lines = audit(run_cli, url)
    assert code == 0 and chains(lines)[0]["intact"] is True, lines
    assert [r["operation"] for r in records(lines)] == ["init", "backup", "backup"]
