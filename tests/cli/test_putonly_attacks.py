"""Attacks on put-only keys (design.md §6a, §13), as a hostile user would run them: a
compromised backup host holding its put-only key file and password (and permission to put
objects), a store-level attacker without any key, and a restic user's habits. Each test runs
one attack and asserts the defence; one that the build does not yet stop is marked xfail
with the reason (strict: it fails the suite the day the defence lands, so the mark goes).

One repository for the module (attacks that change it work on a copy): host db-01 backs up
with the full key; web-01 (the attacker) and web-02 (the victim) hold put-only keys and have
each backed up once.
"""

from __future__ import annotations

import base64
import json
import os
import random
import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import pytest

from s3vault import InitOptions, SnapshotFilter, add_put_only_key, compression, init, ls
from s3vault.backend.local import LocalBackend
from s3vault.crypto import aead, putseal
from s3vault.crypto.hashing import blob_id, storage_id, view_digest
from s3vault.crypto.keys import MasterKey
from s3vault.errors import FormatVersionError, IntegrityError
from s3vault.format.auditfile import AuditRecord
from s3vault.format.configfile import ConfigMarker
from s3vault.format.dedupview import DedupView, view_of_index
from s3vault.format.envelope import EnvelopeHeader, SealedKind
from s3vault.format.hoststatefile import HostStateFile
from s3vault.format.indexfile import IndexedPack, IndexFile
from s3vault.format.layout import ObjectKind, object_name
from s3vault.format.packfile import BlobType, PackEntry, split_trailer
from s3vault.format.putpayload import PutOnlyPayload
from s3vault.format.snapshotfile import SnapshotFile
from s3vault.format.tree import Tree
from s3vault.fusefs.content import BlobCache, FileContent
from s3vault.ids import ObjectId
from s3vault.maintenance.prune import PruneOptions
from s3vault.maintenance.retention import Policy
from s3vault.ops.backup import BackupOptions, backup
from s3vault.ops.backup_putonly import backup_put_only
from s3vault.ops.forget import ForgetOptions, forget
from s3vault.ops.prune import prune
from s3vault.ops.verify import VerifyOptions, verify
from s3vault.progress import NullProgress
from s3vault.repository import configview, views
from s3vault.repository.compactpack import SpillFile
from s3vault.repository.index import BlobIndex
from s3vault.repository.putdedup import PutDedupIndex
from s3vault.repository.putrepo import PutOnlyRepository
from s3vault.repository.putstate import endorsed_blobs, load_state
from s3vault.repository.repository import Repository
from s3vault.repository.sealer import PACK_HEADER_BINDING, PutRun, PutSealer
from s3vault.repository.snapshots import list_snapshots
from s3vault.repository.writer import sealed_kind_for
from tests.conftest import TEST_SETTINGS, RepoHandle, RunCli, write_file
from tests.putonly import open_local_put_only, restore_latest, wrapped_secret

ATTACKER_PW = b"web-01 is compromised"
VICTIM_PW = b"web-02 is fine"
# content every host has (a distribution's file): its id is what an attacker can compute
COMMON = b"# /etc/motd of every host of the fleet\n" * 40


@dataclass
class Fleet:
    base: Path
    handle: RepoHandle
    db_source: Path
    web_source: Path


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Fleet:
    base = tmp_path_factory.mktemp("attacks")
    handle = RepoHandle(url=str(base / "repo"), cache=base / "cache")
    init(handle.options, InitOptions(settings=TEST_SETTINGS))
    db = base / "db"
    write_file(db / "secret.txt", b"db-01's secret: hunter2\n")
    write_file(db / "big.bin", os.urandom(60_000))
    backup(handle.open(), BackupOptions(paths=(str(db),), host="db-01"))
    for pw, host in ((ATTACKER_PW, "web-01"), (VICTIM_PW, "web-02")):
        add_put_only_key(handle.open(), pw, host=host, kdf_cost="minimum", switch=True)
    web = base / "web"
    write_file(web / "index.html", os.urandom(20_000))
    for pw, host in ((ATTACKER_PW, "web-01"), (VICTIM_PW, "web-02")):
        backup_put_only(
            open_local_put_only(handle.url, pw), BackupOptions(paths=(str(web),), host=host)
        )
    return Fleet(base=base, handle=handle, db_source=db, web_source=web)


def _copy(fleet: Fleet, tmp_path: Path) -> RepoHandle:
    """A copy of the fleet's repository for an attack that changes it."""
    shutil.copytree(fleet.handle.url, tmp_path / "repo")
    return RepoHandle(url=str(tmp_path / "repo"), cache=tmp_path / "cache")


def _store(url: str) -> dict[str, bytes]:
    root = Path(url)
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _unaudited(store: dict[str, bytes]) -> dict[str, bytes]:
    return {name: data for name, data in store.items() if not name.startswith("audit/")}


# --- a restic user's habits with a put-only key ------------------------------------------

HABITS = [
    ("forget", "--keep-last", "1", "--prune"),
    ("prune",),
    ("verify", "--read-data"),  # verify alone: the put-only structure check (test_verify_putonly)
    ("unlock", "--remove-all"),
    ("stats",),
    ("tag", "--add", "x", "latest"),
    ("rewrite", "latest", "--exclude", "*.txt"),
    ("repair", "index"),
    ("audit",),
    ("key", "add", "--new-password-file", "{tmp}/pw", "--kdf-cost", "minimum"),
    ("key", "passwd", "--new-password-file", "{tmp}/pw", "--kdf-cost", "minimum"),
    ("key", "remove", "00000000"),
    ("list", "snapshots"),
    ("fleet",),
]


@pytest.mark.parametrize("command", HABITS, ids=[" ".join(c[:2]) for c in HABITS])
def test_maintenance_and_key_commands_refuse_a_put_only_key_and_change_nothing(
    fleet: Fleet, run_cli: RunCli, cli_env: dict[str, str], tmp_path: Path, command: tuple[str, ...]
) -> None:
    """`key add` then using the new key for everything, as with restic: each command exits 12
    in one line naming the full key it needs, and the store is byte for byte as before (no
    lease left, no key file added, no lock removed)."""
    write_file(tmp_path / "pw", b"a new password\n")
    before = _store(fleet.handle.url)
    args = [a.replace("{tmp}", str(tmp_path)) for a in command]
    env = {**cli_env, "S3VAULT_PASSWORD": ATTACKER_PW.decode()}
    done = run_cli("-r", fleet.handle.url, *args, env=env)
    assert done.code == 12, (done.stdout, done.stderr)
    assert "put-only key" in done.stderr and "Traceback" not in done.stderr
    assert "hunter2" not in done.stdout + done.stderr
    assert _store(fleet.handle.url) == before


def test_a_backup_with_another_hosts_name_is_refused_in_every_spelling(
    fleet: Fleet, run_cli: RunCli, cli_env: dict[str, str]
) -> None:
    """The key writes for web-01 only: neither the victim's name nor a near spelling of its
    own (case, trailing dot) passes; nothing is stored but the refusal's audit record."""
    env = {**cli_env, "S3VAULT_PASSWORD": ATTACKER_PW.decode()}
    for host in ("web-02", "WEB-01", "web-01.", "db-01"):
        done = run_cli(
            "-r", fleet.handle.url, "backup", str(fleet.web_source), "--host", host, env=env
        )
        assert done.code == 2 and "writes snapshots for host 'web-01'" in done.stderr, host


