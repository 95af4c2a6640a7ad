"""Multipart uploads: objects above the multipart threshold go up in equal parts (Cloudflare R2
needs equal non-trailing parts), several at once, each taking its upload tokens as it is sent.
A failed upload is aborted, never left behind. A retried Complete whose first attempt did
complete (its answer lost) finds the upload gone: the stored size decides, never the ETag.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from s3vault.backend.s3.client import Connection
from s3vault.backend.s3.errors import error_code, translate
from s3vault.backend.s3.traffic import Traffic
from s3vault.crashpoint import crash_point

log = logging.getLogger(__name__)

MIN_PART = 8 * 1024 * 1024


def part_size(size: int, max_parts: int) -> int:
    """Equal parts of at least 8 MiB, few enough to stay within 90% of the store's limit."""
    return max(MIN_PART, math.ceil(size / (max_parts * 9 // 10)))


def put_multipart(
    conn: Connection,
    traffic: Traffic,
    parts: ThreadPoolExecutor,
    *,
    name: str,
    body: bytes,
    extra: dict[str, Any],
    stored_size: Callable[[str], int],
) -> None:
    """Upload ``body`` as ``name`` in parts sent on the ``parts`` pool (``extra``: the create
    arguments; ``stored_size``: the store's size check after a write).

    Raises:
        BackendError: translated (backend/s3/errors.py); the upload was aborted.
    """
    key = conn.key(name)
    settings = conn.settings
    part = part_size(len(body), settings.max_parts)
    try:
        upload = conn.call("create_multipart_upload", Bucket=settings.bucket, Key=key, **extra)
    except Exception as exc:
        raise translate(exc, "create multipart upload", key) from None
    upload_id = upload["UploadId"]
    view = memoryview(body)

    def send(number: int) -> dict[str, Any]:
        chunk = bytes(view[(number - 1) * part : number * part])
        traffic.sending(len(chunk))
        r = conn.call(
            "upload_part",
            Bucket=settings.bucket,
            Key=key,
            UploadId=upload_id,
            PartNumber=number,
            Body=chunk,
            **conn.owner(),
            **conn.md5(chunk),
        )
        traffic.sent(len(chunk))
        crash_point("mid-multipart")
        return {"PartNumber": number, "ETag": r["ETag"]}

    try:
        sent = list(parts.map(send, range(1, math.ceil(len(body) / part) + 1)))
        args: dict[str, Any] = {
            "Bucket": settings.bucket,
            "Key": key,
            "UploadId": upload_id,
            "MultipartUpload": {"Parts": sent},
            **conn.owner(),
        }
        if settings.conditional_writes:
            args["IfNoneMatch"] = "*"
        try:
            conn.call("complete_multipart_upload", **args)
        except Exception as exc:
            if error_code(exc) != "NoSuchUpload":
                raise
            # A retried Complete whose first attempt did complete (its answer was lost):
            # the upload is gone because the object exists. Size decides (never the ETag).
            if stored_size(name) != len(body):
                raise
            log.warning("completed upload of %s found after a lost answer", key)
        _abort_strays(conn, key, upload_id)
    except Exception as exc:
        try:  # one try: the failure has had its own (a lifecycle rule ends what is left)
            conn.once_client().abort_multipart_upload(
                Bucket=settings.bucket, Key=key, UploadId=upload_id
            )
        except Exception:
            log.warning("could not abort multipart upload %s of %s", upload_id, key)
        raise translate(exc, "multipart upload", key) from None


def _abort_strays(conn: Connection, key: str, ours: str) -> None:
    """Abort the other uploads still open on ``key``: a CreateMultipartUpload whose answer
    was lost, which botocore then sent again, left an upload this run never knew the id of
    (an invisible, billed one until a lifecycle rule ends it). A pack's name is the hash of
    its bytes: no other writer's upload of it is ever in progress. Best effort: what fails is
    said, the object is stored."""
    settings = conn.settings
    try:
        listed = conn.call(
            "list_multipart_uploads", Bucket=settings.bucket, Prefix=key, **conn.owner()
        )
        strays = [
            u["UploadId"]
            for u in listed.get("Uploads", [])
            if u.get("Key") == key and u.get("UploadId") != ours
        ]
        for upload_id in strays:
            conn.call(
                "abort_multipart_upload",
                Bucket=settings.bucket,
                Key=key,
                UploadId=upload_id,
                **conn.owner(),
            )
            log.warning("aborted a stray multipart upload of %s (a lost answer)", key)
    except Exception as exc:
        log.warning("could not look for stray multipart uploads of %s: %s", key, exc)
