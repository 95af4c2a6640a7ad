"""verify --read-data in worker processes walks the snapshots' trees beside the read-back
(checker/checker.py ``_EarlyWalk``): its outcome is the walk's after the read-back when the
read-back finds nothing, it is thrown away when the read-back finds damage, and no walk is
left running behind a verify, failed or not."""

from __future__ import annotations

import os
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


ODD = b"\xff\xfe"  # bytes that are no UTF-8 (messages show them escaped)


def backed_up(repo: RepoHandle, src: Path) -> None:
    """Three packs of 4 MiB at least and 200 small files, every file below a directory whose
    name is no UTF-8."""
    rng = random.Random(5)
    odd = Path(os.fsdecode(bytes(src) + b"/odd" + ODD))
    for n in range(3):
        write_file(odd / "big" / f"f{n}", rng.randbytes(4_500_000))
    for n in range(200):
        write_file(odd / "small" / f"d{n % 9}" / f"s{n}", rng.randbytes(300))
    backup(repo.open(), BackupOptions(paths=(str(src),)))


def findings(
    repo: RepoHandle, jobs: int, subset: str | None = None
) -> list[tuple[str, str, str, tuple[str, ...]]]:
    options = VerifyOptions(read_data=subset is None, read_data_subset=subset, jobs=jobs)
    result = verify(repo.open(), options)
    assert not walks()
    return [(f.kind, f.object, f.message, f.paths) for f in result.findings]


def test_a_sound_repository_reads_the_same_with_the_walk_beside(
    local_repo: RepoHandle, tmp_path: Path
) -> None:
    backed_up(local_repo, tmp_path / "src")
    assert findings(local_repo, 2) == findings(local_repo, 1) == []
    # restic's habit: check --read-data-subset, here with the walk beside workers too
    assert findings(local_repo, 2, "1/2") == findings(local_repo, 1, "1/2") == []


def _flip_a_bit(path: Path) -> None:
    damaged = bytearray(path.read_bytes())
    damaged[len(damaged) // 2] ^= 0x01  # the structure pass cannot see it; the read-back can
    path.write_bytes(bytes(damaged))


@pytest.mark.parametrize("damage", ["data pack bit flip", "tree pack bit flip", "missing pack"])
def test_damage_is_attributed_as_without_the_walk_beside(
    local_repo: RepoHandle, tmp_path: Path, damage: str
) -> None:
    """A flipped bit only the read-back finds (in a tree pack, the early walk's own reads fail
    too), or a pack the structure pass finds missing: the same findings, the same lost paths
    (names that are no UTF-8 among them) with --jobs 2 as with --jobs 1."""
    backed_up(local_repo, tmp_path / "src")
    kind = "tree" if damage.startswith("tree") else "data"
    packs = sorted(p for p in Path(local_repo.url, kind).rglob("*") if p.is_file())
    assert len(packs) >= (1 if kind == "tree" else 3)
    if damage == "missing pack":
        packs[0].unlink()
    else:
        _flip_a_bit(packs[0])
    with_walk = findings(local_repo, 2)
    assert with_walk == findings(local_repo, 1)
    lost = [path for _, _, _, paths in with_walk for path in paths]
    assert lost  # lost paths are named
    if kind == "data":  # a file's path: below the odd directory, its bytes escaped
        assert all("/odd\\xff\\xfe/" in path for path in lost), lost


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
