"""Opening repositories: build the backend for a URL, unlock the key, load the index."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from s3vault.backend.base import Backend
from s3vault.backend.dialect import StoreDialect
from s3vault.backend.location import BackendOptions
from s3vault.backend.objectlock import LockPolicy
from s3vault.backend.prefetch import PrefetchingBackend
from s3vault.backend.stack import stack_for
from s3vault.format.layout import ObjectKind
from s3vault.maintenance.immutability import known_locks_path, load_known
from s3vault.ops.cache import mark_used
from s3vault.repository.keyorder import KeyOrder
from s3vault.repository.known import KnownRepositories
from s3vault.repository.repository import Repository, StackState


@dataclass(frozen=True, slots=True, kw_only=True)
class RepoOptions:
    """Where the repository is and how to reach it. ``password`` is never logged or shown; an
    empty one opens the repository through a KMS key file."""

    url: str
    password: bytes
    cache_dir: Path | None = None
    backend: BackendOptions = field(default_factory=BackendOptions)
    # Which key files the password is tried on first (repository/keyorder.py): a key id or
    # its prefix (restic's --key-hint), and the kind of key the secret is for
    key_hint: str = ""
    key_kind: str = "password"

    def __repr__(self) -> str:
        return f"RepoOptions(url={self.url!r}, cache_dir={self.cache_dir!r})"


def open_repository(
    options: RepoOptions,
    *,
    backend: Backend | None = None,
    load_index: bool = True,
    on_skip: Callable[[str, str], None] | None = None,
    snapshots_ahead: bool = False,
) -> Repository:
    """THE place a repository is opened: build the backend stack for the URL (wrappers,
    request counters), unlock the key, hand the store's capabilities (its probed dialect, its
    Object Lock) to the stack, and load the index. Returns an immutable repository: views of
    it (``with_index``, ``dry_run``) are how an operation reads it another way.
    ``on_skip(name, reason)`` is told of every damaged object an operation passes over
    (``Repository.skip``), as it happens. ``backend``: a backend used as it is (no stack).

    On a remote store the listings the opening needs after the key (index files and deletion
    records, when it loads the index) are started at once, beside reading the config and the
    key (backend/prefetch.py); ``snapshots_ahead`` adds the snapshot listing, for an operation
    whose first look at the snapshots may show them as they were at opening (a backup's parent,
    a listing): never for one that lists them under a lease (prune).

    Raises:
        RepositoryNotFoundError, NotARepositoryError, WrongPasswordError, IntegrityError.
    """
    known = KnownRepositories(options.cache_dir)
    kms = None
    if not options.password:
        from s3vault.cloud.kms import KmsService  # boto3 only when KMS is used

        kms = KmsService(options.backend)
    opened_stack = backend is None
    state = StackState(on_skip=on_skip)
    if backend is None:
        stack = stack_for(options.url, options.backend)
        backend = _with_listings_ahead(stack.backend, load_index, snapshots_ahead)
        object_lock = backend.capabilities.object_lock
        state = StackState(requests=stack.counts, object_lock=object_lock, on_skip=on_skip)
    location = backend.location
    # Key files passed over while opening are not said here: when no key opens, the error
    # names them; when one opens, `verify` and `key list` report the others.
    repo = Repository.open(
        backend,
        options.password,
        kms=kms,
        cache_dir=options.cache_dir,
        on_marker=lambda m: known.check(location, m.repo_id),
        stack=state,
        key_order=KeyOrder(options.key_hint, options.key_kind),
    )
    if opened_stack:
        _adopt_capabilities(repo, backend)
    known.remember(repo.location, repo.id)
    mark_used(options.cache_dir, repo.id)  # `cache --cleanup` keeps what was used lately
    if load_index:
        repo = repo.with_index(repo.read_index())
    return repo


def _with_listings_ahead(backend: Backend, load_index: bool, snapshots: bool) -> Backend:
    kinds = [ObjectKind.INDEX, ObjectKind.DELETIONS] if load_index else []
    kinds += [ObjectKind.SNAPSHOTS] if snapshots else []
    if not kinds or not backend.remote:
        return backend
    return PrefetchingBackend(backend, [f"{kind.value}/" for kind in kinds])


def _adopt_capabilities(repo: Repository, backend: Backend) -> None:
    """Tell the store (through the stack's capabilities) what the config says of it: the
    dialect the capability probe found at init, and the Object Lock policy (with the
    retain-until times this machine knows)."""
    capabilities = backend.capabilities
    if repo.config.store and capabilities.probing is not None:
        capabilities.probing.adopt(StoreDialect.from_dict(repo.config.store))
    if repo.object_lock is not None and capabilities.object_lock is not None:
        capabilities.object_lock.adopt_lock(LockPolicy.from_dict(repo.config.object_lock))
        capabilities.object_lock.remember_locks(load_known(known_locks_path(repo)))
