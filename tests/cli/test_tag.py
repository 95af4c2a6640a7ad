"""s3vault tag (issue 17): --add/--remove/--set on snapshots chosen by id or by --host/--tag/
--path, as restic does it. A changed snapshot is a new snapshot file (new id, ``original``
naming the one it replaces) stored before the old one is removed: a kill between the two
leaves both, and running the command again finishes the change. Refused, with nothing
written, for an unknown id, an empty or contradictory request, a read-only store, and a
snapshot Object Lock holds."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from s3vault import RepoOptions, open_repository, snapshots
from s3vault.repository.lease import Lease
from tests.cli.test_read_only import ReadOnlyStore, local_store  # noqa: F401 - fixture
from tests.cli.test_s3 import s3_env
from tests.conftest import PASSWORD, RunCli, write_file


def lines(stdout: str) -> list[dict[str, object]]:
    return [json.loads(x) for x in stdout.splitlines() if x.strip()]


def listed(run_cli: RunCli, repo: str, *args: str) -> dict[str, dict[str, object]]:
    """Snapshots by full id."""
    done = run_cli("-r", repo, "--json", "snapshots", *args)
    assert done.code == 0, done.stderr
    return {str(s["id"]): s for s in json.loads(done.stdout)}


def files(root: str) -> list[str]:
    """Every object of a local repository with its size, but the audit log (a refused command
    is audited too, design.md §8b)."""
    return sorted(
        f"{p.relative_to(root)} {p.stat().st_size}"
        for p in Path(root).rglob("*")
        if p.is_file() and p.relative_to(root).parts[0] != "audit"
    )


def originals(repo: str) -> tuple[str, dict[str, str]]:
    """The repository id, and each snapshot's ``original`` field by id (read with the library)."""
    handle = open_repository(RepoOptions(url=repo, password=PASSWORD.encode()), load_index=False)
    return handle.id.hex(), {e.id.hex(): e.snapshot.original for e in snapshots(handle)}


def backups(tmp_path: Path, run_cli: RunCli, repo: str) -> list[str]:
    """Three snapshots: web1 tagged nightly, web1 untagged, db1 tagged nightly (oldest first)."""
    src, ids = tmp_path / "src", []
    for day, (host, tags) in enumerate([("web1", "nightly"), ("web1", ""), ("db1", "nightly")]):
        write_file(src / "file.txt", f"day {day}\n".encode())
        args = ["--tag", tags] if tags else []
        done = run_cli(
            "-r", repo, "--json", "backup", "--host", host, "--time",
            f"2020-01-0{day + 1}T10:00:00", *args, str(src),
        )  # fmt: skip
        assert done.code == 0, done.stderr
        ids.append(str(lines(done.stdout)[-1]["snapshot_id"]))
    return ids


