"""What goes over the wire to the store: requests counted, bytes throttled, requests in flight
held to a congestion window. The S3 store's streaming capability (backend/capabilities.py).

- ``counts`` counts the HTTP requests actually sent (one per multipart part, per list page,
  per botocore retry), by a botocore ``before-send`` hook: what the provider bills.
- ``throttle(upload, download)`` makes the store take bandwidth tokens for the bytes it
  streams: each part of a multipart upload as it is sent, downloads chunk by chunk as they
  arrive.
- Throttling answers (SlowDown, 429), seen by botocore's ``needs-retry`` hook after every
  attempt, halve the congestion window (backend/congestion.py).
"""

from __future__ import annotations

import threading
from typing import Any

from s3vault.backend.accounting import RequestCounts
from s3vault.backend.congestion import CongestionWindow
from s3vault.backend.ratelimit import TokenBucket
from s3vault.backend.s3.errors import THROTTLE_CODES

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


class Traffic:
    """Counts, bandwidth limits and the congestion window of one S3 store. Thread-safe."""

    def __init__(self, connections: int) -> None:
        self.counts = RequestCounts()
        self._counts_lock = threading.Lock()
        self.window = CongestionWindow(max(10, connections * 2))
        self._up: TokenBucket | None = None
        self._down: TokenBucket | None = None

    def throttle(self, upload: TokenBucket | None, download: TokenBucket | None) -> None:
        """Take tokens from these buckets for every byte streamed (None: unlimited)."""
        self._up = upload
        self._down = download

    def count_request(self, request: Any, event_name: str = "", **_kwargs: Any) -> None:
        """botocore's before-send event: one request on the wire, of the kind it is billed as."""
        operation = event_name.rsplit(".", 1)[-1]
        kind = _KIND_BY_OPERATION.get(operation) or _KIND_BY_METHOD.get(request.method, "get")
        with self._counts_lock:
            setattr(self.counts, kind, getattr(self.counts, kind) + 1)

    def on_attempt(self, response: Any = None, **_kwargs: Any) -> None:
        """botocore's needs-retry event, after every attempt: throttling shrinks the window."""
        if response is None:
            return
        code = str(response[1].get("Error", {}).get("Code", ""))
        if code in THROTTLE_CODES or response[0].status_code == 429:
            self.window.throttled()

    def sending(self, nbytes: int) -> None:
        """Wait until ``nbytes`` may be uploaded (the upload limit, if any)."""
        if self._up is not None:
            self._up.take(nbytes)

    def sent(self, nbytes: int) -> None:
        """``nbytes`` were uploaded."""
        with self._counts_lock:
            self.counts.bytes_up += nbytes

    def read(self, stream: Any) -> bytes:
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
