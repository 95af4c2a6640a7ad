"""RetryBackend over a real memory store that fails on cue (test_s3.py covers giving up with
exit code 14, recovering, and a put whose reply was lost)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest

from s3vault.backend.base import ObjectInfo
from s3vault.backend.memory import MemoryBackend
from s3vault.backend.retry import RetryBackend
from s3vault.errors import (
    BackendUnavailableError,
    ObjectNotFoundError,
    TransientBackendError,
    VersionMismatchError,
)


class SimulatedTime:
    """sleep and monotonic for the retry loop: sleeping only moves the clock."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def monotonic(self) -> float:
        return self.now


def _retrying(inner: MemoryBackend, time: SimulatedTime, deadline: float = 300.0) -> RetryBackend:
    return RetryBackend(inner, deadline=deadline, sleep=time.sleep, monotonic=time.monotonic)


def test_retry_stops_on_permanent_error() -> None:
    time = SimulatedTime()
    backend = _retrying(MemoryBackend(), time)
    with pytest.raises(ObjectNotFoundError):
        backend.get("index/missing")
    assert backend.retries == 0
    assert time.slept == []


def test_retry_lists_again_from_the_start_never_half_a_listing() -> None:
    class CutShort(MemoryBackend):
        fails = 1

        def list(self, prefix: str) -> Iterator[ObjectInfo]:
            for n, info in enumerate(super().list(prefix)):
                if n == 2 and self.fails:
                    self.fails -= 1
                    raise TransientBackendError("connection reset mid-listing")
                yield info

    inner = CutShort()
    names = {f"data/0{n}/p" for n in range(5)}
    for name in names:
        inner.put(name, b"x")
    backend = _retrying(inner, SimulatedTime())
    listed = [i.name for i in backend.list("data/")]
    assert sorted(listed) == sorted(names)  # each once: the cut-short attempt was dropped
    assert backend.retries == 1


def test_retry_replace_whose_reply_was_lost_is_a_success() -> None:
    class LostReply(MemoryBackend):
        calls = 0

        def replace(self, name: str, data: bytes, version: str) -> ObjectInfo:
            self.calls += 1
            info = super().replace(name, data, version)  # swapped ...
            if self.calls == 1:
                raise TransientBackendError("connection reset")  # ... but the reply was lost
            return info

    inner = LostReply()
    inner.put("locks/lease", b"old")
    version = inner.stat("locks/lease").version
    info = _retrying(inner, SimulatedTime()).replace("locks/lease", b"new", version)
    assert inner.get("locks/lease") == b"new"
    assert info.version == inner.stat("locks/lease").version


def test_retry_replace_by_someone_else_is_still_a_mismatch() -> None:
    class Flaky(MemoryBackend):
        fails = 1

        def replace(self, name: str, data: bytes, version: str) -> ObjectInfo:
            if self.fails:
                self.fails -= 1
                MemoryBackend.replace(self, name, b"theirs", version)  # another host won
                raise TransientBackendError("SlowDown")
            return super().replace(name, data, version)

    inner = Flaky()
    inner.put("locks/lease", b"old")
    version = inner.stat("locks/lease").version
    with pytest.raises(VersionMismatchError):
        _retrying(inner, SimulatedTime()).replace("locks/lease", b"mine", version)
    assert inner.get("locks/lease") == b"theirs"


def test_retry_gives_up_on_the_clock_naming_the_store() -> None:
    class NoClock(MemoryBackend):
        def server_time(self) -> float:
            raise TransientBackendError("ServiceUnavailable")

    time = SimulatedTime()
    backend = _retrying(NoClock(), time, deadline=10)
    with pytest.raises(BackendUnavailableError, match="read the clock of memory:"):
        backend.server_time()
    assert time.now <= 10  # never sleeps past the deadline
    assert backend.retries == len(time.slept) >= 1


def test_retry_uses_its_whole_deadline_and_not_a_second_more() -> None:
    """It gave up when the next random wait would pass the deadline: "still failing after 5
    attempts in 5s" with a 10 s deadline (an attack pass, 2026-12-08). Its last wait ends at
    the deadline and one more attempt is made there."""

    class Down(MemoryBackend):
        calls = 0

        def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
            self.calls += 1
            raise TransientBackendError("connection refused")

    for deadline in (10.0, 30.0, 300.0):
        time, inner = SimulatedTime(), Down()
        backend = _retrying(inner, time, deadline=deadline)
        with pytest.raises(BackendUnavailableError, match="still failing after"):
            backend.get("data/x")
        assert time.now == pytest.approx(deadline)
        assert inner.calls == len(time.slept) + 1


def test_retry_of_an_empty_delete_many_sends_nothing() -> None:
    class Counting(MemoryBackend):
        calls = 0

        def delete_many(self, names: Sequence[str]) -> None:
            self.calls += 1
            super().delete_many(names)

    inner = Counting()
    _retrying(inner, SimulatedTime()).delete_many([])
    assert inner.calls == 0
