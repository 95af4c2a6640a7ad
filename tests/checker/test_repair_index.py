"""repair index never makes a repository worse: whatever happens to one pack, every file that
restored before the repair restores after it; on a clean repository it changes nothing."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from s3vault import (
    BackupOptions,
    ForgetOptions,
    InitOptions,
    Policy,
    PruneOptions,
    RepoOptions,
    VerifyOptions,
    backup,
    forget,
    init,
    prune,
    repair_index,
    verify,
)
from s3vault.backend.local import LocalBackend
from s3vault.crypto.hashing import ContentHasher
from s3vault.errors import S3VaultError
from s3vault.format.packfile import BlobType
from s3vault.format.tree import NodeType
from s3vault.ids import ObjectId
from s3vault.repository.repository import Repository, RepositorySettings
from s3vault.repository.snapshots import list_snapshots
from tests.conftest import PASSWORD, write_file

# Small packs: several per snapshot, some holding many small blobs, some one large blob.
SETTINGS = RepositorySettings(kdf_cost="minimum", pack_size=48 * 1024)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("repair")
    url = str(base / "repo")
    init(RepoOptions(url=url, password=PASSWORD.encode()), InitOptions(settings=SETTINGS))
    src = base / "src"
    for i in range(24):
        size = 70_000 if i % 6 == 0 else 3_000 + 500 * i
        write_file(src / f"d{i % 4}" / f"sub{i % 3}" / f"f{i}.bin", os.urandom(size))
    repo = open_fresh(Path(url))
    backup(repo, BackupOptions(paths=(str(src),), host="h"))
    for i in range(0, 24, 5):
        write_file(src / f"d{i % 4}" / f"new{i}.bin", os.urandom(2_000 + i))
    repo = open_fresh(Path(url))
    backup(repo, BackupOptions(paths=(str(src),), host="h"))
    return Path(url)


def open_fresh(root: Path) -> Repository:
    repo = Repository.open(LocalBackend(root), PASSWORD.encode(), cache_dir=None)
    return repo.with_index(repo.read_index())


def restorable(root: Path) -> set[tuple[ObjectId, str]]:
    """(snapshot, path) of every file whose trees load and whose content reads back whole
    (every blob opens and the keyed hash of the content matches the snapshot's)."""
    repo = open_fresh(root)
    id_key = repo.sealer.current.id_key
    out: set[tuple[ObjectId, str]] = set()
    for sid, snap in list_snapshots(repo):
        stack = [(snap.tree, "")]
        while stack:
            tid, prefix = stack.pop()
            try:
                tree = repo.load_tree(tid)
            except S3VaultError:
                continue
            for node in tree.nodes:
                path = f"{prefix}/{node.display_name}"
                if node.type is NodeType.DIR and node.subtree is not None:
                    stack.append((node.subtree, path))
                elif node.type is NodeType.FILE:
                    hasher = ContentHasher(id_key)
                    try:
                        for bid in node.content:
                            hasher.update(repo.load_blob(BlobType.DATA, bid))
                    except S3VaultError:
                        continue
                    if hasher.digest() == node.content_hash:
                        out.add((sid, path))
    return out


def pack_files(root: Path) -> list[Path]:
    return sorted(p for kind in ("data", "tree") for p in (root / kind).rglob("*") if p.is_file())


def stored(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def damage(victim: Path, mutation: str, where: float) -> None:
    data = victim.read_bytes()
    pos = min(len(data) - 1, int(where * len(data)))
    if mutation == "delete":
        victim.unlink()
    elif mutation == "truncate":
        victim.write_bytes(data[:pos])
    else:
        buf = bytearray(data)
        buf[pos] ^= 1 << int(where * 1e6) % 8
        victim.write_bytes(bytes(buf))


def test_repair_index_on_a_clean_repository_changes_nothing(template: Path) -> None:
    before = stored(template)
    result = repair_index(open_fresh(template))
    assert not result.changed
    assert result.damaged_packs == ()
    assert stored(template) == before


def test_repair_index_after_prune_marked_packs_changes_nothing(template: Path) -> None:
    """Packs prune marked are named by a deletion record, not by the index: repair leaves
    them with their record (the old repair indexed them again, rewriting the index)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "repo"
        shutil.copytree(template, root)
        old = os.stat(root / "config").st_mtime - 3 * 86400  # packs past the young-pack age
        for p in root.rglob("*"):
            os.utime(p, (old, old))
        forget(open_fresh(root), ForgetOptions(policy=Policy(last=1)))
        done = prune(open_fresh(root), PruneOptions(max_unused=0.0, grace=SETTINGS.min_grace))
        assert done.packs_marked
        before = stored(root)
        result = repair_index(open_fresh(root))
        assert not result.changed
        assert stored(root) == before


@settings(max_examples=40)
@given(
    which=st.integers(min_value=0, max_value=10_000),
    mutation=st.sampled_from(["flip", "truncate", "delete"]),
    where=st.floats(min_value=0.0, max_value=1.0, exclude_max=True),
)
@example(which=0, mutation="flip", where=0.9999)  # the header's tag of the first pack
@example(which=1, mutation="truncate", where=0.5)
@example(which=2, mutation="delete", where=0.0)
@example(which=9_999, mutation="flip", where=0.0)  # a tree pack: the first blob's nonce
def test_repair_index_keeps_every_restorable_file(
    template: Path, which: int, mutation: str, where: float
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "repo"
        shutil.copytree(template, root)
        packs = pack_files(root)
        victim = packs[which % len(packs)]
        damage(victim, mutation, where)
        before = restorable(root)
        stored_packs = {p.name for p in pack_files(root)}
        result = repair_index(open_fresh(root))
        after = restorable(root)
        assert before <= after, sorted(before - after)
        assert {p.name for p in pack_files(root)} == stored_packs  # never deletes a pack
        if mutation == "delete":
            assert [p.problem for p in result.damaged_packs] == ["pack is missing"]
        # A second repair finds the index it wrote (the damage is reported again, nothing
        # more is lost).
        again = repair_index(open_fresh(root))
        assert not again.changed
        assert again.blobs_lost == 0
        assert restorable(root) == after


def test_verify_names_the_snapshots_that_use_a_pack_with_a_damaged_header(
    template: Path,
) -> None:
    """A pack whose header is damaged but whose blobs all read back is still needed: verify
    says so, with the snapshots that use it (it said "no snapshot needs it")."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "repo"
        shutil.copytree(template, root)
        victim = max(pack_files(root), key=lambda p: p.stat().st_size)
        damage(victim, "flip", 1 - 1e-9)  # the last byte of the header's tag
        result = verify(open_fresh(root), VerifyOptions(read_data=True))
        (finding,) = [f for f in result.findings if f.severity == "error"]
        assert finding.object == victim.relative_to(root).as_posix()
        assert "no snapshot needs it" not in finding.message
        assert "nothing is lost" in finding.message
        assert len(finding.snapshots) == 2
        assert finding.paths == ()
