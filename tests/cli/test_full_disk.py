"""Commands on a file system that is full (a tmpfs of a few pages, filled but for what the test
leaves free): each says what it could not write and where, exits 1, and leaves nothing that a
rerun, once there is room, keeps as a leftover (an attack pass, 2026-12-07)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import RunCli, write_file
from tests.readonly import mount_tmpfs, unmount

PAGE = 4096


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs (skips the test where this host cannot mount one)."""
    where = tmp_path / "disk"
    where.mkdir()
    reason = mount_tmpfs(where, "size=64k")
    if reason is not None:
        pytest.skip(reason)
    try:
        yield where
    finally:
        unmount(where)


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
