"""The maintenance lease (design.md §10): one ``locks/maintenance`` object, held by at most one
pruner at a time.

- Acquire: create the object with a create-only put. If it exists, its age is judged by the
  store's clock (``server_time() - modified``); a lease older than its TTL (or held by a dead
  process on this very host) is taken over with a compare-and-swap ``replace``, so two
  contenders can never both win.
- Refresh: every ``refresh_every`` seconds a background thread rewrites the object with
  compare-and-swap on the version it wrote last. Losing the swap means another process took
  the lease: the holder is done.
- Safety: ``check()`` (called before every destructive step) fails unless a refresh succeeded
  within ``ttl - 1.5 × refresh_every`` by this host's suspend-aware clock, so a holder that was
  suspended or cut off stops before another process can have taken its lease over.
- Release: delete the object if it is still ours.

Stores without atomic create-only writes or compare-and-swap use the claim-object protocol of
repository/claims.py instead; ``lease_class`` picks one by the store's guarantees.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Self

from s3vault.clock import Clock, SystemClock
from s3vault.errors import (
    BackendError,
    LeaseHeldError,
    LeaseLostError,
    ObjectExistsError,
    ObjectNotFoundError,
    S3VaultError,
    VersionMismatchError,
)
from s3vault.format.envelope import SealedKind
from s3vault.format.leasefile import LeaseFile
from s3vault.progress import Progress
from s3vault.repository.repository import Repository

log = logging.getLogger(__name__)

LEASE_NAME = "locks/maintenance"
MAX_CLOCK_SKEW = 300.0
FUTURE_SLACK = 60.0  # seconds a lease may be ahead of the store's clock before it is said


@dataclass(frozen=True, slots=True, kw_only=True)
class LeaseSettings:
    """Timing of the lease (seconds)."""

    ttl: float = 1800.0
    refresh_every: float = 300.0
    wait: float = 0.0  # --retry-lock: how long to keep trying to acquire
    settle: float = 3.0  # claim objects only: how long a claim waits before each look

    @property
    def safe_for(self) -> float:
        """How long after a successful refresh the holder may still act."""
        return self.ttl - 1.5 * self.refresh_every


def describe(holder: LeaseFile | None, age: float) -> str:
    """Who holds a lease, for messages. A lease dated ahead of the store's clock (the store's
    clock went back since it was written, or the file's time was set) says so: it stays live
    until the store's clock passes that date and its time to live."""
    when = _refreshed(age)
    if holder is None:
        return f"an unreadable lease {when}"
    return (
        f"{holder.operation} by {holder.hostname} (pid {holder.pid}) since "
        f"{holder.acquired:%Y-%m-%d %H:%M:%S}, {when}"
    )


def _refreshed(age: float) -> str:
    if age >= -FUTURE_SLACK:
        return f"refreshed {max(age, 0.0):.0f}s ago"
    return (
        f"dated {-age:.0f}s ahead of the store's clock (the clock went back, or the file's "
        "time was set): it counts as live until then; if no prune or rotation runs anywhere, "
        "`s3vault unlock --remove-all` removes it"
    )


PID_LIMIT = 1 << 22  # Linux's largest process id (PID_MAX_LIMIT on 64-bit hosts)


