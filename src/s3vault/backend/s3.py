"""S3Backend: objects in an S3 bucket (AWS or S3-compatible), through boto3.

The byte store's boto3/botocore importer (with s3probe.py; the other AWS services are in
cloud/, on this module's aws_session). Credentials, profiles, SSO and role chains are
boto3's own. Contract details for S3 (backend/base.py has the general contract):

- put is create-only with ``If-None-Match: *``; a 412 means the object exists. On a store that
  ignores the header (``conditional_writes=False``) a HEAD precedes the PUT, which is
  race-free for s3vault's content-addressed names (identical bytes under one name).
- Objects above ``multipart_threshold`` are uploaded in equal parts (Cloudflare R2 needs equal
  non-trailing parts), several at once; a failed upload is aborted, never left behind. After
  an upload the object's size is checked before the call returns.
- Errors are translated in one table: 404/NoSuchKey → ObjectNotFoundError, 412 →
  ObjectExistsError, throttling / 5xx / timeouts / connection resets → TransientBackendError
  (retried by RetryBackend), everything else BackendError.
- Listing follows ListObjectsV2 pagination to the end; an error is raised, never read as "no
  more objects".
- ``counts`` counts the HTTP requests actually sent (one per multipart part, per list page,
  per botocore retry), by a botocore ``before-send`` hook: what the provider bills.
- ``throttle(upload, download)`` makes the backend take bandwidth tokens for the bytes it
  streams: each part of a multipart upload as it is sent, downloads chunk by chunk as they
  arrive.
"""

from __future__ import annotations

import base64
import builtins
import dataclasses
import email.utils
import hashlib
import logging
import math
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import botocore.config
import botocore.credentials
import botocore.exceptions
import botocore.session

from s3vault.backend.accounting import RequestCounts
from s3vault.backend.base import Guarantees, ObjectInfo
from s3vault.backend.congestion import CongestionWindow
from s3vault.backend.objectlock import UNLOCKED_PREFIXES, VERSION_DELETED, LockPolicy
from s3vault.backend.profile import StoreProfile
from s3vault.backend.ratelimit import TokenBucket
from s3vault.clock import SystemClock
from s3vault.crashpoint import crash_point
from s3vault.errors import (
    AccessDeniedError,
    BackendError,
    ObjectExistsError,
    ObjectNotFoundError,
    TransientBackendError,
    UnsupportedOperationError,
    VersionMismatchError,
)

log = logging.getLogger(__name__)

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
DELETE_OBJECTS_MAX = 1000
MIN_PART = 8 * 1024 * 1024
READ_CHUNK = 1024 * 1024
_KIND_BY_OPERATION = {
    "ListObjectsV2": "list",
    "ListObjects": "list",
    "ListMultipartUploads": "list",
    "ListParts": "list",
    "HeadObject": "head",
    "HeadBucket": "head",
    "DeleteObjects": "delete",
}
_KIND_BY_METHOD = {"PUT": "put", "POST": "put", "GET": "get", "HEAD": "head", "DELETE": "delete"}


@dataclass(frozen=True, slots=True, kw_only=True)
class S3Settings:
    """Where the bucket is and how to talk to it."""

    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None
    region: str | None = None
    profile: str | None = None
    path_style: bool = False
    checksum: str | None = None  # "when_required" | "when_supported" | None (boto3 default)
    verify_tls: bool | str | None = None  # False, or a CA bundle path; None: boto3's default
    connections: int = 8
    multipart_threshold: int = 64 * 1024 * 1024
    storage_class: str | None = None  # for data packs; metadata always STANDARD
    sse: str | None = None  # "AES256" or "aws:kms"
    kms_key_id: str | None = None
    bucket_owner: str | None = None  # sent as ExpectedBucketOwner on every request
    role_arn: str | None = None  # assume this role (credentials refresh before they expire)
    external_id: str | None = None
    max_parts: int = 10000  # the store's limit (a default Swift: 1,000)
    conditional_writes: bool = True  # send If-None-Match: * at all (False: HEAD, then PUT)
    atomic_create: bool = True  # ... and concurrent creates of one name have one winner
    compare_and_swap: bool = True  # If-Match on PutObject works

    def __repr__(self) -> str:
        return f"S3Settings(s3://{self.bucket}/{self.prefix}, endpoint={self.endpoint_url!r})"


