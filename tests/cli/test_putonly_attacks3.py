"""Attacks on put-only keys, third round (2026-12-06): what a compromised put-only host can
store that is sealed correctly and still hostile to the full key's commands. Each test runs
the attack as that host (its key, the library as tests/cli/test_putonly_attacks.py uses it)
and the operator's commands through the real CLI.

One repository for the module (each attack works on a copy): db-01 backs up with the full key,
web-01 (the attacker) with a put-only key.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from s3vault import InitOptions, add_put_only_key, compression, init
from s3vault.crypto.hashing import storage_id
from s3vault.errors import IntegrityError, S3VaultError
from s3vault.format.envelope import SealedKind
from s3vault.format.layout import ObjectKind, object_name
from s3vault.format.packfile import BlobType
from s3vault.format.tree import Node, NodeType, Tree
from s3vault.ids import ObjectId
from s3vault.ops.backup import BackupOptions, backup
from s3vault.ops.backup_putonly import backup_put_only
from s3vault.repository.index import BlobIndex
from s3vault.repository.writer import sealed_kind_for
from tests.conftest import TEST_SETTINGS, RepoHandle, RunCli, write_file
from tests.putonly import open_local_put_only, restore_latest
from tests.test_compression import claiming

ATTACKER_PW = b"web-01 is compromised"


@dataclass
class Fleet:
    handle: RepoHandle
    db_source: Path
    web_source: Path


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Fleet:
    base = tmp_path_factory.mktemp("attacks3")
    handle = RepoHandle(url=str(base / "repo"), cache=base / "cache")
    init(handle.options, InitOptions(settings=TEST_SETTINGS))
    db = base / "db"
    write_file(db / "secret.txt", b"db-01's own data\n")
    backup(handle.open(), BackupOptions(paths=(str(db),), host="db-01"))
    add_put_only_key(handle.open(), ATTACKER_PW, host="web-01", kdf_cost="minimum", switch=True)
    web = base / "web"
    write_file(web / "index.html", os.urandom(2_000))
    backup_put_only(
        open_local_put_only(handle.url, ATTACKER_PW),
        BackupOptions(paths=(str(web),), host="web-01"),
    )
    return Fleet(handle=handle, db_source=db, web_source=web)


def _copy(fleet: Fleet, tmp_path: Path) -> RepoHandle:
    shutil.copytree(fleet.handle.url, tmp_path / "repo")
    return RepoHandle(url=str(tmp_path / "repo"), cache=tmp_path / "cache")


def _store_snapshot(run_cli: RunCli, url: str, change: Callable[[dict[str, Any]], None]) -> str:
    """web-01 stores its own snapshot once more, sealed as its key seals, with one field
    changed; returns the new snapshot's short id."""
    listed = run_cli("-r", url, "--json", "snapshots", "--host", "web-01")
    own = json.loads(listed.stdout)[0]
    obj: dict[str, Any] = {
        "v": 1,
        "time": own["time"],
        "tree": own["tree"],
        "paths": own["paths"],
        "hostname": "web-01",
    }
    change(obj)
    put = open_local_put_only(url, ATTACKER_PW)
    return put.save_file(ObjectKind.SNAPSHOTS, json.dumps(obj).encode(), put.sealer()).hex()[:8]


MALFORMED: dict[str, Callable[[dict[str, Any]], None]] = {
    "a time without its offset from UTC": lambda o: o.update(time="2026-12-01T00:00:00"),
    "a count that is a list": lambda o: o.update(summary={"files_new": [1]}),
    "tags that are a number": lambda o: o.update(tags=5),
    "a time before year 1 in UTC": lambda o: o.update(time="0001-01-01T00:30:00+14:00"),
}


