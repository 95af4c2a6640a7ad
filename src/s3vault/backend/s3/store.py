"""S3Backend: the Backend contract (backend/base.py) on objects in an S3 bucket (AWS or
S3-compatible). Contract details for S3:

- put is create-only with ``If-None-Match: *``; a 412 means the object exists. On a store that
  ignores the header (``conditional_writes=False``) a HEAD precedes the PUT, which is
  race-free for s3vault's content-addressed names (identical bytes under one name).
- Objects above ``multipart_threshold`` go up in parts (backend/s3/multipart.py). After an
  upload the object's size is checked before the call returns.
- Errors are translated in one table (backend/s3/errors.py).
- Listing follows ListObjectsV2 pagination to the end; an error is raised, never read as "no
  more objects".
- ``counts`` and ``throttle``: the requests actually sent and the bytes actually streamed
  (backend/s3/traffic.py). ``probe``/``adopt``: the store's capabilities (backend/s3/probe.py).
  ``adopt_lock`` and the retain-until calls: Object Lock (backend/s3/objectlock.py).
"""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from s3vault.backend.accounting import RequestCounts
from s3vault.backend.base import ARCHIVE_CLASSES, Guarantees, ObjectInfo
from s3vault.backend.capabilities import Capabilities
from s3vault.backend.congestion import CongestionWindow
from s3vault.backend.dialect import StoreDialect
from s3vault.backend.objectlock import LockPolicy
from s3vault.backend.ratelimit import TokenBucket
from s3vault.backend.s3.client import Connection, S3Settings
from s3vault.backend.s3.errors import (
    THROTTLE_CODES,
    TRANSIENT_CODES,
    checksum_mismatch,
    error_code,
    http_status,
    translate,
)
from s3vault.backend.s3.multipart import put_multipart
from s3vault.backend.s3.objectlock import S3ObjectLock
from s3vault.backend.s3.probe import adopted, probe
from s3vault.backend.s3.traffic import Traffic
from s3vault.errors import (
    BackendError,
    ObjectExistsError,
    ObjectNotFoundError,
    TransientBackendError,
    UnsupportedOperationError,
    VersionMismatchError,
)

log = logging.getLogger(__name__)

CHECKSUM_READS = 3  # a body that fails the store's checksum this often in a row is damage
DELETE_OBJECTS_MAX = 1000


