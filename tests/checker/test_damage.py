"""The damage matrix: every kind of object × every kind of damage is found by verify, named,
and tied to the snapshots and paths that lose content; a clean repository has no findings."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from s3vault import BackupOptions, InitOptions, RepoOptions, VerifyOptions, backup, init, verify
from s3vault.backend.local import LocalBackend
from s3vault.errors import IntegrityError
from s3vault.repository.keyring import store_key, unwrap_key, wrap_key
from s3vault.repository.repository import Repository, RepositorySettings
from tests.conftest import PASSWORD, write_file

# One blob per pack (tiny packs), so damage to one pack hits one file.
SETTINGS = RepositorySettings(kdf_cost="minimum", pack_size=64 * 1024)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("damage")
    url = str(base / "repo")
    opts = RepoOptions(url=url, password=PASSWORD.encode())
    init(opts, InitOptions(settings=SETTINGS))
    src = base / "src"
    write_file(src / "a.bin", os.urandom(700_000))
    write_file(src / "b.bin", os.urandom(700_000))
    write_file(src / "docs" / "c.txt", b"small text\n" * 50)
    repo = Repository.open(LocalBackend(Path(url)), PASSWORD.encode())
    backup(repo.with_index(repo.read_index()), BackupOptions(paths=(str(src),), host="h"))
    write_file(src / "d.bin", os.urandom(700_000))
    repo = repo.with_index(repo.read_index())
    backup(repo, BackupOptions(paths=(str(src),), host="h"))
    payload = repo.sealer.payload()
    second = wrap_key(
        repo_id=repo.id,
        payload=payload,
        password=PASSWORD.encode(),
        kdf_cost="minimum",
        label="second",
    )
    store_key(repo.backend, second, lambda k: unwrap_key(k, PASSWORD.encode()))
    return Path(url)


def open_fresh(root: Path) -> Repository:
    return Repository.open(LocalBackend(root), PASSWORD.encode(), cache_dir=None)


def objects(root: Path, kind: str) -> list[Path]:
    if kind == "config":
        return [root / "config"]
    return sorted(p for p in (root / kind).rglob("*") if p.is_file())


def damage(files: list[Path], mutation: str) -> Path:
    victim = files[0]
    data = victim.read_bytes()
    if mutation.startswith("flip"):
        pos = {"flip-head": 0, "flip-middle": len(data) // 2, "flip-tail": len(data) - 1}[mutation]
        buf = bytearray(data)
        buf[pos] ^= 0x10
        victim.write_bytes(bytes(buf))
    elif mutation == "truncate":
        victim.write_bytes(data[: len(data) // 2])
    elif mutation == "truncate-to-zero":
        victim.write_bytes(b"")
    elif mutation == "delete":
        victim.unlink()
    elif mutation == "swap":
        other = files[1]
        victim.write_bytes(other.read_bytes())
        other.write_bytes(data)
    return victim


MUTATIONS = [
    "flip-head",
    "flip-middle",
    "flip-tail",
    "truncate",
    "truncate-to-zero",
    "delete",
    "swap",
]
CASES = [
    (kind, m)
    for kind in ("data", "tree", "index", "snapshots", "keys", "config")
    for m in MUTATIONS
    # Removing a key file or a snapshot is what `key remove` and `forget` do: not damage.
    # config has no sibling to swap with.
    if not (kind in ("keys", "snapshots") and m == "delete")
    and not (kind == "config" and m == "swap")
]


@pytest.mark.parametrize(("kind", "mutation"), CASES)
def test_damage_is_found_and_named(
    template: Path, tmp_path: Path, kind: str, mutation: str
) -> None:
    root = tmp_path / "repo"
    shutil.copytree(template, root)
    files = objects(root, kind)
    if kind == "data":
        # The largest pack holds one big blob, so damage in its middle hits content. (A pack
        # with only the small file's blob may put its header there: its content survives.)
        files.sort(key=lambda p: p.stat().st_size, reverse=True)
    victim = damage(files, mutation)
    name = victim.relative_to(root).as_posix()
    try:
        result = verify(open_fresh(root), VerifyOptions(read_data=True))
    except IntegrityError as exc:
        assert kind == "config", exc  # only a damaged config stops the repository opening
        assert "config" in str(exc)
        return
    assert kind != "config"
    assert not result.ok
    errors = [f for f in result.findings if f.severity == "error"]
    if kind == "index" and mutation == "delete":
        # The index is gone, not damaged: what it described is now missing, by blob and path.
        assert any(f.kind == "blob-missing" and f.paths for f in errors)
        return
    named = [f for f in errors if f.object == name]
    assert named, [f.object for f in errors]
    if kind in ("data", "tree") and mutation not in ("swap", "flip-tail"):
        # Content is lost, and the finding says where. (A flipped last byte only hits the
        # trailer: every blob still reads back, so the pack is damaged but nothing is lost.)
        assert named[0].snapshots and named[0].paths


@pytest.mark.parametrize("kind", ["index", "snapshots", "keys", "tree"])
def test_metadata_damage_needs_no_read_data(template: Path, tmp_path: Path, kind: str) -> None:
    root = tmp_path / "repo"
    shutil.copytree(template, root)
    victim = damage(objects(root, kind), "truncate")
    result = verify(open_fresh(root), VerifyOptions(read_data=False))
    assert victim.relative_to(root).as_posix() in {f.object for f in result.findings}
    assert result.packs_read == 0


def test_clean_repository_has_no_errors(template: Path) -> None:
    for _ in range(3):
        result = verify(open_fresh(template), VerifyOptions(read_data=True))
        assert result.ok
        assert [f for f in result.findings if f.severity == "error"] == []
        assert result.packs_read == result.packs > 0


def test_duplicate_blobs_are_information_not_damage(tmp_path: Path) -> None:
    url = str(tmp_path / "repo")
    init(RepoOptions(url=url, password=PASSWORD.encode()), InitOptions(settings=SETTINGS))
    blob = os.urandom(10_000)
    for _ in range(2):  # two hosts at once: each misses the other's in-flight blob
        repo = open_fresh(Path(url))
        writer = repo.blob_writer()
        from s3vault.format.packfile import BlobType

        writer.save(BlobType.DATA, blob)
        writer.flush()
    result = verify(open_fresh(Path(url)), VerifyOptions(read_data=True))
    assert result.ok
    (dup,) = [f for f in result.findings if f.kind == "duplicate-blobs"]
    assert dup.severity == "info"
    assert dup.message.startswith("1 extra cop")