@pytest.mark.parametrize("damage", list(MALFORMED))
def test_a_malformed_snapshot_stops_no_command_and_forget_removes_it(
    fleet: Fleet, tmp_path: Path, run_cli: RunCli, damage: str
) -> None:
    """One sealed snapshot file with one field of the wrong type or range made every full-key
    command (snapshots, forget, prune, backup, restore, verify) end in an internal error. It is
    damage, named where it is met: listed commands pass it over with a warning, verify exits 13
    naming it and its fix, and the fix (`forget ID`) removes it."""
    handle = _copy(fleet, tmp_path)
    url = handle.url
    sid = _store_snapshot(run_cli, url, MALFORMED[damage])
    listing = run_cli("-r", url, "snapshots")
    assert listing.code == 0, listing.stderr
    (warning,) = listing.stderr.splitlines()
    assert sid in warning and f"`s3vault forget {sid}`" in warning
    for args in (
        ("forget", "--keep-last", "1"),
        ("prune",),
        ("backup", str(fleet.db_source), "--host", "db-01"),
    ):
        done = run_cli("-r", url, *args)
        assert done.code == 0, (args, done.stderr)
        assert "internal error" not in done.stderr
    restored = restore_latest(run_cli, url, "db-01", tmp_path / "out")
    # restored; exit 13: the malformed file may be db-01's newest, which the restore says
    assert restored.code == 13 and "may be newer (it does not open)" in restored.stderr
    assert (tmp_path / "out" / str(fleet.db_source).lstrip("/") / "secret.txt").exists()
    checked = run_cli("-r", url, "verify")
    assert checked.code == 13 and sid in checked.stdout + checked.stderr, checked.stderr
    assert run_cli("-r", url, "forget", sid).code == 0
    again = run_cli("-r", url, "verify")
    assert again.code == 0, again.stdout + again.stderr


def test_snapshots_a_put_only_host_dates_ahead_displace_no_real_one(
    fleet: Fleet, tmp_path: Path, run_cli: RunCli
) -> None:
    """web-01 stores three snapshots dated 2099, of its own path and of db-01's: `forget
    --keep-last 3 --prune` removed web-01's real snapshot, and with `--group-by paths` db-01's
    only one (restic takes the newest dates for the newest snapshots). Snapshots dated ahead
    of the clock are kept and not counted: every real snapshot the policy keeps stays, and
    forget names each one dated ahead with its fix."""
    handle = _copy(fleet, tmp_path)
    url = handle.url
    before = {s["id"] for s in json.loads(run_cli("-r", url, "--json", "snapshots").stdout)}
    put = open_local_put_only(url, ATTACKER_PW)
    # two of its own path, one of db-01's (the same path on its own disk)
    for day, source in ((1, fleet.web_source), (2, fleet.web_source), (3, fleet.db_source)):
        when = datetime(2099, 1, day, tzinfo=UTC)
        backup_put_only(put, BackupOptions(paths=(str(source),), host="web-01", time=when))
    done = run_cli("-r", url, "forget", "--keep-last", "1", "--prune")
    assert done.code == 0, done.stderr
    after = {s["id"] for s in json.loads(run_cli("-r", url, "--json", "snapshots").stdout)}
    assert before <= after
    assert done.stderr.count("ahead of this host's clock") == 3, done.stderr
    by_paths = run_cli("-r", url, "forget", "--keep-last", "1", "--group-by", "paths")
    assert by_paths.code == 0, by_paths.stderr
    after = {s["id"] for s in json.loads(run_cli("-r", url, "--json", "snapshots").stdout)}
    assert before <= after
    restored = restore_latest(run_cli, url, "db-01", tmp_path / "out")
    assert restored.code == 0, restored.stderr
    got = tmp_path / "out" / str(fleet.db_source).lstrip("/") / "secret.txt"
    assert got.read_bytes() == b"db-01's own data\n"


def test_a_snapshot_file_that_is_a_zstd_bomb_is_refused_before_it_is_unpacked(
    fleet: Fleet, tmp_path: Path, run_cli: RunCli
) -> None:
    """web-01 seals a zstd frame that claims 4 GiB as a snapshot file: every command of the
    full key unpacked it (4 GiB of zeros in 131 KB took 5.3 GB of memory and 19 s, each time).
    Its declared size is refused before anything is allocated: named as damage, with its fix."""
    handle = _copy(fleet, tmp_path)
    url = handle.url
    frame = claiming((1 << 32) - 1)  # 51 bytes that claim 4 GiB
    put = open_local_put_only(url, ATTACKER_PW)
    sealed = put.sealer().seal(sealed_kind_for(ObjectKind.SNAPSHOTS), frame)
    sid = storage_id(sealed)
    put.backend.put(object_name(ObjectKind.SNAPSHOTS, sid), sealed)
    listing = run_cli("-r", url, "snapshots")
    assert listing.code == 0, listing.stderr
    (warning,) = listing.stderr.splitlines()
    assert sid.hex()[:8] in warning and "bomb" in warning
    checked = run_cli("-r", url, "verify")
    assert checked.code == 13 and "bomb" in checked.stdout + checked.stderr


