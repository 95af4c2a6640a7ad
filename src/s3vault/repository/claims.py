"""The maintenance lease on stores without atomic create-only writes or compare-and-swap
(design.md §10.4; Swift 2.38 gives several "winners" of an ``If-None-Match: *`` race and has
no ``If-Match``). It needs nothing but puts of unique names, listings and deletes:

- Each contender writes its own claim, ``locks/claims/<T>-<holder>.<n>``: T is the store's
  clock in milliseconds when it started, ``holder`` random, ``n`` the refresh number. Claims
  are ordered by (T, holder): every process that lists them sees the same order.
- A claim that landed more than SETTLE seconds after its T is withdrawn and made again, so a
  slow write can never slip in ahead of a claim that has already won.
- After SETTLE seconds the contender lists the claims; if a live claim (refreshed within its
  TTL by the store's clock, and not left by a dead process of this host) is ahead of its own,
  it withdraws. It re-reads once more after another SETTLE before it acts: a contender that
  was still writing during the first look is seen by the second.
- Refresh writes claim n+1 and deletes claim n, after checking that claim n is still there and
  still first; a holder that missed its refresh deadline never writes again (it stops, like
  the single-object lease). Release deletes its claims.

The safety argument, and what it assumes (a listing shows every object whose write returned,
one clock for the store), is in design.md §10.4.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass

from s3vault.clock import Clock
from s3vault.errors import LeaseLostError, ObjectNotFoundError, S3VaultError
from s3vault.format.envelope import SealedKind
from s3vault.format.leasefile import LeaseFile
from s3vault.repository.lease import (
    Held,
    Lease,
    LeaseSettings,
    LeaseStatus,
    describe,
    new_record,
    why_gone,
)
from s3vault.repository.repository import Repository

log = logging.getLogger(__name__)

CLAIMS = "locks/claims/"
MAX_LATE_CLAIMS = 5


@dataclass(frozen=True, slots=True)
class Claim:
    """One contender's newest claim object."""

    order: tuple[int, str]  # (T in ms, holder)
    name: str
    modified: float
    record: LeaseFile | None


def claim_name(start_ms: int, holder: str, n: int) -> str:
    return f"{CLAIMS}{start_ms:015d}-{holder}.{n:06d}"


def _parse(name: str) -> tuple[int, str, int] | None:
    stem = name.removeprefix(CLAIMS)
    start, _, rest = stem.partition("-")
    holder, _, n = rest.partition(".")
    if not (start.isdigit() and holder and n.isdigit()):
        return None
    return int(start), holder, int(n)


def list_claims(repo: Repository) -> list[Claim]:
    """Every contender's newest claim, in order (unreadable records are kept, as None)."""
    newest: dict[tuple[int, str], tuple[int, str, float]] = {}
    for info in repo.backend.list(CLAIMS):
        parsed = _parse(info.name)
        if parsed is None:
            continue
        start, holder, n = parsed
        current = newest.get((start, holder))
        if current is None or n > current[0]:
            newest[(start, holder)] = (n, info.name, info.modified)
    claims = []
    for order, (_n, name, modified) in sorted(newest.items()):
        try:
            record: LeaseFile | None = LeaseFile.decode(
                repo.sealer.open_file(SealedKind.LOCK, repo.backend.get(name))
            )
        except ObjectNotFoundError:
            continue  # withdrawn or refreshed meanwhile: the next look sees its successor
        except S3VaultError:
            record = None
        claims.append(Claim(order, name, modified, record))
    return claims


def is_live(claim: Claim, now: float, hostname: str, default_ttl: float) -> bool:
    """Refreshed within its TTL by the store's clock, and its process is not known dead."""
    return why_gone(claim.record, now - claim.modified, default_ttl, hostname) is None


def _describe_claim(repo: Repository, claim: Claim) -> str:
    return describe(claim.record, repo.backend.server_time() - claim.modified)


