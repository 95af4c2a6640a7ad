"""The S3 package's pure parts, without a server: the error table (backend/s3/errors.py), the
part size (multipart.py), how a probed dialect is adopted (probe.py) and the timestamp parser
(client.py; with the one server test that shows a listing uses it). Errors are the real
botocore exception classes, built as botocore builds them from an answer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import botocore.exceptions
import botocore.utils
import pytest
from hypothesis import given
from hypothesis import strategies as st

from s3vault.backend.dialect import StoreDialect
from s3vault.backend.s3 import S3Settings, client
from s3vault.backend.s3.errors import error_code, http_status, translate
from s3vault.backend.s3.multipart import MIN_PART, part_size
from s3vault.backend.s3.probe import adopted
from s3vault.backend.s3.traffic import Traffic
from s3vault.errors import (
    AccessDeniedError,
    BackendError,
    NoSuchBucketError,
    ObjectExistsError,
    ObjectNotFoundError,
    TransientBackendError,
)


def answer(code: str, status: int, message: str = "", **error: str) -> Exception:
    response = {
        "Error": {"Code": code, "Message": message, **error},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return botocore.exceptions.ClientError(response, "PutObject")


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (answer("NoSuchKey", 404), ObjectNotFoundError),
        (answer("", 404), ObjectNotFoundError),  # a HEAD's 404 has no body, so no code
        (answer("PreconditionFailed", 412), ObjectExistsError),
        (answer("SlowDown", 503), TransientBackendError),
        (answer("ConditionalRequestConflict", 409), TransientBackendError),
        (answer("TooManyRequests", 429), TransientBackendError),
        (answer("InvalidArgument", 400), BackendError),
        # a GET of an object still in GLACIER: a 403, but archived, not a refusal (restore
        # stops on refusals: one un-thawed pack would have stopped it all)
        (answer("InvalidObjectState", 403), BackendError),
        (answer("AccessDenied", 403), AccessDeniedError),
        (
            botocore.exceptions.EndpointConnectionError(endpoint_url="https://x"),
            TransientBackendError,
        ),
        (botocore.exceptions.ReadTimeoutError(endpoint_url="https://x"), TransientBackendError),
    ],
)
def test_s3_errors_translate_by_the_table(exc: Exception, kind: type[BackendError]) -> None:
    error = translate(exc, "put", "repo/data/ab/cd")
    assert type(error) is kind
    assert str(error).startswith("put repo/data/ab/cd")


def test_s3_errors_name_a_missing_bucket_and_a_skewed_clock() -> None:
    gone = translate(answer("NoSuchBucket", 404, "no bucket"), "list", "repo/")
    assert type(gone) is NoSuchBucketError  # exit 10: no repository there
    assert "the bucket does not exist (no bucket)" in str(gone)
    named = translate(answer("NoSuchBucket", 404, "gone", BucketName="b1"), "put", "repo/x")
    assert str(named) == "put repo/x: the bucket b1 does not exist (gone)"  # which bucket
    skewed = translate(
        answer("RequestTimeTooSkewed", 403, ServerTime="2026-12-04T10:00:00Z"), "get", "k"
    )
    assert type(skewed) is BackendError
    assert "(the store's time is 2026-12-04T10:00:00Z): fix the clock (NTP)" in str(skewed)
    missing = translate(botocore.exceptions.NoCredentialsError(), "get", "repo/config")
    assert str(missing) == (
        "get repo/config: no AWS credentials found (AWS profile, environment or role)"
    )


def test_s3_access_denied_says_whether_the_credential_may_only_read() -> None:
    read = translate(answer("AccessDenied", 403, "Access Denied"), "get", "k")
    write = translate(answer("AccessDenied", 403, "Access Denied"), "put", "k")
    assert isinstance(read, AccessDeniedError) and isinstance(write, AccessDeniedError)
    assert "may not read it" in str(read)
    assert "commands that only read work with it" in str(write)


def test_s3_error_code_and_status_only_of_an_answer() -> None:
    assert error_code(answer("InvalidRange", 416)) == "InvalidRange"
    assert http_status(answer("InvalidRange", 416)) == 416
    reset = botocore.exceptions.ConnectionClosedError(endpoint_url="https://x")
    assert error_code(reset) is None
    assert http_status(reset) == 0


def test_multipart_parts_are_equal_at_least_8_mib_and_within_the_part_limit() -> None:
    assert part_size(20 << 20, 10000) == MIN_PART
    big = 100 << 30  # 100 GiB on a store that takes 1,000 parts
    size = part_size(big, 1000)
    assert size > MIN_PART
    assert -(-big // size) <= 900  # 90% of the limit: room for a retried part


def test_adopting_a_dialect_keeps_a_forced_checksum_and_the_lower_part_limit() -> None:
    settings = S3Settings(bucket="b", max_parts=5000)
    swift = StoreDialect(
        checksum="when_required", create_only="sequential", compare_and_swap=False, max_parts=1000
    )
    assert adopted(settings, swift, None) == {
        "checksum": "when_required",
        "conditional_writes": True,
        "atomic_create": False,
        "compare_and_swap": False,
        "max_parts": 1000,
    }
    aws = StoreDialect()
    changes = adopted(settings, aws, "when_required")
    assert changes["checksum"] == "when_required"  # --s3-checksum beats the dialect
    assert changes["max_parts"] == 5000
    assert adopted(settings, StoreDialect(create_only="none"), None)["conditional_writes"] is False


@given(
    when=st.datetimes(
        min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
    ),
    digits=st.sampled_from([0, 3, 6]),
)
def test_timestamps_parse_as_botocore_parses_them(when: datetime, digits: int) -> None:
    """client.parse_timestamp, the S3 client's timestamp parser, against botocore's own on the
    forms S3 answers with: ISO 8601 in listings (with 0, 3 or 6 fraction digits), RFC 822 in
    HEAD and GET headers, and epoch seconds."""
    fraction = f".{when.microsecond:06d}"[: digits + 1] if digits else ""
    when = when.replace(microsecond=int(fraction[1:].ljust(6, "0")) if digits else 0)
    forms = [
        when.strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z",
        when.strftime("%Y-%m-%dT%H:%M:%S") + fraction + "+00:00",
        format_datetime(when, usegmt=True),
        int(when.timestamp()),
    ]
    for form in forms:
        assert client.parse_timestamp(form) == botocore.utils.parse_timestamp(form), form
    for form in forms[:2]:  # ISO 8601: read here, aware, in UTC
        assert client.parse_timestamp(form) == when
        assert client.parse_timestamp(form).utcoffset() == timedelta(0), form


def test_a_listing_reads_its_dates_with_the_fast_parser(s3_bucket: str) -> None:
    """The S3 store's listing gives each object's time as an aware datetime, parsed by
    client.parse_timestamp (the session's parser default), equal to what botocore would say."""
    conn = client.Connection(S3Settings(bucket=s3_bucket, prefix="dates"), Traffic(2))
    conn.call("put_object", Bucket=s3_bucket, Key=conn.key("a"), Body=b"1")
    listed = conn.call("list_objects_v2", Bucket=s3_bucket, Prefix=conn.key(""))
    (entry,) = listed["Contents"]
    assert entry["LastModified"].tzinfo is UTC  # datetime's own, not dateutil's tzutc
    head = conn.call("head_object", Bucket=s3_bucket, Key=conn.key("a"))
    assert head["LastModified"] == entry["LastModified"]  # RFC 822, by botocore's parser


@pytest.mark.parametrize(
    "odd",
    ["2026-12-05T21:47:42", "2026-12-05", "Sat, 05 Dec 2026 21:47:42 GMT", "1796507262", 0],
)
def test_odd_timestamps_are_botocores_business(odd: object) -> None:
    """What fromisoformat cannot read as an aware time (no zone, a date alone, RFC 822, epoch
    digits as text or a number) is parsed by botocore's parser, exactly as before."""
    assert client.parse_timestamp(odd) == botocore.utils.parse_timestamp(odd)


def test_a_string_that_is_no_time_fails_as_botocore_fails() -> None:
    for bad in ("not a time", "2026-13-45T99:99:99Z"):
        with pytest.raises(ValueError) as ours:
            client.parse_timestamp(bad)
        with pytest.raises(ValueError) as theirs:
            botocore.utils.parse_timestamp(bad)
        assert type(ours.value) is type(theirs.value)


@pytest.mark.parametrize(
    ("environment", "kept"),
    [({}, True), ({"AWS_REQUEST_CHECKSUM_CALCULATION": "when_required"}, False)],
)
def test_adopting_the_mode_the_client_already_works_with_keeps_the_client(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], kept: bool
) -> None:
    """A connection made with boto3's default checksum mode adopts the probe's
    ``when_supported``: the client stays when its configuration already resolved to that
    mode, and is made again when the environment had chosen another."""
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    conn = client.Connection(S3Settings(bucket="b", region="us-east-1"), Traffic(2))
    first = conn.client
    conn.reconfigure(**adopted(conn.settings, StoreDialect(), None))
    assert (conn.client is first) is kept
    assert conn.client.meta.config.request_checksum_calculation == "when_supported"
    assert conn.client.meta.config.response_checksum_validation == "when_supported"


def test_adopting_another_mode_or_going_back_to_the_default_makes_a_new_client() -> None:
    conn = client.Connection(S3Settings(bucket="b", region="us-east-1"), Traffic(2))
    first = conn.client
    conn.reconfigure(checksum="when_required")
    assert conn.client is not first
    assert conn.client.meta.config.request_checksum_calculation == "when_required"
    required = conn.client
    conn.reconfigure(checksum="when_required", max_parts=1000)
    assert conn.client is required  # the mode did not change
    conn.reconfigure(checksum=None)
    assert conn.client is not required
    assert conn.client.meta.config.request_checksum_calculation == "when_supported"
