"""Commands on a file system that is full (a tmpfs of a few pages, filled but for what the test
leaves free): each says what it could not write and where, exits 1, and leaves nothing that a
rerun, once there is room, keeps as a leftover (an attack pass, 2026-12-07)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import RunCli, write_file
from tests.readonly import mount_tmpfs, unmount

PAGE = 4096


@contextmanager
def _tmpfs(where: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` at ``where`` (skips the test where this host cannot mount one)."""
    where.mkdir()
    reason = mount_tmpfs(where, f"size={size}")
    if reason is not None:
        pytest.skip(reason)
    try:
        yield where
    finally:
        unmount(where)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs."""
    with _tmpfs(tmp_path / "disk", "64k") as where:
        yield where


def _fill(disk: Path, free: int) -> Path:
    """A file that leaves ``free`` bytes of ``disk`` free."""
    filler = disk / "filler"
    filler.write_bytes(b"\0" * (64 * 1024 - free))
    return filler


def test_an_init_that_cannot_write_its_config_takes_its_key_file_back(
    small_disk: Path, run_cli: RunCli
) -> None:
    """Room for the key file and not for the config: init said so, and left the key file;
    the rerun with room kept it, and `key list` showed a key file "of another repository"
    beside the real one, which an operator could take for tampering."""
    repo = small_disk / "repo"
    filler = _fill(small_disk, PAGE)
    failed = run_cli("-r", str(repo), "init", "--kdf-cost", "minimum")
    assert failed.code == 1, failed.stderr
    assert f"no space left on device while writing {repo}/config" in failed.stderr
    assert [p for p in repo.rglob("*") if p.is_file()] == []
    filler.unlink()
    assert run_cli("-r", str(repo), "init", "--kdf-cost", "minimum").code == 0
    listed = run_cli("-r", str(repo), "key", "list", "--json")
    assert listed.code == 0, listed.stderr
    keys = json.loads(listed.stdout)
    assert [k["kind"] for k in keys if k["usable"] and not k["problem"]] == [
        k["kind"] for k in keys
    ], keys  # the new repository's password and recovery keys, and no other
    assert run_cli("-r", str(repo), "verify").code == 0


def test_a_drill_whose_tmpdir_is_full_says_so(
    small_disk: Path, tmp_path: Path, cli_repo: str, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    """A full $TMPDIR was said as "missing, or this user may not write there"."""
    src = write_file(tmp_path / "src" / "f", b"data\n").parent
    assert run_cli("-r", cli_repo, "backup", str(src)).code == 0
    _fill(small_disk, 0)
    done = run_cli("-r", cli_repo, "restore-test", env={**cli_env, "TMPDIR": str(small_disk)})
    assert done.code == 1, done.stdout + done.stderr
    assert (
        f"the temporary directory {small_disk} ($TMPDIR) cannot be used (No space left on device)"
        in done.stderr
    ), done.stderr


def test_a_full_repository_disk_is_freed_at_once_with_every_backup_stopped(
    tmp_path: Path, run_cli: RunCli
) -> None:
    """forget and prune gave no space back for a whole grace (24 h and more) and the grace may
    not be shortened below the repository's minimum, which running backups rely on: an
    operator whose repository disk is full had no way out (an attack pass, 2026-12-07). With
    every backup stopped, --unsafe-no-backups-running lets --grace 0s free it in two prunes
    (mark, then delete), and nothing that is kept is lost."""
    sources = []
    for name in "abc":
        sources.append(write_file(tmp_path / "src" / name / "f", os.urandom(700_000)).parent)
    with _tmpfs(tmp_path / "disk", "2m") as disk:
        repo = str(disk / "repo")
        assert run_cli("-r", repo, "init", "--kdf-cost", "minimum").code == 0
        assert run_cli("-r", repo, "backup", str(sources[0])).code == 0
        assert run_cli("-r", repo, "backup", str(sources[1])).code == 0
        full = run_cli("-r", repo, "backup", str(sources[2]))
        assert full.code == 1 and "no space left on device while writing" in full.stderr
        forget = ("forget", "--keep-last", "1", "--group-by", "host")
        assert run_cli("-r", repo, *forget).code == 0
        refused = run_cli("-r", repo, "prune", "--grace", "0s")
        assert refused.code == 2 and "--unsafe-no-backups-running" in refused.stderr
        unsafe = ("prune", "--grace", "0s", "--unsafe-no-backups-running")
        for _ in range(2):  # the first marks, the second deletes
            done = run_cli("-r", repo, *unsafe)
            assert done.code == 0, done.stderr
        assert run_cli("-r", repo, "backup", str(sources[2])).code == 0
        assert run_cli("-r", repo, "verify", "--read-data").code == 0
        out = tmp_path / "out"
        for host_path in (sources[1], sources[2]):
            kept = run_cli(
                "-r", repo, "restore", "latest", "--path", str(host_path), "-t", str(out)
            )
            assert kept.code == 0, kept.stderr
            restored = out / str(host_path).lstrip("/") / "f"
            assert restored.read_bytes() == (host_path / "f").read_bytes()


def test_an_init_that_cannot_store_its_recovery_key_says_the_repository_exists(
    small_disk: Path, run_cli: RunCli
) -> None:
    """Room for the key file and the config, not for the recovery key: init said only "no
    space left on device" (exit 1), and its rerun "a repository already exists"."""
    repo = small_disk / "repo"
    filler = _fill(small_disk, 2 * PAGE)
    failed = run_cli("-r", str(repo), "init", "--kdf-cost", "minimum")
    assert failed.code == 1, failed.stderr
    said = failed.stderr.strip().splitlines()[-1]
    assert f"was created at {repo}, but its recovery key could not be stored: " in said, said
    assert "no space left on device" in said and "s3vault key add --recovery" in said, said
    filler.unlink()
    assert run_cli("-r", str(repo), "key", "add", "--recovery").code == 0
    assert run_cli("-r", str(repo), "verify").code == 0


