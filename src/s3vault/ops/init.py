"""init: create a repository."""

from __future__ import annotations

import dataclasses
import socket
from dataclasses import dataclass, field
from datetime import timedelta

from s3vault.backend.accounting import RequestCounts
from s3vault.backend.base import Backend
from s3vault.backend.dialect import StoreDialect
from s3vault.backend.location import enclosing_configs
from s3vault.backend.objectlock import LockPolicy
from s3vault.backend.stack import stack_for
from s3vault.clock import Clock, SystemClock
from s3vault.errors import NotARepositoryError, S3VaultError, UsageError, restated
from s3vault.format.configfile import ConfigMarker
from s3vault.ids import ObjectId
from s3vault.maintenance.immutability import lock_period
from s3vault.maintenance.retention import Policy
from s3vault.ops.audit import audited
from s3vault.ops.keys import KeyEntry, store_recovery_key
from s3vault.ops.session import RepoOptions
from s3vault.ops.whoami import user_name
from s3vault.repository.known import KnownRepositories
from s3vault.repository.repository import Repository, RepositorySettings


@dataclass(frozen=True, slots=True, kw_only=True)
class InitOptions:
    """Settings for a new repository."""

    settings: RepositorySettings = field(default_factory=RepositorySettings)
    recovery_key: bool = False  # also create a recovery key (its text is in the result, once;
    # the CLI asks for one by default)
    object_lock: LockPolicy | None = None  # lock every object (S3 bucket with Object Lock)


def object_lock_policy(mode: str, policy: Policy, period: timedelta | None = None) -> LockPolicy:
    """Object Lock in ``mode`` (governance or compliance) for a repository with this retention
    policy: objects are locked for ``period``, else for as long as the policy surely needs a
    new snapshot (``maintenance.immutability.lock_period``), plus a margin of a quarter of
    that, so that a retain-until date is extended at most once per margin, not on every run.

    Raises:
        UsageError: no period and a policy without a time-based rule.
    """
    seconds = (period or lock_period(policy)).total_seconds()
    return LockPolicy(mode=mode.upper(), period=seconds, margin=seconds / 4)


@dataclass(frozen=True, slots=True, kw_only=True)
class InitResult:
    """The new repository."""

    repository_id: ObjectId
    location: str
    key_id: ObjectId
    requests: RequestCounts
    store: StoreDialect | None = None  # the store dialect the probe found (S3 only)
    recovery_key: str | None = None  # the recovery key's text: shown once, kept nowhere
    recovery_key_id: str | None = None  # its key file
    repository: Repository | None = field(default=None, repr=False)  # open, for follow-ups


def init(
    repo_options: RepoOptions,
    options: InitOptions | None = None,
    *,
    backend: Backend | None = None,
    clock: Clock | None = None,
) -> InitResult:
    """Create a repository at the URL (audited once it exists).

    Raises:
        S3VaultError: something already exists there, or storage fails.
    """
    options = options or InitOptions()
    counts = RequestCounts()
    settings, dialect = options.settings, None
    if backend is None:
        stack = stack_for(repo_options.url, repo_options.backend)
        backend, counts = stack.backend, stack.counts
        _refuse_inside_a_repository(repo_options, counts)
        capabilities = backend.capabilities
        if capabilities.probing is not None:
            dialect = capabilities.probing.probe()
            settings = dataclasses.replace(settings, store=dialect.to_dict())
        if options.object_lock is not None:
            if capabilities.object_lock is None or dialect is None:
                msg = "Object Lock needs an S3 repository (a bucket with Object Lock enabled)"
                raise UsageError(msg)
            if not dialect.object_lock:
                msg = (
                    f"the bucket of {backend.location} does not have Object Lock enabled: "
                    "create it with Object Lock (see docs/immutability.md)"
                )
                raise UsageError(msg)
            capabilities.object_lock.adopt_lock(options.object_lock)  # the config and key file too
            settings = dataclasses.replace(settings, object_lock=options.object_lock.to_dict())
    elif options.object_lock is not None:
        raise UsageError("Object Lock needs an S3 repository")
    now = (clock or SystemClock()).now()
    repo = Repository.create(
        backend,
        repo_options.password,
        settings,
        created=now.isoformat(),
        hostname=socket.gethostname(),
        username=user_name(),
        cache_dir=repo_options.cache_dir,
        requests=counts,  # its audit record carries the probe's requests and its own
    )
    KnownRepositories(repo_options.cache_dir).remember(backend.location, repo.id)
    recovery = _recovery_key(repo, backend.location, clock) if options.recovery_key else None
    with audited(repo, "init", repository_id=str(repo.id), location=backend.location):
        pass  # recorded once the repository exists whole
    return InitResult(
        repository_id=repo.id,
        location=backend.location,
        key_id=repo.key_id,
        requests=counts.snapshot(),
        store=dialect,
        recovery_key=recovery[1] if recovery else None,
        recovery_key_id=recovery[0].id if recovery else None,
        repository=repo,
    )


def _refuse_inside_a_repository(repo_options: RepoOptions, counts: RequestCounts) -> None:
    """init's check that no repository encloses the new one (a repository made at
    ``…/bucket/repo/snapshots`` was listed by the one at ``…/bucket/repo``, whose advice then
    deleted its packs: an attack pass, 2026-12-07). A location that cannot be asked (no
    permission outside the prefix, a store that fails) is passed over: init cannot tell. Its
    requests count in ``counts`` (the cost report's figures are what the store received).

    Raises:
        S3VaultError: a repository's config is stored at an enclosing location.
    """
    root, enclosing = enclosing_configs(repo_options.url)
    if not enclosing:
        return
    outermost = stack_for(root, repo_options.backend)  # one client for every level
    try:
        for url, config in enclosing:
            _refuse_a_config_at(outermost.backend, repo_options.url, url, config)
    finally:
        counts.add(outermost.counts)


def _refuse_a_config_at(backend: Backend, new: str, url: str, config: str) -> None:
    """Refuse when ``config`` (a name in ``backend``) is a repository's config.

    Raises:
        S3VaultError: it is one (damaged or of a newer format too).
    """
    try:
        data = backend.get(config)
    except S3VaultError:
        return  # no config there (no bucket, no directory), or it cannot be asked
    try:
        ConfigMarker.decode(data)
    except NotARepositoryError:
        return  # someone else's file named config
    except S3VaultError:
        pass  # a damaged config, or a newer format's: still a repository
    msg = (
        f"{new} is inside the repository at {url}: that repository would read this one's "
        "objects as its own (and its repairs would delete them); init somewhere outside it "
        "(another prefix or directory)"
    )
    raise S3VaultError(msg)


def _recovery_key(repo: Repository, location: str, clock: Clock | None) -> tuple[KeyEntry, str]:
    """The new repository's recovery key (its key file, its text).

    Raises:
        S3VaultError: it could not be stored; the repository exists without it (a full disk
            said only "no space left on device", and a rerun of init "a repository already
            exists": an attack pass, 2026-12-07).
    """
    try:
        return store_recovery_key(repo, clock=clock)
    except S3VaultError as exc:
        msg = (
            f"the repository {repo.id.short} was created at {location}, but its recovery key "
            f"could not be stored: {exc}; run `s3vault key add --recovery` once that is mended"
        )
        raise restated(exc, msg) from exc