def test_tag_add_remove_set_by_id_and_by_filters(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    ids = backups(tmp_path, run_cli, cli_repo)
    stored_before = sorted(p.name for p in Path(cli_repo, "snapshots").iterdir())
    # by id prefix: commas split tags, as everywhere in s3vault
    done = run_cli("-r", cli_repo, "tag", "--add", "keep,audit", ids[1][:8])
    assert done.code == 0, done.stderr
    assert f"snapshot {ids[1][:8]} is now " in done.stdout
    assert "changed the tags of 1 snapshot" in done.stdout
    now = listed(run_cli, cli_repo)
    assert ids[1] not in now and ids[0] in now and ids[2] in now
    (new,) = [sid for sid in now if sid not in ids]
    assert now[new]["tags"] == ["keep", "audit"] and now[new]["hostname"] == "web1"
    assert now[new]["time"].startswith("2020-01-02")  # type: ignore[union-attr]
    repo_id, original = originals(cli_repo)
    assert original[new] == f"{repo_id}:{ids[1]}"
    # the group tag of the name stays: host and paths did not change
    stored = sorted(p.name for p in Path(cli_repo, "snapshots").iterdir())
    assert {n.split(".")[1] for n in stored} == {n.split(".")[1] for n in stored_before}

    # by filters (-H and --tag), --json: one object per changed snapshot, then a summary
    done = run_cli(
        "-r", cli_repo, "--json", "tag", "-H", "web1", "--tag", "nightly",
        "--remove", "nightly", "--add", "weekly",
    )  # fmt: skip
    assert done.code == 0, done.stderr
    (change, summary) = lines(done.stdout)
    assert change["message_type"] == "tag_change" and change["snapshot_id"] == ids[0]
    assert change["old_tags"] == ["nightly"] and change["tags"] == ["weekly"]
    assert summary == {**summary, "message_type": "summary", "changed_snapshots": 1}
    now = listed(run_cli, cli_repo)
    assert now[str(change["new_snapshot_id"])]["tags"] == ["weekly"]
    assert [s["tags"] for s in now.values() if s["hostname"] == "db1"] == [["nightly"]]
    _, original = originals(cli_repo)
    assert original[str(change["new_snapshot_id"])].endswith(":" + ids[0])

    # a second change keeps the first original (restic keeps it across every change)
    done = run_cli("-r", cli_repo, "--json", "tag", "--set", "", "--tag", "keep")
    assert done.code == 0, done.stderr
    (change, _summary) = lines(done.stdout)
    assert change["snapshot_id"] == new and change["tags"] == []
    _, original = originals(cli_repo)
    assert original[str(change["new_snapshot_id"])] == f"{repo_id}:{ids[1]}"

    # --path selects too; snapshots that already have the tags are left as they are
    src = str(tmp_path / "src")
    done = run_cli("-r", cli_repo, "--json", "tag", "--path", src, "--add", "weekly")
    assert done.code == 0, done.stderr
    summary = lines(done.stdout)[-1]
    assert summary["changed_snapshots"] == 2 and summary["unchanged_snapshots"] == 1
    assert all("weekly" in s["tags"] for s in listed(run_cli, cli_repo).values())  # type: ignore[operator]
    assert len(listed(run_cli, cli_repo)) == 3
    # latest with a host filter: the latest of that host
    done = run_cli("-r", cli_repo, "--json", "tag", "-H", "web1", "--add", "last", "latest")
    assert done.code == 0, done.stderr
    assert lines(done.stdout)[0]["time"].startswith("2020-01-02")  # type: ignore[union-attr]
    # what the snapshots left as they are already were, in the words of the change asked
    # ("already had them" was said of a tag removed from snapshots that lacked it)
    done = run_cli("-r", cli_repo, "tag", "--remove", "absent")
    assert done.code == 0 and "3 snapshots already lacked them" in done.stdout, done.stdout
    done = run_cli("-r", cli_repo, "tag", "--add", "weekly")
    assert "3 snapshots already had them" in done.stdout, done.stdout


def test_tag_refuses_bad_requests_and_changes_nothing(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    ids = backups(tmp_path, run_cli, cli_repo)
    before = files(cli_repo)
    for args, words in [
        (("--add", "x", "deadbeef"), "no snapshot with id 'deadbeef'"),
        (("--add", "x", "not-an-id"), "is not a snapshot id"),
        ((ids[0][:8],), "nothing to do"),
        (("--set", "a", "--add", "b"), "does not go with --add or --remove"),
    ]:
        done = run_cli("-r", cli_repo, "tag", *args)
        assert done.code == 2, (args, done.stdout, done.stderr)
        assert words in done.stderr, (args, done.stderr)
        assert len(done.stderr.splitlines()) == 1, done.stderr
        assert files(cli_repo) == before, args
    done = run_cli("-r", cli_repo, "--json", "tag", "--add", "x", "deadbeef")
    assert done.code == 2 and json.loads(done.stderr)["exit_code"] == 2
    # a damaged snapshot named by id: exit 13, the others untouched
    (stored,) = Path(cli_repo, "snapshots").glob(ids[2] + ".*")
    stored.write_bytes(b"\x00" * 200)
    done = run_cli("-r", cli_repo, "--no-cache", "tag", "--add", "x", ids[2][:10])
    assert done.code == 13, done.stderr
    assert sorted(listed(run_cli, cli_repo, "--no-cache")) == sorted(ids[:2])


def test_tag_killed_between_store_and_remove_leaves_both_and_a_rerun_finishes(
    tmp_path: Path, cli_repo: str, run_cli: RunCli, cli_env: dict[str, str]
) -> None:
    ids = backups(tmp_path, run_cli, cli_repo)
    env = {**cli_env, "S3VAULT_TEST_CRASH_AT": "tag-before-remove"}
    killed = run_cli("-r", cli_repo, "tag", "--tag", "nightly", "--add", "kept", env=env)
    assert killed.code != 0
    now = listed(run_cli, cli_repo)
    # every successor was stored before any original went: both of each pair are whole
    assert len(now) == 5 and set(ids) <= set(now)
    assert sorted(s["tags"] for s in now.values() if s["id"] not in ids) == [  # type: ignore[type-var]
        ["nightly", "kept"],
        ["nightly", "kept"],
    ]
    assert run_cli("-r", cli_repo, "restore", "latest", "--target", str(tmp_path / "r")).code == 0
    # the same command again finishes the change: no third copy
    done = run_cli("-r", cli_repo, "--json", "tag", "--tag", "nightly", "--add", "kept")
    assert done.code == 0, done.stderr
    changes = [x for x in lines(done.stdout) if x["message_type"] == "tag_change"]
    assert len(changes) == 2 and all(c["resumed"] for c in changes)
    now = listed(run_cli, cli_repo)
    assert len(now) == 3 and ids[1] in now
    assert sorted(s["tags"] for s in now.values()) == [[], ["nightly", "kept"], ["nightly", "kept"]]  # type: ignore[type-var]


@pytest.mark.parametrize("local_store", ["unprivileged"], indirect=True)
def test_tag_on_a_read_only_store_fails_in_one_line(local_store: ReadOnlyStore) -> None:  # noqa: F811
    store = local_store
    before = store.listing()
    done = store.run("-r", store.url, "tag", "--add", "x", "latest")
    assert done.code == 1, (done.stdout, done.stderr)
    (line,) = done.stderr.splitlines()
    assert line.startswith("Fatal: ") and store.refusal in line, line
    assert store.listing() == before


def test_tag_on_s3_and_refused_where_object_lock_holds_the_snapshot(
    s3_bucket: str, s3_server: str, tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    env = s3_env(cli_env, s3_server)
    init = ("init", "--kdf-cost", "minimum", "--no-recovery-key")
    src = write_file(tmp_path / "src" / "a.txt", b"hello\n").parent
    url = f"s3://{s3_bucket}/repo"
    assert run_cli("-r", url, *init, env=env).code == 0
    assert run_cli("-r", url, "backup", "--tag", "nightly", str(src), env=env).code == 0
    done = run_cli("-r", url, "--json", "tag", "--remove", "nightly", "--add", "x", env=env)
    assert done.code == 0, done.stderr
    (change, _summary) = lines(done.stdout)
    done = run_cli("-r", url, "--json", "snapshots", env=env)
    assert [(s["id"], s["tags"]) for s in json.loads(done.stdout)] == [
        (change["new_snapshot_id"], ["x"])
    ]
    # Object Lock: the old file could not be removed, so nothing is changed at all
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket="locked-tags", ObjectLockEnabledForBucket=True)
    locked = "s3://locked-tags/repo"
    made = run_cli(
        "-r", locked, *init, "--object-lock", "governance", "--keep-within", "1d", env=env
    )
    assert made.code == 0, made.stderr
    assert run_cli("-r", locked, "backup", str(src), env=env).code == 0
    keys = sorted(o["Key"] for o in client.list_objects_v2(Bucket="locked-tags")["Contents"])
    done = run_cli("-r", locked, "tag", "--add", "x", "latest", env=env)
    assert done.code == 2, done.stderr
    assert "held by Object Lock until" in done.stderr and "nothing was changed" in done.stderr
    after = client.list_objects_v2(Bucket="locked-tags")["Contents"]
    # only the audit record of the refused command is new
    assert [k for k in sorted(o["Key"] for o in after) if not k.startswith("repo/audit/")] == [
        k for k in keys if not k.startswith("repo/audit/")
    ]


def test_tag_in_a_copy_target_keeps_original_so_the_next_copy_skips_it(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    backups(tmp_path, run_cli, cli_repo)
    target = str(tmp_path / "target")
    made = run_cli("-r", target, "init", "--kdf-cost", "minimum", "--no-recovery-key")
    assert made.code == 0, made.stderr
    assert run_cli("-r", cli_repo, "copy", "--to", target).code == 0
    _, copied = originals(target)
    assert run_cli("-r", target, "tag", "--add", "dr").code == 0
    _, tagged = originals(target)
    assert sorted(tagged.values()) == sorted(copied.values())  # the copies' origins stay
    done = run_cli("-r", cli_repo, "copy", "--to", target)
    assert done.code == 0, done.stderr
    assert "0 copied, 3 already there" in done.stdout


def test_tag_and_rewrite_wait_for_no_prune_exit_11_while_one_holds_the_lease(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    ids = backups(tmp_path, run_cli, cli_repo)
    repo = open_repository(RepoOptions(url=cli_repo, password=PASSWORD.encode()), load_index=False)
    held = Lease.acquire(repo, "prune")
    before = files(cli_repo)
    for args in (("tag", "--add", "x"), ("rewrite", "-e", "file.txt")):
        done = run_cli("-r", cli_repo, *args)
        assert done.code == 11, (args, done.stderr)
        assert "being maintained" in done.stderr, done.stderr
        assert files(cli_repo) == before
    # a dry run takes no lease
    assert run_cli("-r", cli_repo, "rewrite", "-n", "-e", "file.txt").code == 0
    held.release()
    assert run_cli("-r", cli_repo, "tag", "--add", "x", ids[0]).code == 0