@pytest.mark.parametrize(
    "point", ["prune-after-mark:1", "prune-after-index:1", "prune-mid-delete:1", "mid-delete:2"]
)
def test_an_unsafe_prune_killed_at_any_point_loses_nothing_kept(
    tmp_path: Path, run_cli: RunCli, cli_env: dict[str, str], point: str
) -> None:
    """The second of the two prunes that free a full disk, killed at a crash point (the
    operator's Ctrl-C, the OOM killer): the snapshots kept restore, verify finds nothing, and
    the same prune run again finishes the job."""
    repo = str(tmp_path / "repo")
    assert run_cli("-r", repo, "init", "--kdf-cost", "minimum", "--pack-size", "1").code == 0
    sources = [write_file(tmp_path / n / "f", os.urandom(1_500_000)).parent for n in "ab"]
    for src in sources:
        assert run_cli("-r", repo, "backup", str(src)).code == 0
    assert run_cli("-r", repo, "forget", "--keep-last", "1", "--group-by", "host").code == 0
    unsafe = ("prune", "--grace", "0s", "--unsafe-no-backups-running")
    assert run_cli("-r", repo, *unsafe).code == 0  # marks what the forgotten snapshot had
    killed = run_cli("-r", repo, *unsafe, env={**cli_env, "S3VAULT_TEST_CRASH_AT": point})
    assert killed.code == -9, (killed.code, killed.stderr)
    assert run_cli("-r", repo, "verify", "--read-data").code == 0
    for _ in range(2):
        done = run_cli("-r", repo, *unsafe, "--json")
        assert done.code == 0, done.stderr
    assert run_cli("-r", repo, "verify", "--read-data").code == 0
    stored = sum(p.stat().st_size for p in Path(repo, "data").rglob("*") if p.is_file())
    assert stored < 2_500_000  # the forgotten snapshot's 1.5 MB are gone
    out = tmp_path / "out"
    assert run_cli("-r", repo, "restore", "latest", "-t", str(out)).code == 0
    restored = out / str(sources[1]).lstrip("/") / "f"
    assert restored.read_bytes() == (sources[1] / "f").read_bytes()


def test_a_restic_users_forget_prune_takes_the_unsafe_grace_too(
    tmp_path: Path, run_cli: RunCli
) -> None:
    """restic's habit, `forget ... --prune`, with the full disk's flags: the forget's prune
    marks, the next prune deletes; a grace below the minimum without the flag is refused
    before any snapshot is removed."""
    repo = str(tmp_path / "repo")
    assert run_cli("-r", repo, "init", "--kdf-cost", "minimum", "--pack-size", "1").code == 0
    for name in "ab":
        src = write_file(tmp_path / name / "f", os.urandom(1_500_000)).parent
        assert run_cli("-r", repo, "backup", str(src)).code == 0
    forget = ("forget", "--keep-last", "1", "--group-by", "host", "--prune", "--grace", "0s")
    refused = run_cli("-r", repo, *forget)
    assert refused.code == 2 and "--unsafe-no-backups-running" in refused.stderr
    assert len(json.loads(run_cli("-r", repo, "snapshots", "--json").stdout)) == 2
    assert run_cli("-r", repo, *forget, "--unsafe-no-backups-running").code == 0
    pruned = run_cli("-r", repo, "prune", "--grace", "0s", "--unsafe-no-backups-running")
    assert pruned.code == 0, pruned.stderr
    stored = sum(p.stat().st_size for p in Path(repo, "data").rglob("*") if p.is_file())
    assert stored < 2_500_000
    assert run_cli("-r", repo, "verify", "--read-data").code == 0


def test_an_unsafe_prune_deletes_nothing_while_a_snapshot_file_cannot_be_read(
    tmp_path: Path, run_cli: RunCli
) -> None:
    """A damaged snapshot file (read from the store: no cache holds it) leaves what it needs
    unknown: the prunes with no grace mark, and delete nothing until it is settled, as prunes
    with a grace do."""
    repo = str(tmp_path / "repo")
    assert run_cli("-r", repo, "init", "--kdf-cost", "minimum", "--pack-size", "1").code == 0
    for name in "abc":
        src = write_file(tmp_path / name / "f", os.urandom(1_500_000)).parent
        assert run_cli("-r", repo, "backup", str(src)).code == 0
    assert run_cli("-r", repo, "forget", "--keep-last", "2", "--group-by", "host").code == 0
    damaged = sorted(Path(repo, "snapshots").iterdir())[0]
    body = bytearray(damaged.read_bytes())
    body[len(body) // 2] ^= 0xFF
    damaged.write_bytes(bytes(body))
    packs = sorted(Path(repo, "data").rglob("*"))
    unsafe = ("--no-cache", "prune", "--grace", "0s", "--unsafe-no-backups-running")
    for _ in range(2):
        held = run_cli("-r", repo, *unsafe)
        assert held.code == 0, held.stderr
        assert "nothing deleted: 1 snapshot file cannot be read" in held.stdout, held.stdout
    assert sorted(Path(repo, "data").rglob("*")) == packs
