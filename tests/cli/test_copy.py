"""copy for disaster recovery through the real CLI (issue 7): snapshots go to another
repository with another password, re-encrypted, keeping their time, host and paths and where
they came from; data the target has is not sent again; a second copy resumes (skips what is
there); the target can be a profile with its own account (credential set) and bucket."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import boto3

from tests.cli.test_s3 import s3_env
from tests.conftest import RunCli, write_file
from tests.trees import snapshot_tree

INIT = ("init", "--kdf-cost", "minimum", "--no-recovery-key")


def snapshots(run_cli: RunCli, *args: str, env: dict[str, str] | None = None) -> list[dict]:
    done = run_cli(*args, "--json", "snapshots", env=env)
    assert done.code == 0, done.stderr
    return list(json.loads(done.stdout))


def _two_repositories(tmp_path: Path, run_cli: RunCli) -> tuple[str, str]:
    """A source and a target repository, made with init."""
    src_url, dst_url = str(tmp_path / "src-repo"), str(tmp_path / "dst-repo")
    assert run_cli("-r", src_url, *INIT).code == 0
    assert run_cli("-r", dst_url, *INIT).code == 0
    return src_url, dst_url


def test_copy_between_local_repositories(
    tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    src_url, dst_url = str(tmp_path / "src-repo"), str(tmp_path / "dst-repo")
    pw = write_file(tmp_path / "dst-pw", b"another password\n")
    assert run_cli("-r", src_url, *INIT).code == 0
    assert run_cli("-r", dst_url, "--password-file", str(pw), *INIT).code == 0
    data = tmp_path / "data"
    for i in range(8):
        write_file(data / f"f{i}.bin", os.urandom(200_000))
    assert run_cli("-r", src_url, "backup", str(data), "--tag", "nightly").code == 0
    write_file(data / "f0.bin", os.urandom(200_000))
    assert run_cli("-r", src_url, "backup", str(data), "--tag", "nightly").code == 0

    to = ("--to", dst_url, "--to-password-file", str(pw))
    first = run_cli("-r", src_url, "--json", "copy", *to)
    assert first.code == 0, first.stderr
    summary = json.loads(first.stdout.splitlines()[-1])
    assert len(summary["copied"]) == 2 and summary["skipped"] == []
    source = snapshots(run_cli, "-r", src_url)
    copied = snapshots(run_cli, "-r", dst_url, "--password-file", str(pw))
    for a, b in zip(source, copied, strict=True):
        assert (a["time"], a["hostname"], a["paths"], a["tags"]) == (
            b["time"],
            b["hostname"],
            b["paths"],
            b["tags"],
        )
        assert b["original"] == a["id"]  # restic's field: the id alone
        assert len(b["original_repository"]) == 64 and a.get("original") is None
        assert a["id"] != b["id"]  # re-encrypted: other ids
    assert run_cli("-r", dst_url, "--password-file", str(pw), "verify", "--read-data").code == 0
    target = tmp_path / "restored"
    done = run_cli(
        "-r", dst_url, "--password-file", str(pw), "restore", "latest", "-t", str(target)
    )
    assert done.code == 0, done.stderr
    assert snapshot_tree(target / data.relative_to("/")) == snapshot_tree(data)

    again = run_cli("-r", src_url, "--json", "copy", *to)
    summary = json.loads(again.stdout.splitlines()[-1])
    assert summary["copied"] == [] and len(summary["skipped"]) == 2 and summary["blobs_sent"] == 0

    write_file(data / "f1.bin", os.urandom(200_000))
    assert run_cli("-r", src_url, "backup", str(data)).code == 0
    third = run_cli("-r", src_url, "--json", "copy", *to)
    summary = json.loads(third.stdout.splitlines()[-1])
    assert len(summary["copied"]) == 1
    # only the changed file was read from the source and sent: the id map remembers the rest
    assert summary["bytes_read"] <= 250_000  # one data blob, plus the trees above it
    assert summary["bytes_sent"] < 250_000
    latest = snapshots(run_cli, "-r", dst_url, "--password-file", str(pw))[-1]
    assert latest["parent"] == copied[-1]["id"]  # the parent is the copy of the parent


def test_a_copied_empty_file_passes_the_drill_of_the_copy(tmp_path: Path, run_cli: RunCli) -> None:
    """An empty file's content hash is keyed by the target's id key like any other (the copy
    kept the source's, so `restore --verify` and every restore-test of a copied snapshot that
    holds an empty file failed with a hash mismatch: a DR walk-through, 2026-12-07)."""
    src_url, dst_url = str(tmp_path / "src-repo"), str(tmp_path / "dst-repo")
    for url in (src_url, dst_url):
        assert run_cli("-r", url, *INIT).code == 0
    data = tmp_path / "data"
    write_file(data / "empty", b"")
    write_file(data / "full", b"content")
    assert run_cli("-r", src_url, "backup", str(data)).code == 0
    assert run_cli("-r", src_url, "copy", "--to", dst_url).code == 0
    done = run_cli("-r", dst_url, "restore", "latest", "-t", str(tmp_path / "r"), "--verify")
    assert done.code == 0, done.stderr
    assert "verified 2 files against the snapshot: 0 did not match" in done.stdout
    drill = run_cli("-r", dst_url, "restore-test", "--no-record")
    assert drill.code == 0, drill.stdout + drill.stderr


def test_copy_to_another_account_through_a_profile(
    s3_bucket: str, s3_server: str, tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    env = s3_env(cli_env, s3_server)
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="dr-region")
    aws_config = write_file(
        tmp_path / "aws-config",
        b"[profile dr]\naws_access_key_id = drkey\naws_secret_access_key = drsecret\n"
        b"region = us-east-1\n",
    )
    dr_pw = write_file(tmp_path / "dr-pw", b"dr password\n")
    config = write_file(
        tmp_path / "config.toml",
        f'[profiles.dr]\nrepository = "s3://dr-region/fleet"\naws_profile = "dr"\n'
        f'password_file = "{dr_pw}"\n'.encode(),
    )
    env["AWS_CONFIG_FILE"] = str(aws_config)
    src = f"s3://{s3_bucket}/fleet"
    assert run_cli("-r", src, *INIT, env=env).code == 0
    dr_env = {k: v for k, v in env.items() if k != "S3VAULT_PASSWORD"}  # the profile's file
    assert run_cli("--config", str(config), "-P", "dr", *INIT, env=dr_env).code == 0
    data = tmp_path / "data"
    write_file(data / "a.txt", b"important\n" * 1000)
    assert run_cli("-r", src, "backup", str(data), env=env).code == 0
    # a transfer flag on the command line applies to a profile target too (it reached only
    # the source, without a word: an attack pass, 2026-12-07)
    cold = ("--s3-storage-class", "STANDARD_IA")
    done = run_cli("--config", str(config), "-r", src, *cold, "copy", "--to", "dr", env=env)
    assert done.code == 0, done.stderr
    assert "1 copied" in done.stdout
    stored = boto3.client("s3", region_name="us-east-1").list_objects_v2(
        Bucket="dr-region", Prefix="fleet/data/"
    )["Contents"]
    assert stored and {o["StorageClass"] for o in stored} == {"STANDARD_IA"}
    listed = run_cli("--config", str(config), "-P", "dr", "--json", "snapshots", env=dr_env)
    (copy,) = json.loads(listed.stdout)
    assert copy["paths"] == [str(data)]
    keys = boto3.client("s3", region_name="us-east-1").list_objects_v2(Bucket="dr-region")
    assert any(k["Key"].startswith("fleet/snapshots/") for k in keys["Contents"])
    # copying into itself is refused
    same = run_cli("-r", src, "copy", "--to", src, env=env)
    assert same.code == 2 and "the target is the source" in same.stderr


def test_a_killed_copy_resumes_without_sending_again(
    tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    src_url, dst_url = str(tmp_path / "src-repo"), str(tmp_path / "dst-repo")
    assert run_cli("-r", src_url, *INIT).code == 0
    assert run_cli("-r", dst_url, *INIT, "--pack-size", "1").code == 0
    data = tmp_path / "data"
    for i in range(80):  # about 40 packs of 1 MiB: an index file after the 32nd
        write_file(data / f"f{i}.bin", os.urandom(500_000))
    assert run_cli("-r", src_url, "backup", str(data)).code == 0
    # killed (SIGKILL, by the test hook) right after its first index file
    crash = {**cli_env, "S3VAULT_TEST_CRASH_AT": "after-index"}
    killed = run_cli("-r", src_url, "--json", "copy", "--to", dst_url, env=crash)
    assert killed.code == -9, killed.stderr
    assert snapshots(run_cli, "-r", dst_url) == []  # no snapshot without all its data

    resumed = run_cli("-r", src_url, "--json", "copy", "--to", dst_url)
    assert resumed.code == 0, resumed.stderr
    summary = json.loads(resumed.stdout.splitlines()[-1])
    assert len(summary["copied"]) == 1
    # the 32 packs the killed run stored and indexed are not sent again
    assert summary["bytes_sent"] < 80 * 500_000 - 30 * 1_000_000, summary
    assert run_cli("-r", dst_url, "verify", "--read-data").code == 0
    target = tmp_path / "restored"
    assert run_cli("-r", dst_url, "restore", "latest", "-t", str(target)).code == 0
    assert snapshot_tree(target / data.relative_to("/")) == snapshot_tree(data)


def test_copy_without_its_map_reads_everything_and_sends_only_what_the_target_lacks(
    tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    src_url, dst_url = _two_repositories(tmp_path, run_cli)
    data = tmp_path / "data"
    for i in range(6):
        write_file(data / f"f{i}.bin", os.urandom(300_000))
    assert run_cli("-r", src_url, "backup", str(data)).code == 0
    first = run_cli("-r", src_url, "--no-cache", "--json", "copy", "--to", dst_url)
    assert first.code == 0, first.stderr
    write_file(data / "f0.bin", os.urandom(300_000))
    assert run_cli("-r", src_url, "backup", str(data)).code == 0
    # no cache, so no id map: every file is read again to learn its target ids, but what
    # the target holds already is not sent again
    second = run_cli("-r", src_url, "--no-cache", "--json", "copy", "--to", dst_url)
    assert second.code == 0, second.stderr
    summary = json.loads(second.stdout.splitlines()[-1])
    assert len(summary["copied"]) == 1 and len(summary["skipped"]) == 1
    assert summary["bytes_read"] >= 6 * 300_000
    assert summary["bytes_sent"] < 2 * 300_000
    assert run_cli("-r", dst_url, "verify", "--read-data").code == 0
    target = tmp_path / "restored"
    assert run_cli("-r", dst_url, "restore", "latest", "-t", str(target)).code == 0
    assert snapshot_tree(target / data.relative_to("/")) == snapshot_tree(data)


def test_after_the_target_lost_data_a_copy_sends_it_again(
    tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    """The target loses a data pack; `repair index` there, `forget` its damaged copy: the
    next copy (with its id map) copies the snapshot again and sends the lost data. It said
    "sent 0 blobs", exit 0, and the new copy used the lost blobs (verify: exit 13), because
    the map's tree said everything below it was stored (a DR walk-through, 2026-12-07)."""
    src_url, dst_url = _two_repositories(tmp_path, run_cli)
    data = tmp_path / "data"
    for i in range(3):
        write_file(data / f"f{i}.bin", os.urandom(300_000))
    assert run_cli("-r", src_url, "backup", str(data)).code == 0
    assert run_cli("-r", src_url, "copy", "--to", dst_url).code == 0
    for pack in (Path(dst_url) / "data").rglob("*"):
        if pack.is_file():
            pack.unlink()
    assert run_cli("-r", dst_url, "repair", "index").code == 13  # blobs are lost
    assert run_cli("-r", dst_url, "forget", "latest").code == 0
    again = run_cli("-r", src_url, "--json", "copy", "--to", dst_url)
    assert again.code == 0, again.stderr
    summary = json.loads(again.stdout.splitlines()[-1])
    assert len(summary["copied"]) == 1 and summary["bytes_sent"] >= 3 * 300_000, summary
    assert run_cli("-r", dst_url, "verify", "--read-data").code == 0
    target = tmp_path / "restored"
    assert run_cli("-r", dst_url, "restore", "latest", "-t", str(target)).code == 0
    assert snapshot_tree(target / data.relative_to("/")) == snapshot_tree(data)


