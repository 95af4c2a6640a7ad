"""Opening repositories: build the backend for a URL, unlock the key, load the index."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from s3vault.backend.base import Backend
from s3vault.backend.location import BackendOptions
from s3vault.backend.objectlock import LockPolicy, RetainingBackend
from s3vault.backend.profile import ProbedBackend, StoreProfile
from s3vault.backend.stack import stack_for
from s3vault.maintenance.immutability import known_locks_path, load_known
from s3vault.repository.known import KnownRepositories
from s3vault.repository.repository import Repository


@dataclass(frozen=True, slots=True, kw_only=True)
class RepoOptions:
    """Where the repository is and how to reach it. ``password`` is never logged or shown; an
    empty one opens the repository through a KMS key file."""

    url: str
    password: bytes
    cache_dir: Path | None = None
    backend: BackendOptions = field(default_factory=BackendOptions)

    def __repr__(self) -> str:
        return f"RepoOptions(url={self.url!r}, cache_dir={self.cache_dir!r})"


def open_repository(
    options: RepoOptions,
    *,
    backend: Backend | None = None,
    load_index: bool = True,
    on_skip: Callable[[str, str], None] | None = None,
) -> Repository:
    """Open and unlock a repository, and load its index. ``on_skip(name, reason)`` is told of
    every damaged object an operation passes over (``Repository.skip``), as it happens.

    Raises:
        RepositoryNotFoundError, NotARepositoryError, WrongPasswordError, IntegrityError.
    """
    known = KnownRepositories(options.cache_dir)
    kms = None
    if not options.password:
        from s3vault.cloud.kms import KmsService  # boto3 only when KMS is used

        kms = KmsService(options.backend)
    if backend is None:
        stack = stack_for(options.url, options.backend)
        repo = Repository.open(
            stack.backend,
            options.password,
            kms=kms,
            cache_dir=options.cache_dir,
            on_marker=lambda m: known.check(stack.backend.location, m.repo_id),
            on_key_skip=on_skip,
        )
        repo.requests = stack.counts
        if repo.config.store and isinstance(stack.raw, ProbedBackend):
            stack.raw.adopt(StoreProfile.from_dict(repo.config.store))
        if repo.config.object_lock and isinstance(stack.raw, RetainingBackend):
            stack.raw.adopt_lock(LockPolicy.from_dict(repo.config.object_lock))
            stack.raw.remember_retention(load_known(known_locks_path(repo)))
            repo.retention = stack.raw
    else:
        repo = Repository.open(
            backend,
            options.password,
            kms=kms,
            cache_dir=options.cache_dir,
            on_marker=lambda m: known.check(backend.location, m.repo_id),
            on_key_skip=on_skip,
        )
    known.remember(repo.backend.location, repo.id)
    repo.on_skip = on_skip
    if load_index:
        repo.load_index()
    return repo