def aws_session(
    profile: str | None, role_arn: str | None = None, external_id: str | None = None
) -> boto3.session.Session:
    """The boto3 session of a repository's AWS account (S3, KMS, CloudWatch, bucket set-up):
    a profile from ~/.aws, and the role to assume with it, if any."""
    session = boto3.session.Session(profile_name=profile)
    return _assumed_role_session(session, role_arn, external_id) if role_arn else session


def _assumed_role_session(
    base: boto3.session.Session, role_arn: str, external_id: str | None
) -> boto3.session.Session:
    """A session whose credentials come from STS AssumeRole on the base credentials and are
    refreshed by botocore before they expire (backups can outlive a role session)."""
    extra: dict[str, Any] = {"RoleSessionName": "s3vault"}
    if external_id:
        extra["ExternalId"] = external_id
    source = base.get_credentials()
    if source is None:
        msg = f"cannot assume {role_arn}: no AWS credentials to assume it with"
        raise BackendError(msg)
    fetcher = botocore.credentials.AssumeRoleCredentialFetcher(
        client_creator=base._session.create_client,
        source_credentials=source,
        role_arn=role_arn,
        extra_args=extra,
    )
    core = botocore.session.Session()
    core._credentials = botocore.credentials.DeferredRefreshableCredentials(
        refresh_using=fetcher.fetch_credentials, method="assume-role"
    )
    return boto3.session.Session(botocore_session=core, region_name=base.region_name)


