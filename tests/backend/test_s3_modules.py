"""The S3 package's pure parts, without a server: the error table (backend/s3/errors.py), the
part size (multipart.py) and how a probed dialect is adopted (probe.py). Errors are the real
botocore exception classes, built as botocore builds them from an answer."""

from __future__ import annotations

import botocore.exceptions
import pytest

from s3vault.backend.dialect import StoreDialect
from s3vault.backend.s3 import S3Settings
from s3vault.backend.s3.errors import error_code, http_status, translate
from s3vault.backend.s3.multipart import MIN_PART, part_size
from s3vault.backend.s3.probe import adopted
from s3vault.errors import (
    AccessDeniedError,
    BackendError,
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
    assert type(gone) is BackendError
    assert "the bucket does not exist (no bucket)" in str(gone)
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