class S3Backend:
    """A repository under ``s3://bucket/prefix``."""

    def __init__(self, settings: S3Settings) -> None:
        self._traffic = Traffic(settings.connections)
        self.counts: RequestCounts = self._traffic.counts
        self.window: CongestionWindow = self._traffic.window
        self._conn = Connection(settings, self._traffic)
        self._forced_checksum = settings.checksum  # the user's --s3-checksum beats a dialect
        self._parts = ThreadPoolExecutor(
            max(1, settings.connections), thread_name_prefix="s3v-part"
        )
        self._object_lock = S3ObjectLock(self._conn, self._parts, self.server_time)
        self._archive_said = False  # the warning of an archive storage class, once

    @property
    def _s(self) -> S3Settings:
        return self._conn.settings

    @property
    def _client(self) -> Any:
        """The boto3 client in use (tests hook botocore events on it)."""
        return self._conn.client

    @property
    def bucket(self) -> str:
        """The bucket's name."""
        return self._s.bucket

    def key(self, name: str) -> str:
        """The object key of a repository name (prefix included)."""
        return self._conn.key(name)

    @property
    def location(self) -> str:
        """s3://bucket/prefix (and the endpoint when not AWS)."""
        where = f"s3://{self._s.bucket}/{self._conn.prefix}".rstrip("/")
        return f"{where} at {self._s.endpoint_url}" if self._s.endpoint_url else where

    @property
    def remote(self) -> bool:
        """Every request is a round trip."""
        return True

    @property
    def guarantees(self) -> Guarantees:
        """As the settings say (from the capability probe, kept in the repository config)."""
        return Guarantees(
            atomic_create=self._s.conditional_writes and self._s.atomic_create,
            compare_and_swap=self._s.compare_and_swap,
        )

    @property
    def capabilities(self) -> Capabilities:
        """All three: it streams (counts its requests, throttles its bytes), it can be probed,
        and it can lock objects (whether the bucket has Object Lock is the probe's finding)."""
        return Capabilities(streaming=self._traffic, probing=self, object_lock=self._object_lock)

    # Capabilities (also reachable through ``capabilities``) --------------------------------

    def probe(self) -> StoreDialect:
        """Find out what the store does (backend/s3/probe.py), and adopt it."""
        dialect = probe(self._conn, self._forced_checksum, self.server_time)
        self.adopt(dialect)
        return dialect

    def adopt(self, dialect: StoreDialect) -> None:
        """Work as the probe found: checksum mode (unless forced), conditional writes, part
        limit."""
        self._conn.reconfigure(**adopted(self._s, dialect, self._forced_checksum))

    def throttle(self, upload: TokenBucket | None, download: TokenBucket | None) -> None:
        """Take tokens from these buckets for every byte streamed (None: unlimited)."""
        self._traffic.throttle(upload, download)

    def adopt_lock(self, policy: LockPolicy) -> None:
        """Lock every object created from now on under ``policy``."""
        self._object_lock.adopt_lock(policy)

    def retained_until(self, names: Sequence[str]) -> dict[str, float]:
        """HEAD each object: those whose retain-until is still ahead (store clock)."""
        return self._object_lock.retained_until(names)

    def extend_locks(self, names: Sequence[str], until: float) -> int:
        """PutObjectRetention for the objects known to be locked for less than ``until``."""
        return self._object_lock.extend_locks(names, until)

    def known_locks(self) -> dict[str, float]:
        """Every retain-until this process wrote or read (to keep across runs)."""
        return self._object_lock.known_locks()

    def remember_locks(self, known: dict[str, float]) -> None:
        """Retain-until times learnt by earlier runs on this host."""
        self._object_lock.remember_locks(known)

    # Writing ----------------------------------------------------------------------------------

    def _extra(self, name: str) -> dict[str, Any]:
        """Arguments for creating an object: storage class (data packs only), encryption,
        Object Lock."""
        extra: dict[str, Any] = self._conn.owner()
        if self._s.storage_class and name.startswith("data/"):
            extra["StorageClass"] = self._data_class(self._s.storage_class)
        if self._s.sse:
            extra["ServerSideEncryption"] = self._s.sse
            if self._s.kms_key_id:
                extra["SSEKMSKeyId"] = self._s.kms_key_id
        extra.update(self._object_lock.create_args(name))
        return extra

    def _data_class(self, given: str) -> str:
        """``data_class``, and once per store, when it is an archive class, a warning:
        restore, verify --read-data, restore-test, copy and prune's repacking cannot read
        such packs until they are restored from the archive; a backup with it exited 0
        without a word (an attack pass, 2026-12-07)."""
        spelled = data_class(given)
        if spelled in ARCHIVE_CLASSES and not self._archive_said:
            self._archive_said = True
            log.warning(
                "--s3-storage-class %s archives the data packs: restore, verify --read-data, "
                "restore-test, copy and prune's repacking cannot read them until each is "
                "restored from the archive (hours); GLACIER_IR reads at once (docs/s3.md)",
                spelled,
            )
        return spelled

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
            put_multipart(
                self._conn,
                self._traffic,
                self._parts,
                name=name,
                body=body,
                extra=self._extra(name),
                stored_size=self._size_after_write,
            )
        else:
            args: dict[str, Any] = {
                "Bucket": self._s.bucket,
                "Key": key,
                "Body": body,
                **self._extra(name),
                **self._conn.md5(body),
            }
            if self._s.conditional_writes:
                args["IfNoneMatch"] = "*"
            self._traffic.sending(len(body))
            try:
                self._conn.call("put_object", **args)
                self._traffic.sent(len(body))
            except Exception as exc:
                raise translate(exc, "put", key) from None
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

    def replace(self, name: str, data: bytes, version: str) -> ObjectInfo:
        """Compare-and-swap with ``If-Match: <ETag>`` (412 → VersionMismatchError; 409
        ConditionalRequestConflict is transient and retried)."""
        key = self.key(name)
        if not self._s.compare_and_swap:
            msg = f"replace {key}: this store does not support conditional overwrites (If-Match)"
            raise UnsupportedOperationError(msg)
        try:
            self._conn.call(
                "put_object",
                Bucket=self._s.bucket,
                Key=key,
                Body=data,
                IfMatch=version,
                **self._extra(name),
                **self._conn.md5(data),
            )
        except Exception as exc:
            status = http_status(exc)
            if status == 412:
                raise VersionMismatchError(f"replace {key}: changed since it was read") from None
            if status == 501:
                msg = f"replace {key}: this store does not support conditional overwrites"
                raise UnsupportedOperationError(msg) from None
            raise translate(exc, "replace", key) from None
        return self.stat(name)

    # Reading ----------------------------------------------------------------------------------

    def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        """Read (a range of) an object."""
        key = self.key(name)
        args: dict[str, Any] = {"Bucket": self._s.bucket, "Key": key, **self._conn.owner()}
        if offset or length is not None:
            if length == 0:
                return b""
            end = "" if length is None else str(offset + length - 1)
            args["Range"] = f"bytes={offset}-{end}"
        for attempt in range(1, CHECKSUM_READS + 1):
            try:
                with self.window.slot():
                    body = self._traffic.read(self._conn.own_client().get_object(**args)["Body"])
            except Exception as exc:
                if error_code(exc) == "InvalidRange":
                    return b""
                if not checksum_mismatch(exc):
                    raise translate(exc, "get", key) from None
                # the body did not match the checksum the store sent: damaged on its way (read
                # again), or where it is stored (the same every time: damage, never "retry
                # later", which would make verify call it unreachable, exit 14, not 13)
                if attempt == CHECKSUM_READS:
                    msg = (
                        f"get {key}: its bytes do not match the store's own checksum, "
                        f"{CHECKSUM_READS} reads in a row (damaged where it is stored)"
                    )
                    raise BackendError(msg) from None
                continue
            return body
        raise AssertionError("unreachable: the last read returns or raises")  # pragma: no cover

    def stat(self, name: str) -> ObjectInfo:
        """Size of an object (HEAD)."""
        key = self.key(name)
        try:
            head = self._conn.call(
                "head_object", Bucket=self._s.bucket, Key=key, **self._conn.owner()
            )
        except Exception as exc:
            raise translate(exc, "head", key) from None
        return ObjectInfo(
            name=name,
            size=int(head["ContentLength"]),
            modified=head["LastModified"].timestamp(),
            version=str(head.get("ETag", "")),
        )

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        """Every object under a prefix; follows pagination to the end, errors raise."""
        full = self._conn.prefix + prefix
        token: str | None = None
        seen_tokens: set[str] = set()
        # keys listed so far: a key again is the same object, and a page of nothing new means
        # a listing that repeats itself (a gateway serving one page under fresh tokens listed
        # for ever). Not an order check: Storj lists by its encrypted keys, not alphabetically
        listed: set[str] = set()
        while True:
            args: dict[str, Any] = {
                "Bucket": self._s.bucket,
                "Prefix": full,
                "MaxKeys": 1000,
                **self._conn.owner(),
            }
            if token:
                args["ContinuationToken"] = token
            try:
                page = self._conn.call("list_objects_v2", **args)
            except Exception as exc:
                raise translate(exc, "list", full) from None
            _check_listing(page, self._s.bucket, full)
            contents = page.get("Contents", [])
            before = len(listed)
            for item in contents:
                key = item["Key"]
                if key in listed:
                    continue
                listed.add(key)
                yield ObjectInfo(
                    name=key[len(self._conn.prefix) :],
                    size=int(item["Size"]),
                    modified=item["LastModified"].timestamp(),
                    version=str(item.get("ETag", "")),
                    storage_class=str(item.get("StorageClass", "STANDARD")),
                )
            if contents and len(listed) == before:
                msg = (
                    f"list {full}: the store's listing repeats itself (a page of keys it had "
                    "listed already): it would never end; not trusted"
                )
                raise BackendError(msg)
            if not page.get("IsTruncated"):
                return
            token = page.get("NextContinuationToken")
            if not token or token in seen_tokens:
                msg = f"list {full}: the store returned a truncated listing without a way on"
                raise BackendError(msg)
            seen_tokens.add(token)

    def server_time(self) -> float:
        """The store's clock, from the Date header of a HEAD on the bucket."""
        try:
            meta = self._conn.call("head_bucket", Bucket=self._s.bucket, **self._conn.owner())
        except Exception as exc:
            raise translate(exc, "head bucket", self._s.bucket) from None
        date = meta["ResponseMetadata"]["HTTPHeaders"].get("date")
        if not date:
            msg = f"head bucket {self._s.bucket}: the store sent no Date header"
            raise BackendError(msg)
        return email.utils.parsedate_to_datetime(date).timestamp()

    def temporaries(self) -> Iterator[ObjectInfo]:
        """None: S3 writes objects whole; an interrupted multipart upload is never an object
        and the bucket's lifecycle rule aborts it (docs/s3.md)."""
        return iter(())

    # Deleting ---------------------------------------------------------------------------------

    def delete_many(self, names: Sequence[str]) -> None:
        """DeleteObjects, 1,000 keys per request. Its answer is a 200 that lists the keys it
        could not delete: every one is looked at, never taken as done."""
        failed: list[str] = []
        transient = True
        for start in range(0, len(names), DELETE_OBJECTS_MAX):
            targets = self._object_lock.delete_targets(names[start : start + DELETE_OBJECTS_MAX])
            if not targets:
                continue
            keys = [t["Key"] for t in targets]
            try:
                answer = self._conn.call(
                    "delete_objects",
                    Bucket=self._s.bucket,
                    Delete={"Objects": targets, "Quiet": True},
                    **self._conn.owner(),
                )
            except Exception as exc:
                raise translate(exc, "delete", f"{keys[0]} and {len(keys) - 1} more") from None
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

    def delete(self, name: str) -> None:
        """Remove an object (HEAD first: S3 DELETE of a missing key succeeds silently)."""
        self.stat(name)
        if self._object_lock.deletes_by_version(name):
            self.delete_many([name])
            return
        key = self.key(name)
        try:
            self._conn.call("delete_object", Bucket=self._s.bucket, Key=key, **self._conn.owner())
        except Exception as exc:
            raise translate(exc, "delete", key) from None

    def delete_temporary(self, name: str) -> None:
        """Refused: S3 keeps no temporary files."""
        msg = f"{name!r}: S3 keeps no temporary files"
        raise BackendError(msg)


