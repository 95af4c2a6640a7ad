"""Every S3 pitfall of ../shared/S3.md §2 that s3vault must handle, each with a test a naive
implementation fails. Faults that need no network are answered by botocore ``before-send``
hooks (the request never leaves the process); the rest go to the real servers."""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import botocore.auth
import botocore.awsrequest
import botocore.exceptions
import botocore.httpsession
import pytest

from s3vault.backend.congestion import CongestionWindow
from s3vault.backend.retry import RetryBackend
from s3vault.backend.s3 import S3Backend
from s3vault.backend.s3.errors import translate
from s3vault.backend.stack import build_stack
from s3vault.errors import BackendError, ObjectExistsError, TransientBackendError
from tests.s3stores import S3Store


class _Body:
    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        self._at = 0

    def stream(self, **_kwargs: Any) -> Iterator[bytes]:
        yield self.payload

    def read(self, amt: int | None = None, **_kwargs: Any) -> bytes:  # a streamed body's
        end = len(self.payload) if amt is None else self._at + amt
        piece, self._at = self.payload[self._at : end], min(end, len(self.payload))
        return piece


def answer(status: int, code: str = "", body: bytes | None = None) -> Any:
    """A response botocore takes as the server's (an S3 error document by default)."""
    payload = (
        body
        if body is not None
        else (
            f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
            f"<Message>injected</Message></Error>"
        ).encode()
    )
    return botocore.awsrequest.AWSResponse(
        "https://injected", status, {"Content-Type": "application/xml"}, _Body(payload)
    )


def hook(backend: S3Backend, operation: str, respond: Callable[[Any], Any]) -> list[Any]:
    """Call ``respond(request)`` before each ``operation`` is sent; a non-None result is the
    answer (the request is not sent). Returns the list of requests seen."""
    seen: list[Any] = []

    def handler(request: Any, **_kwargs: Any) -> Any:
        seen.append(request)
        return respond(request)

    backend._client.meta.events.register(f"before-send.s3.{operation}", handler)
    return seen


def first(n: int, response: Callable[[], Any]) -> Callable[[Any], Any]:
    """Answer the first ``n`` requests with ``response()``, send the rest."""
    calls = [0]

    def respond(_request: Any) -> Any:
        calls[0] += 1
        return response() if calls[0] <= n else None

    return respond


@pytest.fixture
def moto(s3_server: str, s3_bucket: str) -> S3Store:
    return S3Store("moto", s3_server, s3_bucket, "test", "test")


def test_409_conditional_request_conflict_is_retried(moto: S3Store) -> None:
    """AWS answers 409 ConditionalRequestConflict to a conditional write racing another."""
    raw = moto.backend()
    seen = hook(raw, "PutObject", first(1, lambda: answer(409, "ConditionalRequestConflict")))
    backend = build_stack(raw).backend
    backend.put("locks/x", b"payload")
    assert backend.get("locks/x") == b"payload"
    assert len(seen) == 2


def test_complete_multipart_answering_200_with_an_error_body_is_retried(moto: S3Store) -> None:
    """CompleteMultipartUpload can answer 200 OK and put the error in the body."""
    backend = moto.backend(multipart_threshold=9 << 20)
    error_200 = lambda: answer(  # noqa: E731
        200, body=b"<Error><Code>InternalError</Code><Message>x</Message></Error>"
    )
    seen = hook(backend, "CompleteMultipartUpload", first(1, error_200))
    data = os.urandom(17 << 20)
    backend.put("data/ab/big", data)
    assert backend.get("data/ab/big") == data
    assert len(seen) == 2


def test_no_such_upload_after_a_retried_complete_that_had_succeeded(moto: S3Store) -> None:
    """The first Complete succeeds but its answer is lost; the retry hears NoSuchUpload (AWS
    forgets a completed upload; moto and Swift would complete it again, so the second answer
    is AWS's, injected)."""
    backend = moto.backend(multipart_threshold=9 << 20)
    session = botocore.httpsession.URLLib3Session(verify=os.environ["AWS_CA_BUNDLE"])
    calls = [0]

    def lose_the_answer(request: Any) -> Any:
        calls[0] += 1
        if calls[0] > 1:
            return answer(404, "NoSuchUpload")
        assert session.send(request).status_code == 200  # it really completes ...
        return answer(500, "InternalError")  # ... and the client hears an error

    hook(backend, "CompleteMultipartUpload", lose_the_answer)
    data = os.urandom(17 << 20)
    backend.put("data/cd/big", data)
    assert calls[0] == 2
    assert backend.get("data/cd/big") == data