class ClaimLease(Lease):
    """A maintenance lease held through claim objects (see the module docstring)."""

    protocol = "claim objects (the store's create-only writes are not atomic)"
    # The lease's version (Lease._version) is the name of its newest claim object.

    @classmethod
    def _contender(
        cls,
        repo: Repository,
        operation: str,
        settings: LeaseSettings,
        clock: Clock,
        sleep: Callable[[float], None],
    ) -> Callable[[], Lease | Held | None]:
        """One try through claims: write a fresh claim, look twice after SETTLE; withdraw it
        unless it is first. Returns the held lease, the claim ahead, or None to claim again
        at once (a claim that landed late).

        Raises:
            S3VaultError: claims keep landing late (MAX_LATE_CLAIMS times).
        """
        backend = repo.backend
        late_claims = 0

        def attempt() -> Lease | Held | None:
            nonlocal late_claims
            record = new_record(operation, settings, clock)  # a fresh holder for each claim
            begun = backend.server_time()
            name = claim_name(round(begun * 1000), record.holder, 0)
            backend.put(name, repo.sealer.seal_file(SealedKind.LOCK, record.encode()))
            late = backend.stat(name).modified - begun
            if late > settings.settle:
                late_claims += 1
                if late_claims >= MAX_LATE_CLAIMS:
                    _withdraw(repo, name)
                    msg = (
                        f"lease claims take {late:.0f}s to be written on this store (limit "
                        f"{settings.settle:.0f}s): cannot hold the maintenance lease safely"
                    )
                    raise S3VaultError(msg)
                log.warning("lease claim landed %.1fs late: claiming again", late)
                _withdraw(repo, name)
                return None
            for _look in range(2):
                sleep(settings.settle)
                ahead = _first_other(repo, record, settings)
                if ahead is not None:
                    _withdraw(repo, name)
                    return Held(functools.partial(_describe_claim, repo, ahead))
            _sweep(repo, settings)
            return cls(repo, record, name, settings, clock)

        return attempt

    def _rewrite(self) -> None:
        """Claim n+1, after making sure claim n is still there and still first."""
        backend = self._repo.backend
        late = self._clock.monotonic() - self._last_ok
        if late > self._settings.safe_for:  # others may already see the claim as dead
            msg = f"the maintenance lease claim was last refreshed {late:.0f}s ago: given up"
            raise LeaseLostError(msg)
        try:
            backend.stat(self._version)
        except ObjectNotFoundError:
            raise LeaseLostError("the maintenance lease claim was removed (unlock?)") from None
        ahead = _first_other(self._repo, self._record, self._settings)
        if ahead is not None:
            msg = f"another process holds the maintenance lease: {describe(ahead.record, 0)}"
            raise LeaseLostError(msg)
        parsed = _parse(self._version)
        assert parsed is not None
        start, holder, n = parsed
        record = dataclasses.replace(self._record, refreshes=self._record.refreshes + 1)
        name = claim_name(start, holder, n + 1)
        backend.put(name, self._repo.sealer.seal_file(SealedKind.LOCK, record.encode()))
        _withdraw(self._repo, self._version)
        self._record, self._version = record, name

    def _remove(self) -> None:
        _withdraw(self._repo, self._version)


def _first_other(repo: Repository, mine: LeaseFile, settings: LeaseSettings) -> Claim | None:
    """The live claim ahead of ours, if any (None: ours is first).

    Raises:
        LeaseLostError: our own claim is not there.
    """
    now = repo.backend.server_time()
    for claim in list_claims(repo):
        if claim.record is not None and claim.record.holder == mine.holder:
            return None
        if is_live(claim, now, mine.hostname, settings.ttl):
            return claim
    raise LeaseLostError("the maintenance lease claim is gone from the store")


def _sweep(repo: Repository, settings: LeaseSettings) -> None:
    """The new holder removes claims of holders that stopped (older than their TTL)."""
    now = repo.backend.server_time()
    for claim in list_claims(repo):
        record = claim.record
        if now - claim.modified > (record.ttl_seconds if record else settings.ttl):
            _withdraw(repo, claim.name)


def _withdraw(repo: Repository, name: str) -> None:
    try:
        repo.backend.delete(name)
    except ObjectNotFoundError:
        pass
    except S3VaultError as exc:
        log.warning("could not remove lease claim %s: %s", name, exc)


def inspect_claims(repo: Repository) -> LeaseStatus | None:
    """The first live claim (the holder), else the first stale one; None without claims."""
    now = repo.backend.server_time()
    hostname = socket.gethostname()
    claims = list_claims(repo)
    for claim in claims:
        if is_live(claim, now, hostname, LeaseSettings().ttl):
            return LeaseStatus(holder=claim.record, age=now - claim.modified, stale=False)
    if not claims:
        return None
    return LeaseStatus(holder=claims[0].record, age=now - claims[0].modified, stale=True)


def remove_claims(repo: Repository) -> None:
    """Delete every claim (``unlock``: all were stale, or --remove-all)."""
    for info in repo.backend.list(CLAIMS):
        _withdraw(repo, info.name)
