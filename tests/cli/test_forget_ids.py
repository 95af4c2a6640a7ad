"""forget ID... (restic has it): the way out for a damaged snapshot with the CLI alone.

Ids are full ids or unique prefixes, resolved from the listing of snapshots/ (the files are not
decoded), so a snapshot file of random bytes is removed like any other; --dry-run, --json and
the audit record work as in the policy form; ids and --keep-* rules do not mix."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.conftest import RunCli, write_file


def lines(stdout: str) -> list[dict[str, object]]:
    return [json.loads(x) for x in stdout.splitlines() if x.strip()]


def three_snapshots(tmp_path: Path, run_cli: RunCli, repo: str) -> list[str]:
    """Their ids, oldest first."""
    src, ids = tmp_path / "src", []
    for day in (1, 2, 3):
        write_file(src / "file.txt", f"day {day}\n".encode())
        done = run_cli(
            "-r", repo, "--json", "backup", "--time", f"2020-01-0{day}T10:00:00", str(src)
        )
        assert done.code == 0, done.stderr
        ids.append(str(lines(done.stdout)[-1]["snapshot_id"]))
    return ids


def ids_listed(run_cli: RunCli, repo: str) -> list[str]:
    done = run_cli("-r", repo, "--json", "snapshots")
    assert done.code == 0, done.stderr
    return sorted(str(s["id"]) for s in json.loads(done.stdout))


def snapshot_file(repo: str, sid: str) -> Path:
    """The stored file of a snapshot: ``snapshots/<id>.<group tag>``."""
    (path,) = Path(repo, "snapshots").glob(sid + ".*")
    return path


def test_forget_removes_a_damaged_snapshot_by_its_id_prefix(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    ids = three_snapshots(tmp_path, run_cli, cli_repo)
    damaged = ids[1]
    stored = snapshot_file(cli_repo, damaged)
    stored.write_bytes(os.urandom(300))
    assert run_cli("-r", cli_repo, "--no-cache", "verify").code == 13
    done = run_cli("-r", cli_repo, "--no-cache", "--json", "forget", damaged[:10])
    assert done.code == 0, done.stderr
    out = lines(done.stdout)
    assert out[0]["snapshot_id"] == damaged and out[0]["keep"] is False
    assert out[0]["time"] is None and out[0]["problem"]  # it could not be read
    assert out[-1]["message_type"] == "summary" and out[-1]["removed"] == 1
    assert not stored.exists()
    assert ids_listed(run_cli, cli_repo) == sorted([ids[0], ids[2]])
    assert run_cli("-r", cli_repo, "--no-cache", "verify").code == 0
    audit = run_cli("-r", cli_repo, "--json", "audit")
    records = [r for r in lines(audit.stdout) if r["message_type"] == "audit_record"]
    forgets = [r for r in records if r["operation"] == "forget"]
    assert [r["details"]["removed"] for r in forgets] == [[damaged]]  # type: ignore[index]


def test_forget_ids_dry_run_names_and_refusals(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    ids = three_snapshots(tmp_path, run_cli, cli_repo)
    dry = run_cli("-r", cli_repo, "forget", "--dry-run", ids[0], ids[2][:8], ids[0][:12])
    assert dry.code == 0, dry.stderr
    assert "would remove 2 snapshots" in dry.stdout
    as_json = run_cli("-r", cli_repo, "--json", "forget", "--dry-run", ids[0], ids[2][:8])
    summary = lines(as_json.stdout)[-1]  # it said only "removed": 0 (a restic user's pass)
    assert (summary["removed"], summary["would_remove"], summary["dry_run"]) == (0, 2, True)
    assert ids_listed(run_cli, cli_repo) == sorted(ids)
    for args, says in [
        ([ids[0], "--keep-last", "1"], "not both"),
        ([ids[0], "--host", "web1"], "do not apply"),
        (["0" * 64], "no snapshot with id"),
        (["xyz"], "not a snapshot id"),
    ]:
        done = run_cli("-r", cli_repo, "forget", *args)
        assert done.code == 2, (args, done.stderr)
        assert says in done.stderr, (args, done.stderr)
    assert ids_listed(run_cli, cli_repo) == sorted(ids)
    done = run_cli("-r", cli_repo, "forget", "latest", "--prune")
    assert done.code == 0, done.stderr
    assert ids_listed(run_cli, cli_repo) == sorted(ids[:2])


def test_an_ambiguous_prefix_is_refused(tmp_path: Path, cli_repo: str, run_cli: RunCli) -> None:
    """Two snapshot files whose names share a first digit (copies under made-up names: the
    listing is all forget ID looks at)."""
    ids = three_snapshots(tmp_path, run_cli, cli_repo)
    folder = Path(cli_repo) / "snapshots"
    twins = ["ab" + "0" * 62, "ab" + "1" * 62]
    for twin in twins:
        (folder / twin).write_bytes(snapshot_file(cli_repo, ids[0]).read_bytes())
    done = run_cli("-r", cli_repo, "forget", "ab")
    assert done.code == 2 and "ambiguous" in done.stderr
    done = run_cli("-r", cli_repo, "forget", twins[0][:3], twins[1][:3])
    assert done.code == 0, done.stderr  # damaged (their content does not match the name)
    assert sorted(p.name.split(".")[0] for p in folder.iterdir()) == sorted(ids)


def test_a_snapshot_dated_ahead_of_the_clock_is_said_when_it_counts_as_the_newest(
    tmp_path: Path, run_cli: RunCli, cli_repo: str
) -> None:
    """A host whose clock was a year ahead made a snapshot that --keep-last 1 keeps over the
    real newest (as restic does), which was removed without a word (a clock-and-time attack).
    forget now says which snapshot is dated ahead and how to remove it."""
    src = tmp_path / "src"
    write_file(src / "a", b"a")
    ahead = run_cli("-r", cli_repo, "backup", str(src), "--time", "2099-01-01T00:00:00Z", "-q")
    assert ahead.code == 0, ahead.stderr
    write_file(src / "a", b"b")
    assert run_cli("-r", cli_repo, "backup", str(src), "-q").code == 0
    done = run_cli("-r", cli_repo, "forget", "--keep-last", "1", "--dry-run")
    assert done.code == 0, done.stderr
    assert "ahead of this host's clock" in done.stderr and "2099-01-01" in done.stderr
    assert "s3vault forget" in done.stderr


def test_an_interrupted_tag_leaves_versions_that_forget_counts_as_one_snapshot(
    tmp_path: Path, run_cli: RunCli, cli_repo: str, cli_env: dict[str, str]
) -> None:
    """`tag` stores each successor before it removes the original; killed between, both stay.
    forget counted them as two snapshots: --keep-last 2 kept one backup in two versions and
    removed the other backup it should have kept. Versions of one snapshot (one lineage)
    now count once and share its fate."""
    src = tmp_path / "src"
    for n in range(3):
        write_file(src / "a", f"generation {n}".encode())
        assert run_cli("-r", cli_repo, "backup", str(src), "-q").code == 0
    before = {s["id"] for s in json.loads(run_cli("-r", cli_repo, "snapshots", "--json").stdout)}
    killed = run_cli(
        "-r", cli_repo, "tag", "--add", "nightly",
        env={**cli_env, "S3VAULT_TEST_CRASH_AT": "tag-before-remove"},
    )  # fmt: skip
    assert killed.code == -9, killed.stderr
    listed = json.loads(run_cli("-r", cli_repo, "snapshots", "--json").stdout)
    assert len(listed) == 6  # every original and every successor
    done = run_cli("-r", cli_repo, "forget", "--keep-last", "2")
    assert done.code == 0, done.stderr
    left = json.loads(run_cli("-r", cli_repo, "snapshots", "--json").stdout)
    times = sorted({s["time"] for s in listed})
    assert sorted({s["time"] for s in left}) == times[1:]  # the two newest backups...
    assert len(left) == 4  # ...each in both versions until tag runs again
    assert not before & {s["id"] for s in left if s["time"] == times[0]}
    assert run_cli("-r", cli_repo, "tag", "--add", "nightly").code == 0
    assert len(json.loads(run_cli("-r", cli_repo, "snapshots", "--json").stdout)) == 2


def test_versions_of_a_backup_never_cost_another_snapshot_its_place(
    tmp_path: Path, run_cli: RunCli, cli_repo: str
) -> None:
    """A successor may differ from its original in host, time or tags (`rewrite --new-host`,
    `tag`): counting versions once must not remove what the policy keeps snapshot by snapshot
    (restic's way): h1's oldest backup, rewritten as h2's, stays the second of h1's last 2."""
    src = tmp_path / "src"
    ids = []
    for n, host in enumerate(("h1", "h1", "h2", "h2")):
        write_file(src / "a", f"generation {n}".encode())
        done = run_cli("-r", cli_repo, "--json", "backup", str(src), "--host", host)
        assert done.code == 0, done.stderr
        ids.append(json.loads(done.stdout.splitlines()[-1])["snapshot_id"])
        if n == 1:
            rewrite = ("rewrite", "--new-host", "h2", ids[0][:8])
            assert run_cli("-r", cli_repo, *rewrite).code == 0
    done = run_cli("-r", cli_repo, "forget", "--keep-last", "2")
    assert done.code == 0, done.stderr
    left = {s["id"] for s in json.loads(run_cli("-r", cli_repo, "snapshots", "--json").stdout)}
    assert {ids[0], ids[1], ids[2], ids[3]} <= left


def test_keep_tag_keeps_a_rewritten_snapshot_not_the_original_it_replaces(
    tmp_path: Path, run_cli: RunCli, cli_repo: str
) -> None:
    """`rewrite --exclude` without --forget, then `forget --keep-last 1 --keep-tag rewrite`:
    the originals, which still hold what was rewritten out, were kept "as a version of one
    backup" of the rewritten ones the tag kept; restic removes them (an attack pass,
    2026-12-08). A tag keeps the snapshot that has it, as in restic."""
    src = tmp_path / "src"
    for n in range(3):
        write_file(src / f"f{n}", b"data")
        write_file(src / "secret.dump", b"secret")
        day = f"2026-01-0{n + 1} 10:00"
        assert run_cli("-r", cli_repo, "backup", str(src), "-q", "--time", day).code == 0
    originals = {s["id"] for s in json.loads(run_cli("-r", cli_repo, "snapshots", "--json").stdout)}
    assert run_cli("-r", cli_repo, "rewrite", "--exclude", "*.dump").code == 0
    done = run_cli("-r", cli_repo, "forget", "--keep-last", "1", "--keep-tag", "rewrite")
    assert done.code == 0, done.stderr
    left = json.loads(run_cli("-r", cli_repo, "snapshots", "--json").stdout)
    rewritten = [s for s in left if s["id"] not in originals]
    assert len(rewritten) == 3 and all(s["tags"] == ["rewrite"] for s in rewritten)
    # the first two originals go; the third stays when it sorts last of its time (the
    # --keep-last 1), as in restic, which orders a time's snapshots by id
    kept = [s for s in left if s["id"] in originals]
    assert all(s["time"].startswith("2026-01-03") for s in kept), left


def test_no_rule_with_allow_remove_all_needs_a_filter_and_a_stored_policy_is_said(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    """`forget --keep-last 0 --unsafe-allow-remove-all` removed every snapshot of every host
    (restic 0.16 refuses it without a filter; 0.14 removes none); a count of 0 switched to the
    repository's stored policy without a word (an attack pass, 2026-12-07)."""
    ids = three_snapshots(tmp_path, run_cli, cli_repo)
    for rules in ((), ("--keep-last", "0")):
        done = run_cli("-r", cli_repo, "forget", *rules, "--unsafe-allow-remove-all")
        assert done.code == 2, done.stderr
        assert "give --host, --tag or --path to say whose" in done.stderr
    assert ids_listed(run_cli, cli_repo) == sorted(ids)
    refused = run_cli("-r", cli_repo, "forget", "--keep-last", "0")
    assert refused.code == 2 and "the repository stores no policy" in refused.stderr
    elsewhere = run_cli(
        "-r", cli_repo, "forget", "--unsafe-allow-remove-all", "--host", "decommissioned"
    )
    assert elsewhere.code == 0 and ids_listed(run_cli, cli_repo) == sorted(ids)
    mine = run_cli(
        "-r", cli_repo, "forget", "--unsafe-allow-remove-all", "--path", str(tmp_path / "src")
    )
    assert mine.code == 0, mine.stderr
    assert ids_listed(run_cli, cli_repo) == []


def test_a_stored_policy_that_applies_is_said(tmp_path: Path, run_cli: RunCli) -> None:
    repo = str(tmp_path / "repo")
    init = ("init", "--kdf-cost", "minimum", "--no-recovery-key", "--keep-last", "2")
    assert run_cli("-r", repo, *init).code == 0
    ids = three_snapshots(tmp_path, run_cli, repo)
    done = run_cli("-r", repo, "forget", "--keep-last", "0")
    assert done.code == 0, done.stderr
    assert (
        "no --keep-* rule given (a count of 0 is no rule): the repository's policy applies "
        "(--keep-last 2)" in done.stderr
    )
    assert ids_listed(run_cli, repo) == sorted(ids[1:])