# --- a compromised host: dedup poisoning ---------------------------------------------------


def _poison(url: str, contents: list[bytes]) -> list[ObjectId]:
    """The attacker seals garbage under the ids of content it can guess (it holds K_id)."""
    put = open_local_put_only(url, ATTACKER_PW)
    ids = [blob_id(put.payload.id_key, c) for c in contents]
    writer = put.blob_writer(BlobIndex(), verify=False)
    for bid in ids:
        writer.save(BlobType.DATA, b"attacker's garbage", bid)
    writer.flush()
    return ids


def test_garbage_under_a_guessed_id_does_not_reach_another_put_only_hosts_dedup(
    fleet: Fleet, tmp_path: Path, run_cli: RunCli
) -> None:
    """web-01 stores garbage as the motd every host has; web-02 then backs the motd up: it
    deduplicates only against endorsed views and its own state, so it stores the real
    content, and a full key restores it."""
    handle = _copy(fleet, tmp_path)
    _poison(handle.url, [COMMON])
    src = write_file(tmp_path / "web2" / "motd", COMMON).parent
    done = backup_put_only(
        open_local_put_only(handle.url, VICTIM_PW), BackupOptions(paths=(str(src),), host="web-02")
    )
    assert done.data_blobs == 1  # stored, not skipped
    full = handle.open()
    bid = blob_id(full.sealer.current.id_key, COMMON)
    assert sorted(bool(loc.sender) for loc in full.index.locations(BlobType.DATA, bid)) == [
        True,
        True,
    ]  # web-01's garbage and web-02's good copy, both put-only packs


