"""repair packs through the real entry point: salvage what reads back, remove the pack."""

from __future__ import annotations

import datetime
import os
from pathlib import Path

import boto3
import pytest

from s3vault.clock import SystemClock
from s3vault.format.packfile import BlobType
from s3vault.ids import ObjectId
from s3vault.repository.snapshots import load_snapshot
from tests.cli.test_repair import (
    all_objects,
    backup_json,
    expected_without,
    flip,
    lines,
    make_source,
    open_lib,
    tree_at,
)
from tests.cli.test_s3 import s3_env
from tests.conftest import RunCli
from tests.trees import snapshot_tree


def data_pack_of(repo: str, src: Path, sid: str, rel: str) -> tuple[Path, ObjectId]:
    """The stored data pack holding the first blob of file ``rel``, and that blob's id."""
    lib = open_lib(repo)
    root = load_snapshot(lib, ObjectId.from_hex(sid)).tree
    parent = Path(src, rel).parent
    node = lib.load_tree(tree_at(lib, root, parent)).find(Path(rel).name.encode())
    assert node is not None
    bid = node.content[0]
    loc = lib.index.lookup(BlobType.DATA, bid)
    assert loc is not None
    return Path(repo, "data", loc.pack_id.hex()[:2], loc.pack_id.hex()), bid


def restored(
    run_cli: RunCli,
    repo: str,
    snap: str,
    target: Path,
    src: Path,
    env: dict[str, str] | None = None,
) -> dict[bytes, object]:
    done = run_cli("-r", repo, "--no-cache", "restore", snap, "-t", str(target), env=env)
    assert done.code in (0, 3), done.stderr
    return dict(snapshot_tree(target / str(src).lstrip("/")))


