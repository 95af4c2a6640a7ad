"""copy records in the SOURCE's verification ledger the packs it read whole and found intact
(issue 19): every data pack of a first copy, no tree pack, no pack read only in part (the
target had the rest), no damaged pack, nothing in the target (on S3, beside a read-only key:
tests/cli/test_copy_proofs.py)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from s3vault import (
    BackupOptions,
    CopyOptions,
    CopyResult,
    InitOptions,
    RepoOptions,
    backup,
    copy,
    init,
)
from s3vault import open_repository as open_repo
from s3vault.clock import ManualClock
from s3vault.format.layout import ObjectKind
from s3vault.repository import ledger as ledgers
from s3vault.repository.repository import Repository
from s3vault.repository.snapshots import list_snapshots
from tests.conftest import PASSWORD, TEST_SETTINGS, write_file

START = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)


def _repo(url: str, cache: Path) -> RepoOptions:
    options = RepoOptions(url=url, password=PASSWORD.encode(), cache_dir=cache)
    init(options, InitOptions(settings=TEST_SETTINGS))
    return options


def _data_packs(repo: Repository) -> set:
    return {pid for pid, info in repo.list_packs().items() if info.name.startswith("data/")}


def _copy(src: RepoOptions, dst: RepoOptions, *snapshots: str, at: datetime = START) -> CopyResult:
    return copy(
        open_repo(src),
        open_repo(dst),
        CopyOptions(snapshots=snapshots),
        cache_dir=src.cache_dir,
        clock=ManualClock(at),
    )


def _two_repos(tmp_path: Path, src_url: str | None = None) -> tuple[RepoOptions, RepoOptions]:
    src = _repo(src_url or str(tmp_path / "src"), tmp_path / "cache")
    dst = _repo(str(tmp_path / "dst"), tmp_path / "cache")
    return src, dst


def _fill(src: RepoOptions, data: Path, files: int) -> None:
    for i in range(files):  # 300 KB each: several files to a 4 MiB pack
        write_file(data / f"f{i}.bin", os.urandom(300_000))
    backup(open_repo(src), BackupOptions(paths=(str(data),)))


def test_a_first_copy_proves_every_data_pack_of_the_source_and_nothing_in_the_target(
    tmp_path: Path,
) -> None:
    src, dst = _two_repos(tmp_path)
    _fill(src, tmp_path / "data", 30)  # 9 MB: three data packs and a tree pack
    result = _copy(src, dst)
    source = open_repo(src)
    data_packs = _data_packs(source)
    assert len(data_packs) >= 2
    proofs = ledgers.load(source).proofs
    assert set(proofs) == data_packs  # every data pack; tree packs come from the local cache
    assert {p.time for p in proofs.values()} == {START.timestamp()}  # the run's start
    assert result.packs_proven == len(data_packs)
    assert result.ledger_file is not None
    target = open_repo(dst)
    assert target.list_files(ObjectKind.LEDGER) == []  # written, not read back: no proof


def test_a_pack_read_only_in_part_is_not_proven(tmp_path: Path) -> None:
    """One pack holds a.bin and b.bin; a second snapshot holds only a.bin. Copying it reads
    a.bin only: no proof. Copying the first then reads b.bin only (the target has a.bin):
    still no proof, since no single run read the pack whole."""
    src, dst = _two_repos(tmp_path)
    data = tmp_path / "data"
    write_file(data / "a.bin", os.urandom(200_000))
    write_file(data / "b.bin", os.urandom(200_000))
    backup(open_repo(src), BackupOptions(paths=(str(data),)))
    (data / "b.bin").unlink()
    backup(open_repo(src), BackupOptions(paths=(str(data),)))
    first, second = (sid.hex() for sid, _ in list_snapshots(open_repo(src)))
    partial = _copy(src, dst, second)
    assert partial.packs_proven == 0 and partial.ledger_file is None
    rest = _copy(src, dst, first, at=START + timedelta(hours=1))
    assert rest.blobs_read == 1 and rest.packs_proven == 0
    assert ledgers.load(open_repo(src)).files == []


def test_a_damaged_pack_is_not_proven_and_the_others_are(tmp_path: Path) -> None:
    src, dst = _two_repos(tmp_path)
    data = tmp_path / "data"
    _fill(src, data, 4)
    before = _data_packs(open_repo(src))
    (data / "new.bin").write_bytes(os.urandom(300_000))
    backup(open_repo(src), BackupOptions(paths=(str(data),)))
    source = open_repo(src)
    (victim,) = _data_packs(source) - before
    path = Path(src.url, source.list_packs()[victim].name)
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 3] ^= 0x40
    path.chmod(0o644)
    path.write_bytes(bytes(raw))
    result = _copy(src, dst)
    assert len(result.failed) == 1
    assert set(ledgers.load(open_repo(src)).proofs) == before


def test_a_snapshot_stored_while_a_copy_starts_is_not_called_damaged(tmp_path: Path) -> None:
    """copy read the source's index, then listed its snapshots: a backup that stored its index
    file and snapshot between the two looked damaged (its trees in no index the copy read),
    and the copy failed with exit 13 on a healthy source. It lists the snapshots first."""
    from s3vault.backend.forwarding import ForwardingBackend
    from s3vault.backend.local import LocalBackend

    src, dst = _two_repos(tmp_path)
    write_file(tmp_path / "data" / "a", os.urandom(50_000))
    backup(open_repo(src), BackupOptions(paths=(str(tmp_path / "data"),)))

    class BackupBetweenIndexAndSnapshots(ForwardingBackend):
        index_listed = False
        fired = False

        def list(self, prefix: str):  # type: ignore[no-untyped-def]
            if prefix.startswith("index/"):
                self.index_listed = True
            elif prefix.startswith("snapshots/") and self.index_listed and not self.fired:
                self.fired = True  # another host's backup lands now
                write_file(tmp_path / "data" / "b", os.urandom(50_000))
                backup(open_repo(src), BackupOptions(paths=(str(tmp_path / "data"),)))
            return super().list(prefix)

    racing = BackupBetweenIndexAndSnapshots(LocalBackend(Path(src.url)))
    result = copy(
        open_repo(src, backend=racing),
        open_repo(dst),
        cache_dir=src.cache_dir,
        clock=ManualClock(START),
    )
    assert result.failed == [], result.failed