def _error(exc: Exception, op: str, key: str) -> BackendError:
    """Translate a botocore/boto3 exception (the one table)."""
    where = f"{op} {key}"
    if isinstance(exc, botocore.exceptions.ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        message = err.get("Message") or code
        if code in ("NoSuchKey", "404", "NotFound") or status == 404:
            if code == "NoSuchBucket":
                return BackendError(f"{where}: the bucket does not exist ({message})")
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
        if code in ("AccessDenied", "403") or status == 403:
            return _denied(where, op, message)
        return BackendError(f"{where}: {code} ({message})")
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
    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return BackendError(f"{where}: no AWS credentials found (profile, environment or role)")
    return BackendError(f"{where}: {type(exc).__name__}: {exc}")


READ_OPERATIONS = frozenset({"get", "head", "list", "head bucket"})


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


def _content_md5(request: Any, **_kwargs: Any) -> None:
    """Content-MD5 of a request body (Swift 2.30 refuses DeleteObjects without it)."""
    body = request.body if isinstance(request.body, bytes) else b""
    if body and "Content-MD5" not in request.headers:
        digest = hashlib.md5(body).digest()  # noqa: S324 - the S3 protocol's transport check
        request.headers["Content-MD5"] = base64.b64encode(digest).decode()


class S3Backend:
    """A repository under ``s3://bucket/prefix``."""

    def __init__(self, settings: S3Settings) -> None:
        self._s = settings
        self._prefix = settings.prefix.strip("/") + "/" if settings.prefix.strip("/") else ""
        self.counts = RequestCounts()
        self._counts_lock = threading.Lock()
        self.window = CongestionWindow(max(10, settings.connections * 2))
        self._session = aws_session(settings.profile, settings.role_arn, settings.external_id)
        self._forced_checksum = settings.checksum  # the user's --s3-checksum beats a profile
        self._client = self.client(settings.checksum)
        self._parts = ThreadPoolExecutor(
            max(1, settings.connections), thread_name_prefix="s3v-part"
        )
        self._up: TokenBucket | None = None
        self._down: TokenBucket | None = None
        self._lock: LockPolicy | None = None
        self._retention: dict[str, tuple[float, str]] = {}  # name → (retain-until, version)
        self._retention_lock = threading.Lock()

    def client(self, checksum: str | None) -> Any:
        """A boto3 S3 client for these settings with this checksum mode (None: boto3's)."""
        s = self._s
        cfg: dict[str, Any] = {
            # botocore retries a little; RetryBackend retries on, to its deadline
            "retries": {"mode": "standard", "max_attempts": 3},
            "max_pool_connections": max(10, s.connections * 2),
            "connect_timeout": 10,
            "read_timeout": 60,
        }
        if s.path_style:
            cfg["s3"] = {"addressing_style": "path"}
        if checksum:
            cfg["request_checksum_calculation"] = checksum
            cfg["response_checksum_validation"] = checksum
        client = self._session.client(
            "s3",
            endpoint_url=s.endpoint_url,
            region_name=s.region,
            verify=s.verify_tls,
            config=botocore.config.Config(**cfg),
        )
        client.meta.events.register("before-send.s3", self._count_request)
        client.meta.events.register("needs-retry.s3", self._on_attempt)
        if checksum == "when_required":  # old stores want Content-MD5, not CRC32, here
            client.meta.events.register("before-sign.s3.DeleteObjects", _content_md5)
        return client

    def _call(self, operation: Any, /, **args: Any) -> Any:
        """One S3 call inside the congestion window."""
        with self.window.slot():
            return operation(**args)

    def _on_attempt(self, response: Any = None, **_kwargs: Any) -> None:
        """botocore's needs-retry event, after every attempt: throttling shrinks the window."""
        if response is None:
            return
        code = str(response[1].get("Error", {}).get("Code", ""))
        if code in THROTTLE_CODES or response[0].status_code == 429:
            self.window.throttled()

    @property
    def bucket(self) -> str:
        return self._s.bucket

    def key(self, name: str) -> str:
        """The object key of a repository name (prefix included)."""
        return self._prefix + name

    def probe(self) -> StoreProfile:
        """Find out what the store does (backend/s3probe.py), and adopt it."""
        from s3vault.backend.s3probe import probe

        profile = probe(self, self._forced_checksum)
        self.adopt(profile)
        return profile

    def adopt(self, profile: StoreProfile) -> None:
        """Work as the probe found: checksum mode (unless forced), conditional writes, part
        limit."""
        checksum = self._forced_checksum or profile.checksum
        changed = checksum != self._s.checksum
        self._s = dataclasses.replace(
            self._s,
            checksum=checksum,
            conditional_writes=profile.create_only != "none",
            atomic_create=profile.create_only == "atomic",
            compare_and_swap=profile.compare_and_swap,
            max_parts=min(self._s.max_parts, profile.max_parts),
        )
        if changed:
            self._client = self.client(checksum)

    def throttle(self, upload: TokenBucket | None, download: TokenBucket | None) -> None:
        """Take tokens from these buckets for every byte streamed (None: unlimited)."""
        self._up = upload
        self._down = download

    def _count_request(self, request: Any, event_name: str = "", **_kwargs: Any) -> None:
        operation = event_name.rsplit(".", 1)[-1]
        kind = _KIND_BY_OPERATION.get(operation) or _KIND_BY_METHOD.get(request.method, "get")
        with self._counts_lock:
            setattr(self.counts, kind, getattr(self.counts, kind) + 1)

    def _sent(self, nbytes: int) -> None:
        with self._counts_lock:
            self.counts.bytes_up += nbytes

    def md5_for(self, body: bytes, checksum: str | None) -> dict[str, Any]:
        """Content-MD5 for transport integrity where boto3 sends no checksum of its own
        (the ``when_required`` profile for stores that reject flexible checksums)."""
        if checksum != "when_required":
            return {}
        return {"ContentMD5": base64.b64encode(hashlib.md5(body).digest()).decode()}  # noqa: S324

    @property
    def location(self) -> str:
        """s3://bucket/prefix (and the endpoint when not AWS)."""
        where = f"s3://{self._s.bucket}/{self._prefix}".rstrip("/")
        return f"{where} at {self._s.endpoint_url}" if self._s.endpoint_url else where

    @property
    def remote(self) -> bool:
        """Every request is a round trip."""
        return True

    def _extra(self, name: str) -> dict[str, Any]:
        """Arguments for creating an object: storage class (data packs only), encryption."""
        extra: dict[str, Any] = self._owner()
        if self._s.storage_class and name.startswith("data/"):
            extra["StorageClass"] = self._s.storage_class
        if self._s.sse:
            extra["ServerSideEncryption"] = self._s.sse
            if self._s.kms_key_id:
                extra["SSEKMSKeyId"] = self._s.kms_key_id
        if self._lock is not None and not name.startswith(UNLOCKED_PREFIXES):
            until = SystemClock().now() + timedelta(seconds=self._lock.duration)
            extra["ObjectLockMode"] = self._lock.mode
            extra["ObjectLockRetainUntilDate"] = until
            with self._retention_lock:
                self._retention[name] = (until.timestamp(), "")
        return extra

    def _owner(self) -> dict[str, Any]:
        return {"ExpectedBucketOwner": self._s.bucket_owner} if self._s.bucket_owner else {}

    # Writing ----------------------------------------------------------------------------------

    def put(self, name: str, data: bytes | memoryview) -> None:
        """Create-only upload; multipart above the threshold."""
        key = self.key(name)
        if not self._s.conditional_writes:
            try:
                self.stat(name)
            except ObjectNotFoundError:
                pass
            else:
                raise ObjectExistsError(f"put {key}: already exists")
        body = bytes(data) if isinstance(data, memoryview) else data
        if len(body) > self._s.multipart_threshold:
            self._put_multipart(name, body, self._extra(name))
        else:
            args: dict[str, Any] = {
                "Bucket": self._s.bucket,
                "Key": key,
                "Body": body,
                **self._extra(name),
                **self.md5_for(body, self._s.checksum),
            }
            if self._s.conditional_writes:
                args["IfNoneMatch"] = "*"
            if self._up is not None:
                self._up.take(len(body))
            try:
                self._call(self._client.put_object, **args)
                self._sent(len(body))
            except Exception as exc:
                raise _error(exc, "put", key) from None
        size = self._size_after_write(name)
        if size != len(body):
            msg = f"put {key}: stored {size} bytes of {len(body)} (truncated upload)"
            raise TransientBackendError(msg)

    def _size_after_write(self, name: str) -> int:
        """The stored size of an object just written. A 404 here is a store that is not yet
        read-after-write consistent (StorageGRID, some gateways): asked again, with backoff.

        Raises:
            TransientBackendError: still not visible after about 3 seconds.
        """
        for delay in (0.1, 0.2, 0.4, 0.8, 1.6, 0.0):
            try:
                return self.stat(name).size
            except ObjectNotFoundError:
                if not delay:
                    break
                log.warning("%s not visible right after it was written: asking again", name)
                time.sleep(delay)
        msg = f"put {self.key(name)}: written, but not visible to a HEAD after 3 s"
        raise TransientBackendError(msg)

    def _put_multipart(self, name: str, body: bytes, extra: dict[str, Any]) -> None:
        key = self.key(name)
        part = max(MIN_PART, math.ceil(len(body) / (self._s.max_parts * 9 // 10)))
        try:
            upload = self._call(
                self._client.create_multipart_upload, Bucket=self._s.bucket, Key=key, **extra
            )
        except Exception as exc:
            raise _error(exc, "create multipart upload", key) from None
        upload_id = upload["UploadId"]
        view = memoryview(body)

        def send(number: int) -> dict[str, Any]:
            chunk = bytes(view[(number - 1) * part : number * part])
            if self._up is not None:
                self._up.take(len(chunk))
            r = self._call(
                self._client.upload_part,
                Bucket=self._s.bucket,
                Key=key,
                UploadId=upload_id,
                PartNumber=number,
                Body=chunk,
                **self._owner(),
                **self.md5_for(chunk, self._s.checksum),
            )
            self._sent(len(chunk))
            crash_point("mid-multipart")
            return {"PartNumber": number, "ETag": r["ETag"]}

        try:
            parts = list(self._parts.map(send, range(1, math.ceil(len(body) / part) + 1)))
            args: dict[str, Any] = {
                "Bucket": self._s.bucket,
                "Key": key,
                "UploadId": upload_id,
                "MultipartUpload": {"Parts": parts},
                **self._owner(),
            }
            if self._s.conditional_writes:
                args["IfNoneMatch"] = "*"
            try:
                self._call(self._client.complete_multipart_upload, **args)
            except botocore.exceptions.ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "NoSuchUpload":
                    raise
                # A retried Complete whose first attempt did complete (its answer was lost):
                # the upload is gone because the object exists. Size decides (never the ETag).
                if self._size_after_write(name) != len(body):
                    raise
                log.warning("completed upload of %s found after a lost answer", key)
        except Exception as exc:
            try:
                self._client.abort_multipart_upload(
                    Bucket=self._s.bucket, Key=key, UploadId=upload_id
                )
            except Exception:
                log.warning("could not abort multipart upload %s of %s", upload_id, key)
            raise _error(exc, "multipart upload", key) from None

    # Reading ----------------------------------------------------------------------------------

    def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        """Read (a range of) an object."""
        key = self.key(name)
        args: dict[str, Any] = {"Bucket": self._s.bucket, "Key": key, **self._owner()}
        if offset or length is not None:
            if length == 0:
                return b""
            end = "" if length is None else str(offset + length - 1)
            args["Range"] = f"bytes={offset}-{end}"
        try:
            with self.window.slot():
                body = self._read(self._client.get_object(**args)["Body"])
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "InvalidRange":
                return b""
            raise _error(exc, "get", key) from None
        except Exception as exc:
            raise _error(exc, "get", key) from None
        return body

    def _read(self, stream: Any) -> bytes:
        """Read a response body chunk by chunk, taking download tokens as bytes arrive."""
        if self._down is None:
            data: bytes = stream.read()
        else:
            pieces = []
            while piece := stream.read(READ_CHUNK):
                self._down.take(len(piece))
                pieces.append(piece)
            data = b"".join(pieces)
        with self._counts_lock:
            self.counts.bytes_down += len(data)
        return data

    def stat(self, name: str) -> ObjectInfo:
        """Size of an object (HEAD)."""
        key = self.key(name)
        try:
            head = self._call(
                self._client.head_object, Bucket=self._s.bucket, Key=key, **self._owner()
            )
        except Exception as exc:
            raise _error(exc, "head", key) from None
        return ObjectInfo(
            name=name,
            size=int(head["ContentLength"]),
            modified=head["LastModified"].timestamp(),
            version=str(head.get("ETag", "")),
        )

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        """Every object under a prefix; follows pagination to the end, errors raise."""
        full = self._prefix + prefix
        token: str | None = None
        seen_tokens: set[str] = set()
        while True:
            args: dict[str, Any] = {
                "Bucket": self._s.bucket,
                "Prefix": full,
                "MaxKeys": 1000,
                **self._owner(),
            }
            if token:
                args["ContinuationToken"] = token
            try:
                page = self._call(self._client.list_objects_v2, **args)
            except Exception as exc:
                raise _error(exc, "list", full) from None
            for item in page.get("Contents", []):
                key = item["Key"]
                yield ObjectInfo(
                    name=key[len(self._prefix) :],
                    size=int(item["Size"]),
                    modified=item["LastModified"].timestamp(),
                    version=str(item.get("ETag", "")),
                    storage_class=str(item.get("StorageClass", "STANDARD")),
                )
            if not page.get("IsTruncated"):
                return
            token = page.get("NextContinuationToken")
            if not token or token in seen_tokens:
                msg = f"list {full}: the store returned a truncated listing without a way on"
                raise BackendError(msg)
            seen_tokens.add(token)

    @property
    def guarantees(self) -> Guarantees:
        """As the settings say (from the capability probe, kept in the repository config)."""
        return Guarantees(
            atomic_create=self._s.conditional_writes and self._s.atomic_create,
            compare_and_swap=self._s.compare_and_swap,
        )

    def _targets(self, names: Sequence[str]) -> builtins.list[dict[str, str]]:
        """DeleteObjects entries. Under Object Lock, content-addressed objects are deleted by
        version id (so the space is freed and a locked version is refused by the store);
        objects that are overwritten (keys, config) get a delete marker, which hides every
        version of them."""
        out: builtins.list[dict[str, str]] = []
        for name in names:
            if self._lock is None or not name.startswith(VERSION_DELETED):
                out.append({"Key": self.key(name)})
                continue
            with self._retention_lock:
                version = self._retention.get(name, (0.0, ""))[1]
            if not version:
                found = self._head_retention(name)
                if found is None:
                    continue  # gone already
                version = found[1]
            target = {"Key": self.key(name)}
            if version:
                target["VersionId"] = version
            out.append(target)
        return out

    def delete_many(self, names: Sequence[str]) -> None:
        """DeleteObjects, 1,000 keys per request. Its answer is a 200 that lists the keys it
        could not delete: every one is looked at, never taken as done."""
        failed: list[str] = []
        transient = True
        for start in range(0, len(names), DELETE_OBJECTS_MAX):
            targets = self._targets(names[start : start + DELETE_OBJECTS_MAX])
            if not targets:
                continue
            keys = [t["Key"] for t in targets]
            try:
                answer = self._call(
                    self._client.delete_objects,
                    Bucket=self._s.bucket,
                    Delete={"Objects": targets, "Quiet": True},
                    **self._owner(),
                )
            except Exception as exc:
                raise _error(exc, "delete", f"{keys[0]} and {len(keys) - 1} more") from None
            for error in answer.get("Errors", []):
                code = str(error.get("Code", ""))
                if code == "NoSuchKey":
                    continue
                failed.append(f"{error.get('Key')}: {code} ({error.get('Message', '')})")
                transient = transient and (code in TRANSIENT_CODES or code in THROTTLE_CODES)
        if failed:
            shown = "; ".join(failed[:3]) + (
                f" and {len(failed) - 3} more" if len(failed) > 3 else ""
            )
            msg = f"delete: {len(failed)} of {len(names)} objects could not be removed: {shown}"
            raise TransientBackendError(msg) if transient else BackendError(msg)

    def replace(self, name: str, data: bytes, version: str) -> ObjectInfo:
        """Compare-and-swap with ``If-Match: <ETag>`` (412 → VersionMismatchError; 409
        ConditionalRequestConflict is transient and retried)."""
        key = self.key(name)
        if not self._s.compare_and_swap:
            msg = f"replace {key}: this store does not support conditional overwrites (If-Match)"
            raise UnsupportedOperationError(msg)
        try:
            self._call(
                self._client.put_object,
                Bucket=self._s.bucket,
                Key=key,
                Body=data,
                IfMatch=version,
                **self._extra(name),
                **self.md5_for(data, self._s.checksum),
            )
        except botocore.exceptions.ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            if status == 412:
                raise VersionMismatchError(f"replace {key}: changed since it was read") from None
            if status == 501:
                msg = f"replace {key}: this store does not support conditional overwrites"
                raise UnsupportedOperationError(msg) from None
            raise _error(exc, "replace", key) from None
        except Exception as exc:
            raise _error(exc, "replace", key) from None
        return self.stat(name)

    # Object Lock (backend/objectlock.py) ----------------------------------------------------

    def adopt_lock(self, policy: LockPolicy) -> None:
        """Lock every object created from now on under ``policy``."""
        self._lock = policy

    def _head_retention(self, name: str) -> tuple[float, str] | None:
        key = self.key(name)
        try:
            head = self._call(
                self._client.head_object, Bucket=self._s.bucket, Key=key, **self._owner()
            )
        except Exception as exc:
            error = _error(exc, "head", key)
            if isinstance(error, ObjectNotFoundError):
                return None
            raise error from None
        until = head.get("ObjectLockRetainUntilDate")
        found = (until.timestamp() if until else 0.0, str(head.get("VersionId") or ""))
        with self._retention_lock:
            self._retention[name] = found
        return found

    def retained_until(self, names: Sequence[str]) -> dict[str, float]:
        """HEAD each object: those whose retain-until is still ahead (store clock)."""
        if not names:
            return {}
        now = self.server_time()
        found = list(self._parts.map(self._head_retention, names))
        return {n: f[0] for n, f in zip(names, found, strict=True) if f and f[0] > now}

    def extend_retention(self, names: Sequence[str], until: float) -> int:
        """PutObjectRetention for the objects known to be locked for less than ``until``
        (unknown ones included): they get ``until`` plus the policy's margin."""
        policy = self._lock
        if policy is None:
            return 0
        with self._retention_lock:
            todo = [
                n
                for n in names
                if not n.startswith(UNLOCKED_PREFIXES)
                and self._retention.get(n, (0.0, ""))[0] < until
            ]
        target = datetime.fromtimestamp(until + policy.margin, UTC)

        def extend(name: str) -> None:
            key = self.key(name)
            try:
                self._call(
                    self._client.put_object_retention,
                    Bucket=self._s.bucket,
                    Key=key,
                    Retention={"Mode": policy.mode, "RetainUntilDate": target},
                    **self._owner(),
                )
            except Exception as exc:
                # Never shortened: a retention already longer (set by another host) is fine.
                found = self._head_retention(name)
                if found is None or found[0] < until:
                    raise _error(exc, "put retention", key) from None
                return
            with self._retention_lock:
                old = self._retention.get(name, (0.0, ""))
                self._retention[name] = (target.timestamp(), old[1])

        list(self._parts.map(extend, todo))
        return len(todo)

    def known_retention(self) -> dict[str, float]:
        """Every retain-until this process wrote or read (to keep across runs)."""
        with self._retention_lock:
            return {n: u for n, (u, _) in self._retention.items()}

    def remember_retention(self, known: dict[str, float]) -> None:
        """Retain-until times learnt by earlier runs on this host."""
        with self._retention_lock:
            for name, until in known.items():
                if name not in self._retention:
                    self._retention[name] = (until, "")

    def temporaries(self) -> Iterator[ObjectInfo]:
        """None: S3 writes objects whole; an interrupted multipart upload is never an object
        and the bucket's lifecycle rule aborts it (docs/s3.md)."""
        return iter(())

    def delete_temporary(self, name: str) -> None:
        """Refused: S3 keeps no temporary files."""
        msg = f"{name!r}: S3 keeps no temporary files"
        raise BackendError(msg)

    def server_time(self) -> float:
        """The store's clock, from the Date header of a HEAD on the bucket."""
        try:
            meta = self._call(self._client.head_bucket, Bucket=self._s.bucket, **self._owner())
        except Exception as exc:
            raise _error(exc, "head bucket", self._s.bucket) from None
        date = meta["ResponseMetadata"]["HTTPHeaders"].get("date")
        if not date:
            msg = f"head bucket {self._s.bucket}: the store sent no Date header"
            raise BackendError(msg)
        return email.utils.parsedate_to_datetime(date).timestamp()

    def delete(self, name: str) -> None:
        """Remove an object (HEAD first: S3 DELETE of a missing key succeeds silently)."""
        self.stat(name)
        if self._lock is not None and name.startswith(VERSION_DELETED):
            self.delete_many([name])
            return
        key = self.key(name)
        try:
            self._call(self._client.delete_object, Bucket=self._s.bucket, Key=key, **self._owner())
        except Exception as exc:
            raise _error(exc, "delete", key) from None
