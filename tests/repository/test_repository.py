"""The repository handle: immutable once open, read another way through views, and the one
place objects are listed by kind (names parsed into ids) and read, written and deleted."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest

from s3vault import BackupOptions, backup
from s3vault.backend.accounting import RequestCounts
from s3vault.format.layout import ObjectKind
from s3vault.ids import ObjectId
from s3vault.repository.index import BlobIndex
from s3vault.repository.supersede import live, superseded
from tests.conftest import RepoHandle, write_file

SRC = Path(__file__).resolve().parents[2] / "src" / "s3vault"


def test_attributes_cannot_be_assigned(local_repo: RepoHandle) -> None:
    repo = local_repo.open()
    for name, value in [
        ("index", BlobIndex()),
        ("backend", repo.backend),
        ("requests", RequestCounts()),
        ("object_lock", None),
        ("config", repo.config),
        ("sealer", repo.sealer),
        ("anything_new", 1),
    ]:
        with pytest.raises(AttributeError):
            setattr(repo, name, value)
    with pytest.raises(AttributeError):
        del repo.index


def test_with_index_is_a_view_that_leaves_the_handle_alone(
    tmp_path: Path, local_repo: RepoHandle
) -> None:
    write_file(tmp_path / "src" / "a", os.urandom(50_000))
    backup(local_repo.open(), BackupOptions(paths=(str(tmp_path / "src"),)))
    repo = local_repo.open()
    assert len(repo.index)
    empty = repo.with_index(BlobIndex())
    assert len(empty.index) == 0
    assert len(repo.index)  # the handle still reads through its own index
    assert empty.requests is repo.requests  # one stack: one set of counters
    repo.skip("snapshots/x", "damaged")
    assert empty.skipped == {"snapshots/x": "damaged"}
    fresh = repo.read_index()
    assert sorted(fresh.entries()) == sorted(repo.index.entries())
    assert fresh is not repo.index


def test_dry_run_view_writes_nothing(local_repo: RepoHandle) -> None:
    repo = local_repo.open()
    dry = repo.dry_run()
    assert dry.index is repo.index
    assert dry.requests is not repo.requests
    oid = dry.save_file(ObjectKind.SNAPSHOTS, b"{}")
    assert oid not in repo.list_files(ObjectKind.SNAPSHOTS)
    assert not list(Path(local_repo.url, "snapshots").glob(oid.hex() + "*"))


def test_listing_by_kind_parses_names_and_passes_over_foreign_ones(
    tmp_path: Path, local_repo: RepoHandle
) -> None:
    write_file(tmp_path / "src" / "a", os.urandom(50_000))
    backup(local_repo.open(), BackupOptions(paths=(str(tmp_path / "src"),)))
    root = Path(local_repo.url)
    write_file(root / "data" / "ab" / "not-an-id", b"x")
    write_file(root / "index" / ("0" * 63), b"x")  # one digit short
    repo = local_repo.open()
    packs = repo.list_packs()
    assert packs
    assert {pid for pid, _size in repo.index.packs()} == set(packs)
    for pid, info in packs.items():
        assert info.name.endswith(pid.hex())
        assert repo.stat_object(ObjectKind.DATA if "data/" in info.name else ObjectKind.TREE, pid)
    assert "data/ab/not-an-id" in {i.name for i in repo.list_objects(ObjectKind.DATA)}
    assert len(repo.list_ids(ObjectKind.INDEX)) == len(repo.list_files(ObjectKind.INDEX)) == 1
    (index_id,) = repo.list_files(ObjectKind.INDEX)
    raw = repo.read_object(ObjectKind.INDEX, index_id)
    assert repo.read_object(ObjectKind.INDEX, index_id, 0, 10) == raw[:10]
    repo.delete_objects([(ObjectKind.INDEX, index_id)])
    assert repo.list_files(ObjectKind.INDEX) == []


class _File:
    def __init__(self, *supersedes: ObjectId) -> None:
        self.supersedes = supersedes


def test_the_supersede_rule() -> None:
    a, b, c, d = (ObjectId(bytes([n]) * 32) for n in range(4))
    files = {a: _File(), b: _File(a), c: _File(b), d: _File(ObjectId(b"\x09" * 32))}
    assert superseded(files.values()) == {a, b, ObjectId(b"\x09" * 32)}
    assert [oid for oid, _f in live(files)] == [c, d]


_OUTSIDE = ("archiver", "restorer", "checker", "maintenance", "ops")
_HANDLES = {"repo", "_repo", "src", "dst", "repository"}


def _backend_reaches(path: Path) -> list[str]:
    """``<handle>.backend`` in a module, where the handle is a repository by its name."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not (isinstance(node, ast.Attribute) and node.attr == "backend"):
            continue
        value = node.value
        name = value.id if isinstance(value, ast.Name) else getattr(value, "attr", "")
        if name in _HANDLES:
            found.append(f"{path.relative_to(SRC)}:{node.lineno}")
    return found


def test_only_the_repository_package_touches_the_backend() -> None:
    """The layers above the repository list, read, write and delete objects through its
    methods; ``repo.backend`` is the repository package's own."""
    reaches = [
        hit for pkg in _OUTSIDE for f in (SRC / pkg).rglob("*.py") for hit in _backend_reaches(f)
    ]
    assert reaches == []
