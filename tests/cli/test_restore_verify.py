"""restore --verify, and --host/--tag/--path choosing what latest means (issue 17)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from s3vault.ids import ObjectId
from tests.cli.test_read_only import ReadOnlyStore, _made
from tests.conftest import RepoHandle, RunCli, write_file
from tests.restorer.forge import Forge
from tests.trees import snapshot_tree


def _summary(done_stdout: str) -> dict:
    lines = [json.loads(line) for line in done_stdout.splitlines()]
    (summary,) = [line for line in lines if line["message_type"] == "summary"]
    return summary


def test_restore_verify_reads_every_file_back(
    cli_repo: str, tmp_path: Path, run_cli: RunCli
) -> None:
    src = tmp_path / "src"
    for n in range(5):
        write_file(src / "d" / f"f{n}.bin", bytes([n]) * (1000 * n + 1))
    (src / "link").symlink_to("d/f1.bin")
    assert run_cli("-r", cli_repo, "backup", str(src), "-q").code == 0
    target = tmp_path / "out"
    done = run_cli("-r", cli_repo, "restore", "latest", "--target", str(target), "--verify")
    assert done.code == 0, done.stderr
    assert "verified 5 files against the snapshot: 0 did not match" in done.stdout
    assert snapshot_tree(target / str(src).lstrip("/")) == snapshot_tree(src)
    # again into the same target: every file is in place, and still read back
    done = run_cli(
        "--json", "-r", cli_repo, "restore", "latest", "--target", str(target), "--verify"
    )
    assert done.code == 0, done.stderr
    summary = _summary(done.stdout)
    assert summary["files_skipped"] == 5
    assert (summary["files_verified"], summary["verify_errors"]) == (5, 0)
    # without --verify the summary has no verify counts
    done = run_cli("--json", "-r", cli_repo, "restore", "latest", "--target", str(target))
    assert "files_verified" not in _summary(done.stdout)


def test_restore_verify_names_files_that_differ_and_exits_13(
    local_repo: RepoHandle, tmp_path: Path, run_cli: RunCli
) -> None:
    # A snapshot whose recorded content hash of bad.txt is not its content's (a bug in the
    # writer of the snapshot): restore writes the blobs faithfully, only reading back tells.
    forge = Forge(local_repo.open())
    good = forge.file(b"good.txt", b"good\n" * 100)
    bad = forge.file(b"bad.txt", b"bad\n" * 100, content_hash=ObjectId(b"\x07" * 32))
    forge.finish(forge.tree([forge.dir(b"forged", forge.tree([bad, good]))]))
    url = local_repo.url
    target = tmp_path / "out"
    done = run_cli("-r", url, "restore", "latest", "--target", str(target))
    assert done.code == 0, done.stderr  # nothing tells without --verify
    target2 = tmp_path / "out2"
    done = run_cli("-r", url, "restore", "latest", "--target", str(target2), "--verify")
    assert done.code == 13, (done.stdout, done.stderr)
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [  # its path in the snapshot, as every message of the restore names it
        "error: /forged/bad.txt: verify: content differs from the backed-up file (hash mismatch)"
    ]
    assert "1 file did not match the snapshot" in done.stderr
    assert done.stderr.rstrip().endswith("restore them again"), done.stderr  # (always)
    again = run_cli(
        "-r", url, "restore", "latest", "-t", str(target2), "--verify", "--overwrite", "never"
    )
    assert again.code == 13  # the mode given leaves the file as it is: the advice says which
    assert "then restore them again with --overwrite always" in again.stderr, again.stderr
    assert "verified 1 file against the snapshot: 1 did not match" in done.stdout
    assert (target2 / "forged" / "good.txt").read_bytes() == b"good\n" * 100
    done = run_cli(
        "--json", "-r", url, "restore", "latest", "--target", str(tmp_path / "o3"), "--verify"
    )
    assert done.code == 13
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    (error,) = [line for line in lines if line["message_type"] == "error"]
    assert error["item"].endswith("forged/bad.txt") and error["message"].startswith("verify: ")
    assert (_summary(done.stdout)["files_verified"], _summary(done.stdout)["verify_errors"]) == (
        1,
        1,
    )


def _snapshot_ids(run_cli: RunCli, repo: str) -> dict[str, str]:
    """host + tags + path → snapshot id."""
    snaps = json.loads(run_cli("-r", repo, "--json", "snapshots").stdout)
    return {
        f"{s['hostname']}/{','.join(s.get('tags') or [])}/{s['paths'][0]}": s["id"] for s in snaps
    }


def test_restore_filters_choose_what_latest_means(
    cli_repo: str, tmp_path: Path, run_cli: RunCli
) -> None:
    a = write_file(tmp_path / "a" / "x.txt", b"a\n").parent
    b = write_file(tmp_path / "b" / "y.txt", b"b\n").parent
    made = [  # oldest first
        (a, "web1", "nightly", "2026-01-01 01:00"),
        (a, "web2", "nightly", "2026-01-02 01:00"),
        (b, "web1", "weekly", "2026-01-03 01:00"),
        (a, "web1", "weekly", "2026-01-04 01:00"),
    ]
    for src, host, tag, when in made:
        done = run_cli("-r", cli_repo, "backup", str(src), "--host", host, "--tag", tag,
                       "--time", when, "-q")  # fmt: skip
        assert done.code == 0, done.stderr
    ids = _snapshot_ids(run_cli, cli_repo)

    def restored(*filters: str, snapshot: str = "latest") -> str:
        target = tmp_path / f"t{len(list(tmp_path.iterdir()))}"
        done = run_cli("--json", "-r", cli_repo, "restore", snapshot, "--target", str(target),
                       *filters)  # fmt: skip
        assert done.code == 0, (filters, done.stderr)
        return _summary(done.stdout)["snapshot_id"]

    assert restored() == ids[f"web1/weekly/{a}"]
    assert restored("--host", "web2") == ids[f"web2/nightly/{a}"]
    assert restored("--tag", "nightly") == ids[f"web2/nightly/{a}"]
    assert restored("--tag", "nightly", "--host", "web1") == ids[f"web1/nightly/{a}"]
    assert restored("--path", str(b)) == ids[f"web1/weekly/{b}"]
    assert restored("--host", "web1", "--host", "web2", "--path", str(a)) == ids[f"web1/weekly/{a}"]
    assert restored("--host", "web1", snapshot="latest~1") == ids[f"web1/weekly/{b}"]
    # an id with filters it matches is restored; restic ignores filters that do not match it
    # (restoring another host's snapshot than the one meant): refused here
    first = ids[f"web1/nightly/{a}"]
    assert restored("--host", "web1", "--tag", "nightly", snapshot=first[:8]) == first
    done = run_cli("-r", cli_repo, "restore", first[:8], "--target", str(tmp_path / "no"),
                   "--host", "web2")  # fmt: skip
    assert done.code == 2, done.stderr
    (line,) = done.stderr.splitlines()
    assert f"snapshot {first[:8]} (host web1) does not match --host web2" in line, line
    # nothing matches: one line, exit 2, nothing restored
    target = tmp_path / "none"
    done = run_cli("-r", cli_repo, "restore", "latest", "--target", str(target),
                   "--host", "web2", "--tag", "weekly")  # fmt: skip
    assert done.code == 2, done.stderr
    (line,) = done.stderr.splitlines()
    assert "no snapshot latest matches --host web2 --tag weekly" in line, line
    assert not target.exists() or not any(target.iterdir())


@pytest.fixture
def read_only(
    request: pytest.FixtureRequest, cli_env: dict[str, str], run_cli: RunCli
) -> Iterator[ReadOnlyStore]:
    """A repository this CLI may only read (the unprivileged way of tests/cli/test_read_only)."""
    yield from _made("unprivileged", request, cli_env, run_cli)


def test_restore_verify_from_a_read_only_store(read_only: ReadOnlyStore) -> None:
    target = read_only.scratch / "restored"
    done = read_only.run(
        "-r", read_only.url, "restore", "latest", "--target", str(target), "--verify"
    )
    assert done.code == 0, done.stderr
    # the ledger file (the proofs of the full read-back) and the audit record cannot be
    # stored: said once
    (warning,) = done.stderr.splitlines()
    assert warning.startswith(
        "warning: the verification ledger file and the audit record were not written"
    ), warning
    assert "0 did not match" in done.stdout
    restored = target / str(read_only.source).lstrip("/")
    assert snapshot_tree(restored) == snapshot_tree(read_only.source)
