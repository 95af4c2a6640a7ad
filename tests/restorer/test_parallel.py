"""The read-back of a restore (restorer/proof.py) in worker processes finds what the threaded
one finds, in the same order, on disk and streamed; restore --verify and restore-test use it
with --jobs."""

from __future__ import annotations

import os
from pathlib import Path

from s3vault import BackupOptions, backup
from s3vault.repository.snapshots import find_snapshot
from s3vault.restorer.plan import plan_restore
from s3vault.restorer.proof import SLICE, prove_on_disk, prove_streamed
from s3vault.restorer.restorer import Restorer
from tests.conftest import RepoHandle, write_file


def test_proof_in_workers_finds_the_same_mismatches(local_repo: RepoHandle, tmp_path: Path) -> None:
    src = tmp_path / "src"
    for i in range(SLICE + 60):  # more than one slice: the workers' path
        write_file(src / f"d{i % 3}" / f"f{i:03d}", b"%d" % i * (i + 1))
    repo = local_repo.open()
    backup(repo, BackupOptions(paths=(str(src),)))
    repo = local_repo.open()
    _sid, snap = find_snapshot(repo, "latest")
    plan = plan_restore(repo, snap.tree)
    target = os.fsencode(tmp_path / "r")
    Restorer(repo, plan).run(target)
    restored = tmp_path / "r" / str(src).lstrip("/")
    (restored / "d1" / "f004").write_bytes(b"tampered")  # size differs
    other = restored / "d2" / "f299"
    other.write_bytes(b"X" * other.stat().st_size)  # same size, other bytes
    key = repo.sealer.current.id_key
    serial = prove_on_disk(plan, target, key, jobs=1)
    parallel = prove_on_disk(plan, target, key, jobs=2)
    assert serial == parallel
    assert [(Path(p).name, why.split(",")[0]) for p, why in parallel] == [
        ("f004", "size 8"),
        ("f299", "content differs from the backed-up file (hash mismatch)"),
    ]
    # Streamed (restore-test --no-disk) over a damaged pack: the same problems either way.
    pack = max(
        (p for p in Path(local_repo.url, "data").rglob("*") if p.is_file()), key=os.path.getsize
    )
    data = bytearray(pack.read_bytes())
    data[len(data) // 2] ^= 1
    pack.write_bytes(bytes(data))
    streamed = prove_streamed(repo, plan, jobs=1)
    assert streamed == prove_streamed(repo, plan, jobs=2)
    assert streamed
    assert all("cannot be restored" in why for _path, why in streamed)