def pid_alive(pid: int) -> bool:
    """Whether a process of this host exists and has not ended: a zombie (killed, not yet
    reaped by its parent: a supervisor that reaps late, a container whose first process never
    does) holds nothing, yet ``kill(pid, 0)`` finds it, and its lease blocked maintenance
    (exit 11, and ``unlock`` left it in place) until it was reaped (an attack pass,
    2026-12-07). A number no process id can be (a forged lease's 2^31) is none."""
    if not 0 < pid <= PID_LIMIT:  # os.kill raised OverflowError on it: an internal error
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """Whether the process has ended and waits to be reaped (Linux's /proc; elsewhere: no)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False
    # "pid (comm) state ...": the command name may hold spaces and parentheses
    return stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3] == b"Z"


def new_record(operation: str, settings: LeaseSettings, clock: Clock) -> LeaseFile:
    """Who is asking for the lease (a fresh random holder id)."""
    return LeaseFile(
        holder=os.urandom(16).hex(),
        operation=operation,
        hostname=socket.gethostname(),
        pid=os.getpid(),
        acquired=clock.now(),
        ttl_seconds=settings.ttl,
        refreshes=0,
    )


def why_gone(holder: LeaseFile | None, age: float, default_ttl: float, hostname: str) -> str | None:
    """Why a lease (or a claim) may be taken over, or None while it is live: left by a
    process of this very host that is dead, or not refreshed within its TTL by the store's
    clock (``age``). The one home of that rule, for both protocols and ``unlock``."""
    if holder is not None and holder.hostname == hostname and not pid_alive(holder.pid):
        return "its holder is gone"
    ttl = holder.ttl_seconds if holder else default_ttl
    return f"stale for {age - ttl:.0f}s" if age > ttl else None


@dataclass(frozen=True, slots=True)
class Held:
    """A try at the lease found it held (``Lease._contender``)."""

    describe: Callable[[], str]  # who holds it (asked only if the wait is over)
    note: str = ""  # said after the advice (when the lease goes stale)


def lease_class(repo: Repository) -> type[Lease]:
    """The single lease object where the store can hold one exclusively, else claims."""
    if repo.backend.guarantees.exclusive:
        return Lease
    from s3vault.repository.claims import ClaimLease

    return ClaimLease


class Lease:
    """A held maintenance lease. Use ``Lease.acquire`` and release it (context manager)."""

    protocol = "single lease object (compare-and-swap)"

    def __init__(
        self,
        repo: Repository,
        record: LeaseFile,
        version: str,
        settings: LeaseSettings,
        clock: Clock,
    ) -> None:
        self._repo = repo
        self._record = record
        self._version = version
        self._settings = settings
        self._clock = clock
        self._last_ok = clock.monotonic()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._lost: str | None = None
        self._thread: threading.Thread | None = None
        self.waited = 0.0

    # Acquiring -----------------------------------------------------------------------------

    @classmethod
    def acquire(
        cls,
        repo: Repository,
        operation: str,
        settings: LeaseSettings | None = None,
        *,
        clock: Clock | None = None,
        sleep: Callable[[float], None] = time.sleep,
        progress: Progress | None = None,
    ) -> Lease:
        """Take the lease, waiting up to ``settings.wait`` seconds for a live holder. The
        protocol's own step is ``_contender``; waiting, giving up and the message are here,
        the same for every protocol. While it waits, ``progress`` hears ``waiting`` events
        (who holds the lease, until when this waits at most) before each pause.

        Raises:
            LeaseHeldError: another live process holds it (exit code 11).
            S3VaultError: this host's clock is more than 5 minutes off the store's.
        """
        settings = settings or LeaseSettings()
        clock = clock or SystemClock()
        cls.check_clock(repo, clock)
        attempt = cls._contender(repo, operation, settings, clock, sleep)
        start = clock.monotonic()
        holder = ""
        while True:
            started = clock.monotonic()
            outcome = attempt()
            if outcome is None:
                continue  # the holder changed under the attempt: try again at once
            if isinstance(outcome, Held):
                waited = clock.monotonic() - start
                if waited >= settings.wait:
                    msg = (
                        f"the repository is being maintained: {outcome.describe()}; "
                        f"try again later, wait with --retry-lock, or run `s3vault unlock` "
                        f"if that process is gone{outcome.note}"
                    )
                    raise LeaseHeldError(msg)
                if progress is not None:
                    holder = holder or outcome.describe()
                    left = timedelta(seconds=settings.wait - waited)
                    progress.waiting(f"the maintenance lease ({holder})", until=clock.now() + left)
                sleep(min(max(1.0, settings.refresh_every / 10), settings.wait - waited))
                continue
            outcome._last_ok = started
            outcome.waited = clock.monotonic() - start
            return outcome

    @classmethod
    def _contender(
        cls,
        repo: Repository,
        operation: str,
        settings: LeaseSettings,
        clock: Clock,
        sleep: Callable[[float], None],
    ) -> Callable[[], Lease | Held | None]:
        """One try at the single lease object: create it, or take over a stale one with a
        compare-and-swap. Returns the held lease, who holds it, or None to try at once
        (``sleep`` is for protocols that wait within a try)."""
        backend = repo.backend
        record = new_record(operation, settings, clock)
        sealed = repo.sealer.seal_file(SealedKind.LOCK, record.encode())

        def attempt() -> Lease | Held | None:
            try:
                backend.put(LEASE_NAME, sealed)
                return cls(repo, record, backend.stat(LEASE_NAME).version, settings, clock)
            except ObjectExistsError:
                pass
            try:
                info = backend.stat(LEASE_NAME)
            except ObjectNotFoundError:
                return None  # released meanwhile
            holder = _read(repo)
            age = backend.server_time() - info.modified
            why = why_gone(holder, age, settings.ttl, record.hostname)
            if why is None:
                text = describe(holder, age)
                ttl = holder.ttl_seconds if holder else settings.ttl
                return Held(lambda: text, f" (the lease goes stale after {ttl:.0f}s)")
            try:
                version = backend.replace(LEASE_NAME, sealed, info.version).version
            except (VersionMismatchError, ObjectNotFoundError):
                return None
            log.warning("took over the maintenance lease (%s)", why)
            return cls(repo, record, version, settings, clock)

        return attempt

    @staticmethod
    def check_clock(repo: Repository, clock: Clock) -> None:
        """Refuse to maintain when this host's clock is far off the store's.

        Raises:
            S3VaultError: more than 5 minutes apart.
        """
        skew = clock.now().timestamp() - repo.backend.server_time()  # > 0: this host ahead
        if abs(skew) > MAX_CLOCK_SKEW:
            way = "ahead of" if skew > 0 else "behind"
            msg = (
                f"this host's clock is {abs(skew):.0f}s {way} the storage's clock; maintenance "
                "needs them within 5 minutes: fix NTP"
            )
            raise S3VaultError(msg)

    # Holding -------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Rewrite the lease.

        Raises:
            LeaseLostError: another process took it, or it is gone.
        """
        with self._lock:
            if self._lost:
                raise LeaseLostError(self._lost)
            started = self._clock.monotonic()
            try:
                self._rewrite()
            except LeaseLostError as exc:
                self._lost = str(exc)
                raise
            self._last_ok = started

    def _rewrite(self) -> None:
        """Compare-and-swap on our last version."""
        record = dataclasses.replace(self._record, refreshes=self._record.refreshes + 1)
        sealed = self._repo.sealer.seal_file(SealedKind.LOCK, record.encode())
        try:
            self._version = self._repo.backend.replace(LEASE_NAME, sealed, self._version).version
        except (VersionMismatchError, ObjectNotFoundError):
            msg = "the maintenance lease was taken over by another process"
            raise LeaseLostError(msg) from None
        self._record = record

    def check(self) -> None:
        """Fail unless the lease is certainly still ours (call before destructive steps).

        Raises:
            LeaseLostError: lost, or not refreshed recently enough to be sure.
        """
        if self._lost:
            raise LeaseLostError(self._lost)
        age = self._clock.monotonic() - self._last_ok
        if age > self._settings.safe_for:
            self._lost = (
                f"the maintenance lease was last refreshed {age:.0f}s ago (limit "
                f"{self._settings.safe_for:.0f}s): stopped before changing anything more"
            )
            raise LeaseLostError(self._lost)

    def ensure_fresh(self) -> None:
        """Refresh now, then check: what a command that holds the lease calls before each
        step that changes the repository. ``check`` alone trusts the time since the last
        refresh, and a prune stopped (SIGSTOP) while `unlock --remove-all` took its live lease
        and another prune ran went on with its plan when continued, wrote an index naming the
        packs the other had deleted and exited 0 (an attack pass, 2026-12-08): the refresh
        (a compare-and-swap) tells it the lease is gone. An outage leaves ``check`` to judge."""
        try:
            self.refresh()
        except BackendError as exc:
            log.warning("could not refresh the maintenance lease: %s", exc)
        self.check()

    def start(self) -> None:
        """Refresh in a background thread until ``release``."""

        def run() -> None:
            while not self._stop.wait(self._settings.refresh_every):
                try:
                    self.refresh()
                except LeaseLostError:
                    return
                except S3VaultError as exc:
                    log.warning("could not refresh the maintenance lease: %s", exc)

        self._thread = threading.Thread(target=run, name="s3v-lease", daemon=True)
        self._thread.start()

    def release(self) -> None:
        """Stop refreshing and delete the lease if it is still ours."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            if self._lost:
                return
            try:
                self._remove()
            except ObjectNotFoundError:
                pass
            except S3VaultError as exc:
                log.warning("could not remove the maintenance lease: %s", exc)

    def _remove(self) -> None:
        if self._repo.backend.stat(LEASE_NAME).version == self._version:
            self._repo.backend.delete(LEASE_NAME)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read(repo: Repository) -> LeaseFile | None:
    try:
        return LeaseFile.decode(
            repo.sealer.open_file(SealedKind.LOCK, repo.backend.get(LEASE_NAME))
        )
    except S3VaultError:
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class LeaseStatus:
    """A lease as ``unlock`` sees it."""

    holder: LeaseFile | None
    age: float
    stale: bool


def inspect_lease(repo: Repository) -> LeaseStatus | None:
    """The current lease, or None when nobody holds one."""
    try:
        info = repo.backend.stat(LEASE_NAME)
    except ObjectNotFoundError:
        return None
    holder = _read(repo)
    age = repo.backend.server_time() - info.modified
    stale = why_gone(holder, age, LeaseSettings().ttl, socket.gethostname()) is not None
    return LeaseStatus(holder=holder, age=age, stale=stale)


def remove_lease(repo: Repository) -> None:
    """Delete the lease object (``unlock``)."""
    with contextlib.suppress(ObjectNotFoundError):
        repo.backend.delete(LEASE_NAME)
