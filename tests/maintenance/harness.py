"""A repository on the memory backend whose store clock the test moves (days in seconds)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from s3vault import (
    BackupOptions,
    ForgetOptions,
    InitOptions,
    Policy,
    PruneOptions,
    RepoOptions,
    RepositorySettings,
    backup,
    forget,
    init,
    open_repository,
    prune,
)
from s3vault.backend.base import Guarantees
from s3vault.backend.memory import MemoryBackend
from s3vault.clock import ManualClock
from s3vault.ids import ObjectId
from s3vault.ops.prune import PruneResult
from s3vault.ops.verify import verify
from s3vault.repository.lease import LeaseSettings
from s3vault.repository.repository import Repository

GRACE = 3600


@dataclass
class World:
    """One repository, one store clock, one host clock that move together."""

    tmp: Path
    clock: ManualClock = field(
        default_factory=lambda: ManualClock(datetime(2026, 1, 1, tzinfo=UTC))
    )
    guarantees: Guarantees = field(default_factory=Guarantees)

    def __post_init__(self) -> None:
        self.backend = MemoryBackend(clock=self.clock, guarantees=self.guarantees)
        self.options = RepoOptions(url="memory:", password=b"pw", cache_dir=None)
        init(
            self.options,
            InitOptions(
                settings=RepositorySettings(kdf_cost="minimum", pack_size=1 << 20, min_grace=GRACE)
            ),
            backend=self.backend,
            clock=self.clock,
        )

    def open(self) -> Repository:
        return open_repository(self.options, backend=self.backend, load_index=False)

    def advance(self, seconds: float) -> None:
        self.clock.advance(timedelta(seconds=seconds))

    def write(self, name: str, size: int = 300_000, seed: int | None = None) -> Path:
        path = self.tmp / "src" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(size) if seed is None else _pseudo(seed, size))
        return path

    def backup(self, **kwargs: object) -> str:
        r = backup(
            self.open(), BackupOptions(paths=(str(self.tmp / "src"),), **kwargs), clock=self.clock
        )  # type: ignore[arg-type]
        assert r.snapshot_id is not None
        return r.snapshot_id.hex()

    def forget_all_but(self, n: int) -> None:
        forget(self.open(), ForgetOptions(policy=Policy(last=n)), clock=self.clock)

    def prune(self, **kwargs: object) -> PruneResult:
        return prune(
            self.open(),
            PruneOptions(**kwargs),  # type: ignore[arg-type]
            lease=LeaseSettings(),
            clock=self.clock,
        )

    def verify_ok(self, read_data: bool = True) -> None:
        from s3vault.ops.verify import VerifyOptions

        r = verify(self.open(), VerifyOptions(read_data=read_data))
        errors = [f for f in r.findings if f.severity == "error"]
        assert r.ok, errors

    def packs(self) -> set[str]:
        return {i.name for p in ("data/", "tree/") for i in self.backend.list(p)}


def _pseudo(seed: int, size: int) -> bytes:
    import random

    return random.Random(seed).randbytes(size)


def restored(world: World, snapshot: str, target: Path) -> dict[str, bytes]:
    """Restore a snapshot and return {file name: bytes}."""
    from s3vault.ops.restore import RestoreOptions, restore

    repo = world.open()
    repo = repo.with_index(repo.read_index())
    restore(repo, RestoreOptions(snapshot=snapshot, target=target))
    return {p.name: p.read_bytes() for p in target.rglob("*") if p.is_file()}


def subtree_at(repo: Repository, tid: ObjectId, *names: bytes) -> ObjectId:
    """The tree id of the directory at ``names`` below the tree ``tid``."""
    for name in names:
        node = repo.load_tree(tid).find(name)
        assert node is not None and node.subtree is not None
        tid = node.subtree
    return tid