def _check_listing(page: dict[str, Any], bucket: str, prefix: str) -> None:
    """A reply is a listing of this bucket and prefix, or no listing at all: a 200 with an
    empty body, an HTML page of a proxy or a gateway's error, or XML of something else parses
    to no entries, and an empty listing read as true tells prune that every snapshot is gone
    and backups that every pack is (docs/s3.md: listings are never trusted blindly). Every
    S3 implementation's ListBucketResult names the bucket (and echoes the prefix, if at all,
    as it was asked).

    Raises:
        TransientBackendError: not a listing (retried, then the command stops: exit 14).
    """
    named = page.get("Name")
    echoed = page.get("Prefix")  # a store that leaves it out is believed on the bucket's name
    contents = page.get("Contents", [])
    count = page.get("KeyCount")
    other_prefix = echoed is not None and (echoed or "") != prefix
    if named != bucket or other_prefix or (count is not None and count != len(contents)):
        msg = (
            f"list {prefix}: the store's reply is no listing of bucket {bucket!r} and this "
            f"prefix (bucket {named!r}, prefix {echoed!r}, {len(contents)} entries): not taken "
            "as an empty listing"
        )
        raise TransientBackendError(msg)


# AWS's storage classes, as its API spells them: a class typed in lower case (standard_ia) was
# refused at the first upload (an attack pass, 2026-12-07). Other names pass as typed: an
# S3-compatible store may define its own (Ceph's placement targets).
AWS_CLASSES = frozenset(
    {
        "STANDARD",
        "REDUCED_REDUNDANCY",
        "STANDARD_IA",
        "ONEZONE_IA",
        "INTELLIGENT_TIERING",
        "GLACIER",
        "DEEP_ARCHIVE",
        "OUTPOSTS",
        "GLACIER_IR",
        "SNOW",
        "EXPRESS_ONEZONE",
    }
)


def data_class(given: str) -> str:
    """The storage class of data packs as the store's API spells it: AWS's names in upper
    case, any other as given."""
    return given.upper() if given.upper() in AWS_CLASSES else given
