"""RetryBackend: retries transient failures with exponential backoff and full jitter, bounded
by a total deadline per call; then gives up with BackendUnavailableError (exit code 14) naming
the operation and the object. Permanent errors pass through at once."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import TypeVar

from s3vault.backend.base import Backend, ObjectInfo
from s3vault.backend.forwarding import ForwardingBackend
from s3vault.clock import SystemClock
from s3vault.errors import (
    BackendUnavailableError,
    ObjectExistsError,
    ObjectNotFoundError,
    TransientBackendError,
    VersionMismatchError,
)
from s3vault.progress import NullProgress, Waiting

log = logging.getLogger(__name__)
T = TypeVar("T")


class RetryBackend(ForwardingBackend):
    """Wraps a backend; see the module docstring."""

    def __init__(
        self,
        inner: Backend,
        *,
        deadline: float = 300.0,
        base_delay: float = 0.2,
        max_delay: float = 20.0,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        progress: Waiting | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        """``progress`` hears a ``waiting`` event before each backoff (what is retried, and
        until when at most: the call's deadline); ``now`` is the wall clock for that time."""
        super().__init__(inner)
        self._deadline = deadline
        self._base = base_delay
        self._max = max_delay
        self._sleep = sleep
        self._now = monotonic
        self._rng = random.Random()  # noqa: S311 - jitter, not cryptography
        self._progress: Waiting = progress or NullProgress()
        self._wall = now or SystemClock().now
        self.retries = 0

    def _call(self, op: str, name: str, fn: Callable[[], T]) -> T:
        start = self._now()
        attempt = 0
        while True:
            try:
                return fn()
            except TransientBackendError as exc:
                attempt += 1
                delay = self._rng.uniform(0, min(self._max, self._base * 2**attempt))
                # the last wait ends at the deadline, and one more attempt is made: giving up
                # when the next wait would pass it left up to a whole backoff of the deadline
                # unused ("still failing after 5 attempts in 5s" with --retry-deadline 10: an
                # attack pass, 2026-12-08)
                if self._now() - start >= self._deadline:
                    msg = (
                        f"storage unavailable: {op} {name} still failing after {attempt} "
                        f"attempt{'' if attempt == 1 else 's'} in {self._now() - start:.0f}s: {exc}"
                    )
                    raise BackendUnavailableError(msg) from None
                self.retries += 1
                left = self._deadline - (self._now() - start)
                delay = min(delay, left)
                log.info("retrying %s %s in %.2fs (attempt %d): %s", op, name, delay, attempt, exc)
                self._progress.waiting(
                    f"{op} {name} to succeed (attempt {attempt} failed: {exc})",
                    until=self._wall() + timedelta(seconds=left),
                )
                self._sleep(delay)

    def put(self, name: str, data: bytes | memoryview) -> None:
        """Retried put. Finding the object already there, it asks whether an earlier,
        seemingly failed attempt stored it: it did if the stored bytes are ours. Asked on the
        first attempt too: the S3 client retries inside one attempt, and its second try of a
        create-only PUT whose reply was lost meets the object its first try stored (a prune
        then took its own lease for another's, init its own config)."""

        def attempt() -> None:
            try:
                self._inner.put(name, data)
            except ObjectExistsError:
                if self._holds(name, bytes(data)):
                    return
                raise

        self._call("put", name, attempt)

    def _holds(self, name: str, data: bytes) -> bool:
        """Whether the store holds exactly ``data`` at ``name`` (an object removed since the
        conflict holds nothing: the conflict stands, and its caller decides, as before)."""
        try:
            return self._inner.get(name) == data
        except ObjectNotFoundError:
            return False

    def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        """Retried get."""
        return self._call("get", name, lambda: self._inner.get(name, offset, length))

    def stat(self, name: str) -> ObjectInfo:
        """Retried stat."""
        return self._call("stat", name, lambda: self._inner.stat(name))

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        """A listing is retried as a whole (never resumed half-way, never cut short)."""
        return iter(self._call("list", prefix, lambda: list(self._inner.list(prefix))))

    def delete(self, name: str) -> None:
        """Retried delete."""
        self._call("delete", name, lambda: self._inner.delete(name))

    def delete_many(self, names: Sequence[str]) -> None:
        """Retried as a whole (removing what is already gone is no error)."""
        if names:
            self._call(
                "delete",
                f"{names[0]} and {len(names) - 1} more",
                lambda: self._inner.delete_many(names),
            )

    def replace(self, name: str, data: bytes, version: str) -> ObjectInfo:
        """Retried compare-and-swap. Finding another version, it asks whether an earlier,
        seemingly failed attempt wrote it (this one's, the S3 client's own retry inside it,
        as for put): it did if the stored bytes are ours."""

        def attempt() -> ObjectInfo:
            try:
                return self._inner.replace(name, data, version)
            except VersionMismatchError:
                if self._holds(name, data):
                    return self._inner.stat(name)
                raise

        return self._call("replace", name, attempt)

    def temporaries(self) -> Iterator[ObjectInfo]:
        """Retried as a whole, like a listing."""
        return iter(
            self._call(
                "list temporary files of", self.location, lambda: list(self._inner.temporaries())
            )
        )

    def delete_temporary(self, name: str) -> None:
        """Retried delete."""
        self._call("delete", name, lambda: self._inner.delete_temporary(name))

    def server_time(self) -> float:
        """Retried clock read."""
        return self._call("read the clock of", self.location, self._inner.server_time)
