"""verify --read-data in worker processes walks the snapshots' trees beside the read-back
(checker/checker.py ``_EarlyWalk``): its outcome is the walk's after the read-back when the
read-back finds nothing, it is thrown away when the read-back finds damage, and no walk is
left running behind a verify, failed or not."""

from __future__ import annotations

import random
import threading
from pathlib import Path

import pytest

from s3vault import BackupOptions, VerifyOptions, backup, verify
from s3vault.errors import S3VaultError
from tests.conftest import RepoHandle, write_file

WALK = "s3v-verify-walk"


def walks() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == WALK]


def backed_up(repo: RepoHandle, src: Path) -> None:
    rng = random.Random(5)
    for n in range(3):  # three packs of 4 MiB at least
        write_file(src / "big" / f"f{n}", rng.randbytes(4_500_000))
    for n in range(200):
        write_file(src / "small" / f"d{n % 9}" / f"s{n}", rng.randbytes(300))
    backup(repo.open(), BackupOptions(paths=(str(src),)))


def findings(repo: RepoHandle, jobs: int) -> list[tuple[str, str, str, tuple[str, ...]]]:
    result = verify(repo.open(), VerifyOptions(read_data=True, jobs=jobs))
    assert not walks()
    return [(f.kind, f.object, f.message, f.paths) for f in result.findings]


def test_a_sound_repository_reads_the_same_with_the_walk_beside(
    local_repo: RepoHandle, tmp_path: Path
) -> None:
    backed_up(local_repo, tmp_path / "src")
    assert findings(local_repo, 2) == findings(local_repo, 1) == []


def test_damage_only_the_read_back_finds_is_attributed_as_without_it(
    local_repo: RepoHandle, tmp_path: Path
) -> None:
    backed_up(local_repo, tmp_path / "src")
    packs = sorted(p for p in Path(local_repo.url, "data").rglob("*") if p.is_file())
    assert len(packs) >= 3
    damaged = bytearray(packs[0].read_bytes())
    damaged[len(damaged) // 2] ^= 0x01  # a bit flip: the structure pass cannot see it
    packs[0].write_bytes(bytes(damaged))
    with_walk = findings(local_repo, 2)
    assert with_walk == findings(local_repo, 1)
    assert any(paths for _, _, _, paths in with_walk)  # lost paths are named


def test_a_failed_read_back_leaves_no_walk_running(
    local_repo: RepoHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "src"
    for n in range(1500):  # trees enough that the walk is still going when the worker dies
        write_file(src / "many" / f"d{n}" / "f", b"x")
    backed_up(local_repo, src)
    monkeypatch.setenv("S3VAULT_TEST_CRASH_AT", "verify-worker:2")  # a worker is killed
    with pytest.raises(S3VaultError, match="verify worker process"):
        verify(local_repo.open(), VerifyOptions(read_data=True, jobs=2))
    assert not walks()  # stopped and joined (without the stop, 4 runs of 4 saw it running)