def test_a_garbage_copy_listed_first_does_not_make_a_full_key_restore_lose_a_file(
    fleet: Fleet, tmp_path: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """web-01 stores garbage under db-01's blob id in an index file it makes sort first: a
    full key reads a full key's copy first (BlobIndex.lookup / locations put put-only
    writers' copies last), so db-01's file restores whole."""
    handle = _copy(fleet, tmp_path)
    monkeypatch.setattr(PutOnlyRepository, "save_file", _save_listed_first)
    _poison(handle.url, [(fleet.db_source / "secret.txt").read_bytes()])
    out = tmp_path / "out"
    done = restore_latest(run_cli, handle.url, "db-01", out)
    assert done.code == 0, done.stderr
    restored = out / str(fleet.db_source).lstrip("/") / "secret.txt"
    assert restored.read_bytes() == (fleet.db_source / "secret.txt").read_bytes()


def _save_listed_first(
    self: PutOnlyRepository, kind: ObjectKind, plaintext: bytes, sealer: PutSealer
) -> ObjectId:
    """The attacker re-seals its index file until its name sorts first, before every index
    file listed (a fresh ephemeral key each time: about 16 tries, rarely a few hundred), so
    a reader loads its entries before anyone's."""
    listed = [info.name.rsplit("/", 1)[-1] for info in self.backend.list("index/")]
    first = min([*listed, "1"])
    sealed = sealer.seal_file(sealed_kind_for(kind), plaintext)
    while kind is ObjectKind.INDEX and storage_id(sealed).hex() >= first:
        sealed = sealer.seal_file(sealed_kind_for(kind), plaintext)
    oid = storage_id(sealed)
    self.backend.put(object_name(kind, oid), sealed)
    return oid


def test_garbage_under_a_guessed_id_does_not_make_a_full_key_backup_skip_it(
    fleet: Fleet, tmp_path: Path, run_cli: RunCli
) -> None:
    """web-01 seals garbage under the id of content it can guess; a full-key backup of that
    content does not deduplicate against a put-only writer's pack (BlobIndex.reserve), stores
    it, and restores it."""
    handle = _copy(fleet, tmp_path)
    _poison(handle.url, [COMMON])
    src = write_file(tmp_path / "db2" / "motd", COMMON).parent
    done = backup(handle.open(), BackupOptions(paths=(str(src),), host="db-02"))
    out = tmp_path / "out"
    restored = restore_latest(run_cli, handle.url, "db-02", out)
    assert (restored.code, done.data_blobs) == (0, 1), restored.stderr
    assert (out / str(src).lstrip("/") / "motd").read_bytes() == COMMON


def test_garbage_copies_of_every_stored_blob_lose_nothing_to_restore_or_prune(
    fleet: Fleet, tmp_path: Path, run_cli: RunCli
) -> None:
    """web-01 knows every blob id (views no longer list them, but a host that read views of
    version 1 kept what they listed) and stores a garbage copy of each: restore still takes the
    good copy, `verify --read-data` names the garbage as unneeded, and a prune that repacks
    db-01's packs keeps the good copies."""
    handle = _copy(fleet, tmp_path)
    put = open_local_put_only(handle.url, ATTACKER_PW)
    # the ids a view of version 1 listed: those of blobs in full keys' packs
    known = [(t, bid, loc) for t, bid, loc in handle.open().index.entries() if not loc.sender]
    assert known
    writer = put.blob_writer(BlobIndex(), verify=False)
    for btype, bid, _ in known:
        writer.save(btype, b"attacker's garbage", bid)
    writer.flush()
    url = handle.url
    write_file(tmp_path / "db-more" / "x", os.urandom(5_000))
    assert run_cli("-r", url, "backup", str(tmp_path / "db-more"), "--host", "db-01").code == 0
    read = run_cli("-r", url, "--no-cache", "verify", "--read-data")
    assert read.code == 13 and "no snapshot needs it" in read.stdout + read.stderr
    pruned = run_cli(
        "-r", url, "forget", "--host", "db-01", "--keep-last", "1", "--prune", "--max-unused", "0"
    )
    assert pruned.code == 0, pruned.stdout + pruned.stderr
    for host, source in (("web-02", fleet.web_source), ("db-01", tmp_path / "db-more")):
        out = tmp_path / f"out-{host}"
        done = restore_latest(run_cli, url, host, out)
        assert done.code == 0, done.stderr
        for f in source.iterdir():
            assert (out / str(source).lstrip("/") / f.name).read_bytes() == f.read_bytes()


# --- a compromised host: forging what a full key trusts ------------------------------------


def test_a_snapshot_for_another_host_is_refused_and_blocks_no_maintenance(
    fleet: Fleet, tmp_path: Path, run_cli: RunCli
) -> None:
    """web-01 writes a snapshot that names db-01 (pointing at web-01's own tree): every full
    key refuses it in one line naming the writer's key; `forget` of it works."""
    handle = _copy(fleet, tmp_path)
    put = open_local_put_only(handle.url, ATTACKER_PW)
    own = json.loads(run_cli("-r", handle.url, "--json", "snapshots", "--host", "web-01").stdout)
    forged = SnapshotFile(
        time=datetime(2030, 1, 1, tzinfo=UTC),
        tree=ObjectId.from_hex(own[0]["tree"]),
        paths=("/db",),
        hostname="db-01",
        username="root",
    )
    fid = put.save_file(ObjectKind.SNAPSHOTS, forged.encode(), put.sealer())
    listing = run_cli("-r", handle.url, "snapshots", "--host", "db-01")
    (warning,) = listing.stderr.splitlines()  # listed as damage, with its fix
    assert "forged" in warning and f"`s3vault forget {fid.hex()[:8]}`" in warning
    assert listing.code == 0 and fid.hex()[:8] not in listing.stdout
    restored = run_cli("-r", handle.url, "restore", fid.hex()[:12], "--target", str(tmp_path / "o"))
    assert restored.code == 13 and "forged" in restored.stderr
    assert not (tmp_path / "o").exists()
    latest = run_cli("-r", handle.url, "--json", "snapshots", "--host", "db-01", "--latest", "1")
    assert fid.hex() not in latest.stdout
    assert run_cli("-r", handle.url, "forget", fid.hex()[:8]).code == 0  # the fix it names
    again = run_cli("-r", handle.url, "snapshots")
    assert (again.code, again.stderr) == (0, "")


def _append_to_chain(put: PutOnlyRepository, tag: str, hostname: str) -> str:
    """A record in another host's chain: seq and prev from the names a LIST shows."""
    names = [i.name for i in put.backend.list(f"audit/{tag}/")]
    last = max(names)
    seq, _, rid = last.rsplit("/", 1)[-1].partition("-")
    record = AuditRecord(
        seq=int(seq) + 1,
        prev=ObjectId.from_hex(rid),
        time=datetime(2030, 1, 1, tzinfo=UTC),
        hostname=hostname,
        username="root",
        operation="forget",
        key_id="0" * 64,
        arguments=("forget", "--keep-last", "1"),
        exit_code=0,
        result="ok",
    )
    plain = record.encode()
    name = f"audit/{tag}/{record.seq:010d}-{blob_id(put.payload.id_key, plain).hex()}"
    put.backend.put(name, put.sealer().seal_file(SealedKind.AUDIT, plain))
    return name


def test_an_audit_record_slipped_into_another_hosts_chain_is_refused(
    fleet: Fleet, tmp_path: Path, run_cli: RunCli
) -> None:
    """web-01 appends a record to every other chain it can list (web-02's and db-01's),
    linked to the chain's last record: `audit` names each as written by a put-only key of
    another host, and web-01's own chain stays clean."""
    handle = _copy(fleet, tmp_path)
    put = open_local_put_only(handle.url, ATTACKER_PW)
    tags = {i.name.split("/")[1] for i in put.backend.list("audit/")}
    others = tags - {put.payload.audit_tag}
    assert len(others) == 2
    for tag in others:
        _append_to_chain(put, tag, "db-01")
    done = run_cli("-r", handle.url, "--json", "audit")
    assert done.code == 13, done.stdout + done.stderr
    chains = [json.loads(line) for line in done.stdout.splitlines()]
    chains = [c for c in chains if c["message_type"] == "audit_chain"]
    broken = {c["hostname"]: c["problems"] for c in chains if not c["intact"]}
    assert len(broken) == 2 and "web-01" not in broken
    assert all("forged" in p[0] and "of host 'web-01'" in p[0] for p in broken.values())


def _db_packs(url: str) -> list[tuple[ObjectId, int]]:
    """db-01's packs as anyone who can LIST sees them (id and size)."""
    backend = LocalBackend(Path(url))
    return [
        (ObjectId.from_hex(i.name.rsplit("/", 1)[-1]), i.size)
        for kind in (ObjectKind.DATA, ObjectKind.TREE)
        for i in backend.list(kind.value + "/")
    ]


def test_an_index_file_that_replaces_every_other_is_refused_and_prune_deletes_nothing(
    fleet: Fleet, tmp_path: Path, run_cli: RunCli
) -> None:
    """web-01 stores an index file that supersedes every index file it can list: readers
    would drop them all, every pack would look unindexed, and prune would delete them. A full
    key refuses it as forged: restore still works, prune changes nothing, `repair index`
    clears it."""
    handle = _copy(fleet, tmp_path)
    put = open_local_put_only(handle.url, ATTACKER_PW)
    listed = tuple(ObjectId.from_hex(i.name.rsplit("/", 1)[-1]) for i in put.backend.list("index/"))
    put.save_file(ObjectKind.INDEX, IndexFile(supersedes=listed).encode(), put.sealer())
    out = tmp_path / "out"
    done = run_cli("-r", handle.url, "restore", "latest", "--host", "db-01", "--target", str(out))
    assert done.code == 0, done.stderr
    assert "replaces other index files: forged" in done.stderr
    before = _store(handle.url)
    pruned = run_cli("-r", handle.url, "prune", "--max-unused", "0")
    assert pruned.code == 13 and "nothing was changed" in pruned.stderr
    assert _unaudited(_store(handle.url)) == _unaudited(before)  # but for prune's record
    assert run_cli("-r", handle.url, "repair", "index").code == 0
    checked = run_cli("-r", handle.url, "--no-cache", "verify", "--read-data")
    assert checked.code == 0, checked.stdout + checked.stderr
    # the put-only packs repair indexed apart, without a view, are endorsed once proven
    assert _victim_dedups(handle.url, (fleet.web_source / "index.html").read_bytes())


def test_an_index_file_describing_a_pack_the_key_did_not_seal_is_refused(
    fleet: Fleet, tmp_path: Path, run_cli: RunCli
) -> None:
    """web-01 describes db-01's packs (ids and sizes from a LIST) with made-up entries, with
    no sender and with another put-only writer's sender: refused as forged, and db-01's
    snapshot restores as before."""
    handle = _copy(fleet, tmp_path)
    put = open_local_put_only(handle.url, ATTACKER_PW)
    victim = open_local_put_only(handle.url, VICTIM_PW)
    other = PutRun(victim.sealer()).sender
    fake = PackEntry(type=BlobType.DATA, id=ObjectId(b"\1" * 32), offset=0, length=40, raw_length=9)
    for sender in (b"", other):
        packs = tuple(
            IndexedPack(id=pid, size=size, entries=(fake,), sender=sender)
            for pid, size in _db_packs(handle.url)
        )
        put.save_file(ObjectKind.INDEX, IndexFile(packs=packs).encode(), put.sealer())
    out = tmp_path / "out"
    done = run_cli("-r", handle.url, "restore", "latest", "--host", "db-01", "--target", str(out))
    assert done.code == 0, done.stderr
    assert done.stderr.count("which that key did not seal: forged") == 2
    restored = out / str(fleet.db_source).lstrip("/") / "secret.txt"
    assert restored.read_bytes() == (fleet.db_source / "secret.txt").read_bytes()
    # repair index leaves the refused index files out and loses nothing
    repaired = run_cli("-r", handle.url, "repair", "index", "--json")
    assert repaired.code == 0, repaired.stdout + repaired.stderr
    assert json.loads(repaired.stdout.splitlines()[-1])["blobs_lost"] == 0
    checked = run_cli("-r", handle.url, "--no-cache", "verify", "--read-data")
    assert checked.code == 0, checked.stdout + checked.stderr


def _save_sorted(last: bool) -> Callable[..., ObjectId]:
    """A PutOnlyRepository.save_file that re-seals an index file (a fresh ephemeral key each
    time) until its name sorts before (or after) every index file listed, so that a reader
    loads its entries before (or after) anyone's: the attack is the same whatever the order."""

    def save(
        self: PutOnlyRepository, kind: ObjectKind, plaintext: bytes, sealer: PutSealer
    ) -> ObjectId:
        listed = [i.name for i in self.backend.list("index/")]
        bound = max(listed) if last else min(listed)
        sealed = sealer.seal_file(sealed_kind_for(kind), plaintext)
        while (object_name(kind, storage_id(sealed)) > bound) != last:
            sealed = sealer.seal_file(sealed_kind_for(kind), plaintext)
        oid = storage_id(sealed)
        self.backend.put(object_name(kind, oid), sealed)
        return oid

    return save


@pytest.mark.parametrize("order", ["first", "last"])
def test_an_index_file_naming_anothers_pack_with_its_own_sender_changes_no_reader(
    fleet: Fleet, tmp_path: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch, order: str
) -> None:
    """web-01 describes db-01's packs (a full key's) and web-02's (another put-only writer's)
    under its own sender, with made-up entries, in an index file that a reader loads before
    (or after) every other: readers keep db-01's description (a full key's index file gives
    no sender: only a full key writes that) and web-02's (its packs' headers name web-02's
    sender), name the attacker's index file as forged, and both snapshots restore."""
    handle = _copy(fleet, tmp_path)
    full = handle.open()
    honest = full.read_index()
    monkeypatch.setattr(PutOnlyRepository, "save_file", _save_sorted(order == "last"))
    put = open_local_put_only(handle.url, ATTACKER_PW)
    sealer = put.sealer()
    own = PutRun(sealer).sender
    fake = PackEntry(type=BlobType.DATA, id=ObjectId(b"\1" * 32), offset=0, length=40, raw_length=9)
    victims = {pid: honest.sender(pid) for pid, _ in honest.packs()}
    attacker_packs = {
        pid for pid, sender in victims.items() if sender and _writer(full, sender) == put.keyfile.id
    }
    victims = {pid: s for pid, s in victims.items() if pid not in attacker_packs}
    assert {bool(s) for s in victims.values()} == {True, False}  # db-01's and web-02's
    packs = tuple(
        IndexedPack(id=pid, size=size, entries=(fake,), sender=own)
        for pid, size in _db_packs(handle.url)
        if pid in victims
    )
    fid = put.save_file(ObjectKind.INDEX, IndexFile(packs=packs).encode(), sealer)
    reader = RepoHandle(url=handle.url, cache=tmp_path / "reader-cache").open()
    index = reader.read_index()
    assert {pid: index.sender(pid) for pid in victims} == victims
    assert index.locations(BlobType.DATA, ObjectId(b"\1" * 32)) == []
    kept = {p.id: p.sender for p in reader.read_index_packs(SpillFile())}  # copy's reading
    assert {pid: kept[pid] for pid in victims} == victims
    told = "\n".join(f"{k}: {v}" for k, v in reader.skipped.items())
    line = f"index/{fid.hex()}: describes pack "
    assert line in told and f"{len(packs) - 1} more as written by put-only key" in told, told
    assert f"key {put.keyfile.id.hex()[:8]}, which" in told and "forged" in told, told
    # verify in the same process still names it, though this reader was told of it already
    checked = verify(reader, VerifyOptions())
    assert [f.object for f in checked.findings if f.kind == "index-forged"] == [
        f"index/{fid.hex()}"
    ]
    # verify settles it the same way: the attacker's index file is the one damaged object
    done = run_cli("-r", handle.url, "--no-cache", "--json", "verify", "--read-data")
    assert done.code == 13, done.stdout + done.stderr
    errors = [json.loads(x) for x in done.stdout.splitlines() if '"severity": "error"' in x]
    assert {(e["kind"], e["object"]) for e in errors} == {("index-forged", f"index/{fid.hex()}")}
    pruned = prune(handle.open(), PruneOptions(max_unused=0.0))  # it reads the same way
    assert (pruned.packs_marked, pruned.packs_repacked, pruned.packs_deleted) == (0, 0, 0)
    for host, source in (("db-01", fleet.db_source), ("web-02", fleet.web_source)):
        out = tmp_path / f"out-{host}"
        done = restore_latest(run_cli, handle.url, host, out)
        assert done.code == 0, done.stderr
        for f in source.iterdir():
            assert (out / str(source).lstrip("/") / f.name).read_bytes() == f.read_bytes()
    # repair index settles the dispute by the headers as every reader does: no damaged pack,
    # no blob counted lost for the made-up entries (design.md §13's gap (1'), closed)
    repaired = run_cli("-r", handle.url, "repair", "index", "--json")
    assert repaired.code == 0, repaired.stdout + repaired.stderr
    summary = json.loads(repaired.stdout.splitlines()[-1])
    assert (summary["damaged_packs"], summary["blobs_lost"]) == (0, 0), summary


def _writer(full: Repository, sender: bytes) -> bytes:
    return full.sealer.put_key(1, sender)[0]


# --- malformed version 2 objects ----------------------------------------------------------


def _mutants(sample: bytes, rng: random.Random) -> list[bytes]:
    """Truncations, flipped bytes, and 4- and 8-byte fields set to huge values."""
    out = [sample[:n] for n in range(0, len(sample), max(1, len(sample) // 40))]
    for _ in range(60):
        data = bytearray(sample)
        at = rng.randrange(len(data))
        choice = rng.randrange(3)
        if choice == 0:
            data[at] ^= 1 << rng.randrange(8)
        else:
            width = 4 if choice == 1 else 8
            data[at : at + width] = b"\xff" * width
        out.append(bytes(data))
    return out


def test_every_put_only_record_decoder_refuses_malformed_bytes_with_one_error(
    fleet: Fleet,
) -> None:
    """The records a put-only host writes or reads (index files version 2, dedup views, host
    states, put-only payloads, version 2 headers), cut short, with flipped bytes or huge
    lengths: each decoder raises only the repository's own errors (one clear message), never
    an IndexError, struct.error, MemoryError or a hang."""
    rng = random.Random(20)
    put = open_local_put_only(fleet.handle.url, ATTACKER_PW)

    def digested(plaintext: bytes) -> DedupView:
        return view_of_index(plaintext, partial(view_digest, put.id))

    sender = PutRun(put.sealer()).sender
    entry = PackEntry(
        type=BlobType.DATA, id=ObjectId(b"\2" * 32), offset=0, length=40, raw_length=9
    )
    index = IndexFile(
        packs=(IndexedPack(id=ObjectId(b"\3" * 32), size=99, entries=(entry,), sender=sender),)
    ).encode()
    state = HostStateFile(
        snapshot=ObjectId(b"\4" * 32),
        time="2026-12-05T00:00:00+00:00",
        paths=("/web",),
        tree=ObjectId(b"\5" * 32),
        trees={ObjectId(b"\5" * 32): b'{"nodes":[]}'},
    ).encode()
    samples = {
        IndexFile.decode: index,
        digested: index,
        DedupView.decode: digested(index).encode(),
        HostStateFile.decode: state,
        PutOnlyPayload.decode: put.payload.encode(),
        EnvelopeHeader.decode: put.sealer().seal_file(SealedKind.SNAPSHOT, b"{}"),
    }
    for decode, sample in samples.items():
        decode(sample)  # the sample itself is valid
        for mutant in _mutants(sample, rng):
            try:
                decode(mutant)
            except (IntegrityError, FormatVersionError) as exc:
                assert str(exc) and "\n" not in str(exc)


def test_malformed_objects_planted_in_the_store_give_one_line_each_and_break_nothing(
    fleet: Fleet, tmp_path: Path, run_cli: RunCli, cli_env: dict[str, str]
) -> None:
    """A store-level attacker (no key) plants version 2 headers cut short, huge epochs and
    junk under every prefix put-only keys use: the put-only host still backs up (skipping
    what does not open, storing its blobs again rather than trusting them), and every full-key
    command gives its documented exit code with one line per bad object, no traceback."""
    handle = _copy(fleet, tmp_path)
    root = Path(handle.url)
    put = open_local_put_only(handle.url, ATTACKER_PW)
    head = put.sealer().seal_file(SealedKind.SNAPSHOT, b"{}")[:96]
    huge_epoch = head[:6] + b"\xff\xff" + head[8:]
    junk = os.urandom(32).hex()
    live_index = next(put.backend.list("index/")).name.rsplit("/", 1)[-1]
    planted = {
        f"views/{live_index}": head[:50],
        f"state/{put.payload.audit_tag}/9999999999-{junk}": huge_epoch + b"x" * 40,
        f"snapshots/{junk}": head[:7],
        f"index/{junk}": huge_epoch + b"\0" * 100,
        f"audit/{put.payload.audit_tag}/0000000099-{junk}": b"S3V\x02",
        f"keys/{junk}": b'{"v": 3, "access": "put-only"',
    }
    for name, data in planted.items():
        write_file(root / name, data)
    host_env = {**cli_env, "S3VAULT_PASSWORD": ATTACKER_PW.decode()}
    done = run_cli(
        "-r",
        handle.url,
        "--json",
        "backup",
        str(fleet.web_source),
        "--host",
        "web-01",
        env=host_env,
    )
    assert done.code == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1])["files_unmodified"] == 1
    runs = {
        ("snapshots",): (0,),
        # restored, and exit 13: a planted snapshot file may be db-01's newest (it does not
        # open), which the restore says
        ("restore", "latest", "--host", "db-01", "--target", str(tmp_path / "out")): (13,),
        ("verify",): (13,),
        ("audit",): (13,),
        ("key", "list"): (0,),
        ("prune",): (13,),
    }
    for argv, codes in runs.items():
        done = run_cli("-r", handle.url, "--no-cache", *argv)
        text = done.stdout + done.stderr
        assert done.code in codes, (argv, text)
        assert "Traceback" not in text and "hunter2" not in text
    secret = tmp_path / "out" / str(fleet.db_source).lstrip("/") / "secret.txt"
    assert secret.read_bytes() == b"db-01's secret: hunter2\n"


# --- key files swapped ---------------------------------------------------------------------


def test_a_put_only_key_file_edited_to_look_full_or_copied_from_another_repository_opens_nothing(
    fleet: Fleet, tmp_path: Path, run_cli: RunCli, cli_env: dict[str, str]
) -> None:
    """(1) web-01's key file with its put-only fields removed (``"v": 2``, as a full key's):
    its password opens nothing (the fields are authenticated), neither for reading nor for
    backup. (2) A put-only key file of another repository, copied in: its password backs up
    into neither repository by mistake here, and the full key's commands pass it over."""
    handle = _copy(fleet, tmp_path)
    keys = Path(handle.url) / "keys"
    put = open_local_put_only(handle.url, ATTACKER_PW)
    path = keys / put.keyfile.id.hex()
    edited = json.loads(path.read_bytes())
    for field in ("access", "host", "group"):
        edited.pop(field, None)
    edited["v"] = 2
    path.write_text(json.dumps(edited, separators=(",", ":"), sort_keys=True))
    host_env = {**cli_env, "S3VAULT_PASSWORD": ATTACKER_PW.decode()}
    for argv in (("snapshots",), ("backup", str(fleet.web_source), "--host", "web-01")):
        done = run_cli("-r", handle.url, *argv, env=host_env)
        assert done.code == 12 and "Traceback" not in done.stderr, (argv, done.stderr)
        assert "hunter2" not in done.stdout
    other = RepoHandle(url=str(tmp_path / "other"), cache=tmp_path / "other-cache")
    init(other.options, InitOptions(settings=TEST_SETTINGS))
    add_put_only_key(other.open(), b"other host", host="web-01", kdf_cost="minimum", switch=True)
    foreign = next(p for p in (Path(other.url) / "keys").iterdir() if b"put-only" in p.read_bytes())
    shutil.copy(foreign, keys / foreign.name)
    other_env = {**cli_env, "S3VAULT_PASSWORD": "other host"}
    done = run_cli(
        "-r", handle.url, "backup", str(fleet.web_source), "--host", "web-01", env=other_env
    )
    assert done.code == 12 and "wrong password" in done.stderr
    listed = run_cli("-r", handle.url, "--json", "key", "list")
    assert listed.code == 0
    shown = {k["id"]: k for k in json.loads(listed.stdout)}
    assert not shown[foreign.name]["usable"]
    assert shown[foreign.name]["problem"] == "belongs to another repository"
    done = run_cli(
        "-r", handle.url, "restore", "latest", "--host", "db-01", "-t", str(tmp_path / "o")
    )
    # restored; exit 13: web-01's snapshots, whose writer's key file is edited, do not open,
    # and may be db-01's newest as far as the restore can tell
    assert done.code == 13 and "may be newer (it does not open)" in done.stderr, done.stderr
    secret = tmp_path / "o" / str(fleet.db_source).lstrip("/") / "secret.txt"
    assert secret.read_bytes() == b"db-01's secret: hunter2\n"


# --- a store-level attacker replays an old state -----------------------------------------------


class _Warnings(NullProgress):
    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def warned(self, path: str, message: str) -> None:
        self.seen.append((path, message))


REPLAYS = {
    # the old state renamed past the newest, anything under its forgotten snapshot's name
    # (the host passes over it to its real newest state: one file new)
    "renamed": ("0000000009", b"anything", False, "authentication failed", 1),
    # the newer state deleted, the old one put back, anything under the snapshot's name
    # (no state trusted: both files read)
    "newer deleted": ("0000000001", b"anything", False, "is not snapshot", 2),
    # as above with the real snapshot's bytes kept by the attacker: only the host's cache
    # (its high-water mark) tells
    "rolled back": ("0000000001", None, True, "rolled back", 2),
}


@pytest.mark.parametrize("replay", REPLAYS, ids=list(REPLAYS))
def test_an_old_state_put_back_does_not_make_the_host_skip_what_prune_deleted(
    tmp_path: Path, run_cli: RunCli, replay: str
) -> None:
    """A store-level attacker (no key) who kept web-01's first state (and its snapshot) puts
    it back after a full key forgot that snapshot and prune deleted its packs: the state's
    sealing binds its seq, the host checks the object under its snapshot's name, and its
    cache's high-water mark refuses a store whose newest state is older than one it used; so
    the host trusts no state, reads every file and stores a file that came back with its old
    content again, and a full key restores it."""
    seq, snapshot_bytes, cached, warning, files_new = REPLAYS[replay]
    handle = RepoHandle(url=str(tmp_path / "repo"), cache=tmp_path / "cache")
    init(handle.options, InitOptions(settings=TEST_SETTINGS))
    add_put_only_key(handle.open(), ATTACKER_PW, host="web-01", kdf_cost="minimum", switch=True)
    root, src, old_content = Path(handle.url), tmp_path / "web", os.urandom(30_000)
    write_file(src / "keep", os.urandom(10_000))
    write_file(src / "a", old_content)
    options = BackupOptions(paths=(str(src),), host="web-01")
    cache = tmp_path / "host-cache" if cached else None
    backup_put_only(open_local_put_only(handle.url, ATTACKER_PW, cache), options)
    kept = {p: p.read_bytes() for p in [*root.glob("state/*/*"), *root.glob("snapshots/*")]}
    os.unlink(src / "a")
    backup_put_only(open_local_put_only(handle.url, ATTACKER_PW, cache), options)
    _age(root)  # the packs are old enough for prune to delete once unused
    forget(handle.open(), ForgetOptions(policy=Policy(last=1)), prune=PruneOptions(max_unused=0.0))
    _age(root)
    assert prune(handle.open(), PruneOptions(max_unused=0.0)).packs_deleted
    if seq == "0000000001":  # the newer state deleted
        for newer in root.glob("state/*/*"):
            newer.unlink()
    for path, data in kept.items():  # the replay
        if path.parent.parent.name == "state":
            write_file(path.parent / f"{seq}-{path.name.split('-')[1]}", data)
        elif not path.exists():
            write_file(path, data if snapshot_bytes is None else snapshot_bytes)
    write_file(src / "a", old_content)  # the file comes back (a revert, a redeploy)
    warned = _Warnings()
    done = backup_put_only(
        open_local_put_only(handle.url, ATTACKER_PW, cache), options, progress=warned
    )
    assert done.files_new == files_new
    assert any(warning in message for _, message in warned.seen), warned.seen
    again = _Warnings()  # the new state is numbered past the mark: the next run trusts it
    done = backup_put_only(
        open_local_put_only(handle.url, ATTACKER_PW, cache), options, progress=again
    )
    assert (done.files_new, done.files_unmodified) == (0, 2)
    # a name that does not open is never numbered past (design.md §6a): without a cache to
    # remember it, the host passes over it again, and says so, until prune deletes it
    told = [name for name, _ in again.seen]
    assert told == ([] if seq != "0000000009" else [n for n in told if f"/{seq}-" in n]), told
    out = tmp_path / "out"
    done = run_cli("-r", handle.url, "restore", "latest", "--host", "web-01", "--target", str(out))
    if snapshot_bytes is None:  # the forgotten snapshot back, whole: it opens
        assert done.code == 0, done.stderr
    else:  # restored; exit 13: the junk under its name may be the newest, which is said
        assert done.code == 13 and "may be newer (it does not open)" in done.stderr, done.stderr
    assert (out / str(src).lstrip("/") / "a").read_bytes() == old_content


def _age(root: Path) -> None:
    """Every object three days old (past the grace), as in tests/checker/test_repair_index.py."""
    old = os.stat(root / "config").st_mtime - 3 * 86400
    for p in root.rglob("*"):
        os.utime(p, (old, old))


def test_a_key_file_copied_over_the_writers_own_does_not_lend_its_host(
    fleet: Fleet, tmp_path: Path, run_cli: RunCli
) -> None:
    """web-01 (which keeps its key material in memory) overwrites its own key file in the
    store with web-02's, then writes a snapshot naming web-02: the host check must take the
    writer's host from a key file *of that key id*, so the snapshot is refused as forged."""
    handle = _copy(fleet, tmp_path)
    put = open_local_put_only(handle.url, ATTACKER_PW)
    victim = open_local_put_only(handle.url, VICTIM_PW)
    own = json.loads(run_cli("-r", handle.url, "--json", "snapshots", "--host", "web-01").stdout)
    keys = Path(handle.url) / "keys"
    (keys / put.keyfile.id.hex()).write_bytes((keys / victim.keyfile.id.hex()).read_bytes())
    forged = SnapshotFile(
        time=datetime(2030, 1, 1, tzinfo=UTC),
        tree=ObjectId.from_hex(own[0]["tree"]),
        paths=(str(fleet.web_source),),
        hostname="web-02",
        username="root",
    )
    fid = put.save_file(ObjectKind.SNAPSHOTS, forged.encode(), put.sealer())
    listing = run_cli("-r", handle.url, "--no-cache", "--json", "snapshots", "--host", "web-02")
    assert fid.hex() not in listing.stdout
    assert "forged" in listing.stderr or "does not know" in listing.stderr, listing.stderr


def _bomb() -> bytes:
    """A zstd frame (with s3vault's tag byte) whose header claims 1 TiB of content."""
    tagged = compression.compress(b"\0" * 1000, 3)
    frame = tagged[1:]
    return tagged[:1] + frame[:4] + b"\xe0" + (1 << 40).to_bytes(8, "little") + frame[7:]


def test_a_decompression_bomb_a_put_only_host_seals_gives_one_line(
    fleet: Fleet, tmp_path: Path, run_cli: RunCli
) -> None:
    """web-01 seals a snapshot, an index file and an audit record whose compressed body claims
    1 TiB: every full-key command that reads them names each as damaged in one line (no
    MemoryError traceback) with its documented exit code, and db-01 still restores."""
    handle = _copy(fleet, tmp_path)
    put = open_local_put_only(handle.url, ATTACKER_PW)
    sealer = put.sealer()
    for kind, sealed_kind in (
        (ObjectKind.SNAPSHOTS, SealedKind.SNAPSHOT),
        (ObjectKind.INDEX, SealedKind.INDEX),
    ):
        sealed = sealer.seal(sealed_kind, _bomb())
        write_file(Path(handle.url) / object_name(kind, storage_id(sealed)), sealed)
    write_file(
        Path(handle.url) / f"audit/{put.payload.audit_tag}/0000000099-{'ab' * 32}",
        sealer.seal(SealedKind.AUDIT, _bomb()),
    )
    runs = {
        ("snapshots",): 0,
        ("restore", "latest", "--host", "db-01", "--target", str(tmp_path / "out")): 13,
        ("verify",): 13,
        ("audit",): 13,
    }
    for argv, code in runs.items():
        done = run_cli("-r", handle.url, "--no-cache", *argv)
        assert "Traceback" not in done.stderr and "MemoryError" not in done.stderr, done.stderr
        assert done.code == code, (argv, done.stdout, done.stderr)


def test_control_characters_a_put_only_host_writes_reach_no_terminal(
    fleet: Fleet, tmp_path: Path, run_cli: RunCli
) -> None:
    """web-01 writes a snapshot of its own host whose paths, tags and user name hold terminal
    escapes (clear screen, a fake prompt): `snapshots` on the administrator's terminal shows
    them escaped, never raw."""
    handle = _copy(fleet, tmp_path)
    put = open_local_put_only(handle.url, ATTACKER_PW)
    evil = "\x1b[2J\x1b[31mPWNED\r\n$ \x07"
    forged = SnapshotFile(
        time=datetime(2030, 1, 1, tzinfo=UTC),
        tree=ObjectId(b"\7" * 32),
        paths=(f"/web{evil}",),
        hostname="web-01",
        username=f"root{evil}",
        tags=(f"t{evil}",),
    )
    put.save_file(ObjectKind.SNAPSHOTS, forged.encode(), put.sealer())
    done = run_cli("-r", handle.url, "snapshots", "--host", "web-01")
    assert done.code == 0, done.stderr
    assert "\x1b" not in done.stdout + done.stderr and "\x07" not in done.stdout
    assert "PWNED\r" not in done.stdout


def test_a_view_copied_under_a_live_index_name_does_not_revive_marked_packs(
    fleet: Fleet, tmp_path: Path, run_cli: RunCli
) -> None:
    """A view copied under the name of a live index file (web-01 stores an empty one) would
    keep the packs of a superseded index file, marked for deletion by prune, in every host's
    dedup: a host whose run spans the deletion would reference deleted blobs. σ covers the
    index id (design.md §6a), so the copy does not verify and web-02 stores the blob again."""
    handle = _copy(fleet, tmp_path)
    root = Path(handle.url)
    put = open_local_put_only(handle.url, ATTACKER_PW)
    saved = {p.name: p.read_bytes() for p in (root / "views").iterdir()}
    db = [sid.hex() for sid, snap in list_snapshots(handle.open()) if snap.hostname == "db-01"]
    forget(handle.open(), ForgetOptions(snapshot_ids=tuple(db)))
    _age(root)  # past the young-pack age
    done = prune(handle.open(), PruneOptions(max_unused=0.0))
    assert done.packs_marked  # db-01's packs: marked, still stored for the grace period
    own_index = put.save_file(ObjectKind.INDEX, IndexFile().encode(), put.sealer()).hex()
    for data in saved.values():  # the replay, under the name of the attacker's index file
        (root / "views" / own_index).write_bytes(data)
    src = write_file(
        tmp_path / "web2" / "big.bin", (fleet.db_source / "big.bin").read_bytes()
    ).parent
    run = backup_put_only(
        open_local_put_only(handle.url, VICTIM_PW), BackupOptions(paths=(str(src),), host="web-02")
    )
    _age(root)  # the next prune: what web-02's snapshot needs is in its own pack, which no
    # full key has read yet; prune keeps the marked packs' trusted copies of it (design.md
    # §6a: an unproven put-only copy is no copy when another pack could go)
    later = prune(handle.open(), PruneOptions(max_unused=0.0))
    assert later.packs_unmarked >= 1, later
    out = tmp_path / "out"
    restored = restore_latest(run_cli, handle.url, "web-02", out)
    assert restored.code == 0, restored.stderr
    assert run.data_blobs >= 1  # the defence: stored, not deduplicated against a marked pack


def test_garbage_under_a_guessed_id_does_not_make_a_copy_into_the_repository_skip_it(
    fleet: Fleet, tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    """web-01 seals garbage under the id of the fleet's motd in the repository a full key
    then copies another repository into: copy does not take the put-only writer's pack for
    the target having the blob (it stores it), and the copied snapshot restores."""
    handle = _copy(fleet, tmp_path)
    _poison(handle.url, [COMMON])
    src = write_file(tmp_path / "db3" / "motd", COMMON).parent
    assert run_cli("-r", cli_repo, "backup", str(src), "--host", "db-03", "-q").code == 0
    done = run_cli("-r", cli_repo, "copy", "--to", handle.url)
    assert done.code == 0, done.stderr
    out = tmp_path / "out"
    restored = restore_latest(run_cli, handle.url, "db-03", out)
    assert restored.code == 0, restored.stderr
    assert (out / str(src).lstrip("/") / "motd").read_bytes() == COMMON


# --- a compromised host: naming other hosts' blobs in a snapshot of its own -----------------


def _held_keys(put: PutOnlyRepository, password: bytes) -> list[bytes]:
    """Every secret web-01 holds (its key file's private key and pinned Σ, its payload) and
    every key it can derive from them, each also taken as a master key it is not."""
    secret = wrapped_secret(put, password)
    payload = put.payload
    psk = putseal.psk(payload.writer, put.id)
    held = [secret[:32], secret[32:], payload.writer, payload.id_key, psk]
    held += [putseal.writer_subkey(payload.writer, put.id, p) for p in ("psk", "state", "tag")]
    for epoch in payload.epochs.values():
        held += [epoch.public, epoch.view, views.claim_key(epoch.view, psk, put.id)]
    out = list(held)
    for value in held:
        for epoch in payload.epochs:
            as_master = MasterKey(value, put.id, epoch, value)
            out += [as_master.encryption_key, as_master.view_key, as_master.id_key]
    return out


def _sealed_parts(name: str, raw: bytes) -> list[bytes]:
    """The envelopes an object holds, where a reader finds them."""
    if name == "config":
        marker = ConfigMarker.decode(raw)
        return [marker.sealed, marker.view[:-64]]
    if name.startswith(("data/", "tree/")):
        hlen = split_trailer(raw)
        return [raw[len(raw) - 4 - hlen : len(raw) - 4]]
    return [] if name.startswith("keys/") else [raw]


def _opened_by(keys: list[bytes], repo_id: bytes, extra: list[bytes], sealed: bytes) -> bytes:
    """The plaintext of ``sealed`` under any key and associated data the host can form (empty
    if none opens it), decompressed where it is compressed."""
    try:
        header = EnvelopeHeader.decode(sealed)
    except (IntegrityError, FormatVersionError):
        return b""
    bindings = [b"", views.ENDORSED, views.CLAIMED, configview.BINDING, PACK_HEADER_BINDING]
    for key in keys:
        for binding in bindings + extra:
            aad = sealed[: header.size] + repo_id + binding
            try:
                plain = aead.open_(key, header.nonce, sealed[header.size :], aad)
            except IntegrityError:
                continue
            try:
                return compression.decompress(plain)
            except IntegrityError:
                return plain
    return b""


def test_a_put_only_host_can_learn_no_id_of_a_blob_it_did_not_store(fleet: Fleet) -> None:
    """web-01 wants a snapshot of its own host whose tree names db-01's blobs, which a full-key
    restore on web-01 (docs/keys.md: the restore role on the host) would then write to its
    disk. A tree must name blob ids: web-01 fetches every object in the store, tries every key
    it holds on each, and searches everything it opened, every stored byte and every name for
    an id of a blob it did not store itself (raw, hex, base64): none. The views it opens list
    view digests (design.md §6a), so what it can still do is test content it holds: db-01's
    secret file, guessed, is found; nothing else is learned from it."""
    put = open_local_put_only(fleet.handle.url, ATTACKER_PW)
    keys = _held_keys(put, ATTACKER_PW)
    state = load_state(put)
    assert state is not None
    own = set(state.trees)
    own |= {c for blob in state.trees.values() for n in Tree.decode(blob).nodes for c in n.content}
    full = fleet.handle.open()
    foreign = {bid for _, bid, _ in full.index.entries()} - own
    secret = (fleet.db_source / "secret.txt").read_bytes()
    assert blob_id(full.sealer.current.id_key, secret) in foreign  # db-01's, among others

    opened: dict[str, bytes] = {}
    store = _store(fleet.handle.url)
    for name, raw in store.items():
        extra = [bytes(put.keyfile.id)]
        if name.startswith("state/"):  # a state binds its place, which its name gives
            tag, rest = name.split("/")[1:3]
            extra.append(bytes(put.keyfile.id) + f"{tag}/{int(rest.split('-')[0])}".encode())
        for sealed in _sealed_parts(name, raw):
            plain = _opened_by(keys, bytes(put.id), extra, sealed)
            if plain:
                opened[name] = plain
    own_state = f"state/{put.payload.audit_tag}/"
    assert {n.split("/", 1)[0] for n in opened} == {"config", "views", "state"}
    assert all(n.startswith(own_state) for n in opened if n.startswith("state/"))
    assert sum(n.startswith("views/") for n in opened) >= 1  # a fair trial: it reads views
    texts = [*opened.values(), *store.values(), "\n".join(store).encode()]
    for bid in foreign:
        forms = (bytes(bid), bid.hex().encode(), base64.b64encode(bytes(bid)).rstrip(b"="))
        assert not any(form in text for form in forms for text in texts), bid.short

    dedup = PutDedupIndex(put.id)
    assert endorsed_blobs(put, dedup) >= 1
    assert not {bid for _, bid, _ in dedup.entries()} & foreign  # digests only, no ids
    assert dedup.has(BlobType.DATA, blob_id(put.payload.id_key, secret))  # known content
    assert not dedup.has(BlobType.DATA, blob_id(put.payload.id_key, b"db-01's secret: 1234\n"))


@pytest.mark.parametrize("length", ["its own", "the file's"])
def test_garbage_under_the_id_of_a_shared_file_does_not_make_a_restore_refuse_it(
    fleet: Fleet,
    tmp_path: Path,
    run_cli: RunCli,
    monkeypatch: pytest.MonkeyPatch,
    length: str,
) -> None:
    """web-01 holds a file web-02 also holds, so it knows the blob's id without any view, and
    seals garbage under it in an index file that sorts first: only put-only packs hold the
    blob, so its copy comes first. Of a length of its own, the plan takes web-02's copy, whose
    length fits the file (repository/copies.py ``file_layout``); of the file's length, the
    garbage fails its id check and the blob is read from web-02's copy. Either way the file
    is restored (exit 0) and one line names the bad copy."""
    handle = _copy(fleet, tmp_path)
    monkeypatch.setattr(PutOnlyRepository, "save_file", _save_listed_first)
    put = open_local_put_only(handle.url, ATTACKER_PW)
    shared = (fleet.web_source / "index.html").read_bytes()  # web-01's own file, and web-02's
    garbage = b"attacker's garbage" if length == "its own" else os.urandom(len(shared))
    writer = put.blob_writer(BlobIndex(), verify=False)
    writer.save(BlobType.DATA, garbage, blob_id(put.payload.id_key, shared))
    writer.flush()
    out = tmp_path / "out"
    done = restore_latest(run_cli, handle.url, "web-02", out)
    assert done.code == 0, done.stderr
    assert (out / str(fleet.web_source).lstrip("/") / "index.html").read_bytes() == shared
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "read from its copy in pack" in lines[0], done.stderr
    repo = handle.open()  # a mounted file: the same size and bytes (fusefs/content.py)
    _sid, entries = ls(
        repo,
        "latest",
        str(fleet.web_source / "index.html"),
        select=SnapshotFilter(hosts=("web-02",)),
    )
    (entry,) = list(entries)
    cache = BlobCache(repo)
    mounted = FileContent(repo, entry.node, cache)
    assert (mounted.size, mounted.read(0, len(shared) + 1)) == (len(shared), shared)
    cache.close()


# --- a compromised host: getting garbage endorsed ----------------------------------------


def _index_ids(url: str) -> set[str]:
    return {p.name for p in (Path(url) / "index").rglob("*") if p.is_file()}


def _victim_dedups(url: str, content: bytes) -> bool:
    """Whether web-02 would skip ``content`` (the endorsed views it deduplicates against)."""
    put = open_local_put_only(url, VICTIM_PW)
    seen = PutDedupIndex(put.id)
    endorsed_blobs(put, seen)
    return seen.has(BlobType.DATA, blob_id(put.payload.id_key, content))


def test_a_pack_with_garbage_under_a_guessed_id_is_never_endorsed(
    fleet: Fleet, tmp_path: Path, run_cli: RunCli, cli_env: dict[str, str]
) -> None:
    """web-01 seals garbage under the motd's id; a full key's `verify --read-data` opens the
    blob, finds it does not match its id, and endorses the put-only packs it proved but not
    that one; web-02 then stores the motd itself."""
    handle = _copy(fleet, tmp_path)
    before = _index_ids(handle.url)
    _poison(handle.url, [COMMON])
    (poisoned,) = _index_ids(handle.url) - before
    checked = run_cli("-r", handle.url, "--json", "verify", "--read-data")
    assert checked.code == 13, checked.stdout + checked.stderr
    summary = json.loads(checked.stdout.splitlines()[-1])
    assert summary["endorsed_index_files"] == 2  # web-01's and web-02's clean backups
    assert not (
        Path(handle.url) / object_name(ObjectKind.VIEWS, ObjectId.from_hex(poisoned))
    ).exists()
    assert not _victim_dedups(handle.url, COMMON)
    src = write_file(tmp_path / "web2" / "motd", COMMON).parent
    host = {**cli_env, "S3VAULT_PASSWORD": VICTIM_PW.decode()}
    done = run_cli("-r", handle.url, "--json", "backup", str(src), "--host", "web-02", env=host)
    assert done.code == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1])["data_blobs"] == 1  # stored, not skipped


def test_a_proven_pack_named_again_with_a_guessed_id_is_not_endorsed_nor_kept_by_prune(
    fleet: Fleet, tmp_path: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """web-01 stores a genuine pack, which a full key proves and endorses; web-01 then writes
    another index file naming that pack with the motd's id over bytes that are something
    else, sorting first. No read-back checked that entry: the file gets no view, prune (which
    takes the pack's description from it) does not carry the motd's id into a view of its
    own, and web-02 never deduplicates the motd against it."""
    handle = _copy(fleet, tmp_path)
    put = open_local_put_only(handle.url, ATTACKER_PW)
    before = _index_ids(handle.url)
    writer = put.blob_writer(BlobIndex(), verify=False)
    own = b"web-01's own file\n" * 30
    writer.save(BlobType.DATA, own, blob_id(put.payload.id_key, own))
    writer.flush()
    (mine,) = _index_ids(handle.url) - before
    assert run_cli("-r", handle.url, "verify", "--read-data").code == 0
    (pack,) = IndexFile.decode(
        handle.open().load_file(ObjectKind.INDEX, ObjectId.from_hex(mine))
    ).packs
    real = pack.entries[0]
    fake = replace(real, id=blob_id(put.payload.id_key, COMMON))
    forged = IndexFile(packs=(replace(pack, entries=(*pack.entries, fake)),))
    monkeypatch.setattr(PutOnlyRepository, "save_file", _save_listed_first)  # prune takes it
    put.save_file(ObjectKind.INDEX, forged.encode(), put.sealer())
    again = run_cli("-r", handle.url, "--json", "verify", "--read-data")
    assert json.loads(again.stdout.splitlines()[-1])["endorsed_index_files"] == 0
    assert not _victim_dedups(handle.url, COMMON)
    pruned = run_cli("-r", handle.url, "prune")
    assert pruned.code == 0, pruned.stderr
    assert not _victim_dedups(handle.url, COMMON)
    assert run_cli("-r", handle.url, "--json", "verify", "--read-data").code in (0, 13)
    assert not _victim_dedups(handle.url, COMMON)
