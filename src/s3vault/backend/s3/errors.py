"""botocore exceptions → s3vault errors, in one table (as s3fs/errors.py does).

404/NoSuchKey → ObjectNotFoundError, 412 → ObjectExistsError, throttling / 5xx / timeouts /
connection resets → TransientBackendError (retried by RetryBackend), 403 → AccessDeniedError
(saying whether the credential may only read), a skewed clock → "fix the clock", a TLS
certificate this host does not trust → "--cacert" (permanent: retrying cannot help), everything
else BackendError. The other S3 modules ask ``error_code`` and ``http_status`` instead of
importing botocore themselves.
"""

from __future__ import annotations

import botocore.exceptions

from s3vault.errors import (
    ARCHIVED,
    AccessDeniedError,
    BackendError,
    NoSuchBucketError,
    ObjectExistsError,
    ObjectNotFoundError,
    TransientBackendError,
)

TRANSIENT_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestTimeout",
        "InternalError",
        "ServiceUnavailable",
        "503",
        "500",
        "502",
        "504",
        "ConditionalRequestConflict",
        "OperationAborted",
    }
)
THROTTLE_CODES = frozenset(
    {"SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequests"}
)
READ_OPERATIONS = frozenset({"get", "head", "list", "head bucket"})


def error_code(exc: Exception) -> str | None:
    """The S3 error code of an answer the store gave (None: no answer, e.g. a reset)."""
    if isinstance(exc, botocore.exceptions.ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return None


def http_status(exc: Exception) -> int:
    """The HTTP status of an answer the store gave (0: no answer)."""
    if isinstance(exc, botocore.exceptions.ClientError):
        return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
    return 0


def untrusted_certificate(exc: Exception, where: str) -> BackendError | None:
    """The endpoint's TLS certificate failed verification: a permanent error that says what
    to do (None: ``exc`` is something else)."""
    text = str(exc)
    if not isinstance(exc, botocore.exceptions.SSLError) or "certificate verify failed" not in (
        text.lower()
    ):
        return None
    reason = text.rpartition("certificate verify failed")[2].strip(" :")
    reason = reason.split(" (_ssl.c")[0] or "not trusted"
    return BackendError(
        f"{where}: the endpoint's TLS certificate is not trusted ({reason}): give its CA with "
        "--cacert FILE (or AWS_CA_BUNDLE), or check the endpoint URL; --insecure-tls skips "
        "the check (not for production)"
    )


def checksum_mismatch(exc: Exception) -> bool:
    """botocore found a body that does not match the checksum the store sent with it."""
    return isinstance(
        exc, botocore.exceptions.ChecksumError | botocore.exceptions.FlexibleChecksumError
    )


def _client_error(exc: botocore.exceptions.ClientError, where: str, op: str) -> BackendError:
    """translate() of an error the store answered (a status and an error code)."""
    err = exc.response.get("Error", {})
    code = str(err.get("Code", ""))
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    message = err.get("Message") or code
    if code in ("NoSuchKey", "404", "NotFound") or status == 404:
        if code == "NoSuchBucket":
            bucket = err.get("BucketName")  # S3 names it in the answer (moto, Swift too)
            named = f"the bucket {bucket}" if bucket else "the bucket"
            return NoSuchBucketError(f"{where}: {named} does not exist ({message})")
        if op == "list":  # S3 answers a listing 404 only with NoSuchBucket: a web server
            return BackendError(  # said "list x/keys/: not found" (an attack pass, 2026-12-07)
                f"{where}: the endpoint answered a bucket listing with 404 Not Found and no S3 "
                "error (NoSuchBucket): check that the endpoint URL is an S3 service's"
            )
        return ObjectNotFoundError(f"{where}: not found")
    if code in ("PreconditionFailed", "412") or status == 412:
        return ObjectExistsError(f"{where}: already exists")
    if code == "RequestTimeTooSkewed":
        server = err.get("ServerTime", "")
        said = f" (the store's time is {server})" if server else ""
        return BackendError(
            f"{where}: this host's clock is too far off the store's{said}: fix the clock "
            f"(NTP), then run the command again"
        )
    if status == 501 or code == "NotImplemented":
        return BackendError(f"{where}: the store does not support this request ({message})")
    if code in TRANSIENT_CODES or status >= 500 or status == 429:
        return TransientBackendError(f"{where}: {code} ({message})")
    if code == "InvalidObjectState":  # a 403 too, but no refusal: the object is archived
        return BackendError(
            f"{where}: {ARCHIVED} ({message}): restore it from its storage class first (docs/s3.md)"
        )
    if code in CREDENTIAL_CODES:  # a 403 too, but no policy says no: the key is wrong
        return AccessDeniedError(
            f"{where}: the store does not know this credential ({message}): check the access "
            "key id and its secret (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, --aws-profile, "
            "the instance's role)"
        )
    if code == "InvalidStorageClass":
        return BackendError(
            f"{where}: the store refused the storage class ({message}): give "
            "--s3-storage-class one it offers (docs/s3.md)"
        )
    if code in ("AccessDenied", "403") or status == 403:
        return _denied(where, op, message)
    return BackendError(f"{where}: {code} ({message})")


# Credentials botocore found but cannot use (an access key id without its secret, a profile's
# credential_process that fails): they ended as "internal error" (an attack pass, 2026-12-07)
CREDENTIAL_ERRORS = (
    botocore.exceptions.PartialCredentialsError,
    botocore.exceptions.CredentialRetrievalError,
    botocore.exceptions.InvalidConfigError,
)
# 403s that say the key itself is wrong (an unknown access key id, a wrong secret): IAM-policy
# advice sent the operator to the wrong place (an attack pass on moto, 2026-12-07)
CREDENTIAL_CODES = frozenset({"InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken"})


def translate(exc: Exception, op: str, key: str) -> BackendError:
    """Translate a botocore/boto3 exception (the one table)."""
    where = f"{op} {key}"
    if isinstance(exc, botocore.exceptions.ClientError):
        return _client_error(exc, where, op)
    if (untrusted := untrusted_certificate(exc, where)) is not None:
        return untrusted
    if isinstance(
        exc,
        (
            botocore.exceptions.EndpointConnectionError,
            botocore.exceptions.ConnectionError,
            botocore.exceptions.ReadTimeoutError,
            botocore.exceptions.ConnectTimeoutError,
            botocore.exceptions.ResponseStreamingError,
            botocore.exceptions.IncompleteReadError,
            botocore.exceptions.ConnectionClosedError,  # a reset over TLS arrives as this
            botocore.exceptions.HTTPClientError,
        ),
    ):
        return TransientBackendError(f"{where}: {type(exc).__name__}: {exc}")
    if isinstance(exc, RecursionError):  # botocore follows a redirect to itself without end
        return BackendError(
            f"{where}: the store keeps redirecting the request (301 PermanentRedirect, again "
            "and again): check the endpoint URL and the region"
        )
    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return BackendError(f"{where}: no AWS credentials found (AWS profile, environment or role)")
    if isinstance(exc, CREDENTIAL_ERRORS):
        return BackendError(f"{where}: AWS credentials: {exc} (AWS profile, environment or role)")
    return BackendError(f"{where}: {type(exc).__name__}: {exc}")


def _denied(where: str, op: str, message: str) -> AccessDeniedError:
    """403 AccessDenied: permanent. On a write, the usual cause is a credential that may only
    read (a restore-only key, a DR account), and reading commands still work with it."""
    if op in READ_OPERATIONS:
        hint = "this credential may not read it: check its IAM policy (s3vault iam-policy)"
    else:
        hint = (
            "this credential may not write here (a read-only or restore-only credential, or a "
            "bucket policy); commands that only read work with it, run this one with a "
            "credential that may write (s3vault iam-policy)"
        )
    return AccessDeniedError(f"{where}: access denied ({message}): {hint}")
