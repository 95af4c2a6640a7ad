"""A blob stored twice whose first copy is damaged (repository/copies.py): `restore` (the
serial engine and the worker processes), `dump`, `restore --verify` and `restore-test` read
its other copy,
say once which copy was bad, and exit 0 with the file byte for byte; only when every copy is
bad does the file fail (exit 13), alone.

One repository for the module (each test damages a copy of it): two backups of one
directory, a.bin's blobs in one pack and b.bin's in another, and every blob of a.bin stored
once more in a third pack (as two hosts storing it at once, or a copy, would leave it).
"""

from __future__ import annotations

import random
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from s3vault import InitOptions, RepoOptions, init, ls, open_repository
from s3vault.format.layout import ObjectKind
from s3vault.format.packfile import BlobType
from s3vault.ids import ObjectId
from s3vault.ops.backup import BackupOptions, backup
from s3vault.repository.index import BlobIndex
from s3vault.repository.repository import Repository
from tests.conftest import PASSWORD, TEST_SETTINGS, RunCli, write_file


@dataclass
class Twice:
    url: Path
    src: Path
    blobs: tuple[ObjectId, ...]  # a.bin's content, each blob stored in two packs


def _open(url: Path) -> Repository:
    return open_repository(RepoOptions(url=str(url), password=PASSWORD.encode(), cache_dir=None))


@pytest.fixture(scope="module")
def twice(tmp_path_factory: pytest.TempPathFactory) -> Twice:
    base = tmp_path_factory.mktemp("copies")
    url, src = base / "repo", base / "src"
    init(RepoOptions(url=str(url), password=PASSWORD.encode()), InitOptions(settings=TEST_SETTINGS))
    write_file(src / "a.bin", random.Random(1).randbytes(40_000))
    backup(_open(url), BackupOptions(paths=(str(src),), host="h"))
    write_file(src / "b.bin", random.Random(2).randbytes(30_000))
    backup(_open(url), BackupOptions(paths=(str(src),), host="h"))
    repo = _open(url)
    _sid, entries = ls(repo, "latest", str(src / "a.bin"))
    (entry,) = list(entries)
    writer = repo.blob_writer(index=BlobIndex())  # deduplicates against nothing: a 2nd copy
    for bid in entry.node.content:
        writer.save(BlobType.DATA, repo.load_blob(BlobType.DATA, bid), bid)
    writer.flush()
    blobs = tuple(entry.node.content)
    assert all(len(_open(url).index.locations(BlobType.DATA, b)) == 2 for b in blobs)
    return Twice(url=url, src=src, blobs=blobs)


def _copy(twice: Twice, tmp_path: Path) -> Path:
    shutil.copytree(twice.url, tmp_path / "repo")
    return tmp_path / "repo"


def _damage(url: Path, bid: ObjectId, copy: int = 0) -> str:
    """Flip a byte in the middle of one copy of a blob (0: the copy readers take first);
    returns the damaged pack's short id."""
    repo = _open(url)
    loc = repo.index.locations(BlobType.DATA, bid)[copy]
    pack = url / repo.name_of(ObjectKind.DATA, loc.pack_id)
    raw = bytearray(pack.read_bytes())
    raw[loc.offset + loc.length // 2] ^= 0xFF
    pack.chmod(0o644)
    pack.write_bytes(bytes(raw))
    return loc.pack_id.short


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_damaged_first_copy_is_read_from_the_other_one(
    twice: Twice, tmp_path: Path, run_cli: RunCli, jobs: str
) -> None:
    """`--jobs 2`: a worker finds the blob bad, the parent reads the other copy."""
    url = _copy(twice, tmp_path)
    bad = _damage(url, twice.blobs[0])
    out = tmp_path / "out"
    done = run_cli("-r", str(url), "restore", "latest", "--target", str(out), "--jobs", jobs)
    assert done.code == 0, done.stderr
    for name in ("a.bin", "b.bin"):
        restored = out / str(twice.src).lstrip("/") / name
        assert restored.read_bytes() == (twice.src / name).read_bytes()
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert bad in lines[0] and "bad copy" in lines[0] and "read from its copy in pack" in lines[0]


def test_dump_restore_verify_and_restore_test_read_the_other_copy(
    twice: Twice, tmp_path: Path, run_cli: RunCli
) -> None:
    url = _copy(twice, tmp_path)
    _damage(url, twice.blobs[0])
    dumped = run_cli("-r", str(url), "dump", "latest", str(twice.src / "a.bin"))
    assert dumped.code == 0, dumped.stderr
    assert dumped.stdout_bytes == (twice.src / "a.bin").read_bytes()
    out = tmp_path / "out"
    done = run_cli("-r", str(url), "restore", "latest", "--target", str(out), "--verify")
    assert done.code == 0, done.stderr
    assert "verified 2 files against the snapshot: 0 did not match" in done.stdout
    for disk in ((), ("--no-disk",)):
        drill = run_cli("-r", str(url), "restore-test", "latest", *disk)
        assert drill.code == 0, drill.stderr


def test_every_copy_damaged_fails_that_file_alone(
    twice: Twice, tmp_path: Path, run_cli: RunCli
) -> None:
    url = _copy(twice, tmp_path)
    _damage(url, twice.blobs[0], 0)
    _damage(url, twice.blobs[0], 1)
    out = tmp_path / "out"
    done = run_cli("-r", str(url), "restore", "latest", "--target", str(out))
    assert done.code == 13, done.stderr
    assert "a.bin" in done.stderr and "Traceback" not in done.stderr
    restored = out / str(twice.src).lstrip("/") / "b.bin"
    assert restored.read_bytes() == (twice.src / "b.bin").read_bytes()


def test_copy_reads_the_other_copy(twice: Twice, tmp_path: Path, run_cli: RunCli) -> None:
    """`copy` to another repository takes the blob from its good copy; the target restores
    byte for byte."""
    url = _copy(twice, tmp_path)
    _damage(url, twice.blobs[0])
    dst = tmp_path / "dst"
    init(RepoOptions(url=str(dst), password=PASSWORD.encode()), InitOptions(settings=TEST_SETTINGS))
    pw = write_file(tmp_path / "pw", PASSWORD.encode() + b"\n")
    done = run_cli("-r", str(url), "copy", "--to", str(dst), "--to-password-file", str(pw))
    assert done.code == 0, done.stderr
    out = tmp_path / "out"
    restored = run_cli("-r", str(dst), "restore", "latest", "--target", str(out))
    assert restored.code == 0, restored.stderr
    a = out / str(twice.src).lstrip("/") / "a.bin"
    assert a.read_bytes() == (twice.src / "a.bin").read_bytes()
