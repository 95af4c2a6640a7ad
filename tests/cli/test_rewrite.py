"""s3vault rewrite (issue 17): remove paths from existing snapshots, as restic's rewrite.

A secret backed up by mistake leaves the snapshots (--exclude, --exclude-file: backup's
pattern rules), and with --forget plus a prune the repository: its bytes are in no pack
afterwards. --dry-run says what would be removed and writes nothing; the rewritten snapshot
is tagged ``rewrite`` and names its original; a kill at any point leaves every snapshot whole
and a rerun finishes; a snapshot with an unreadable tree is not rewritten (exit 13)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import boto3
import pytest

from s3vault import RepoOptions, open_repository
from s3vault.format.layout import ObjectKind, object_name
from s3vault.format.packfile import BlobType
from tests.cli.test_deep_trees import make_deep
from tests.cli.test_read_only import ReadOnlyStore, local_store  # noqa: F401 - fixture
from tests.cli.test_s3 import s3_env
from tests.conftest import PASSWORD, RunCli, write_file
from tests.timetravel import TimeTravel
from tests.trees import remove_deep

SECRET = b"AKIA-very-secret-key-0123456789 " * 64


def lines(stdout: str) -> list[dict[str, object]]:
    return [json.loads(x) for x in stdout.splitlines() if x.strip()]


def files(root: str) -> list[str]:
    """Every file of a local repository with its size and modification time."""
    return sorted(
        f"{p.relative_to(root)} {p.stat().st_size} {p.stat().st_mtime_ns}"
        for p in Path(root).rglob("*")
        if p.is_file()
    )


def listed(
    run_cli: RunCli, repo: str, *args: str, env: dict[str, str] | None = None
) -> dict[str, dict[str, object]]:
    done = run_cli("-r", repo, "--json", "snapshots", *args, env=env)
    assert done.code == 0, done.stderr
    return {str(s["id"]): s for s in json.loads(done.stdout)}


def paths_in(run_cli: RunCli, repo: str, sid: str, *args: str) -> list[str]:
    done = run_cli("-r", repo, *args, "ls", sid)
    assert done.code == 0, done.stderr
    return done.stdout.splitlines()


def source(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    write_file(src / "home" / ".aws" / "credentials", SECRET)
    write_file(src / "home" / "notes.txt", b"keep me\n")
    write_file(src / "etc" / "server.key", b"private key\n")
    write_file(src / "etc" / "hosts", b"127.0.0.1 localhost\n")
    return src


def backup(
    run_cli: RunCli, repo: str, src: Path, *args: str, env: dict[str, str] | None = None
) -> str:
    done = run_cli("-r", repo, "--json", "backup", *args, str(src), env=env)
    assert done.code == 0, done.stderr
    return str(lines(done.stdout)[-1]["snapshot_id"])


def test_rewrite_dry_run_says_what_it_would_remove_and_writes_nothing(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    src = source(tmp_path)
    sid = backup(run_cli, cli_repo, src)
    before = files(cli_repo)
    done = run_cli("-r", cli_repo, "rewrite", "--dry-run", "-e", "credentials", "-e", "*.key")
    assert done.code == 0, done.stderr
    assert f"would remove file {src}/home/.aws/credentials (2.00 KiB)" in done.stdout
    assert f"would remove file {src}/etc/server.key" in done.stdout
    assert "nothing was written (dry run)" in done.stdout
    done = run_cli("-r", cli_repo, "--json", "rewrite", "-n", "-e", "credentials", sid[:8])
    assert done.code == 0, done.stderr
    (one, summary) = [x for x in lines(done.stdout) if x["message_type"] != "status"]
    assert one["message_type"] == "snapshot_rewrite" and one["snapshot_id"] == sid
    assert one["removed"] == [
        {"path": f"{src}/home/.aws/credentials", "type": "file", "size": len(SECRET)}
    ]
    assert one["new_snapshot_id"] is None and summary["dry_run"] is True
    assert files(cli_repo) == before  # not an object, not an audit record, not a lease


def test_rewrite_shows_a_removed_name_with_a_line_break_on_one_line(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    """An attack pass (2026-12-07): "removed file .../new" and "line (1 B)" on two lines,
    where every other odd byte was escaped."""
    src = tmp_path / "src"
    write_file(src / "new\nline", b"x")
    write_file(src / "keep", b"k")
    backup(run_cli, cli_repo, src)
    done = run_cli("-r", cli_repo, "rewrite", "--dry-run", "-e", "new*")
    assert done.code == 0, done.stderr
    assert f"  would remove file {src}/new\\nline (1 B)" in done.stdout.splitlines(), done.stdout


def test_rewrite_removes_paths_and_keeps_the_original_beside_the_copy(
    tmp_path: Path, cli_repo: str, run_cli: RunCli, cli_env: dict[str, str]
) -> None:
    src = source(tmp_path)
    web = backup(run_cli, cli_repo, src, "--host", "web1", "--tag", "nightly")
    db = backup(run_cli, cli_repo, src, "--host", "db1")
    excludes = write_file(tmp_path / "excludes", b"# secrets\n$SECRETS/credentials\n\n*.key\n")
    env = {**cli_env, "SECRETS": ".aws"}
    done = run_cli(
        "-r", cli_repo, "--json", "rewrite", "--exclude-file", str(excludes), "-H", "web1",
        env=env,
    )  # fmt: skip
    assert done.code == 0, done.stderr
    (one, summary) = [x for x in lines(done.stdout) if x["message_type"] != "status"]
    assert one["snapshot_id"] == web and one["status"] == "rewritten"
    assert sorted(str(r["path"]) for r in one["removed"]) == [  # type: ignore[attr-defined]
        f"{src}/etc/server.key",
        f"{src}/home/.aws/credentials",
    ]
    new = str(one["new_snapshot_id"])
    assert summary["rewritten"] == 1 and summary["trees_written"] >= 3
    snaps = listed(run_cli, cli_repo)
    assert set(snaps) == {web, db, new}  # without --forget the original stays
    assert snaps[new]["tags"] == ["nightly", "rewrite"] and snaps[new]["hostname"] == "web1"
    assert snaps[new]["time"] == snaps[web]["time"]
    kept = paths_in(run_cli, cli_repo, new)
    assert f"{src}/home/notes.txt" in kept and f"{src}/etc/hosts" in kept
    assert f"{src}/home/.aws" in kept  # the directory stays, without the file
    assert not [p for p in kept if p.endswith(("credentials", "server.key"))]
    assert f"{src}/home/.aws/credentials" in paths_in(run_cli, cli_repo, web)
    # its summary counts what the new tree holds, as restic 0.17's rewrite does (snapshots'
    # Size showed the removed files' bytes too); the original's is unchanged
    before, after = snaps[web]["summary"], snaps[new]["summary"]
    removed = len(SECRET) + len(b"private key\n")
    assert after["total_files_processed"] == before["total_files_processed"] - 2
    assert after["total_bytes_processed"] == before["total_bytes_processed"] - removed
    assert after["files_new"] == before["files_new"]  # what the backup did stays
    handle = open_repository(RepoOptions(url=cli_repo, password=PASSWORD.encode()))
    assert handle.index  # the new trees are indexed: the copy restores
    target = tmp_path / "restored"
    assert run_cli("-r", cli_repo, "restore", new, "--target", str(target)).code == 0
    assert (target / str(src).lstrip("/") / "home" / "notes.txt").read_bytes() == b"keep me\n"
    assert not (target / str(src).lstrip("/") / "home" / ".aws" / "credentials").exists()
    # again: the copy is found already stored, nothing new; the copy itself is unchanged
    done = run_cli("-r", cli_repo, "rewrite", "--exclude-file", str(excludes), env=env)
    assert done.code == 0, done.stderr
    assert f"already rewritten as snapshot {new[:8]}" in done.stdout
    assert "rewrote 1 snapshot of 3 selected" in done.stdout  # db1's copy is new
    assert len(listed(run_cli, cli_repo)) == 4  # web1, db1 and a copy of each


def test_rewrite_refuses_bad_requests_and_leaves_whole_snapshots_alone(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    src = source(tmp_path)
    sid = backup(run_cli, cli_repo, src)
    before = files(cli_repo)
    for args, words in [
        ((), "nothing to do: give --exclude, --iexclude, --new-host or --new-time"),
        (("-e", "[a"), "[a"),
        (("--exclude-file", str(tmp_path / "missing")), "cannot read exclude file"),
        (("-e", "*.key", "deadbeef"), "no snapshot with id 'deadbeef'"),
        (("-e", "*.key", "--tag", "x", "latest"), "no snapshot found"),
    ]:
        done = run_cli("-r", cli_repo, "rewrite", *args)
        assert done.code == 2, (args, done.stdout, done.stderr)
        assert words in done.stderr, (args, done.stderr)
        assert len(done.stderr.splitlines()) == 1, done.stderr
        assert [f for f in files(cli_repo) if not f.startswith("audit/")] == [
            f for f in before if not f.startswith("audit/")
        ], args
    # a pattern that takes every backed-up path leaves the snapshot alone: forget is the tool
    done = run_cli("-r", cli_repo, "rewrite", "-e", str(src))
    assert done.code == 0, done.stderr
    assert "left alone: every path would be removed" in done.stdout
    assert list(listed(run_cli, cli_repo)) == [sid]
    # nothing matched: nothing written, exit 0
    done = run_cli("-r", cli_repo, "rewrite", "-e", "*.nothing")
    assert done.code == 0 and "rewrote 0 snapshots of 1 selected" in done.stdout


def test_rewrite_does_not_rewrite_a_snapshot_whose_tree_cannot_be_read(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    src = source(tmp_path)
    first = backup(run_cli, cli_repo, src)
    write_file(src / "etc" / "new.conf", b"changed\n")
    second = backup(run_cli, cli_repo, src)
    # the second backup's own tree pack (its root and the changed directories) is damaged
    packs = sorted(Path(cli_repo, "tree").rglob("*"), key=lambda p: p.stat().st_mtime_ns)
    newest = [p for p in packs if p.is_file()][-1]
    data = bytearray(newest.read_bytes())
    data[40:60] = os.urandom(20)
    newest.write_bytes(bytes(data))
    done = run_cli("-r", cli_repo, "--no-cache", "--json", "rewrite", "-e", "credentials")
    assert done.code == 13, done.stderr
    reports = {str(x["snapshot_id"]): x for x in lines(done.stdout) if "snapshot_id" in x}
    assert reports[first]["status"] == "rewritten"
    assert reports[second]["status"] == "damaged" and reports[second]["new_snapshot_id"] is None
    assert "cannot be read" in str(reports[second]["problem"])
    snaps = listed(run_cli, cli_repo, "--no-cache")
    assert len(snaps) == 3 and {first, second} <= set(snaps)  # one copy, originals whole
    done = run_cli("-r", cli_repo, "--no-cache", "rewrite", "-e", "credentials", second)
    assert done.code == 13
    assert "  not rewritten: the tree of /" in done.stdout and "cannot be read" in done.stdout


def test_rewrite_killed_anywhere_leaves_whole_snapshots_and_a_rerun_finishes(
    tmp_path: Path, cli_repo: str, run_cli: RunCli, cli_env: dict[str, str]
) -> None:
    src = source(tmp_path)
    sid = backup(run_cli, cli_repo, src)
    args = ("-r", cli_repo, "rewrite", "--forget", "-e", "credentials")
    env = {**cli_env, "S3VAULT_TEST_CRASH_AT": "backup-before-snapshot"}
    assert run_cli(*args, env=env).code != 0  # trees stored, no copy yet
    assert list(listed(run_cli, cli_repo)) == [sid]
    env = {**cli_env, "S3VAULT_TEST_CRASH_AT": "rewrite-before-remove"}
    assert run_cli(*args, env=env).code != 0  # the copy stored, the original not removed
    snaps = listed(run_cli, cli_repo)
    assert len(snaps) == 2 and sid in snaps
    done = run_cli(*args[:2], "--json", *args[2:])
    assert done.code == 0, done.stderr
    reports = {x["snapshot_id"]: x for x in lines(done.stdout) if "snapshot_id" in x}
    one = reports.pop(sid)
    assert one["resumed"] is True and one["original_removed"] is True
    (copy,) = reports.values()  # the copy is selected too: nothing in it matches
    assert copy["snapshot_id"] == one["new_snapshot_id"] and copy["status"] == "unchanged"
    assert list(listed(run_cli, cli_repo)) == [one["new_snapshot_id"]]
    assert run_cli("-r", cli_repo, "verify").code == 0


def test_rewrite_forget_then_prune_leaves_the_secret_in_no_pack_on_s3(
    s3_bucket: str,
    s3_server: str,
    tmp_path: Path,
    cli_env: dict[str, str],
    run_cli: RunCli,
    time_travel: TimeTravel,
) -> None:
    env = s3_env(cli_env, s3_server)
    url = f"s3://{s3_bucket}/repo"
    made = run_cli(
        "-r", url, "init", "--kdf-cost", "minimum", "--no-recovery-key", "--min-grace", "1s",
        env=env,
    )  # fmt: skip
    assert made.code == 0, made.stderr
    src = source(tmp_path)
    backup(run_cli, url, src, env=env)
    write_file(src / "home" / "more.txt", b"a second backup\n")
    backup(run_cli, url, src, env=env)
    done = run_cli("-r", url, "rewrite", "--forget", "-e", "/**/.aws/credentials", env=env)
    assert done.code == 0, done.stderr
    assert "rewrote 2 snapshots of 2 selected" in done.stdout
    assert "the original is removed" in done.stdout
    # repack and mark, then (past the grace) delete; one more round for a prune that held the
    # pack back while the backups' claims were younger than the grace (seen once in a loaded
    # clean-clone run: the secret's pack still indexed after two rounds)
    for _ in range(3):
        done = run_cli("-r", url, "prune", "--max-unused", "0%", env=env)
        assert done.code == 0, done.stderr
        time_travel.advance(2)
    repo = open_repository(RepoOptions(url=url, password=PASSWORD.encode()))
    stored = {
        info.name for kind in (ObjectKind.DATA, ObjectKind.TREE) for info in repo.list_objects(kind)
    }
    indexed = {
        object_name(ObjectKind.TREE if t is BlobType.TREE else ObjectKind.DATA, loc.pack_id)
        for t, _bid, loc in repo.index.entries()
    }
    assert stored == indexed  # no pack outside the index: every stored blob is read below
    for btype, bid, _loc in repo.index.entries():
        assert SECRET[:32] not in repo.load_blob(btype, bid)
    assert run_cli("-r", url, "verify", "--read-data", env=env).code == 0


def test_rewrite_walks_a_tree_deeper_than_the_recursion_limit(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    src = tmp_path / "deep"
    make_deep(src, 1_500)  # Python's recursion limit is 1,000
    try:
        sid = backup(run_cli, cli_repo, src)
        done = run_cli("-r", cli_repo, "--json", "rewrite", "-e", "bottom.txt", "-e", "level.txt")
        assert done.code == 0, done.stderr
        (one,) = [x for x in lines(done.stdout) if x["message_type"] == "snapshot_rewrite"]
        assert one["snapshot_id"] == sid and one["status"] == "rewritten"
        removed = [str(r["path"]) for r in one["removed"]]  # type: ignore[attr-defined]
        assert len(removed) == 3  # level.txt at levels 0 and 1000, bottom.txt at 1500
        assert removed[0].endswith("/d" * 1_500 + "/bottom.txt")
        assert run_cli("-r", cli_repo, "verify").code == 0
    finally:
        remove_deep(src)


@pytest.mark.parametrize("local_store", ["unprivileged"], indirect=True)
def test_rewrite_on_a_read_only_store_fails_in_one_line_and_its_dry_run_works(
    local_store: ReadOnlyStore,  # noqa: F811 - the fixture
) -> None:
    store = local_store
    before = store.listing()
    done = store.run("-r", store.url, "rewrite", "-e", "b.bin")
    assert done.code == 1, (done.stdout, done.stderr)
    (line,) = done.stderr.splitlines()
    assert line.startswith("Fatal: ") and store.refusal in line, line
    assert store.listing() == before
    done = store.run("-r", store.url, "rewrite", "--dry-run", "-e", "b.bin")
    assert done.code == 0, done.stderr
    assert "would remove file" in done.stdout and store.listing() == before


def test_rewrite_forget_leaves_originals_object_lock_holds(
    s3_server: str, s3_bucket: str, tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    env = s3_env(cli_env, s3_server)
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket="locked-rewrite", ObjectLockEnabledForBucket=True)
    url = "s3://locked-rewrite/repo"
    made = run_cli(
        "-r", url, "init", "--kdf-cost", "minimum", "--no-recovery-key",
        "--object-lock", "governance", "--keep-within", "1d", env=env,
    )  # fmt: skip
    assert made.code == 0, made.stderr
    sid = backup(run_cli, url, source(tmp_path), env=env)
    done = run_cli("-r", url, "rewrite", "--forget", "-e", "credentials", env=env)
    assert done.code == 0, done.stderr
    assert "the original stays: Object Lock holds it until" in done.stdout
    snaps = listed(run_cli, url, env=env)
    assert len(snaps) == 2 and sid in snaps
    (copy,) = [s for s in snaps.values() if s["id"] != sid]
    assert copy["tags"] == []  # --forget: no rewrite tag, as restic
