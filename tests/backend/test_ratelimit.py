"""RateLimitedBackend and TokenBucket on simulated time (test_s3.py covers a sustained upload
rate and the S3 backend's own per-part throttling)."""

from __future__ import annotations

import multiprocessing

from s3vault.backend.memory import MemoryBackend
from s3vault.backend.ratelimit import RateLimitedBackend, TokenBucket

MIB = 1 << 20


class SimulatedTime:
    def __init__(self) -> None:
        self.now = 0.0

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def monotonic(self) -> float:
        return self.now


def test_token_bucket_allows_one_second_of_burst_then_holds_the_rate() -> None:
    time = SimulatedTime()
    bucket = TokenBucket(MIB, sleep=time.sleep, monotonic=time.monotonic)
    bucket.take(MIB)  # the burst
    assert time.now == 0
    bucket.take(3 * MIB)  # larger than the burst: runs into debt and waits it off
    assert time.now == 3
    bucket.take(MIB // 2)  # the debt was paid by waiting: half a second more
    assert time.now == 3.5


def test_token_bucket_refills_while_idle_up_to_the_burst() -> None:
    time = SimulatedTime()
    bucket = TokenBucket(MIB, sleep=time.sleep, monotonic=time.monotonic)
    bucket.take(MIB)
    time.now += 10  # idle: the bucket refills, but only to one second's worth
    bucket.take(MIB)
    assert time.now == 10
    bucket.take(MIB)
    assert time.now == 11


def test_downloads_are_throttled_by_what_arrived_uploads_by_what_is_sent() -> None:
    time = SimulatedTime()
    inner = MemoryBackend()
    inner.put("data/big", b"d" * (4 * MIB))
    down = TokenBucket(MIB, sleep=time.sleep, monotonic=time.monotonic)
    backend = RateLimitedBackend(inner, upload=None, download=down)
    assert backend.get("data/big", 0, 2 * MIB) == b"d" * (2 * MIB)  # a range: its size counts
    assert time.now == 1
    backend.put("data/other", b"u" * (8 * MIB))  # no upload limit
    assert time.now == 1


def test_only_transfers_take_tokens() -> None:
    time = SimulatedTime()
    up = TokenBucket(MIB, sleep=time.sleep, monotonic=time.monotonic)
    down = TokenBucket(MIB, sleep=time.sleep, monotonic=time.monotonic)
    backend = RateLimitedBackend(MemoryBackend(), upload=up, download=down)
    backend.put("locks/lease", b"x" * (2 * MIB))
    assert time.now == 1
    version = backend.stat("locks/lease").version
    backend.replace("locks/lease", b"y" * (2 * MIB), version)  # an upload too
    assert time.now == 3
    for _ in range(100):  # metadata requests move no bytes
        backend.stat("locks/lease")
        list(backend.list("locks/"))
        backend.server_time()
    backend.delete("locks/lease")
    assert time.now == 3


def test_a_forked_process_takes_from_the_same_bucket() -> None:
    """backup --jobs: worker processes share the command's limit, not one limit each."""
    time = SimulatedTime()
    bucket = TokenBucket(MIB, sleep=time.sleep, monotonic=time.monotonic)
    child = multiprocessing.get_context("fork").Process(target=bucket.take, args=(MIB,))
    child.start()
    child.join()
    assert child.exitcode == 0
    bucket.take(MIB)  # the burst is spent by the child: a second of waiting here
    assert time.now == 1