def test_the_bomb_limit_holds_for_put_only_files_and_never_for_a_full_keys(
    fleet: Fleet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full key's snapshot of a --files-from list of deep paths compresses beyond any ratio
    (90 MB of JSON in 80 KB) and was refused as a bomb by every reader: a full key's files are
    read as they are; a put-only host refuses to store a file readers would refuse. (The limits
    are lowered here, in this process, to stay small.)"""
    monkeypatch.setattr(compression, "FILE_FLOOR", 1 << 20)
    monkeypatch.setattr(compression, "FILE_RATIO", 16)
    plain = b'{"paths": [' + (b'"/srv/' + b"deep/" * 800 + b'f",') * 300 + b"]}"
    assert len(plain) > 1 << 20
    handle = _copy(fleet, tmp_path)
    full = handle.open().sealer
    sealed = full.seal_file(SealedKind.SNAPSHOT, plain)
    assert len(plain) > compression.file_limit(len(sealed))  # a bomb, by the ratio
    assert full.open_file(SealedKind.SNAPSHOT, sealed) == plain
    put = open_local_put_only(handle.url, ATTACKER_PW)
    with pytest.raises(S3VaultError, match="it was not stored"):
        put.save_file(ObjectKind.SNAPSHOTS, plain, put.sealer())
    forged = put.sealer().seal_file(SealedKind.SNAPSHOT, plain)
    with pytest.raises(IntegrityError, match="a bomb"):
        full.open_file(SealedKind.SNAPSHOT, forged)


def _store_tree_bomb(url: str, depth: int) -> ObjectId:
    """web-01 stores ``depth`` + 1 trees, each naming the one below it twice (2^depth paths to
    the bottom one's file), all sealed and indexed as its key does; returns the top one."""
    put = open_local_put_only(url, ATTACKER_PW)
    writer = put.blob_writer(BlobIndex(), verify=False)
    tid, _ = writer.save(
        BlobType.TREE, Tree(nodes=(Node(name=b"f", type=NodeType.FILE, size=0),)).encode()
    )
    for _ in range(depth):
        twice = tuple(
            Node(name=name, type=NodeType.DIR, mode=0o755, subtree=tid) for name in (b"a", b"b")
        )
        tid, _ = writer.save(BlobType.TREE, Tree(nodes=twice).encode())
    writer.flush()
    return tid


def test_a_tree_graph_that_names_one_subtree_twice_per_level_is_refused_not_walked(
    fleet: Fleet, tmp_path: Path, run_cli: RunCli
) -> None:
    """web-01 stores 41 trees that each name the next one twice (2^40 paths) and a snapshot
    of them: every tree decodes and every blob is there, and restore, restore-test and find
    ran out of memory while ls, diff and dump never ended, and verify passed. Each expanding walk
    now stops after a bounded number of entries, names the snapshot and its fix, and exits 13;
    a search of every snapshot passes the forged one over, naming it, and finds db-01's file;
    verify names it (without expanding it), and after its fix passes."""
    handle = _copy(fleet, tmp_path)
    url = handle.url
    root = _store_tree_bomb(url, 40)
    sid = _store_snapshot(run_cli, url, lambda o: o.update(tree=root.hex()))
    good = json.loads(run_cli("-r", url, "--json", "snapshots", "--host", "db-01").stdout)[0]
    out = tmp_path / "out"
    for args in (
        ("restore", sid, "--target", str(out)),
        ("restore-test", sid, "--target", str(tmp_path / "drill")),
        ("ls", sid),
        ("dump", sid, "/", "--archive", "tar"),
        ("diff", good["short_id"], sid),
        ("find", "--snapshot", sid, "f"),
    ):
        done = run_cli("-r", url, *args, timeout=60)
        assert done.code == 13, (args, done.code, done.stderr[-2000:])
        assert "tree graph" in done.stderr and sid in done.stderr, (args, done.stderr[-2000:])
        assert "internal error" not in done.stderr
    assert not out.exists() or not any(out.iterdir())  # refused before anything is written
    every = run_cli("-r", url, "find", "f", "secret.txt", timeout=60)
    assert every.code == 13, every.stderr[-2000:]
    assert "secret.txt" in every.stdout and sid in every.stderr
    checked = run_cli("-r", url, "verify", timeout=60)
    assert checked.code == 13 and "tree graph" in checked.stdout + checked.stderr, checked
    assert f"`s3vault forget {sid}`" in checked.stdout + checked.stderr
    assert run_cli("-r", url, "forget", sid).code == 0
    again = run_cli("-r", url, "verify")
    assert again.code == 0, again.stdout + again.stderr
