"""The S3 backend against a moto server on loopback: the conformance suite, plus S3 specifics
(multipart, retry wrapper, errors translated)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from s3vault.backend.base import Backend
from s3vault.backend.memory import MemoryBackend
from s3vault.backend.retry import RetryBackend
from s3vault.backend.s3 import S3Backend, S3Settings
from s3vault.backend.stack import build_stack
from s3vault.errors import (
    BackendError,
    BackendUnavailableError,
    ObjectExistsError,
    TransientBackendError,
)
from tests.backend.conformance import BackendContract
from tests.s3stores import S3Store


class TestS3Backend(BackendContract):
    """On moto and on Swift (boto3's defaults and the compatibility dialect)."""

    @pytest.fixture
    def backend(self, s3_store: S3Store) -> Backend:
        return s3_store.backend(prefix="repo/one")


class TestStackOverMemory(BackendContract):
    @pytest.fixture
    def backend(self) -> Backend:
        return build_stack(MemoryBackend()).backend


def test_multipart_upload_round_trips(s3_store: S3Store) -> None:
    backend = s3_store.backend(multipart_threshold=9 << 20)
    data = os.urandom(20 << 20)  # three 8 MiB parts, sent in parallel
    backend.put("data/ab/big", data)
    assert backend.get("data/ab/big") == data
    assert backend.get("data/ab/big", 9 << 20, 100) == data[9 << 20 : (9 << 20) + 100]
    client = s3_store.client()
    assert client.list_multipart_uploads(Bucket=s3_store.bucket).get("Uploads", []) == []


def test_retry_gives_up_with_exit_code_14_naming_the_object() -> None:
    class Down(MemoryBackend):
        def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
            raise TransientBackendError(f"get {name}: ServiceUnavailable")

    slept: list[float] = []
    clock = [0.0]

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    backend = RetryBackend(Down(), deadline=30, sleep=sleep, monotonic=lambda: clock[0])
    with pytest.raises(BackendUnavailableError, match="get index/x") as info:
        backend.get("index/x")
    assert info.value.exit_code == 14
    assert len(slept) >= 3
    assert sum(slept) <= 30


def test_retry_recovers_from_transient_failures() -> None:
    class Flaky(MemoryBackend):
        fails = 3

        def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
            if self.fails:
                self.fails -= 1
                raise TransientBackendError("SlowDown")
            return super().get(name, offset, length)

    inner = Flaky()
    inner.put("config", b"x")
    backend = RetryBackend(inner, sleep=lambda _s: None)
    assert backend.get("config") == b"x"
    assert backend.retries == 3


def test_data_packs_get_the_storage_class_metadata_stays_standard(
    s3_server: str, s3_bucket: str
) -> None:
    backend = S3Backend(
        S3Settings(bucket=s3_bucket, endpoint_url=s3_server, storage_class="STANDARD_IA")
    )
    backend.put("data/ab/pack", b"d" * 100)
    backend.put("index/i", b"i" * 100)
    import boto3

    client = boto3.client("s3", endpoint_url=s3_server)
    assert client.head_object(Bucket=s3_bucket, Key="data/ab/pack")["StorageClass"] == "STANDARD_IA"
    assert (
        client.head_object(Bucket=s3_bucket, Key="index/i").get("StorageClass", "STANDARD")
        == "STANDARD"
    )


def test_upload_limit_holds_the_rate() -> None:
    from s3vault.backend.ratelimit import RateLimitedBackend, TokenBucket

    clock = [0.0]

    def sleep(seconds: float) -> None:
        clock[0] += seconds

    bucket = TokenBucket(2048 * 1024, sleep=sleep, monotonic=lambda: clock[0])
    backend = RateLimitedBackend(MemoryBackend(), upload=bucket, download=None)
    for i in range(10):
        backend.put(f"data/x{i}", b"z" * (1 << 20))  # 10 MiB at 2 MiB/s
    assert clock[0] >= (10 - 2) / 2  # one second of burst allowed, then the rate holds


def test_retried_put_that_had_landed_is_a_success() -> None:
    class LostReply(MemoryBackend):
        calls = 0

        def put(self, name: str, data: bytes | memoryview) -> None:
            self.calls += 1
            super().put(name, data)  # stored ...
            if self.calls == 1:
                raise TransientBackendError("connection reset")  # ... but the reply was lost

    inner = LostReply()
    RetryBackend(inner, sleep=lambda _s: None).put("keys/k", b"content")
    assert inner.get("keys/k") == b"content"
    taken = LostReply()
    MemoryBackend.put(taken, "keys/k", b"someone else's")  # there before us
    with pytest.raises(ObjectExistsError):
        RetryBackend(taken, sleep=lambda _s: None).put("keys/k", b"mine")


def test_failing_multipart_parts_are_retried_or_aborted(s3_server: str, s3_bucket: str) -> None:
    import boto3

    from tests.faultproxy import FaultProxy

    data = os.urandom(18 << 20)
    client = boto3.client("s3", endpoint_url=s3_server)
    with FaultProxy(s3_server, rate=0.3, seed=3, kinds=("503", "500", "reset")) as proxy:
        flaky = build_stack(
            S3Backend(
                S3Settings(bucket=s3_bucket, endpoint_url=proxy.url, multipart_threshold=9 << 20)
            )
        ).backend
        flaky.put("data/aa/flaky", data)
        assert sum(proxy.injected.values()) > 0
    assert (
        S3Backend(S3Settings(bucket=s3_bucket, endpoint_url=s3_server)).get("data/aa/flaky") == data
    )
    with FaultProxy(s3_server, rate=1.0, kinds=("500",)) as proxy:
        dead = S3Backend(
            S3Settings(bucket=s3_bucket, endpoint_url=proxy.url, multipart_threshold=9 << 20)
        )
        with pytest.raises(TransientBackendError):
            dead.put("data/aa/never", data)
    assert client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []
    with pytest.raises(Exception, match=r"Not Found|404|NoSuchKey"):
        client.head_object(Bucket=s3_bucket, Key="data/aa/never")


def test_assumed_role_credentials_are_used(s3_server: str, s3_bucket: str) -> None:
    backend = S3Backend(
        S3Settings(
            bucket=s3_bucket,
            endpoint_url=s3_server,
            region="us-east-1",
            role_arn="arn:aws:iam::123456789012:role/backup",
            external_id="fleet-7",
        )
    )
    backend.put("index/x", b"through the role")
    assert backend.get("index/x") == b"through the role"
    creds = backend._client._request_signer._credentials.get_frozen_credentials()  # type: ignore[attr-defined]
    assert creds.access_key != "test"  # temporary credentials from STS, not the base ones
    assert creds.token


class RecordingBucket:
    """A token bucket that never waits and records what it was asked for."""

    def __init__(self) -> None:
        self.taken: list[int] = []

    def take(self, amount: int) -> None:
        self.taken.append(amount)


def test_multipart_parts_take_tokens_as_they_stream_and_every_request_is_counted(
    s3_server: str, s3_bucket: str
) -> None:
    backend = S3Backend(
        S3Settings(bucket=s3_bucket, endpoint_url=s3_server, multipart_threshold=9 << 20)
    )
    up, down = RecordingBucket(), RecordingBucket()
    stack = build_stack(backend)
    backend.throttle(up, down)  # type: ignore[arg-type]
    assert stack.counts is backend.counts
    data = os.urandom(20 << 20)
    stack.backend.put("data/ab/big", data)
    # three parts (8 + 8 + 4 MiB), each throttled when it is sent, not the object up front
    assert sorted(up.taken) == [4 << 20, 8 << 20, 8 << 20]
    # on the wire: create + 3 parts + complete (billed as PUT/POST), and the size check (HEAD)
    assert backend.counts.put == 5
    assert backend.counts.head == 1
    assert backend.counts.bytes_up == len(data)
    assert stack.backend.get("data/ab/big") == data
    assert len(down.taken) == 20 and sum(down.taken) == len(data)  # 1 MiB as it arrives
    assert backend.counts.get == 1 and backend.counts.bytes_down == len(data)


def test_stack_throttles_local_backends_by_object() -> None:
    from s3vault.backend.location import BackendOptions

    stack = build_stack(MemoryBackend(), BackendOptions(limit_upload=1 << 20))
    stack.backend.put("data/x", b"z" * 100)
    assert stack.counts.put == 1 and stack.counts.bytes_up == 100


def _upload_encodings(backend: S3Backend) -> list[str]:
    seen: list[str] = []

    def record(request: object, **_kwargs: object) -> None:
        headers = request.headers  # type: ignore[attr-defined]
        seen.append(
            str(headers.get("Content-Encoding", "")) + "|" + str(headers.get("x-amz-trailer", ""))
        )

    backend._client.meta.events.register("before-send.s3.PutObject", record)  # type: ignore[attr-defined]
    return seen


def test_over_https_boto3_sends_the_aws_chunked_upload_users_send(
    s3_server: str, s3_bucket: str
) -> None:
    assert s3_server.startswith("https://")
    backend = S3Backend(S3Settings(bucket=s3_bucket, endpoint_url=s3_server))
    seen = _upload_encodings(backend)
    backend.put("index/x", b"over tls")
    assert backend.get("index/x") == b"over tls"
    assert seen and "aws-chunked" in seen[0] and "x-amz-checksum-crc32" in seen[0]


def test_the_plain_http_path_still_works(s3_server_http: str, s3_bucket_http: str) -> None:
    backend = S3Backend(S3Settings(bucket=s3_bucket_http, endpoint_url=s3_server_http))
    seen = _upload_encodings(backend)
    data = os.urandom(20 << 10)
    backend.put("data/ab/plain", data)
    assert backend.get("data/ab/plain") == data
    assert seen and "aws-chunked" not in seen[0]  # over http botocore signs the payload instead


def test_s3_is_remote_through_every_wrapper_and_restores_read_whole_packs(
    s3_store: S3Store, tmp_path: Path
) -> None:
    from s3vault.backend.local import LocalBackend
    from s3vault.backend.location import BackendOptions
    from s3vault.restorer.fetch import max_range

    limited = BackendOptions(limit_upload=1 << 20, limit_download=1 << 20)
    for options in (None, limited):  # with and without the rate-limit wrapper
        assert build_stack(s3_store.backend(), options).backend.remote is True
        assert build_stack(LocalBackend(tmp_path), options).backend.remote is False
        assert build_stack(MemoryBackend(), options).backend.remote is False
    # S3: one request per pack (a round trip each); local: 4 MiB ranges (a third the memory)
    assert max_range(16 << 20, remote=True) == 24 << 20
    assert max_range(16 << 20, remote=False) == 4 << 20


def test_a_conflict_whose_object_is_gone_when_compared_stays_a_conflict() -> None:
    """A create-only put meets another's object, which is deleted before the comparison reads
    it (a lease released at that moment): the conflict stands (the lease's contender looks
    again), not an ObjectNotFoundError out of a put."""

    class ReleasedMeanwhile(MemoryBackend):
        def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
            self.delete(name)  # the holder releases just now
            return super().get(name, offset, length)

    inner = ReleasedMeanwhile()
    MemoryBackend.put(inner, "locks/maintenance", b"the holder's")
    with pytest.raises(ObjectExistsError):
        RetryBackend(inner, sleep=lambda _s: None).put("locks/maintenance", b"mine")


def test_a_storage_class_is_spelled_as_aws_spells_it_and_an_archive_one_is_said(
    s3_server: str, s3_bucket: str, caplog: pytest.LogCaptureFixture
) -> None:
    """`standard_ia` was refused at the first upload and `BOGUS` said neither the option nor
    the value; GLACIER's packs, which nothing can read until restored, were stored without
    a word (an attack pass on moto, 2026-12-07)."""
    import boto3

    client = boto3.client("s3", endpoint_url=s3_server)
    lower = S3Backend(
        S3Settings(bucket=s3_bucket, endpoint_url=s3_server, storage_class="standard_ia")
    )
    lower.put("data/ab/lower", b"d" * 100)
    assert (
        client.head_object(Bucket=s3_bucket, Key="data/ab/lower")["StorageClass"] == "STANDARD_IA"
    )
    bogus = S3Backend(S3Settings(bucket=s3_bucket, endpoint_url=s3_server, storage_class="BOGUS"))
    with pytest.raises(BackendError, match=r"refused the storage class .*--s3-storage-class"):
        bogus.put("data/ab/bogus", b"d" * 100)
    archive = S3Backend(
        S3Settings(bucket=s3_bucket, endpoint_url=s3_server, storage_class="glacier")
    )
    with caplog.at_level(logging.WARNING):
        archive.put("data/ab/cold1", b"d" * 100)
        archive.put("data/ab/cold2", b"d" * 100)
    said = [r.getMessage() for r in caplog.records if "archives the data packs" in r.getMessage()]
    assert len(said) == 1  # once a store
    assert client.head_object(Bucket=s3_bucket, Key="data/ab/cold1")["StorageClass"] == "GLACIER"


def test_a_clean_up_after_a_failure_is_tried_once_within_the_deadline(
    s3_server: str, s3_bucket: str
) -> None:
    """A multipart upload's abort after a failed part had botocore's three tries of its own,
    and --retry-deadline 20 against a stopped store took 45 s (an attack pass on moto,
    2026-12-07): the clean-up's client tries once, with the deadline's timeouts."""
    backend = S3Backend(S3Settings(bucket=s3_bucket, endpoint_url=s3_server, retry_deadline=20))
    conn = backend._conn  # the store's connection is what is checked
    once = conn.once_client().meta.config
    assert once.retries["total_max_attempts"] == 1
    assert once.read_timeout == 5.0 and once.connect_timeout == 5.0
    assert conn.client.meta.config.retries["total_max_attempts"] == 4