def test_a_damaged_blob_is_lost_the_rest_of_its_pack_is_salvaged(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    """One bit flipped in a data blob: verify --read-data names the pack; repair packs keeps a
    copy of it as read, writes its other blobs into a new pack, removes it and names the one
    lost blob (exit 13); repair snapshots then leaves out the one file, and the repository
    verifies clean with every other file restoring exactly."""
    src = make_source(tmp_path)
    sid = backup_json(run_cli, cli_repo, src)
    pack, bid = data_pack_of(cli_repo, src, sid, "c/f1.bin")
    lib = open_lib(cli_repo)
    loc = lib.index.lookup(BlobType.DATA, bid)
    assert loc is not None
    flip(pack, loc.offset + loc.length // 2)
    damaged = pack.read_bytes()
    check = run_cli("-r", cli_repo, "--no-cache", "verify", "--read-data")
    assert check.code == 13 and pack.name[:8] in check.stdout + check.stderr
    saved = tmp_path / "kept"
    done = run_cli(
        "-r", cli_repo, "repair", "packs", pack.name[:10], "--save-to", str(saved), "--json"
    )
    assert done.code == 13, done.stderr
    (report,) = [x for x in lines(done.stdout) if x["message_type"] == "pack_repair"]
    assert report["lost"] == [{"type": "data", "id": bid.hex()}]
    assert report["deleted"] is True and report["rewritten"] >= 1
    assert not pack.exists()
    assert (saved / pack.name).read_bytes() == damaged  # the copy is the pack as it was
    # The repair loses nothing more: only the damaged file is missing from the snapshot.
    fixed = run_cli("-r", cli_repo, "--no-cache", "repair", "snapshots", "--forget")
    assert fixed.code == 0, fixed.stdout + fixed.stderr
    assert f"left out file {src}/c/f1.bin" in fixed.stdout
    clean = run_cli("-r", cli_repo, "--no-cache", "verify", "--read-data")
    assert clean.code == 0, clean.stdout + clean.stderr
    assert restored(run_cli, cli_repo, "latest", tmp_path / "t", src) == expected_without(
        src, (), ("c/f1.bin",)
    )


def test_a_damaged_header_loses_nothing(tmp_path: Path, cli_repo: str, run_cli: RunCli) -> None:
    """A bit flipped in a pack's header: every blob is found through the index, reads back and
    is written again; nothing is lost (exit 0) and the snapshot restores exactly."""
    src = make_source(tmp_path)
    sid = backup_json(run_cli, cli_repo, src)
    pack, _bid = data_pack_of(cli_repo, src, sid, "a/f0.bin")
    flip(pack, pack.stat().st_size - 10)  # inside the sealed header's tag
    done = run_cli("-r", cli_repo, "repair", "packs", pack.name, "--no-save")
    assert done.code == 0, done.stdout + done.stderr
    assert "pack header unreadable" in done.stdout and "removed" in done.stdout
    assert not pack.exists()
    assert list(tmp_path.glob(pack.name)) == []  # --no-save: no copy anywhere
    clean = run_cli("-r", cli_repo, "--no-cache", "verify", "--read-data")
    assert clean.code == 0, clean.stdout + clean.stderr
    assert restored(run_cli, cli_repo, sid[:8], tmp_path / "t", src) == dict(snapshot_tree(src))


def test_dry_run_and_bad_arguments_change_nothing(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    src = make_source(tmp_path)
    sid = backup_json(run_cli, cli_repo, src)
    pack, bid = data_pack_of(cli_repo, src, sid, "b/f2.bin")
    lib = open_lib(cli_repo)
    loc = lib.index.lookup(BlobType.DATA, bid)
    assert loc is not None
    flip(pack, loc.offset + 5)
    before = all_objects(cli_repo)
    dry = run_cli("-r", cli_repo, "repair", "packs", pack.name[:12], "--dry-run")
    assert dry.code == 13, dry.stderr
    assert "would write again" in dry.stdout and "1 lost" in dry.stdout
    assert "dry run: nothing was changed" in dry.stdout
    for args, words in (
        (("nothex!",), "is not a pack id"),
        (("ffffffffffff",), "no pack with id"),
        (("",), "is not a pack id"),
    ):
        bad = run_cli("-r", cli_repo, "repair", "packs", *args)
        assert bad.code == 2 and words in bad.stderr, bad.stderr
    a_file = tmp_path / "file"
    a_file.write_bytes(b"x")
    unwritable = run_cli(
        "-r", cli_repo, "repair", "packs", pack.name, "--save-to", str(a_file / "sub")
    )
    assert unwritable.code == 2 and "nothing was changed" in unwritable.stderr
    # the pack's own folder (the default, run from there): the copy "kept" was the pack
    inside = run_cli("-r", cli_repo, "repair", "packs", pack.name, "--save-to", str(pack.parent))
    assert inside.code == 2 and "is inside the repository" in inside.stderr, inside.stderr
    missing = run_cli("-r", cli_repo, "repair", "packs")
    assert missing.code == 2
    # Only the audit log grows (it records each refused invocation too).
    after = all_objects(cli_repo)
    assert {k: v for k, v in after.items() if not k.startswith("audit/")} == {
        k: v for k, v in before.items() if not k.startswith("audit/")
    }


@pytest.mark.parametrize(
    "point",
    ["repair-packs-after-write", "repair-packs-after-index", "repair-packs-before-delete"],
)
def test_a_kill_at_any_step_leaves_a_repository_that_a_second_run_finishes(
    tmp_path: Path, cli_repo: str, cli_env: dict[str, str], run_cli: RunCli, point: str
) -> None:
    """Killed between its steps, repair packs leaves every intact file restorable and the
    index consistent (verify finds nothing worse than the damage it started with); running it
    again finishes the job."""
    src = make_source(tmp_path)
    sid = backup_json(run_cli, cli_repo, src)
    pack, _bid = data_pack_of(cli_repo, src, sid, "a/f0.bin")
    flip(pack, pack.stat().st_size - 10)
    env = {**cli_env, "S3VAULT_TEST_CRASH_AT": point}
    killed = run_cli("-r", cli_repo, "repair", "packs", pack.name, "--no-save", env=env)
    assert killed.code < 0 or killed.code == 137, killed.stderr
    assert run_cli("-r", cli_repo, "--no-cache", "verify").code == 0
    assert restored(run_cli, cli_repo, sid[:8], tmp_path / "t1", src) == dict(snapshot_tree(src))
    if pack.exists():  # still there: a second run finishes the repair
        again = run_cli("-r", cli_repo, "unlock")
        assert again.code == 0, again.stderr
        done = run_cli("-r", cli_repo, "repair", "packs", pack.name, "--no-save")
        assert done.code == 0, done.stdout + done.stderr
    assert not pack.exists()
    clean = run_cli("-r", cli_repo, "--no-cache", "verify", "--read-data")
    assert clean.code == 0, clean.stdout + clean.stderr
    assert os.listdir(tmp_path / "t1")


def test_under_object_lock_the_pack_stays_unindexed_until_its_lock_ends(
    s3_bucket: str, s3_server: str, tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    """On S3 with Object Lock, a damaged pack (a new version written over it) is salvaged and
    leaves the index, but the store keeps it: repair packs says so and exits 13; nothing a
    snapshot needs is lost and verify --read-data is clean (the leftover is unindexed)."""
    env = s3_env(cli_env, s3_server)
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket="locked-repair", ObjectLockEnabledForBucket=True)
    url = "s3://locked-repair/repo"
    made = run_cli(
        "-r", url, "init", "--kdf-cost", "minimum", "--no-recovery-key",
        "--object-lock", "governance", "--keep-within", "1h", "--lock-period", "1h", env=env,
    )  # fmt: skip
    assert made.code == 0, made.stderr
    src = make_source(tmp_path)
    done = run_cli("-r", url, "backup", str(src), "--json", env=env)
    assert done.code == 0, done.stderr
    listed = client.list_objects_v2(Bucket="locked-repair", Prefix="repo/data/")["Contents"]
    key = listed[0]["Key"]
    body = bytearray(client.get_object(Bucket="locked-repair", Key=key)["Body"].read())
    body[-10] ^= 0x04  # the header: every blob is found through the index
    until = SystemClock().now() + datetime.timedelta(hours=1)
    client.put_object(  # damaged as stored: locked like every object of the repository
        Bucket="locked-repair",
        Key=key,
        Body=bytes(body),
        ObjectLockMode="GOVERNANCE",
        ObjectLockRetainUntilDate=until,
    )
    pid = key.rsplit("/", 1)[-1]
    fixed = run_cli("-r", url, "repair", "packs", pid[:10], "--no-save", env=env)
    assert fixed.code == 13, fixed.stdout + fixed.stderr
    assert "Object Lock holds it" in fixed.stdout
    keys = [o["Key"] for o in client.list_objects_v2(Bucket="locked-repair")["Contents"]]
    assert key in keys  # still stored
    clean = run_cli("-r", url, "--no-cache", "verify", "--read-data", env=env)
    assert clean.code == 0, clean.stdout + clean.stderr
    assert restored(run_cli, url, "latest", tmp_path / "t", src, env) == dict(snapshot_tree(src))
