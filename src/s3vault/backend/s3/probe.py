"""The capability probe for S3 stores (run by ``init``): try what s3vault relies on, with a few
small objects under ``probe/<random>/``, and remove them again.

1. Uploads: a PutObject with boto3's default checksums (aws-chunked + trailing CRC32 over
   https). A store that rejects it (Swift 2.30: 501, Ceph 16: 411, B2: 400) gets the
   compatibility dialect: ``when_required`` + Content-MD5, tried next.
2. Create-only writes: ``If-None-Match: *`` twice in a row must give 200 then 412; then
   ``RACE_ROUNDS`` rounds of ``RACE_WRITERS`` concurrent creates of one name must each have
   exactly one winner ("atomic"), else "sequential" (Swift 2.38: several winners in most
   rounds); a store that ignores or refuses the header is "none".
3. Compare-and-swap: ``If-Match`` with the current ETag must succeed and with a stale one
   must give 412.
4. Object Lock on the bucket; 5. the highest part number (10,000 on AWS, 1,000 on a default
   Swift).

About 50 small requests. ``adopted`` turns what was found into the settings the store is then
used with (an explicit --s3-checksum still wins). Of the byte stores, only backend/s3/client.py
and errors.py import boto3/botocore (cloud/ imports them for the other AWS services).
"""

from __future__ import annotations

import datetime
import logging
import os
import threading
from collections.abc import Callable
from typing import Any

from s3vault.backend.dialect import StoreDialect
from s3vault.backend.s3.client import Connection, S3Settings, md5_for
from s3vault.backend.s3.errors import error_code, http_status, untrusted_certificate
from s3vault.errors import AccessDeniedError, BackendError, NoSuchBucketError

log = logging.getLogger(__name__)

RACE_ROUNDS = 5
RACE_WRITERS = 8
RACE_TRIES = 3  # a racing create that fails otherwise than 412 (a fault) is sent again


def _code(exc: Exception) -> str:
    code = error_code(exc)
    return type(exc).__name__ if code is None else code