def test_a_404_right_after_a_write_is_asked_again(
    moto: S3Store, caplog: pytest.LogCaptureFixture
) -> None:
    """Stores that are not read-after-write consistent (StorageGRID, restic#4552)."""
    backend = moto.backend()
    seen = hook(backend, "HeadObject", first(2, lambda: answer(404, "NotFound", b"")))
    with caplog.at_level(logging.WARNING):
        backend.put("index/new", b"x" * 100)
    assert len(seen) == 3
    assert "not visible right after it was written" in caplog.text


def test_a_skewed_clock_gets_fix_the_clock_at_once(
    swift_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Swift, like AWS, refuses requests signed more than 15 minutes off its clock."""
    store = S3Store(
        "swift",
        swift_server.endpoint,
        swift_server.new_bucket(),
        swift_server.access_key,
        swift_server.secret_key,
        exclusive=False,
    )
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", store.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", store.secret_key)
    slow = datetime.timedelta(minutes=20)
    real = botocore.auth.get_current_datetime
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: real() - slow)
    backend = build_stack(store.backend()).backend
    start = time.monotonic()
    with pytest.raises(BackendError, match="fix the clock") as info:
        backend.put("keys/k", b"x")
    assert "TooSkewed" not in type(info.value).__name__
    assert time.monotonic() - start < 30  # not retried until the deadline: it cannot heal


def test_slowdown_backs_off_and_lowers_concurrency(moto: S3Store) -> None:
    """503 SlowDown asks for fewer requests at once, not only for later ones."""
    backend = moto.backend(multipart_threshold=9 << 20, connections=8)
    before = backend.window.limit
    hook(backend, "UploadPart", first(4, lambda: answer(503, "SlowDown")))
    data = os.urandom(33 << 20)
    backend.put("data/ef/big", data)
    assert backend.get("data/ef/big") == data
    assert backend.window.throttles == 4
    assert backend.window.limit <= before // 2


def test_the_congestion_window_holds_its_limit() -> None:
    window = CongestionWindow(8)
    for _ in range(2):
        window.throttled()
    assert window.limit == 2
    got_third = threading.Event()

    def third() -> None:
        with window.slot():
            got_third.set()

    with contextlib.ExitStack() as held:
        held.enter_context(window.slot())
        held.enter_context(window.slot())
        waiter = threading.Thread(target=third)
        waiter.start()
        assert not got_third.wait(0.3)  # two in flight: the third waits
    assert got_third.wait(5)  # a slot came free
    waiter.join()
    assert window.limit > 2  # and every success wins some of the window back


def test_parts_are_equal_and_bodies_seekable(moto: S3Store) -> None:
    """R2 requires equal non-trailing parts; boto3 rewinds bodies on retry."""
    backend = moto.backend(multipart_threshold=9 << 20)
    seen = hook(backend, "UploadPart", lambda _request: None)
    backend.put("data/12/big", os.urandom(20 << 20))
    sizes = sorted(
        int(r.headers.get("x-amz-decoded-content-length") or r.headers["Content-Length"])
        for r in seen
    )
    assert len(sizes) == 3 and sizes[1] == sizes[2] == 8 << 20 and sizes[0] == 4 << 20
    assert all(hasattr(r.body, "seek") or isinstance(r.body, bytes) for r in seen)


def test_an_empty_or_non_md5_etag_is_not_trusted(moto: S3Store) -> None:
    """Ceph 16 answers CompleteMultipartUpload with an empty ETag; SSE-KMS ETags are not MD5s."""
    backend = moto.backend(multipart_threshold=9 << 20)

    def blank(parsed: Any, **_kwargs: Any) -> None:
        parsed["ETag"] = ""

    backend._client.meta.events.register("after-call.s3.CompleteMultipartUpload", blank)
    backend._client.meta.events.register("after-call.s3.PutObject", blank)
    big, small = os.urandom(17 << 20), os.urandom(1000)
    backend.put("data/34/big", big)
    backend.put("data/34/small", small)
    assert backend.get("data/34/big") == big and backend.get("data/34/small") == small


def test_list_pagination_is_followed_to_the_end(s3_store: S3Store) -> None:
    """Many stores page differently; every page is read, on every store."""
    backend = s3_store.backend()

    def two_per_page(params: dict[str, Any], **_kwargs: Any) -> None:
        params["MaxKeys"] = 2

    backend._client.meta.events.register("before-parameter-build.s3.ListObjectsV2", two_per_page)
    names = {f"snapshots/{i:02d}" for i in range(7)}
    for name in names:
        backend.put(name, b"x")
    assert {i.name for i in backend.list("snapshots/")} == names


def test_a_truncated_listing_without_a_continuation_is_an_error(moto: S3Store) -> None:
    backend = moto.backend()
    broken = (
        f'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>{moto.bucket}</Name>'
        f"<Prefix>{backend.key('data/')}</Prefix>"
        "<IsTruncated>true</IsTruncated><KeyCount>0</KeyCount></ListBucketResult>"
    ).encode()
    hook(backend, "ListObjectsV2", lambda _request: answer(200, body=broken))
    with pytest.raises(BackendError, match="truncated listing"):
        list(backend.list("data/"))


def _page(moto: S3Store, prefix: str, keys: list[str], token: str | None) -> bytes:
    contents = "".join(
        f"<Contents><Key>{k}</Key><Size>1</Size><LastModified>2026-01-01T00:00:00.000Z"
        "</LastModified><ETag>&quot;x&quot;</ETag></Contents>"
        for k in keys
    )
    more = f"<NextContinuationToken>{token}</NextContinuationToken>" if token else ""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>{moto.bucket}</Name>'
        f"<Prefix>{prefix}</Prefix><KeyCount>{len(keys)}</KeyCount>"
        f"<IsTruncated>{'true' if token else 'false'}</IsTruncated>{more}{contents}"
        "</ListBucketResult>"
    ).encode()


def test_a_listing_that_serves_the_same_page_under_new_tokens_ends_in_an_error(
    moto: S3Store,
) -> None:
    """A faulty store or gateway that answers every page with the first one, each time with a
    fresh continuation token: the old code listed for ever (13,900 pages in 11 minutes)."""
    backend = moto.backend()
    prefix = backend.key("snapshots/")
    keys = [f"{prefix}{i:064x}" for i in range(3)]
    served = iter(range(1_000))
    hook(
        backend,
        "ListObjectsV2",
        lambda _request: answer(200, body=_page(moto, prefix, keys, f"t{next(served)}")),
    )
    with pytest.raises(BackendError, match="listing repeats itself"):
        list(backend.list("snapshots/"))
    assert next(served) == 2  # the second page was the last one asked for


def test_a_key_listed_twice_is_one_object_and_order_is_not_required(moto: S3Store) -> None:
    backend = moto.backend()
    prefix = backend.key("snapshots/")
    first, second = f"{prefix}{1:064x}", f"{prefix}{2:064x}"
    third = f"{prefix}{0:064x}"  # and out of order, as Storj lists (by encrypted keys)
    pages = iter(
        [_page(moto, prefix, [first, second], "t1"), _page(moto, prefix, [second, third], None)]
    )
    hook(backend, "ListObjectsV2", lambda _request: answer(200, body=next(pages)))
    names = [i.name for i in backend.list("snapshots/")]
    assert names == [f"snapshots/{n:064x}" for n in (1, 2, 0)]


@pytest.mark.parametrize(
    "body",
    [
        b"",  # a 200 with nothing in it
        b"<html><body><h1>502 Bad Gateway</h1></body></html>",  # a proxy's page
        b'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult></ListBucketResult>',
        b'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>other</Name>'
        b"<KeyCount>0</KeyCount></ListBucketResult>",  # another bucket's
    ],
)
def test_a_reply_that_is_no_listing_is_never_an_empty_one(moto: S3Store, body: bytes) -> None:
    """Read as no entries, such a reply told prune that every snapshot was gone: two prunes
    a grace apart deleted every pack (an attacker's pass through a misbehaving gateway)."""
    backend = moto.backend()
    backend.put("snapshots/" + "ab" * 32, b"x")
    hook(backend, "ListObjectsV2", lambda _request: answer(200, body=body))
    with pytest.raises(TransientBackendError, match="no listing of bucket"):
        list(backend.list("snapshots/"))


def test_delete_objects_partial_failures_inside_a_200_are_not_taken_as_done(
    s3_store: S3Store,
) -> None:
    """DeleteObjects answers 200 and lists the keys it could not delete."""
    raw = s3_store.backend()
    names = [f"data/56/{i}" for i in range(5)]
    for name in names:
        raw.put(name, b"x")
    calls = [0]

    def one_failed(parsed: Any, **_kwargs: Any) -> None:
        calls[0] += 1
        if calls[0] == 1:
            key = raw.key(names[2])
            parsed["Errors"] = [{"Key": key, "Code": "InternalError", "Message": "try again"}]

    raw._client.meta.events.register("after-call.s3.DeleteObjects", one_failed)
    with pytest.raises(TransientBackendError, match=r"1 of 5 objects .*data/56/2: InternalError"):
        raw.delete_many(names)
    build_stack(raw).backend.delete_many(names)  # retried as a whole
    assert calls[0] == 2
    assert list(raw.list("data/56/")) == []


def test_keys_are_spread_under_hashed_prefixes(
    moto: S3Store, tmp_path: Any, cli_env: dict[str, str], run_cli: Any
) -> None:
    """AWS scales request rates per prefix: data packs go under data/<2 hex digits>/."""
    src = tmp_path / "src"
    for i in range(6):
        (src / f"f{i}").parent.mkdir(parents=True, exist_ok=True)
        (src / f"f{i}").write_bytes(os.urandom(300_000))
    env = moto.env(cli_env)
    repo = ("-r", f"s3://{moto.bucket}/r")
    assert run_cli(*repo, "init", "--kdf-cost", "minimum", "--pack-size", "1", env=env).code == 0
    assert run_cli(*repo, "backup", str(src), env=env).code == 0
    keys = [
        o["Key"]
        for o in moto.client().list_objects_v2(Bucket=moto.bucket, Prefix="r/data/")["Contents"]
    ]
    assert len(keys) >= 2
    for key in keys:
        match = re.fullmatch(r"r/data/([0-9a-f]{2})/([0-9a-f]{64})", key)
        assert match and match.group(2).startswith(match.group(1)), key


def test_a_create_only_put_whose_reply_was_lost_inside_the_clients_retry_is_ours(
    moto: S3Store,
) -> None:
    """The first PutObject lands, its reply is lost (a 500 here), and boto3 sends it again
    inside the same call: If-None-Match meets the object it stored itself (412). That was
    taken for another writer's object: a prune stopped at its own lease (exit 11, 'held by'
    its own pid), init failed on its own config. The bytes stored are ours: a success. Another
    writer's bytes are still a conflict."""
    raw = moto.backend()
    other = moto.backend()  # a second client: its requests are not hooked
    calls = [0]

    def lost_reply(_request: Any) -> Any:
        calls[0] += 1
        if calls[0] == 1:  # stored by the first try, whose reply then never came
            other.put("locks/lease", b"mine, pid 42")
            return answer(500, "InternalError")
        return None

    hook(raw, "PutObject", lost_reply)
    backend = RetryBackend(raw, sleep=lambda _s: None)
    backend.put("locks/lease", b"mine, pid 42")
    assert other.get("locks/lease") == b"mine, pid 42"
    assert calls[0] >= 2  # the client's own retry met the object: 412
    other.delete("locks/lease")
    other.put("locks/lease", b"someone else's")
    with pytest.raises(ObjectExistsError):
        backend.put("locks/lease", b"mine again")


@pytest.mark.parametrize("bad_reads", [1, 3])
def test_a_body_that_fails_the_stores_checksum_is_read_again(moto: S3Store, bad_reads: int) -> None:
    """botocore checks a GET's body against the checksum the store sent; a mismatch raised
    FlexibleChecksumError, taken as permanent (verify: 'could not be read', exit 1; a flipped
    config read stopped every command). It is read again; the same mismatch three times in a
    row is damage where the object is stored (an error that is no refusal: verify says 13),
    never 'retry later' (14)."""
    raw = moto.backend()
    raw.put("data/ab/x", b"the stored bytes")
    calls = [0]

    def bad_checksum(_request: Any) -> Any:
        calls[0] += 1
        if calls[0] > bad_reads:
            return None
        response = answer(200, body=b"the stored bytez")
        response.headers["x-amz-checksum-crc32"] = "AAAAAA=="
        response.headers["Content-Length"] = "16"
        return response

    hook(raw, "GetObject", bad_checksum)
    if bad_reads < 3:
        assert raw.get("data/ab/x") == b"the stored bytes"
        return
    with pytest.raises(BackendError, match="do not match the store's own checksum") as raised:
        raw.get("data/ab/x")
    assert not isinstance(raised.value, TransientBackendError)


def test_a_redirect_without_end_is_said_as_one() -> None:
    """A gateway answering 301 to itself: botocore follows it until Python's recursion limit,
    and the message was 'RecursionError: maximum recursion depth exceeded'."""
    said = translate(RecursionError("maximum recursion depth exceeded"), "list", "ledger/")
    assert "keeps redirecting" in str(said) and "endpoint" in str(said)


def test_an_upload_created_twice_after_a_lost_answer_leaves_none_open(moto: S3Store) -> None:
    """CreateMultipartUpload lands, its answer is lost (a 500 here), boto3 sends it again:
    the first upload, whose id this run never learnt, stayed open (billed, invisible). It is
    aborted once the object is stored."""
    raw = moto.backend(multipart_threshold=6 * 1024 * 1024)
    calls = [0]

    def lost_answer(request: Any) -> Any:
        calls[0] += 1
        if calls[0] == 1:  # created, then the answer never came
            raw._client.create_multipart_upload(Bucket=moto.bucket, Key=raw.key("data/big"))
            return answer(500, "InternalError")
        return None

    hook(raw, "CreateMultipartUpload", lost_answer)
    body = os.urandom(7 * 1024 * 1024)
    raw.put("data/big", body)
    assert calls[0] >= 2
    assert raw.get("data/big") == body
    listed = raw._client.list_multipart_uploads(Bucket=moto.bucket, Prefix=raw.key(""))
    assert listed.get("Uploads", []) == []


def test_the_probe_takes_a_conditional_write_whose_reply_was_lost_for_what_it_did(
    moto: S3Store,
) -> None:
    """init's probe called the store's conditional writes missing when one answer was lost: the
    first try stored the object, botocore's retry met it (412), and the repository recorded for
    good a store without create-only writes or compare-and-swap (its lease then on claim
    objects). The probe reads back what it wrote before it calls a 412 a refusal."""
    raw = moto.backend(prefix="probe-lost")
    other = moto.backend()
    lost: set[str] = set()

    def lose_first_reply(request: Any, **_kwargs: Any) -> Any:
        key = request.url.split("?")[0].split(moto.bucket + "/", 1)[1]
        name = key.rsplit("/", 1)[-1]
        conditional = "If-None-Match" in request.headers or "If-Match" in request.headers
        if conditional and name in ("once", "cas") and name not in lost:
            lost.add(name)  # stored by the first try, whose answer then never came
            body = b"1" if name == "once" else b"2"
            other._client.put_object(Bucket=moto.bucket, Key=key, Body=body)
            return answer(500, "InternalError")
        return None

    # the probe makes clients of its own: the hook goes on the session they come from
    raw._conn._session.events.register("before-send.s3.PutObject", lose_first_reply)
    dialect = raw.probe()
    assert lost == {"once", "cas"}
    assert dialect.create_only == "atomic" and dialect.compare_and_swap