def test_a_damaged_source_snapshot_is_not_copied_and_the_others_are(
    tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    src_url, dst_url = str(tmp_path / "src-repo"), str(tmp_path / "dst-repo")
    assert run_cli("-r", src_url, *INIT).code == 0
    assert run_cli("-r", dst_url, *INIT).code == 0
    data = tmp_path / "data"
    write_file(data / "a.bin", os.urandom(200_000))
    assert run_cli("-r", src_url, "backup", str(data)).code == 0
    packs = set((Path(src_url) / "data").rglob("*"))
    write_file(data / "b.bin", os.urandom(200_000))
    assert run_cli("-r", src_url, "backup", str(data)).code == 0
    for pack in {p for p in (Path(src_url) / "data").rglob("*") if p.is_file()} - packs:
        raw = bytearray(pack.read_bytes())  # only the second snapshot needs these packs
        raw[len(raw) // 3] ^= 0x40
        pack.chmod(0o644)
        pack.write_bytes(bytes(raw))
    done = run_cli("-r", src_url, "--json", "copy", "--to", dst_url)
    assert done.code == 13, done.stderr
    summary = json.loads(done.stdout.splitlines()[-1])
    first, second = (s["id"] for s in snapshots(run_cli, "-r", src_url))
    assert [s for s, _ in (c.values() for c in summary["copied"])] == [first]
    assert [f["source_snapshot_id"] for f in summary["failed"]] == [second]
    copied = snapshots(run_cli, "-r", dst_url)
    assert [c["original"] for c in copied] == [first]
    assert run_cli("-r", dst_url, "verify", "--read-data").code == 0


def _pair(tmp_path: Path, run_cli: RunCli, backups: int = 2) -> tuple[str, str, list[str]]:
    """A source with ``backups`` snapshots and an empty target (same password)."""
    src_url, dst_url = str(tmp_path / "src-repo"), str(tmp_path / "dst-repo")
    assert run_cli("-r", src_url, *INIT).code == 0
    assert run_cli("-r", dst_url, *INIT).code == 0
    data = tmp_path / "data"
    for n in range(backups):
        write_file(data / f"f{n}.bin", os.urandom(100_000))
        assert run_cli("-r", src_url, "backup", str(data)).code == 0
    return src_url, dst_url, [s["id"] for s in snapshots(run_cli, "-r", src_url)]


def _copy(run_cli: RunCli, src: str, dst: str, *args: str) -> tuple[int, dict, str]:
    done = run_cli("-r", src, "--json", "copy", *args, "--to", dst)
    lines = done.stdout.splitlines()
    return done.code, json.loads(lines[-1]) if lines else {}, done.stderr


def test_a_copy_back_never_brings_back_what_the_target_forgot_or_rewrote_and_says_so(
    tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    """A copy of B's snapshot held in A is not copied back into B once B no longer holds it
    (forgotten, or rewritten there to remove a file: copying back would undo it, a review);
    it was reported as "already there" (an attack pass). Now it is said apart."""
    b_url, a_url, (first, second) = _pair(tmp_path, run_cli)
    assert _copy(run_cli, b_url, a_url)[0] == 0
    assert run_cli("-r", b_url, "forget", first).code == 0
    code, summary, err = _copy(run_cli, a_url, b_url)
    assert code == 0, err
    assert summary["copied"] == [] and len(summary["skipped"]) == 1, summary
    assert [c["target_snapshot_id"] for c in summary["not_copied_back"]] == [first], summary
    said = run_cli("-r", a_url, "copy", "--to", b_url)
    assert "1 snapshot not copied back: copies of the target's own snapshots of which" in (
        said.stdout
    )
    assert [s["id"] for s in snapshots(run_cli, "-r", b_url)] == [second]
    secret = write_file(tmp_path / "data" / "secret", b"password=hunter2")
    assert run_cli("-r", b_url, "backup", str(secret.parent)).code == 0
    assert _copy(run_cli, b_url, a_url)[0] == 0
    assert run_cli("-r", b_url, "rewrite", "--exclude", "secret", "--forget").code == 0
    code, summary, err = _copy(run_cli, a_url, b_url)
    assert code == 0 and summary["copied"] == [], (err, summary)
    found = run_cli("-r", b_url, "find", "secret")
    assert found.code == 0 and "secret" not in found.stdout, found.stdout


def test_a_backup_copied_through_another_repository_or_sealed_again_is_there_already(
    tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    """A → B, B → C, then A → C: C holds A's backups already (through B), by time, host,
    paths, tags and content; the same after the target's own `prune --reencrypt` for a copy
    back. Both stored every backup a second time (a review)."""
    a_url, b_url, _ = _pair(tmp_path, run_cli)
    c_url = str(tmp_path / "c-repo")
    assert run_cli("-r", c_url, *INIT).code == 0
    for src, dst in ((a_url, b_url), (b_url, c_url)):
        assert _copy(run_cli, src, dst)[0] == 0
    code, summary, err = _copy(run_cli, a_url, c_url)
    assert code == 0 and summary["copied"] == [] and len(summary["skipped"]) == 2, summary
    assert run_cli("-r", a_url, "key", "rotate-master").code == 0
    assert run_cli("-r", a_url, "prune", "--reencrypt").code == 0
    code, summary, err = _copy(run_cli, b_url, a_url)
    assert code == 0 and summary["copied"] == [], (err, summary)
    assert len(snapshots(run_cli, "-r", a_url)) == 2


def test_a_source_sealed_again_by_prune_reencrypt_is_not_copied_twice(
    tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    """`prune --reencrypt` gives the source's snapshots new ids; they are the same backups, so
    the next copy finds them there (it stored each again: `forget --keep-last 3` then kept
    one backup twice)."""
    src_url, dst_url, _ = _pair(tmp_path, run_cli, backups=3)
    assert _copy(run_cli, src_url, dst_url)[0] == 0
    assert run_cli("-r", src_url, "key", "rotate-master").code == 0
    assert run_cli("-r", src_url, "prune", "--reencrypt").code == 0
    code, summary, err = _copy(run_cli, src_url, dst_url)
    assert code == 0, err
    assert summary["copied"] == [] and len(summary["skipped"]) == 3, summary
    assert len(snapshots(run_cli, "-r", dst_url)) == 3


def test_copy_of_snapshots_named_copies_those_and_refuses_what_names_none(
    tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    """As tag and rewrite take ids: an id or prefix that names no snapshot is a usage error
    (it copied nothing, exit 0), `latest` is the newest one."""
    src_url, dst_url, (first, second) = _pair(tmp_path, run_cli)
    for wrong in ("deadbeef", "zz"):
        code, _, err = _copy(run_cli, src_url, dst_url, wrong)
        assert code == 2 and wrong in err, err
    code, _, err = _copy(run_cli, src_url, "")  # the target's option is named, not -r's
    assert code == 2 and "copy --to: no target given" in err, err
    code, summary, err = _copy(run_cli, src_url, dst_url, "latest")
    assert code == 0, err
    assert [c["source_snapshot_id"] for c in summary["copied"]] == [second]
    code, summary, err = _copy(run_cli, src_url, dst_url, first[:8])
    assert [c["source_snapshot_id"] for c in summary["copied"]] == [first]


def test_a_snapshot_file_of_the_source_that_cannot_be_read_fails_the_copy(
    tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    """The others are copied; the damaged file is counted among what was not copied, exit
    13 (it was a warning, and exit 0). Named, it is an integrity error too."""
    src_url, dst_url, (first, second) = _pair(tmp_path, run_cli)
    (snap_file,) = (p for p in (Path(src_url) / "snapshots").rglob("*") if second in p.name)
    raw = bytearray(snap_file.read_bytes())
    raw[len(raw) // 2] ^= 0x40
    snap_file.chmod(0o644)
    snap_file.write_bytes(bytes(raw))
    shutil.rmtree(cli_env["XDG_CACHE_HOME"])  # (its copy of the file is intact)
    code, summary, err = _copy(run_cli, src_url, dst_url)
    assert code == 13, err
    assert [c["source_snapshot_id"] for c in summary["copied"]] == [first]
    assert [f["source_snapshot_id"] for f in summary["failed"]] == [second]
    assert _copy(run_cli, src_url, dst_url, second[:8])[0] == 13


def test_a_rewrite_is_not_undone_by_a_copy_back_through_a_third_repository(
    tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    """A → B → C; A rewrites its snapshot to remove a secret; C → A copied C's copy back,
    secret and all (a review): a copy records the first repository's snapshot as its
    `original` (as restic keeps Original), so C's copy is A's own."""
    a_url, b_url, c_url = (str(tmp_path / f"{n}-repo") for n in "abc")
    for url in (a_url, b_url, c_url):
        assert run_cli("-r", url, *INIT).code == 0
    src = write_file(tmp_path / "src" / "secret.txt", b"password=hunter2").parent
    write_file(src / "kept", b"k")
    assert run_cli("-r", a_url, "backup", str(src)).code == 0
    for frm, to in ((a_url, b_url), (b_url, c_url)):
        assert _copy(run_cli, frm, to)[0] == 0
    (first,) = snapshots(run_cli, "-r", a_url)
    assert snapshots(run_cli, "-r", c_url)[0]["original"] == first["id"]
    assert run_cli("-r", a_url, "rewrite", "--exclude", "secret.txt", "--forget").code == 0
    code, summary, err = _copy(run_cli, c_url, a_url)
    assert code == 0 and summary["copied"] == [], (err, summary)
    found = run_cli("-r", a_url, "find", "secret.txt")
    assert "secret.txt" not in found.stdout, found.stdout


def test_a_snapshot_whose_file_the_target_lost_to_damage_comes_back_from_its_copy(
    tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    """Damage is not a forget: a target whose snapshot file no longer opens takes its copy
    back from the replica (a review: it never could, "not copied back")."""
    a_url, b_url, (first, _) = _pair(tmp_path, run_cli)
    assert _copy(run_cli, a_url, b_url)[0] == 0
    (damaged,) = (p for p in (Path(a_url) / "snapshots").rglob("*") if first in p.name)
    damaged.chmod(0o644)
    damaged.write_bytes(b"garbage")
    shutil.rmtree(cli_env["XDG_CACHE_HOME"])  # (its cached copy opens)
    code, summary, err = _copy(run_cli, b_url, a_url)
    assert code == 0, err
    assert len(summary["copied"]) == 1 and summary["not_copied_back"] == [], summary
    again = _copy(run_cli, b_url, a_url)[1]
    assert again["copied"] == [], again  # once


def test_versions_made_by_tag_or_rewrite_are_copied_each(
    tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    """tag and rewrite keep the first snapshot's original, so every version shares it: a
    version of other content is copied (a review of 9948f0b: it was 'already there', so the
    target kept the version with the secret, and an empty target missed a version); a
    version that differs only in its tags is there already (each repository's tags are its
    own: tagging the copies in the target does not make the next copy send them again)."""
    a_url, b_url, (first, _) = _pair(tmp_path, run_cli)
    assert _copy(run_cli, a_url, b_url)[0] == 0
    assert run_cli("-r", a_url, "tag", "--add", "important", first).code == 0
    code, summary, err = _copy(run_cli, a_url, b_url)
    assert code == 0 and summary["copied"] == [], (err, summary)
    assert run_cli("-r", a_url, "rewrite", "--exclude", "f0.bin").code == 0  # keeps the others
    c_url = str(tmp_path / "c-repo")
    assert run_cli("-r", c_url, *INIT).code == 0
    code, summary, err = _copy(run_cli, a_url, c_url)
    assert code == 0, err
    assert len(snapshots(run_cli, "-r", c_url)) == len(snapshots(run_cli, "-r", a_url))
    d_url = str(tmp_path / "d-repo")  # the rewrite first, then the rest: none left out
    assert run_cli("-r", d_url, *INIT).code == 0
    assert _copy(run_cli, a_url, d_url, "--tag", "rewrite")[0] == 0
    code, summary, err = _copy(run_cli, a_url, d_url)
    assert code == 0, err
    assert len(snapshots(run_cli, "-r", d_url)) == len(snapshots(run_cli, "-r", a_url))


def test_a_rewrite_of_host_or_time_is_copied_and_tags_never_make_a_duplicate(
    tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    """A review: `rewrite --new-host` keeps the content and the original, and was taken for
    there already (an empty target ended with fewer snapshots than the source); after the
    source's `prune --reencrypt`, a copy the target had tagged was sent again (a duplicate
    that forget then counted)."""
    a_url, b_url, (first, _) = _pair(tmp_path, run_cli)
    assert run_cli("-r", a_url, "rewrite", "--new-host", "web1", first).code == 0
    c_url = str(tmp_path / "c-repo")
    assert run_cli("-r", c_url, *INIT).code == 0
    for _ in range(2):
        assert _copy(run_cli, a_url, c_url)[0] == 0
    assert len(snapshots(run_cli, "-r", c_url)) == len(snapshots(run_cli, "-r", a_url)) == 3
    assert _copy(run_cli, a_url, b_url)[0] == 0
    assert run_cli("-r", b_url, "tag", "--add", "keep-forever").code == 0
    assert run_cli("-r", a_url, "key", "rotate-master").code == 0
    assert run_cli("-r", a_url, "prune", "--reencrypt").code == 0
    code, summary, err = _copy(run_cli, a_url, b_url)
    assert code == 0 and summary["copied"] == [], (err, summary)
    assert len(snapshots(run_cli, "-r", b_url)) == 3


def test_a_target_profile_opens_with_its_own_recovery_key(
    tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    """A target profile's recovery key file (a password source, as its password file) was
    passed over for the source's password: exit 12, "wrong password", naming the target
    (an attack pass, 2026-12-07)."""
    src_url, dst_url = str(tmp_path / "src-repo"), str(tmp_path / "dst-repo")
    assert run_cli("-r", src_url, *INIT).code == 0
    other = {**cli_env, "S3VAULT_PASSWORD": "the target's own"}
    made = run_cli("-r", dst_url, "--json", "init", "--kdf-cost", "minimum", env=other)
    assert made.code == 0, made.stderr
    recovery = write_file(
        tmp_path / "recovery", json.loads(made.stdout.splitlines()[-1])["recovery_key"].encode()
    )
    config = write_file(
        tmp_path / "config.toml",
        f'[profiles.dr]\nrepository = "{dst_url}"\nrecovery_key_file = "{recovery}"\n'.encode(),
    )
    write_file(tmp_path / "data" / "a", b"a")
    assert run_cli("-r", src_url, "backup", str(tmp_path / "data")).code == 0
    done = run_cli("--config", str(config), "-r", src_url, "copy", "--to", "dr")
    assert done.code == 0, done.stderr
    assert "1 copied" in done.stdout
    assert len(snapshots(run_cli, "-r", dst_url, env=other)) == 1
    failing = write_file(
        tmp_path / "failing.toml",
        f'[profiles.dr]\nrepository = "{dst_url}"\npassword_command = "false"\n'.encode(),
    )
    said = run_cli("--config", str(failing), "-r", src_url, "copy", "--to", "dr")
    assert said.code == 12 and "the target profile 'dr''s password command" in said.stderr


def test_a_wrong_target_password_says_it_was_the_sources(
    tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    """Without a target password the source's is tried on the target; a target with another
    said "wrong password", as if the source's were wrong (an attack pass, 2026-12-07)."""
    src_url, dst_url = str(tmp_path / "src-repo"), str(tmp_path / "dst-repo")
    assert run_cli("-r", src_url, *INIT).code == 0
    other = {**cli_env, "S3VAULT_PASSWORD": "the target's own"}
    assert run_cli("-r", dst_url, *INIT, env=other).code == 0
    done = run_cli("-r", src_url, "copy", "--to", dst_url)
    assert done.code == 12, done.stderr
    assert f"the target: wrong password: it opens none of the 1 key file(s) in {dst_url}" in (
        done.stderr
    )
    assert "the source's password was tried on it" in done.stderr
    pw = write_file(tmp_path / "dst-pw", b"the target's own\n")
    assert run_cli("-r", src_url, "copy", "--to", dst_url, "--to-password-file", str(pw)).code == 0