class _Probe:
    def __init__(self, conn: Connection, checksum: str | None) -> None:
        self.conn = conn
        self.bucket = conn.bucket
        self.base = conn.key(f"probe/{os.urandom(8).hex()}/")
        self.forced = checksum
        self.mode = checksum
        self.client: Any = conn.new_client(checksum)
        self.written: set[str] = set()
        self.notes: list[str] = []

    def put(self, name: str, body: bytes, **extra: Any) -> dict[str, Any]:
        key = self.base + name
        args = {"Bucket": self.bucket, "Key": key, "Body": body, **self._md5(body)}
        args.update(extra)
        result: dict[str, Any] = self.client.put_object(**args)
        self.written.add(key)
        return result

    def _md5(self, body: bytes) -> dict[str, Any]:
        return md5_for(body, self.mode)

    def checksum_mode(self) -> str:
        if self.forced:
            try:
                self.put("upload", b"probe")  # the user's choice must work
            except Exception as exc:
                self._denied(exc)
                msg = f"probe: uploads with --s3-checksum {self.forced} fail: {_code(exc)}: {exc}"
                raise BackendError(msg) from None
            return self.forced
        try:
            self.put("upload", b"probe")
            return "when_supported"
        except Exception as exc:
            self._denied(exc)
            first = f"{_code(exc)} (HTTP {http_status(exc)})"
        self.mode = "when_required"
        self.client = self.conn.new_client(self.mode)
        try:
            self.put("upload", b"probe")
        except Exception as exc:
            msg = (
                f"probe: uploads fail with boto3's default checksums ({first}) and with "
                f"the compatibility dialect ({_code(exc)}): {exc}"
            )
            raise BackendError(msg) from None
        self.notes.append(
            f"this store rejects boto3's default upload format ({first}): using the "
            "compatibility dialect (when_required checksums + Content-MD5)"
        )
        return "when_required"

    def _denied(self, exc: Exception) -> None:
        """A first upload refused for lack of permission, or over TLS this host does not trust,
        says so (not an upload format)."""
        untrusted = untrusted_certificate(exc, f"put {self.base}upload")
        if untrusted is not None:
            raise untrusted from None
        if _code(exc) == "NoSuchBucket":
            msg = (
                f"the bucket {self.bucket} does not exist: create it first (s3vault "
                "setup-bucket makes one as docs/s3.md recommends), then run the command again"
            )
            raise NoSuchBucketError(msg) from None
        if _code(exc) == "AccessDenied":
            msg = (
                f"put {self.base}upload: access denied: this credential may not write here (a "
                "read-only or restore-only credential, or a bucket policy); probing the store "
                "(init, doctor) needs one that may (s3vault iam-policy)"
            )
            raise AccessDeniedError(msg) from None

    def _landed(self, exc: Exception, name: str, body: bytes) -> bool:
        """A conditional write answered 412 whose first attempt did land (its answer was lost
        and botocore's retry met the object it had stored): not a refusal. Without this, one
        lost answer during init recorded a store that has the feature as one that has not,
        for good (the lease then uses claim objects)."""
        if http_status(exc) != 412:
            return False
        try:
            stored = self.client.get_object(Bucket=self.bucket, Key=self.base + name)
        except Exception:
            return False
        self.written.add(self.base + name)
        return bool(stored["Body"].read() == body)

    def create_only(self) -> str:
        try:
            self.put("once", b"1", IfNoneMatch="*")
        except Exception as exc:
            if not self._landed(exc, "once", b"1"):
                self.notes.append(f"create-only writes (If-None-Match) refused: {_code(exc)}")
                return "none"
        try:
            self.put("once", b"2", IfNoneMatch="*")
        except Exception as exc:
            if http_status(exc) != 412:
                self.notes.append(f"create-only writes answer {_code(exc)}, not 412")
                return "none"
        else:
            self.notes.append("create-only writes (If-None-Match) are ignored")
            return "none"
        for round_ in range(RACE_ROUNDS):
            wins = self._race(f"race-{round_}")
            if wins != 1:
                self.notes.append(
                    f"create-only writes are not atomic: {wins} of {RACE_WRITERS} concurrent "
                    "writers of one name succeeded; the maintenance lease uses claim objects"
                )
                return "sequential"
        return "atomic"

    def _race(self, name: str) -> int:
        wins: list[int] = []
        lock = threading.Lock()
        start = threading.Barrier(RACE_WRITERS)

        def contend(n: int) -> None:
            start.wait()
            for _ in range(RACE_TRIES):  # only a 412 loses; another failure is asked again
                try:
                    self.put(name, str(n).encode(), IfNoneMatch="*")
                except Exception as exc:
                    if http_status(exc) != 412:
                        continue
                    if not self._landed(exc, name, str(n).encode()):
                        return
                with lock:
                    wins.append(n)
                return

        threads = [threading.Thread(target=contend, args=(n,)) for n in range(RACE_WRITERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return len(wins)

    def compare_and_swap(self) -> bool:
        first = self.put("cas", b"1")
        try:
            self.put("cas", b"2", IfMatch=first["ETag"])
        except Exception as exc:
            if not self._landed(exc, "cas", b"2"):
                self.notes.append(f"conditional overwrites (If-Match) refused: {_code(exc)}")
                return False
        try:
            self.put("cas", b"3", IfMatch=first["ETag"])
        except Exception as exc:
            return http_status(exc) == 412
        self.notes.append("conditional overwrites (If-Match) are ignored")
        return False

    def object_lock(self) -> bool:
        try:
            got = self.client.get_object_lock_configuration(Bucket=self.bucket)
        except Exception:
            return False
        return bool(got.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") == "Enabled")

    def max_parts(self) -> int:
        key = self.base + "parts"
        try:
            upload = self.client.create_multipart_upload(Bucket=self.bucket, Key=key)
        except Exception as exc:
            raise BackendError(f"probe: multipart uploads fail: {_code(exc)}") from None
        try:
            self.client.upload_part(
                Bucket=self.bucket,
                Key=key,
                UploadId=upload["UploadId"],
                PartNumber=10000,
                Body=b"x",
                **self._md5(b"x"),
            )
            return 10000
        except Exception:
            self.notes.append("this store accepts at most 1,000 parts per upload")
            return 1000
        finally:
            try:
                self.client.abort_multipart_upload(
                    Bucket=self.bucket, Key=key, UploadId=upload["UploadId"]
                )
            except Exception:
                log.warning("probe: could not abort the multipart upload of %s", key)

    def clean_up(self) -> None:
        for key in sorted(self.written):
            try:
                self.client.delete_object(Bucket=self.bucket, Key=key)
            except Exception:
                log.warning("probe: could not remove %s", key)


def probe(conn: Connection, checksum: str | None, server_time: Callable[[], float]) -> StoreDialect:
    """Find out what the store does (``checksum``: the mode the user forced, if any;
    ``server_time``: the store's clock, for the time of the probe).

    Raises:
        BackendError: the store accepts no upload at all, or no multipart upload.
    """
    p = _Probe(conn, checksum)
    try:
        mode = p.checksum_mode()
        create_only = p.create_only()
        cas = p.compare_and_swap()
        lock = p.object_lock()
        parts = p.max_parts()
    finally:
        p.clean_up()
    return StoreDialect(
        checksum=mode,
        create_only=create_only,
        compare_and_swap=cas,
        object_lock=lock,
        max_parts=parts,
        probed_at=datetime.datetime.fromtimestamp(server_time(), datetime.UTC).isoformat(
            timespec="seconds"
        ),
        notes=tuple(p.notes),
    )


def adopted(settings: S3Settings, dialect: StoreDialect, forced: str | None) -> dict[str, Any]:
    """The settings to change so the store is used as the probe found: checksum mode (unless
    ``forced``), conditional writes, part limit."""
    return {
        "checksum": forced or dialect.checksum,
        "conditional_writes": dialect.create_only != "none",
        "atomic_create": dialect.create_only == "atomic",
        "compare_and_swap": dialect.compare_and_swap,
        "max_parts": min(settings.max_parts, dialect.max_parts),
    }
